// The client against an API server: the fake by default, a real kube-apiserver under
// HERD_KUBE_BIN (tests that inject faults need the fake and say so when skipped).
#include "kube/client.h"

#include <gtest/gtest.h>

#include <thread>

#include "api/crd.h"
#include "common/yaml.h"
#include "fake_apiserver.h"
#include "kube/api_error.h"
#include "support/test_apiserver.h"

namespace herd::kube {
namespace {

using namespace std::chrono_literals;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    server_ = std::move(*s);
    auto c = Client::create(server_->adminConfig(), RetryPolicy{5, 10ms, 200ms});
    ASSERT_TRUE(c.isOk()) << c.status().toString();
    client_ = std::move(*c);
    ns_ = "client-test";
    auto created = client_->create(
        namespacesResource(), "",
        {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}});
    ASSERT_TRUE(created.isOk()) << created.status().toString();
  }

  json configMap(const std::string& name, json data = json::object(),
                 json labels = json::object()) {
    json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", name}}},
               {"data", data}};
    if (!labels.empty()) cm["metadata"]["labels"] = labels;
    return cm;
  }

  std::unique_ptr<testing::TestApiServer> server_;
  std::unique_ptr<Client> client_;
  std::string ns_;
};

TEST_F(ClientTest, CreateGetUpdateDeleteWithTypedErrors) {
  auto created = client_->create(configMapsResource(), ns_, configMap("a", {{"k", "1"}}));
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  std::string rv = (*created)["metadata"]["resourceVersion"];
  EXPECT_FALSE(rv.empty());

  auto again = client_->create(configMapsResource(), ns_, configMap("a"));
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(again.status().message(), "configmaps \"a\" already exists");

  auto got = client_->get(configMapsResource(), ns_, "a");
  ASSERT_TRUE(got.isOk());
  EXPECT_EQ((*got)["data"]["k"], "1");

  json changed = *got;
  changed["data"]["k"] = "2";
  auto updated = client_->update(configMapsResource(), ns_, changed);
  ASSERT_TRUE(updated.isOk()) << updated.status().toString();
  EXPECT_NE((*updated)["metadata"]["resourceVersion"], rv);

  changed["data"]["k"] = "3";  // still carries the old resourceVersion
  auto stale = client_->update(configMapsResource(), ns_, changed);
  EXPECT_EQ(stale.status().code(), Code::kConflict);

  EXPECT_EQ(client_->get(configMapsResource(), ns_, "missing").status().code(), Code::kNotFound);
  auto invalid = client_->create(configMapsResource(), ns_, configMap("Not_Valid"));
  EXPECT_EQ(invalid.status().code(), Code::kInvalid);

  ASSERT_TRUE(client_->remove(configMapsResource(), ns_, "a").isOk());
  EXPECT_EQ(client_->get(configMapsResource(), ns_, "a").status().code(), Code::kNotFound);
  EXPECT_EQ(client_->remove(configMapsResource(), ns_, "a").status().code(), Code::kNotFound);
}

TEST_F(ClientTest, ListWithSelectorsAndPaging) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        client_
            ->create(configMapsResource(), ns_,
                     configMap("cm-" + std::to_string(i), {}, {{"parity", i % 2 ? "odd" : "even"}}))
            .isOk());
  }
  ListOptions page;
  page.limit = 3;
  auto first = client_->list(configMapsResource(), ns_, page);
  ASSERT_TRUE(first.isOk());
  EXPECT_EQ((*first)["items"].size(), 3u);
  EXPECT_FALSE((*first)["metadata"].value("continue", "").empty());

  auto all = client_->listAll(configMapsResource(), ns_, page);
  ASSERT_TRUE(all.isOk());
  std::set<std::string> names;
  for (const auto& item : (*all)["items"]) names.insert(item["metadata"]["name"]);
  EXPECT_GE(names.size(), 7u);  // a real server adds kube-root-ca.crt

  ListOptions odd;
  odd.label_selector = "parity=odd";
  auto odds = client_->listAll(configMapsResource(), ns_, odd);
  ASSERT_TRUE(odds.isOk());
  EXPECT_EQ((*odds)["items"].size(), 3u);

  ListOptions by_name;
  by_name.field_selector = "metadata.name=cm-4";
  auto one = client_->list(configMapsResource(), ns_, by_name);
  ASSERT_TRUE(one.isOk());
  ASSERT_EQ((*one)["items"].size(), 1u);
  EXPECT_EQ((*one)["items"][0]["metadata"]["name"], "cm-4");
}

