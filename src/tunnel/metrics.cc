#include "tunnel/metrics.h"

#include <fmt/format.h>

namespace herd::tunnel {

std::string Metrics::prometheusText() const {
  std::string out;
#define HERD_TUNNEL_METRIC_TEXT(name, kind, help)                               \
  out += fmt::format(                                                           \
      "# HELP herd_tunnel_{0}{1} {2}\n# TYPE herd_tunnel_{0}{1} {3}\n"          \
      "herd_tunnel_{0}{1} {4}\n",                                               \
      #name, std::string_view(#kind) == "counter" ? "_total" : "", help, #kind, \
      get(Metric::name));
  HERD_TUNNEL_METRICS(HERD_TUNNEL_METRIC_TEXT)
#undef HERD_TUNNEL_METRIC_TEXT
  return out;
}

}  // namespace herd::tunnel
