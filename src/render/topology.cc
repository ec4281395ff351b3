#include "render/topology.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/naming.h"
#include "render/component_spec.h"

namespace herd::render {

std::string ListenPort::arg() const {
  return env.empty() ? std::to_string(port) : fmt::format("$({})", env);
}

int32_t etcdMembersToRun(const api::Cluster& cluster) {
  int32_t run = 0;
  if (cluster.status && cluster.status->etcd) {
    for (const auto& m : cluster.status->etcd->members) {
      auto index = api::etcdMemberIndex(m.name);
      if (index) run = std::max(run, *index + 1);
    }
  }
  if (run > 0) return run;
  return cluster.spec.controlPlane.etcd.replicas.value_or(0);
}

int32_t etcdTopologySize(const api::Cluster& cluster) {
  return std::max(etcdMembersToRun(cluster), cluster.spec.controlPlane.etcd.replicas.value_or(0));
}

Topology kubernetesTopology(const api::Cluster& cluster) {
  Topology t;
  int members = etcdTopologySize(cluster);
  for (int i = 0; i < members; ++i) {
    // The first of the member's names is the short in-seed one that its certificates carry.
    std::string host = api::etcdMemberDnsNames(cluster, i).front();
    t.etcd_members.push_back({api::etcdMemberName(i),
                              fmt::format("https://{}:{}", host, t.etcd_client.port),
                              fmt::format("https://{}:{}", host, t.etcd_peer.port)});
  }
  // The same short name, with the member left to $(HERD_MEMBER) that each pod expands.
  t.etcd_advertise_host = fmt::format("$({}).{}.{}.svc", kMemberEnv, api::kEtcdServiceName,
                                      api::tenantNamespace(cluster));
  t.apiserver_port = {api::kApiServerPort, ""};
  return t;
}

}  // namespace herd::render
