#include "gateway/route_table.h"

#include <fmt/format.h>

#include <set>

#include "api/cluster.h"
#include "api/naming.h"

namespace herd::gateway {

std::shared_ptr<BackendState> Route::pick(uint64_t tried, size_t* index) const {
  // Rotating the scan's start spreads ties (an idle pool) instead of piling onto backend 0.
  static std::atomic<uint64_t> rotation{0};
  size_t n = backends.size();
  if (n == 0) return nullptr;
  size_t start = rotation.fetch_add(1, std::memory_order_relaxed) % n;
  for (bool healthy_only : {true, false}) {
    std::shared_ptr<BackendState> best;
    int64_t best_active = 0;
    for (size_t k = 0; k < n; ++k) {
      size_t i = (start + k) % n;
      if (i < 64 && (tried >> i) & 1) continue;
      const auto& b = backends[i];
      if (healthy_only && !b->healthy.load(std::memory_order_relaxed)) continue;
      int64_t active = b->active.load(std::memory_order_relaxed);
      if (!best || active < best_active) {
        best = b;
        best_active = active;
        if (index) *index = i;
      }
    }
    if (best) return best;
  }
  return nullptr;
}

const Route* RouteTable::findTls(std::string_view server_name) const {
  auto it = tls_.find(std::string(server_name));
  return it == tls_.end() ? nullptr : it->second.get();
}

const Route* RouteTable::findHttp(std::string_view host) const {
  auto it = http_.find(std::string(host));
  return it == http_.end() ? nullptr : it->second.get();
}

const Route* RouteTable::findPort(uint16_t port) const {
  auto it = ports_.find(port);
  return it == ports_.end() ? nullptr : it->second.get();
}

std::shared_ptr<BackendState> RouteRegistry::backend(const BackendAddress& address) {
  auto& slot = backends_[address.key()];
  auto state = slot.lock();
  if (!state) {
    state = std::make_shared<BackendState>(address);
    slot = state;
  }
  return state;
}

std::shared_ptr<TenantState> RouteRegistry::tenant(const std::string& name) {
  auto& slot = tenants_[name];
  auto state = slot.lock();
  if (!state) {
    state = std::make_shared<TenantState>(name);
    slot = state;
  }
  return state;
}

Result<std::shared_ptr<const RouteTable>> RouteRegistry::build(const GatewayConfig& config) {
  std::lock_guard lock(mutex_);
  auto table = std::make_shared<RouteTable>();
  table->config_ = config;
  std::set<std::string> seen_backends;
  auto makeRoute = [&](std::string name, RouteKind kind, std::shared_ptr<TenantState> tenant,
                       int64_t max_connections, bool proxy_protocol,
                       const std::vector<BackendAddress>& addresses) {
    auto route = std::make_shared<Route>();
    route->name = std::move(name);
    route->kind = kind;
    route->tenant = std::move(tenant);
    route->max_connections = max_connections;
    route->proxy_protocol = proxy_protocol;
    for (const auto& a : addresses) {
      route->backends.push_back(backend(a));
      if (seen_backends.insert(a.key()).second) table->backends_.push_back(route->backends.back());
    }
    route->stats = stats_.route(route->name);
    return route;
  };
  auto claim = [](auto& map, const std::string& host,
                  std::shared_ptr<const Route> route) -> Status {
    if (!map.emplace(host, route).second) {
      return Status::invalid(fmt::format("host name \"{}\" is claimed by two routes", host));
    }
    return Status::ok();
  };

  for (const auto& t : config.tenants) {
    // The same derivation as the PKI's SANs and the CLI's endpoint: one source of truth.
    api::Cluster cluster;
    cluster.metadata.name = t.name;
    cluster.spec.expose.hostname =
        t.hostname.empty() ? t.name + "." + config.base_domain : t.hostname;
    std::string api_host = api::apiHostname(cluster);
    std::string etcd_host = api::etcdHostname(cluster);
    for (char& c : api_host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : etcd_host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto state = tenant(t.name);
    int64_t limit =
        t.max_connections > 0 ? t.max_connections : config.limits.max_connections_per_tenant;
    if (t.port != 0) {
      auto [it, fresh] = table->tenant_ports_.emplace(t.port, t.name);
      if (!fresh) {
        return Status::invalid(fmt::format("port {} is claimed by tenants \"{}\" and \"{}\"",
                                           t.port, it->second, t.name));
      }
    }
    if (!t.api_servers.empty()) {
      auto api = makeRoute(t.name + "/api", RouteKind::kApiServer, state, limit, t.proxy_protocol,
                           t.api_servers);
      if (t.port != 0) table->ports_.emplace(t.port, api);
      HERD_RETURN_IF_ERROR(claim(table->tls_, api_host, std::move(api)));
    }
    if (!t.etcd.empty()) {
      HERD_RETURN_IF_ERROR(claim(
          table->tls_, etcd_host,
          makeRoute(t.name + "/etcd", RouteKind::kEtcd, state, limit, t.proxy_protocol, t.etcd)));
    }
  }
  for (const auto& h : config.http_routes) {
    std::shared_ptr<TenantState> state;
    int64_t limit = 0;
    if (!h.tenant.empty()) {
      state = tenant(h.tenant);
      limit = config.limits.max_connections_per_tenant;
      for (const auto& t : config.tenants) {
        if (t.name == h.tenant && t.max_connections > 0) limit = t.max_connections;
      }
    }
    std::string host = h.host;
    for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    HERD_RETURN_IF_ERROR(claim(
        table->http_, host,
        makeRoute("http/" + host, RouteKind::kHttp, state, limit, h.proxy_protocol, h.backends)));
  }
  if (!config.default_backends.empty()) {
    table->default_route_ =
        makeRoute("default", RouteKind::kDefault, nullptr, 0, false, config.default_backends);
  }
  // Drop registry entries nothing refers to any more, so churn does not grow the maps.
  std::erase_if(backends_, [](const auto& kv) { return kv.second.expired(); });
  std::erase_if(tenants_, [](const auto& kv) { return kv.second.expired(); });
  table->version_ = next_version_++;
  return std::shared_ptr<const RouteTable>(std::move(table));
}

}  // namespace herd::gateway
