#include "tunnel/metrics.h"

#include <fmt/format.h>

#include <string_view>

#include "common/metrics.h"

namespace herd::tunnel {
namespace {

struct MetricEntry {
  Metric metric;
  std::string_view name;
  metrics::Type type;
  std::string_view help;
};

// The table's kinds are the words "counter" and "gauge".
constexpr metrics::Type typeOf(std::string_view kind) {
  return kind == "counter" ? metrics::Type::kCounter : metrics::Type::kGauge;
}

constexpr MetricEntry kMetricTable[] = {
#define HERD_TUNNEL_METRIC_ENTRY(name, kind, help) {Metric::name, #name, typeOf(#kind), help},
    HERD_TUNNEL_METRICS(HERD_TUNNEL_METRIC_ENTRY)
#undef HERD_TUNNEL_METRIC_ENTRY
};

}  // namespace

Metrics::Metrics() : registry_(std::make_unique<metrics::Registry>()) {
  for (const MetricEntry& e : kMetricTable) {
    std::string name =
        fmt::format("herd_tunnel_{}{}", e.name, e.type == metrics::Type::kCounter ? "_total" : "");
    registry_->mustCollect(e.type, {std::move(name), std::string(e.help)},
                           [this, m = e.metric](metrics::Sink& s) { s.add(get(m)); });
  }
}

Metrics::~Metrics() = default;

std::string Metrics::prometheusText() const {
  return registry_->text();
}

}  // namespace herd::tunnel
