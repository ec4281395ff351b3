// The controller against an API server as the seed (the fake apiserver, or a real one under
// HERD_KUBE_BIN), with a test-double provider that plays the workload controllers, a test
// renderer, and a second API server per tenant standing in for the tenant's own API.
#include "controller/controller.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "api/conditions.h"
#include "api/crd.h"
#include "common/yaml.h"
#include "fake_provider.h"
#include "kube/herd_resources.h"
#include "kube/transport.h"
#include "support/test_apiserver.h"

namespace herd::controller {
namespace {

using namespace std::chrono_literals;
using kube::json;
using Clock = std::chrono::steady_clock;
namespace cond = api::condition;

// Counts the requests of a client that change something (anything but GET), and logs them.
class RecordingTransport : public kube::Transport {
 public:
  RecordingTransport(std::unique_ptr<kube::Transport> inner, std::shared_ptr<std::atomic<int>> w)
      : inner_(std::move(inner)), writes_(std::move(w)) {}
  Result<kube::HttpResponse> roundTrip(const kube::HttpRequest& r,
                                       std::chrono::milliseconds timeout) override {
    if (r.method != "GET") {
      writes_->fetch_add(1);
      std::lock_guard lock(mu_);
      log_.push_back(r.method + " " + r.target);
    }
    return inner_->roundTrip(r, timeout);
  }
  Result<std::unique_ptr<kube::ResponseStream>> openStream(
      const kube::HttpRequest& r, std::chrono::milliseconds timeout) override {
    return inner_->openStream(r, timeout);
  }
  const std::string& pathPrefix() const override { return inner_->pathPrefix(); }
  std::vector<std::string> log() const {
    std::lock_guard lock(mu_);
    return log_;
  }

 private:
  std::unique_ptr<kube::Transport> inner_;
  std::shared_ptr<std::atomic<int>> writes_;
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

std::unique_ptr<kube::Client> recordingClient(const kube::RestConfig& config,
                                              std::shared_ptr<std::atomic<int>> writes,
                                              RecordingTransport** out = nullptr) {
  auto t = kube::makeTransport(config);
  EXPECT_TRUE(t.isOk()) << t.status().toString();
  auto rt = std::make_unique<RecordingTransport>(std::move(*t), std::move(writes));
  if (out) *out = rt.get();
  return std::make_unique<kube::Client>(std::move(rt), config, kube::RetryPolicy{});
}

// Four small specs of the cluster's version, as render::renderControlPlane would order them.
Result<std::vector<render::ComponentSpec>> testRenderer(const api::Cluster& c) {
  std::vector<render::ComponentSpec> out;
  struct Row {
    render::Component component;
    const char* name;
    int32_t replicas;
  };
  const auto& cp = c.spec.controlPlane;
  for (const Row& row : {Row{render::Component::kEtcd, "etcd", cp.etcd.replicas.value_or(3)},
                         Row{render::Component::kApiServer, "kube-apiserver",
                             cp.apiServer.replicas.value_or(2)},
                         Row{render::Component::kControllerManager, "kube-controller-manager",
                             cp.controllerManager.replicas.value_or(2)},
                         Row{render::Component::kScheduler, "kube-scheduler",
                             cp.scheduler.replicas.value_or(2)}}) {
    render::ComponentSpec s;
    s.component = row.component;
    s.name = row.name;
    s.binary = row.name;
    s.version = c.spec.version.value_or("");
    s.image = "registry.k8s.io/" + s.name + ":v" + s.version;
    s.args = {"--cluster=" + c.metadata.name};
    s.replicas = row.replicas;
    out.push_back(std::move(s));
  }
  return out;
}

constexpr int32_t kFirstPort = 24000;

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    seed_ = std::move(*s);
    std::cerr << "seed: " << seed_->describe() << "\n";
    seed_writes_ = std::make_shared<std::atomic<int>>(0);
    tenant_writes_ = std::make_shared<std::atomic<int>>(0);
    seed_client_ = recordingClient(seed_->adminConfig(), seed_writes_, &seed_log_);
    auto admin = kube::Client::create(seed_->adminConfig());
    ASSERT_TRUE(admin.isOk());
    admin_ = std::move(*admin);
    installCrd();
  }
  void TearDown() override {
    for (auto& c : controllers_) c->stop();
  }