TEST_F(ClientTest, EveryPatchType) {
  ASSERT_TRUE(client_->create(configMapsResource(), ns_, configMap("p", {{"a", "1"}})).isOk());
  auto merged =
      client_->patch(configMapsResource(), ns_, "p", PatchType::kMerge, R"({"data":{"b":"2"}})");
  ASSERT_TRUE(merged.isOk()) << merged.status().toString();
  EXPECT_EQ((*merged)["data"], json({{"a", "1"}, {"b", "2"}}));
  auto jsonp = client_->patch(
      configMapsResource(), ns_, "p", PatchType::kJson,
      R"([{"op":"test","path":"/data/a","value":"1"},{"op":"remove","path":"/data/a"}])");
  ASSERT_TRUE(jsonp.isOk()) << jsonp.status().toString();
  EXPECT_EQ((*jsonp)["data"], json({{"b", "2"}}));
  auto failed_test = client_->patch(configMapsResource(), ns_, "p", PatchType::kJson,
                                    R"([{"op":"test","path":"/data/b","value":"nope"}])");
  EXPECT_EQ(failed_test.status().code(), Code::kInvalid);
  auto smp = client_->patch(configMapsResource(), ns_, "p", PatchType::kStrategicMerge,
                            R"({"data":{"c":"3"}})");
  ASSERT_TRUE(smp.isOk()) << smp.status().toString();
  EXPECT_EQ((*smp)["data"]["c"], "3");
}

TEST_F(ClientTest, ServerSideApplyConflictsAndForce) {
  std::string doc =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"owner":"herd"}})";
  auto applied = client_->patch(configMapsResource(), ns_, "ssa", PatchType::kApply, doc,
                                PatchOptions{"herd", false});
  ASSERT_TRUE(applied.isOk()) << applied.status().toString();
  std::string other =
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"},"data":{"owner":"other"}})";
  auto conflict = client_->patch(configMapsResource(), ns_, "ssa", PatchType::kApply, other,
                                 PatchOptions{"other", false});
  EXPECT_EQ(conflict.status().code(), Code::kConflict);
  auto forced = client_->patch(configMapsResource(), ns_, "ssa", PatchType::kApply, other,
                               PatchOptions{"other", true});
  ASSERT_TRUE(forced.isOk()) << forced.status().toString();
  EXPECT_EQ((*forced)["data"]["owner"], "other");
  auto no_manager =
      client_->patch(configMapsResource(), ns_, "ssa", PatchType::kApply, doc, PatchOptions{});
  EXPECT_EQ(no_manager.status().code(), Code::kInvalid);
}

TEST_F(ClientTest, DeletePreconditionsAndFinalizers) {
  json cm = configMap("fin");
  cm["metadata"]["finalizers"] = json::array({"herd.io/test"});
  auto created = client_->create(configMapsResource(), ns_, cm);
  ASSERT_TRUE(created.isOk());
  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "00000000-0000-0000-0000-000000000000";
  EXPECT_EQ(client_->remove(configMapsResource(), ns_, "fin", wrong_uid).status().code(),
            Code::kConflict);
  auto marked = client_->remove(configMapsResource(), ns_, "fin");
  ASSERT_TRUE(marked.isOk());
  EXPECT_TRUE((*marked)["metadata"].contains("deletionTimestamp"));
  ASSERT_TRUE(client_->get(configMapsResource(), ns_, "fin").isOk());  // held by its finalizer
  ASSERT_TRUE(client_
                  ->patch(configMapsResource(), ns_, "fin", PatchType::kMerge,
                          R"({"metadata":{"finalizers":null}})")
                  .isOk());
  EXPECT_EQ(client_->get(configMapsResource(), ns_, "fin").status().code(), Code::kNotFound);
}

