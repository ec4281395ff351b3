// SshServer: the SSH endpoint nodes dial with stock OpenSSH (`ssh -N -R <node>:10250:...`).
// It authenticates a node by its tenant's node key (the SSH user is the tenant), lets it bind
// node addresses of its own tenant in the SessionRegistry, and carries streams to it as
// forwarded-tcpip channels with per-channel SSH flow control. Nothing else is allowed: no
// shell, no channels opened by the node. One thread per connection; owned by the Tunnel;
// start() and stop() from one thread, everything else is internal.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "tunnel/config.h"
#include "tunnel/metrics.h"
#include "tunnel/session_registry.h"

namespace herd::tunnel {

class SshServer {
 public:
  // Listens on config.ssh_listen. `config`, `registry` and `metrics` must outlive the server.
  static Result<std::unique_ptr<SshServer>> start(const TunnelConfig& config,
                                                  SessionRegistry& registry, Metrics& metrics);
  ~SshServer();
  SshServer(const SshServer&) = delete;
  SshServer& operator=(const SshServer&) = delete;

  int port() const;
  // The host key's public line ("ssh-ed25519 AAAA..."): what nodes pin in known_hosts.
  const std::string& hostKeyLine() const;
  // Stops accepting, ends every session (nodes see a disconnect and redial), joins threads.
  void stop();

  struct Impl;

 private:
  explicit SshServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::tunnel
