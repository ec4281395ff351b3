#include "controller/events.h"

#include <fmt/format.h>

#include <chrono>

#include "api/conditions.h"
#include "common/log.h"
#include "kube/herd_resources.h"

namespace herd::controller {

void EventRecorder::record(const kube::json& cluster, Type type, std::string_view reason,
                           std::string_view message) {
  const kube::json& meta = cluster.contains("metadata") ? cluster["metadata"] : kube::json{};
  std::string name = meta.value("name", "");
  // Unique without a round trip: the clock and a sequence, as client-go's recorder does.
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  std::string event_name = fmt::format("{}.{:x}{:x}", name, nanos, sequence_.fetch_add(1));
  std::string now = api::rfc3339Now();
  kube::json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", event_name}, {"namespace", kEventNamespace}}},
      {"involvedObject",
       {{"apiVersion", cluster.value("apiVersion", "herd.io/v1alpha1")},
        {"kind", cluster.value("kind", "Cluster")},
        {"name", name},
        {"uid", meta.value("uid", "")},
        {"resourceVersion", meta.value("resourceVersion", "")}}},
      {"reason", reason},
      {"message", message},
      {"type", type == Type::kNormal ? "Normal" : "Warning"},
      {"source", {{"component", kControllerComponent}}},
      {"reportingComponent", kControllerComponent},
      {"reportingInstance", instance_},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1},
  };
  auto created = client_.create(kube::coreEventsResource(), std::string(kEventNamespace), event);
  if (!created) {
    log::forCluster(name).warn("could not record an event",
                               {{"reason", reason}, {"error", created.status().toString()}});
  }
}

}  // namespace herd::controller
