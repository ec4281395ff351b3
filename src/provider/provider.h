// The provider boundary: where a tenant's control plane runs. The controller renders each
// component once (render/component_spec.h) and hands the specs to a Provider; it never knows
// which provider it drives. The kubernetes provider (provider/kubernetes) runs them as seed
// workloads in the namespace herd-<name>; the local provider runs them as supervised
// processes under a state directory.
//
// Every call is level-based and idempotent: it converges one step towards what is asked and
// reports what it sees, and does not wait for workloads to become ready. A call that finds
// nothing to change writes nothing. Implementations are thread-safe for calls on different
// clusters; the controller never makes two calls for one cluster at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"
#include "common/status.h"
#include "pki/tenant_pki.h"
#include "render/component_spec.h"

namespace herd::provider {

// What runs of one component now.
struct ComponentState {
  int32_t replicas = 0;          // desired
  int32_t ready_replicas = 0;    // ready, whatever spec they run
  int32_t updated_replicas = 0;  // running the spec last applied
  // Every replica runs the spec last applied and is ready: the rollout is complete.
  bool rolled_out = false;
  std::string message;  // why not, when not
  friend bool operator==(const ComponentState&, const ComponentState&) = default;
};

// One etcd member of a tenant as herd itself reaches it, and what the provider sees of it.
struct EtcdEndpoint {
  std::string name;        // "etcd-1"
  std::string client_url;  // where herd's etcd client dials it
  std::string peer_url;    // what its peers dial: the URL herd adds it with
  // Its data is gone (a wiped directory, a lost volume): it cannot come back as the member it
  // was. False when the provider cannot tell.
  bool data_lost = false;
  friend bool operator==(const EtcdEndpoint&, const EtcdEndpoint&) = default;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;  // "kubernetes", "local"

  // The tenant's home (namespace, network policies; or state directory) exists.
  virtual Status ensureTenant(const api::Cluster& cluster) = 0;
  // The tenant's credentials as stored (kubeadm's layout); empty when none are stored yet.
  virtual Result<pki::PkiFiles> loadCredentials(const api::Cluster& cluster) = 0;
  // Stores the whole set; files that did not change are not rewritten.
  virtual Status storeCredentials(const api::Cluster& cluster, const pki::PkiFiles& files) = 0;
  // Converges one component (its workload, Services, disruption budget) to `spec`.
  virtual Result<ComponentState> applyComponent(const api::Cluster& cluster,
                                                const render::ComponentSpec& spec) = 0;
  // Removes everything of the tenant; true once nothing is left.
  virtual Result<bool> removeTenant(const api::Cluster& cluster) = 0;
  // The URL at which herd itself reaches the tenant's kube-apiservers.
  virtual std::string apiServerUrl(const api::Cluster& cluster) const = 0;
  // Every etcd member the tenant's topology places (render::etcdTopologySize of them), in
  // order: the members that run and those the spec asks for. Empty when herd cannot reach
  // the members itself; the controller then only rolls etcd out and manages no membership.
  virtual Result<std::vector<EtcdEndpoint>> etcdEndpoints(const api::Cluster& cluster) = 0;
};

}  // namespace herd::provider
