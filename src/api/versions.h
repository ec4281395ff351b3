// The Kubernetes versions herd can run, and the flags of each control-plane binary.
//
// One table, newest last: adding a minor release is one row in versions.cc (its patch release,
// kubeadm's etcd pin and the flags it removed, each with its source). The flags themselves
// come from the --help of one recorded release (../shared/kubernetes/flags, Kubernetes 1.32,
// etcd 3.4.23, generated into flag_tables.inc); a newer minor's flags are those minus the
// ones removed since. Static data; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace herd::api {

enum class Binary { kKubeApiserver, kKubeControllerManager, kKubeScheduler, kEtcd };

// A flag that a release dropped from a binary's command line.
struct RemovedFlag {
  Binary binary;
  std::string_view flag;  // without "--"
};

struct KubernetesRelease {
  std::string_view minor;  // "1.32"
  std::string_view etcd;   // the etcd version kubeadm pairs with it: "3.5.24"
  std::string_view patch;  // the release herd runs for this minor: "1.32.11"
  // kubeadm's tag of registry.k8s.io/etcd for that etcd version: "3.5.24-0".
  std::string_view etcd_image_tag;
  // Flags this minor removed, relative to the minor before it.
  std::span<const RemovedFlag> removed_flags;
};

// Supported releases, oldest first. The default for new clusters is the newest release whose
// --help is recorded (kRecordedFlagsMinor): the one whose every flag herd has seen for real.
std::span<const KubernetesRelease> supportedReleases();
const KubernetesRelease& defaultRelease();
// The release for "1.32" or "1.32.4"; nullptr if unsupported or malformed.
const KubernetesRelease* findRelease(std::string_view version);
std::vector<std::string_view> supportedMinors();

std::string_view binaryName(Binary b);
// The minor whose --help is recorded in flag_tables.inc.
inline constexpr std::string_view kRecordedFlagsMinor = "1.32";
// Whether `flag` (without "--") is a flag of the binary, per its recorded --help.
bool isKnownFlag(Binary b, std::string_view flag);
// Whether `flag` is a flag of the binary in the release `version` ("1.34" or "1.34.2"): in the
// recorded --help and not removed since (flagRemovedIn).
// False for an unsupported or malformed version.
bool isKnownFlag(Binary b, std::string_view flag, std::string_view version);
// What removed `flag` from the binary as run for `version`: "Kubernetes 1.33" (a minor after
// the recorded one, up to `version`) or "etcd 3.6" (the etcd kubeadm pins for `version`);
// empty if nothing did, or if `version` is unsupported.
std::string flagRemovedIn(Binary b, std::string_view flag, std::string_view version);
// Flags herd sets itself from the cluster's PKI and topology: extraArgs may not override them.
bool isManagedFlag(Binary b, std::string_view flag);
// The managed flags of a binary, sorted.
std::span<const std::string_view> managedFlags(Binary b);
inline constexpr Binary kAllBinaries[] = {Binary::kKubeApiserver, Binary::kKubeControllerManager,
                                          Binary::kKubeScheduler, Binary::kEtcd};

}  // namespace herd::api
