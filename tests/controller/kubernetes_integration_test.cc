// The controller with the real pieces: render::renderControlPlane, the kubernetes provider
// against an API server as the seed (the fake apiserver, or a real kube-apiserver under
// HERD_KUBE_BIN), the workload simulator playing the seed's StatefulSet and Deployment
// controllers, and one more API server per tenant as the tenant's own API.
//
// One Cluster goes through its life: it becomes Ready with every seed object in place; once
// converged, reconciles write nothing to the seed or the tenant; an upgrade rolls etcd, then
// the apiservers, and only then the controller-manager and scheduler; deleting it leaves
// nothing behind.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "api/conditions.h"
#include "api/crd.h"
#include "common/yaml.h"
#include "controller/controller.h"
#include "kube/herd_resources.h"
#include "kube/transport.h"
#include "provider/kubernetes/kubernetes_provider.h"
#include "render/render.h"
#include "support/test_apiserver.h"
#include "workload_simulator.h"

namespace herd::controller {
namespace {

using namespace std::chrono_literals;
using kube::json;
using Clock = std::chrono::steady_clock;
namespace cond = api::condition;
namespace k8s = provider::kubernetes;

// Every wait is bounded; generously, since the machine may be loaded.
constexpr auto kConverge = 180s;
constexpr auto kShort = 60s;
constexpr int32_t kFirstPort = 24100;

// The writes (requests other than GET) of every client that shares it, one entry each.
class WriteLog {
 public:
  void add(std::string entry) {
    std::lock_guard lock(mu_);
    log_.push_back(std::move(entry));
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return log_.size();
  }
  // The writes from the `from`th on, one a line: what a failed "no writes" check prints.
  std::string since(size_t from) const {
    std::lock_guard lock(mu_);
    std::string out;
    for (size_t i = from; i < log_.size(); ++i) out += log_[i] + "\n";
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

class WriteCountingTransport : public kube::Transport {
 public:
  WriteCountingTransport(std::unique_ptr<kube::Transport> inner, std::shared_ptr<WriteLog> log)
      : inner_(std::move(inner)), log_(std::move(log)) {}
  Result<kube::HttpResponse> roundTrip(const kube::HttpRequest& r,
                                       std::chrono::milliseconds timeout) override {
    if (r.method != "GET") log_->add(r.method + " " + r.target);
    return inner_->roundTrip(r, timeout);
  }
  Result<std::unique_ptr<kube::ResponseStream>> openStream(
      const kube::HttpRequest& r, std::chrono::milliseconds timeout) override {
    return inner_->openStream(r, timeout);
  }
  const std::string& pathPrefix() const override { return inner_->pathPrefix(); }

 private:
  std::unique_ptr<kube::Transport> inner_;
  std::shared_ptr<WriteLog> log_;
};

std::unique_ptr<kube::Client> countedClient(const kube::RestConfig& config,
                                            std::shared_ptr<WriteLog> log) {
  auto t = kube::makeTransport(config);
  EXPECT_TRUE(t.isOk()) << t.status().toString();
  auto counting = std::make_unique<WriteCountingTransport>(std::move(*t), std::move(log));
  return std::make_unique<kube::Client>(std::move(counting), config, kube::RetryPolicy{});
}

// The image of a workload's first container ("" if it has none).
std::string imageOf(const json& workload) {
  return workload.value("/spec/template/spec/containers/0/image"_json_pointer, std::string());
}

std::string nameOf(const json& object) {
  return object.value("metadata", json::object()).value("name", "");
}

render::Platform testPlatform() {
  render::Platform p;
  p.base_domain = "herd.test";
  p.gateway_address = "192.0.2.20";
  p.gateway_tls_port = 443;
  p.tunnel_connect_address = "herd-gateway.herd-system.svc:8131";
  p.tunnel_ca_bundle = "-----BEGIN CERTIFICATE-----\nMIIBgatewayca\n-----END CERTIFICATE-----\n";
  return p;
}

class KubernetesIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    seed_ = std::move(*s);
    std::cerr << "seed: " << seed_->describe() << "\n";
    auto admin = kube::Client::create(seed_->adminConfig());
    ASSERT_TRUE(admin.isOk());
    admin_ = std::move(*admin);
    installCrd();

    seed_client_ = countedClient(seed_->adminConfig(), seed_writes_);
    auto sim_client = kube::Client::create(seed_->adminConfig());
    ASSERT_TRUE(sim_client.isOk());
    simulator_client_ = std::move(*sim_client);
    simulator_ = std::make_unique<testing::WorkloadSimulator>(*simulator_client_);
    ASSERT_TRUE(simulator_->start().isOk());

    provider_ = std::make_unique<k8s::KubernetesProvider>(*seed_client_, k8s::ProviderOptions{});
    ControllerOptions o;
    o.workers = 2;
    o.reconciler.platform = testPlatform();
    // The tenant's hostnames come from defaulting (the renderer reads the defaulted Cluster).
    o.reconciler.defaulting.baseDomain = o.reconciler.platform.base_domain;
    o.reconciler.poll = 100ms;
    o.reconciler.gateway_ports = {kFirstPort, kFirstPort + 99};
    o.owned_resources = {kube::statefulSetsResource(), kube::deploymentsResource()};
    o.backoff.base = 20ms;
    o.backoff.max = 1s;
    render::Platform platform = o.reconciler.platform;
    Renderer renderer = [platform](const api::Cluster& c) {
      return render::renderControlPlane(c, platform);
    };
    controller_ = std::make_unique<Controller>(*seed_client_, *provider_, std::move(renderer),
                                               std::move(o), tenantFactory());
    ASSERT_TRUE(controller_->start().isOk());
  }

