#include "render/topology.h"

#include <fmt/format.h>

#include "api/naming.h"
#include "render/component_spec.h"

namespace herd::render {

Topology kubernetesTopology(const api::Cluster& cluster) {
  Topology t;
  int members = cluster.spec.controlPlane.etcd.replicas.value_or(0);
  for (int i = 0; i < members; ++i) {
    // The first of the member's names is the short in-seed one that its certificates carry.
    std::string host = api::etcdMemberDnsNames(cluster, i).front();
    t.etcd_members.push_back({api::etcdMemberName(i),
                              fmt::format("https://{}:{}", host, t.etcd_client_port_number),
                              fmt::format("https://{}:{}", host, t.etcd_peer_port_number)});
  }
  t.etcd_advertise_host = fmt::format("$({}).{}.{}.svc", kMemberEnv, api::kEtcdServiceName,
                                      api::tenantNamespace(cluster));
  t.apiserver_port_number = api::kApiServerPort;
  t.apiserver_port = std::to_string(api::kApiServerPort);
  return t;
}

}  // namespace herd::render
