#include "api/versions.h"

#include <algorithm>
#include <string>

namespace herd::api {
namespace {

#include "api/flag_tables.inc"

constexpr KubernetesRelease kReleases[] = {
    {"1.30", "3.5.15"},
    {"1.31", "3.5.15"},
    {"1.32", "3.5.16"},
};

constexpr std::string_view kManagedApiserverFlags[] = {
    "advertise-address",
    "client-ca-file",
    "egress-selector-config-file",
    "etcd-cafile",
    "etcd-certfile",
    "etcd-keyfile",
    "etcd-servers",
    "kubelet-client-certificate",
    "kubelet-client-key",
    "proxy-client-cert-file",
    "proxy-client-key-file",
    "requestheader-client-ca-file",
    "secure-port",
    "service-account-issuer",
    "service-account-key-file",
    "service-account-signing-key-file",
    "service-cluster-ip-range",
    "tls-cert-file",
    "tls-private-key-file",
};
constexpr std::string_view kManagedControllerManagerFlags[] = {
    "authentication-kubeconfig",
    "authorization-kubeconfig",
    "cluster-cidr",
    "cluster-signing-cert-file",
    "cluster-signing-key-file",
    "kubeconfig",
    "root-ca-file",
    "service-account-private-key-file",
    "service-cluster-ip-range",
};
constexpr std::string_view kManagedSchedulerFlags[] = {
    "authentication-kubeconfig",
    "authorization-kubeconfig",
    "kubeconfig",
};
constexpr std::string_view kManagedEtcdFlags[] = {
    "advertise-client-urls",
    "cert-file",
    "client-cert-auth",
    "data-dir",
    "initial-advertise-peer-urls",
    "initial-cluster",
    "initial-cluster-state",
    "initial-cluster-token",
    "key-file",
    "listen-client-urls",
    "listen-peer-urls",
    "name",
    "peer-cert-file",
    "peer-client-cert-auth",
    "peer-key-file",
    "peer-trusted-ca-file",
    "trusted-ca-file",
};

bool contains(std::span<const std::string_view> sorted, std::string_view flag) {
  return std::binary_search(sorted.begin(), sorted.end(), flag);
}

}  // namespace

std::span<const KubernetesRelease> supportedReleases() {
  return kReleases;
}
const KubernetesRelease& defaultRelease() {
  return kReleases[std::size(kReleases) - 1];
}

const KubernetesRelease* findRelease(std::string_view version) {
  // MAJOR.MINOR or MAJOR.MINOR.PATCH, digits only.
  size_t first = version.find('.');
  if (first == std::string_view::npos) return nullptr;
  size_t second = version.find('.', first + 1);
  std::string_view minor = version.substr(0, second);
  if (second != std::string_view::npos) {
    std::string_view patch = version.substr(second + 1);
    if (patch.empty() ||
        !std::all_of(patch.begin(), patch.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return nullptr;
    }
  }
  for (const auto& r : kReleases) {
    if (r.minor == minor) return &r;
  }
  return nullptr;
}

std::vector<std::string_view> supportedMinors() {
  std::vector<std::string_view> out;
  for (const auto& r : kReleases) out.push_back(r.minor);
  return out;
}

std::string_view binaryName(Binary b) {
  switch (b) {
    case Binary::kKubeApiserver:
      return "kube-apiserver";
    case Binary::kKubeControllerManager:
      return "kube-controller-manager";
    case Binary::kKubeScheduler:
      return "kube-scheduler";
    case Binary::kEtcd:
      return "etcd";
  }
  return "unknown";
}

bool isKnownFlag(Binary b, std::string_view flag) {
  switch (b) {
    case Binary::kKubeApiserver:
      return contains(kKubeApiserverFlags, flag);
    case Binary::kKubeControllerManager:
      return contains(kKubeControllerManagerFlags, flag);
    case Binary::kKubeScheduler:
      return contains(kKubeSchedulerFlags, flag);
    case Binary::kEtcd:
      return contains(kEtcdFlags, flag);
  }
  return false;
}

std::span<const std::string_view> managedFlags(Binary b) {
  switch (b) {
    case Binary::kKubeApiserver:
      return kManagedApiserverFlags;
    case Binary::kKubeControllerManager:
      return kManagedControllerManagerFlags;
    case Binary::kKubeScheduler:
      return kManagedSchedulerFlags;
    case Binary::kEtcd:
      return kManagedEtcdFlags;
  }
  return {};
}

bool isManagedFlag(Binary b, std::string_view flag) {
  return contains(managedFlags(b), flag);
}

}  // namespace herd::api