TEST_F(ClientTest, WatchDeliversEventsInOrder) {
  auto created = client_->create(configMapsResource(), ns_, configMap("w"));
  ASSERT_TRUE(created.isOk());
  WatchOptions wo;
  wo.resource_version = (*created)["metadata"]["resourceVersion"];
  wo.field_selector = "metadata.name=w";
  auto w = client_->watch(configMapsResource(), ns_, wo);
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  ASSERT_TRUE(
      client_->patch(configMapsResource(), ns_, "w", PatchType::kMerge, R"({"data":{"x":"1"}})")
          .isOk());
  ASSERT_TRUE(client_->remove(configMapsResource(), ns_, "w").isOk());
  std::vector<WatchEvent::Type> types;
  while (types.size() < 2) {
    auto e = (*w)->next(10s);
    ASSERT_TRUE(e.isOk()) << e.status().toString();
    ASSERT_TRUE(e->has_value());
    if ((*e)->type != WatchEvent::Type::kBookmark) types.push_back((*e)->type);
  }
  EXPECT_EQ(types, (std::vector<WatchEvent::Type>{WatchEvent::Type::kModified,
                                                  WatchEvent::Type::kDeleted}));
  (*w)->stop();
  EXPECT_FALSE((*w)->next(5s).isOk());  // stopped: the read ends at once
}

TEST_F(ClientTest, AuthenticationAndAuthorizationErrors) {
  RestConfig bad = server_->adminConfig();
  bad.client_cert_pem.clear();
  bad.client_key_pem.clear();
  bad.bearer_token = "not-a-valid-token";
  auto c = Client::create(bad);
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ((*c)->get(namespacesResource(), "", "default").status().code(), Code::kUnauthenticated);
  auto limited = server_->userConfig("limited-user", {});
  ASSERT_TRUE(limited.isOk());
  auto lc = Client::create(*limited);
  ASSERT_TRUE(lc.isOk());
  auto denied = (*lc)->list(namespacesResource(), "");
  EXPECT_EQ(denied.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(denied.status().message(),
            "namespaces is forbidden: User \"limited-user\" cannot list resource \"namespaces\" in "
            "API group \"\" at "
            "the cluster scope");
}

TEST_F(ClientTest, WrongCaIsRefusedBeforeAnyRequest) {
  RestConfig other = server_->adminConfig();
  testing::TempDir dir;
  auto r = runCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                       "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir.file("k"), "-out",
                       dir.file("c"), "-days", "1", "-subj", "/CN=other"});
  ASSERT_TRUE(r.isOk() && r->exit_code == 0);
  other.ca_pem = testing::readFileOrDie(dir.file("c"));
  auto c = Client::create(other, RetryPolicy{1, 1ms, 1ms});
  ASSERT_TRUE(c.isOk());
  auto got = (*c)->get(namespacesResource(), "", "default");
  ASSERT_FALSE(got.isOk());
  EXPECT_NE(got.status().message().find("TLS handshake"), std::string::npos)
      << got.status().message();
}

TEST_F(ClientTest, TlsServerNameIsTheNameVerified) {
  if (!server_->isFake()) GTEST_SKIP() << "relies on the fake's serving certificate names";
  RestConfig named = server_->adminConfig();
  named.tls_server_name =
      "kubernetes.default";  // a SAN of the serving certificate, not the dialed IP
  auto ok = Client::create(named);
  ASSERT_TRUE(ok.isOk());
  EXPECT_TRUE((*ok)->get(namespacesResource(), "", ns_).isOk());
  RestConfig wrong = server_->adminConfig();
  wrong.tls_server_name = "other-tenant.example";
  auto bad = Client::create(wrong, RetryPolicy{1, 1ms, 1ms});
  ASSERT_TRUE(bad.isOk());
  auto refused = (*bad)->get(namespacesResource(), "", ns_);
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("TLS handshake"), std::string::npos)
      << refused.status().message();
}

