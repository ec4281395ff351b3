// herd::etcd::Client against a real 3-member etcd cluster on loopback, TLS with client
// certificates from herd's PKI. One cluster serves the whole suite; tests use their own keys.
#include "etcd/client.h"

#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "common/files.h"
#include "pki_test_util.h"
#include "support/etcd_cluster.h"

namespace herd::etcd {
namespace {

using herd::testing::EtcdCluster;

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto etcd = findExecutable("etcd");
    auto etcdctl = findExecutable("etcdctl");
    if (!etcd || !etcdctl) return;
    dir_ = new herd::testing::TempDir();
    pki::testing::issueInto(pki::testing::testCluster("alpha"), dir_->path());
    EtcdCluster::Options options;
    options.etcd = *etcd;
    options.etcdctl = *etcdctl;
    options.dir = dir_->path();
    options.token = "herd-etcd-client-test";
    options.free_port = pki::testing::freeLoopbackPort;
    cluster_ = new EtcdCluster(std::move(options));
    started_ = cluster_->start();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!cluster_) GTEST_SKIP() << "etcd or etcdctl is not installed (scripts/setup installs them)";
    ASSERT_TRUE(started_) << "etcd did not become healthy; logs under " << dir_->path();
    auto client = makeClient(cluster_->clientUrls(), "apiserver-etcd-client");
    ASSERT_TRUE(client.isOk()) << client.status().toString();
    client_ = std::move(*client);
  }

  static Result<std::unique_ptr<Client>> makeClient(std::vector<std::string> endpoints,
                                                    const std::string& cert) {
    ClientConfig config;
    config.endpoints = std::move(endpoints);
    config.ca_pem = *files::read(dir_->path() + "/pki/etcd/ca.crt");
    config.client_cert_pem = *files::read(dir_->path() + "/pki/" + cert + ".crt");
    config.client_key_pem = *files::read(dir_->path() + "/pki/" + cert + ".key");
    config.timeout = std::chrono::seconds(10);
    return Client::create(config);
  }

  PutResponse mustPut(const std::string& key, const std::string& value, int64_t lease = 0) {
    PutRequest put;
    put.key = key;
    put.value = value;
    put.lease = lease;
    auto r = client_->put(put);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r ? *r : PutResponse{};
  }

  RangeResponse mustRange(RangeRequest request) {
    auto r = client_->range(request);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r ? *r : RangeResponse{};
  }

  static inline herd::testing::TempDir* dir_ = nullptr;
  static inline EtcdCluster* cluster_ = nullptr;
  static inline bool started_ = false;
  std::unique_ptr<Client> client_;
};

TEST_F(EtcdClientTest, PutRangeAndDelete) {
  auto first = mustPut("/kv/a", "1");
  mustPut("/kv/b", "2");
  mustPut("/kv/c", std::string("bin\0ary", 7));
  mustPut("/kw/other", "x");

  RangeRequest one;
  one.key = "/kv/a";
  auto r = mustRange(one);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].value, "1");
  EXPECT_EQ(r.kvs[0].version, 1);
  EXPECT_EQ(r.kvs[0].create_revision, first.revision);
  EXPECT_EQ(r.kvs[0].mod_revision, first.revision);

  RangeRequest prefix;
  prefix.key = "/kv/";
  prefix.range_end = prefixEnd("/kv/");
  r = mustRange(prefix);
  ASSERT_EQ(r.kvs.size(), 3u);
  EXPECT_EQ(r.count, 3);
  EXPECT_EQ(r.kvs[2].value, std::string("bin\0ary", 7));

  prefix.limit = 2;
  r = mustRange(prefix);
  EXPECT_EQ(r.kvs.size(), 2u);
  EXPECT_TRUE(r.more);
  EXPECT_EQ(r.count, 3);

  prefix.limit = 0;
  prefix.keys_only = true;
  prefix.serializable = true;
  r = mustRange(prefix);
  ASSERT_EQ(r.kvs.size(), 3u);
  EXPECT_EQ(r.kvs[1].key, "/kv/b");
  EXPECT_EQ(r.kvs[1].value, "");

  prefix.keys_only = false;
  prefix.count_only = true;
  r = mustRange(prefix);
  EXPECT_TRUE(r.kvs.empty());
  EXPECT_EQ(r.count, 3);

  // An older revision still sees the first value; put with prev_kv returns it.
  PutRequest update;
  update.key = "/kv/a";
  update.value = "one";
  update.prev_kv = true;
  auto updated = client_->put(update);
  ASSERT_TRUE(updated.isOk()) << updated.status().toString();
  ASSERT_TRUE(updated->prev_kv.has_value());
  EXPECT_EQ(updated->prev_kv->value, "1");
  one.revision = first.revision;
  r = mustRange(one);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].value, "1");

  DeleteRequest del;
  del.key = "/kv/";
  del.range_end = prefixEnd("/kv/");
  del.prev_kv = true;
  auto deleted = client_->deleteRange(del);
  ASSERT_TRUE(deleted.isOk()) << deleted.status().toString();
  EXPECT_EQ(deleted->deleted, 3);
  ASSERT_EQ(deleted->prev_kvs.size(), 3u);
  EXPECT_EQ(deleted->prev_kvs[0].value, "one");
  prefix.count_only = false;
  EXPECT_TRUE(mustRange(prefix).kvs.empty());
  one.revision = 0;
  EXPECT_TRUE(mustRange(one).kvs.empty());
}

