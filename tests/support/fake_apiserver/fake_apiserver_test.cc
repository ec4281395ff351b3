// Behaviour of the fake apiserver on the points herd relies on, each checked against what the
// recordings in ../shared/kubernetes show.
#include <thread>

#include "test_fixture.h"

namespace herd::fake::testing {
namespace {

std::vector<Json> watchEvents(const std::string& body) {
  std::vector<Json> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    if (nl == std::string::npos) break;
    out.push_back(Json::parse(body.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  return out;
}

TEST_F(FakeApiServerTest, AuthenticationFailuresAre401AndAnonymousIs403) {
  Response bad_token = tokenUser("nope").get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(bad_token.status, 401);
  EXPECT_EQ(
      bad_token.body,
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})");
  EXPECT_EQ(bad_token.header("x-kubernetes-pf-flowschema-uid"), "");

  auto other_ca = FakeApiServer::start({});
  ASSERT_TRUE(other_ca.isOk());
  Client stranger(server_->port(),
                  {server_->caPem(), (*other_ca)->adminCertPem(), (*other_ca)->adminKeyPem(), ""});
  EXPECT_EQ(stranger.get("/api/v1/namespaces").status, 401);

  Response anon = anonymous().get("/api/v1/namespaces/default/configmaps");
  EXPECT_EQ(anon.status, 403);
  EXPECT_EQ(json(anon)["message"],
            "configmaps is forbidden: User \"system:anonymous\" cannot list resource "
            "\"configmaps\" in API group \"\" in "
            "the namespace \"default\"");
  EXPECT_EQ(anonymous().get("/version").status, 200);
  EXPECT_EQ(anonymous().get("/readyz").status, 200);
  Response apis = anonymous().get("/apis");
  EXPECT_EQ(apis.status, 403);
  EXPECT_EQ(json(apis)["message"],
            "forbidden: User \"system:anonymous\" cannot get path \"/apis\"");

  Response limited = tokenUser().get("/api/v1/namespaces/default/configmaps/x");
  EXPECT_EQ(limited.status, 403);
  EXPECT_EQ(json(limited)["details"], Json::parse(R"({"name":"x","kind":"configmaps"})"));
  EXPECT_EQ(tokenUser().get("/apis").status, 200);
  Response create_ns =
      tokenUser().request("POST", "/api/v1/namespaces",
                          R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}})");
  EXPECT_EQ(json(create_ns)["message"],
            "namespaces is forbidden: User \"limited-user\" cannot create resource \"namespaces\" "
            "in API group \"\" at the cluster scope");
}

TEST_F(FakeApiServerTest, AllowRulesGrantVerbs) {
  FakeApiServerOptions options;
  options.allow.push_back({"limited-user", "list", "configmaps", "default"});
  startServer(options);
  EXPECT_EQ(tokenUser().get("/api/v1/namespaces/default/configmaps").status, 200);
  EXPECT_EQ(tokenUser().get("/api/v1/namespaces/kube-system/configmaps").status, 403);
}

TEST_F(FakeApiServerTest, DiscoveryAndUnknownPaths) {
  Response api = get("/api");
  EXPECT_EQ(api.status, 200);
  EXPECT_EQ(json(api)["kind"], "APIVersions");
  Response agg = admin().request(
      "GET", "/apis", "",
      {{"Accept",
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"}});
  EXPECT_EQ(agg.header("content-type"),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(agg.header("vary"), "Accept");
  EXPECT_EQ(json(agg)["kind"], "APIGroupDiscoveryList");
  EXPECT_TRUE(agg.chunked) << "large bodies are chunked";
  EXPECT_EQ(json(get("/apis/apps/v1"))["groupVersion"], "apps/v1");
  Response missing = get("/apis/nosuchgroup/v1");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "404 page not found\n");
  EXPECT_EQ(missing.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(get("/nonsense").body, "404 page not found\n");
  EXPECT_EQ(json(get("/version"))["minor"], "32");
}

TEST_F(FakeApiServerTest, CreateConflictNotFoundAndNamespaceRules) {
  createNamespace("ref-demo");
  Json ns = json(get("/api/v1/namespaces/ref-demo"));
  EXPECT_EQ(ns["kind"], "Namespace");
  EXPECT_EQ(ns["spec"]["finalizers"][0], "kubernetes");
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_EQ(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "ref-demo");
  EXPECT_EQ(ns["metadata"]["managedFields"][0]["manager"], "curl");

  Response again =
      post("/api/v1/namespaces",
           {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "ref-demo"}}}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(json(again)["reason"], "AlreadyExists");
  EXPECT_EQ(json(get("/api/v1/namespaces/missing"))["reason"], "NotFound");
  Response in_missing = createConfigMap("ref-missing", {{"name", "x"}});
  EXPECT_EQ(in_missing.status, 404);
  EXPECT_EQ(json(in_missing)["message"], "namespaces \"ref-missing\" not found");
  Response bad_name = createConfigMap("ref-demo", {{"name", "Invalid_Name!"}});
  EXPECT_EQ(bad_name.status, 422);
  EXPECT_EQ(json(bad_name)["details"]["causes"][0]["field"], "metadata.name");
}

TEST_F(FakeApiServerTest, UpdateConflictsAndResourceVersions) {
  createNamespace("ref-demo");
  Json cm = json(createConfigMap("ref-demo", {{"name", "cm"}}, {{"color", "blue"}}));
  std::string rv = cm["metadata"]["resourceVersion"];
  cm["data"]["color"] = "green";
  Response ok = put("/api/v1/namespaces/ref-demo/configmaps/cm", cm);
  ASSERT_EQ(ok.status, 200);
  EXPECT_GT(std::stoull(json(ok)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoull(rv));
  Response stale = put("/api/v1/namespaces/ref-demo/configmaps/cm", cm);
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(json(stale)["reason"], "Conflict");
  cm["metadata"].erase("resourceVersion");
  EXPECT_EQ(put("/api/v1/namespaces/ref-demo/configmaps/cm", cm).status, 200);
  EXPECT_EQ(put("/api/v1/namespaces/ref-demo/configmaps/other", cm).status, 400);
  cm["metadata"]["name"] = "missing";
  EXPECT_EQ(put("/api/v1/namespaces/ref-demo/configmaps/missing", cm).status, 404);
}

TEST_F(FakeApiServerTest, SelectorsAndPagination) {
  createNamespace("ref-list");
  for (const char* n : {"cm-a", "cm-b", "cm-c"}) {
    ASSERT_EQ(createConfigMap(
                  "ref-list",
                  {{"name", n}, {"labels", {{"tier", std::string(n) == "cm-c" ? "db" : "web"}}}})
                  .status,
              201);
  }
  Json page1 = json(get("/api/v1/namespaces/ref-list/configmaps?limit=1"));
  ASSERT_EQ(page1["items"].size(), 1u);
  // kube-root-ca.crt, published in every namespace, is the fourth.
  EXPECT_EQ(page1["metadata"]["remainingItemCount"], 3);
  EXPECT_FALSE(page1["items"][0].contains("kind"));
  std::string token = page1["metadata"]["continue"];
  Json page2 = json(get("/api/v1/namespaces/ref-list/configmaps?limit=1&continue=" + token));
  EXPECT_EQ(page2["items"][0]["metadata"]["name"], "cm-b");
  EXPECT_EQ(page2["metadata"]["remainingItemCount"], 2);
  Json page3 = json(get("/api/v1/namespaces/ref-list/configmaps?limit=2&continue=" +
                        std::string(page2["metadata"]["continue"])));
  EXPECT_FALSE(page3["metadata"].contains("continue"));
  EXPECT_EQ(get("/api/v1/namespaces/ref-list/configmaps?limit=1&continue=garbage").status, 400);

  auto names = [&](const std::string& query) {
    std::vector<std::string> out;
    Json list = json(get("/api/v1/namespaces/ref-list/configmaps?" + query));
    for (const auto& item : list["items"]) {
      if (item["metadata"]["name"] != "kube-root-ca.crt") out.push_back(item["metadata"]["name"]);
    }
    return out;
  };
  EXPECT_EQ(names("labelSelector=tier%3Dweb"), (std::vector<std::string>{"cm-a", "cm-b"}));
  EXPECT_EQ(names("labelSelector=tier%3D%3Ddb"), (std::vector<std::string>{"cm-c"}));
  EXPECT_EQ(names("labelSelector=tier!%3Dweb"), (std::vector<std::string>{"cm-c"}));
  EXPECT_EQ(names("labelSelector=tier%20in%20(db,x)"), (std::vector<std::string>{"cm-c"}));
  EXPECT_EQ(names("labelSelector=tier%20notin%20(db)"), (std::vector<std::string>{"cm-a", "cm-b"}));
  EXPECT_EQ(names("labelSelector=tier").size(), 3u);
  EXPECT_EQ(names("labelSelector=!tier").size(), 0u);
  EXPECT_EQ(names("fieldSelector=metadata.name%3Dcm-b"), (std::vector<std::string>{"cm-b"}));
  EXPECT_EQ(names("fieldSelector=metadata.name!%3Dcm-b").size(), 2u);
  EXPECT_EQ(get("/api/v1/namespaces/ref-list/configmaps?fieldSelector=data.x%3Dy").status, 400);
  Json limited =
      json(get("/api/v1/namespaces/ref-list/configmaps?limit=1&labelSelector=tier%3Dweb"));
  EXPECT_TRUE(limited["metadata"].contains("continue"));
  EXPECT_FALSE(limited["metadata"].contains("remainingItemCount"));
}

TEST_F(FakeApiServerTest, PatchTypes) {
  createNamespace("ref-demo");
  ASSERT_EQ(createConfigMap("ref-demo", {{"name", "cm"}},
                            {{"keep", "yes"}, {"change", "old"}, {"drop", "x"}})
                .status,
            201);
  Response merge =
      patch("/api/v1/namespaces/ref-demo/configmaps/cm", "application/merge-patch+json",
            R"({"data":{"change":"new","drop":null}})");
  ASSERT_EQ(merge.status, 200);
  EXPECT_EQ(json(merge)["data"], Json::parse(R"({"keep":"yes","change":"new"})"));
  Response jp = patch(
      "/api/v1/namespaces/ref-demo/configmaps/cm", "application/json-patch+json",
      R"([{"op":"test","path":"/data/change","value":"new"},{"op":"add","path":"/data/added","value":"1"}])");
  EXPECT_EQ(jp.status, 200);
  Response failed =
      patch("/api/v1/namespaces/ref-demo/configmaps/cm", "application/json-patch+json",
            R"([{"op":"test","path":"/data/change","value":"WRONG"}])");
  EXPECT_EQ(failed.status, 422);
  EXPECT_EQ(json(failed)["reason"], "Invalid");
  EXPECT_EQ(patch("/api/v1/namespaces/ref-demo/configmaps/cm", "application/json", "{}").status,
            415);

  Json deploy = Json::parse(
      R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,
    "selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
    {"name":"app","image":"a:1"},{"name":"sidecar","image":"s:1"}]}}}})");
  Response created = post("/apis/apps/v1/namespaces/ref-demo/deployments", deploy);
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(json(created)["spec"]["strategy"]["type"], "RollingUpdate");
  EXPECT_EQ(json(created)["metadata"]["generation"], 1);
  Response smp = patch(
      "/apis/apps/v1/namespaces/ref-demo/deployments/web", "application/strategic-merge-patch+json",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"app","image":"a:2"}]}}}})");
  ASSERT_EQ(smp.status, 200);
  Json containers = json(smp)["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0]["image"], "a:2");
  EXPECT_EQ(json(smp)["metadata"]["generation"], 2);
  Response del_sidecar = patch(
      "/apis/apps/v1/namespaces/ref-demo/deployments/web", "application/strategic-merge-patch+json",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}})");
  EXPECT_EQ(json(del_sidecar)["spec"]["template"]["spec"]["containers"].size(), 1u);
}

