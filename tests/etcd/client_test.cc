// herd::etcd::Client against a real 3-member etcd cluster on loopback, TLS with client
// certificates from herd's PKI. One cluster serves the whole suite; tests use their own keys.
#include "etcd/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common/files.h"
#include "common/process.h"
#include "pki_test_util.h"
#include "support/etcd_cluster.h"

namespace herd::etcd {
namespace {

using herd::testing::EtcdCluster;

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { startSuite({}); }
  // Issues a PKI and starts a 3-member cluster whose members also get `extra_args`.
  static void startSuite(std::vector<std::string> extra_args) {
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
    options.extra_args = std::move(extra_args);
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

// Collects events from `watch` until `count` have come or `timeout` passed.
std::vector<WatchEvent> collect(Watch& watch, size_t count, std::chrono::seconds timeout,
                                Status* ended = nullptr) {
  std::vector<WatchEvent> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto batch = watch.next(std::chrono::milliseconds(500));
    if (!batch) {
      if (ended) *ended = batch.status();
      break;
    }
    out.insert(out.end(), batch->begin(), batch->end());
  }
  return out;
}

ProcessOptions logTo(const std::string& path) {
  ProcessOptions options;
  options.stderr_path = path;
  return options;
}

// Polls `done` every 250 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& done, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return done();
}

// The command line of one more etcd process with the suite's certificates, for members that
// EtcdCluster does not manage (a learner, a member restored from a snapshot).
std::vector<std::string> extraMemberArgv(const std::string& etcd, const std::string& dir,
                                         const std::string& name, const std::string& client,
                                         const std::string& peer, const std::string& data,
                                         const std::string& initial_cluster,
                                         const std::string& state) {
  const std::string pki = dir + "/pki/etcd/";
  return {etcd,
          "--name=" + name,
          "--data-dir=" + data,
          "--listen-client-urls=" + client,
          "--advertise-client-urls=" + client,
          "--listen-peer-urls=" + peer,
          "--initial-advertise-peer-urls=" + peer,
          "--initial-cluster=" + initial_cluster,
          "--initial-cluster-state=" + state,
          "--cert-file=" + pki + "server.crt",
          "--key-file=" + pki + "server.key",
          "--client-cert-auth",
          "--trusted-ca-file=" + pki + "ca.crt",
          "--peer-cert-file=" + pki + "peer.crt",
          "--peer-key-file=" + pki + "peer.key",
          "--peer-client-cert-auth",
          "--peer-trusted-ca-file=" + pki + "ca.crt",
          "--log-level=warn",
          "--logger=zap"};
}

TEST_F(EtcdClientTest, WatchSeesPutsDeletesAndTxnsInOrder) {
  WatchRequest request;
  request.key = "/watch/";
  request.range_end = prefixEnd("/watch/");
  request.prev_kv = true;
  auto watch = client_->watch(request);
  ASSERT_TRUE(watch.isOk()) << watch.status().toString();
  EXPECT_GT((*watch)->nextRevision(), 0);

  auto a = mustPut("/watch/a", "1");
  mustPut("/watch-not/x", "outside the range");
  auto b = mustPut("/watch/a", "2");
  // Two puts in one txn share a revision; both must come.
  TxnRequest txn;
  txn.success.push_back(PutRequest{"/watch/t1", "x", 0, false});
  txn.success.push_back(PutRequest{"/watch/t2", "y", 0, false});
  auto t = client_->txn(txn);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  auto del = client_->deleteRange({"/watch/a", "", false});
  ASSERT_TRUE(del.isOk()) << del.status().toString();

  auto events = collect(**watch, 5, std::chrono::seconds(30));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kPut);
  EXPECT_EQ(events[0].kv.key, "/watch/a");
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[0].kv.mod_revision, a.revision);
  EXPECT_FALSE(events[0].prev_kv.has_value());
  EXPECT_EQ(events[1].kv.value, "2");
  EXPECT_EQ(events[1].kv.mod_revision, b.revision);
  ASSERT_TRUE(events[1].prev_kv.has_value());
  EXPECT_EQ(events[1].prev_kv->value, "1");
  EXPECT_EQ(events[2].kv.key, "/watch/t1");
  EXPECT_EQ(events[3].kv.key, "/watch/t2");
  EXPECT_EQ(events[2].kv.mod_revision, t->revision);
  EXPECT_EQ(events[3].kv.mod_revision, t->revision);
  EXPECT_EQ(events[4].type, WatchEvent::Type::kDelete);
  EXPECT_EQ(events[4].kv.key, "/watch/a");
  EXPECT_EQ(events[4].kv.mod_revision, del->revision);
  ASSERT_TRUE(events[4].prev_kv.has_value());
  EXPECT_EQ(events[4].prev_kv->value, "2");
  EXPECT_EQ((*watch)->nextRevision(), del->revision + 1);

  // A watch from a past revision replays the history from there.
  WatchRequest from;
  from.key = "/watch/a";
  from.start_revision = b.revision;
  auto replay = client_->watch(from);
  ASSERT_TRUE(replay.isOk()) << replay.status().toString();
  auto replayed = collect(**replay, 2, std::chrono::seconds(30));
  ASSERT_EQ(replayed.size(), 2u);
  EXPECT_EQ(replayed[0].kv.mod_revision, b.revision);
  EXPECT_EQ(replayed[1].kv.mod_revision, del->revision);
  EXPECT_EQ(replayed[1].type, WatchEvent::Type::kDelete);

  // cancel() ends a watch; next() then says so at once.
  (*replay)->cancel();
  auto after = (*replay)->next(std::chrono::seconds(5));
  ASSERT_FALSE(after.isOk());
  EXPECT_NE(after.status().message().find("cancelled"), std::string::npos);
}

