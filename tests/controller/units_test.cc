// Pure pieces of the controller: the version gate, the gateway port allocator, the tenant
// client configuration.
#include <gtest/gtest.h>

#include "controller/gateway_ports.h"
#include "controller/resources.h"
#include "controller/tenant_client.h"
#include "controller/upgrade.h"

namespace herd::controller {
namespace {

TEST(DecideVersionTest, FirstRunTakesTheRequestedVersion) {
  auto d = decideVersion("", "1.30");
  EXPECT_FALSE(d.refused);
  EXPECT_EQ(d.target, "1.30");
}

TEST(DecideVersionTest, OneMinorUpAndPatchesEitherWayAreAllowed) {
  EXPECT_EQ(decideVersion("1.30", "1.31").target, "1.31");
  EXPECT_EQ(decideVersion("1.31.2", "1.31.5").target, "1.31.5");
  EXPECT_EQ(decideVersion("1.31.5", "1.31.2").target, "1.31.2");
  EXPECT_FALSE(decideVersion("1.31.5", "1.32").refused);
}

TEST(DecideVersionTest, SkipAndDowngradeAreRefusedAndKeepTheRunningVersion) {
  auto skip = decideVersion("1.30", "1.32");
  EXPECT_TRUE(skip.refused);
  EXPECT_EQ(skip.target, "1.30");
  EXPECT_EQ(skip.reason, "VersionSkipped");
  EXPECT_NE(skip.message.find("first to 1.31"), std::string::npos) << skip.message;
  auto down = decideVersion("1.32", "1.31");
  EXPECT_TRUE(down.refused);
  EXPECT_EQ(down.target, "1.32");
  EXPECT_EQ(down.reason, "Downgrade");
  EXPECT_EQ(decideVersion("1.32", "banana").reason, "MalformedVersion");
}

TEST(GatewayPortAllocatorTest, LowestFreeStableAndReleased) {
  GatewayPortAllocator ports({100, 102});
  EXPECT_EQ(*ports.allocate("a", {}), 100);
  EXPECT_EQ(*ports.allocate("b", {}), 101);  // a's reservation counts before it is recorded
  EXPECT_EQ(*ports.allocate("a", {}), 100);  // stable
  auto full = ports.allocate("c", {{"x", 102}});  // 100, 101 reserved, 102 recorded by x
  EXPECT_FALSE(full.isOk());
  ports.release("b");
  EXPECT_EQ(*ports.allocate("d", {{"a", 100}}), 101);
  // A recorded port is kept even outside the range.
  EXPECT_EQ(*ports.allocate("old", {{"old", 7}}), 7);
}

TEST(GatewayPortAllocatorTest, ExhaustedRangeSaysSo) {
  GatewayPortAllocator ports({100, 100});
  ASSERT_TRUE(ports.allocate("a", {}).isOk());
  auto none = ports.allocate("b", {});
  ASSERT_FALSE(none.isOk());
  EXPECT_EQ(none.status().code(), Code::kResourceExhausted);
  EXPECT_NE(none.status().message().find("100-100"), std::string::npos);
}

TEST(TenantRestConfigTest, WithoutHerdsKubeconfigIsAClearError) {
  auto c = tenantRestConfig({}, "https://x:6443");
  ASSERT_FALSE(c.isOk());
  EXPECT_NE(c.status().message().find("herd.conf"), std::string::npos);
}

TEST(TenantRestConfigTest, PointsHerdsKubeconfigAtTheGivenServer) {
  pki::PkiFiles files;
  files["herd.conf"].data = R"(apiVersion: v1
kind: Config
clusters:
- name: demo
  cluster:
    server: https://demo.herd.localhost:443
    certificate-authority-data: Q0E=
users:
- name: admin
  user:
    token: secret
contexts:
- name: admin@demo
  context: {cluster: demo, user: admin}
current-context: admin@demo
)";
  auto c = tenantRestConfig(files, "https://kube-apiserver.herd-demo.svc:6443");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->server, "https://kube-apiserver.herd-demo.svc:6443");
  EXPECT_EQ(c->tls_server_name, "demo.herd.localhost");
  EXPECT_EQ(c->ca_pem, "CA");
  EXPECT_EQ(c->bearer_token, "secret");
  // The public name, when given, is the server name whatever the kubeconfig says.
  auto named = tenantRestConfig(files, "https://127.0.0.1:17001", "demo.example.com");
  ASSERT_TRUE(named.isOk());
  EXPECT_EQ(named->tls_server_name, "demo.example.com");
}

api::EtcdMemberStatus member(const std::string& name, int64_t raft, int64_t db) {
  api::EtcdMemberStatus m;
  m.name = name;
  m.id = name + "-id";
  m.reachable = true;
  m.raftIndex = raft;
  m.dbSize = db;
  m.dbSizeInUse = db / 2;
  return m;
}

TEST(KeepSettledEtcdFiguresTest, SettledFiguresKeepWhatWasWrittenSoNothingIsRewritten) {
  std::vector<api::EtcdMemberStatus> written = {member("etcd-0", 5000, 1 << 20),
                                                member("etcd-1", 4990, 1 << 20)};
  // A few hundred writes later, sizes within a tenth: the status stays as written.
  auto fresh = std::vector{member("etcd-0", 5400, (1 << 20) + 4096),
                           member("etcd-1", 5390, (1 << 20) + 8192)};
  keepSettledEtcdFigures(written, fresh);
  EXPECT_EQ(fresh, written);
}

TEST(KeepSettledEtcdFiguresTest, AnyOtherChangeABigMoveOrALaggingMemberRefreshesThemAll) {
  std::vector<api::EtcdMemberStatus> written = {member("etcd-0", 5000, 1 << 20),
                                                member("etcd-1", 4990, 1 << 20)};
  auto leader = std::vector{member("etcd-0", 5400, 1 << 20), member("etcd-1", 5390, 1 << 20)};
  leader[1].leader = true;  // another fact changed: every figure is refreshed with it
  auto fresh = leader;
  keepSettledEtcdFigures(written, fresh);
  EXPECT_EQ(fresh, leader);

  auto grown = std::vector{member("etcd-0", 5400, 2 << 20), member("etcd-1", 5390, 1 << 20)};
  fresh = grown;
  keepSettledEtcdFigures(written, fresh);
  EXPECT_EQ(fresh, grown) << "a database that doubled is shown";

  auto lagging = std::vector{member("etcd-0", 5400 + kEtcdLagRefresh, 1 << 20),
                             member("etcd-1", 5400, 1 << 20)};
  fresh = lagging;
  keepSettledEtcdFigures(written, fresh);
  EXPECT_EQ(fresh, lagging) << "a member behind the others is shown";

  auto more = std::vector{member("etcd-0", 5400, 1 << 20), member("etcd-1", 5390, 1 << 20),
                          member("etcd-2", 0, 0)};
  fresh = more;
  keepSettledEtcdFigures(written, fresh);
  EXPECT_EQ(fresh, more) << "a membership change is shown whole";
}

}  // namespace
}  // namespace herd::controller
