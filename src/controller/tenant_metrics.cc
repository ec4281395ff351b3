#include "controller/tenant_metrics.h"

#include <string>
#include <string_view>

namespace herd::controller {
namespace {

using nlohmann::json;

const json& at(const json& object, std::initializer_list<std::string_view> path) {
  static const json kNull;
  const json* cur = &object;
  for (std::string_view key : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(key);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

std::string nameOf(const json& cluster) {
  const json& name = at(cluster, {"metadata", "name"});
  return name.is_string() ? name.get<std::string>() : "";
}

int64_t integer(const json& value) { return value.is_number_integer() ? value.get<int64_t>() : 0; }

// One family: `write` adds the series of one cluster.
Status family(metrics::Registry& registry, const ClusterVisitor& each, metrics::FamilyOptions o,
              std::function<void(metrics::Sink&, const std::string&, const json&)> write) {
  return registry.collect(metrics::Type::kGauge, std::move(o),
                          [each, write = std::move(write)](metrics::Sink& sink) {
                            each([&](const json& cluster) {
                              std::string name = nameOf(cluster);
                              if (!name.empty()) write(sink, name, cluster);
                            });
                          });
}

}  // namespace

Status registerTenantMetrics(metrics::Registry& registry, ClusterVisitor each) {
  HERD_RETURN_IF_ERROR(family(
      registry, each,
      {"herd_cluster_ready", "1 while the Cluster's Ready condition is True, else 0.", {"cluster"}},
      [](metrics::Sink& sink, const std::string& name, const json& cluster) {
        int ready = 0;
        const json& conditions = at(cluster, {"status", "conditions"});
        if (conditions.is_array())
          for (const auto& c : conditions)
            if (at(c, {"type"}) == "Ready") ready = at(c, {"status"}) == "True" ? 1 : 0;
        sink.add({name}, ready);
      }));
  HERD_RETURN_IF_ERROR(family(
      registry, each,
      {"herd_cluster_apiserver_ready",
       "1 while the tenant's kube-apiserver answers /readyz with every check passing.",
       {"cluster"}},
      [](metrics::Sink& sink, const std::string& name, const json& cluster) {
        const json& ready = at(cluster, {"status", "apiServerHealth", "ready"});
        if (ready.is_boolean()) sink.add({name}, ready.get<bool>() ? 1 : 0);
      }));
  HERD_RETURN_IF_ERROR(family(
      registry, each,
      {"herd_cluster_component_ready_replicas",
       "Ready replicas of each control-plane component of the tenant.",
       {"cluster", "component"}},
      [](metrics::Sink& sink, const std::string& name, const json& cluster) {
        const json& components = at(cluster, {"status", "components"});
        for (auto [key, label] :
             {std::pair{"etcd", "etcd"}, {"apiServer", "kube-apiserver"},
              {"controllerManager", "kube-controller-manager"}, {"scheduler", "kube-scheduler"}}) {
          const json& ready = at(components, {key, "readyReplicas"});
          if (at(components, {key}).is_object()) sink.add({name, label}, integer(ready));
        }
      }));
  HERD_RETURN_IF_ERROR(family(
      registry, each,
      {"herd_cluster_nodes", "The tenant's nodes: all of them, and those Ready.",
       {"cluster", "state"}},
      [](metrics::Sink& sink, const std::string& name, const json& cluster) {
        const json& nodes = at(cluster, {"status", "nodes"});
        if (!nodes.is_object()) return;
        sink.add({name, "total"}, integer(at(nodes, {"total"})));
        sink.add({name, "ready"}, integer(at(nodes, {"ready"})));
      }));
  HERD_RETURN_IF_ERROR(family(
      registry, each,
      {"herd_cluster_pods", "The tenant's pods by phase.", {"cluster", "phase"}},
      [](metrics::Sink& sink, const std::string& name, const json& cluster) {
        const json& pods = at(cluster, {"status", "pods"});
        if (!pods.is_object()) return;
        for (auto [key, phase] : {std::pair{"pending", "Pending"}, {"running", "Running"},
                                  {"succeeded", "Succeeded"}, {"failed", "Failed"}})
          sink.add({name, phase}, integer(at(pods, {key})));
      }));
  return family(
      registry, each,
      {"herd_cluster_etcd_db_size_bytes",
       "Size of each tenant etcd member's database file, as the member reported it.",
       {"cluster", "member"}},
      [](metrics::Sink& sink, const std::string& name, const json& cluster) {
        const json& members = at(cluster, {"status", "etcd", "members"});
        if (!members.is_array()) return;
        for (const auto& m : members) {
          const json& member = at(m, {"name"});
          const json& size = at(m, {"dbSize"});
          if (member.is_string() && size.is_number_integer())
            sink.add({name, member.get<std::string>()}, size.get<int64_t>());
        }
      });
}

}  // namespace herd::controller