TEST_F(EtcdClientTest, WatchFromACompactedRevisionIsGoneWithTheCompactRevision) {
  auto first = mustPut("/wcompact/k", "1");
  mustPut("/wcompact/k", "2");
  auto last = mustPut("/wcompact/k", "3");
  ASSERT_TRUE(client_->compact(last.revision).isOk());

  WatchRequest request;
  request.key = "/wcompact/k";
  request.start_revision = first.revision;
  auto watch = client_->watch(request);
  Status ended;
  if (watch.isOk()) {
    auto events = collect(**watch, 1, std::chrono::seconds(30), &ended);
    EXPECT_TRUE(events.empty());
    EXPECT_EQ((*watch)->compactRevision(), last.revision);
  } else {
    ended = watch.status();
  }
  EXPECT_EQ(ended.code(), Code::kGone) << ended.toString();
  EXPECT_NE(ended.message().find("compacted"), std::string::npos) << ended.message();
  EXPECT_NE(ended.message().find(std::to_string(last.revision)), std::string::npos)
      << ended.message();
  EXPECT_NE(ended.message().find("https://127.0.0.1:"), std::string::npos) << ended.message();

  // From the compact revision itself the watch is fine and sees the newest value.
  request.start_revision = last.revision;
  auto ok = client_->watch(request);
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  auto events = collect(**ok, 1, std::chrono::seconds(30));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv.value, "3");
}

