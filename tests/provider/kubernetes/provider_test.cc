// The kubernetes provider against an API server (the fake, or a real one under HERD_KUBE_BIN):
// a tenant applied twice costs no write the second time; a spec change costs exactly the
// writes it needs; the workloads' status becomes the components' state (the test plays the
// seed's workload controllers); credentials come back as stored; removing the tenant leaves
// nothing labelled with it.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>

#include "api/codec.h"
#include "api/crd.h"
#include "common/yaml.h"
#include "kube/transport.h"
#include "provider/kubernetes/kubernetes_provider.h"
#include "provider/kubernetes/test_specs.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"

namespace herd::provider::kubernetes {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const kube::ResourceRef kClusters{"herd.io", "v1alpha1", "clusters", false, "Cluster"};

// Counts the requests that go on the wire, by method, for "zero writes" claims.
class CountingTransport : public kube::Transport {
 public:
  explicit CountingTransport(std::unique_ptr<kube::Transport> inner) : inner_(std::move(inner)) {}
  Result<kube::HttpResponse> roundTrip(const kube::HttpRequest& request,
                                       std::chrono::milliseconds timeout) override {
    count(request);
    return inner_->roundTrip(request, timeout);
  }
  Result<std::unique_ptr<kube::ResponseStream>> openStream(
      const kube::HttpRequest& request, std::chrono::milliseconds timeout) override {
    count(request);
    return inner_->openStream(request, timeout);
  }
  const std::string& pathPrefix() const override { return inner_->pathPrefix(); }
  int writes() const {
    std::lock_guard lock(mu_);
    int n = 0;
    for (const auto& [method, c] : by_method_) {
      if (method != "GET") n += c;
    }
    return n;
  }
  std::vector<std::string> writeLog() const {
    std::lock_guard lock(mu_);
    return write_log_;
  }
  void reset() {
    std::lock_guard lock(mu_);
    by_method_.clear();
    write_log_.clear();
  }

 private:
  void count(const kube::HttpRequest& r) {
    std::lock_guard lock(mu_);
    ++by_method_[r.method];
    if (r.method != "GET") write_log_.push_back(r.method + " " + r.target);
  }
  std::unique_ptr<kube::Transport> inner_;
  mutable std::mutex mu_;
  std::map<std::string, int> by_method_;
  std::vector<std::string> write_log_;
};

class KubernetesProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = herd::testing::TestApiServer::start();
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(*server);
    std::cout << "seed: " << server_->describe() << "\n";
    auto transport = kube::makeTransport(server_->adminConfig());
    ASSERT_TRUE(transport.isOk());
    auto counting = std::make_unique<CountingTransport>(std::move(*transport));
    counter_ = counting.get();
    client_ = std::make_unique<kube::Client>(std::move(counting), server_->adminConfig(),
                                             kube::RetryPolicy{});
    auto crd = parseDocuments(api::clusterCrdYaml());
    ASSERT_TRUE(crd.isOk() && crd->size() == 1);
    ASSERT_TRUE(client_->create(kube::crdsResource(), "", (*crd)[0]).isOk());
    for (int i = 0; i < 200 && !client_->list(kClusters, "").isOk(); ++i)
      std::this_thread::sleep_for(50ms);
    api::Cluster cluster = testdata::cluster("");
    auto created = client_->create(kClusters, "", api::encodeCluster(cluster));
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    cluster_ = testdata::cluster((*created)["metadata"]["uid"].get<std::string>());
    provider_ = std::make_unique<KubernetesProvider>(*client_, ProviderOptions{});
  }

  // Everything of the tenant, as the controller would apply it, and the states it reports.
  std::vector<ComponentState> applyAll(const std::vector<render::ComponentSpec>& specs) {
    EXPECT_TRUE(provider_->ensureTenant(cluster_).isOk());
    EXPECT_TRUE(provider_->storeCredentials(cluster_, testdata::pkiFiles()).isOk());
    std::vector<ComponentState> states;
    for (const auto& spec : specs) {
      auto state = provider_->applyComponent(cluster_, spec);
      EXPECT_TRUE(state.isOk()) << spec.name << ": " << state.status().toString();
      states.push_back(state.isOk() ? *state : ComponentState{});
    }
    return states;
  }

  // What the StatefulSet/Deployment controller writes once every pod is ready.
  void markReady(const std::string& kind, const std::string& name) {
    kube::ResourceRef ref = resourceForKind(kind);
    auto live = client_->get(ref, "herd-alpha", name);
    ASSERT_TRUE(live.isOk()) << live.status().toString();
    json obj = *live;
    int64_t replicas = obj["spec"].value("replicas", 1);
    obj["status"] = {{"observedGeneration", obj["metadata"]["generation"]},
                     {"replicas", replicas},
                     {"readyReplicas", replicas},
                     {"updatedReplicas", replicas},
                     {"availableReplicas", replicas}};
    if (kind == "StatefulSet") {
      obj["status"]["currentReplicas"] = replicas;
      obj["status"]["currentRevision"] = name + "-1";
      obj["status"]["updateRevision"] = name + "-1";
    }
    ASSERT_TRUE(client_->updateStatus(ref, "herd-alpha", obj).isOk());
  }

  std::unique_ptr<herd::testing::TestApiServer> server_;
  CountingTransport* counter_ = nullptr;
  std::unique_ptr<kube::Client> client_;
  api::Cluster cluster_;
  std::unique_ptr<KubernetesProvider> provider_;
};

