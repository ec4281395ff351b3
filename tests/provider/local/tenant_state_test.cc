// A tenant's home under the local provider: private directories, the PKI set with its file
// modes (and untouched when unchanged), ports allocated once and kept, never shared.
#include "provider/local/tenant_state.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <fmt/format.h>
#include <unistd.h>

#include "common/files.h"
#include "common/unique_fd.h"
#include "support/test_env.h"

namespace herd::provider::local {
namespace {

unsigned modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

ino_t inodeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

// A listener on 127.0.0.1:<some port>, standing for a program that holds a port in the range.
struct Listener {
  UniqueFd fd;
  int port = 0;
  Listener() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd.get(), 1), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
};

TEST(TenantStateTest, CredentialsKeepTheirModesAndUnchangedFilesAreNotRewritten) {
  herd::testing::TempDir root;
  auto state = TenantState::open(root.path(), "alpha");
  ASSERT_TRUE(state.isOk()) << state.status().message();
  EXPECT_EQ(modeOf(state->dir()), 0700u);
  pki::PkiFiles set{{"pki/ca.crt", {"CA CERT", 0644}},
                    {"pki/ca.key", {"CA KEY", 0600}},
                    {"pki/etcd/ca.key", {"ETCD CA KEY", 0600}},
                    {"admin.conf", {"KUBECONFIG", 0600}}};
  ASSERT_TRUE(state->storeCredentials(set).isOk());
  EXPECT_EQ(modeOf(state->dir() + "/pki/ca.key"), 0600u);
  EXPECT_EQ(modeOf(state->dir() + "/pki/ca.crt"), 0644u);
  EXPECT_EQ(modeOf(state->dir() + "/pki/etcd"), 0700u);
  auto loaded = state->loadCredentials();
  ASSERT_TRUE(loaded.isOk());
  EXPECT_EQ(*loaded, set);

  ino_t ca = inodeOf(state->dir() + "/pki/ca.crt");
  ino_t admin = inodeOf(state->dir() + "/admin.conf");
  set["admin.conf"].data = "RENEWED KUBECONFIG";
  ASSERT_TRUE(state->storeCredentials(set).isOk());
  EXPECT_EQ(inodeOf(state->dir() + "/pki/ca.crt"), ca) << "an unchanged file is left alone";
  EXPECT_NE(inodeOf(state->dir() + "/admin.conf"), admin) << "a changed one is replaced";
  EXPECT_EQ(herd::testing::readFileOrDie(state->dir() + "/admin.conf"), "RENEWED KUBECONFIG");
}

TEST(TenantStateTest, PathsAndNamesThatLeaveTheTenantsHomeAreRefused) {
  herd::testing::TempDir root;
  for (std::string name : {"", "..", "../beta", "a/b", "Alpha", "-x"}) {
    EXPECT_EQ(TenantState::open(root.path(), name).status().code(), Code::kInvalid) << name;
  }
  auto state = TenantState::open(root.path(), "alpha");
  ASSERT_TRUE(state.isOk());
  EXPECT_EQ(state->storeCredentials({{"../beta/pki/ca.key", {"x", 0600}}}).code(), Code::kInvalid);
  EXPECT_EQ(state->storeCredentials({{"/etc/passwd", {"x", 0600}}}).code(), Code::kInvalid);
  EXPECT_EQ(state->memberDir("../etcd-0").status().code(), Code::kInvalid);
}

TEST(TenantStateTest, PortsAreKeptAcrossRestartsAndNeverShared) {
  herd::testing::TempDir root;
  Listener busy;  // something else holds the first port of the range
  PortRange range{busy.port, busy.port + 50};
  auto alpha = TenantState::open(root.path(), "alpha");
  ASSERT_TRUE(alpha.isOk());
  auto a_client = alpha->port("etcd-0.client", "127.0.0.1", range);
  ASSERT_TRUE(a_client.isOk()) << a_client.status().message();
  EXPECT_NE(*a_client, busy.port);
  auto a_peer = alpha->port("etcd-0.peer", "127.0.0.1", range);
  ASSERT_TRUE(a_peer.isOk());
  EXPECT_NE(*a_peer, *a_client);

  auto beta = TenantState::open(root.path(), "beta");
  ASSERT_TRUE(beta.isOk());
  auto b_client = beta->port("etcd-0.client", "127.0.0.1", range);
  ASSERT_TRUE(b_client.isOk());
  EXPECT_NE(*b_client, *a_client);
  EXPECT_NE(*b_client, *a_peer);

  // herd restarted: the same tenant gets the same ports back.
  auto again = TenantState::open(root.path(), "alpha");
  ASSERT_TRUE(again.isOk());
  EXPECT_EQ(again->port("etcd-0.client", "127.0.0.1", range).valueOr(0), *a_client);
  EXPECT_EQ(again->port("etcd-0.peer", "127.0.0.1", range).valueOr(0), *a_peer);
  EXPECT_EQ(modeOf(again->dir() + "/ports.json"), 0600u);
}

// herd was down and another program (a second herd, anything) took ports of the tenant: the
// tenant gives up those its own processes do not hold and gets fresh ones, except an etcd
// peer port, which etcd's membership records.
TEST(TenantStateTest, PortsAnotherProgramTookAreGivenUpExceptEtcdPeerPorts) {
  herd::testing::TempDir root;
  Listener api, peer;
  const int free_port = herd::testing::freeLoopbackPort();
  ASSERT_TRUE(TenantState::open(root.path(), "alpha").isOk());
  root.write("alpha/ports.json", fmt::format("{{\"kube-apiserver-0.secure\": {}, "
                                             "\"etcd-0.peer\": {}, \"etcd-0.client\": {}}}",
                                             api.port, peer.port, free_port));
  auto state = TenantState::open(root.path(), "alpha");
  ASSERT_TRUE(state.isOk()) << state.status().message();

  // While the tenant's own apiserver runs, its port is rightly busy.
  auto mine = state->releaseTakenPorts("127.0.0.1", [](const std::string& member) {
    return member == "kube-apiserver-0" || member == "etcd-0";
  });
  ASSERT_TRUE(mine.isOk());
  EXPECT_TRUE(mine->released.empty());
  EXPECT_TRUE(mine->kept.empty());
  EXPECT_EQ(state->ports().size(), 3u);

  auto taken = state->releaseTakenPorts("127.0.0.1", [](const std::string&) { return false; });
  ASSERT_TRUE(taken.isOk()) << taken.status().message();
  using Named = std::vector<std::pair<std::string, int>>;
  EXPECT_EQ(taken->released, (Named{{"kube-apiserver-0.secure", api.port}}));
  EXPECT_EQ(taken->kept, (Named{{"etcd-0.peer", peer.port}}));
  EXPECT_EQ(state->ports().at("etcd-0.client"), free_port) << "a free port stays the tenant's";

  PortRange range{20000, 29999};
  auto moved = state->port("kube-apiserver-0.secure", "127.0.0.1", range);
  ASSERT_TRUE(moved.isOk()) << moved.status().message();
  EXPECT_NE(*moved, api.port);
  auto reopened = TenantState::open(root.path(), "alpha");
  ASSERT_TRUE(reopened.isOk());
  EXPECT_EQ(reopened->ports().at("kube-apiserver-0.secure"), *moved) << "the move is kept";
  EXPECT_EQ(reopened->ports().at("etcd-0.peer"), peer.port);
}

TEST(TenantStateTest, AFullRangeIsAClearError) {
  herd::testing::TempDir root;
  Listener busy;
  auto state = TenantState::open(root.path(), "alpha");
  ASSERT_TRUE(state.isOk());
  auto got = state->port("kube-apiserver-0.https", "127.0.0.1", {busy.port, busy.port});
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kResourceExhausted);
  EXPECT_NE(got.status().message().find("kube-apiserver-0.https"), std::string::npos);
}

