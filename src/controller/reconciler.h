// The reconcile of one Cluster, controller-runtime style: given only its name, read it, apply
// defaults and validation, then walk the ordered resources (resources.h) until one is not
// done, and write status once at the end, only if it changed. A converged cluster therefore
// costs no write at all. Deletion (a deletionTimestamp) removes the tenant through the
// provider and then drops herd's finalizer; spec.paused leaves everything alone.
//
// Thread-safe for calls on different Clusters (the work queue never hands one Cluster to two
// workers); the Reconciler owns nothing but the gateway port allocator.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "controller/events.h"
#include "controller/gateway_ports.h"
#include "controller/outcome.h"
#include "controller/resource.h"
#include "controller/tenant_client.h"

namespace herd::controller {

// Reads a Cluster by name: nullopt when it does not exist.
using ClusterReader = std::function<Result<std::optional<kube::json>>(const std::string& name)>;

class Reconciler {
 public:
  Reconciler(kube::Client& seed, provider::Provider& provider, Renderer renderer,
             ReconcilerOptions options,
             TenantClientFactory tenant_clients = defaultTenantClientFactory());

  // Where Clusters are read from: the API (the default) or an informer's cache.
  void setSource(ClusterReader reader, RecordedPorts recorded_ports);

  Outcome reconcile(const std::string& name);

  const ReconcilerOptions& options() const { return options_; }

 private:
  Outcome reconcileDeletion(Context& ctx, const std::optional<api::ClusterStatus>& before);
  Outcome walk(Context& ctx);
  // Writes status if it differs from `before`, and records an event for each condition that
  // changed its status value. `outcome` is passed through unless the write fails.
  Outcome finish(Context& ctx, const std::optional<api::ClusterStatus>& before, Outcome outcome);

  kube::Client& seed_;
  provider::Provider& provider_;
  Renderer renderer_;
  ReconcilerOptions options_;
  TenantClientFactory tenant_clients_;
  EventRecorder events_;
  GatewayPortAllocator ports_;
  ClusterReader reader_;
  RecordedPorts recorded_ports_;
  pki::PkiCache pki_cache_;
  std::vector<std::unique_ptr<Resource>> resources_;
};

// The port recorded in each Cluster's status, from a list of Cluster objects.
std::map<std::string, int32_t> recordedPortsOf(const std::vector<kube::json>& clusters);
// Adds the port recorded in one Cluster's status, if any, to `ports`.
void recordPortOf(const kube::json& cluster, std::map<std::string, int32_t>& ports);

}  // namespace herd::controller
