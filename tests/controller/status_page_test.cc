// The controller's status page against an API server as the seed (the fake, or a real one
// under HERD_KUBE_BIN): the pages, the data they are filled from, and what is kept out.
#include "controller/status_page.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "api/crd.h"
#include "common/process.h"
#include "common/yaml.h"
#include "kube/herd_resources.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"

namespace herd::controller {
namespace {

using nlohmann::json;

class StatusPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    server_ = std::move(*s);
    auto client = kube::Client::create(server_->adminConfig());
    ASSERT_TRUE(client.isOk());
    seed_ = std::move(*client);
    auto crd = parseDocuments(api::clusterCrdYaml());
    ASSERT_TRUE(crd.isOk() && crd->size() == 1);
    ASSERT_TRUE(seed_->create(kube::crdsResource(), "", (*crd)[0]).isOk());
    ASSERT_TRUE(testing::eventually(
        [&] { return seed_->resourceFor("herd.io/v1alpha1", "Cluster").isOk(); },
        std::chrono::seconds(10)));
    ops::Handlers handlers;
    handlers.metrics = [] { return std::string(); };
    handlers.ready = [] { return true; };
    addStatusPages(handlers, *seed_);
    auto ops = ops::startServer("127.0.0.1:0", std::move(handlers));
    ASSERT_TRUE(ops.isOk()) << ops.status().toString();
    ops_ = std::move(*ops);
  }

  // A Cluster with the status a running controller would have written.
  json createCluster(const std::string& name, const json& status) {
    json cluster = {{"apiVersion", "herd.io/v1alpha1"},
                    {"kind", "Cluster"},
                    {"metadata", {{"name", name}}},
                    {"spec", {{"version", "1.32"}}}};
    auto created = seed_->create(kube::clustersResource(), "", cluster);
    EXPECT_TRUE(created.isOk()) << created.status().toString();
    if (!created) return nullptr;
    json with = *created;
    with["status"] = status;
    auto updated = seed_->updateStatus(kube::clustersResource(), "", with);
    EXPECT_TRUE(updated.isOk()) << updated.status().toString();
    return updated ? *updated : json(nullptr);
  }

  void recordEvent(const json& cluster, const std::string& name, const std::string& reason,
                   const std::string& time) {
    json event = {{"apiVersion", "v1"},
                  {"kind", "Event"},
                  {"metadata", {{"name", name}, {"namespace", "default"}}},
                  {"involvedObject",
                   {{"apiVersion", "herd.io/v1alpha1"},
                    {"kind", "Cluster"},
                    {"name", cluster["metadata"]["name"]},
                    {"uid", cluster["metadata"]["uid"]}}},
                  {"reason", reason},
                  {"message", reason + " happened"},
                  {"type", "Normal"},
                  {"lastTimestamp", time}};
    ASSERT_TRUE(seed_->create(kube::coreEventsResource(), "default", event).isOk());
  }

  std::string get(const std::string& target) {
    return testing::httpOnLoopback(ops_->port(), target);
  }
  json getJson(const std::string& target, std::string* status_line = nullptr) {
    std::string response = get(target);
    if (status_line != nullptr) *status_line = testing::statusLineOf(response);
    return json::parse(testing::bodyOf(response), nullptr, false);
  }

  std::unique_ptr<testing::TestApiServer> server_;
  std::unique_ptr<kube::Client> seed_;
  std::unique_ptr<ops::Server> ops_;
};

TEST_F(StatusPageTest, OverviewListsEveryClusterWithItsHealthNodesAndPods) {
  createCluster("zeta", {{"phase", "Provisioning"}});
  createCluster(
      "alpha",
      {{"phase", "Running"},
       {"version", "1.32"},
       {"endpoint", "https://alpha.herd.localhost:443"},
       {"conditions", json::array({{{"type", "Ready"},
                                    {"status", "True"},
                                    {"reason", "Ready"},
                                    {"message", "serving"},
                                    {"lastTransitionTime", "2026-01-01T00:00:00Z"}}})},
       {"components", {{"etcd", {{"replicas", 3}, {"readyReplicas", 3}}},
                       {"apiServer", {{"replicas", 2}, {"readyReplicas", 1}, {"message", "rolling"}}}}},
       {"nodes", {{"total", 4}, {"ready", 3}}},
       {"pods", {{"total", 10}, {"ready", 7}, {"running", 8}, {"pending", 1}, {"failed", 1}}},
       {"apiServerHealth", {{"ready", false}, {"failing", json::array({"etcd"})}}}});

  std::string status_line;
  json data = getJson("/status/api/clusters", &status_line);
  EXPECT_EQ(status_line, "HTTP/1.1 200 OK");
  ASSERT_TRUE(data.is_object()) << data;
  ASSERT_EQ(data["clusters"].size(), 2u) << data;
  const json& alpha = data["clusters"][0];  // sorted by name
  EXPECT_EQ(alpha["name"], "alpha");
  EXPECT_EQ(data["clusters"][1]["name"], "zeta");
  EXPECT_EQ(alpha["phase"], "Running");
  EXPECT_EQ(alpha["ready"], "True");
  EXPECT_EQ(alpha["runningVersion"], "1.32");
  EXPECT_EQ(alpha["endpoint"], "https://alpha.herd.localhost:443");
  EXPECT_EQ(alpha["nodes"], json({{"total", 4}, {"ready", 3}}));
  EXPECT_EQ(alpha["pods"]["running"], 8);
  EXPECT_EQ(alpha["pods"]["succeeded"], 0);  // absent counts as none
  EXPECT_EQ(alpha["apiServerHealth"]["failing"], json::array({"etcd"}));
  ASSERT_EQ(alpha["components"].size(), 4u);
  EXPECT_EQ(alpha["components"][1],
            json({{"name", "kube-apiserver"}, {"desired", 2}, {"ready", 1}, {"message", "rolling"}}));
  // The defaulted spec (the seed's schema) gives the desired count of the rest.
  EXPECT_EQ(alpha["components"][2]["name"], "kube-controller-manager");
  EXPECT_TRUE(alpha["components"][2]["desired"].is_number_integer()) << alpha;
  EXPECT_EQ(alpha["components"][2]["ready"], 0);
  // A cluster the controller has not reached yet has no health and no counts.
  EXPECT_TRUE(data["clusters"][1]["apiServerHealth"].is_null());
  EXPECT_EQ(data["clusters"][1]["ready"], "Unknown");
}

