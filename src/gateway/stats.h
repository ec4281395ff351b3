// The gateway's metrics: process-wide counters declared once in a table, per-route statistics
// that outlive route-table versions and the peek-latency histogram. /metrics reads them at
// scrape time through the collectors of a metrics::Registry (common/metrics.h), which renders
// the text: the data path only ever touches these atomics.
//
// Everything here is updated from every worker thread with relaxed atomics (each value is
// independent; /metrics needs no cross-counter consistency). The connection objects batch
// their byte counts and flush them, so the hot path does not bounce these cache lines on every
// read. GatewayStats is owned by the Gateway and outlives its workers; thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace herd::metrics {
class Registry;
}

namespace herd::gateway {

struct BackendState;

// X(name, help): each becomes herd_gateway_<name>_total.
#define HERD_GATEWAY_COUNTERS(X)                                                             \
  X(connections_accepted, "Connections accepted on the TLS, HTTP and tenant-port listeners") \
  X(rejected_global_limit, "Connections closed at accept: the global limit was reached")     \
  X(rejected_tenant_limit, "Connections closed: their tenant's limit was reached")           \
  X(sni_missing, "ClientHellos without a server name")                                       \
  X(sni_unknown, "ClientHellos whose server name matches no route")                          \
  X(default_route_used, "Connections sent to the default route")                             \
  X(hello_not_tls, "Connections on the TLS listener that did not start with TLS")            \
  X(hello_sslv2, "SSLv2-compatible ClientHellos refused")                                    \
  X(hello_malformed, "Malformed TLS records or ClientHellos")                                \
  X(hello_invalid_sni, "ClientHellos whose server name is not a host name")                  \
  X(hello_too_large, "ClientHellos over the size cap")                                       \
  X(handshake_timeouts, "Connections closed before their ClientHello or request head came")  \
  X(http_head_malformed, "Plain-HTTP requests with a malformed head or Host")                \
  X(http_head_too_large, "Plain-HTTP request heads over the size cap")                       \
  X(http_host_unknown, "Plain-HTTP requests whose Host matches no route")                    \
  X(backend_connect_failures, "Failed or timed-out connects to a backend")                   \
  X(no_healthy_backend, "Connections closed: no backend of their route could be reached")    \
  X(idle_timeouts, "Connections closed after the idle timeout")                              \
  X(removed_route_closed, "Connections closed after their route was removed and the grace")  \
  X(drain_closed, "Connections closed when the drain timeout ran out")                       \
  X(health_check_failures, "Active health checks that failed")                               \
  X(config_reloads, "Route configurations applied")                                          \
  X(config_reload_errors, "Route configurations rejected (the previous one stays)")          \
  X(tenant_port_no_route, "Connections on a tenant port whose tenant has no kube-apiserver") \
  X(tenant_port_errors, "Tenant ports that could not be opened (each worker counts its own)")

struct Counters {
#define HERD_GATEWAY_COUNTER_FIELD(name, help) std::atomic<uint64_t> name{0};
  HERD_GATEWAY_COUNTERS(HERD_GATEWAY_COUNTER_FIELD)
#undef HERD_GATEWAY_COUNTER_FIELD
};

inline void bump(std::atomic<uint64_t>& counter, uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

// One route's traffic, keyed by route name ("alpha/api"). Kept across reloads so that a
// route's counters do not restart when an unrelated tenant changes.
struct RouteStats {
  explicit RouteStats(std::string route_name) : name(std::move(route_name)) {}
  const std::string name;
  std::atomic<uint64_t> connections{0};
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> bytes_from_clients{0};
  std::atomic<uint64_t> bytes_to_clients{0};
  std::atomic<uint64_t> errors{0};
};

// Time from accept to a routable ClientHello or request head: what the inspection costs a
// client (mostly the client's own round trip), in seconds.
class PeekHistogram {
 public:
  static constexpr std::array<double, 10> kBounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                  0.005,  0.01,    0.05,   0.25,  1.0};
  void observe(std::chrono::nanoseconds elapsed);
  // Per-bucket counts (not cumulative), the last above every bound.
  std::array<uint64_t, kBounds.size() + 1> buckets() const;
  double sumSeconds() const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

class GatewayStats {
 public:
  GatewayStats();
  ~GatewayStats();

  Counters counters;
  PeekHistogram peek;
  std::atomic<int64_t> active_connections{0};

  // The stats of `route`, created on first use.
  std::shared_ptr<RouteStats> route(const std::string& route);
  // Prometheus text exposition format 0.0.4: these stats, then the health and load of
  // `backends` (the current route table's) and whether the gateway is ready.
  std::string renderPrometheus(const std::vector<std::shared_ptr<BackendState>>& backends,
                               bool ready) const;

 private:
  void registerFamilies();

  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<RouteStats>> routes_;
  std::unique_ptr<metrics::Registry> registry_;
};

}  // namespace herd::gateway
