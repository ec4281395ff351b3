// The informer's cache must end equal to the server's state, whatever happens to its
// watches: drops, 410 after compaction, 429 and 500 answers.
#include "kube/informer.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "fake_apiserver.h"
#include "support/test_apiserver.h"

namespace herd::kube {
namespace {

using namespace std::chrono_literals;

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    server_ = std::move(*s);
    auto c = Client::create(server_->adminConfig(), RetryPolicy{8, 10ms, 200ms});
    ASSERT_TRUE(c.isOk());
    client_ = std::move(*c);
    ASSERT_TRUE(
        client_
            ->create(namespacesResource(), "",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}})
            .isOk());
  }

  InformerOptions options() {
    InformerOptions o;
    o.resource = configMapsResource();
    o.ns = ns_;
    o.label_selector = "app=inf";
    o.page_size = 7;
    o.backoff_initial = 10ms;
    o.backoff_max = 200ms;
    o.idle_timeout = 30s;
    return o;
  }

  Status put(const std::string& name, const std::string& value) {
    json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", {{"name", name}, {"labels", {{"app", "inf"}}}}},
               {"data", {{"v", value}}}};
    auto got = client_->get(configMapsResource(), ns_, name);
    if (got) {
      cm["metadata"]["resourceVersion"] = (*got)["metadata"]["resourceVersion"];
      return client_->update(configMapsResource(), ns_, cm).status();
    }
    return client_->create(configMapsResource(), ns_, cm).status();
  }

  // name -> resourceVersion, as the server has it.
  std::map<std::string, std::string> serverState() {
    ListOptions lo;
    lo.label_selector = "app=inf";
    auto all = client_->listAll(configMapsResource(), ns_, lo);
    EXPECT_TRUE(all.isOk());
    std::map<std::string, std::string> out;
    for (const auto& item : (*all)["items"])
      out[item["metadata"]["name"]] = item["metadata"]["resourceVersion"];
    return out;
  }

  std::map<std::string, std::string> cacheState(const Informer& inf) {
    std::map<std::string, std::string> out;
    for (const auto& item : inf.list())
      out[item["metadata"]["name"]] = item["metadata"]["resourceVersion"];
    return out;
  }

  // Waits (bounded) for the cache to match the server.
  bool converges(const Informer& inf) {
    auto want = serverState();
    for (int i = 0; i < 500; ++i) {
      if (cacheState(inf) == want) return true;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "cache " << ::testing::PrintToString(cacheState(inf)) << " server "
                  << ::testing::PrintToString(want);
    return false;
  }

  std::unique_ptr<testing::TestApiServer> server_;
  std::unique_ptr<Client> client_;
  std::string ns_ = "informer-test";
};

TEST_F(InformerTest, ListsThenFollowsWithHandlersAndIndexes) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(put("cm-" + std::to_string(i), "0").isOk());
  Informer inf(*client_, options());
  std::atomic<int> adds{0}, updates{0}, deletes{0};
  inf.addHandler({[&](const json&) { adds++; }, [&](const json&, const json&) { updates++; },
                  [&](const json&) { deletes++; }});
  inf.addIndex("labels", labelIndex());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  EXPECT_EQ(inf.size(), 20u);
  EXPECT_EQ(adds.load(), 20);
  ASSERT_TRUE(put("cm-3", "1").isOk());
  ASSERT_TRUE(client_->remove(configMapsResource(), ns_, "cm-4").isOk());
  ASSERT_TRUE(put("cm-new", "0").isOk());
  ASSERT_TRUE(converges(inf));
  EXPECT_EQ(updates.load(), 1);
  EXPECT_EQ(deletes.load(), 1);
  EXPECT_EQ(adds.load(), 21);
  EXPECT_EQ(inf.byIndex("labels", "app=inf").size(), 20u);
  EXPECT_EQ((*inf.get(ns_ + "/cm-3"))["data"]["v"], "1");
  EXPECT_EQ(inf.stats().lists, 1u);
  inf.stop();
}

