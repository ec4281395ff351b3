// The Storage contract, held by both implementations (MemoryStorage, and EtcdStorage on a
// real etcd), then what only the etcd one has: kube-apiserver's key layout, two storages on
// one etcd sharing objects and changes, a reopened one finding its objects, compaction of
// etcd itself, and an etcd that does not answer.
#include "etcd_storage.h"

#include <gtest/gtest.h>

#include "memory_storage.h"
#include "registry.h"
#include "test_etcd.h"

namespace herd::fake::testing {
namespace {

using namespace std::chrono_literals;

Json configMap(const std::string& ns, const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"uid", "uid-" + ns + "-" + name}}},
          {"data", {{"v", value}}}};
}

const std::string kConfigMaps = "/configmaps";

// A storage with the mutex the ApiServer would hold around it, and a count of the listener's
// calls. The storage goes before the mutex (declared after it).
struct Opened {
  std::unique_ptr<std::mutex> mu = std::make_unique<std::mutex>();
  std::unique_ptr<Storage> storage;
  std::shared_ptr<int> told = std::make_shared<int>(0);

  void attach() {
    auto told_ptr = told;
    storage->setChangeListener(*mu, [told_ptr] { ++*told_ptr; });
  }
};

class StorageContractTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      etcd_ = std::make_unique<TestEtcd>();
      if (!etcd_->available()) GTEST_SKIP() << etcd_->why();
      ASSERT_TRUE(etcd_->started()) << etcd_->why();
    }
    s_ = open();
    ASSERT_TRUE(s_.storage);
  }
  void TearDown() override { s_.storage.reset(); }

  Opened open() {
    Opened o;
    if (!GetParam()) {
      o.storage = std::make_unique<MemoryStorage>(100);
    } else {
      EtcdStorageConfig config;
      FakeEtcdOptions etcd = etcd_->options();
      config.client.endpoints = etcd.servers;
      config.client.ca_pem = etcd.ca_pem;
      config.client.client_cert_pem = etcd.cert_pem;
      config.client.client_key_pem = etcd.key_pem;
      config.history_limit = 100;
      auto opened = EtcdStorage::open(config);
      EXPECT_TRUE(opened.isOk()) << opened.status().toString();
      if (opened.isOk()) o.storage = std::move(*opened);
    }
    if (o.storage) o.attach();
    return o;
  }

  Result<uint64_t> create(const std::string& ns, const std::string& name, const std::string& v) {
    Json obj = configMap(ns, name, v);
    std::lock_guard lock(*s_.mu);
    return s_.storage->create({kConfigMaps, ns, name}, obj);
  }

  std::unique_ptr<TestEtcd> etcd_;
  Opened s_;
};

TEST_P(StorageContractTest, WritesTakeTheNextRevisionAndCompareTheOneRead) {
  auto first = create("default", "a", "1");
  ASSERT_TRUE(first.isOk()) << first.status().toString();
  std::lock_guard lock(*s_.mu);
  Storage& st = *s_.storage;
  EXPECT_EQ(st.revision(), *first);
  auto stored = st.get({kConfigMaps, "default", "a"});
  ASSERT_TRUE(stored);
  EXPECT_EQ((*stored)["metadata"]["resourceVersion"], std::to_string(*first));
  EXPECT_EQ((*stored)["data"]["v"], "1");

  Json again = configMap("default", "a", "2");
  EXPECT_EQ(st.create({kConfigMaps, "default", "a"}, again).status().code(), Code::kAlreadyExists);

  Json next = configMap("default", "a", "2");
  auto second = st.update({kConfigMaps, "default", "a"}, next, *first);
  ASSERT_TRUE(second.isOk()) << second.status().toString();
  EXPECT_GT(*second, *first);
  EXPECT_EQ(next["metadata"]["resourceVersion"], std::to_string(*second));
  Json stale = configMap("default", "a", "3");
  EXPECT_EQ(st.update({kConfigMaps, "default", "a"}, stale, *first).status().code(),
            Code::kConflict);
  Json missing = configMap("default", "nope", "3");
  EXPECT_EQ(st.update({kConfigMaps, "default", "nope"}, missing, 0).status().code(),
            Code::kNotFound);
  EXPECT_EQ(st.remove({kConfigMaps, "default", "a"}, stale, *first).status().code(),
            Code::kConflict);
  EXPECT_TRUE(st.get({kConfigMaps, "default", "a"})) << "a refused delete deletes nothing";

  Json last = *st.get({kConfigMaps, "default", "a"});
  last["metadata"]["annotations"] = {{"last", "words"}};
  auto third = st.remove({kConfigMaps, "default", "a"}, last, *second);
  ASSERT_TRUE(third.isOk()) << third.status().toString();
  EXPECT_FALSE(st.get({kConfigMaps, "default", "a"}));

  std::vector<Change> changes;
  st.changesAfter(*first - 1, [&](const Change& c) {
    changes.push_back(c);
    return true;
  });
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].type, ChangeType::kAdded);
  EXPECT_EQ(changes[1].type, ChangeType::kModified);
  EXPECT_EQ(changes[2].type, ChangeType::kDeleted);
  EXPECT_EQ(changes[2].revision, *third);
  EXPECT_EQ(changes[2].key.name, "a");
  EXPECT_EQ(changes[2].object["metadata"]["annotations"]["last"], "words")
      << "the DELETED change carries the final state it was given";
  EXPECT_EQ(changes[2].object["metadata"]["resourceVersion"], std::to_string(*third));
  EXPECT_GE(*s_.told, 3);
}