TEST_F(FakeApiServerTest, ServerSideApplyConflictsAndForce) {
  createNamespace("ref-demo");
  const std::string path = "/api/v1/namespaces/ref-demo/configmaps/cm-ssa";
  const std::string type = "application/apply-patch+yaml";
  Response created = patch(
      path + "?fieldManager=herd", type,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-ssa\ndata:\n  a: one\n  b: two\n");
  ASSERT_EQ(created.status, 201) << created.body;
  Json mf = json(created)["metadata"]["managedFields"];
  EXPECT_EQ(mf[0]["manager"], "herd");
  EXPECT_EQ(mf[0]["operation"], "Apply");
  std::string rv = json(created)["metadata"]["resourceVersion"];
  Response noop = patch(
      path + "?fieldManager=herd", type,
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-ssa\ndata:\n  a: one\n  b: two\n");
  EXPECT_EQ(noop.status, 200);
  EXPECT_EQ(json(noop)["metadata"]["resourceVersion"], rv);

  Response conflict =
      patch(path + "?fieldManager=other-manager", type,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-ssa\ndata:\n  a: changed\n");
  EXPECT_EQ(conflict.status, 409);
  Json status = json(conflict);
  EXPECT_EQ(status["message"], "Apply failed with 1 conflict: conflict with \"herd\": .data.a");
  EXPECT_EQ(
      status["details"]["causes"][0],
      Json::parse(
          R"({"reason":"FieldManagerConflict","message":"conflict with \"herd\"","field":".data.a"})"));

  Response forced =
      patch(path + "?fieldManager=other-manager&force=true", type,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-ssa\ndata:\n  a: changed\n");
  ASSERT_EQ(forced.status, 200);
  EXPECT_EQ(json(forced)["data"]["a"], "changed");
  Json after = json(forced)["metadata"]["managedFields"];
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0]["fieldsV1"], Json::parse(R"({"f:data":{"f:b":{}}})"));
  EXPECT_EQ(after[1]["manager"], "other-manager");

  // herd stops applying b: it goes, since nobody else owns it.
  Response dropped = patch(path + "?fieldManager=herd", type,
                           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-ssa\n");
  EXPECT_EQ(json(dropped)["data"], Json::parse(R"({"a":"changed"})"));
  Response missing_manager =
      patch(path, type, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-ssa\n");
  EXPECT_EQ(missing_manager.status, 422);
}

TEST_F(FakeApiServerTest, FinalizersBlockDeletionUntilRemoved) {
  createNamespace("ref-demo");
  const std::string path = "/api/v1/namespaces/ref-demo/configmaps/cm-final";
  ASSERT_EQ(
      createConfigMap("ref-demo", {{"name", "cm-final"}, {"finalizers", {"herd.io/hold"}}}).status,
      201);
  Response deleting = del(path);
  ASSERT_EQ(deleting.status, 200);
  EXPECT_TRUE(json(deleting)["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(json(deleting)["metadata"]["deletionGracePeriodSeconds"], 0);
  EXPECT_EQ(get(path).status, 200);
  Response add = patch(path, "application/merge-patch+json",
                       R"({"metadata":{"finalizers":["herd.io/hold","herd.io/another"]}})");
  EXPECT_EQ(add.status, 422);
  EXPECT_EQ(
      patch(path, "application/merge-patch+json", R"({"metadata":{"finalizers":null}})").status,
      200);
  EXPECT_EQ(get(path).status, 404);

  ASSERT_EQ(createConfigMap("ref-demo", {{"name", "plain"}}).status, 201);
  Response bad_uid = del("/api/v1/namespaces/ref-demo/configmaps/plain",
                         R"({"preconditions":{"uid":"00000000-0000-0000-0000-000000000000"}})");
  EXPECT_EQ(bad_uid.status, 409);
  Response gone = del("/api/v1/namespaces/ref-demo/configmaps/plain");
  EXPECT_EQ(json(gone)["status"], "Success");
  EXPECT_EQ(json(gone)["details"]["name"], "plain");
}

TEST_F(FakeApiServerTest, GarbageCollectionBackgroundForegroundOrphan) {
  createNamespace("ref-gc");
  auto owner = [&](const std::string& name) {
    return json(createConfigMap("ref-gc", {{"name", name}}))["metadata"]["uid"].get<std::string>();
  };
  auto dependent = [&](const std::string& name, const std::string& owner_name,
                       const std::string& uid, Json extra = Json::object()) {
    Json meta = {{"name", name},
                 {"ownerReferences", Json::array({{{"apiVersion", "v1"},
                                                   {"kind", "ConfigMap"},
                                                   {"name", owner_name},
                                                   {"uid", uid},
                                                   {"controller", true},
                                                   {"blockOwnerDeletion", true}}})}};
    for (auto& [k, v] : extra.items()) meta[k] = v;
    ASSERT_EQ(createConfigMap("ref-gc", meta).status, 201);
  };
  const std::string base = "/api/v1/namespaces/ref-gc/configmaps/";

  dependent("dep-bg", "owner-bg", owner("owner-bg"));
  EXPECT_EQ(json(del(base + "owner-bg"))["status"], "Success");
  EXPECT_TRUE(waitForStatus(base + "dep-bg", 404));

  dependent("dep-fg", "owner-fg", owner("owner-fg"), {{"finalizers", {"herd.io/hold"}}});
  Response fg = del(base + "owner-fg?propagationPolicy=Foreground");
  ASSERT_EQ(fg.status, 200);
  EXPECT_EQ(json(fg)["metadata"]["finalizers"], Json::parse(R"(["foregroundDeletion"])"));
  // The garbage collector deletes the dependent first; its finalizer holds it, and the owner.
  EXPECT_TRUE(waitUntil(
      [&] { return json(get(base + "dep-fg"))["metadata"].contains("deletionTimestamp"); }));
  EXPECT_EQ(get(base + "owner-fg").status, 200) << "foreground deletion waits for the dependent";
  ASSERT_EQ(
      patch(base + "dep-fg", "application/merge-patch+json", R"({"metadata":{"finalizers":null}})")
          .status,
      200);
  EXPECT_TRUE(waitForStatus(base + "owner-fg", 404));

  dependent("dep-or", "owner-or", owner("owner-or"));
  EXPECT_EQ(del(base + "owner-or?propagationPolicy=Orphan").status, 200);
  EXPECT_TRUE(waitForStatus(base + "owner-or", 404));
  Json kept = json(get(base + "dep-or"));
  EXPECT_FALSE(kept["metadata"].contains("ownerReferences"));

  dependent("dep-dangling", "nobody", "11111111-2222-3333-4444-555555555555");
  EXPECT_TRUE(waitForStatus(base + "dep-dangling", 404));
}

TEST_F(FakeApiServerTest, NamespaceDeletionTerminatesThenGoes) {
  createNamespace("ref-gone");
  ASSERT_EQ(createConfigMap("ref-gone", {{"name", "a"}}).status, 201);
  Response deleting = del("/api/v1/namespaces/ref-gone");
  EXPECT_EQ(json(deleting)["status"]["phase"], "Terminating");
  EXPECT_TRUE(waitForStatus("/api/v1/namespaces/ref-gone", 404));
}

TEST_F(FakeApiServerTest, WatchEventsBookmarksAndGone) {
  FakeApiServerOptions options;
  options.bookmark_interval = std::chrono::milliseconds(300);
  options.history_limit = 5;
  startServer(options);
  createNamespace("ref-watch");
  std::string rv =
      json(get("/api/v1/namespaces/ref-watch/configmaps"))["metadata"]["resourceVersion"];
  // Ends itself once a bookmark has passed the deletion; the writes may come before or after
  // the watch is set up, since it starts from `rv`.
  WatchRecorder watch(admin(),
                      "/api/v1/namespaces/ref-watch/"
                      "configmaps?watch=1&allowWatchBookmarks=true&timeoutSeconds=60&"
                      "resourceVersion=" +
                          rv,
                      [](const WatchRecorder::Events& events) {
                        return eventTypes(events).size() == 3 &&
                               events.back().value("type", "") == "BOOKMARK";
                      });
  ASSERT_EQ(createConfigMap("ref-watch", {{"name", "w"}}, {{"step", "1"}}).status, 201);
  ASSERT_EQ(patch("/api/v1/namespaces/ref-watch/configmaps/w", "application/merge-patch+json",
                  R"({"data":{"step":"2"}})")
                .status,
            200);
  Response deleted = del("/api/v1/namespaces/ref-watch/configmaps/w");
  ASSERT_EQ(deleted.status, 200);
  const Response& watched = watch.join();
  EXPECT_EQ(watched.status, 200);
  EXPECT_TRUE(watched.chunked);
  auto events = watch.events();
  EXPECT_EQ(eventTypes(events), (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}))
      << watched.body;
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["type"], "BOOKMARK");
  EXPECT_EQ(events.back()["object"]["metadata"]["creationTimestamp"], nullptr);
  EXPECT_GE(
      std::stoull(events.back()["object"]["metadata"]["resourceVersion"].get<std::string>()),
      std::stoull(
          events[events.size() - 2]["object"]["metadata"]["resourceVersion"].get<std::string>()));

  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(createConfigMap("ref-watch", {{"name", "x" + std::to_string(i)}}).status, 201);
  Response old =
      admin().get("/api/v1/namespaces/ref-watch/configmaps?watch=1&resourceVersion=" + rv);
  EXPECT_EQ(old.status, 200);
  auto error = watchEvents(old.body);
  ASSERT_EQ(error.size(), 1u);
  EXPECT_EQ(error[0]["type"], "ERROR");
  EXPECT_EQ(error[0]["object"]["code"], 410);
  EXPECT_EQ(error[0]["object"]["reason"], "Expired");
  Response exact = get(
      "/api/v1/namespaces/ref-watch/configmaps?resourceVersionMatch=Exact&resourceVersion=" + rv);
  EXPECT_EQ(exact.status, 410);
}

TEST_F(FakeApiServerTest, FaultInjection) {
  server_->failNextRequests(2, 429, 3);
  Response first = get("/api/v1/namespaces");
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.header("retry-after"), "3");
  EXPECT_EQ(get("/api/v1/namespaces").status, 429);
  EXPECT_EQ(get("/api/v1/namespaces").status, 200);
  server_->failNextRequests(1, 500);
  EXPECT_EQ(json(get("/api/v1/namespaces"))["reason"], "InternalError");

  // The watch would last 100 s; dropping it must end it long before. Dropping only once the
  // server has answered makes sure the watch exists to be dropped.
  WatchRecorder watch(admin(), "/api/v1/namespaces?watch=1&timeoutSeconds=100&resourceVersion=" +
                                   std::to_string(server_->resourceVersion()));
  ASSERT_TRUE(watch.waitEstablished());
  auto start = std::chrono::steady_clock::now();
  server_->dropWatches();
  const Response& dropped = watch.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(50));
  EXPECT_EQ(dropped.status, 200);
  EXPECT_TRUE(dropped.ended) << "the server ends a dropped watch with the last chunk";

  uint64_t rv = server_->resourceVersion();
  createNamespace("after");
  server_->compactHistory();
  Response gone = admin().get("/api/v1/namespaces?watch=1&resourceVersion=" + std::to_string(rv));
  EXPECT_NE(gone.body.find("\"code\":410"), std::string::npos);

  server_->setLatency(std::chrono::milliseconds(200));
  auto t0 = std::chrono::steady_clock::now();
  get("/version");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  server_->setLatency(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace herd::fake::testing
