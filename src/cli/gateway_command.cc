// herd gateway: serve the SNI and HTTP routers until SIGTERM or SIGINT, then drain.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <ostream>

#include "cli/app.h"
#include "cli/commands.h"
#include "common/log.h"
#include "gateway/file_route_source.h"
#include "gateway/gateway.h"

namespace herd::cli {
namespace {

struct GatewayOptions {
  std::string config;
  bool check = false;
};

int runGateway(const GatewayOptions& o, Streams io) {
  if (o.check) {
    auto config = gateway::loadGatewayConfig(o.config);
    if (!config) {
      io.err << "herd gateway: " << config.status().message() << "\n";
      return kExitFailure;
    }
    io.out << o.config << ": valid, " << config->tenants.size() << " tenants, "
           << config->http_routes.size() << " HTTP routes\n";
    return kExitOk;
  }
  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // only sigwait() below sees them: shutdown runs on this thread, not in a handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer that resets while we write must be an error code, not the end of the process.
  signal(SIGPIPE, SIG_IGN);

  auto gw = gateway::makeGateway(std::make_unique<gateway::FileRouteSource>(o.config));
  if (Status s = gw->start(); !s.isOk()) {
    io.err << "herd gateway: " << s.message() << "\n";
    return kExitFailure;
  }
  int received = 0;
  sigwait(&stop_signals, &received);
  log::root().info("stop signal received",
                   {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
  gw->drain();
  log::root().info("gateway stopped");
  return kExitOk;
}

}  // namespace

void addGatewayCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "gateway",
      "Serve the shared gateway: TLS passthrough by SNI to each tenant's kube-apiserver and "
      "etcd, plain HTTP by Host; drains on SIGTERM");
  auto o = std::make_shared<GatewayOptions>();
  cmd->add_option("-c,--config", o->config, "Gateway configuration (YAML); reloaded on change")
      ->required();
  cmd->add_flag("--check", o->check, "Validate the configuration and exit");
  cmd->callback([o, io, &exit_code] { exit_code = runGateway(*o, io); });
}

}  // namespace herd::cli