TEST_F(EtcdClientTest, WatchResumesOnAnotherMemberWhenItsMemberIsKilled) {
  WatchRequest request;
  request.key = "/resume/";
  request.range_end = prefixEnd("/resume/");
  auto watch = client_->watch(request);
  ASSERT_TRUE(watch.isOk()) << watch.status().toString();

  std::vector<int64_t> written;
  for (int i = 0; i < 5; ++i)
    written.push_back(mustPut("/resume/k", "before" + std::to_string(i)).revision);
  auto before = collect(**watch, 5, std::chrono::seconds(30));
  ASSERT_EQ(before.size(), 5u);

  const std::string victim = (*watch)->endpoint();
  auto urls = cluster_->clientUrls();
  int index = static_cast<int>(std::find(urls.begin(), urls.end(), victim) - urls.begin());
  ASSERT_LT(index, 3) << victim;
  auto victim_status = client_->status(victim);
  ASSERT_TRUE(victim_status.isOk()) << victim_status.status().toString();
  cluster_->killMember(index);
  struct RestartOnExit {
    EtcdCluster* cluster;
    int index;
    bool done = false;
    ~RestartOnExit() {
      if (!done && cluster->restartMember(index)) cluster->waitHealthy(std::chrono::seconds(60));
    }
  } restart_on_exit{cluster_, index};

  // Written through the survivors while the watch's member is dead.
  std::vector<std::string> survivors;
  for (const auto& url : urls) {
    if (url != victim) survivors.push_back(url);
  }
  auto writer = makeClient(survivors, "apiserver-etcd-client");
  ASSERT_TRUE(writer.isOk());
  // When the victim led, writes fail until the survivors elect a leader of their own; a failed
  // write is not retried (it may have been applied), so wait for the election first.
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& url : survivors) {
          auto s = (*writer)->status(url);
          if (!s || s->leader == 0 || s->leader == victim_status->member_id) return false;
        }
        return true;
      },
      std::chrono::seconds(60)));
  for (int i = 0; i < 20; ++i) {
    auto put = (*writer)->put({"/resume/k", "during" + std::to_string(i), 0, false});
    ASSERT_TRUE(put.isOk()) << put.status().toString();
    written.push_back(put->revision);
  }
  auto during = collect(**watch, 20, std::chrono::seconds(60));
  EXPECT_NE((*watch)->endpoint(), victim);

  restart_on_exit.done = true;
  ASSERT_TRUE(cluster_->restartMember(index));
  ASSERT_TRUE(cluster_->waitHealthy(std::chrono::seconds(60)));
  for (int i = 0; i < 5; ++i) {
    auto put = (*writer)->put({"/resume/k", "after" + std::to_string(i), 0, false});
    ASSERT_TRUE(put.isOk()) << put.status().toString();
    written.push_back(put->revision);
  }
  auto after = collect(**watch, 5, std::chrono::seconds(60));

  std::vector<int64_t> seen;
  std::vector<std::string> values;
  for (const auto* batch : {&before, &during, &after}) {
    for (const auto& e : *batch) {
      seen.push_back(e.kv.mod_revision);
      values.push_back(e.kv.value);
    }
  }
  // Every write exactly once, in order: no gap, no duplicate.
  EXPECT_EQ(seen, written);
  ASSERT_EQ(values.size(), 30u);
  EXPECT_EQ(values[5], "during0");
  EXPECT_EQ(values[24], "during19");
  EXPECT_EQ(values[29], "after4");
  EXPECT_EQ((*watch)->nextRevision(), written.back() + 1);
}

TEST_F(EtcdClientTest, MemberListNamesEveryMember) {
  auto members = client_->memberList();
  ASSERT_TRUE(members.isOk()) << members.status().toString();
  ASSERT_EQ(members->size(), 3u);
  std::vector<std::string> names, clients;
  for (const auto& m : *members) {
    EXPECT_NE(m.id, 0u);
    EXPECT_FALSE(m.is_learner);
    ASSERT_EQ(m.peer_urls.size(), 1u);
    ASSERT_EQ(m.client_urls.size(), 1u);
    names.push_back(m.name);
    clients.push_back(m.client_urls[0]);
  }
  std::sort(names.begin(), names.end());
  std::sort(clients.begin(), clients.end());
  auto urls = cluster_->clientUrls();
  std::sort(urls.begin(), urls.end());
  EXPECT_EQ(names, (std::vector<std::string>{"etcd-0", "etcd-1", "etcd-2"}));
  EXPECT_EQ(clients, urls);

  // Promoting a voting member or removing an unknown one is etcd's error, passed through.
  Status promote = client_->memberPromote((*members)[0].id);
  EXPECT_FALSE(promote.isOk());
  EXPECT_NE(promote.message().find("learner"), std::string::npos) << promote.message();
  Status remove = client_->memberRemove(0x1234);
  EXPECT_EQ(remove.code(), Code::kNotFound) << remove.toString();
}