  void installCrd() {
    auto crd = parseDocuments(api::clusterCrdYaml());
    ASSERT_TRUE(crd.isOk() && crd->size() == 1);
    ASSERT_TRUE(admin_->create(kube::crdsResource(), "", (*crd)[0]).isOk());
    for (int i = 0; i < 200; ++i) {
      if (admin_->resourceFor("herd.io/v1alpha1", "Cluster").isOk()) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the Cluster resource was never served";
  }

  ControllerOptions options() {
    ControllerOptions o;
    o.workers = 2;
    o.reconciler.poll = 50ms;
    o.reconciler.gateway_ports = {kFirstPort, kFirstPort + 99};
    o.reconciler.platform.gateway_address = "192.0.2.10";
    o.backoff.base = 20ms;
    o.backoff.max = 1s;
    return o;
  }

  // Each tenant's own API is a test server of its own, made on first use.
  TenantClientFactory tenantFactory() {
    return [this](const api::Cluster& c, const pki::PkiFiles& files,
                  const std::string& server) -> Result<std::unique_ptr<kube::Client>> {
      if (!files.contains("admin.conf")) return Status::internal("no admin.conf passed");
      std::lock_guard lock(tenants_mu_);
      tenant_urls_[c.metadata.name] = server;
      auto& t = tenants_[c.metadata.name];
      if (!t) {
        auto s = testing::TestApiServer::start();
        if (!s) return s.status();
        t = std::move(*s);
      }
      return recordingClient(t->adminConfig(), tenant_writes_);
    };
  }

  testing::FakeProvider& newProvider() {
    providers_.push_back(std::make_unique<testing::FakeProvider>());
    return *providers_.back();
  }

  Controller& startController(testing::FakeProvider& provider, ControllerOptions o) {
    controllers_.push_back(std::make_unique<Controller>(*seed_client_, provider, testRenderer,
                                                        std::move(o), tenantFactory()));
    Controller& c = *controllers_.back();
    EXPECT_TRUE(c.start().isOk());
    return c;
  }

  void create(const std::string& name, const std::string& version, json spec = json::object()) {
    spec["version"] = version;
    json object = {{"apiVersion", "herd.io/v1alpha1"},
                   {"kind", "Cluster"},
                   {"metadata", {{"name", name}}},
                   {"spec", spec}};
    auto r = admin_->create(kube::clustersResource(), "", object);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  void patchSpec(const std::string& name, const json& spec) {
    auto r = admin_->patch(kube::clustersResource(), "", name, kube::PatchType::kMerge,
                           json{{"spec", spec}}.dump());
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  std::optional<json> get(const std::string& name) {
    auto r = admin_->get(kube::clustersResource(), "", name);
    if (!r) return std::nullopt;
    return *r;
  }
  static json statusOf(const json& object) {
    auto s = object.find("status");
    return s != object.end() && s->is_object() ? *s : json::object();
  }
  static std::optional<api::Condition> condition(const json& object, std::string_view type) {
    for (const auto& c : statusOf(object).value("conditions", json::array())) {
      if (c.value("type", "") == type) {
        return api::Condition{c.value("type", ""),
                              c.value("status", ""),
                              c.value("reason", ""),
                              c.value("message", ""),
                              c.value("lastTransitionTime", ""),
                              c.value("observedGeneration", int64_t{0})};
      }
    }
    return std::nullopt;
  }
  bool conditionIs(const std::string& name, std::string_view type, std::string_view status) {
    auto o = get(name);
    if (!o) return false;
    auto c = condition(*o, type);
    return c && c->status == status;
  }
  // Polls `done` for up to `limit`, playing the workload controllers of `provider` when asked.
  bool waitUntil(const std::function<bool()>& done, Clock::duration limit = 60s,
                 testing::FakeProvider* provider = nullptr, const std::string& cluster = "") {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (done()) return true;
      if (provider) {
        for (const auto& component : provider->pending(cluster)) provider->rollOut(cluster, component);
      }
      std::this_thread::sleep_for(20ms);
    }
    return done();
  }
  // Makes the controller reconcile `name` again and waits until it has (or up to 30 s).
  bool reconcileOnce(Controller& c, const std::string& name) {
    uint64_t before = c.reconcileCount();
    c.enqueue(name);
    return waitUntil([&] { return c.reconcileCount() > before; }, 30s);
  }
  // Lets the writes that follow a status change (its events, the reconcile that the change
  // itself brings back) finish: forced reconciles until one writes nothing.
  bool settle(Controller& c, const std::string& name) {
    for (int i = 0; i < 10; ++i) {
      int w = seed_writes_->load();
      if (!reconcileOnce(c, name)) return false;
      std::this_thread::sleep_for(100ms);
      if (seed_writes_->load() == w) return true;
    }
    return false;
  }
  std::vector<json> eventsFor(const std::string& name) {
    std::vector<json> out;
    auto list = admin_->listAll(kube::coreEventsResource(), "default");
    if (!list) return out;
    for (const auto& e : (*list)["items"]) {
      if (e["involvedObject"].value("name", "") == name && e["involvedObject"].value("kind", "") == "Cluster") {
        out.push_back(e);
      }
    }
    return out;
  }
  static bool hasReason(const std::vector<json>& events, std::string_view reason) {
    return std::any_of(events.begin(), events.end(),
                       [&](const json& e) { return e.value("reason", "") == reason; });
  }

  std::unique_ptr<testing::TestApiServer> seed_;
  std::unique_ptr<kube::Client> seed_client_;  // the controller's, counted
  RecordingTransport* seed_log_ = nullptr;
  std::unique_ptr<kube::Client> admin_;        // the test's own
  std::shared_ptr<std::atomic<int>> seed_writes_, tenant_writes_;
  std::mutex tenants_mu_;
  std::map<std::string, std::unique_ptr<testing::TestApiServer>> tenants_;
  std::map<std::string, std::string> tenant_urls_;
  // Before the controllers: they are stopped (destroyed) first.
  std::vector<std::unique_ptr<testing::FakeProvider>> providers_;
  // Declared before the controllers, which write into it until they are destroyed.
  metrics::Registry registry_;
  std::vector<std::unique_ptr<Controller>> controllers_;
};

std::vector<std::string> names(const std::vector<testing::FakeProvider::Applied>& applied) {
  std::vector<std::string> out;
  for (const auto& a : applied) out.push_back(a.component + "@" + a.version);
  return out;
}

TEST_F(ControllerTest, ClusterBecomesReadyComponentByComponentInOrder) {
  testing::FakeProvider& provider = newProvider();
  Controller& c = startController(provider, options());
  create("demo", "1.31");

  // etcd is applied; the apiserver is not while etcd has not rolled out, however often the
  // cluster is reconciled.
  ASSERT_TRUE(waitUntil([&] { return !provider.applied("demo").empty(); }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reconcileOnce(c, "demo"));
  EXPECT_EQ(names(provider.applied("demo")), std::vector<std::string>{"etcd@1.31"});
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kEtcdReady, "False"); }));
  auto early = get("demo");
  ASSERT_TRUE(early);
  EXPECT_EQ((*early)["status"].value("phase", ""), "Provisioning");
  EXPECT_EQ(condition(*early, cond::kPkiReady)->status, "True");
  EXPECT_EQ(condition(*early, cond::kEtcdReady)->reason, "RollingOut");
  EXPECT_EQ(condition(*early, cond::kReady)->status, "False");
  EXPECT_EQ((*early)["metadata"]["finalizers"], json::array({"herd.io/cleanup"}));

