// The subcommands, each registered on the CLI11 app by one function. Internal to src/cli.
#pragma once

#include <iosfwd>

namespace CLI {
class App;
}

namespace herd::cli {

struct Streams {
  std::ostream& out;
  std::ostream& err;
};

// Each registers its subcommand; the subcommand sets `exit_code` when it runs.
void addCreateCommand(CLI::App& app, Streams io, int& exit_code);
void addValidateCommand(CLI::App& app, Streams io, int& exit_code);
void addCrdCommand(CLI::App& app, Streams io, int& exit_code);
void addSeedCommands(CLI::App& app, Streams io, int& exit_code);
void addPkiCommand(CLI::App& app, Streams io, int& exit_code);
void addTunnelCommand(CLI::App& app, Streams io, int& exit_code);
void addGatewayCommand(CLI::App& app, Streams io, int& exit_code);
void addKubeconfigCommand(CLI::App& app, Streams io, int& exit_code);

}  // namespace herd::cli
