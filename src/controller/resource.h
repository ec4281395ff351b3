// The pieces of one reconcile: the Context that the ordered resources share (the Cluster as
// read, its defaulted spec, the status being built, the rendered specs, the credentials), and
// the Resource interface each of them implements.
//
// A Context lives for one reconcile of one Cluster, on one worker thread; not thread-safe.
// Resources are stateless apart from what the Reconciler hands them, and shared by workers.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"
#include "api/defaults.h"
#include "controller/events.h"
#include "controller/gateway_ports.h"
#include "controller/outcome.h"
#include "controller/tenant_client.h"
#include "kube/client.h"
#include "pki/pki_cache.h"
#include "pki/tenant_pki.h"
#include "provider/provider.h"
#include "render/component_spec.h"

namespace herd::etcd {
class Client;
}

namespace herd::controller {

// How the controller reaches a tenant's etcd: a client of these members' URLs with the
// tenant's etcd CA and its apiserver-etcd-client certificate. Injectable for tests.
using EtcdClientFactory = std::function<Result<std::unique_ptr<etcd::Client>>(
    const std::vector<std::string>& endpoints, const pki::PkiFiles& files)>;
EtcdClientFactory defaultEtcdClientFactory();

// Renders a Cluster's control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler). Wired to render::renderControlPlane(cluster, platform).
using Renderer =
    std::function<Result<std::vector<render::ComponentSpec>>(const api::Cluster& cluster)>;

// The label on every seed object herd makes for a tenant; its value is the Cluster's name.
inline constexpr std::string_view kClusterLabel = "herd.io/cluster";

// Where the gateway's recorded ports of all Clusters come from (the informer cache, or a list).
using RecordedPorts = std::function<Result<std::map<std::string, int32_t>>()>;

// How the Reconciler runs; built once from herd's flags.
struct ReconcilerOptions {
  render::Platform platform;
  api::DefaultingContext defaulting;
  GatewayPortRange gateway_ports;
  pki::PkiOptions pki;
  // How often a Cluster is looked at again while a rollout or a removal is under way. The
  // owned-object informers usually bring it back sooner; this bounds how stale status gets.
  std::chrono::milliseconds poll{std::chrono::seconds(2)};
  // The Secret in the tenant namespace that holds the admin kubeconfig. A constant for now:
  // the kubernetes provider stores credentials under this name.
  std::string kubeconfig_secret = "admin-kubeconfig";
  EtcdClientFactory etcd_clients = defaultEtcdClientFactory();
  // An etcd member is defragmented once this share of its database file is free space that
  // compaction left, and the file is at least etcd_defrag_min_bytes: below that, the pause of
  // a defragmentation (the member blocks while it rewrites the file) buys back too little.
  double etcd_defrag_free_ratio = 0.5;
  int64_t etcd_defrag_min_bytes = int64_t{64} << 20;
};

struct Context {
  // Dependencies, owned by the Reconciler.
  provider::Provider& provider;
  kube::Client& seed;
  EventRecorder& events;
  const Renderer& renderer;
  const TenantClientFactory& tenant_clients;
  GatewayPortAllocator& ports;
  const RecordedPorts& recorded_ports;
  const ReconcilerOptions& options;
  pki::PkiCache& pki_cache;  // the verdicts on each tenant's unchanged credentials

  std::string now{};  // RFC 3339, one instant for every condition set by this reconcile
  kube::json object{};  // the Cluster as last read or written (its resourceVersion is current)
  // Defaulted; spec.version is the version to run now (the running one if a change is refused).
  api::Cluster cluster{};
  api::ClusterStatus status{};  // being built; written once at the end if it changed
  int64_t generation = 0;

  std::optional<std::vector<render::ComponentSpec>> specs{};  // rendered once, on first use
  pki::PkiFiles pki{};                                         // set by the Pki resource

  // Sets a condition of this reconcile's generation.
  void setCondition(std::string_view type, bool ok, std::string_view reason,
                    std::string_view message);
  void event(EventRecorder::Type type, std::string_view reason, std::string_view message) {
    events.record(object, type, reason, message);
  }
  // The spec of one component, rendering every spec on first use.
  Result<render::ComponentSpec> specFor(render::Component component);
};

class Resource {
 public:
  virtual ~Resource() = default;
  virtual std::string_view name() const = 0;
  // The condition this resource reports, or "" if none.
  virtual std::string_view conditionType() const { return {}; }
  virtual Outcome reconcile(Context& ctx) = 0;
};

}  // namespace herd::controller
