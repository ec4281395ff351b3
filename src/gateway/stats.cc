#include "gateway/stats.h"

#include <fmt/format.h>

namespace herd::gateway {
namespace {

// Prometheus label values escape backslash, double quote and newline.
std::string escapeLabel(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

void PeekHistogram::observe(std::chrono::nanoseconds elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(elapsed.count()), std::memory_order_relaxed);
}

void PeekHistogram::render(std::string& out) const {
  constexpr std::string_view kName = "herd_gateway_peek_seconds";
  fmt::format_to(std::back_inserter(out),
                 "# HELP {0} Time from accept to a routable ClientHello or request head.\n"
                 "# TYPE {0} histogram\n",
                 kName);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", kName, kBounds[i],
                   cumulative);
  }
  cumulative += buckets_[kBounds.size()].load(std::memory_order_relaxed);
  fmt::format_to(std::back_inserter(out), "{0}_bucket{{le=\"+Inf\"}} {1}\n{0}_count {1}\n", kName,
                 cumulative);
  fmt::format_to(std::back_inserter(out), "{}_sum {}\n", kName,
                 static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
}

std::shared_ptr<RouteStats> GatewayStats::route(const std::string& route) {
  std::lock_guard lock(mutex_);
  auto& slot = routes_[route];
  if (!slot) slot = std::make_shared<RouteStats>(route);
  return slot;
}

std::string GatewayStats::renderPrometheus(std::string_view extra) const {
  std::string out;
  out.reserve(8192);
  auto it = std::back_inserter(out);
#define HERD_GATEWAY_RENDER_COUNTER(name, help)                                       \
  fmt::format_to(it,                                                                  \
                 "# HELP herd_gateway_{0}_total {1}.\n# TYPE herd_gateway_{0}_total " \
                 "counter\nherd_gateway_{0}_total {2}\n",                             \
                 #name, help, counters.name.load(std::memory_order_relaxed));
  HERD_GATEWAY_COUNTERS(HERD_GATEWAY_RENDER_COUNTER)
#undef HERD_GATEWAY_RENDER_COUNTER
  fmt::format_to(it,
                 "# HELP herd_gateway_active_connections Client connections open now.\n"
                 "# TYPE herd_gateway_active_connections gauge\n"
                 "herd_gateway_active_connections {}\n",
                 active_connections.load(std::memory_order_relaxed));
  peek.render(out);

  struct Family {
    std::string_view name, type, help;
  };
  constexpr std::array<Family, 5> kFamilies{{
      {"herd_gateway_route_connections_total", "counter", "Connections routed"},
      {"herd_gateway_route_active_connections", "gauge", "Connections of the route open now"},
      {"herd_gateway_route_received_bytes_total", "counter", "Bytes from clients to backends"},
      {"herd_gateway_route_sent_bytes_total", "counter", "Bytes from backends to clients"},
      {"herd_gateway_route_errors_total", "counter",
       "Connections of the route that ended in an error"},
  }};
  std::lock_guard lock(mutex_);
  for (size_t f = 0; f < kFamilies.size(); ++f) {
    fmt::format_to(it, "# HELP {0} {1}.\n# TYPE {0} {2}\n", kFamilies[f].name, kFamilies[f].help,
                   kFamilies[f].type);
    for (const auto& [name, stats] : routes_) {
      int64_t value = 0;
      switch (f) {
        case 0:
          value = static_cast<int64_t>(stats->connections.load(std::memory_order_relaxed));
          break;
        case 1:
          value = stats->active.load(std::memory_order_relaxed);
          break;
        case 2:
          value = static_cast<int64_t>(stats->bytes_from_clients.load(std::memory_order_relaxed));
          break;
        case 3:
          value = static_cast<int64_t>(stats->bytes_to_clients.load(std::memory_order_relaxed));
          break;
        default:
          value = static_cast<int64_t>(stats->errors.load(std::memory_order_relaxed));
      }
      fmt::format_to(it, "{}{{route=\"{}\"}} {}\n", kFamilies[f].name, escapeLabel(name), value);
    }
  }
  out.append(extra);
  return out;
}

}  // namespace herd::gateway
