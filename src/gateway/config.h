// The gateway's configuration: listeners, limits, timeouts, health checking, and the routes
// (tenants with their kube-apiserver and etcd backends, plain-HTTP hosts, a default route).
//
// parseGatewayConfig() builds an immutable GatewayConfig from the YAML of `herd gateway
// --config FILE` and returns an error naming the field instead of throwing. The file is read
// again on every change: listeners, workers and the tunnel are fixed at start (a change is
// logged as needing a restart); limits, timeouts, health checking and routes apply to new
// connections at once. Value type; thread-safe once built.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tunnel/config.h"

namespace herd::gateway {

using Millis = std::chrono::milliseconds;

// An IP literal and a port. Backends are addresses, not DNS names: the route sources speak
// Endpoints (which are IPs), and the data path must never block on a resolver.
struct BackendAddress {
  std::string ip;
  uint16_t port = 0;
  std::string key() const;  // "127.0.0.1:6443", "[::1]:6443"
  friend bool operator==(const BackendAddress&, const BackendAddress&) = default;
};

// "ip:port" or "[ipv6]:port"; "localhost" stands for 127.0.0.1.
Result<BackendAddress> parseBackendAddress(std::string_view text);

struct TenantRoutes {
  std::string name;
  // The public API host name; empty means <name>.<baseDomain>. etcd is etcd.<hostname>.
  std::string hostname;
  std::vector<BackendAddress> api_servers;
  std::vector<BackendAddress> etcd;
  // Open connections of this tenant (API and etcd together); 0 takes the global default.
  int64_t max_connections = 0;
  bool proxy_protocol = false;
  // The tenant's own gateway port (0: none), on the TLS listener's address: every connection
  // to it goes to this tenant's kube-apiservers, whatever its SNI says or if it has none. It
  // serves in-cluster clients (pods dialing the `kubernetes` Service IP, kube-proxy), which
  // send no SNI. The controller allocates it (status.gatewayPort of the Cluster).
  uint16_t port = 0;
};

struct HttpRoute {
  std::string host;
  std::string tenant;  // counts against this tenant's limit when set
  std::vector<BackendAddress> backends;
  bool proxy_protocol = false;
};

struct Limits {
  // File descriptors are the real bound: each connection takes two.
  int64_t max_connections = 50000;
  // So that one tenant cannot take every slot of the global limit.
  int64_t max_connections_per_tenant = 10000;
  size_t max_client_hello_bytes = 16384 + 5;
  size_t max_http_head_bytes = 8192;
};

struct Timeouts {
  // ClientHello or request head must arrive within this (slowloris bound).
  Millis handshake{10000};
  // No byte either way for this long closes the connection. kubectl watches stay quiet for
  // minutes between events, so this is long by default.
  Millis idle{3600 * 1000};
  Millis connect{5000};
  // On SIGTERM: how long established connections may finish before they are closed.
  Millis drain{30000};
  // A removed route's connections live on this long (a tenant moved, not deleted, comes back).
  Millis removed_route_grace{30000};
};

struct HealthCheck {
  Millis interval{2000};
  Millis timeout{1000};
};

struct GatewayConfig {
  std::string tls_listen = "127.0.0.1:8443";
  std::string http_listen;  // empty: no plain-HTTP listener
  std::string admin_listen = "127.0.0.1:9090";
  int workers = 0;  // 0: one per core
  std::string base_domain = "herd.localhost";
  Limits limits;
  Timeouts timeouts;
  HealthCheck health;
  std::vector<TenantRoutes> tenants;
  std::vector<HttpRoute> http_routes;
  // Where TLS connections with a missing or unknown SNI go; empty: they are closed.
  std::vector<BackendAddress> default_backends;
  // The SSH tunnel server and its CONNECT listeners, served in the gateway's process; absent:
  // none. The same schema as `herd tunnel --config` (tunnel/config.h). Fixed at start.
  std::optional<tunnel::TunnelConfig> tunnel;
  // The tunnel section as parsed (compact JSON; empty when absent): how a reload tells that
  // it changed, which takes a restart.
  std::string tunnel_section;
};

// Parses the YAML (or JSON) text of a gateway configuration and validates it: unknown fields,
// duplicate tenants or host names, bad addresses and durations, tenant ports out of range,
// claimed twice or taken by a listener are errors. Relative file
// names (in the tunnel section) are taken from `base_dir`; load() passes the file's directory.
Result<GatewayConfig> parseGatewayConfig(std::string_view text, const std::string& base_dir = ".");
Result<GatewayConfig> loadGatewayConfig(const std::string& path);

// Why `port` cannot be a tenant port of `config`: it is 0, or one of the gateway's listeners
// (TLS, HTTP, admin, the tunnel's) binds it; empty when it can. Tenant ports share the TLS
// listener's address, and the other listeners may bind every address, so any of their ports
// is refused whatever their address.
std::string tenantPortConflict(const GatewayConfig& config, uint16_t port);

// "10s", "250ms", "5m", "1h".
Result<Millis> parseDuration(std::string_view text);

}  // namespace herd::gateway