TEST_P(StorageContractTest, ListsInKeyOrderWithinANamespaceFromAKey) {
  for (const auto& [ns, name] : std::vector<std::pair<std::string, std::string>>{
           {"b", "y"}, {"a", "z"}, {"b", "x"}, {"ab", "w"}}) {
    ASSERT_TRUE(create(ns, name, "1").isOk());
  }
  std::lock_guard lock(*s_.mu);
  auto keys = [&](const std::string& ns, const std::string& from) {
    std::vector<std::string> out;
    s_.storage->list(kConfigMaps, ns, from, [&](const std::string& key, const Json&) {
      out.push_back(key);
      return true;
    });
    return out;
  };
  EXPECT_EQ(keys("", ""), (std::vector<std::string>{"a/z", "ab/w", "b/x", "b/y"}));
  EXPECT_EQ(keys("b", ""), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(keys("b", "y"), (std::vector<std::string>{"y"}));
  EXPECT_EQ(keys("a", ""), (std::vector<std::string>{"z"}));
  auto resources = s_.storage->resources();
  EXPECT_NE(std::find(resources.begin(), resources.end(), kConfigMaps), resources.end());
}

TEST_P(StorageContractTest, CompactionForgetsHistory) {
  auto first = create("default", "a", "1");
  auto second = create("default", "b", "1");
  ASSERT_TRUE(first.isOk() && second.isOk());
  std::lock_guard lock(*s_.mu);
  s_.storage->compact(*first);
  EXPECT_EQ(s_.storage->compactedRevision(), *first);
  int seen = 0;
  s_.storage->changesAfter(*first, [&](const Change& c) {
    EXPECT_EQ(c.key.name, "b");
    ++seen;
    return true;
  });
  EXPECT_EQ(seen, 1);
  s_.storage->compact(s_.storage->revision());
  EXPECT_EQ(s_.storage->compactedRevision(), *second);
  EXPECT_TRUE(s_.storage->get({kConfigMaps, "default", "a"})) << "compaction keeps objects";
}

INSTANTIATE_TEST_SUITE_P(Storage, StorageContractTest, ::testing::Values(false, true),
                         storageModeName);

// What only the etcd storage does.
class EtcdStorageTest : public StorageContractTest {};

TEST_P(EtcdStorageTest, KeysAreLaidOutAsKubeApiServerLaysThemOut) {
  struct Case {
    ObjectKey key;
    Json object;
    std::string etcd_key;
  };
  std::vector<Case> cases = {
      {{"/pods", "default", "x"},
       {{"apiVersion", "v1"}, {"kind", "Pod"}},
       "/registry/pods/default/x"},
      {{"/namespaces", "", "team-a"},
       {{"apiVersion", "v1"}, {"kind", "Namespace"}},
       "/registry/namespaces/team-a"},
      {{"/services", "default", "kubernetes"},
       {{"apiVersion", "v1"}, {"kind", "Service"}},
       "/registry/services/specs/default/kubernetes"},
      {{"/endpoints", "default", "kubernetes"},
       {{"apiVersion", "v1"}, {"kind", "Endpoints"}},
       "/registry/services/endpoints/default/kubernetes"},
      {{"/nodes", "", "n1"}, {{"apiVersion", "v1"}, {"kind", "Node"}}, "/registry/minions/n1"},
      {{"apps/deployments", "default", "web"},
       {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}},
       "/registry/deployments/default/web"},
      {{"rbac.authorization.k8s.io/clusterrolebindings", "", "admins"},
       {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", "ClusterRoleBinding"}},
       "/registry/clusterrolebindings/admins"},
      {{"networking.k8s.io/ingresses", "default", "in"},
       {{"apiVersion", "networking.k8s.io/v1"}, {"kind", "Ingress"}},
       "/registry/ingress/default/in"},
      {{"apiextensions.k8s.io/customresourcedefinitions", "", "clusters.herd.io"},
       {{"apiVersion", "apiextensions.k8s.io/v1"}, {"kind", "CustomResourceDefinition"}},
       "/registry/apiextensions.k8s.io/customresourcedefinitions/clusters.herd.io"},
      {{"herd.io/clusters", "", "demo"},
       {{"apiVersion", "herd.io/v1alpha1"}, {"kind", "Cluster"}},
       "/registry/herd.io/clusters/demo"},
      {{"example.com/widgets", "default", "w"},
       {{"apiVersion", "example.com/v1"}, {"kind", "Widget"}},
       "/registry/example.com/widgets/default/w"},
  };
  auto* etcd_storage = dynamic_cast<EtcdStorage*>(s_.storage.get());
  ASSERT_NE(etcd_storage, nullptr);
  {
    std::lock_guard lock(*s_.mu);
    for (auto& c : cases) {
      c.object["metadata"] = {{"name", c.key.name}};
      if (!c.key.ns.empty()) c.object["metadata"]["namespace"] = c.key.ns;
      EXPECT_EQ(etcd_storage->keyOf(c.key), c.etcd_key);
      ASSERT_TRUE(s_.storage->create(c.key, c.object).isOk()) << c.etcd_key;
    }
  }
  auto keys = etcd_->etcdctl({"get", "/registry/", "--prefix", "--keys-only"});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  for (const auto& c : cases) {
    EXPECT_NE(keys.out.find(c.etcd_key + "\n"), std::string::npos) << c.etcd_key << keys.out;
  }
  // Values are the objects as JSON, without the resourceVersion (the key's mod_revision).
  auto value = etcd_->etcdctl({"get", "/registry/deployments/default/web", "--print-value-only"});
  Json stored = Json::parse(value.out, nullptr, false);
  ASSERT_TRUE(stored.is_object()) << value.out;
  EXPECT_EQ(stored["kind"], "Deployment");
  EXPECT_FALSE(stored["metadata"].contains("resourceVersion"));

  // A second storage reads each object back under the same key.
  Opened other = open();
  std::lock_guard lock(*other.mu);
  for (const auto& c : cases) {
    auto found = other.storage->get(c.key);
    ASSERT_TRUE(found) << c.etcd_key;
    EXPECT_EQ((*found)["metadata"]["name"], c.key.name);
  }
}

TEST_P(EtcdStorageTest, TwoStoragesOnOneEtcdShareObjectsAndChanges) {
  Opened other = open();
  ASSERT_TRUE(other.storage);
  auto written = create("default", "shared", "1");
  ASSERT_TRUE(written.isOk()) << written.status().toString();
  ASSERT_TRUE(other.storage->sync().isOk());
  {
    std::lock_guard lock(*other.mu);
    auto found = other.storage->get({kConfigMaps, "default", "shared"});
    ASSERT_TRUE(found) << "sync() returns once the other's write is in";
    EXPECT_EQ((*found)["metadata"]["resourceVersion"], std::to_string(*written));
    EXPECT_EQ((*found)["metadata"]["uid"], "uid-default-shared");
    int added = 0;
    other.storage->changesAfter(*written - 1, [&](const Change& c) {
      added += c.type == ChangeType::kAdded && c.key.name == "shared";
      return true;
    });
    EXPECT_EQ(added, 1);
    EXPECT_GE(*other.told, 1) << "the listener heard of the other's write";

    // A write computed from what the other read, after this one changed it: a conflict.
    Json mine = configMap("default", "shared", "2");
    std::lock_guard mine_lock(*s_.mu);
    ASSERT_TRUE(s_.storage->update({kConfigMaps, "default", "shared"}, mine, *written).isOk());
    Json theirs = configMap("default", "shared", "3");
    EXPECT_EQ(
        other.storage->update({kConfigMaps, "default", "shared"}, theirs, *written).status().code(),
        Code::kConflict);
    // After the conflict the other has caught up: a second read sees the new revision.
    auto now = other.storage->get({kConfigMaps, "default", "shared"});
    ASSERT_TRUE(now);
    EXPECT_EQ((*now)["data"]["v"], "2");
  }
  // A delete through one is a deletion for the other.
  {
    std::lock_guard lock(*s_.mu);
    Json gone = *s_.storage->get({kConfigMaps, "default", "shared"});
    ASSERT_TRUE(s_.storage->remove({kConfigMaps, "default", "shared"}, gone, 0).isOk());
  }
  ASSERT_TRUE(other.storage->sync().isOk());
  std::lock_guard lock(*other.mu);
  EXPECT_FALSE(other.storage->get({kConfigMaps, "default", "shared"}));
}

TEST_P(EtcdStorageTest, AReopenedStorageFindsItsObjectsAndStartsItsHistoryThere) {
  auto written = create("default", "kept", "1");
  ASSERT_TRUE(written.isOk());
  s_.storage.reset();
  s_ = open();
  std::lock_guard lock(*s_.mu);
  ASSERT_TRUE(s_.storage->loaded());
  auto found = s_.storage->get({kConfigMaps, "default", "kept"});
  ASSERT_TRUE(found);
  EXPECT_EQ((*found)["metadata"]["resourceVersion"], std::to_string(*written));
  EXPECT_EQ((*found)["metadata"]["uid"], "uid-default-kept");
  EXPECT_EQ(s_.storage->compactedRevision(), s_.storage->revision())
      << "a watch from before the restart is too old";
}

TEST_P(EtcdStorageTest, CompactionCompactsEtcd) {
  auto first = create("default", "a", "1");
  ASSERT_TRUE(create("default", "a2", "1").isOk());
  ASSERT_TRUE(first.isOk());
  {
    std::lock_guard lock(*s_.mu);
    s_.storage->compact(s_.storage->revision());
  }
  auto old =
      etcd_->etcdctl({"get", "/registry/configmaps/default/a", "--rev", std::to_string(*first)});
  EXPECT_NE(old.exit_code, 0);
  EXPECT_NE(old.err.find("compacted"), std::string::npos) << old.err;
}

TEST_P(EtcdStorageTest, AnEtcdThatDoesNotAnswerIsUnhealthyAndRefusesWrites) {
  EtcdStorageConfig config;
  FakeEtcdOptions etcd = etcd_->options();
  config.client.endpoints = {"https://127.0.0.1:" +
                             std::to_string(pki::testing::freeLoopbackPort())};
  config.client.ca_pem = etcd.ca_pem;
  config.client.client_cert_pem = etcd.cert_pem;
  config.client.client_key_pem = etcd.key_pem;
  config.client.timeout = 1s;
  auto opened = EtcdStorage::open(config);
  ASSERT_TRUE(opened.isOk()) << "unreachable is no configuration error";
  Opened dead;
  dead.storage = std::move(*opened);
  dead.attach();
  EXPECT_FALSE(dead.storage->health().isOk());
  EXPECT_FALSE(dead.storage->sync().isOk());
  std::lock_guard lock(*dead.mu);
  EXPECT_FALSE(dead.storage->loaded());
  Json obj = configMap("default", "a", "1");
  EXPECT_EQ(dead.storage->create({kConfigMaps, "default", "a"}, obj).status().code(),
            Code::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(Storage, EtcdStorageTest, ::testing::Values(true), storageModeName);

TEST(RegistryPathTest, EveryRecordedBuiltinGroupIsLaidOutWithoutItsGroup) {
  auto registry =
      Registry::load(std::string(HERD_SOURCE_DIR) + "/tests/support/fake_apiserver/data");
  ASSERT_TRUE(registry.isOk()) << registry.status().toString();
  for (const char* group :
       {"apps", "batch", "policy", "autoscaling", "coordination.k8s.io", "networking.k8s.io",
        "rbac.authorization.k8s.io", "storage.k8s.io", "discovery.k8s.io", "events.k8s.io",
        "scheduling.k8s.io", "node.k8s.io", "certificates.k8s.io", "flowcontrol.apiserver.k8s.io",
        "admissionregistration.k8s.io", "authentication.k8s.io", "authorization.k8s.io"}) {
    EXPECT_TRUE((*registry)->servesGroup(group)) << group;
    EXPECT_EQ(registryPath(std::string(group) + "/things"), "things") << group;
  }
  EXPECT_EQ(registryPath("apiregistration.k8s.io/apiservices"),
            "apiregistration.k8s.io/apiservices");
  EXPECT_EQ(registryPath("events.k8s.io/events"), "events") << "shared with core events";
}

}  // namespace
}  // namespace herd::fake::testing