TEST_F(StatusPageTest, ClusterPageHasConditionsAddonsAndOnlyItsOwnEventsOldestFirst) {
  json alpha = createCluster(
      "alpha", {{"phase", "Running"},
                {"gatewayPort", 17001},
                {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})},
                {"addons", {{"coreDNS", {{"enabled", true}, {"objects", 7}, {"message", "applied"}}}}}});
  json beta = createCluster("beta", {{"phase", "Running"}});
  recordEvent(alpha, "alpha.2", "Second", "2026-01-01T00:00:02Z");
  recordEvent(alpha, "alpha.1", "First", "2026-01-01T00:00:01Z");
  recordEvent(beta, "beta.1", "OfBeta", "2026-01-01T00:00:00Z");
  // An event about an earlier cluster of the same name is not this one's.
  json earlier = alpha;
  earlier["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000";
  recordEvent(earlier, "alpha.0", "OfAnEarlierAlpha", "2026-01-01T00:00:00Z");

  json data = getJson("/status/api/clusters/alpha");
  ASSERT_TRUE(data.is_object()) << data;
  EXPECT_EQ(data["name"], "alpha");
  EXPECT_EQ(data["gatewayPort"], 17001);
  ASSERT_EQ(data["conditions"].size(), 1u);
  EXPECT_EQ(data["conditions"][0]["type"], "Ready");
  ASSERT_EQ(data["addons"].size(), 4u);
  EXPECT_EQ(data["addons"][1], json({{"name", "coreDNS"}, {"enabled", true}, {"objects", 7},
                                     {"message", "applied"}}))
      << data["addons"];
  ASSERT_EQ(data["events"].size(), 2u) << data["events"];
  EXPECT_EQ(data["events"][0]["reason"], "First");
  EXPECT_EQ(data["events"][1]["reason"], "Second");
  EXPECT_EQ(data["events"][1]["message"], "Second happened");

  std::string status_line;
  json missing = getJson("/status/api/clusters/nope", &status_line);
  EXPECT_EQ(status_line, "HTTP/1.1 404 Not Found");
  EXPECT_NE(missing.value("error", "").find("nope"), std::string::npos) << missing;
  getJson("/status/api/clusters/a/b", &status_line);
  EXPECT_EQ(status_line, "HTTP/1.1 404 Not Found");
}

TEST_F(StatusPageTest, PagesAreServedFromTheBinaryAndTheScriptWritesTextOnly) {
  for (const char* page : {"/status/", "/status/clusters/alpha"}) {
    std::string html = get(page);
    EXPECT_EQ(testing::statusLineOf(html), "HTTP/1.1 200 OK") << page;
    EXPECT_NE(html.find("Content-Type: text/html"), std::string::npos) << html;
    EXPECT_NE(html.find("<script src=\"/status/app.js\">"), std::string::npos);
    EXPECT_EQ(html.find("http://"), std::string::npos) << "no outside resources";
    EXPECT_EQ(html.find("https://"), std::string::npos) << "no outside resources";
  }
  std::string css = get("/status/app.css");
  EXPECT_NE(css.find("Content-Type: text/css"), std::string::npos);
  std::string js = get("/status/app.js");
  EXPECT_NE(js.find("Content-Type: text/javascript"), std::string::npos);
  std::string script = testing::bodyOf(js);
  EXPECT_NE(script.find("/status/api/clusters"), std::string::npos);
  // Values reach the page as text: nothing assigns markup.
  EXPECT_EQ(script.find("innerHTML"), std::string::npos);
  EXPECT_EQ(script.find("outerHTML"), std::string::npos);
  EXPECT_EQ(script.find("insertAdjacentHTML"), std::string::npos);
  EXPECT_EQ(script.find("document.write"), std::string::npos);
}

TEST_F(StatusPageTest, TheScriptParses) {
  const char* node = nullptr;
  for (const char* candidate : {"/usr/bin/node", "/usr/local/bin/node", "/usr/bin/nodejs"})
    if (::access(candidate, X_OK) == 0) node = candidate;
  if (node == nullptr) GTEST_SKIP() << "no Node.js on this machine to parse the page's script";
  testing::TempDir dir;
  std::string path = dir.write("app.js", testing::bodyOf(get("/status/app.js")));
  auto r = runCommand({node, "--check", path}, {}, std::chrono::seconds(30));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->exit_code, 0) << r->err;
}

}  // namespace
}  // namespace herd::controller
