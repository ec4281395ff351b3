// Tunnel: herd's south-bound half of the gateway, in one object: the SSH server nodes dial,
// the session registry, the CONNECT listeners kube-apiservers use, the link to peer replicas
// and the metrics of all of them. Built from an immutable TunnelConfig by startTunnel(), which
// either brings everything up or nothing. stop() is the shutdown path: stop accepting, end
// sessions (nodes redial another replica), wait for relays; it is also what the destructor
// does. Thread-safe accessors; start and stop from one thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tunnel/config.h"

namespace herd::tunnel {

class Tunnel {
 public:
  virtual ~Tunnel() = default;
  virtual int sshPort() const = 0;
  // What nodes write into known_hosts: "ssh-ed25519 AAAA...".
  virtual const std::string& hostKeyLine() const = 0;
  // Addresses of the CONNECT listeners, in config order (TCP ones with the bound port).
  virtual std::vector<std::string> connectAddresses() const = 0;
  // The peer listener's host:port, or empty.
  virtual std::string peerAddress() const = 0;
  virtual size_t liveNodes() const = 0;
  // Prometheus text of every tunnel metric.
  virtual std::string metricsText() const = 0;
  virtual void stop() = 0;
};

Result<std::unique_ptr<Tunnel>> startTunnel(TunnelConfig config);

}  // namespace herd::tunnel
