#include "controller/controller.h"

#include <fmt/format.h>

#include <map>

#include "api/cluster.h"
#include "common/log.h"
#include "controller/tenant_metrics.h"
#include "kube/herd_resources.h"

namespace herd::controller {

using kube::json;
using Clock = std::chrono::steady_clock;

namespace {

// The controller's metric families, declared once.
struct MetricNames {
  static constexpr const char* kReconciles = "herd_controller_reconciles_total";
  static constexpr const char* kErrors = "herd_controller_reconcile_errors_total";
  static constexpr const char* kDuration = "herd_controller_reconcile_duration_seconds";
  static constexpr const char* kQueueDepth = "herd_controller_queue_depth";
  static constexpr const char* kClusters = "herd_controller_clusters";
};
// A reconcile reads the Cluster, calls the provider a few times and may issue certificates:
// tens of milliseconds when nothing changes, seconds when keys are generated.
const std::vector<double> kDurationBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10,  30};

}  // namespace

// What the scrape-time collectors read; outlives the Controller if the registry does, and is
// detached when the Controller goes.
struct ControllerView {
  std::mutex mu;
  Controller* controller = nullptr;
  std::function<size_t()> queue_depth;
  std::function<std::map<std::string, int>()> phases;
  ClusterVisitor for_each;
};

namespace {
std::shared_ptr<ControllerView> viewFor(Controller* c);
std::map<Controller*, std::shared_ptr<ControllerView>>& views() {
  static std::map<Controller*, std::shared_ptr<ControllerView>> v;
  return v;
}
std::mutex& viewsMu() {
  static std::mutex mu;
  return mu;
}
std::shared_ptr<ControllerView> viewFor(Controller* c) {
  std::lock_guard lock(viewsMu());
  auto& v = views()[c];
  if (!v) v = std::make_shared<ControllerView>();
  return v;
}
void dropView(Controller* c) {
  std::shared_ptr<ControllerView> v;
  {
    std::lock_guard lock(viewsMu());
    auto it = views().find(c);
    if (it == views().end()) return;
    v = it->second;
    views().erase(it);
  }
  std::lock_guard lock(v->mu);
  v->controller = nullptr;
  v->queue_depth = nullptr;
  v->phases = nullptr;
  v->for_each = nullptr;
}
}  // namespace

Controller::Controller(kube::Client& seed, provider::Provider& provider, Renderer renderer,
                       ControllerOptions options, TenantClientFactory tenant_clients)
    : seed_(seed),
      options_(std::move(options)),
      reconciler_(seed, provider, std::move(renderer), options_.reconciler,
                  std::move(tenant_clients)) {
  kube::InformerOptions io = options_.informer;
  io.resource = kube::clustersResource();
  io.ns = "";
  // The reconcile reads the whole Cluster but never its managedFields; an update without
  // them keeps the server's.
  io.transform = kube::stripManagedFields;
  clusters_ = std::make_unique<kube::Informer>(seed_, io);
  auto enqueue_object = [this](const json& object) {
    if (object.contains("metadata")) enqueue(object["metadata"].value("name", ""));
  };
  clusters_->addHandler({enqueue_object,
                         [enqueue_object](const json&, const json& now) { enqueue_object(now); },
                         enqueue_object});
  for (const auto& resource : options_.owned_resources) {
    kube::InformerOptions oo = options_.informer;
    oo.resource = resource;
    oo.ns = "";
    oo.label_selector = std::string(kClusterLabel);
    // These caches only bring a Cluster back: its label is all that is read. Whole
    // StatefulSets and Deployments (pod templates, flags, status) would cost the controller
    // tens of KiB per tenant.
    oo.transform = kube::keepOnlyMetadata;
    auto informer = std::make_unique<kube::Informer>(seed_, oo);
    // An owned object brings back the Cluster its label names.
    auto enqueue_owner = [this](const json& object) {
      const json& labels = object["metadata"].value("labels", json::object());
      if (auto it = labels.find(kClusterLabel); it != labels.end() && it->is_string()) {
        enqueue(it->get<std::string>());
      }
    };
    informer->addHandler({enqueue_owner,
                          [enqueue_owner](const json&, const json& now) { enqueue_owner(now); },
                          enqueue_owner});
    owned_.push_back(std::move(informer));
  }
  reconciler_.setSource(
      [this](const std::string& name) { return readCached(name); },
      [this]() -> Result<std::map<std::string, int32_t>> {
        std::map<std::string, int32_t> ports;
        clusters_->forEach([&](const json& c) { recordPortOf(c, ports); });
        return ports;
      });
  registerMetrics();
}

Controller::~Controller() {
  stop();
  dropView(this);
}

Result<std::optional<json>> Controller::readCached(const std::string& name) {
  if (!clusters_->hasSynced()) return Status::unavailable("the Cluster cache has not synced yet");
  return clusters_->get(name);
}

