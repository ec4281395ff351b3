#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "api/cluster.h"
#include "api/versions.h"
#include "cli/commands.h"
#include "common/log.h"

#ifndef HERD_VERSION
#define HERD_VERSION "0.0.0-dev"
#endif

namespace herd::cli {
namespace {

void addVersionCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd =
      app.add_subcommand("version", "Print herd's version and the Kubernetes versions it runs");
  auto output = std::make_shared<std::string>();
  cmd->add_option("-o,--output", *output, "Output format: json")->check(CLI::IsMember({"json"}));
  cmd->callback([io, output, &exit_code] {
    std::vector<std::string> minors;
    for (auto m : api::supportedMinors()) minors.emplace_back(m);
    if (*output == "json") {
      nlohmann::ordered_json j;
      j["herdVersion"] = HERD_VERSION;
      j["apiVersion"] = api::kApiVersion;
      j["kubernetesVersions"] = minors;
      j["defaultKubernetesVersion"] = api::defaultRelease().minor;
      io.out << j.dump(2) << "\n";
    } else {
      io.out << "herd " << HERD_VERSION << "\n";
      io.out << "API: " << api::kApiVersion << "\n";
      io.out << "Kubernetes: ";
      for (size_t i = 0; i < minors.size(); ++i) io.out << (i ? ", " : "") << minors[i];
      io.out << " (default " << api::defaultRelease().minor << ")\n";
    }
    exit_code = kExitOk;
  });
}

}  // namespace

int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"herd runs the control planes of many Kubernetes clusters inside one seed cluster.",
               "herd"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string log_level = "info";
  std::string log_format = "text";
  app.add_option("--log-level", log_level, "Log level: debug, info, warn, error, off")
      ->check(CLI::IsMember({"debug", "info", "warn", "error", "off"}));
  app.add_option("--log-format", log_format, "Log format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
  app.footer(
      "Exit status: 0 success, 1 invalid input or failed operation, 2 bad command line.\n"
      "Run 'herd COMMAND --help' for the flags of a command.");

  Streams io{out, err};
  int exit_code = kExitOk;
  addVersionCommand(app, io, exit_code);
  addCreateCommand(app, io, exit_code);
  addValidateCommand(app, io, exit_code);
  addCrdCommand(app, io, exit_code);
  addSeedCommands(app, io, exit_code);
  addPkiCommand(app, io, exit_code);
  addTunnelCommand(app, io, exit_code);
  addGatewayCommand(app, io, exit_code);
  addKubeconfigCommand(app, io, exit_code);
  app.parse_complete_callback(
      [&] { log::configure(*log::parseLevel(log_level), *log::parseFormat(log_format)); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help (on any subcommand) arrives here too, with exit code 0.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
      return app.exit(e, out, err);
    err << "herd: " << e.what() << "\n";
    err << "Run 'herd --help' for usage.\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    // Commands report errors as Status; reaching here is a bug, but still a clean exit.
    err << "herd: internal error: " << e.what() << "\n";
    return kExitFailure;
  }
  return exit_code;
}

}  // namespace herd::cli
