// herd tunnel --config FILE: the SSH tunnel server and CONNECT egress on their own, for tests
// and small setups (the same Tunnel that `herd gateway` serves). Runs until SIGINT or SIGTERM,
// then shuts down: stop accepting, end node sessions, wait for relays.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <ostream>

#include "cli/commands.h"
#include "common/log.h"
#include "tunnel/tunnel.h"

namespace herd::cli {
namespace {

int runTunnel(const std::string& config_path, Streams io) {
  auto config = tunnel::TunnelConfig::load(config_path);
  if (!config) {
    io.err << "error: " << config.status().message() << "\n";
    return 2;
  }
  // Block the stop signals before any thread starts, so only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto tunnel = tunnel::startTunnel(std::move(config).value());
  if (!tunnel) {
    io.err << "error: " << tunnel.status().message() << "\n";
    return 1;
  }
  io.out << "ssh port " << (*tunnel)->sshPort() << "\n";
  io.out << "host key " << (*tunnel)->hostKeyLine() << "\n";
  for (const auto& address : (*tunnel)->connectAddresses()) io.out << "connect " << address << "\n";
  if (!(*tunnel)->peerAddress().empty()) io.out << "peer " << (*tunnel)->peerAddress() << "\n";
  io.out << "ready" << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  log::root().info("stopping tunnel", {{"signal", signal}});
  (*tunnel)->stop();
  return 0;
}

}  // namespace

void addTunnelCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "tunnel", "Run the SSH tunnel server and CONNECT egress proxy from a config file");
  auto config = std::make_shared<std::string>();
  cmd->add_option("--config", *config, "tunnel config (YAML): tenants, node keys, listeners")
      ->required();
  cmd->callback([config, io, &exit_code] { exit_code = runTunnel(*config, io); });
}

}  // namespace herd::cli
