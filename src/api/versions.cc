#include "api/versions.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

namespace herd::api {
namespace {

#include "api/flag_tables.inc"

// The flags each minor after the recorded 1.32 removed from kube-apiserver,
// kube-controller-manager and kube-scheduler. Source: siderolabs/go-kubernetes,
// kubernetes/upgrade/checks.go (upgradeVersionCheck, "1.32->1.33" .. "1.35->1.36"), which
// cites each CHANGELOG-1.x.md; for 1.36 also the Deprecation section of v1.36.0 in
// kubernetes/kubernetes CHANGELOG/CHANGELOG-1.36.md.
//
// 1.33: kube-apiserver --cloud-config. The recorded 1.32 --help already lacks it, so it only
// guards extraArgs written for older releases.
// 1.34, 1.35, 1.36: none for these binaries (the removals of those minors are kubelet flags
// and feature gates). A removal found later is one line here; the render tests then hold
// herd to it.
constexpr RemovedFlag kRemovedIn133[] = {
    {Binary::kKubeApiserver, "cloud-config"},
};

// The flags etcd 3.6 removed ("Flags removed" of etcd-io/website
// content/en/docs/v3.6/upgrades/upgrade_3_6.md). etcd 3.5 removed none of the recorded 3.4
// flags (upgrade_3_5.md only deprecates --debug, --log-output, --log-package-levels and
// --logger=capnslog), so for a 3.5 pin the recorded 3.4.23 --help holds as it is.
constexpr std::string_view kEtcdRemovedIn36[] = {
    "enable-v2",
    "experimental-enable-v2v3",
    "proxy",
    "proxy-dial-timeout",
    "proxy-failure-wait",
    "proxy-read-timeout",
    "proxy-refresh-interval",
    "proxy-write-timeout",
};

// etcd pins: kubeadm's cmd/kubeadm/app/constants/constants.go, SupportedEtcdVersion:
//   the map {31, 32, 33: "3.5.24-0", 34: "3.6.5-0"} (release-1.34); 1.30 is past that map's
//   window and runs the same 3.5.24 as 1.31 and 1.32 (the 3.5 line kubernetes keeps bumping
//   for release-1.33 and older, per etcd-io/etcd's "Bump etcd Version in Kubernetes" guide);
//   the map {34, 35, 36: "3.6.9-0"} of the same guide's 3.6.8 -> 3.6.9 bump, for 1.35, 1.36.
// Patch releases: the newest entry of kubernetes/kubernetes CHANGELOG/CHANGELOG-1.x.md:
// v1.34.7, v1.35.4, v1.36.0 (@008b3652), v1.33.7 (@4939c179). 1.31.14 and 1.32.11 as run in
// albatrossflavour/home-ops' upgrade notes (v1.31.14 -> v1.32.11 -> v1.33.7). 1.30.14 is not
// read off a source here: check it against CHANGELOG-1.30.md before relying on it.
constexpr KubernetesRelease kReleases[] = {
    {"1.30", "3.5.24", "1.30.14", "3.5.24-0", {}},
    {"1.31", "3.5.24", "1.31.14", "3.5.24-0", {}},
    {"1.32", "3.5.24", "1.32.11", "3.5.24-0", {}},
    {"1.33", "3.5.24", "1.33.7", "3.5.24-0", kRemovedIn133},
    {"1.34", "3.6.5", "1.34.7", "3.6.5-0", {}},
    {"1.35", "3.6.9", "1.35.4", "3.6.9-0", {}},
    {"1.36", "3.6.9", "1.36.0", "3.6.9-0", {}},
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

// "3.6.9" -> 6; -1 when not "3.<digits>...".
int etcdMinor(std::string_view etcd) {
  if (!etcd.starts_with("3.")) return -1;
  int n = -1;
  for (char c : etcd.substr(2)) {
    if (c < '0' || c > '9') break;
    n = (n < 0 ? 0 : n * 10) + (c - '0');
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

std::string flagRemovedIn(Binary b, std::string_view flag, std::string_view version) {
  const KubernetesRelease* release = findRelease(version);
  if (release == nullptr) return {};
  if (b == Binary::kEtcd) {
    // etcd's flags follow the etcd release kubeadm pins, not the Kubernetes minor.
    if (etcdMinor(release->etcd) >= 6 &&
        std::find(std::begin(kEtcdRemovedIn36), std::end(kEtcdRemovedIn36), flag) !=
            std::end(kEtcdRemovedIn36)) {
      return "etcd 3.6";
    }
    return {};
  }
  int wanted = minorNumber(release->minor);
  int recorded = minorNumber(kRecordedFlagsMinor);
  for (const auto& r : kReleases) {
    int n = minorNumber(r.minor);
    if (n <= recorded || n > wanted) continue;
    for (const RemovedFlag& removed : r.removed_flags) {
      if (removed.binary == b && removed.flag == flag) return fmt::format("Kubernetes {}", r.minor);
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