void Controller::registerMetrics() {
  metrics::Registry* registry = options_.metrics;
  if (registry == nullptr) return;
  auto warn = [](const Status& s) {
    log::root().warn("controller metrics not registered", {{"error", s.toString()}});
  };
  auto reconciles = registry->counter(
      {MetricNames::kReconciles, "Cluster reconciles, by result (done, wait, error).", {"result"}});
  if (reconciles) reconcile_total_ = *reconciles; else warn(reconciles.status());
  auto errors = registry->counter(
      {MetricNames::kErrors, "Cluster reconciles that failed, by reason.", {"reason"}});
  if (errors) errors_total_ = *errors; else warn(errors.status());
  auto duration = registry->histogram(
      {MetricNames::kDuration, "How long one Cluster reconcile took.", {}, kDurationBuckets});
  if (duration) {
    auto series = (*duration)->withLabels({});
    if (series) duration_ = *series;
  } else {
    warn(duration.status());
  }
  auto view = viewFor(this);
  {
    std::lock_guard lock(view->mu);
    view->controller = this;
    view->queue_depth = [this] {
      std::lock_guard l(workers_mu_);
      return queue_ ? queue_->len() : size_t{0};
    };
    view->phases = [this] {
      std::map<std::string, int> by_phase;
      for (std::string_view p : api::kPhases) by_phase[std::string(p)] = 0;
      clusters_->forEach([&](const json& c) {
        std::string phase;
        if (auto s = c.find("status"); s != c.end() && s->is_object()) phase = s->value("phase", "");
        by_phase[phase.empty() ? "Pending" : phase]++;
      });
      return by_phase;
    };
    view->for_each = [this](const std::function<void(const json&)>& visit) {
      clusters_->forEach(visit);
    };
  }
  Status s = registry->collect(
      metrics::Type::kGauge,
      {MetricNames::kQueueDepth, "Clusters waiting in the work queue to be reconciled."},
      [view](metrics::Sink& sink) {
        std::lock_guard lock(view->mu);
        if (view->queue_depth) sink.add(static_cast<uint64_t>(view->queue_depth()));
      });
  if (!s) warn(s);
  s = registry->collect(metrics::Type::kGauge,
                        {MetricNames::kClusters, "Clusters by status.phase.", {"phase"}},
                        [view](metrics::Sink& sink) {
                          std::lock_guard lock(view->mu);
                          if (!view->phases) return;
                          for (const auto& [phase, n] : view->phases()) sink.add({phase}, n);
                        });
  if (!s) warn(s);
  s = registerTenantMetrics(*registry, [view](const std::function<void(const json&)>& visit) {
    std::lock_guard lock(view->mu);
    if (view->for_each) view->for_each(visit);
  });
  if (!s) warn(s);
}

Status Controller::start() {
  if (started_) return Status::failedPrecondition("the controller is started already");
  started_ = true;
  clusters_->start();
  for (auto& informer : owned_) informer->start();
  if (!options_.leader_election) {
    startWorkers();
    return Status::ok();
  }
  kube::LeaderElectionConfig config = *options_.leader_election;
  config.on_started_leading = [this] { startWorkers(); };
  config.on_stopped_leading = [this] { stopWorkers(); };
  elector_ = std::make_unique<kube::LeaderElector>(seed_, std::move(config));
  election_thread_ = std::thread([this] { elector_->run(); });
  return Status::ok();
}

void Controller::stop() {
  if (!started_) return;
  started_ = false;
  // Workers first: a replica that releases its Lease must have stopped reconciling.
  stopWorkers();
  if (elector_) {
    elector_->stop();
    if (election_thread_.joinable()) election_thread_.join();
    elector_.reset();
  }
  for (auto& informer : owned_) informer->stop();
  clusters_->stop();
}

bool Controller::waitForSync(std::chrono::milliseconds timeout) {
  return clusters_->waitForSync(timeout);
}

void Controller::enqueue(const std::string& name) {
  if (name.empty()) return;
  std::lock_guard lock(workers_mu_);
  if (queue_) queue_->add(name);
}

void Controller::startWorkers() {
  std::lock_guard lock(workers_mu_);
  if (queue_) return;
  queue_ = std::make_shared<kube::WorkQueue>(options_.backoff);
  leading_ = true;
  // Everything in the cache once: events seen while not leading were dropped. Before the
  // first sync the Cluster informer's own ADDED events do this.
  clusters_->forEach([&](const json& c) {
    if (auto m = c.find("metadata"); m != c.end() && m->is_object()) queue_->add(m->value("name", ""));
  });
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this, queue = queue_] { work(*queue); });
  }
  log::root().info("controller workers started", {{"workers", options_.workers}});
}

void Controller::stopWorkers() {
  std::shared_ptr<kube::WorkQueue> queue;
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(workers_mu_);
    queue = std::move(queue_);
    queue_.reset();
    workers.swap(workers_);
    leading_ = false;
  }
  if (!queue) return;
  queue->shutDown();
  for (auto& t : workers) t.join();
  log::root().info("controller workers stopped");
}

void Controller::work(kube::WorkQueue& queue) {
  while (auto key = queue.get()) {
    auto t0 = Clock::now();
    Outcome outcome = reconciler_.reconcile(*key);
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (duration_) duration_->observe(seconds);
    if (reconcile_total_) {
      if (auto c = reconcile_total_->withLabels({outcomeName(outcome.kind)})) (*c)->inc();
    }
    switch (outcome.kind) {
      case Outcome::Kind::kDone:
        queue.forget(*key);
        if (options_.resync.count() > 0) {
          if (clusters_->contains(*key)) queue.addAfter(*key, options_.resync);
        }
        break;
      case Outcome::Kind::kWait:
        queue.forget(*key);
        queue.addAfter(*key, outcome.requeue_after);
        break;
      case Outcome::Kind::kError:
        if (errors_total_) {
          if (auto c = errors_total_->withLabels({outcome.reason})) (*c)->inc();
        }
        if (outcome.error.code() != Code::kConflict && outcome.error.code() != Code::kUnavailable) {
          log::forCluster(*key).warn("reconcile failed, backing off",
                                     {{"reason", outcome.reason}, {"error", outcome.message}});
        }
        queue.addRateLimited(*key);
        break;
    }
    queue.done(*key);
    reconciles_.fetch_add(1);
  }
}

}  // namespace herd::controller
