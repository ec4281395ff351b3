// The route table: which backends serve a TLS server name or an HTTP host, and the live state
// those decisions need (backend health and load, tenant connection counts).
//
// A RouteTable is an immutable snapshot built from a GatewayConfig by a RouteRegistry; a new
// configuration makes a new table, which the gateway hands to each worker as a whole, so a
// change applies atomically and a connection keeps the backend it was given. The mutable
// state (BackendState, TenantState, RouteStats) lives in the registry, keyed by name, and is
// shared by every table version: least-connections counts and health survive a reload.
// Tables are immutable and thread-safe; the states use atomics; the registry locks itself.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "gateway/config.h"
#include "gateway/stats.h"

namespace herd::gateway {

struct BackendState {
  explicit BackendState(BackendAddress a) : address(std::move(a)), key(address.key()) {}
  const BackendAddress address;
  const std::string key;
  std::atomic<int64_t> active{0};
  // Cleared by a failed connect (passive) or a failed periodic check (active); set again only
  // by a successful check, so a dead backend is probed in the background, not by clients.
  std::atomic<bool> healthy{true};
};

struct TenantState {
  explicit TenantState(std::string n) : name(std::move(n)) {}
  const std::string name;
  std::atomic<int64_t> active{0};
};

enum class RouteKind { kApiServer, kEtcd, kHttp, kDefault };

struct Route {
  std::string name;  // metric label and log field: "alpha/api", "alpha/etcd", "http/<host>"
  RouteKind kind = RouteKind::kApiServer;
  std::shared_ptr<TenantState> tenant;  // null for routes of no tenant
  int64_t max_connections = 0;          // of the tenant; 0: unlimited
  bool proxy_protocol = false;
  std::vector<std::shared_ptr<BackendState>> backends;
  std::shared_ptr<RouteStats> stats;

  // The healthy backend with the fewest open connections, skipping those whose bit is set in
  // `tried` (index < 64). When none is healthy every untried backend is a candidate: a stale
  // health mark must not turn away clients of a backend that has come back. Ties rotate.
  std::shared_ptr<BackendState> pick(uint64_t tried, size_t* index) const;
};

class RouteTable {
 public:
  // Exact, lower-case host name lookups; nullptr when there is no such route.
  const Route* findTls(std::string_view server_name) const;
  const Route* findHttp(std::string_view host) const;
  // The kube-apiserver route of the tenant that owns this gateway port; nullptr when none
  // does, or when that tenant has no kube-apiserver to route to.
  const Route* findPort(uint16_t port) const;
  // Every tenant port of the configuration (tenant -> port, each unique), routed or not: the
  // ports the gateway listens on.
  const std::map<uint16_t, std::string>& tenantPorts() const { return tenant_ports_; }
  // The TLS route for missing and unknown server names; nullptr when they are closed.
  const Route* defaultRoute() const { return default_route_.get(); }
  const GatewayConfig& config() const { return config_; }
  uint64_t version() const { return version_; }
  // Every backend of every route, each once (for the health checker and /metrics).
  const std::vector<std::shared_ptr<BackendState>>& backends() const { return backends_; }
  size_t tlsRouteCount() const { return tls_.size(); }

 private:
  friend class RouteRegistry;
  GatewayConfig config_;
  uint64_t version_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const Route>> tls_;
  std::unordered_map<std::string, std::shared_ptr<const Route>> http_;
  // The same Route objects as the tenants' SNI routes: one limit, one set of stats.
  std::unordered_map<uint16_t, std::shared_ptr<const Route>> ports_;
  std::map<uint16_t, std::string> tenant_ports_;
  std::shared_ptr<const Route> default_route_;
  std::vector<std::shared_ptr<BackendState>> backends_;
};

class RouteRegistry {
 public:
  explicit RouteRegistry(GatewayStats& stats) : stats_(stats) {}
  // A table for `config`: tenants' hostnames derived as the rest of herd derives them
  // (api/naming.h). Fails when two routes claim one host name or two tenants one port.
  Result<std::shared_ptr<const RouteTable>> build(const GatewayConfig& config);

 private:
  std::shared_ptr<BackendState> backend(const BackendAddress& address);
  std::shared_ptr<TenantState> tenant(const std::string& name);

  GatewayStats& stats_;
  std::mutex mutex_;
  uint64_t next_version_ = 1;
  // Weak: the state of a backend no table refers to any more is dropped with its last user.
  std::map<std::string, std::weak_ptr<BackendState>> backends_;
  std::map<std::string, std::weak_ptr<TenantState>> tenants_;
};

}  // namespace herd::gateway
