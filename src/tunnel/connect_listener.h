// ConnectListener: the HTTP CONNECT endpoint a tenant's kube-apiserver reaches kubelets
// through (egress selector, proxyProtocol: HTTPConnect). Over a Unix socket the listener is
// one tenant's; over TCP it speaks mutual TLS and the client certificate's common name is the
// tenant, believed only when that tenant's own CA issued the certificate (tenant_ca.h).
// `CONNECT node:10250` is handed to that node's session (a forwarded-tcpip channel);
// no session means a 502 with a reason, at once. One thread per connection, bounded; owned
// by the Tunnel; start() and stop() from one thread.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "tunnel/config.h"
#include "tunnel/metrics.h"
#include "tunnel/session_registry.h"

namespace herd::tunnel {

class PeerForwarder;

class ConnectListener {
 public:
  // `peers` may be null (one replica). Everything passed must outlive the listener.
  static Result<std::unique_ptr<ConnectListener>> start(const ConnectListenerConfig& listener,
                                                        const TunnelConfig& config,
                                                        SessionRegistry& registry, Metrics& metrics,
                                                        PeerForwarder* peers);
  ~ConnectListener();
  ConnectListener(const ConnectListener&) = delete;
  ConnectListener& operator=(const ConnectListener&) = delete;

  // The socket path, or host:port with the port actually bound.
  const std::string& address() const;
  // Stops accepting and waits for in-flight connections to finish (each is cut after 1s).
  void stop();

  struct Impl;

 private:
  explicit ConnectListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::tunnel
