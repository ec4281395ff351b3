#include "api/versions.h"

#include <algorithm>
#include <string>

namespace herd::api {
namespace {

#include "api/flag_tables.inc"

// The flags each minor after the recorded 1.32 removed from these four binaries.
//
// 1.33: kube-apiserver --cloud-config (siderolabs/go-kubernetes, kubernetes/upgrade/checks.go,
// "1.32->1.33" removedFlags, citing CHANGELOG-1.33.md). The recorded 1.32 --help of
// kube-apiserver already lacks it, so it only guards extraArgs written for older releases.
constexpr RemovedFlag kRemovedIn133[] = {
    {Binary::kKubeApiserver, "cloud-config"},
};
// 1.34, 1.35: none recorded. The sources consulted (the siderolabs/go-kubernetes upgrade
// checks, whose table ends at 1.32->1.33, and the CHANGELOG-1.34.md / CHANGELOG-1.35.md
// indexes) name no removed flag of kube-apiserver, kube-controller-manager, kube-scheduler
// or etcd; a removal found later is one line here, and the render tests then hold herd to it.

// etcd pins: kubeadm's cmd/kubeadm/app/constants/constants.go, SupportedEtcdVersion, as last
// updated on each release branch:
//   release-1.32 (kubernetes/kubernetes@00886ac0): 29..32 -> "3.5.24-0";
//   release-1.34: 31..33 -> "3.5.24-0", 34 -> "3.6.5-0";
//   the etcd bump doc of the 1.36 cycle (34..36 "3.6.8-0" -> "3.6.9-0") for 1.35.
// Patch releases: the newest entry of each CHANGELOG/CHANGELOG-1.x.md (kubernetes/kubernetes):
// v1.33.7, v1.34.3, v1.35.4. 1.31.14 and 1.32.11 as run by albatrossflavour/home-ops'
// upgrade notes (v1.31.14 -> v1.32.11 -> v1.33.7). 1.30.14 is 1.30's final patch release as
// remembered, not read off a source here: check it against CHANGELOG-1.30.md.
constexpr KubernetesRelease kReleases[] = {
    {"1.30", "3.5.24", "1.30.14", "3.5.24-0", {}},
    {"1.31", "3.5.24", "1.31.14", "3.5.24-0", {}},
    {"1.32", "3.5.24", "1.32.11", "3.5.24-0", {}},
    {"1.33", "3.5.24", "1.33.7", "3.5.24-0", kRemovedIn133},
    {"1.34", "3.6.5", "1.34.3", "3.6.5-0", {}},
    {"1.35", "3.6.9", "1.35.4", "3.6.9-0", {}},
};

// "1.33" -> 33; -1 when not "1.<digits>".
int minorNumber(std::string_view minor) {
  if (!minor.starts_with("1.") || minor.size() < 3) return -1;
  int n = 0;
  for (char c : minor.substr(2)) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

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
  for (const auto& r : kReleases) {
    if (r.minor == kRecordedFlagsMinor) return r;
  }
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

std::string_view flagRemovedIn(Binary b, std::string_view flag, std::string_view version) {
  const KubernetesRelease* release = findRelease(version);
  if (release == nullptr) return {};
  int wanted = minorNumber(release->minor);
  int recorded = minorNumber(kRecordedFlagsMinor);
  for (const auto& r : kReleases) {
    int n = minorNumber(r.minor);
    if (n <= recorded || n > wanted) continue;
    for (const RemovedFlag& removed : r.removed_flags) {
      if (removed.binary == b && removed.flag == flag) return r.minor;
    }
  }
  return {};
}

bool isKnownFlag(Binary b, std::string_view flag, std::string_view version) {
  if (findRelease(version) == nullptr) return false;
  return isKnownFlag(b, flag) && flagRemovedIn(b, flag, version).empty();
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