  void TearDown() override {
    if (controller_) controller_->stop();
    if (simulator_) simulator_->stop();
    stopNamespaceController();
  }

  void installCrd() {
    auto crd = parseDocuments(api::clusterCrdYaml());
    ASSERT_TRUE(crd.isOk() && crd->size() == 1);
    ASSERT_TRUE(admin_->create(kube::crdsResource(), "", (*crd)[0]).isOk());
    for (int i = 0; i < 400; ++i) {
      if (admin_->list(kube::clustersResource(), "").isOk()) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the Cluster resource was never served";
  }

  // Each tenant's own API is a test server of its own, made on first use; the controller's
  // client of it counts writes.
  TenantClientFactory tenantFactory() {
    return [this](const api::Cluster& c, const pki::PkiFiles& files,
                  const std::string&) -> Result<std::unique_ptr<kube::Client>> {
      if (!files.contains("admin.conf")) return Status::internal("no admin.conf passed");
      std::lock_guard lock(tenants_mu_);
      auto& t = tenants_[c.metadata.name];
      if (!t) {
        auto s = testing::TestApiServer::start();
        if (!s) return s.status();
        t = std::move(*s);
      }
      return countedClient(t->adminConfig(), tenant_writes_);
    };
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
  std::optional<json> get(const std::string& name) {
    auto r = admin_->get(kube::clustersResource(), "", name);
    if (!r) return std::nullopt;
    return *r;
  }
  static json statusOf(const json& object) {
    auto s = object.find("status");
    return s != object.end() && s->is_object() ? *s : json::object();
  }
  static std::optional<json> condition(const json& object, std::string_view type) {
    for (const auto& c : statusOf(object).value("conditions", json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return std::nullopt;
  }
  bool conditionIs(const std::string& name, std::string_view type, std::string_view status) {
    auto o = get(name);
    if (!o) return false;
    auto c = condition(*o, type);
    return c && c->value("status", "") == status;
  }
  std::optional<json> seedObject(const kube::ResourceRef& r, const std::string& ns,
                                 const std::string& name) {
    auto got = admin_->get(r, ns, name);
    if (!got) return std::nullopt;
    return *got;
  }
  std::string imageIn(const kube::ResourceRef& r, const std::string& ns, const std::string& name) {
    auto o = seedObject(r, ns, name);
    return o ? imageOf(*o) : "";
  }
  static bool waitUntil(const std::function<bool()>& done, Clock::duration limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return done();
  }
  // Makes the controller reconcile `name` again and waits until it has.
  bool reconcileOnce(const std::string& name) {
    uint64_t before = controller_->reconcileCount();
    controller_->enqueue(name);
    return waitUntil([&] { return controller_->reconcileCount() > before; }, kShort);
  }
  // Lets the writes that follow a status change (its events, the reconcile the change itself
  // brings back, the simulator's last status writes) finish: reconciles until one writes nothing.
  bool settle(const std::string& name) {
    for (int i = 0; i < 20; ++i) {
      size_t w = seed_writes_->count();
      uint64_t sim = simulator_->writes();
      if (!reconcileOnce(name)) return false;
      std::this_thread::sleep_for(300ms);
      if (seed_writes_->count() == w && simulator_->writes() == sim) return true;
    }
    return false;
  }

  // resourceVersion of every seed object labelled herd.io/cluster=<name>, by kind/ns/name.
  // Creates a Cluster of 3 etcd members and 2 apiservers, and waits until it is Ready.
  void createReady(const std::string& name, const std::string& version) {
    create(name, version,
           {{"controlPlane", {{"etcd", {{"replicas", 3}}}, {"apiServer", {{"replicas", 2}}}}}});
    ASSERT_TRUE(waitUntil([&] { return conditionIs(name, cond::kReady, "True"); }, kConverge))
        << "not Ready: " << get(name).value_or(json()).dump(2);
  }

  std::map<std::string, std::string> labelledObjects(const std::string& name) {
    std::map<std::string, std::string> out;
    for (auto kind : k8s::kKinds) {
      kube::ListOptions options;
      options.label_selector = fmt::format("{}={}", kClusterLabel, name);
      auto list = admin_->list(k8s::resourceForKind(kind), "", options);
      EXPECT_TRUE(list.isOk()) << kind << ": " << list.status().toString();
      if (!list) continue;
      for (const auto& item : (*list)["items"]) {
        const json& meta = item["metadata"];
        out[fmt::format("{} {}/{}", kind, meta.value("namespace", ""), meta.value("name", ""))] =
            meta.value("resourceVersion", "");
      }
    }
    return out;
  }

  // A real kube-apiserver has no namespace controller of its own (that is
  // kube-controller-manager's, which these tests do not run; the fake plays it itself), so
  // against one the test empties a Terminating tenant namespace and finalizes it, as the
  // namespace controller would.
  void startNamespaceController(const std::string& ns) {
    if (seed_->isFake()) return;
    namespace_controller_ = std::thread([this, ns] {
      while (!stop_namespace_controller_.load()) {
        auto live = admin_->get(kube::namespacesResource(), "", ns);
        if (live && (*live)["metadata"].contains("deletionTimestamp")) {
          bool empty = true;
          for (auto kind : k8s::kKinds) {
            if (kind == "Namespace") continue;
            kube::ResourceRef r = k8s::resourceForKind(kind);
            auto items = admin_->list(r, ns);
            if (!items) continue;
            for (const auto& item : (*items)["items"]) {
              empty = false;
              (void)admin_->remove(r, ns, nameOf(item));
            }
          }
          if (empty) {
            json body = *live;
            body["spec"]["finalizers"] = json::array();
            (void)admin_->request("PUT", fmt::format("/api/v1/namespaces/{}/finalize", ns),
                                  body.dump());
          }
        }
        std::this_thread::sleep_for(200ms);
      }
    });
  }
  void stopNamespaceController() {
    stop_namespace_controller_ = true;
    if (namespace_controller_.joinable()) namespace_controller_.join();
  }

  std::unique_ptr<testing::TestApiServer> seed_;
  std::unique_ptr<kube::Client> admin_;        // the test's own
  std::unique_ptr<kube::Client> seed_client_;  // the controller's and the provider's, counted
  std::shared_ptr<WriteLog> seed_writes_ = std::make_shared<WriteLog>();
  std::shared_ptr<WriteLog> tenant_writes_ = std::make_shared<WriteLog>();
  std::unique_ptr<kube::Client> simulator_client_;
  std::unique_ptr<testing::WorkloadSimulator> simulator_;
  std::mutex tenants_mu_;
  std::map<std::string, std::unique_ptr<testing::TestApiServer>> tenants_;
  std::unique_ptr<k8s::KubernetesProvider> provider_;
  // Declared after what it uses: destroyed (stopped) first.
  std::unique_ptr<Controller> controller_;
  std::atomic<bool> stop_namespace_controller_{false};
  std::thread namespace_controller_;
};

constexpr const char* kNamespace = "herd-demo";

TEST_F(KubernetesIntegrationTest, AClusterBecomesReadyWithItsControlPlaneInTheSeed) {
  createReady("demo", "1.32");

  auto o = get("demo");
  ASSERT_TRUE(o);
  const json s = statusOf(*o);
  EXPECT_EQ(s.value("phase", ""), "Running");
  EXPECT_EQ(s.value("version", ""), "1.32");
  EXPECT_EQ(s.value("namespace", ""), kNamespace);
  EXPECT_EQ(s.value("endpoint", ""), "https://demo.herd.test:443");
  EXPECT_EQ(s.value("gatewayPort", 0), kFirstPort);
  EXPECT_EQ(s["components"]["etcd"].value("replicas", 0), 3);
  EXPECT_EQ(s["components"]["etcd"].value("readyReplicas", 0), 3);
  EXPECT_EQ(s["components"]["apiServer"].value("replicas", 0), 2);
  EXPECT_EQ(s["components"]["apiServer"].value("readyReplicas", 0), 2);
  for (std::string_view type :
       {cond::kPkiReady, cond::kEtcdReady, cond::kApiServerReady, cond::kControllerManagerReady,
        cond::kSchedulerReady, cond::kEndpointsReady}) {
    EXPECT_TRUE(conditionIs("demo", type, "True")) << type;
  }
  EXPECT_EQ((*o)["metadata"]["finalizers"], json::array({"herd.io/cleanup"}));

  // The seed holds the tenant's namespace, its credentials, its workloads and their Services.
  auto ns = seedObject(kube::namespacesResource(), "", kNamespace);
  ASSERT_TRUE(ns) << "no namespace " << kNamespace;
  EXPECT_EQ((*ns)["metadata"]["labels"].value(std::string(kClusterLabel), ""), "demo");
  EXPECT_TRUE(seedObject(kube::networkPoliciesResource(), kNamespace, "herd-tenant-ingress"));
  for (const char* secret :
       {"admin-kubeconfig", "ca-certs", "ca-key", "etcd-certs", "apiserver-certs", "sa-keys",
        "controller-manager-kubeconfig", "scheduler-kubeconfig"}) {
    EXPECT_TRUE(seedObject(kube::secretsResource(), kNamespace, secret)) << secret;
  }
  for (const char* service : {"etcd", "etcd-client", "kube-apiserver"}) {
    EXPECT_TRUE(seedObject(kube::servicesResource(), kNamespace, service)) << service;
  }
  auto etcd = seedObject(kube::statefulSetsResource(), kNamespace, "etcd");
  ASSERT_TRUE(etcd);
  EXPECT_EQ((*etcd)["spec"].value("replicas", 0), 3);
  EXPECT_EQ(imageOf(*etcd), "registry.k8s.io/etcd:3.5.24-0");
  EXPECT_EQ((*etcd)["status"].value("readyReplicas", 0), 3);
  const std::map<std::string, int> deployments = {
      {"kube-apiserver", 2}, {"kube-controller-manager", 2}, {"kube-scheduler", 2}};
  for (const auto& [name, replicas] : deployments) {
    auto d = seedObject(kube::deploymentsResource(), kNamespace, name);
    ASSERT_TRUE(d) << name;
    EXPECT_EQ((*d)["spec"].value("replicas", 0), replicas) << name;
    EXPECT_EQ(imageOf(*d), "registry.k8s.io/" + name + ":v1.32.11") << name;
    EXPECT_EQ((*d)["status"].value("readyReplicas", 0), replicas) << name;
    // Owned by the Cluster, so that the seed's garbage collector knows whose it is.
    EXPECT_EQ((*d)["metadata"]["ownerReferences"][0].value("uid", ""),
              (*o)["metadata"].value("uid", ""))
        << name;
  }
  auto pdb = seedObject(kube::podDisruptionBudgetsResource(), kNamespace, "etcd");
  ASSERT_TRUE(pdb);
  // 3 members keep quorum with one down, and no more.
  EXPECT_EQ((*pdb)["spec"].value("maxUnavailable", json()), 1) << (*pdb)["spec"].dump();

  // The tenant's own default/kubernetes points at the gateway and the tenant's port.
  std::lock_guard lock(tenants_mu_);
  ASSERT_TRUE(tenants_.contains("demo"));
  auto tenant = kube::Client::create(tenants_["demo"]->adminConfig());
  ASSERT_TRUE(tenant.isOk());
  auto ep = (*tenant)->get(kube::endpointsResource(), "default", "kubernetes");
  ASSERT_TRUE(ep.isOk()) << ep.status().toString();
  EXPECT_EQ((*ep)["subsets"][0]["addresses"][0]["ip"], "192.0.2.20");
  EXPECT_EQ((*ep)["subsets"][0]["ports"][0]["port"], kFirstPort);
}

TEST_F(KubernetesIntegrationTest, AReadyClusterCostsNoWritesToTheSeedOrTheTenant) {
  createReady("demo", "1.32");
  ASSERT_TRUE(settle("demo")) << "writes never stopped:\n" << seed_writes_->since(0);

  size_t seed_writes = seed_writes_->count();
  size_t tenant_writes = tenant_writes_->count();
  uint64_t simulator_writes = simulator_->writes();
  std::string rv = (*get("demo"))["metadata"].value("resourceVersion", "");
  auto objects = labelledObjects("demo");
  ASSERT_FALSE(objects.empty());

  uint64_t reconciles = controller_->reconcileCount();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(reconcileOnce("demo"));
  // And what the poll and the owned-object informers would bring in a while.
  std::this_thread::sleep_for(1s);
  EXPECT_GE(controller_->reconcileCount(), reconciles + 5);

  EXPECT_EQ(seed_writes_->count(), seed_writes) << seed_writes_->since(seed_writes);
  EXPECT_EQ(tenant_writes_->count(), tenant_writes) << tenant_writes_->since(tenant_writes);
  EXPECT_EQ(simulator_->writes(), simulator_writes);
  EXPECT_EQ((*get("demo"))["metadata"].value("resourceVersion", ""), rv);
  EXPECT_EQ(labelledObjects("demo"), objects);
}

TEST_F(KubernetesIntegrationTest, AnUpgradeRollsTheApiserversBeforeTheOtherComponents) {
  createReady("demo", "1.32");

  // The simulator holds the apiservers' rollout to the new version; every workload it sees
  // is logged the first time it asks for the new version, so the order is observable.
  // Shared with the gate, which the simulator's thread may still hold after this test returns.
  struct Rollout {
    std::mutex mu;
    std::vector<std::string> first_new;  // workload names, in the order they asked for 1.33
    std::set<std::string> seen;
    std::atomic<bool> hold{true};
  };
  auto rollout = std::make_shared<Rollout>();
  auto observe = [rollout](const json& workload) {
    std::string image = imageOf(workload);
    std::string name = nameOf(workload);
    bool new_version = image.find(":v1.33.") != std::string::npos;
    if (new_version) {
      std::lock_guard lock(rollout->mu);
      if (rollout->seen.insert(name).second) rollout->first_new.push_back(name);
    }
    return !(rollout->hold.load() && name == "kube-apiserver" && new_version);
  };
  auto firstNew = [rollout] {
    std::lock_guard lock(rollout->mu);
    return rollout->first_new;
  };
  simulator_->setGate(observe);

  auto patched = admin_->patch(kube::clustersResource(), "", "demo", kube::PatchType::kMerge,
                               json{{"spec", {{"version", "1.33"}}}}.dump());
  ASSERT_TRUE(patched.isOk()) << patched.status().toString();

  // The apiservers get the new image and their rollout stays open.
  ASSERT_TRUE(waitUntil(
      [&] {
        return imageIn(kube::deploymentsResource(), kNamespace, "kube-apiserver") ==
               "registry.k8s.io/kube-apiserver:v1.33.7";
      },
      kConverge));
  ASSERT_TRUE(
      waitUntil([&] { return conditionIs("demo", cond::kApiServerReady, "False"); }, kShort));
  // However often the controller looks, nothing after the apiservers moves while they roll.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(reconcileOnce("demo"));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(imageIn(kube::deploymentsResource(), kNamespace, "kube-controller-manager"),
            "registry.k8s.io/kube-controller-manager:v1.32.11");
  EXPECT_EQ(imageIn(kube::deploymentsResource(), kNamespace, "kube-scheduler"),
            "registry.k8s.io/kube-scheduler:v1.32.11");
  auto mid = get("demo");
  ASSERT_TRUE(mid);
  EXPECT_EQ(statusOf(*mid).value("phase", ""), "Updating");
  EXPECT_EQ(statusOf(*mid).value("version", ""), "1.32");
  EXPECT_EQ(condition(*mid, cond::kApiServerReady)->value("reason", ""), "RollingOut");
  EXPECT_EQ(condition(*mid, cond::kReady)->value("status", ""), "False");
  EXPECT_EQ(firstNew(), std::vector<std::string>{"kube-apiserver"});

  // Released, the rest follows, one component after the other.
  rollout->hold = false;
  simulator_->setGate(observe);
  ASSERT_TRUE(waitUntil(
      [&] {
        auto o = get("demo");
        return o && statusOf(*o).value("version", "") == "1.33" &&
               statusOf(*o).value("phase", "") == "Running" &&
               conditionIs("demo", cond::kReady, "True");
      },
      kConverge))
      << get("demo").value_or(json()).dump(2);
  for (const char* name : {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}) {
    auto d = seedObject(kube::deploymentsResource(), kNamespace, name);
    ASSERT_TRUE(d) << name;
    EXPECT_EQ(imageOf(*d), fmt::format("registry.k8s.io/{}:v1.33.7", name));
    EXPECT_EQ(k8s::workloadState(*d).rolled_out, true) << name << ": " << d->dump();
  }
  auto etcd = seedObject(kube::statefulSetsResource(), kNamespace, "etcd");
  ASSERT_TRUE(etcd);
  EXPECT_TRUE(k8s::workloadState(*etcd).rolled_out);
  EXPECT_EQ(firstNew(), (std::vector<std::string>{"kube-apiserver", "kube-controller-manager",
                                                  "kube-scheduler"}));
}

TEST_F(KubernetesIntegrationTest, DeletingAClusterLeavesNothingBehind) {
  createReady("demo", "1.32");
  ASSERT_FALSE(labelledObjects("demo").empty());
  startNamespaceController(kNamespace);

  ASSERT_TRUE(admin_->remove(kube::clustersResource(), "", "demo").isOk());
  // The finalizer holds the Cluster until its tenant is gone, then is dropped.
  ASSERT_TRUE(waitUntil([&] { return !get("demo").has_value(); }, kConverge))
      << get("demo").value_or(json()).dump(2);

  auto ns = admin_->get(kube::namespacesResource(), "", kNamespace);
  ASSERT_FALSE(ns.isOk()) << ns->dump();
  EXPECT_EQ(ns.status().code(), Code::kNotFound);
  EXPECT_EQ(labelledObjects("demo"), (std::map<std::string, std::string>{}));
  // Nothing is left in the namespace either, labelled or not.
  for (auto kind : k8s::kKinds) {
    if (kind == "Namespace") continue;
    auto left = admin_->list(k8s::resourceForKind(kind), kNamespace);
    ASSERT_TRUE(left.isOk()) << kind;
    EXPECT_TRUE((*left)["items"].empty()) << kind << ": " << (*left)["items"].dump();
  }
  // And nothing comes back: the controller does not make the tenant again.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reconcileOnce("demo"));
  EXPECT_FALSE(admin_->get(kube::namespacesResource(), "", kNamespace).isOk());
}

}  // namespace
}  // namespace herd::controller
