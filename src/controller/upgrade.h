// Which Kubernetes version a cluster may run next. Kubernetes supports upgrading one minor
// release at a time (kube-apiserver may be at most one minor ahead of the rest and etcd's
// storage is migrated forward only), so a skip or a minor downgrade is refused; patch
// releases may be changed either way at any time. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

namespace herd::controller {

struct VersionDecision {
  // The version to run: the requested one when allowed, else the running one.
  std::string target;
  bool refused = false;
  std::string reason;   // "VersionSkipped", "Downgrade", "MalformedVersion"
  std::string message;  // what to do instead
};

// `running` is status.version ("" before the cluster first ran), `requested` spec.version.
VersionDecision decideVersion(const std::string& running, const std::string& requested);

}  // namespace herd::controller
