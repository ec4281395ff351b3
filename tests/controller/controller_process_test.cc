// `herd controller` as a process against an API server as the seed (the fake, or a real
// kube-apiserver under HERD_KUBE_BIN), with the kubernetes provider and the real renderer.
// The seed's workload controllers are played by the WorkloadSimulator. The tenants' own APIs
// are not running here, so a cluster converges in the seed (every component's condition True
// at the current generation) while EndpointsReady stays False: the in-process suites
// (controller_test.cc, kubernetes_integration_test.cc) cover the tenant side.
//
// Shows: the operations endpoint and a clean SIGTERM; two replicas of which exactly one
// reconciles, and a SIGKILLed leader handing over within the lease; and the chaos run, the
// controller SIGKILLed at random points of 50 create / upgrade / delete cycles, converging
// every time with no leaked or duplicated object and no CA regenerated.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "api/conditions.h"
#include "api/crd.h"
#include "common/files.h"
#include "common/process.h"
#include "common/yaml.h"
#include "kube/client.h"
#include "kube/herd_resources.h"
#include "provider/kubernetes/objects.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"
#include "workload_simulator.h"

namespace herd::controller {
namespace {

using namespace std::chrono_literals;
using kube::json;
namespace cond = api::condition;

// The conditions of the seed side of a cluster, in the order the controller sets them.
constexpr std::string_view kSeedConditions[] = {cond::kPkiReady, cond::kEtcdReady,
                                                cond::kApiServerReady,
                                                cond::kControllerManagerReady,
                                                cond::kSchedulerReady};

class ControllerProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    seed_ = std::move(*s);
    std::cerr << "seed: " << seed_->describe() << "\n";
    auto admin = kube::Client::create(seed_->adminConfig());
    ASSERT_TRUE(admin.isOk());
    admin_ = std::move(*admin);
    auto crd = parseDocuments(api::clusterCrdYaml());
    ASSERT_TRUE(crd.isOk() && crd->size() == 1);
    ASSERT_TRUE(admin_->create(kube::crdsResource(), "", (*crd)[0]).isOk());
    ASSERT_TRUE(testing::eventually(
        [&] { return admin_->resourceFor("herd.io/v1alpha1", "Cluster").isOk(); }, 20s));
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "herd-system"}}}};
    ASSERT_TRUE(admin_->create(kube::namespacesResource(), "", ns).isOk());
    // The CA of the gateway's CONNECT listener, which the apiservers' egress verifies.
    auto ca = runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=herd-tunnel-ca",
                          "-days", "1", "-keyout", dir_.file("tunnel-ca.key"), "-out",
                          tunnelCa()});
    ASSERT_TRUE(ca.isOk() && ca->exit_code == 0) << (ca ? ca->err : ca.status().toString());
    simulator_ = std::make_unique<testing::WorkloadSimulator>(*admin_);
    ASSERT_TRUE(simulator_->start().isOk());
  }

  void TearDown() override {
    for (auto& [name, replica] : replicas_)
      if (replica.process) replica.process->stop(10s);
    if (simulator_) simulator_->stop();
    if (HasFailure()) {
      for (auto& [name, replica] : replicas_) {
        auto log = files::read(replica.log);
        std::cerr << "--- " << name << " log (tail) ---\n"
                  << (log ? log->substr(log->size() > 6000 ? log->size() - 6000 : 0) : "") << "\n";
      }
    }
  }

  struct Replica {
    std::optional<Process> process;
    int ops_port = 0;
    std::string log;
  };

  // Starts `herd controller` as replica `name` (its Lease identity) with `extra` flags.
  Replica& start(const std::string& name, std::vector<std::string> extra = {}) {
    Replica r;
    r.ops_port = testing::freeLoopbackPort();
    r.log = dir_.file(name + ".log");
    std::vector<std::string> argv = {testing::herdBinary(),
                                     "--log-format",
                                     "json",
                                     "controller",
                                     "--metrics-addr",
                                     "127.0.0.1:" + std::to_string(r.ops_port),
                                     "--gateway-address",
                                     "127.0.0.1",
                                     // Nothing listens there: tenants are refused at once.
                                     "--gateway-tls-port",
                                     std::to_string(unreachable_port_),
                                     "--tenants-through-gateway",
                                     "--gateway-ports",
                                     "24000-24099",
                                     "--workers",
                                     "2"};
    for (const auto& flag : commonFlags()) argv.push_back(flag);
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessOptions options;
    options.env = {"POD_NAME=" + name};
    options.stdout_path = r.log;
    options.stderr_path = r.log;
    auto p = Process::spawn(argv, options);
    EXPECT_TRUE(p.isOk()) << p.status().toString();
    if (p) r.process.emplace(std::move(*p));
    replicas_.erase(name);
    return replicas_.emplace(name, std::move(r)).first->second;
  }

  std::string tunnelCa() const { return dir_.file("tunnel-ca.crt"); }
  // The flags every `herd controller` here gets.
  std::vector<std::string> commonFlags() const {
    return {"--kubeconfig", seed_->kubeconfigPath(), "--tunnel-connect-address",
            "127.0.0.1:" + std::to_string(unreachable_port_), "--tunnel-ca-file", tunnelCa()};
  }

  bool ready(const Replica& r) {
    return testing::statusLineOf(testing::httpOnLoopback(r.ops_port, "/readyz")) ==
           "HTTP/1.1 200 OK";
  }
  std::string metrics(const Replica& r) {
    return testing::bodyOf(testing::httpOnLoopback(r.ops_port, "/metrics"));
  }
  // Reconciles the replica's /metrics counts, whatever their result.
  double reconciles(const Replica& r) {
    double total = 0;
    std::string text = metrics(r);
    for (size_t at = 0; (at = text.find("herd_controller_reconciles_total{", at)) !=
                        std::string::npos;) {
      size_t space = text.find(' ', at);
      size_t end = text.find('\n', space);
      total += std::atof(text.substr(space + 1, end - space - 1).c_str());
      at = end;
    }
    return total;
  }

  std::string leaseHolder() {
    auto lease = admin_->get(kube::leasesResource(), "herd-system", "herd-controller");
    if (!lease) return "";
    return (*lease)["spec"].value("holderIdentity", "");
  }

  void create(const std::string& name, const std::string& version) {
    json object = {{"apiVersion", "herd.io/v1alpha1"},
                   {"kind", "Cluster"},
                   {"metadata", {{"name", name}}},
                   {"spec", {{"version", version}}}};
    auto r = admin_->create(kube::clustersResource(), "", object);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  void setVersion(const std::string& name, const std::string& version) {
    auto r = admin_->patch(kube::clustersResource(), "", name, kube::PatchType::kMerge,
                           json{{"spec", {{"version", version}}}}.dump());
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  void remove(const std::string& name) {
    auto r = admin_->remove(kube::clustersResource(), "", name);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  std::optional<json> cluster(const std::string& name) {
    auto r = admin_->get(kube::clustersResource(), "", name);
    if (!r) return std::nullopt;
    return *r;
  }

  // Every seed component's condition True at the cluster's current generation, and each
  // control-plane workload at the image of spec.version; "" if so, else what is missing.
  std::string seedSideConverged(const std::string& name) {
    auto c = cluster(name);
    if (!c) return "no Cluster";
    int64_t generation = (*c)["metadata"].value("generation", int64_t{0});
    json status = c->value("status", json::object());
    json conditions = status.value("conditions", json::array());
    for (std::string_view type : kSeedConditions) {
      bool ok = false;
      for (const auto& condition : conditions) {
        if (condition.value("type", "") == type && condition.value("status", "") == "True" &&
            condition.value("observedGeneration", int64_t{-1}) == generation)
          ok = true;
      }
      if (!ok) return std::string(type) + " not True at generation " + std::to_string(generation);
    }
    std::string version = (*c)["spec"].value("version", "");
    for (const char* deployment :
         {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}) {
      auto d = admin_->get(kube::deploymentsResource(), "herd-" + name, deployment);
      if (!d) return std::string(deployment) + ": " + d.status().message();
      std::string image = (*d)["spec"]["template"]["spec"]["containers"][0].value("image", "");
      // "1.32" runs as the table's patch release, v1.32.N.
      if (!image.ends_with(":v" + version) && image.find(":v" + version + ".") == std::string::npos)
        return std::string(deployment) + " runs " + image;
    }
    return "";
  }

  // kind/namespace/name of every seed object labelled for `name`, in every kind herd makes.
  std::set<std::string> objectsOf(const std::string& name) {
    std::set<std::string> out;
    kube::ListOptions options;
    options.label_selector = "herd.io/cluster=" + name;
    for (std::string_view kind : provider::kubernetes::kKinds) {
      auto list = admin_->listAll(provider::kubernetes::resourceForKind(kind), "", options);
      EXPECT_TRUE(list.isOk()) << kind << ": " << list.status().toString();
      if (!list) continue;
      for (const auto& item : (*list)["items"]) {
        out.insert(std::string(kind) + "/" + item["metadata"].value("namespace", "") + "/" +
                   item["metadata"].value("name", ""));
      }
    }
    // The namespace itself, labelled or not.
    if (admin_->get(kube::namespacesResource(), "", "herd-" + name).isOk())
      out.insert("Namespace//herd-" + name);
    return out;
  }

  std::string caOf(const std::string& name) {
    auto secret = admin_->get(kube::secretsResource(), "herd-" + name, "ca-certs");
    if (!secret) return "";
    return (*secret)["data"].value("ca.crt", "");
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestApiServer> seed_;
  std::unique_ptr<kube::Client> admin_;
  std::unique_ptr<testing::WorkloadSimulator> simulator_;
  std::map<std::string, Replica> replicas_;
  int unreachable_port_ = testing::freeLoopbackPort();
};

TEST_F(ControllerProcessTest, ServesItsOpsEndpointsReconcilesAndStopsCleanlyOnSigterm) {
  Replica& r = start("solo");
  ASSERT_TRUE(testing::eventually([&] { return ready(r); }, 30s)) << "never ready";
  EXPECT_EQ(testing::statusLineOf(testing::httpOnLoopback(r.ops_port, "/healthz")),
            "HTTP/1.1 200 OK");
  create("demo", "1.32");
  std::string why;
  ASSERT_TRUE(testing::eventually([&] { return (why = seedSideConverged("demo")).empty(); }, 60s))
      << why;
  auto c = cluster("demo");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ((*c)["status"].value("namespace", ""), "herd-demo");
  int port = (*c)["status"].value("gatewayPort", 0);
  EXPECT_GE(port, 24000);
  EXPECT_LE(port, 24099);
  // The tenant's API is not reachable here: the condition says so, and Ready is False.
  for (const auto& condition : (*c)["status"]["conditions"]) {
    if (condition["type"] == cond::kEndpointsReady) {
      EXPECT_EQ(condition.value("status", ""), "False");
      EXPECT_EQ(condition.value("reason", ""), "EndpointsFailed") << condition.dump();
    }
  }

  std::string text = metrics(r);
  for (const char* family :
       {"herd_controller_reconciles_total{", "herd_controller_reconcile_duration_seconds_count",
        "herd_controller_queue_depth", "herd_controller_clusters{phase=\"Provisioning\"} 1",
        "herd_controller_reconcile_errors_total{reason=\"EndpointsFailed\"}"}) {
    EXPECT_NE(text.find(family), std::string::npos) << family << "\n" << text;
  }

  // JSON logs, one object per line, naming the cluster they are about.
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto log = files::read(r.log);
        return log && log->find("\"cluster\":\"demo\"") != std::string::npos;
      },
      10s));
  auto log = files::read(r.log);
  ASSERT_TRUE(log.isOk());
  size_t first_line_end = log->find('\n');
  auto first = json::parse(log->substr(0, first_line_end), nullptr, false);
  EXPECT_FALSE(first.is_discarded()) << log->substr(0, first_line_end);

  ASSERT_TRUE(r.process->signal(SIGTERM).isOk());
  auto code = r.process->waitFor(20s);
  ASSERT_TRUE(code.has_value()) << "no exit within 20 s of SIGTERM";
  EXPECT_EQ(*code, 0);
  auto after = files::read(r.log);
  EXPECT_NE(after->find("controller stopped"), std::string::npos);
}

