// Kubernetes Events (core/v1) about Clusters: what the controller changed or why it failed,
// shown by `kubectl describe cluster`. Cluster is cluster-scoped, so its events live in the
// "default" namespace, as those of Nodes do.
//
// Recording is best effort: a failure to write an event is logged, never fails a reconcile.
// Thread-safe (the client is).
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "kube/client.h"

namespace herd::controller {

inline constexpr std::string_view kControllerComponent = "herd-controller";
inline constexpr std::string_view kEventNamespace = "default";

class EventRecorder {
 public:
  enum class Type { kNormal, kWarning };
  EventRecorder(kube::Client& client, std::string instance)
      : client_(client), instance_(std::move(instance)) {}

  // An event on `cluster` (the object as read: apiVersion, kind, name, uid are taken from it).
  void record(const kube::json& cluster, Type type, std::string_view reason,
              std::string_view message);

 private:
  kube::Client& client_;
  std::string instance_;
  std::atomic<uint64_t> sequence_{0};
};

}  // namespace herd::controller