TEST_F(EtcdClientTest, TxnTakesTheBranchItsComparesChoose) {
  auto created = mustPut("/txn/k", "v1");

  TxnRequest txn;
  txn.compare.push_back({"/txn/k", Compare::Target::kValue, Compare::Op::kEqual, "v1", 0});
  txn.compare.push_back({"/txn/k", Compare::Target::kVersion, Compare::Op::kEqual, "", 1});
  txn.compare.push_back(
      {"/txn/k", Compare::Target::kCreateRevision, Compare::Op::kEqual, "", created.revision});
  txn.compare.push_back(
      {"/txn/k", Compare::Target::kModRevision, Compare::Op::kLess, "", created.revision + 1});
  txn.success.push_back(PutRequest{"/txn/k", "v2", 0, false});
  txn.success.push_back(RangeRequest{"/txn/k", "", 0, 0, false, false, false});
  txn.failure.push_back(DeleteRequest{"/txn/k", "", false});
  auto r = client_->txn(txn);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->succeeded);
  ASSERT_EQ(r->responses.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<PutResponse>(r->responses[0]));
  const auto& range = std::get<RangeResponse>(r->responses[1]);
  ASSERT_EQ(range.kvs.size(), 1u);
  EXPECT_EQ(range.kvs[0].value, "v2");

  // The same compares fail now (value and version moved on): the else branch runs.
  txn.failure = {DeleteRequest{"/txn/k", "", true}};
  r = client_->txn(txn);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_FALSE(r->succeeded);
  ASSERT_EQ(r->responses.size(), 1u);
  const auto& del = std::get<DeleteResponse>(r->responses[0]);
  EXPECT_EQ(del.deleted, 1);
  ASSERT_EQ(del.prev_kvs.size(), 1u);
  EXPECT_EQ(del.prev_kvs[0].value, "v2");

  // Create-if-absent: create_revision == 0 holds for a missing key.
  TxnRequest create;
  create.compare.push_back(
      {"/txn/new", Compare::Target::kCreateRevision, Compare::Op::kEqual, "", 0});
  create.success.push_back(PutRequest{"/txn/new", "first", 0, false});
  r = client_->txn(create);
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(r->succeeded);
  r = client_->txn(create);
  ASSERT_TRUE(r.isOk());
  EXPECT_FALSE(r->succeeded);
  EXPECT_TRUE(r->responses.empty());
}

TEST_F(EtcdClientTest, CompactedRevisionIsReportedAsGone) {
  auto old = mustPut("/compact/k", "old");
  auto now = mustPut("/compact/k", "new");
  ASSERT_TRUE(client_->compact(now.revision, /*physical=*/true).isOk());
  RangeRequest at;
  at.key = "/compact/k";
  at.revision = old.revision;
  auto r = client_->range(at);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kGone) << r.status().toString();
  EXPECT_NE(r.status().message().find("required revision has been compacted"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("https://127.0.0.1:"), std::string::npos);
  // Compacting again at the same revision is an etcd error too, passed through.
  Status again = client_->compact(now.revision);
  EXPECT_FALSE(again.isOk());
  EXPECT_NE(again.message().find("compacted"), std::string::npos) << again.message();
}