TEST_F(ClientTest, RetriesWhatIsRetriable) {
  if (!server_->isFake()) GTEST_SKIP() << "fault injection needs the fake apiserver";
  ASSERT_TRUE(client_->create(configMapsResource(), ns_, configMap("r")).isOk());
  uint64_t before = client_->requestCount();
  server_->fake()->failNextRequests(2, 500);
  ASSERT_TRUE(client_->get(configMapsResource(), ns_, "r").isOk());
  EXPECT_EQ(client_->requestCount() - before, 3u);  // two 500s, then the answer

  before = client_->requestCount();
  server_->fake()->failNextRequests(1, 429, 1);
  ASSERT_TRUE(client_->create(configMapsResource(), ns_, configMap("after-429")).isOk());
  EXPECT_EQ(client_->requestCount() - before, 2u);  // 429 is safe to retry for a write

  // A 500 without Retry-After may have been applied: a write is not sent twice.
  before = client_->requestCount();
  server_->fake()->failNextRequests(1, 500, 0);
  auto once = client_->create(configMapsResource(), ns_, configMap("not-retried"));
  EXPECT_EQ(once.status().code(), Code::kUnavailable);
  EXPECT_EQ(client_->requestCount() - before, 1u);

  server_->fake()->failNextRequests(10, 500, 0);
  auto gave_up = client_->get(configMapsResource(), ns_, "r");
  EXPECT_EQ(gave_up.status().code(), Code::kUnavailable);
  server_->fake()->failNextRequests(0, 500, 0);
}

TEST_F(ClientTest, DiscoveryMapsKindsToResources) {
  auto cm = client_->resourceFor("v1", "ConfigMap");
  ASSERT_TRUE(cm.isOk());
  EXPECT_EQ(cm->resource, "configmaps");
  EXPECT_TRUE(cm->namespaced);
  auto lease = client_->resourceFor("coordination.k8s.io/v1", "Lease");
  ASSERT_TRUE(lease.isOk());
  EXPECT_EQ(lease->resource, "leases");
  auto ns = client_->resourceFor("v1", "Namespace");
  ASSERT_TRUE(ns.isOk());
  EXPECT_FALSE(ns->namespaced);
  EXPECT_EQ(client_->resourceFor("v1", "NoSuchKind").status().code(), Code::kNotFound);
  EXPECT_EQ(client_->resourceFor("nosuch.example/v1", "Thing").status().code(), Code::kNotFound);
}

