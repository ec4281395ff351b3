// The seed-API RouteSource: `herd gateway --seed-kubeconfig FILE` (or `--in-cluster`). It
// watches the Cluster objects (herd.io/v1alpha1, cluster-scoped) and, in every tenant
// namespace herd-<name>, the EndpointSlices of the Services kube-apiserver and etcd, and
// delivers the same GatewayConfig the file source does: the listeners, limits and static
// routes of the base file, plus one tenant per Cluster whose backends are the ready endpoint
// addresses. <apiHostname> goes to the kube-apiserver endpoints, etcd.<apiHostname> to the
// etcd client endpoints. A Cluster's status.gatewayPort (the controller allocates it) becomes
// the tenant's port (TenantRoutes::port); a port out of range, already another tenant's, or a
// listener's is logged and left out, and the tenant keeps its SNI routes.
//
// A Cluster marked for deletion (deletionTimestamp set) loses its routes at once: its control
// plane is being torn down, and its open connections end after the removed-route grace.
//
// The base file, when named, is polled for changes too (see SeedRouteSourceOptions).
//
// Changes are coalesced: the first event after a quiet period opens a short window (10 ms by
// default) in which further events join, then one configuration is built from the informers'
// caches and delivered if it differs from the last one. So a burst (a rollout touching every
// slice) costs one table swap, and a change still applies promptly (how promptly is measured
// in docs/gateway.md, section "Route sources").
//
// Owns two informers and one thread; start/stop from one thread.
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/route_source.h"
#include "kube/herd_resources.h"

namespace herd::kube {
class Client;
}

namespace herd::gateway {

// What the source asks of the seed API, kept in one table: the source builds its informers
// from these entries, and the gateway's ClusterRole (deploy/gateway) must grant each of them,
// which a test checks against the manifest. Both are watched cluster-wide (every tenant
// namespace), by informers, which list and then watch.
struct SeedApiAccess {
  std::string_view group;
  std::string_view version;
  std::string_view resource;
  bool namespaced;
  std::string_view kind;
  std::array<std::string_view, 2> verbs;
};
inline constexpr SeedApiAccess kClustersAccess{.group = kube::kClusterGroup,
                                               .version = kube::kClusterVersion,
                                               .resource = kube::kClusterPlural,
                                               .namespaced = false,
                                               .kind = kube::kClusterKind,
                                               .verbs = {"list", "watch"}};
inline constexpr SeedApiAccess kEndpointSlicesAccess{.group = "discovery.k8s.io",
                                                     .version = "v1",
                                                     .resource = "endpointslices",
                                                     .namespaced = true,
                                                     .kind = "EndpointSlice",
                                                     .verbs = {"list", "watch"}};
inline constexpr std::array<SeedApiAccess, 2> kSeedApiAccess{kClustersAccess,
                                                             kEndpointSlicesAccess};

struct SeedRouteSourceOptions {
  // Listeners, limits, timeouts and any static routes; the seed's tenants are added to these.
  GatewayConfig base;
  // The file `base` comes from (herd gateway --config). When set, start() reads it and the
  // source polls it as the file source does: a change (limits, timeouts, static routes) is
  // delivered with the seed's tenants; a file that fails to parse is reported and the
  // previous base stays.
  std::string base_path;
  std::chrono::milliseconds base_poll{25};
  // How long a change waits for the rest of its burst.
  std::chrono::milliseconds debounce{10};
  // The first list of Clusters and EndpointSlices must arrive within this for start().
  std::chrono::milliseconds sync_timeout{std::chrono::seconds(15)};
};

// The pure part: the configuration that a set of Cluster objects and EndpointSlices (as the
// API serves them) stands for. Clusters that collide with a static tenant's name or host name
// are left out (static routes win), as are slices of namespaces without a Cluster.
GatewayConfig buildSeedConfig(const GatewayConfig& base,
                              const std::vector<nlohmann::json>& clusters,
                              const std::vector<nlohmann::json>& endpoint_slices);

class SeedRouteSource : public RouteSource {
 public:
  SeedRouteSource(std::unique_ptr<kube::Client> client, SeedRouteSourceOptions options);
  ~SeedRouteSource() override;

  Status start(UpdateCallback on_update, ErrorCallback on_error) override;
  void stop() override;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace herd::gateway
