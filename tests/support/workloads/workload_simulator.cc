#include "workload_simulator.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "kube/client.h"
#include "kube/informer.h"

namespace herd::testing {
namespace {

using nlohmann::json;

kube::ResourceRef statefulSets() {
  return {"apps", "v1", "statefulsets", true, "StatefulSet"};
}
kube::ResourceRef deployments() {
  return {"apps", "v1", "deployments", true, "Deployment"};
}

}  // namespace

json readyStatus(const json& workload) {
  int64_t replicas = workload.value("/spec/replicas"_json_pointer, int64_t{1});
  int64_t generation = workload.value("/metadata/generation"_json_pointer, int64_t{1});
  json status = workload.value("status", json::object());
  status["observedGeneration"] = generation;
  status["replicas"] = replicas;
  status["readyReplicas"] = replicas;
  status["updatedReplicas"] = replicas;
  status["availableReplicas"] = replicas;
  if (workload.value("kind", "") == "StatefulSet") {
    std::string revision =
        workload["metadata"].value("name", "") + "-" + std::to_string(generation);
    status["currentReplicas"] = replicas;
    status["currentRevision"] = revision;
    status["updateRevision"] = revision;
  }
  return status;
}

struct WorkloadSimulator::State {
  explicit State(kube::Client& c) : client(c) {}
  kube::Client& client;
  std::unique_ptr<kube::Informer> sts, deploy;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<kube::Informer*, std::string>> queue;
  std::set<std::pair<kube::Informer*, std::string>> queued;
  Gate gate;
  bool stopping = false;
  std::atomic<uint64_t> writes{0};
  std::thread worker;

  void enqueue(kube::Informer* from, const json& object) {
    std::lock_guard lock(mu);
    auto key = std::make_pair(from, kube::objectKey(object));
    if (queued.insert(key).second) queue.push_back(key);
    cv.notify_all();
  }

  void requeueAll() {
    for (kube::Informer* inf : {sts.get(), deploy.get()}) {
      if (!inf) continue;
      for (const auto& object : inf->list()) enqueue(inf, object);
    }
  }

  void process(kube::Informer* inf, const std::string& key) {
    auto object = inf->get(key);
    if (!object) return;
    Gate g;
    {
      std::lock_guard lock(mu);
      g = gate;
    }
    if (g && !g(*object)) return;
    json want = readyStatus(*object);
    if (object->value("status", json::object()) == want) return;
    json updated = *object;
    updated["status"] = want;
    kube::ResourceRef ref = inf == sts.get() ? statefulSets() : deployments();
    auto res = client.updateStatus(ref, (*object)["metadata"].value("namespace", ""), updated);
    if (res.isOk()) {
      ++writes;
    } else if (res.status().code() == Code::kConflict) {
      // A newer version is on its way through the informer; it will be looked at then.
    }
  }

  void run() {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      auto item = queue.front();
      queue.pop_front();
      queued.erase(item);
      lock.unlock();
      process(item.first, item.second);
      lock.lock();
    }
  }
};

WorkloadSimulator::WorkloadSimulator(kube::Client& client)
    : state_(std::make_unique<State>(client)) {}

WorkloadSimulator::~WorkloadSimulator() {
  stop();
}

Status WorkloadSimulator::start() {
  auto make = [&](kube::ResourceRef ref) {
    kube::InformerOptions options;
    options.resource = ref;
    options.label_selector = "herd.io/cluster";
    auto informer = std::make_unique<kube::Informer>(state_->client, options);
    kube::Informer* raw = informer.get();
    informer->addHandler(
        {.on_add = [this, raw](const json& o) { state_->enqueue(raw, o); },
         .on_update = [this, raw](const json&, const json& o) { state_->enqueue(raw, o); },
         .on_delete = nullptr});
    return informer;
  };
  state_->sts = make(statefulSets());
  state_->deploy = make(deployments());
  state_->worker = std::thread([s = state_.get()] { s->run(); });
  state_->sts->start();
  state_->deploy->start();
  if (!state_->sts->waitForSync(std::chrono::seconds(20)) ||
      !state_->deploy->waitForSync(std::chrono::seconds(20))) {
    return Status::unavailable("the workload simulator's informers did not sync within 20 s");
  }
  return Status::ok();
}

void WorkloadSimulator::stop() {
  if (state_->sts) state_->sts->stop();
  if (state_->deploy) state_->deploy->stop();
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (state_->worker.joinable()) state_->worker.join();
}

void WorkloadSimulator::setGate(Gate gate) {
  {
    std::lock_guard lock(state_->mu);
    state_->gate = std::move(gate);
  }
  state_->requeueAll();
}

uint64_t WorkloadSimulator::writes() const {
  return state_->writes.load();
}

}  // namespace herd::testing
