// The workload simulator writes the status a StatefulSet's or Deployment's controller would,
// holds rollouts back while its gate says so, and writes nothing to a converged seed.
#include "workload_simulator.h"

#include <gtest/gtest.h>

#include "kube/client.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"

namespace herd::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

kube::ResourceRef statefulSets() {
  return {"apps", "v1", "statefulsets", true, "StatefulSet"};
}

json statefulSet(int replicas, const std::string& image) {
  json labels = {{"app", "etcd"}};
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "StatefulSet"},
      {"metadata",
       {{"name", "etcd"}, {"namespace", "herd-alpha"}, {"labels", {{"herd.io/cluster", "alpha"}}}}},
      {"spec",
       {{"replicas", replicas},
        {"serviceName", "etcd"},
        {"selector", {{"matchLabels", labels}}},
        {"template",
         {{"metadata", {{"labels", labels}}},
          {"spec", {{"containers", json::array({{{"name", "etcd"}, {"image", image}}})}}}}}}}};
}

TEST(WorkloadSimulatorTest, RolloutsCompleteWhenTheGateLetsThemAndNotBefore) {
  auto api = TestApiServer::start();
  ASSERT_TRUE(api.isOk()) << api.status().message();
  auto client = kube::Client::create((*api)->adminConfig());
  ASSERT_TRUE(client.isOk());
  kube::Client& c = **client;
  ASSERT_TRUE(
      c.create(
           kube::namespacesResource(), "",
           {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "herd-alpha"}}}})
          .isOk());
  WorkloadSimulator sim(c);
  std::atomic<bool> open{false};
  sim.setGate([&](const json&) { return open.load(); });
  ASSERT_TRUE(sim.start().isOk());
  ASSERT_TRUE(c.create(statefulSets(), "herd-alpha", statefulSet(3, "etcd:3.5.16")).isOk());
  auto ready = [&](int64_t generation) {
    auto got = c.get(statefulSets(), "herd-alpha", "etcd");
    return got.isOk() && got->value("/status/readyReplicas"_json_pointer, 0) == 3 &&
           got->value("/status/observedGeneration"_json_pointer, int64_t{0}) == generation;
  };
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(ready(1)) << "held back by the gate";
  open = true;
  sim.setGate([&](const json&) { return open.load(); });
  ASSERT_TRUE(eventually([&] { return ready(1); }, 20s));

  // A new spec is a new generation; its rollout completes too.
  auto current = c.get(statefulSets(), "herd-alpha", "etcd");
  ASSERT_TRUE(current.isOk());
  json changed = *current;
  changed["spec"]["template"]["spec"]["containers"][0]["image"] = "etcd:3.5.21";
  ASSERT_TRUE(c.update(statefulSets(), "herd-alpha", changed).isOk());
  ASSERT_TRUE(eventually([&] { return ready(2); }, 20s));

  // One status write per generation (the counter moves just after the write is answered).
  ASSERT_TRUE(eventually([&] { return sim.writes() == 2; }, 20s)) << sim.writes();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(sim.writes(), 2u) << "a converged workload gets no more writes";
  sim.stop();
}

}  // namespace
}  // namespace herd::testing