TEST_F(InformerTest, TransformTrimsWhatIsCachedAndHandedToHandlers) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(put("cm-" + std::to_string(i), "0").isOk());
  InformerOptions o = options();
  o.transform = keepOnlyMetadata;
  Informer inf(*client_, o);
  std::mutex mu;
  std::vector<json> seen;  // every object the handlers got, listed and watched
  auto keep = [&](const json& object) {
    std::lock_guard lock(mu);
    seen.push_back(object);
  };
  inf.addHandler({keep, [&](const json&, const json& now) { keep(now); }, keep});
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  ASSERT_TRUE(put("cm-1", "1").isOk());
  ASSERT_TRUE(put("cm-new", "0").isOk());
  ASSERT_TRUE(client_->remove(configMapsResource(), ns_, "cm-2").isOk());
  ASSERT_TRUE(converges(inf));
  // Updated objects are told apart by resourceVersion still, and found by key.
  auto cm1 = inf.get(ns_ + "/cm-1");
  ASSERT_TRUE(cm1.has_value());
  EXPECT_FALSE(cm1->contains("data"));
  EXPECT_EQ((*cm1)["metadata"]["labels"]["app"], "inf");
  EXPECT_FALSE((*cm1)["metadata"].contains("managedFields"));
  EXPECT_FALSE((*cm1)["metadata"].contains("creationTimestamp"));
  EXPECT_TRUE(inf.contains(ns_ + "/cm-new"));
  EXPECT_FALSE(inf.contains(ns_ + "/cm-2"));
  size_t visited = 0;
  inf.forEach([&](const json& object) {
    ++visited;
    EXPECT_FALSE(object.contains("data"));
  });
  EXPECT_EQ(visited, 5u);
  inf.stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), 8u);  // 5 listed, an update, an add, a delete
  for (const auto& object : seen) {
    EXPECT_FALSE(object.contains("data")) << object.dump();
    EXPECT_FALSE(object["metadata"].value("name", "").empty());
  }
}

TEST(InformerTransformTest, StripManagedFieldsKeepsTheRest) {
  json object = {{"kind", "ConfigMap"},
                 {"metadata",
                  {{"name", "a"}, {"resourceVersion", "7"}, {"managedFields", json::array({1})}}},
                 {"data", {{"k", "v"}}}};
  stripManagedFields(object);
  EXPECT_EQ(object, (json{{"kind", "ConfigMap"},
                          {"metadata", {{"name", "a"}, {"resourceVersion", "7"}}},
                          {"data", {{"k", "v"}}}}));
}

TEST_F(InformerTest, SurvivesDroppedWatchesWithoutRelisting) {
  if (!server_->isFake()) GTEST_SKIP() << "fault injection needs the fake apiserver";
  Informer inf(*client_, options());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  for (int round = 0; round < 10; ++round) {
    ASSERT_TRUE(put("d-" + std::to_string(round % 4), std::to_string(round)).isOk());
    // The write reaching the cache proves a watch is open: the drop then always cuts one
    // (a drop before the informer's watch arrives would cut nothing).
    ASSERT_TRUE(converges(inf)) << "round " << round;
    server_->fake()->dropWatches();
    ASSERT_TRUE(put("e-" + std::to_string(round), "x").isOk());
  }
  ASSERT_TRUE(converges(inf));
  EXPECT_EQ(inf.stats().lists, 1u);  // resumed from its resourceVersion each time
  EXPECT_GE(inf.stats().watches, 11u);
  inf.stop();
}

TEST_F(InformerTest, RelistsAfterGoneAndKeepsDeletesSeenOnlyByTheList) {
  if (!server_->isFake()) GTEST_SKIP() << "fault injection needs the fake apiserver";
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(put("g-" + std::to_string(i), "0").isOk());
  Informer inf(*client_, options());
  std::atomic<int> deletes{0};
  inf.addHandler({nullptr, nullptr, [&](const json&) { deletes++; }});
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  inf.stop();  // offline while the world changes and history is compacted
  ASSERT_TRUE(client_->remove(configMapsResource(), ns_, "g-0").isOk());
  ASSERT_TRUE(put("g-1", "changed").isOk());
  ASSERT_TRUE(put("g-9", "new").isOk());
  server_->fake()->compactHistory();
  inf.start();
  ASSERT_TRUE(converges(inf));
  EXPECT_EQ(inf.stats().lists, 2u);  // 410 Gone made it list again
  EXPECT_EQ(deletes.load(), 1);      // the delete it missed was found by comparing
  inf.stop();
}