  // The test plays the workload controllers: each pending rollout completes.
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }, 60s,
                        &provider, "demo"));
  EXPECT_EQ(names(provider.applied("demo")),
            (std::vector<std::string>{"etcd@1.31", "kube-apiserver@1.31",
                                      "kube-controller-manager@1.31", "kube-scheduler@1.31"}));
  EXPECT_EQ(provider.orderViolations(), 0);

  auto o = get("demo");
  ASSERT_TRUE(o);
  const json& s = (*o)["status"];
  EXPECT_EQ(s.value("phase", ""), "Running");
  EXPECT_EQ(s.value("version", ""), "1.31");
  EXPECT_EQ(s.value("namespace", ""), "herd-demo");
  EXPECT_EQ(s.value("endpoint", ""), "https://demo.herd.localhost:443");
  EXPECT_EQ(s.value("kubeconfigSecret", ""), "admin-kubeconfig");
  EXPECT_EQ(s.value("gatewayPort", 0), kFirstPort);
  EXPECT_EQ(s.value("observedGeneration", int64_t{-1}), (*o)["metadata"].value("generation", 0));
  EXPECT_EQ(s["components"]["etcd"].value("readyReplicas", 0), 3);
  EXPECT_EQ(s["components"]["apiServer"].value("replicas", 0), 2);
  // Every condition True, in the walk's order, each turning True no earlier than the one before.
  std::vector<std::string> order = {"PKIReady", "EtcdReady", "APIServerReady",
                                    "ControllerManagerReady", "SchedulerReady", "EndpointsReady"};
  std::string previous;
  for (const auto& type : order) {
    auto cnd = condition(*o, type);
    ASSERT_TRUE(cnd) << type;
    EXPECT_EQ(cnd->status, "True") << type;
    EXPECT_EQ(cnd->observedGeneration, (*o)["metadata"].value("generation", 0)) << type;
    EXPECT_GE(cnd->lastTransitionTime, previous) << type;
    previous = cnd->lastTransitionTime;
  }
  EXPECT_EQ(condition(*o, cond::kValid)->status, "True");

  // The tenant's default/kubernetes points at the gateway and the tenant's port.
  {
    std::lock_guard lock(tenants_mu_);
    ASSERT_TRUE(tenants_.contains("demo"));
    api::Cluster named;
    named.metadata.name = "demo";
    EXPECT_EQ(tenant_urls_["demo"], provider.apiServerUrl(named));
    auto tenant = kube::Client::create(tenants_["demo"]->adminConfig());
    ASSERT_TRUE(tenant.isOk());
    auto ep = (*tenant)->get({"", "v1", "endpoints", true, "Endpoints"}, "default", "kubernetes");
    ASSERT_TRUE(ep.isOk()) << ep.status().toString();
    EXPECT_EQ((*ep)["subsets"][0]["addresses"][0]["ip"], "192.0.2.10");
    EXPECT_EQ((*ep)["subsets"][0]["ports"][0]["port"], kFirstPort);
    auto slice = (*tenant)->get({"discovery.k8s.io", "v1", "endpointslices", true, "EndpointSlice"}, "default",
                                "kubernetes");
    ASSERT_TRUE(slice.isOk()) << slice.status().toString();
    EXPECT_EQ((*slice)["endpoints"][0]["addresses"][0], "192.0.2.10");
    EXPECT_EQ((*slice)["ports"][0]["port"], kFirstPort);
    EXPECT_EQ((*slice)["metadata"]["labels"]["kubernetes.io/service-name"], "kubernetes");
  }

  auto events = eventsFor("demo");
  EXPECT_TRUE(hasReason(events, "FinalizerAdded"));
  EXPECT_TRUE(hasReason(events, "GatewayPortAllocated"));
  EXPECT_TRUE(hasReason(events, "CredentialsStored"));
  EXPECT_TRUE(hasReason(events, "EndpointsUpdated"));
  for (const auto& e : events) {
    EXPECT_EQ(e["source"].value("component", ""), "herd-controller");
  }
}

