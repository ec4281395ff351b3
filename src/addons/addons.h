// The addons herd installs inside every tenant cluster, as Kubernetes objects built by pure
// functions: kube-proxy, CoreDNS (as kube-dns), metrics-server and the Kubernetes dashboard.
// The controller applies them into the tenant with server-side apply (field manager "herd")
// and prunes, by the label herd.io/addon, the objects of an addon the spec disables.
//
// The objects follow what the upstream projects ship (kubeadm's kube-proxy and CoreDNS
// manifests, metrics-server's components.yaml, the dashboard's recommended.yaml), adapted to a
// hosted control plane: kube-proxy dials the tenant API through the gateway's dedicated port of
// the tenant (in-cluster clients send no SNI), and no addon runs on control-plane nodes, for
// the tenant has none. Images come from each project's registry, or all from --image-registry
// with their repository paths kept, so that an air-gapped mirror needs one setting.
//
// Pure: the same inputs give the same objects, serialised byte-identically. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"
#include "common/status.h"

namespace herd::addons {

enum class Addon { kKubeProxy, kCoreDns, kMetricsServer, kDashboard };
inline constexpr Addon kAllAddons[] = {Addon::kKubeProxy, Addon::kCoreDns, Addon::kMetricsServer,
                                       Addon::kDashboard};
// "kube-proxy", "coredns", "metrics-server", "dashboard": the value of label herd.io/addon.
std::string_view addonName(Addon addon);
inline constexpr std::string_view kAddonLabel = "herd.io/addon";

// The images of the addons for one Kubernetes minor.
struct AddonImages {
  std::string_view minor;
  std::string_view coredns;  // CoreDNS tag kubeadm pins for the minor
  std::string_view metrics_server;
  std::string_view dashboard;
  std::string_view metrics_scraper;
};
// nullptr for a minor herd does not know.
const AddonImages* addonImages(std::string_view version);

struct AddonContext {
  // Where kube-proxy reaches the tenant API without SNI: the gateway's address and the
  // tenant's dedicated port (status.gatewayPort).
  std::string api_host;
  int api_port = 0;
  // Empty: each image from its project's registry; else every image from this registry.
  std::string image_registry;
};

// The objects of one addon for a defaulted Cluster, in apply order (namespaces and RBAC before
// workloads). Fails on a version herd has no images for, or a context without an API address.
Result<std::vector<nlohmann::json>> buildAddon(Addon addon, const api::Cluster& cluster,
                                               const AddonContext& context);
// Whether the defaulted spec enables the addon (api/defaults.h: all but the dashboard are on).
bool isEnabled(Addon addon, const api::Cluster& cluster);

}  // namespace herd::addons
