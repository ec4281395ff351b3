// Two fake apiservers on one etcd, as a tenant's replicas run: both run the background
// controllers (root CA publisher, garbage collector, namespace deletion) over one state, and
// each piece of work is written once, whichever server gets there first.
#include "test_etcd.h"
#include "test_fixture.h"

namespace herd::fake::testing {
namespace {

class TwoServersOnOneEtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_ = std::make_unique<TestEtcd>();
    if (!etcd_->available()) GTEST_SKIP() << etcd_->why();
    ASSERT_TRUE(etcd_->started()) << etcd_->why();
    for (auto* server : {&a_, &b_}) {
      FakeApiServerOptions options;
      options.etcd = etcd_->options();
      auto started = FakeApiServer::start(options);
      ASSERT_TRUE(started.isOk()) << started.status().toString();
      *server = std::move(*started);
    }
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
  }

  static Client admin(const FakeApiServer& server) {
    return Client(server.port(), {server.caPem(), server.adminCertPem(), server.adminKeyPem(), ""});
  }
  static Json json(const Response& r) { return Json::parse(r.body, nullptr, false); }
  static bool eventually(const std::function<bool()>& cond) {
    auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!cond()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  // The events of `type` for `name` among `events`.
  static int count(const WatchRecorder::Events& events, const std::string& type,
                   const std::string& name) {
    int n = 0;
    for (const auto& e : events) {
      n += e.is_object() && e.value("type", "") == type &&
           e["object"]["metadata"].value("name", "") == name;
    }
    return n;
  }

  std::unique_ptr<TestEtcd> etcd_;
  std::unique_ptr<FakeApiServer> a_, b_;
};

TEST_F(TwoServersOnOneEtcdTest, BackgroundWorkIsWrittenOnce) {
  Client a = admin(*a_), b = admin(*b_);
  std::string rv =
      json(a.get("/api/v1/namespaces/default/configmaps"))["metadata"]["resourceVersion"];
  WatchRecorder watch(
      b, "/api/v1/namespaces/team/configmaps?watch=1&timeoutSeconds=60&resourceVersion=" + rv,
      [](const WatchRecorder::Events& events) { return count(events, "DELETED", "owner") > 0; });
  ASSERT_TRUE(watch.waitEstablished());

  // Both servers' root CA publishers see the new namespace; one ConfigMap is made.
  Response ns = a.request(
      "POST", "/api/v1/namespaces",
      Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}}.dump());
  ASSERT_EQ(ns.status, 201) << ns.body;
  ASSERT_TRUE(eventually(
      [&] { return b.get("/api/v1/namespaces/team/configmaps/kube-root-ca.crt").status == 200; }));

  // An owner deleted in the foreground through one server: both garbage collectors see it.
  Response owner = a.request(
      "POST", "/api/v1/namespaces/team/configmaps",
      Json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "owner"}}}}.dump());
  ASSERT_EQ(owner.status, 201) << owner.body;
  std::string uid = json(owner)["metadata"]["uid"];
  Json ref = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},        {"name", "owner"},
              {"uid", uid},         {"blockOwnerDeletion", true}, {"controller", true}};
  for (const char* name : {"dep-1", "dep-2", "dep-3"}) {
    Response dep = b.request("POST", "/api/v1/namespaces/team/configmaps",
                             Json{{"apiVersion", "v1"},
                                  {"kind", "ConfigMap"},
                                  {"metadata", {{"name", name}, {"ownerReferences", {ref}}}}}
                                 .dump());
    ASSERT_EQ(dep.status, 201) << dep.body;
  }
  Response deleted = b.request("DELETE", "/api/v1/namespaces/team/configmaps/owner",
                               R"({"propagationPolicy":"Foreground"})");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  ASSERT_TRUE(watch.waitFor(
      [](const WatchRecorder::Events& events) { return count(events, "DELETED", "owner") > 0; }));
  watch.join();
  auto events = watch.events();
  EXPECT_EQ(count(events, "ADDED", "kube-root-ca.crt"), 1);
  EXPECT_EQ(count(events, "MODIFIED", "kube-root-ca.crt"), 0);
  for (const char* name : {"dep-1", "dep-2", "dep-3", "owner"}) {
    EXPECT_EQ(count(events, "DELETED", name), 1) << name;
  }
  for (auto* client : {&a, &b}) {
    EXPECT_EQ(client->get("/api/v1/namespaces/team/configmaps/dep-1").status, 404);
  }

  // A namespace deleted through one server goes for both.
  ASSERT_EQ(a.request("DELETE", "/api/v1/namespaces/team").status, 200);
  EXPECT_TRUE(eventually([&] { return b.get("/api/v1/namespaces/team").status == 404; }));
  EXPECT_EQ(a.get("/api/v1/namespaces/team").status, 404);
}

}  // namespace
}  // namespace herd::fake::testing