TEST_F(KubernetesProviderTest, ASecondApplyOfTheSameTenantWritesNothing) {
  applyAll(testdata::allSpecs());
  EXPECT_GT(counter_->writes(), 10);
  counter_->reset();
  applyAll(testdata::allSpecs());
  EXPECT_EQ(counter_->writes(), 0) << ::testing::PrintToString(counter_->writeLog());
}

TEST_F(KubernetesProviderTest, ANewImageCostsExactlyTheWriteOfItsWorkload) {
  applyAll(testdata::allSpecs());
  auto specs = testdata::allSpecs();
  specs[1].image = "registry.k8s.io/kube-apiserver:v1.32.5";
  counter_->reset();
  applyAll(specs);
  auto log = counter_->writeLog();
  ASSERT_EQ(log.size(), 1u) << ::testing::PrintToString(log);
  EXPECT_NE(log[0].find("/deployments/kube-apiserver"), std::string::npos) << log[0];
  auto live = client_->get(resourceForKind("Deployment"), "herd-alpha", "kube-apiserver");
  ASSERT_TRUE(live.isOk());
  EXPECT_EQ(live->value("/spec/template/spec/containers/0/image"_json_pointer, std::string()),
            "registry.k8s.io/kube-apiserver:v1.32.5");
}

TEST_F(KubernetesProviderTest, WorkloadStatusBecomesTheComponentsState) {
  auto states = applyAll(testdata::allSpecs());
  ASSERT_EQ(states.size(), 4u);
  EXPECT_FALSE(states[0].rolled_out) << "no controller has looked at etcd yet";
  EXPECT_EQ(states[0].replicas, 3);
  markReady("StatefulSet", "etcd");
  markReady("Deployment", "kube-apiserver");
  states = applyAll(testdata::allSpecs());
  EXPECT_TRUE(states[0].rolled_out) << states[0].message;
  EXPECT_EQ(states[0].ready_replicas, 3);
  EXPECT_TRUE(states[1].rolled_out) << states[1].message;
  EXPECT_FALSE(states[2].rolled_out);
  EXPECT_FALSE(states[2].message.empty());

  // A new spec is a new generation: not rolled out until its controller has seen it.
  auto specs = testdata::allSpecs();
  specs[0].image = "registry.k8s.io/etcd:3.5.21-0";
  states = applyAll(specs);
  EXPECT_FALSE(states[0].rolled_out);
  EXPECT_NE(states[0].message.find("generation"), std::string::npos) << states[0].message;
}

TEST_F(KubernetesProviderTest, CredentialsComeBackAsStored) {
  ASSERT_TRUE(provider_->ensureTenant(cluster_).isOk());
  auto none = provider_->loadCredentials(cluster_);
  ASSERT_TRUE(none.isOk()) << none.status().toString();
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(provider_->storeCredentials(cluster_, testdata::pkiFiles()).isOk());
  auto loaded = provider_->loadCredentials(cluster_);
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  EXPECT_EQ(*loaded, testdata::pkiFiles());
}

TEST_F(KubernetesProviderTest, RemovingTheTenantLeavesNothingLabelledWithIt) {
  applyAll(testdata::allSpecs());
  bool gone = false;
  for (int i = 0; i < 300 && !gone; ++i) {
    auto removed = provider_->removeTenant(cluster_);
    ASSERT_TRUE(removed.isOk()) << removed.status().toString();
    gone = *removed;
    if (!gone) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(gone) << "the namespace was never removed";
  for (auto kind : kKinds) {
    kube::ResourceRef ref = resourceForKind(kind);
    kube::ListOptions options;
    options.label_selector = "herd.io/cluster=alpha";
    auto left = client_->list(ref, "", options);
    ASSERT_TRUE(left.isOk()) << kind << ": " << left.status().toString();
    EXPECT_TRUE((*left)["items"].empty()) << kind << ": " << (*left)["items"].dump();
  }
  // And the tenant comes back on the next apply, as after a delete and re-create.
  applyAll(testdata::allSpecs());
  EXPECT_TRUE(client_->get(resourceForKind("StatefulSet"), "herd-alpha", "etcd").isOk());
}

}  // namespace
}  // namespace herd::provider::kubernetes
