// The settings of the herd controller, and the two seams through which it reaches what it does
// not own: the Renderer (Cluster -> component specs; render::renderControlPlane once linked)
// and the tenant-client factory (how herd talks to a tenant's own API).
//
// Plain values, copied into the Controller at construction; read-only afterwards.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/cluster.h"
#include "api/defaults.h"
#include "common/metrics.h"
#include "common/status.h"
#include "kube/client.h"
#include "kube/workqueue.h"
#include "pki/tenant_pki.h"
#include "render/component_spec.h"

namespace herd::controller {

// Builds the specs of a Cluster (defaulted and valid), etcd first; pure.
using Renderer = std::function<Result<std::vector<render::ComponentSpec>>(
    const api::Cluster& cluster, const render::Platform& platform)>;

// A client of the tenant's own API, from its credentials and the URL the provider reports.
using TenantClientFactory = std::function<Result<std::unique_ptr<kube::Client>>(
    const api::Cluster& cluster, const pki::PkiFiles& files, const std::string& api_server_url)>;

// The client of the tenant's admin.conf, pointed at `api_server_url`.
Result<std::unique_ptr<kube::Client>> adminTenantClient(const api::Cluster& cluster,
                                                        const pki::PkiFiles& files,
                                                        const std::string& api_server_url);

// The dedicated gateway ports handed to tenants: above the registered services herd's seed
// usually runs (6443, 10250, ...) and below Linux's ephemeral range (32768 and up), so the
// gateway can bind them without clashing with outgoing connections; 1000 tenants per gateway.
inline constexpr int kDefaultGatewayPortMin = 16000;
inline constexpr int kDefaultGatewayPortMax = 16999;

// How often a cluster whose workloads are rolling out is looked at again. Owned-object
// informers (when configured) wake it sooner; this bounds the wait without them.
inline constexpr std::chrono::milliseconds kDefaultRolloutPoll{std::chrono::seconds(5)};
// How often a tenant whose removal is not complete is looked at again.
inline constexpr std::chrono::milliseconds kDefaultDeletionPoll{std::chrono::seconds(2)};

// The label every seed object herd owns carries, with the owning Cluster's name as value.
inline constexpr std::string_view kClusterLabel = "herd.io/cluster";
// The `source.component` and `reportingComponent` of the events herd writes.
inline constexpr std::string_view kEventComponent = "herd-controller";

struct ControllerOptions {
  render::Platform platform;
  api::DefaultingContext defaulting;
  Renderer renderer;                   // required
  TenantClientFactory tenant_client = adminTenantClient;
  pki::PkiOptions pki;
  int gateway_port_min = kDefaultGatewayPortMin;
  int gateway_port_max = kDefaultGatewayPortMax;
  // Two workers keep one slow tenant from holding up the others; more only helps with many.
  int workers = 2;
  std::chrono::milliseconds rollout_poll = kDefaultRolloutPoll;
  std::chrono::milliseconds deletion_poll = kDefaultDeletionPoll;
  kube::RateLimiter::Options backoff;
  // Seed resources herd owns whose changes should wake their Cluster (selected by
  // kClusterLabel). Empty for providers that own no seed objects (local).
  std::vector<kube::ResourceRef> owned_resources;
  std::string owned_namespace;  // "" for all namespaces
  // Where metrics go; null: a registry of the controller's own (see Controller::registry()).
  metrics::Registry* registry = nullptr;
  // The instance named in events (reportingInstance); the pod name in production.
  std::string identity = "herd-controller";
  // The wall clock, for condition and event times; tests may move it.
  std::function<std::chrono::system_clock::time_point()> now = std::chrono::system_clock::now;
};

}  // namespace herd::controller
