// The herd gateway: one address in front of every tenant's kube-apiservers and etcd members.
//
// Listeners are kept in a registry by kind: the TLS listener routes by the SNI of the
// ClientHello (passthrough: TLS is never terminated, so client certificates reach the tenant),
// the plain-HTTP listener routes by Host, and each tenant port (a tenant's own port, for
// clients that send no SNI) routes every connection to its tenant's kube-apiservers; tenant
// ports open and close with the routes, without a restart. When the configuration has a `tunnel:`
// section, the SSH tunnel server and its CONNECT egress listeners (src/tunnel) run in the same
// process: their metrics follow the gateway's on /metrics, and they stop after the drain. Routes
// come from a RouteSource; each configuration it delivers becomes a new route table, handed to
// every worker at once.
//
// Lifecycle: start() binds and serves; drain() stops accepting, fails /readyz and lets open
// connections finish until the drain timeout, then closes the rest; stop() closes at once.
// start/drain/stop are called from one controlling thread; the accessors are thread-safe.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "gateway/route_source.h"

namespace herd::gateway {

// kTenantPort: one tenant's own port (TenantRoutes::port), opened and closed as routes come
// and go; it routes every connection to that tenant without looking at the bytes.
enum class ListenerKind { kTls, kHttp, kAdmin, kTenantPort };

class Gateway {
 public:
  virtual ~Gateway() = default;

  // Takes the first configuration from the source, binds the listeners and starts serving.
  virtual Status start() = 0;
  // Graceful: stop accepting, wait for connections to end (at most the drain timeout), close.
  virtual void drain() = 0;
  virtual void stop() = 0;

  // The bound port of a listener (useful when the configuration asked for port 0); 0 if none,
  // and 0 for kTenantPort (those ports are the configuration's).
  virtual int port(ListenerKind kind) const = 0;
  // Ready: routes loaded, listeners bound, not draining.
  virtual bool ready() const = 0;
  // The Prometheus text of /metrics.
  virtual std::string metricsText() const = 0;
};

std::unique_ptr<Gateway> makeGateway(std::unique_ptr<RouteSource> source);

}  // namespace herd::gateway