TEST_F(ClientTest, CustomResourceStatusSubresourceThroughDiscovery) {
  auto crd = parseDocuments(api::clusterCrdYaml());
  ASSERT_TRUE(crd.isOk());
  ASSERT_TRUE(client_->create(crdsResource(), "", (*crd)[0]).isOk());
  // The new kind is found once the server serves it (discovery is refreshed on a miss).
  Result<ResourceRef> clusters = Status::notFound("not yet");
  for (int i = 0; i < 100 && !clusters; ++i) {
    clusters = client_->resourceFor("herd.io/v1alpha1", "Cluster");
    if (!clusters) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(clusters.isOk()) << clusters.status().toString();
  EXPECT_EQ(clusters->resource, "clusters");
  EXPECT_FALSE(clusters->namespaced);
  json cluster = {{"apiVersion", "herd.io/v1alpha1"},
                  {"kind", "Cluster"},
                  {"metadata", {{"name", "demo"}}},
                  {"spec", json::object()}};
  auto created = client_->create(*clusters, "", cluster);
  ASSERT_TRUE(created.isOk()) << created.status().toString();
  EXPECT_EQ((*created)["spec"]["controlPlane"]["etcd"]["replicas"], 3);  // the schema's default
  json with_status = *created;
  with_status["status"] = {{"phase", "Provisioning"}};
  auto status = client_->updateStatus(*clusters, "", with_status);
  ASSERT_TRUE(status.isOk()) << status.status().toString();
  EXPECT_EQ((*status)["status"]["phase"], "Provisioning");
  json main = *status;
  main["status"]["phase"] = "Running";  // ignored by the main resource
  main["spec"]["paused"] = true;
  auto updated = client_->update(*clusters, "", main);
  ASSERT_TRUE(updated.isOk()) << updated.status().toString();
  EXPECT_EQ((*updated)["status"]["phase"], "Provisioning");
  EXPECT_EQ((*updated)["spec"]["paused"], true);
}

TEST_F(ClientTest, ForegroundDeletionWaitsForDependents) {
  auto owner = client_->create(configMapsResource(), ns_, configMap("owner"));
  ASSERT_TRUE(owner.isOk());
  json dep = configMap("dependent");
  dep["metadata"]["ownerReferences"] = json::array({{{"apiVersion", "v1"},
                                                     {"kind", "ConfigMap"},
                                                     {"name", "owner"},
                                                     {"uid", (*owner)["metadata"]["uid"]},
                                                     {"blockOwnerDeletion", true}}});
  dep["metadata"]["finalizers"] = json::array({"herd.io/hold"});
  ASSERT_TRUE(client_->create(configMapsResource(), ns_, dep).isOk());
  DeleteOptions fg;
  fg.propagation_policy = "Foreground";
  auto deleting = client_->remove(configMapsResource(), ns_, "owner", fg);
  ASSERT_TRUE(deleting.isOk()) << deleting.status().toString();
  EXPECT_EQ((*deleting)["metadata"]["finalizers"], json::array({"foregroundDeletion"}));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(client_->get(configMapsResource(), ns_, "owner").isOk());  // waits for its dependent
  ASSERT_TRUE(client_
                  ->patch(configMapsResource(), ns_, "dependent", PatchType::kMerge,
                          R"({"metadata":{"finalizers":null}})")
                  .isOk());
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = client_->get(configMapsResource(), ns_, "owner").status().code() == Code::kNotFound;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(gone);
}

TEST_F(ClientTest, KubeconfigFileWorksEndToEnd) {
  auto rc = loadKubeconfig(LoadOptions{server_->kubeconfigPath(), "", ""});
  ASSERT_TRUE(rc.isOk()) << rc.status().toString();
  auto c = Client::create(*rc);
  ASSERT_TRUE(c.isOk());
  auto got = (*c)->get(namespacesResource(), "", ns_);
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  EXPECT_EQ((*got)["metadata"]["name"], ns_);
}

// A caller's deadline bounds the client's waits: a Retry-After beyond it is not sat out.
TEST_F(ClientTest, RetryAfterPastTheDeadlineFailsAtOnce) {
  if (!server_->isFake()) GTEST_SKIP() << "fault injection needs the fake apiserver";
  auto bounded = client_->withContext(Context::withTimeout(1s));
  uint64_t before = client_->requestCount();
  server_->fake()->failNextRequests(1, 429, 30);
  auto start = std::chrono::steady_clock::now();
  auto got = bounded->get(configMapsResource(), ns_, "anything");
  auto took = std::chrono::steady_clock::now() - start;
  server_->fake()->failNextRequests(0, 429, 0);
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kDeadlineExceeded) << got.status().toString();
  EXPECT_NE(got.status().message().find("Retry-After of 30 s"), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("deadline"), std::string::npos);
  EXPECT_LT(took, 10s);                             // nowhere near the 30 s the server asked for
  EXPECT_EQ(client_->requestCount() - before, 1u);  // the view counts on the shared counter
}

TEST_F(ClientTest, RetryWithinTheDeadlineStillHappens) {
  if (!server_->isFake()) GTEST_SKIP() << "fault injection needs the fake apiserver";
  ASSERT_TRUE(client_->create(configMapsResource(), ns_, configMap("in-time")).isOk());
  auto bounded = client_->withContext(Context::withTimeout(60s));
  uint64_t before = client_->requestCount();
  server_->fake()->failNextRequests(1, 429, 1);
  auto got = bounded->get(configMapsResource(), ns_, "in-time");
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  EXPECT_EQ(client_->requestCount() - before, 2u);
}