TEST_F(EtcdClientTest, LearnerIsAddedStartedPromotedAndRemoved) {
  const std::string peer = "https://127.0.0.1:" + std::to_string(pki::testing::freeLoopbackPort());
  const std::string client =
      "https://127.0.0.1:" + std::to_string(pki::testing::freeLoopbackPort());
  // etcd refuses a new member until every voter has been connected for 5 s (an earlier test
  // may have just restarted one); that refusal is made before anything is proposed, so asking
  // again is safe.
  Result<MemberAddResponse> added = Status::unavailable("not asked yet");
  eventually(
      [&] {
        added = client_->memberAdd({peer}, /*as_learner=*/true);
        return added.isOk() ||
               added.status().message().find("unhealthy cluster") == std::string::npos;
      },
      std::chrono::seconds(60));
  ASSERT_TRUE(added.isOk()) << added.status().toString();
  const uint64_t id = added->member.id;
  EXPECT_NE(id, 0u);
  EXPECT_TRUE(added->member.is_learner);
  EXPECT_EQ(added->member.peer_urls, std::vector<std::string>{peer});
  EXPECT_EQ(added->members.size(), 4u);

  auto findMember = [&](uint64_t wanted) -> std::optional<Member> {
    auto list = client_->memberList();
    if (!list) return std::nullopt;
    for (const auto& m : *list) {
      if (m.id == wanted) return m;
    }
    return std::nullopt;
  };
  auto listed = findMember(id);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->is_learner);
  EXPECT_EQ(listed->name, "");  // not started yet
  // A learner that has not even started is not in sync: no promotion yet.
  Status early = client_->memberPromote(id);
  EXPECT_EQ(early.code(), Code::kFailedPrecondition) << early.toString();

  std::string initial;
  for (const auto& m : added->members) {
    initial += (initial.empty() ? "" : ",") + (m.id == id ? std::string("etcd-learner") : m.name) +
               "=" + m.peer_urls[0];
  }
  auto learner =
      Process::spawn(extraMemberArgv(cluster_->options().etcd, dir_->path(), "etcd-learner", client,
                                     peer, dir_->path() + "/data-learner", initial, "existing"),
                     logTo(dir_->path() + "/etcd-learner.log"));
  ASSERT_TRUE(learner.isOk()) << learner.status().toString();

  EXPECT_TRUE(eventually(
      [&] {
        auto m = findMember(id);
        return m && m->name == "etcd-learner" && m->is_learner;
      },
      std::chrono::seconds(60)))
      << "the learner never started; log: " << dir_->path() << "/etcd-learner.log";

  // Promotion succeeds once the learner has caught up with the leader's log.
  Status promoted;
  EXPECT_TRUE(eventually(
      [&] {
        promoted = client_->memberPromote(id);
        return promoted.isOk();
      },
      std::chrono::seconds(90)))
      << promoted.toString();
  listed = findMember(id);
  ASSERT_TRUE(listed.has_value());
  EXPECT_FALSE(listed->is_learner);
  EXPECT_EQ(listed->client_urls, std::vector<std::string>{client});
  auto direct = makeClient({client}, "apiserver-etcd-client");
  ASSERT_TRUE(direct.isOk());
  auto status = (*direct)->status(client);
  ASSERT_TRUE(status.isOk()) << status.status().toString();
  EXPECT_FALSE(status->is_learner);
  EXPECT_EQ(status->member_id, id);

  Status removed = client_->memberRemove(id);
  ASSERT_TRUE(removed.isOk()) << removed.toString();
  EXPECT_FALSE(findMember(id).has_value());
  auto list = client_->memberList();
  ASSERT_TRUE(list.isOk());
  EXPECT_EQ(list->size(), 3u);
  // A removed member learns it and stops by itself.
  EXPECT_TRUE(learner->waitFor(std::chrono::seconds(60)).has_value());
}

