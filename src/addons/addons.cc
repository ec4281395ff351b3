#include "addons/addons.h"

#include <fmt/format.h>

#include <cstdlib>
#include <iterator>

#include "addons/objects.h"
#include "api/versions.h"

namespace herd::addons {
namespace {

// CoreDNS as kubeadm pins it per minor (kubernetes build/dependencies.yaml, "coredns-kube-up"
// and kubeadm's constants; recorded by coredns/deployment's CoreDNS-k8s_version.md):
//   1.30 v1.11.1, 1.31 and 1.32 v1.11.3 (coredns/deployment#303), 1.33 v1.12.0 (#306),
//   1.34 v1.12.1.
// metrics-server v0.7.2 (its components.yaml supports Kubernetes 1.19+); the dashboard
// v2.7.0 with metrics-scraper v1.0.8, the last release installed by one manifest (v3 is a
// Helm chart of five images).
constexpr AddonImages kImages[] = {
    {"1.30", "v1.11.1", "v0.7.2", "v2.7.0", "v1.0.8"},
    {"1.31", "v1.11.3", "v0.7.2", "v2.7.0", "v1.0.8"},
    {"1.32", "v1.11.3", "v0.7.2", "v2.7.0", "v1.0.8"},
    {"1.33", "v1.12.0", "v0.7.2", "v2.7.0", "v1.0.8"},
    {"1.34", "v1.12.1", "v0.7.2", "v2.7.0", "v1.0.8"},
};

std::string minorOf(std::string_view version) {
  std::string v(version.starts_with("v") ? version.substr(1) : version);
  size_t first = v.find('.');
  size_t second = first == std::string::npos ? std::string::npos : v.find('.', first + 1);
  return second == std::string::npos ? v : v.substr(0, second);
}

}  // namespace

std::string_view addonName(Addon addon) {
  switch (addon) {
    case Addon::kKubeProxy:
      return "kube-proxy";
    case Addon::kCoreDns:
      return "coredns";
    case Addon::kMetricsServer:
      return "metrics-server";
    case Addon::kDashboard:
      return "dashboard";
  }
  return "unknown";
}

const AddonImages* addonImages(std::string_view version) {
  std::string minor = minorOf(version);
  for (const auto& row : kImages) {
    if (row.minor == minor) return &row;
  }
  // A minor newer than the table's last row, and one herd runs, takes the last row's images:
  // each of these addons supports a range of Kubernetes releases, and kubeadm itself moves
  // CoreDNS only every few minors. A row for the minor replaces this once recorded.
  auto number = [](std::string_view m) {
    size_t dot = m.find('.');
    return dot == std::string_view::npos
               ? -1
               : std::atoi(std::string(m.substr(0, dot)).c_str()) * 1000 +
                     std::atoi(std::string(m.substr(dot + 1)).c_str());
  };
  const AddonImages& last = kImages[std::size(kImages) - 1];
  if (number(minor) > number(last.minor) && api::findRelease(version) != nullptr) return &last;
  return nullptr;
}

bool isEnabled(Addon addon, const api::Cluster& cluster) {
  const auto& a = cluster.spec.addons;
  const api::AddonSpec* spec = nullptr;
  switch (addon) {
    case Addon::kKubeProxy:
      spec = &a.kubeProxy;
      break;
    case Addon::kCoreDns:
      spec = &a.coreDNS;
      break;
    case Addon::kMetricsServer:
      spec = &a.metricsServer;
      break;
    case Addon::kDashboard:
      spec = &a.dashboard;
      break;
  }
  return !spec || spec->enabled.value_or(true);
}

Result<std::vector<nlohmann::json>> buildAddon(Addon addon, const api::Cluster& cluster,
                                               const AddonContext& context) {
  std::string version = cluster.spec.version.value_or("");
  const AddonImages* images = addonImages(version);
  if (!images) {
    return Status::invalid(fmt::format("addon {}: herd has no images for Kubernetes \"{}\"",
                                       addonName(addon), version));
  }
  detail::Inputs in{cluster, context, *images, version.starts_with("v") ? version : "v" + version};
  switch (addon) {
    case Addon::kKubeProxy:
      if (context.api_host.empty() || context.api_port <= 0 || context.api_port > 65535) {
        return Status::invalid(
            "addon kube-proxy: the tenant's gateway address and port are not known yet");
      }
      return detail::kubeProxy(in);
    case Addon::kCoreDns:
      if (!cluster.spec.network.dnsServiceIP) {
        return Status::invalid(
            "addon coredns: spec.network.dnsServiceIP is not set (defaulting "
            "fills it from spec.network.serviceCIDR)");
      }
      return detail::coreDns(in);
    case Addon::kMetricsServer:
      return detail::metricsServer(in);
    case Addon::kDashboard:
      return detail::dashboard(in);
  }
  return Status::internal("unknown addon");
}

}  // namespace herd::addons
