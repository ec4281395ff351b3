#include "gateway/stats.h"

#include <fmt/format.h>

#include "common/metrics.h"
#include "gateway/route_table.h"

namespace herd::gateway {
namespace {

using metrics::Sink;
using metrics::Type;

struct CounterEntry {
  std::string_view name;
  std::string_view help;
  std::atomic<uint64_t> Counters::*field;
};

constexpr CounterEntry kCounterTable[] = {
#define HERD_GATEWAY_COUNTER_ENTRY(name, help) {#name, help, &Counters::name},
    HERD_GATEWAY_COUNTERS(HERD_GATEWAY_COUNTER_ENTRY)
#undef HERD_GATEWAY_COUNTER_ENTRY
};

// The per-route families: one value of RouteStats each, labelled by route name.
struct RouteFamily {
  std::string_view name;
  Type type;
  std::string_view help;
  int64_t (*read)(const RouteStats&);
};

int64_t asSigned(const std::atomic<uint64_t>& v) {
  return static_cast<int64_t>(v.load(std::memory_order_relaxed));
}

constexpr RouteFamily kRouteFamilies[] = {
    {"herd_gateway_route_connections_total", Type::kCounter, "Connections routed",
     [](const RouteStats& s) { return asSigned(s.connections); }},
    {"herd_gateway_route_active_connections", Type::kGauge, "Connections of the route open now",
     [](const RouteStats& s) { return s.active.load(std::memory_order_relaxed); }},
    {"herd_gateway_route_received_bytes_total", Type::kCounter, "Bytes from clients to backends",
     [](const RouteStats& s) { return asSigned(s.bytes_from_clients); }},
    {"herd_gateway_route_sent_bytes_total", Type::kCounter, "Bytes from backends to clients",
     [](const RouteStats& s) { return asSigned(s.bytes_to_clients); }},
    {"herd_gateway_route_errors_total", Type::kCounter,
     "Connections of the route that ended in an error",
     [](const RouteStats& s) { return asSigned(s.errors); }},
};

}  // namespace

void PeekHistogram::observe(std::chrono::nanoseconds elapsed) {
  double seconds = std::chrono::duration<double>(elapsed).count();
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(elapsed.count()), std::memory_order_relaxed);
}

std::array<uint64_t, PeekHistogram::kBounds.size() + 1> PeekHistogram::buckets() const {
  std::array<uint64_t, kBounds.size() + 1> out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = buckets_[i].load(std::memory_order_relaxed);
  return out;
}

double PeekHistogram::sumSeconds() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

GatewayStats::GatewayStats() : registry_(std::make_unique<metrics::Registry>()) {
  registerFamilies();
}

GatewayStats::~GatewayStats() = default;

void GatewayStats::registerFamilies() {
  for (const CounterEntry& c : kCounterTable) {
    registry_->mustCollect(
        Type::kCounter, {fmt::format("herd_gateway_{}_total", c.name), fmt::format("{}.", c.help)},
        [this, field = c.field](Sink& s) {
          s.add((counters.*field).load(std::memory_order_relaxed));
        });
  }
  registry_->mustCollect(
      Type::kGauge, {"herd_gateway_active_connections", "Client connections open now."},
      [this](Sink& s) { s.add(active_connections.load(std::memory_order_relaxed)); });
  registry_->mustCollect(
      Type::kHistogram,
      {"herd_gateway_peek_seconds",
       "Time from accept to a routable ClientHello or request head.",
       {},
       {PeekHistogram::kBounds.begin(), PeekHistogram::kBounds.end()}},
      [this](Sink& s) { s.addHistogram({}, peek.buckets(), peek.sumSeconds()); });
  for (const RouteFamily& f : kRouteFamilies) {
    registry_->mustCollect(f.type, {std::string(f.name), fmt::format("{}.", f.help), {"route"}},
                           [this, read = f.read](Sink& s) {
                             std::lock_guard lock(mutex_);
                             for (const auto& [name, stats] : routes_) s.add({name}, read(*stats));
                           });
  }
}

std::shared_ptr<RouteStats> GatewayStats::route(const std::string& route) {
  std::lock_guard lock(mutex_);
  auto& slot = routes_[route];
  if (!slot) slot = std::make_shared<RouteStats>(route);
  return slot;
}

std::string GatewayStats::renderPrometheus(
    const std::vector<std::shared_ptr<BackendState>>& backends, bool ready) const {
  std::string out;
  out.reserve(8192);
  registry_->appendText(out);
  // What the route table and the gateway know at this scrape.
  metrics::Registry scrape;
  scrape.mustCollect(
      Type::kGauge,
      {"herd_gateway_backend_healthy", "Whether the backend passes its health check.", {"backend"}},
      [&backends](Sink& s) {
        for (const auto& b : backends) s.add({b->key}, b->healthy.load() ? 1 : 0);
      });
  scrape.mustCollect(
      Type::kGauge,
      {"herd_gateway_backend_active_connections", "Connections open to the backend.", {"backend"}},
      [&backends](Sink& s) {
        for (const auto& b : backends) s.add({b->key}, b->active.load());
      });
  scrape.mustCollect(Type::kGauge, {"herd_gateway_ready", "Whether /readyz answers 200."},
                     [ready](Sink& s) { s.add(ready ? 1 : 0); });
  scrape.appendText(out);
  return out;
}

}  // namespace herd::gateway