TEST_F(ControllerTest, ReconcilingAConvergedClusterWritesNothing) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  ControllerOptions o = options();
  o.metrics = &registry_;
  Controller& c = startController(provider, o);
  create("demo", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }));
  ASSERT_TRUE(settle(c, "demo"));
  size_t events = eventsFor("demo").size();
  int seed_writes = seed_writes_->load();
  int tenant_writes = tenant_writes_->load();
  auto rv = (*get("demo"))["metadata"].value("resourceVersion", "");
  int stores = provider.stores("demo");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reconcileOnce(c, "demo"));
  EXPECT_EQ(seed_writes_->load(), seed_writes) << [&] {
    std::string all;
    for (const auto& l : seed_log_->log()) all += l + "\n";
    return all;
  }();
  EXPECT_EQ(tenant_writes_->load(), tenant_writes);
  EXPECT_EQ((*get("demo"))["metadata"].value("resourceVersion", ""), rv);
  EXPECT_EQ(eventsFor("demo").size(), events);
  EXPECT_EQ(provider.stores("demo"), stores);

  std::string text = registry_.text();
  EXPECT_NE(text.find("herd_controller_reconciles_total{result=\"done\"}"), std::string::npos)
      << text;
  EXPECT_NE(text.find("herd_controller_clusters{phase=\"Running\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("herd_controller_reconcile_duration_seconds_count"), std::string::npos);
  EXPECT_NE(text.find("herd_controller_queue_depth"), std::string::npos);
  // Per tenant, from what the controller saw inside it.
  EXPECT_NE(text.find("herd_cluster_ready{cluster=\"demo\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("herd_cluster_apiserver_ready{cluster=\"demo\"} 1"), std::string::npos);
  EXPECT_NE(
      text.find("herd_cluster_component_ready_replicas{cluster=\"demo\",component=\"etcd\"} 3"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("herd_cluster_nodes{cluster=\"demo\",state=\"total\"} 0"),
            std::string::npos);
}

TEST_F(ControllerTest, UpgradesRollOneMinorAtATimeInSkewSafeOrder) {
  testing::FakeProvider& provider = newProvider();
  Controller& c = startController(provider, options());
  create("demo", "1.30");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }, 60s,
                        &provider, "demo"));

  for (std::string version : {"1.31", "1.32"}) {
    SCOPED_TRACE(version);
    std::string old = version == "1.31" ? "1.30" : "1.31";
    provider.clearApplied();
    patchSpec("demo", {{"version", version}});
    // Mid-upgrade: etcd has the new version, nothing else does, status still says the old one.
    ASSERT_TRUE(waitUntil([&] { return !provider.applied("demo").empty(); }));
    ASSERT_TRUE(reconcileOnce(c, "demo"));
    EXPECT_EQ(names(provider.applied("demo")), std::vector<std::string>{"etcd@" + version});
    ASSERT_TRUE(waitUntil([&] {
      auto o = get("demo");
      return o && statusOf(*o).value("phase", "") == "Updating";
    }));
    EXPECT_EQ(statusOf(*get("demo")).value("version", ""), old);
    ASSERT_TRUE(waitUntil(
        [&] {
          auto o = get("demo");
          return o && statusOf(*o).value("version", "") == version &&
                 statusOf(*o).value("phase", "") == "Running";
        },
        60s, &provider, "demo"));
    EXPECT_EQ(names(provider.applied("demo")),
              (std::vector<std::string>{"etcd@" + version, "kube-apiserver@" + version,
                                        "kube-controller-manager@" + version,
                                        "kube-scheduler@" + version}));
  }
  EXPECT_EQ(provider.orderViolations(), 0);

  // A downgrade is refused with a condition; the running version stays and nothing is applied.
  provider.clearApplied();
  patchSpec("demo", {{"version", "1.31"}});
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kUpgradeRefused, "True"); }));
  auto o = get("demo");
  EXPECT_EQ(condition(*o, cond::kUpgradeRefused)->reason, "Downgrade");
  EXPECT_EQ(statusOf(*o).value("version", ""), "1.32");
  EXPECT_EQ(condition(*o, cond::kReady)->status, "True");
  ASSERT_TRUE(reconcileOnce(c, "demo"));
  EXPECT_TRUE(provider.applied("demo").empty());
}