TEST_F(InformerTest, RidesOutServerErrors) {
  if (!server_->isFake()) GTEST_SKIP() << "fault injection needs the fake apiserver";
  Informer inf(*client_, options());
  server_->fake()->failNextRequests(3, 429, 0);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(20s));
  for (int i = 0; i < 5; ++i) {
    server_->fake()->failNextRequests(2, 500, 0);
    server_->fake()->dropWatches();
    // The writes themselves may meet the injected errors; the client retries them.
    ASSERT_TRUE(put("s-" + std::to_string(i), "v").isOk());
  }
  ASSERT_TRUE(converges(inf));
  inf.stop();
}

TEST_F(InformerTest, ResumesWhenTheServerEndsTheWatch) {
  auto o = options();
  o.watch_timeout_min = 1s;  // the server closes each watch after 1-2 s
  Informer inf(*client_, o);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  for (int i = 0; i < 40 && inf.stats().watches < 3; ++i) {
    ASSERT_TRUE(put("t-" + std::to_string(i % 3), std::to_string(i)).isOk());
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(inf.stats().watches, 3u);
  EXPECT_EQ(inf.stats().lists, 1u);
  ASSERT_TRUE(converges(inf));
  inf.stop();
}

TEST_F(InformerTest, OwnerIndex) {
  Informer inf(*client_, options());
  inf.addIndex("owner", ownerIndex());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  ASSERT_TRUE(put("owner", "0").isOk());
  auto owner = client_->get(configMapsResource(), ns_, "owner");
  ASSERT_TRUE(owner.isOk());
  std::string uid = (*owner)["metadata"]["uid"];
  for (const char* name : {"dep-1", "dep-2"}) {
    json cm = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata",
                {{"name", name},
                 {"labels", {{"app", "inf"}}},
                 {"ownerReferences", json::array({{{"apiVersion", "v1"},
                                                   {"kind", "ConfigMap"},
                                                   {"name", "owner"},
                                                   {"uid", uid}}})}}}};
    ASSERT_TRUE(client_->create(configMapsResource(), ns_, cm).isOk());
  }
  ASSERT_TRUE(converges(inf));
  EXPECT_EQ(inf.byIndex("owner", uid).size(), 2u);
  EXPECT_TRUE(inf.byIndex("owner", "no-such-uid").empty());
  inf.stop();
}

TEST(InformerBookmarkTest, BookmarksAdvanceTheResourceVersionWithoutEvents) {
  testing::TestApiServerOptions so;
  so.bookmark_interval = 100ms;
  auto s = testing::TestApiServer::start(so);
  ASSERT_TRUE(s.isOk());
  if (!(*s)->isFake()) GTEST_SKIP() << "a real server sends bookmarks about once a minute";
  auto c = Client::create((*s)->adminConfig());
  ASSERT_TRUE(c.isOk());
  for (const char* ns : {"watched", "elsewhere"}) {
    ASSERT_TRUE(
        (*c)->create(namespacesResource(), "",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
            .isOk());
  }
  InformerOptions o;
  o.resource = configMapsResource();
  o.ns = "watched";
  Informer inf(**c, o);
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  std::string synced_rv = inf.lastResourceVersion();
  // Writes elsewhere move the server's resourceVersion; only bookmarks can tell the informer.
  ASSERT_TRUE(
      (*c)->create(configMapsResource(), "elsewhere",
                   {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "x"}}}})
          .isOk());
  for (int i = 0; i < 100 && inf.stats().bookmarks == 0; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GT(inf.stats().bookmarks, 0u);
  for (int i = 0; i < 100 && inf.lastResourceVersion() == synced_rv; ++i)
    std::this_thread::sleep_for(20ms);
  EXPECT_GT(std::stoull(inf.lastResourceVersion()), std::stoull(synced_rv));
  EXPECT_EQ(inf.stats().events, 0u);
  inf.stop();
}

TEST_F(InformerTest, StopIsPromptWhileWatching) {
  Informer inf(*client_, options());
  inf.start();
  ASSERT_TRUE(inf.waitForSync(10s));
  std::this_thread::sleep_for(50ms);  // let the watch open
  auto t0 = std::chrono::steady_clock::now();
  inf.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

}  // namespace
}  // namespace herd::kube
