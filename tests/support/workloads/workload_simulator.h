// Plays the seed's workload controllers and kubelets for tests and benchmarks that run the
// controller against an apiserver with no nodes (the fake apiserver, or a real kube-apiserver
// without a kube-controller-manager): every StatefulSet and Deployment labelled herd.io/cluster
// gets the status its controller would write once all its pods run the current spec and are
// ready (observedGeneration, replicas, ready, updated, available, revisions).
//
// A gate decides, per object, whether its rollout may complete now; objects it holds back keep
// their status until it lets them through (tests use it to stop a rollout halfway, or to make a
// component fail to become ready). Status is written only when it differs, so the simulator
// adds no writes to a converged seed.
//
// Owns two informers and one worker thread; start() and stop() from one thread, the gate and
// counters from any.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace herd::kube {
class Client;
}

namespace herd::testing {

class WorkloadSimulator {
 public:
  // Whether the rollout of this StatefulSet or Deployment may complete now.
  using Gate = std::function<bool(const nlohmann::json& workload)>;

  explicit WorkloadSimulator(kube::Client& client);
  ~WorkloadSimulator();
  WorkloadSimulator(const WorkloadSimulator&) = delete;
  WorkloadSimulator& operator=(const WorkloadSimulator&) = delete;

  Status start();
  void stop();
  // Replaces the gate (the default lets everything through) and looks at every object again.
  void setGate(Gate gate);
  // Status writes made so far.
  uint64_t writes() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The status a workload's controller writes once every replica runs the current spec and is
// ready; for StatefulSets and Deployments alike (the fields of the other kind are ignored).
nlohmann::json readyStatus(const nlohmann::json& workload);

}  // namespace herd::testing