TEST_F(ControllerTest, SkippingAMinorIsRefusedAndCanBeCorrected) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  Controller& c = startController(provider, options());
  create("old", "1.30");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("old", cond::kReady, "True"); }));
  provider.clearApplied();
  patchSpec("old", {{"version", "1.32"}});
  ASSERT_TRUE(waitUntil([&] { return conditionIs("old", cond::kUpgradeRefused, "True"); }));
  auto o = get("old");
  EXPECT_EQ(condition(*o, cond::kUpgradeRefused)->reason, "VersionSkipped");
  EXPECT_NE(condition(*o, cond::kUpgradeRefused)->message.find("1.31"), std::string::npos);
  EXPECT_EQ(statusOf(*o).value("version", ""), "1.30");
  ASSERT_TRUE(reconcileOnce(c, "old"));
  EXPECT_TRUE(provider.applied("old").empty());
  EXPECT_TRUE(hasReason(eventsFor("old"), "VersionSkipped"));

  patchSpec("old", {{"version", "1.31"}});
  ASSERT_TRUE(waitUntil([&] {
    auto x = get("old");
    return x && statusOf(*x).value("version", "") == "1.31";
  }));
  EXPECT_TRUE(conditionIs("old", cond::kUpgradeRefused, "False"));
}

TEST_F(ControllerTest, DeletionRemovesTheTenantThenTheFinalizer) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  startController(provider, options());
  create("gone", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("gone", cond::kReady, "True"); }));
  ASSERT_TRUE(provider.hasTenant("gone"));
  provider.setRemovalSteps(2);
  ASSERT_TRUE(admin_->remove(kube::clustersResource(), "", "gone").isOk());
  ASSERT_TRUE(waitUntil([&] { return !get("gone").has_value(); }));
  EXPECT_FALSE(provider.hasTenant("gone"));
  EXPECT_FALSE(provider.credentials("gone").has_value());
  auto calls = provider.calls("gone");
  EXPECT_GE(std::count(calls.begin(), calls.end(), "removeTenant"), 3);
  EXPECT_EQ(calls.back(), "removeTenant");  // nothing made again after removal
  EXPECT_TRUE(hasReason(eventsFor("gone"), "TenantRemoved"));
}

TEST_F(ControllerTest, PausedClusterIsLeftAlone) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  Controller& c = startController(provider, options());
  create("still", "1.32", {{"paused", true}});
  ASSERT_TRUE(waitUntil([&] { return conditionIs("still", cond::kPaused, "True"); }));
  ASSERT_TRUE(reconcileOnce(c, "still"));
  EXPECT_TRUE(provider.calls("still").empty());
  auto o = get("still");
  EXPECT_FALSE((*o)["metadata"].contains("finalizers") &&
               !(*o)["metadata"]["finalizers"].empty());
  EXPECT_FALSE(condition(*o, cond::kReady).has_value());

  patchSpec("still", {{"paused", false}});
  ASSERT_TRUE(waitUntil([&] { return conditionIs("still", cond::kReady, "True"); }));
  EXPECT_TRUE(conditionIs("still", cond::kPaused, "False"));
}

TEST_F(ControllerTest, AnInvalidClusterGetsAConditionAndOthersAreUnaffected) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  Controller& c = startController(provider, options());
  // The schema accepts both CIDRs; only herd's validation sees that they overlap.
  create("bad", "1.32", {{"network", {{"serviceCIDR", "10.96.0.0/12"}, {"podCIDR", "10.96.0.0/16"}}}});
  create("good", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("bad", cond::kValid, "False"); }));
  ASSERT_TRUE(waitUntil([&] { return conditionIs("good", cond::kReady, "True"); }));
  auto bad = get("bad");
  EXPECT_NE(condition(*bad, cond::kValid)->message.find("spec.network.podCIDR"), std::string::npos)
      << condition(*bad, cond::kValid)->message;
  EXPECT_EQ(statusOf(*bad).value("phase", ""), "Failed");
  EXPECT_TRUE(provider.calls("bad").empty());
  // Not retried hot: a reconcile of the unchanged object writes nothing.
  std::string rv = (*bad)["metadata"].value("resourceVersion", "");
  ASSERT_TRUE(settle(c, "bad"));
  ASSERT_TRUE(reconcileOnce(c, "bad"));
  EXPECT_EQ((*get("bad"))["metadata"].value("resourceVersion", ""), rv);

  // Fixing it brings it up.
  patchSpec("bad", {{"network", {{"podCIDR", "10.244.0.0/16"}}}});
  ASSERT_TRUE(waitUntil([&] { return conditionIs("bad", cond::kReady, "True"); }));
  EXPECT_TRUE(conditionIs("bad", cond::kValid, "True"));
}