TEST_F(ClientTest, CancelInterruptsABackoffSleep) {
  if (!server_->isFake()) GTEST_SKIP() << "fault injection needs the fake apiserver";
  // A backoff of 30 to 60 s: only a cancellation ends it within the bound below.
  auto slow = Client::create(server_->adminConfig(), RetryPolicy{5, 60s, 60s});
  ASSERT_TRUE(slow.isOk());
  auto token = std::make_shared<CancelToken>();
  auto cancellable = (*slow)->withContext(Context{std::nullopt, token});
  server_->fake()->failNextRequests(10, 500, 0);
  std::thread canceller([&] {
    // Once the first attempt has failed and the client sleeps (bounded: 10 s at most).
    for (int i = 0; i < 1000 && (*slow)->requestCount() == 0; ++i)
      std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(100ms);
    token->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  auto got = cancellable->get(configMapsResource(), ns_, "anything");
  auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  server_->fake()->failNextRequests(0, 500, 0);
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  EXPECT_NE(got.status().message().find("cancelled while waiting for a backoff"), std::string::npos)
      << got.status().message();
  EXPECT_LT(took, 20s);
  EXPECT_EQ((*slow)->requestCount(), 1u);

  // Once cancelled, nothing more goes on the wire.
  auto after = cancellable->get(configMapsResource(), ns_, "anything");
  EXPECT_EQ(after.status().code(), Code::kUnavailable);
  EXPECT_EQ((*slow)->requestCount(), 1u);
  // The client the view came from is not cancelled.
  EXPECT_EQ((*slow)->get(namespacesResource(), "", ns_).status().code(), Code::kOk);
}

TEST_F(ClientTest, CancelStopsAnOpenWatch) {
  auto token = std::make_shared<CancelToken>();
  auto cancellable = client_->withContext(Context{std::nullopt, token});
  WatchOptions wo;
  wo.allow_bookmarks = false;
  wo.field_selector = "metadata.name=never-created";
  auto w = cancellable->watch(configMapsResource(), ns_, wo);
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    token->cancel();
  });
  auto start = std::chrono::steady_clock::now();
  Result<std::optional<WatchEvent>> e = std::optional<WatchEvent>();
  // Events that may precede the cancellation (an initial ADDED list) are skipped; bounded.
  for (int i = 0; i < 100; ++i) {
    e = (*w)->next(60s);
    if (!e.isOk() || !e->has_value()) break;
  }
  auto took = std::chrono::steady_clock::now() - start;
  canceller.join();
  ASSERT_FALSE(e.isOk());
  EXPECT_NE(e.status().message().find("cancelled"), std::string::npos) << e.status().toString();
  EXPECT_LT(took, 30s);  // the idle timeout was 60 s
}

TEST_F(ClientTest, AWatchWaitsNoLaterThanTheDeadline) {
  auto bounded = client_->withContext(Context::withTimeout(1s));
  WatchOptions wo;
  wo.allow_bookmarks = false;
  wo.field_selector = "metadata.name=never-created";
  auto w = bounded->watch(configMapsResource(), ns_, wo);
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  auto start = std::chrono::steady_clock::now();
  Result<std::optional<WatchEvent>> e = std::optional<WatchEvent>();
  for (int i = 0; i < 100; ++i) {
    e = (*w)->next(60s);
    if (!e.isOk() || !e->has_value()) break;
  }
  ASSERT_FALSE(e.isOk());
  EXPECT_EQ(e.status().code(), Code::kDeadlineExceeded) << e.status().toString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  // Past the deadline no request starts.
  for (int i = 0; i < 100 && bounded->context().remaining()->count() > 0; ++i)
    std::this_thread::sleep_for(20ms);
  uint64_t before = client_->requestCount();
  EXPECT_EQ(bounded->get(namespacesResource(), "", ns_).status().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(client_->requestCount(), before);
}

}  // namespace
}  // namespace herd::kube