TEST(TenantStateTest, ADamagedPortsFileIsReportedNotOverwritten) {
  herd::testing::TempDir root;
  ASSERT_TRUE(TenantState::open(root.path(), "alpha").isOk());
  root.write("alpha/ports.json", "{\"etcd-0.client\": \"many\"}");
  auto state = TenantState::open(root.path(), "alpha");
  ASSERT_FALSE(state.isOk());
  EXPECT_NE(state.status().message().find("etcd-0.client"), std::string::npos);
  EXPECT_EQ(herd::testing::readFileOrDie(root.file("alpha/ports.json")),
            "{\"etcd-0.client\": \"many\"}");
}

TEST(TenantStateTest, RemoveDeletesTheTenantOnly) {
  herd::testing::TempDir root;
  auto alpha = TenantState::open(root.path(), "alpha");
  auto beta = TenantState::open(root.path(), "beta");
  ASSERT_TRUE(alpha.isOk() && beta.isOk());
  ASSERT_TRUE(alpha->storeCredentials({{"pki/ca.key", {"A", 0600}}}).isOk());
  ASSERT_TRUE(beta->storeCredentials({{"pki/ca.key", {"B", 0600}}}).isOk());
  ASSERT_TRUE(alpha->remove().isOk());
  EXPECT_FALSE(files::exists(root.file("alpha")));
  EXPECT_EQ(herd::testing::readFileOrDie(root.file("beta/pki/ca.key")), "B");
}

}  // namespace
}  // namespace herd::provider::local
