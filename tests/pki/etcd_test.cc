// Real etcd (Debian's etcd-server) as a 3-member cluster on loopback, TLS on client and peer
// traffic, with the generated etcd certificates; etcdctl with the generated client
// certificates. Every member is a Process, stopped when the test ends.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "common/files.h"
#include "pki_test_util.h"

namespace herd::pki {
namespace {

using testing::run;

constexpr int kMembers = 3;
// etcd needs a few seconds to elect a leader on a busy 2-core CI machine; leave room.
constexpr auto kStartTimeout = std::chrono::seconds(60);

class EtcdClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = findExecutable("etcd");
    auto etcdctl = findExecutable("etcdctl");
    if (!etcd || !etcdctl)
      GTEST_SKIP() << "etcd or etcdctl is not installed (scripts/setup installs them)";
    etcd_ = *etcd;
    etcdctl_ = *etcdctl;
    testing::issueInto(testing::testCluster("alpha"), alpha_.path());
    testing::issueInto(testing::testCluster("beta"), beta_.path());
    // Ports can be taken between picking and binding when tests run in parallel: retry.
    for (int attempt = 0; attempt < 3 && !started_; ++attempt) started_ = startCluster(attempt);
    ASSERT_TRUE(started_) << "etcd did not become healthy; logs under " << alpha_.path();
  }

  bool startCluster(int attempt) {
    members_.clear();
    client_ports_.clear();
    std::vector<int> peer_ports;
    for (int i = 0; i < kMembers; ++i) {
      client_ports_.push_back(testing::freeLoopbackPort());
      peer_ports.push_back(testing::freeLoopbackPort());
    }
    std::string initial;
    for (int i = 0; i < kMembers; ++i) {
      initial += (i ? "," : "") + fmt(i, peer_ports[static_cast<size_t>(i)]);
    }
    const std::string pki = alpha_.path() + "/pki/etcd/";
    for (int i = 0; i < kMembers; ++i) {
      std::string name = "etcd-" + std::to_string(i);
      std::string client =
          "https://127.0.0.1:" + std::to_string(client_ports_[static_cast<size_t>(i)]);
      std::string peer = "https://127.0.0.1:" + std::to_string(peer_ports[static_cast<size_t>(i)]);
      std::string data = alpha_.path() + "/data-" + std::to_string(attempt) + "-" + name;
      ProcessOptions options;
      options.stderr_path = alpha_.path() + "/" + name + ".log";
      auto member = Process::spawn({etcd_,
                                    "--name",
                                    name,
                                    "--data-dir",
                                    data,
                                    "--listen-client-urls",
                                    client,
                                    "--advertise-client-urls",
                                    client,
                                    "--listen-peer-urls",
                                    peer,
                                    "--initial-advertise-peer-urls",
                                    peer,
                                    "--initial-cluster",
                                    initial,
                                    "--initial-cluster-state",
                                    "new",
                                    "--initial-cluster-token",
                                    "herd-pki-test",
                                    "--cert-file",
                                    pki + "server.crt",
                                    "--key-file",
                                    pki + "server.key",
                                    "--client-cert-auth",
                                    "--trusted-ca-file",
                                    pki + "ca.crt",
                                    "--peer-cert-file",
                                    pki + "peer.crt",
                                    "--peer-key-file",
                                    pki + "peer.key",
                                    "--peer-client-cert-auth",
                                    "--peer-trusted-ca-file",
                                    pki + "ca.crt",
                                    "--log-level",
                                    "warn",
                                    "--logger",
                                    "zap"},
                                   options);
      if (!member) return false;
      members_.push_back(std::move(*member));
    }
    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& m : members_) {
        if (!m.running()) return false;
      }
      auto health = etcdctl(alpha_.path() + "/pki/etcd/healthcheck-client",
                            {"endpoint", "health", "--cluster"});
      if (health.exit_code == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    return false;
  }

  static std::string fmt(int i, int port) {
    return "etcd-" + std::to_string(i) + "=https://127.0.0.1:" + std::to_string(port);
  }

