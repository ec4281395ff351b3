// The controller's etcd step on its real path: the Reconciler with the real renderer and the
// local provider running real TLS etcd members (Debian's etcd-server) on loopback, a test
// apiserver as the seed. A writer puts keys while the cluster grows and shrinks one member at
// a time and while a member whose data was wiped is replaced; no acknowledged write is lost.
// The walk stops after etcd (no kube-apiserver binary here), which is all these tests need.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <iostream>
#include <set>
#include <thread>

#include "api/conditions.h"
#include "api/crd.h"
#include "common/files.h"
#include "common/yaml.h"
#include "controller/reconciler.h"
#include "etcd/client.h"
#include "kube/herd_resources.h"
#include "provider/local/local_provider.h"
#include "render/render.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"

namespace herd::controller {
namespace {

using namespace std::chrono_literals;
using kube::json;
using Clock = std::chrono::steady_clock;
namespace cond = api::condition;

std::string which(const std::string& name) {
  for (const char* dir : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// Puts /load/<n> for n = 0, 1, ... until stopped (or kMaxKeys), remembering each acknowledged
// one, and the longest time between two acknowledged writes.
class Writer {
 public:
  static constexpr int kMaxKeys = 20000;
  explicit Writer(etcd::Client& client) : client_(client), thread_([this] { run(); }) {}
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::set<std::string> acked() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  Clock::duration longestOutage() const {
    std::lock_guard lock(mu_);
    return longest_;
  }
  int failures() const { return failures_; }

 private:
  void run() {
    Clock::time_point last = Clock::now();
    for (int n = 0; n < kMaxKeys && !stop_; ++n) {
      std::string key = fmt::format("/load/{:06d}", n);
      bool ok = client_.put({key, std::to_string(n)}).isOk();
      if (ok) {
        auto now = Clock::now();
        std::lock_guard lock(mu_);
        acked_.insert(key);
        longest_ = std::max(longest_, now - last);
        last = now;
      } else {
        ++failures_;
      }
      std::this_thread::sleep_for(ok ? 10ms : 100ms);
    }
  }

  etcd::Client& client_;
  mutable std::mutex mu_;
  std::set<std::string> acked_;
  Clock::duration longest_{0};
  std::atomic<int> failures_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class EtcdMembersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (which("etcd").empty()) GTEST_SKIP() << "etcd is not installed (Debian: etcd-server)";
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    seed_ = std::move(*s);
    auto client = kube::Client::create(seed_->adminConfig());
    ASSERT_TRUE(client.isOk());
    seed_client_ = std::move(*client);
    auto crd = parseDocuments(api::clusterCrdYaml());
    ASSERT_TRUE(crd.isOk() && crd->size() == 1);
    ASSERT_TRUE(seed_client_->create(kube::crdsResource(), "", (*crd)[0]).isOk());
    ASSERT_TRUE(testing::eventually(
        [&] { return seed_client_->resourceFor("herd.io/v1alpha1", "Cluster").isOk(); }, 10s));

    provider::local::LocalProviderOptions o;
    o.state_root = dir_.file("tenants");
    int base = 31000 + (::getpid() % 150) * 60;  // a range of its own per test process
    o.ports = {base, base + 59};
    o.binaries = [](const std::string& binary, const std::string&) -> Result<std::string> {
      if (binary == "etcd") return which("etcd");
      return Status::notFound(binary + ": not run by this test");
    };
    o.supervisor.backoff_initial = 200ms;
    o.supervisor.backoff_max = 2s;
    o.supervisor.grace = 5s;
    provider_ = std::make_unique<provider::local::LocalProvider>(std::move(o));

    makeReconciler({});
  }
  void makeReconciler(std::function<void(ReconcilerOptions&)> tweak) {
    ReconcilerOptions r;
    r.platform.tunnel_connect_address = "127.0.0.1:1";
    r.platform.tunnel_ca_bundle = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    r.gateway_ports = {25000, 25099};
    r.poll = 100ms;
    if (tweak) tweak(r);
    auto* local = provider_.get();
    Renderer renderer =
        [local, platform = r.platform](
            const api::Cluster& cluster) -> Result<std::vector<render::ComponentSpec>> {
      HERD_ASSIGN_OR_RETURN(render::Topology topology, local->topology(cluster));
      return render::renderControlPlane(cluster, platform, topology);
    };
    reconciler_ =
        std::make_unique<Reconciler>(*seed_client_, *provider_, std::move(renderer), std::move(r));
  }
  void TearDown() override {
    if (provider_) provider_->stopAll();
  }

  void create(json etcd) {
    json object = {{"apiVersion", "herd.io/v1alpha1"},
                   {"kind", "Cluster"},
                   {"metadata", {{"name", "demo"}}},
                   {"spec", {{"version", "1.32"}, {"controlPlane", {{"etcd", etcd}}}}}};
    auto r = seed_client_->create(kube::clustersResource(), "", object);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  void scaleTo(int members) {
    json patch = {{"spec", {{"controlPlane", {{"etcd", {{"replicas", members}}}}}}}};
    auto r = seed_client_->patch(kube::clustersResource(), "", "demo", kube::PatchType::kMerge,
                                 patch.dump());
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  json status() {
    auto r = seed_client_->get(kube::clustersResource(), "", "demo");
    if (!r) return json::object();
    return r->value("status", json::object());
  }
  static json conditionOf(const json& status, std::string_view type) {
    for (const auto& c : status.value("conditions", json::array())) {
      if (c.value("type", "") == type) return c;
    }
    return json::object();
  }
  // Reconciles, as the controller's workers would, until status says etcd runs `members`
  // voting members that all answer and nothing is left to change.
  bool converge(int members, std::chrono::seconds timeout = 240s) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      reconciler_->reconcile("demo");
      json s = status();
      auto list = s.value("etcd", json::object()).value("members", json::array());
      bool settled = conditionOf(s, cond::kEtcdReady).value("status", "") == "True" &&
                     static_cast<int>(list.size()) == members;
      for (const auto& m : list) {
        settled = settled && m.value("reachable", false) && !m.value("learner", true) &&
                  !m.value("joining", true);
      }
      if (settled) return true;
      last_ = s.dump();
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }
  std::vector<std::string> clientUrls(int members) {
    api::Cluster c;
    c.metadata.name = "demo";
    c.spec.controlPlane.etcd.replicas = members;
    auto endpoints = provider_->etcdEndpoints(c);
    EXPECT_TRUE(endpoints.isOk()) << endpoints.status().toString();
    std::vector<std::string> out;
    for (const auto& e : *endpoints) out.push_back(e.client_url);
    return out;
  }
  std::unique_ptr<etcd::Client> etcdClient(int members) {
    api::Cluster demo;
    demo.metadata.name = "demo";
    auto creds = provider_->loadCredentials(demo);
    EXPECT_TRUE(creds.isOk());
    auto client = defaultEtcdClientFactory()(clientUrls(members), *creds);
    EXPECT_TRUE(client.isOk()) << client.status().toString();
    return client ? std::move(*client) : nullptr;
  }
  std::map<std::string, std::string> memberIds() {
    std::map<std::string, std::string> out;
    json s = status();  // kept: a range-for over a temporary's member would dangle
    for (const auto& m : s["etcd"]["members"]) {
      out[m.value("name", "")] = m.value("id", "");
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestApiServer> seed_;
  std::unique_ptr<kube::Client> seed_client_;
  std::unique_ptr<provider::local::LocalProvider> provider_;
  std::unique_ptr<Reconciler> reconciler_;
  std::string last_;
};

TEST_F(EtcdMembersTest, GrowsAndShrinksOneAtATimeAndReplacesALostMemberWithoutLosingAWrite) {
  create({{"replicas", 1}});
  ASSERT_TRUE(converge(1)) << last_;
  auto client = etcdClient(5);
  ASSERT_NE(client, nullptr);
  Writer writer(*client);
  auto start = Clock::now();

  for (int members : {3, 5, 3}) {
    scaleTo(members);
    ASSERT_TRUE(converge(members)) << "to " << members << ": " << last_;
    std::cerr << "etcd runs " << members << " members after "
              << std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count()
              << "s, " << writer.acked().size() << " writes acknowledged\n";
  }
  // Health of every member in status: one leader, raft indexes and database sizes.
  json s = status();
  int leaders = 0;
  for (const auto& m : s["etcd"]["members"]) {
    leaders += m.value("leader", false) ? 1 : 0;
    EXPECT_GT(m.value("raftIndex", 0), 0) << m;
    EXPECT_GT(m.value("dbSize", 0), 0) << m;
    EXPECT_GT(m.value("dbSizeInUse", 0), 0) << m;
  }
  EXPECT_EQ(leaders, 1) << s.dump();
  EXPECT_EQ(conditionOf(s, cond::kEtcdHealthy).value("status", ""), "True") << s.dump();
  EXPECT_EQ(provider_->processes().size(), 3u);

  // etcd-1's data goes and it dies: herd removes it and adds it afresh, as a new member.
  auto before = memberIds();
  pid_t victim = 0;
  for (const auto& p : provider_->processes()) {
    if (p.name == "demo/etcd-1") victim = p.pid;
  }
  ASSERT_NE(victim, 0);
  std::filesystem::remove_all(dir_.file("tenants") + "/demo/etcd-1/var/lib/etcd/member");
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_TRUE(testing::eventually(
      [&] {
        reconciler_->reconcile("demo");
        auto ids = memberIds();
        return ids.contains("etcd-1") && ids["etcd-1"] != before["etcd-1"];
      },
      120s))
      << status().dump() << "\nprocesses:" <<
      [&] {
        std::string out;
        for (const auto& p : provider_->processes())
          out += fmt::format(" {} pid {} ready {} restarts {} last {};", p.name, p.pid, p.ready,
                             p.restarts, p.last_exit);
        return out;
      }()
      << "\netcd-1's log:\n"
      << [&] {
           auto log = files::read(dir_.file("tenants") + "/demo/etcd-1/etcd-1.log");
           std::string text = log ? *log : "";
           return text.substr(text.size() > 6000 ? text.size() - 6000 : 0);
         }();
  ASSERT_TRUE(converge(3)) << last_;
  auto after = memberIds();
  EXPECT_EQ(after["etcd-0"], before["etcd-0"]);
  EXPECT_EQ(after["etcd-2"], before["etcd-2"]);

  scaleTo(1);
  ASSERT_TRUE(converge(1)) << last_;
  EXPECT_EQ(provider_->processes().size(), 1u);
  std::this_thread::sleep_for(1s);  // a few writes on the single member too
  writer.stop();

  // Every acknowledged write is there.
  auto acked = writer.acked();
  auto reader = etcdClient(1);
  ASSERT_NE(reader, nullptr);
  etcd::RangeRequest all;
  all.key = "/load/";
  all.range_end = etcd::prefixEnd("/load/");
  all.keys_only = true;
  auto got = reader->range(all);
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  std::set<std::string> present;
  for (const auto& kv : got->kvs) present.insert(kv.key);
  size_t missing = 0;
  for (const auto& k : acked) missing += present.contains(k) ? 0 : 1;
  auto outage = std::chrono::duration_cast<std::chrono::milliseconds>(writer.longestOutage());
  std::cerr << acked.size() << " writes acknowledged, " << writer.failures()
            << " refused, longest time without a write " << outage.count() << " ms\n";
  EXPECT_GT(acked.size(), 100u);
  EXPECT_EQ(missing, 0u);
  // Quorum held throughout: writes never stopped for longer than an election takes on a
  // loaded machine (a lost quorum stops them until a member comes back).
  EXPECT_LT(outage, 10s);
}

TEST_F(EtcdMembersTest, NoSpaceShowsAConditionAndWritesWorkAgainOnceHerdReclaimsTheSpace) {
  // 80% of 2Mi: etcd's quota is 1.6 MiB.
  create({{"replicas", 1}, {"storageSize", "2Mi"}});
  ASSERT_TRUE(converge(1)) << last_;
  auto client = etcdClient(1);
  ASSERT_NE(client, nullptr);
  std::string value(32 * 1024, 'x');
  Status refused;
  for (int i = 0; i < 400 && refused.isOk(); ++i) refused = client->put({"/fill", value}).status();
  ASSERT_FALSE(refused.isOk()) << "the quota was never reached";
  EXPECT_NE(refused.message().find("database space exceeded"), std::string::npos)
      << refused.toString();

  reconciler_->reconcile("demo");
  json s = status();
  json healthy = conditionOf(s, cond::kEtcdHealthy);
  EXPECT_EQ(healthy.value("status", ""), "False") << s.dump();
  EXPECT_EQ(healthy.value("reason", ""), "NoSpace") << s.dump();
  EXPECT_NE(healthy.value("message", "").find("etcd-0 raised NOSPACE"), std::string::npos);
  EXPECT_NE(healthy.value("message", "").find("storageSize"), std::string::npos);
  auto alarms = s["etcd"]["members"][0].value("alarms", json::array());
  EXPECT_EQ(alarms, json::array({"NOSPACE"})) << s.dump();

  // The next reconciles compact, defragment and disarm; then writes work again.
  ASSERT_TRUE(testing::eventually(
      [&] {
        reconciler_->reconcile("demo");
        return conditionOf(status(), cond::kEtcdHealthy).value("status", "") == "True";
      },
      60s))
      << status().dump();
  EXPECT_TRUE(client->put({"/after", "works"}).isOk());
  EXPECT_LT(status()["etcd"]["members"][0].value("dbSize", 0), 1600 * 1024);
}

TEST_F(EtcdMembersTest, AMemberWhoseFileIsMostlyFreeSpaceIsDefragmented) {
  makeReconciler([](ReconcilerOptions& o) {
    o.etcd_defrag_min_bytes = 256 * 1024;
    o.etcd_defrag_free_ratio = 0.5;
  });
  create({{"replicas", 1}});
  ASSERT_TRUE(converge(1)) << last_;
  auto client = etcdClient(1);
  ASSERT_NE(client, nullptr);
  std::string value(32 * 1024, 'y');
  int64_t revision = 0;
  for (int i = 0; i < 40; ++i) {
    auto put = client->put({"/churn", value});
    ASSERT_TRUE(put.isOk()) << put.status().toString();
    revision = put->revision;
  }
  ASSERT_TRUE(client->compact(revision, /*physical=*/true).isOk());
  // etcd counts the space in use as of its last backend commit: let one more write commit.
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(client->put({"/after-compaction", "x"}).isOk());
  std::this_thread::sleep_for(300ms);
  auto fragmented = client->status(clientUrls(1)[0]);
  ASSERT_TRUE(fragmented.isOk());
  ASSERT_GT(fragmented->db_size - fragmented->db_size_in_use, fragmented->db_size / 2)
      << "compaction left no free pages to reclaim";

  reconciler_->reconcile("demo");
  auto after = client->status(clientUrls(1)[0]);
  ASSERT_TRUE(after.isOk());
  std::cerr << "defragmented: " << fragmented->db_size << " -> " << after->db_size << " bytes\n";
  EXPECT_LT(after->db_size, fragmented->db_size / 2);
  EXPECT_EQ(status()["etcd"]["members"][0].value("dbSize", 0), after->db_size);
  // Nothing left to reclaim: the next reconcile leaves it alone.
  reconciler_->reconcile("demo");
  auto again = client->status(clientUrls(1)[0]);
  ASSERT_TRUE(again.isOk());
  EXPECT_LE(again->db_size, after->db_size + 64 * 1024);
}

}  // namespace
}  // namespace herd::controller