TEST_F(ControllerTest, TheCaIsNeverRegenerated) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  Controller& c = startController(provider, options());
  create("demo", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }));
  auto first = provider.credentials("demo");
  ASSERT_TRUE(first && first->contains("pki/ca.crt"));
  std::string ca = first->at("pki/ca.crt").data;
  std::string etcd_ca = first->at("pki/etcd/ca.crt").data;
  EXPECT_EQ(provider.stores("demo"), 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reconcileOnce(c, "demo"));
  EXPECT_EQ(provider.stores("demo"), 1);

  // A lost leaf is issued again by the same CA; the CA stays byte for byte.
  std::string old_leaf = first->at("pki/apiserver.crt").data;
  provider.eraseCredential("demo", "pki/apiserver.crt");
  ASSERT_TRUE(reconcileOnce(c, "demo"));
  ASSERT_TRUE(waitUntil([&] { return provider.stores("demo") == 2; }));
  auto second = provider.credentials("demo");
  EXPECT_EQ(second->at("pki/ca.crt").data, ca);
  EXPECT_EQ(second->at("pki/etcd/ca.crt").data, etcd_ca);
  ASSERT_TRUE(second->contains("pki/apiserver.crt"));
  EXPECT_NE(second->at("pki/apiserver.crt").data, old_leaf);
}

TEST_F(ControllerTest, GatewayPortsAreUniqueStableAndReused) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  ControllerOptions o = options();
  Controller* c = &startController(provider, o);
  auto port = [&](const std::string& name) {
    auto x = get(name);
    return x ? statusOf(*x).value("gatewayPort", 0) : 0;
  };
  for (const char* name : {"a", "b", "c"}) create(name, "1.32");
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(waitUntil([&] { return conditionIs(name, cond::kReady, "True"); })) << name;
  }
  std::set<int> ports = {port("a"), port("b"), port("c")};
  EXPECT_EQ(ports, (std::set<int>{kFirstPort, kFirstPort + 1, kFirstPort + 2}));
  int a = port("a"), b = port("b");

  ASSERT_TRUE(admin_->remove(kube::clustersResource(), "", "b").isOk());
  ASSERT_TRUE(waitUntil([&] { return !get("b").has_value(); }));

  // A new controller (a restart) keeps every recorded port and hands the freed one out.
  c->stop();
  c = &startController(provider, o);
  create("d", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("d", cond::kReady, "True"); }));
  EXPECT_EQ(port("d"), b);
  ASSERT_TRUE(reconcileOnce(*c, "a"));
  EXPECT_EQ(port("a"), a);
}

TEST_F(ControllerTest, AProviderErrorIsReportedBackedOffAndRecoveredFrom) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  provider.failEnsureTenant(Status::unavailable("the seed refused namespace herd-demo"));
  startController(provider, options());
  create("demo", "1.32");
  ASSERT_TRUE(waitUntil([&] {
    auto o = get("demo");
    auto ready = o ? condition(*o, cond::kReady) : std::nullopt;
    return ready && ready->reason == "TenantFailed";
  }));
  auto ready = condition(*get("demo"), cond::kReady);
  EXPECT_EQ(ready->status, "False");
  EXPECT_NE(ready->message.find("the seed refused namespace herd-demo"), std::string::npos);
  ASSERT_TRUE(waitUntil([&] {
    auto events = eventsFor("demo");
    return std::any_of(events.begin(), events.end(), [](const json& e) {
      return e.value("reason", "") == "TenantFailed" && e.value("type", "") == "Warning";
    });
  }));
  // Retried with backoff: the failure was seen more than once, and nothing after it ran.
  ASSERT_TRUE(waitUntil([&] {
    auto calls = provider.calls("demo");
    return std::count(calls.begin(), calls.end(), "ensureTenant") >= 2;
  }));
  EXPECT_FALSE(provider.credentials("demo").has_value());
  provider.failEnsureTenant(Status::ok());
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }));
}