TEST_F(ControllerProcessTest, BadFlagsAreRefusedBeforeAnythingStarts) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--gateway-address", "gateway.example"}, "--gateway-address: want an IP address"},
           {{"--gateway-ports", "30000-20000"}, "--gateway-ports"},
           {{"--workers", "0"}, "--workers"},
           {{"--tunnel-connect-address", "not an address"}, "tunnel CONNECT address"},
           {{"--provider", "local"}, "herd up"},
           {{"--metrics-addr", "nowhere"}, "--metrics-addr"},
           {{"--leader-elect", "--leader-election-renew-deadline", "30s"},
            "retry period < renew deadline < lease duration"},
       }) {
    std::vector<std::string> args = {"controller"};
    std::vector<std::string> common = commonFlags();
    for (size_t i = 0; i + 1 < common.size(); i += 2) {
      if (std::find(c.args.begin(), c.args.end(), common[i]) != c.args.end()) continue;
      args.push_back(common[i]);
      args.push_back(common[i + 1]);
    }
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto result = testing::runHerd(args);
    EXPECT_EQ(result.exit_code, 1) << c.args[0];
    EXPECT_NE(result.err.find(c.message), std::string::npos) << result.err;
  }
}

TEST_F(ControllerProcessTest, ExactlyOneReplicaReconcilesAndAKilledLeaderHandsOverWithinTheLease) {
  const std::vector<std::string> election = {"--leader-elect", "--leader-election-namespace",
                                             "herd-system", "--leader-election-lease-duration",
                                             "3s", "--leader-election-renew-deadline", "2s",
                                             "--leader-election-retry-period", "250ms"};
  start("one", election);
  start("two", election);
  ASSERT_TRUE(testing::eventually([&] { return !leaseHolder().empty(); }, 30s));
  std::string leader = leaseHolder();
  std::string standby = leader == "one" ? "two" : "one";
  ASSERT_TRUE(leader == "one" || leader == "two") << leader;
  create("alpha", "1.32");
  std::string why;
  ASSERT_TRUE(testing::eventually([&] { return (why = seedSideConverged("alpha")).empty(); }, 60s))
      << why;
  EXPECT_GT(reconciles(replicas_.at(leader)), 0);
  EXPECT_EQ(reconciles(replicas_.at(standby)), 0) << metrics(replicas_.at(standby));
  EXPECT_TRUE(ready(replicas_.at(standby))) << "a standby is ready: it serves and waits";

  ASSERT_TRUE(replicas_.at(leader).process->signal(SIGKILL).isOk());
  replicas_.at(leader).process->wait();
  auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::eventually([&] { return leaseHolder() == standby; }, 30s));
  auto handover = std::chrono::steady_clock::now() - killed;
  std::cerr << "handover after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(handover).count()
            << " ms (lease 3 s)\n";
  // The lease, plus a retry period, plus polling and a loaded machine's slack.
  EXPECT_LT(handover, 3s + 250ms + 2s);

  create("beta", "1.32");
  ASSERT_TRUE(testing::eventually([&] { return (why = seedSideConverged("beta")).empty(); }, 60s))
      << why;
  EXPECT_GT(reconciles(replicas_.at(standby)), 0);
}