  std::string endpoints() const {
    std::string out;
    for (int port : client_ports_)
      out += (out.empty() ? "" : ",") + ("https://127.0.0.1:" + std::to_string(port));
    return out;
  }

  // etcdctl with the certificate pair at `cert_base` + .crt/.key; CA is always alpha's.
  CommandResult etcdctl(const std::string& cert_base, const std::vector<std::string>& args,
                        const std::string& ca = {}) {
    std::vector<std::string> argv{
        etcdctl_,
        "--endpoints=" + endpoints(),
        "--cacert=" + (ca.empty() ? alpha_.path() + "/pki/etcd/ca.crt" : ca),
        "--cert=" + cert_base + ".crt",
        "--key=" + cert_base + ".key",
        "--dial-timeout=3s",
        "--command-timeout=5s"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.env = {"ETCDCTL_API=3"};
    return run(argv, {}, std::chrono::seconds(30), options);
  }

  herd::testing::TempDir alpha_, beta_;
  std::string etcd_, etcdctl_;
  std::vector<Process> members_;
  std::vector<int> client_ports_;
  bool started_ = false;
};

TEST_F(EtcdClusterTest, ThreeMembersFormAClusterOverMutualTls) {
  auto members =
      etcdctl(alpha_.path() + "/pki/etcd/healthcheck-client", {"member", "list", "-w", "simple"});
  ASSERT_EQ(members.exit_code, 0) << members.err;
  for (int i = 0; i < kMembers; ++i) {
    EXPECT_NE(members.out.find("etcd-" + std::to_string(i)), std::string::npos) << members.out;
  }
  auto health =
      etcdctl(alpha_.path() + "/pki/etcd/healthcheck-client", {"endpoint", "health", "--cluster"});
  EXPECT_EQ(health.exit_code, 0) << health.out << health.err;
  EXPECT_EQ(std::count(health.err.begin(), health.err.end(), '\n') +
                std::count(health.out.begin(), health.out.end(), '\n'),
            kMembers)
      << health.out << health.err;
}

TEST_F(EtcdClusterTest, ApiServerAndHealthcheckClientsCanPutAndGet) {
  const std::string apiserver = alpha_.path() + "/pki/apiserver-etcd-client";
  const std::string healthcheck = alpha_.path() + "/pki/etcd/healthcheck-client";
  auto put = etcdctl(apiserver, {"put", "/registry/herd/probe", "from-apiserver"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(put.out, "OK\n");
  auto get = etcdctl(healthcheck, {"get", "/registry/herd/probe", "--print-value-only"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.out, "from-apiserver\n");
  put = etcdctl(healthcheck, {"put", "/registry/herd/probe", "from-healthcheck"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  get = etcdctl(apiserver, {"get", "/registry/herd/probe", "--print-value-only"});
  EXPECT_EQ(get.out, "from-healthcheck\n");
}

TEST_F(EtcdClusterTest, AnotherTenantsClientCertificateIsRefused) {
  // Beta's client certificate, presented with a CA bundle that trusts alpha's server: the
  // handshake reaches etcd, which must refuse a client it did not issue.
  auto put = etcdctl(beta_.path() + "/pki/apiserver-etcd-client", {"put", "/registry/stolen", "x"});
  EXPECT_NE(put.exit_code, 0) << put.out;

  auto get =
      etcdctl(beta_.path() + "/pki/etcd/healthcheck-client", {"get", "/registry/herd/probe"});
  EXPECT_NE(get.exit_code, 0) << get.out;
  // And beta's CA does not accept alpha's server certificate either.
  auto wrong_ca = etcdctl(alpha_.path() + "/pki/apiserver-etcd-client", {"get", "x"},
                          beta_.path() + "/pki/etcd/ca.crt");
  EXPECT_NE(wrong_ca.exit_code, 0) << wrong_ca.out;
}

}  // namespace
}  // namespace herd::pki