TEST_F(EtcdClientTest, SnapshotIsAWholeDatabaseThatEtcdRestores) {
  auto put = mustPut("/snap/k", "kept in the snapshot");
  const std::string path = dir_->path() + "/snapshot.db";
  auto written = client_->snapshot(path, cluster_->clientUrls()[1]);
  ASSERT_TRUE(written.isOk()) << written.status().toString();
  EXPECT_GT(*written, 0);
  auto bytes = files::read(path);
  ASSERT_TRUE(bytes.isOk());
  EXPECT_EQ(static_cast<int64_t>(bytes->size()), *written);
  EXPECT_FALSE(files::read(path + ".part").isOk());

  auto status = cluster_->etcdctl(dir_->path() + "/pki/etcd/healthcheck-client",
                                  {"snapshot", "status", path, "--write-out=json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto j = nlohmann::json::parse(status.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << status.out;
  EXPECT_GE(j.value("revision", int64_t{0}), put.revision);
  EXPECT_GT(j.value("totalKey", 0), 0);

  // Restored into a fresh data directory, it serves the key to a new single-member etcd.
  const std::string peer = "https://127.0.0.1:" + std::to_string(pki::testing::freeLoopbackPort());
  const std::string client =
      "https://127.0.0.1:" + std::to_string(pki::testing::freeLoopbackPort());
  const std::string data = dir_->path() + "/data-restored";
  auto restore = cluster_->etcdctl(
      dir_->path() + "/pki/etcd/healthcheck-client",
      {"snapshot", "restore", path, "--data-dir=" + data, "--name=restored",
       "--initial-cluster=restored=" + peer, "--initial-advertise-peer-urls=" + peer,
       "--initial-cluster-token=herd-restored"});
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  auto restored = Process::spawn(extraMemberArgv(cluster_->options().etcd, dir_->path(), "restored",
                                                 client, peer, data, "restored=" + peer, "new"),
                                 logTo(dir_->path() + "/etcd-restored.log"));
  ASSERT_TRUE(restored.isOk()) << restored.status().toString();
  auto reader = makeClient({client}, "apiserver-etcd-client");
  ASSERT_TRUE(reader.isOk());
  RangeRequest key;
  key.key = "/snap/k";
  Result<RangeResponse> got = Status::unavailable("not asked yet");
  EXPECT_TRUE(eventually(
      [&] {
        got = (*reader)->range(key);
        return got.isOk();
      },
      std::chrono::seconds(60)))
      << got.status().toString();
  ASSERT_TRUE(got.isOk());
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs[0].value, "kept in the snapshot");

  EXPECT_FALSE(client_->snapshot(dir_->path() + "/no-such-dir/s.db").isOk());
}

TEST_F(EtcdClientTest, NoAlarmsOnAHealthyCluster) {
  auto alarms = client_->alarms();
  ASSERT_TRUE(alarms.isOk()) << alarms.status().toString();
  EXPECT_TRUE(alarms->empty());
}

TEST_F(EtcdClientTest, WritesAreNotRetriedOnAnotherMemberReadsAre) {
  // Nothing listens on `dead`; the client tries it first.
  const std::string dead = "https://127.0.0.1:" + std::to_string(pki::testing::freeLoopbackPort());
  auto client = makeClient({dead, cluster_->clientUrls()[0]}, "apiserver-etcd-client");
  ASSERT_TRUE(client.isOk());
  auto put = (*client)->put({"/retry/k", "v", 0, false});
  ASSERT_FALSE(put.isOk());
  EXPECT_EQ(put.status().code(), Code::kUnavailable) << put.status().toString();
  EXPECT_NE(put.status().message().find(dead), std::string::npos) << put.status().message();
  RangeRequest key;
  key.key = "/retry/k";
  EXPECT_TRUE(mustRange(key).kvs.empty());  // the put went nowhere
  // The next call starts at the next member, so the same write now succeeds once.
  auto again = (*client)->put({"/retry/k", "v", 0, false});
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  EXPECT_EQ(mustRange(key).kvs.at(0).version, 1);

  // A read moves on by itself within one call.
  auto reader = makeClient({dead, cluster_->clientUrls()[1]}, "apiserver-etcd-client");
  ASSERT_TRUE(reader.isOk());
  auto read = (*reader)->range(key);
  ASSERT_TRUE(read.isOk()) << read.status().toString();
  ASSERT_EQ(read->kvs.size(), 1u);
  EXPECT_EQ(read->kvs[0].value, "v");
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

// A cluster whose members have a tiny backend quota, to raise NOSPACE on purpose.
class EtcdQuotaTest : public EtcdClientTest {
 protected:
  // 2 MiB: a few dozen large puts fill it; etcd's own default is 2 GiB.
  static constexpr int64_t kQuota = 2 * 1024 * 1024;
  static void SetUpTestSuite() { startSuite({"--quota-backend-bytes=" + std::to_string(kQuota)}); }
};

TEST_F(EtcdQuotaTest, NoSpaceAlarmIsSeenAndClearedAfterCompactAndDefragment) {
  // Overwriting one key keeps every old value until compaction: the database only grows.
  const std::string big(128 * 1024, 'x');
  Status refused;
  int64_t last_revision = 0;
  for (int i = 0; i < 200 && refused.isOk(); ++i) {
    auto put = client_->put({"/fill/k", big + std::to_string(i), 0, false});
    if (put) {
      last_revision = put->revision;
    } else {
      refused = put.status();
    }
  }
  ASSERT_FALSE(refused.isOk()) << "200 puts of 128 KiB never filled a 2 MiB quota";
  EXPECT_EQ(refused.code(), Code::kResourceExhausted) << refused.toString();
  EXPECT_NE(refused.message().find("database space exceeded"), std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find("https://127.0.0.1:"), std::string::npos);

  std::vector<Alarm> raised;
  EXPECT_TRUE(eventually(
      [&] {
        auto alarms = client_->alarms();
        if (alarms) raised = *alarms;
        return !raised.empty();
      },
      std::chrono::seconds(30)));
  ASSERT_FALSE(raised.empty());
  for (const auto& alarm : raised) {
    EXPECT_EQ(alarm.type, Alarm::Type::kNoSpace);
    EXPECT_NE(alarm.member_id, 0u);
  }
  // The alarm holds every write back, even a small one, until it is disarmed.
  auto small = client_->put({"/fill/small", "v", 0, false});
  EXPECT_EQ(small.status().code(), Code::kResourceExhausted) << small.status().toString();

  // Reclaim: compact away the old values, defragment every member, disarm.
  auto range = client_->range({"/fill/k", "", 0, 0, true, false, false});
  ASSERT_TRUE(range.isOk()) << range.status().toString();
  EXPECT_GE(range->revision, last_revision);
  ASSERT_TRUE(client_->compact(range->revision, /*physical=*/true).isOk());
  for (const auto& endpoint : cluster_->clientUrls()) {
    auto before = client_->status(endpoint);
    ASSERT_TRUE(before.isOk()) << before.status().toString();
    Status defrag = client_->defragment(endpoint);
    ASSERT_TRUE(defrag.isOk()) << defrag.toString();
    auto after = client_->status(endpoint);
    ASSERT_TRUE(after.isOk()) << after.status().toString();
    EXPECT_LT(after->db_size, before->db_size) << endpoint;
    EXPECT_LT(after->db_size, kQuota / 2) << endpoint;
  }
  ASSERT_TRUE(client_->disarmAlarm({0, Alarm::Type::kNoSpace}).isOk());
  auto alarms = client_->alarms();
  ASSERT_TRUE(alarms.isOk()) << alarms.status().toString();
  EXPECT_TRUE(alarms->empty());

  auto again = client_->put({"/fill/small", "v", 0, false});
  EXPECT_TRUE(again.isOk()) << again.status().toString();
  RangeRequest key;
  key.key = "/fill/small";
  auto read = mustRange(key);
  ASSERT_EQ(read.kvs.size(), 1u);
  EXPECT_EQ(read.kvs[0].value, "v");
}

}  // namespace
}  // namespace herd::etcd