TEST_F(ControllerTest, AChangedOwnedObjectBringsItsClusterBack) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  ControllerOptions o = options();
  o.owned_resources = {kube::configMapsResource()};
  Controller& c = startController(provider, o);
  create("demo", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }));
  ASSERT_TRUE(settle(c, "demo"));
  uint64_t before = c.reconcileCount();
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", "owned"}, {"namespace", "default"}, {"labels", {{"herd.io/cluster", "demo"}}}}},
             {"data", {{"k", "v"}}}};
  ASSERT_TRUE(admin_->create(kube::configMapsResource(), "default", cm).isOk());
  EXPECT_TRUE(waitUntil([&] { return c.reconcileCount() > before; }, 30s));
}

TEST_F(ControllerTest, OnlyTheLeaderReconcilesAndStoppingItHandsOver) {
  testing::FakeProvider& first_provider = newProvider();
  testing::FakeProvider& second_provider = newProvider();
  first_provider.setAutoRollout(true);
  second_provider.setAutoRollout(true);
  auto elected = [&](const std::string& identity) {
    ControllerOptions o = options();
    kube::LeaderElectionConfig le;
    le.ns = "default";
    le.name = "herd-controller";
    le.identity = identity;
    le.lease_duration = 2s;
    le.renew_deadline = 1500ms;
    le.retry_period = 200ms;
    o.leader_election = le;
    return o;
  };
  Controller& one = startController(first_provider, elected("one"));
  ASSERT_TRUE(waitUntil([&] { return one.isLeading(); }, 20s));
  Controller& two = startController(second_provider, elected("two"));
  create("demo", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }));
  EXPECT_FALSE(two.isLeading());
  EXPECT_FALSE(first_provider.calls("demo").empty());
  EXPECT_TRUE(second_provider.calls("demo").empty());
  EXPECT_EQ(two.reconcileCount(), 0u);

  one.stop();
  EXPECT_FALSE(one.isLeading());
  // The stopped leader released the Lease; the other takes it well within a lease duration
  // (bounded generously: the machine may be loaded).
  ASSERT_TRUE(waitUntil([&] { return two.isLeading(); }, 20s));
  create("next", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("next", cond::kReady, "True"); }));
  EXPECT_FALSE(second_provider.calls("next").empty());
  EXPECT_TRUE(first_provider.calls("next").empty());
}


// Every object of the addons in a tenant, as "Kind ns/name", for the kinds they use.
std::set<std::string> addonObjects(kube::Client& tenant, const std::string& addon) {
  std::set<std::string> out;
  const kube::ResourceRef kinds[] = {
      {"", "v1", "serviceaccounts", true, "ServiceAccount"},
      {"", "v1", "configmaps", true, "ConfigMap"},
      {"", "v1", "secrets", true, "Secret"},
      {"", "v1", "services", true, "Service"},
      {"apps", "v1", "deployments", true, "Deployment"},
      {"apps", "v1", "daemonsets", true, "DaemonSet"},
      {"rbac.authorization.k8s.io", "v1", "clusterroles", false, "ClusterRole"},
      {"rbac.authorization.k8s.io", "v1", "clusterrolebindings", false, "ClusterRoleBinding"},
      {"rbac.authorization.k8s.io", "v1", "roles", true, "Role"},
      {"rbac.authorization.k8s.io", "v1", "rolebindings", true, "RoleBinding"},
      {"apiregistration.k8s.io", "v1", "apiservices", false, "APIService"},
      {"", "v1", "namespaces", false, "Namespace"}};
  kube::ListOptions options;
  options.label_selector = "herd.io/addon=" + addon;
  for (const auto& kind : kinds) {
    auto list = tenant.listAll(kind, "", options);
    EXPECT_TRUE(list.isOk()) << kind.resource << ": " << list.status().toString();
    if (!list) continue;
    for (const auto& item : (*list)["items"])
      out.insert(kind.kind + " " + item["metadata"].value("namespace", "") + "/" +
                 item["metadata"].value("name", ""));
  }
  return out;
}

