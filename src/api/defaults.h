// Defaulting of Cluster objects: fills every unset field that has a default, so that the
// controller and the renderers read one complete spec. Idempotent: defaulting a defaulted
// Cluster changes nothing. Pure functions; thread-safe.
#pragma once

#include <string>

#include "api/cluster.h"

namespace herd::api {

// The defaults herd applies, each explained where it is used.
inline constexpr int32_t kDefaultApiServerReplicas = 2;
inline constexpr int32_t kDefaultControllerManagerReplicas = 2;
inline constexpr int32_t kDefaultSchedulerReplicas = 2;
inline constexpr int32_t kDefaultEtcdReplicas = 3;
inline constexpr std::string_view kDefaultEtcdStorageSize = "8Gi";
inline constexpr std::string_view kDefaultServiceCIDR = "10.96.0.0/12";
inline constexpr std::string_view kDefaultPodCIDR = "10.244.0.0/16";
inline constexpr std::string_view kDefaultDnsDomain = "cluster.local";
inline constexpr std::string_view kDefaultBaseDomain = "herd.localhost";
// kubeadm's convention: the cluster DNS Service takes the tenth address of the service range.
inline constexpr uint64_t kDnsServiceIPIndex = 10;

// Platform settings that defaulting depends on (they come from herd's own configuration).
struct DefaultingContext {
  std::string baseDomain = std::string(kDefaultBaseDomain);
};

void applyDefaults(Cluster& cluster, const DefaultingContext& context = {});

}  // namespace herd::api
