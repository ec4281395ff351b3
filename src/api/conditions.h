// The vocabulary of a Cluster's status: condition types, phases and herd's finalizer, named
// once so that the controller, the CLI and the tests spell them alike, and the helpers that
// keep conditions the way metav1.Condition wants them (lastTransitionTime moves only when the
// status value flips).
//
// Constants and pure functions on value types; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/cluster.h"

namespace herd::api {

// The finalizer herd puts on every Cluster it manages: deletion waits until the tenant's
// control plane and credentials are gone from the seed.
inline constexpr std::string_view kCleanupFinalizer = "herd.io/cleanup";

namespace condition {
// Condition types, in the order the controller walks its resources.
inline constexpr std::string_view kValid = "Valid";
inline constexpr std::string_view kPaused = "Paused";
inline constexpr std::string_view kUpgradeRefused = "UpgradeRefused";
inline constexpr std::string_view kPkiReady = "PKIReady";
inline constexpr std::string_view kEtcdReady = "EtcdReady";
// Every etcd member answers and none has raised an alarm (NOSPACE says what to do).
inline constexpr std::string_view kEtcdHealthy = "EtcdHealthy";
inline constexpr std::string_view kApiServerReady = "APIServerReady";
inline constexpr std::string_view kControllerManagerReady = "ControllerManagerReady";
inline constexpr std::string_view kSchedulerReady = "SchedulerReady";
// The tenant's default/kubernetes endpoints point at the gateway.
inline constexpr std::string_view kEndpointsReady = "EndpointsReady";
// The addons and the join objects are applied inside the tenant.
inline constexpr std::string_view kAddonsReady = "AddonsReady";
inline constexpr std::string_view kReady = "Ready";

inline constexpr std::string_view kTrue = "True";
inline constexpr std::string_view kFalse = "False";
inline constexpr std::string_view kUnknown = "Unknown";
}  // namespace condition

namespace phase {
// The strings of kPhases, by name.
inline constexpr std::string_view kPending = kPhases[0];
inline constexpr std::string_view kProvisioning = kPhases[1];
inline constexpr std::string_view kRunning = kPhases[2];
inline constexpr std::string_view kUpdating = kPhases[3];
inline constexpr std::string_view kDegraded = kPhases[4];
inline constexpr std::string_view kDeleting = kPhases[5];
inline constexpr std::string_view kFailed = kPhases[6];
}  // namespace phase

// Sets `condition` in `status` (replacing the one of its type, else appending). When the
// status value is unchanged the existing lastTransitionTime is kept; otherwise it becomes
// `now` (RFC 3339). observedGeneration is taken from `condition`. Returns true when anything
// in the stored condition changed.
bool setCondition(ClusterStatus& status, Condition condition, std::string_view now);

// The condition of that type, or nullptr.
const Condition* findCondition(const ClusterStatus& status, std::string_view type);
Condition* findCondition(ClusterStatus& status, std::string_view type);
// True when the condition exists with status "True".
bool isConditionTrue(const ClusterStatus& status, std::string_view type);
// Removes the condition of that type; true if there was one.
bool removeCondition(ClusterStatus& status, std::string_view type);

// The current time as Kubernetes writes metav1.Time: 2026-11-25T01:40:25Z.
std::string rfc3339Now();

}  // namespace herd::api