TEST_F(ControllerTest, AddonsAndJoinObjectsAreAppliedInTheTenantAndADisabledAddonIsPrunedExactly) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  Controller& c = startController(provider, options());
  create("demo", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kAddonsReady, "True"); }));
  ASSERT_TRUE(conditionIs("demo", cond::kReady, "True"));
  auto tenant = kube::Client::create(tenants_.at("demo")->adminConfig());
  ASSERT_TRUE(tenant.isOk());

  // What a node needs to join, and each enabled addon's objects.
  EXPECT_TRUE((*tenant)->get({"", "v1", "configmaps", true, "ConfigMap"}, "kube-public",
                             "cluster-info").isOk());
  EXPECT_FALSE(addonObjects(**tenant, "node-join").empty());
  auto proxy = addonObjects(**tenant, "kube-proxy");
  auto dns = addonObjects(**tenant, "coredns");
  auto metrics = addonObjects(**tenant, "metrics-server");
  EXPECT_TRUE(proxy.contains("DaemonSet kube-system/kube-proxy")) << proxy.size();
  EXPECT_FALSE(dns.empty());
  EXPECT_TRUE(metrics.contains("APIService /v1beta1.metrics.k8s.io")) << metrics.size();
  EXPECT_TRUE(addonObjects(**tenant, "dashboard").empty()) << "the dashboard is off by default";
  json status = statusOf(*get("demo"));
  EXPECT_EQ(status["addons"]["kubeProxy"].value("enabled", false), true) << status.dump();
  EXPECT_EQ(status["addons"]["kubeProxy"].value("objects", 0), static_cast<int>(proxy.size()));
  EXPECT_EQ(status["addons"]["dashboard"].value("enabled", true), false);

  // Disabling metrics-server removes exactly its objects; the others stay as they were.
  ASSERT_TRUE(settle(c, "demo"));
  patchSpec("demo", {{"addons", {{"metricsServer", {{"enabled", false}}}}}});
  ASSERT_TRUE(waitUntil([&] { return addonObjects(**tenant, "metrics-server").empty(); }, 30s));
  ASSERT_TRUE(waitUntil([&] {
    auto o = get("demo");
    return o && statusOf(*o)["addons"]["metricsServer"].value("enabled", true) == false &&
           conditionIs("demo", cond::kAddonsReady, "True");
  }));
  EXPECT_EQ(addonObjects(**tenant, "kube-proxy"), proxy);
  EXPECT_EQ(addonObjects(**tenant, "coredns"), dns);

  // Enabling the dashboard brings its objects, and a converged tenant then sees no writes.
  patchSpec("demo", {{"addons", {{"dashboard", {{"enabled", true}}}}}});
  ASSERT_TRUE(waitUntil([&] { return !addonObjects(**tenant, "dashboard").empty(); }, 30s));
  ASSERT_TRUE(settle(c, "demo"));
  int writes = tenant_writes_->load();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reconcileOnce(c, "demo"));
  EXPECT_EQ(tenant_writes_->load(), writes);
}


TEST_F(ControllerTest, NodesAndPodsInsideTheTenantReachTheStatusWithinSeconds) {
  testing::FakeProvider& provider = newProvider();
  provider.setAutoRollout(true);
  ControllerOptions o = options();
  o.resync = 200ms;
  o.metrics = &registry_;
  startController(provider, o);
  create("demo", "1.32");
  ASSERT_TRUE(waitUntil([&] { return conditionIs("demo", cond::kReady, "True"); }));
  auto tenant = kube::Client::create(tenants_.at("demo")->adminConfig());
  ASSERT_TRUE(tenant.isOk());
  // A kubelet registers its node and reports it Ready; a pod runs on it, another is pending.
  json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-1"}}}};
  auto created = (*tenant)->create({"", "v1", "nodes", false, "Node"}, "", node);
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  json with_status = *created;
  with_status["status"] = {{"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}};
  ASSERT_TRUE((*tenant)->updateStatus({"", "v1", "nodes", false, "Node"}, "", with_status).isOk());
  for (const char* name : {"web", "pending"}) {
    json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"spec", {{"containers", json::array({{{"name", "c"}, {"image", "nginx"}}})}}}};
    auto p = (*tenant)->create({"", "v1", "pods", true, "Pod"}, "default", pod);
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    if (std::string(name) == "web") {
      json ready = *p;
      ready["status"] = {{"phase", "Running"},
                         {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}};
      ASSERT_TRUE((*tenant)->updateStatus({"", "v1", "pods", true, "Pod"}, "default", ready).isOk());
    }
  }
  auto counts = [&](const char* what) {
    auto c = get("demo");
    json s = c ? statusOf(*c) : json::object();
    return std::make_pair(s[what].value("ready", -1), s[what].value("total", -1));
  };
  ASSERT_TRUE(waitUntil([&] {
    return counts("nodes") == std::make_pair(1, 1) && counts("pods") == std::make_pair(1, 2);
  }, 10s)) << statusOf(*get("demo")).dump();
  json status = statusOf(*get("demo"));
  EXPECT_EQ(status["pods"].value("running", -1), 1) << status["pods"].dump();
  EXPECT_EQ(status["pods"].value("pending", -1), 1) << status["pods"].dump();  // as created
  EXPECT_EQ(status["pods"].value("failed", -1), 0);
  EXPECT_EQ(status["apiServerHealth"], json({{"ready", true}}))  // no check failing
      << status.dump();
  std::string text = registry_.text();
  EXPECT_NE(text.find("herd_cluster_nodes{cluster=\"demo\",state=\"ready\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("herd_cluster_pods{cluster=\"demo\",phase=\"Running\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("herd_cluster_pods{cluster=\"demo\",phase=\"Pending\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace herd::controller