TEST_F(EtcdClientTest, LeaseKeepsItsKeyUntilItExpiresOrIsRevoked) {
  auto lease = client_->leaseGrant(2);
  ASSERT_TRUE(lease.isOk()) << lease.status().toString();
  EXPECT_NE(lease->id, 0);
  EXPECT_EQ(lease->ttl, 2);
  mustPut("/lease/k", "v", lease->id);

  auto ttl = client_->leaseTimeToLive(lease->id, /*keys=*/true);
  ASSERT_TRUE(ttl.isOk()) << ttl.status().toString();
  EXPECT_EQ(ttl->granted_ttl, 2);
  EXPECT_LE(ttl->ttl, 2);
  ASSERT_EQ(ttl->keys.size(), 1u);
  EXPECT_EQ(ttl->keys[0], "/lease/k");
  RangeRequest key;
  key.key = "/lease/k";
  auto r = mustRange(key);
  ASSERT_EQ(r.kvs.size(), 1u);
  EXPECT_EQ(r.kvs[0].lease, lease->id);

  auto renewed = client_->leaseKeepAliveOnce(lease->id);
  ASSERT_TRUE(renewed.isOk()) << renewed.status().toString();
  EXPECT_EQ(*renewed, 2);

  // Without renewal the lease expires and takes the key with it (bounded wait).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!mustRange(key).kvs.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_TRUE(mustRange(key).kvs.empty());
  ttl = client_->leaseTimeToLive(lease->id);
  ASSERT_TRUE(ttl.isOk()) << ttl.status().toString();
  EXPECT_EQ(ttl->ttl, -1);
  renewed = client_->leaseKeepAliveOnce(lease->id);
  EXPECT_TRUE(!renewed.isOk() || *renewed == 0);

  // Revoking deletes the key at once.
  auto second = client_->leaseGrant(60);
  ASSERT_TRUE(second.isOk());
  mustPut("/lease/r", "v", second->id);
  ASSERT_TRUE(client_->leaseRevoke(second->id).isOk());
  key.key = "/lease/r";
  EXPECT_TRUE(mustRange(key).kvs.empty());
  Status gone = client_->leaseRevoke(second->id);
  EXPECT_FALSE(gone.isOk());
  EXPECT_NE(gone.message().find("lease not found"), std::string::npos) << gone.message();
}

TEST_F(EtcdClientTest, StatusOfEveryMember) {
  uint64_t leader = 0;
  for (const auto& endpoint : cluster_->clientUrls()) {
    auto s = client_->status(endpoint);
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    EXPECT_EQ(s->version.substr(0, 4), "3.4.") << s->version;
    EXPECT_GT(s->db_size, 0);
    EXPECT_GT(s->db_size_in_use, 0);
    EXPECT_LE(s->db_size_in_use, s->db_size);
    EXPECT_NE(s->member_id, 0u);
    EXPECT_GT(s->raft_index, 0u);
    EXPECT_GT(s->raft_term, 0u);
    EXPECT_TRUE(s->errors.empty());
    EXPECT_FALSE(s->is_learner);
    EXPECT_NE(s->leader, 0u);
    if (leader) {
      EXPECT_EQ(s->leader, leader);
    }
    leader = s->leader;
  }
  EXPECT_FALSE(client_->status("https://127.0.0.1:1").isOk());
}

TEST_F(EtcdClientTest, AnotherTenantsCertificateIsRefused) {
  herd::testing::TempDir beta;
  pki::testing::issueInto(pki::testing::testCluster("beta"), beta.path());
  ClientConfig config;
  config.endpoints = {cluster_->clientUrls()[0]};
  config.ca_pem = *files::read(dir_->path() + "/pki/etcd/ca.crt");
  config.client_cert_pem = *files::read(beta.path() + "/pki/apiserver-etcd-client.crt");
  config.client_key_pem = *files::read(beta.path() + "/pki/apiserver-etcd-client.key");
  auto client = Client::create(config);
  ASSERT_TRUE(client.isOk()) << client.status().toString();
  RangeRequest any;
  any.key = "x";
  auto r = (*client)->range(any);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find(config.endpoints[0]), std::string::npos)
      << r.status().message();
}

// Last: it stops a member and starts it again.
TEST_F(EtcdClientTest, ReadsFailOverToTheNextMember) {
  mustPut("/failover/k", "v");
  cluster_->stopMember(0);
  RangeRequest key;
  key.key = "/failover/k";
  auto r = client_->range(key);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->kvs.size(), 1u);
  // The next write starts at a member that answered.
  auto put = client_->put({"/failover/k", "w", 0, false});
  EXPECT_TRUE(put.isOk()) << put.status().toString();
  // A client that knows only the stopped member says which member failed.
  auto lonely = makeClient({cluster_->clientUrls()[0]}, "apiserver-etcd-client");
  ASSERT_TRUE(lonely.isOk());
  auto failed = (*lonely)->range(key);
  ASSERT_FALSE(failed.isOk());
  EXPECT_EQ(failed.status().code(), Code::kUnavailable) << failed.status().toString();
  EXPECT_NE(failed.status().message().find(cluster_->clientUrls()[0]), std::string::npos);

  ASSERT_TRUE(cluster_->restartMember(0));
  EXPECT_TRUE(cluster_->waitHealthy(std::chrono::seconds(60)));
}

}  // namespace
}  // namespace herd::etcd
