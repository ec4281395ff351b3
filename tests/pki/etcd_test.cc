// Real etcd (Debian's etcd-server) as a 3-member cluster on loopback, TLS on client and peer
// traffic, with the generated etcd certificates; etcdctl with the generated client
// certificates. Every member is a Process, stopped when the test ends.
#include <gtest/gtest.h>

#include <optional>

#include "common/files.h"
#include "pki_test_util.h"
#include "support/etcd_cluster.h"

namespace herd::pki {
namespace {

constexpr int kMembers = 3;

class EtcdClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = findExecutable("etcd");
    auto etcdctl = findExecutable("etcdctl");
    if (!etcd || !etcdctl)
      GTEST_SKIP() << "etcd or etcdctl is not installed (scripts/setup installs them)";
    testing::issueInto(testing::testCluster("alpha"), alpha_.path());
    testing::issueInto(testing::testCluster("beta"), beta_.path());
    herd::testing::EtcdCluster::Options options;
    options.etcd = *etcd;
    options.etcdctl = *etcdctl;
    options.dir = alpha_.path();
    options.members = kMembers;
    options.token = "herd-pki-test";
    options.free_port = testing::freeLoopbackPort;
    cluster_.emplace(std::move(options));
    ASSERT_TRUE(cluster_->start()) << "etcd did not become healthy; logs under " << alpha_.path();
  }

  // etcdctl with the certificate pair at `cert_base` + .crt/.key; CA is always alpha's.
  CommandResult etcdctl(const std::string& cert_base, const std::vector<std::string>& args,
                        const std::string& ca = {}) {
    return cluster_->etcdctl(cert_base, args, ca);
  }

  herd::testing::TempDir alpha_, beta_;
  std::optional<herd::testing::EtcdCluster> cluster_;
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