TEST_F(ControllerProcessTest, SigkilledAtRandomPointsOfFiftyCyclesItConvergesEveryTime) {
  const std::vector<std::string> versions = {"1.30", "1.31", "1.32"};
  const std::vector<std::string> names = {"c0", "c1", "c2"};
  unsigned seed = std::random_device{}();
  if (const char* fixed = std::getenv("HERD_CHAOS_SEED")) seed = std::stoul(fixed);
  std::cerr << "chaos seed " << seed << " (HERD_CHAOS_SEED repeats a run)\n";
  std::mt19937 random(seed);

  std::map<std::string, size_t> version_of;         // live clusters: index into versions
  std::map<std::string, std::string> ca_of;         // the CA first issued to each live cluster
  std::map<std::string, std::set<std::string>> objects_of;  // after its first convergence
  std::set<std::string> deleted;
  Replica* r = &start("chaos");
  int kills = 0;
  for (int cycle = 0; cycle < 50; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle) + ", seed " + std::to_string(seed));
    const std::string& name = names[random() % names.size()];
    std::string op;
    if (!version_of.contains(name)) {
      op = "create";
      create(name, versions[0]);
      version_of[name] = 0;
      deleted.erase(name);
    } else if (version_of[name] + 1 < versions.size() && random() % 3 != 0) {
      op = "upgrade";
      setVersion(name, versions[++version_of[name]]);
    } else {
      op = "delete";
      remove(name);
      version_of.erase(name);
      ca_of.erase(name);
      objects_of.erase(name);
      deleted.insert(name);
    }
    // Kill the controller somewhere inside the reconciles this change starts.
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 1500));
    ASSERT_TRUE(r->process->signal(SIGKILL).isOk());
    r->process->wait();
    ++kills;
    r = &start("chaos");

    for (const auto& [live, index] : version_of) {
      std::string why;
      ASSERT_TRUE(testing::eventually([&] { return (why = seedSideConverged(live)).empty(); },
                                      90s))
          << op << " " << name << ": " << live << " did not converge: " << why;
      std::string ca = caOf(live);
      ASSERT_FALSE(ca.empty()) << live;
      if (auto [it, fresh] = ca_of.emplace(live, ca); !fresh) {
        EXPECT_EQ(it->second, ca) << live << ": its CA was regenerated";
      }
      std::set<std::string> objects = objectsOf(live);
      if (auto [it, fresh] = objects_of.emplace(live, objects); !fresh) {
        EXPECT_EQ(it->second, objects) << live << ": its objects changed (leaked or duplicated)";
      }
    }
    for (const auto& gone : deleted) {
      ASSERT_TRUE(testing::eventually(
          [&] { return !cluster(gone).has_value() && objectsOf(gone).empty(); }, 90s))
          << gone << " left behind: " << [&] {
               std::string all;
               for (const auto& o : objectsOf(gone)) all += o + " ";
               return all + (cluster(gone) ? "and its Cluster" : "");
             }();
    }
    // Gateway ports: one per live cluster, no two alike.
    std::set<int> ports;
    for (const auto& [live, index] : version_of) {
      auto c = cluster(live);
      ASSERT_TRUE(c.has_value());
      int port = (*c)["status"].value("gatewayPort", 0);
      EXPECT_TRUE(ports.insert(port).second) << live << " shares gateway port " << port;
    }
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(kills, 50);
}

}  // namespace
}  // namespace herd::controller
