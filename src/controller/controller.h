// The herd controller: keeps every tenant cluster of the seed converged to its Cluster object.
//
// It owns an informer on Clusters and, optionally, on the seed objects herd makes for tenants
// (each labelled herd.io/cluster=<name>, so that a change to one brings its Cluster back), a
// work queue keyed by Cluster name, and N workers that run the Reconciler. The queue never
// hands one key to two workers, so one Cluster is never reconciled twice at once. With leader
// election the workers run only while this replica holds the Lease, and stop when it is lost.
//
// start() and stop() from one owner thread; enqueue() and the accessors from any thread.
// stop() shuts the queue down, waits for the reconciles under way, and stops the informers.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "controller/reconciler.h"
#include "kube/informer.h"
#include "kube/leader_election.h"
#include "kube/workqueue.h"

namespace herd::controller {

struct ControllerOptions {
  ReconcilerOptions reconciler;
  int workers = 2;
  // Seed objects herd owns whose changes should bring their Cluster back (the kubernetes
  // provider's StatefulSets and Deployments; none for the local provider).
  std::vector<kube::ResourceRef> owned_resources;
  // Set to run the workers only while holding this Lease (callbacks are the controller's).
  std::optional<kube::LeaderElectionConfig> leader_election;
  // Where the controller's metrics go; null for none.
  metrics::Registry* metrics = nullptr;
  kube::RateLimiter::Options backoff;
  kube::InformerOptions informer;  // resource, selectors are set by the controller
  // A converged Cluster is looked at again after this long (0: only on changes), so that
  // what goes on inside its tenant (nodes, pods, addons deleted by hand) reaches its status.
  std::chrono::milliseconds resync{0};
};

class Controller {
 public:
  Controller(kube::Client& seed, provider::Provider& provider, Renderer renderer,
             ControllerOptions options,
             TenantClientFactory tenant_clients = defaultTenantClientFactory());
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Starts the informers and either the workers or the leader election.
  Status start();
  void stop();

  // Queues a Cluster for reconcile (dropped while not leading).
  void enqueue(const std::string& name);
  bool isLeading() const { return leading_.load(); }
  // Reconciles finished since construction.
  uint64_t reconcileCount() const { return reconciles_.load(); }
  bool waitForSync(std::chrono::milliseconds timeout);

 private:
  void startWorkers();
  void stopWorkers();
  void work(kube::WorkQueue& queue);
  void registerMetrics();
  Result<std::optional<kube::json>> readCached(const std::string& name);

  kube::Client& seed_;
  ControllerOptions options_;
  Reconciler reconciler_;
  std::unique_ptr<kube::Informer> clusters_;
  std::vector<std::unique_ptr<kube::Informer>> owned_;

  std::mutex workers_mu_;  // guards queue_ and workers_
  std::shared_ptr<kube::WorkQueue> queue_;
  std::vector<std::thread> workers_;
  std::atomic<bool> leading_{false};
  std::atomic<uint64_t> reconciles_{0};

  std::unique_ptr<kube::LeaderElector> elector_;
  std::thread election_thread_;
  bool started_ = false;

  metrics::CounterFamily* reconcile_total_ = nullptr;
  metrics::CounterFamily* errors_total_ = nullptr;
  metrics::Histogram* duration_ = nullptr;
};

}  // namespace herd::controller
