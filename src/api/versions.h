// The Kubernetes versions herd can run, and the flags of each control-plane binary.
//
// One table, newest last: adding a minor release is one line here plus its recorded flags.
// Static data; thread-safe.
#pragma once

#include <span>
#include <string_view>
#include <vector>

namespace herd::api {

struct KubernetesRelease {
  std::string_view minor;  // "1.32"
  std::string_view etcd;   // the etcd version kubeadm pairs with it
};

// Supported releases, oldest first. The newest is the default for new clusters.
std::span<const KubernetesRelease> supportedReleases();
const KubernetesRelease& defaultRelease();
// The release for "1.32" or "1.32.4"; nullptr if unsupported or malformed.
const KubernetesRelease* findRelease(std::string_view version);
std::vector<std::string_view> supportedMinors();

enum class Binary { kKubeApiserver, kKubeControllerManager, kKubeScheduler, kEtcd };
std::string_view binaryName(Binary b);
// Whether `flag` (without "--") is a flag of the binary, per its recorded --help.
bool isKnownFlag(Binary b, std::string_view flag);
// Flags herd sets itself from the cluster's PKI and topology: extraArgs may not override them.
bool isManagedFlag(Binary b, std::string_view flag);
// The managed flags of a binary, sorted.
std::span<const std::string_view> managedFlags(Binary b);
inline constexpr Binary kAllBinaries[] = {Binary::kKubeApiserver, Binary::kKubeControllerManager,
                                          Binary::kKubeScheduler, Binary::kEtcd};

}  // namespace herd::api
