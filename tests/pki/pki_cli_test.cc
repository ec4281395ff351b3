// herd pki generate and herd pki check, run as the built binary on a scratch directory.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/files.h"
#include "pki_test_util.h"

namespace herd::pki {
namespace {

using herd::testing::runHerd;

constexpr std::string_view kClusterYaml = R"(apiVersion: herd.io/v1alpha1
kind: Cluster
metadata:
  name: alpha
spec:
  controlPlane:
    etcd:
      replicas: 3
)";

unsigned modeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

struct timespec mtimeOf(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mtim;
}

class PkiCliTest : public ::testing::Test {
 protected:
  std::string out() const { return dir_.file("out"); }
  CommandResult generate(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"pki", "generate", "-f", cluster_file_, "--out", out()};
    args.insert(args.end(), extra.begin(), extra.end());
    return runHerd(args);
  }
  herd::testing::TempDir dir_;
  std::string cluster_file_ = dir_.write("cluster.yaml", kClusterYaml);
};

TEST_F(PkiCliTest, WritesKubeadmsLayoutWithPrivateModes) {
  auto r = generate();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (auto path : {"pki/ca.crt",
                    "pki/ca.key",
                    "pki/apiserver.crt",
                    "pki/apiserver.key",
                    "pki/apiserver-kubelet-client.crt",
                    "pki/apiserver-kubelet-client.key",
                    "pki/front-proxy-ca.crt",
                    "pki/front-proxy-ca.key",
                    "pki/front-proxy-client.crt",
                    "pki/front-proxy-client.key",
                    "pki/etcd/ca.crt",
                    "pki/etcd/ca.key",
                    "pki/etcd/server.crt",
                    "pki/etcd/server.key",
                    "pki/etcd/peer.crt",
                    "pki/etcd/peer.key",
                    "pki/etcd/healthcheck-client.crt",
                    "pki/etcd/healthcheck-client.key",
                    "pki/apiserver-etcd-client.crt",
                    "pki/apiserver-etcd-client.key",
                    "pki/sa.key",
                    "pki/sa.pub",
                    "admin.conf",
                    "controller-manager.conf",
                    "scheduler.conf",
                    "herd.conf",
                    "tokens/bootstrap-token",
                    "tokens/bootstrap-token.yaml",
                    "tokens/cluster-info.yaml",
                    "ssh/host_ed25519_key",
                    "ssh/host_ed25519_key.pub",
                    "ssh/node_ed25519_key",
                    "ssh/node_ed25519_key.pub",
                    "ssh/authorized_keys"}) {
    std::string p = out() + "/" + path;
    ASSERT_TRUE(files::exists(p)) << path;
    std::string name(path);
    bool secret = name.ends_with(".key") || name.ends_with(".conf") ||
                  name.ends_with("_ed25519_key") || name.starts_with("tokens/bootstrap-token");
    EXPECT_EQ(modeOf(p), secret ? 0600u : 0644u) << path;
  }
  EXPECT_EQ(modeOf(out() + "/pki"), 0700u);
  EXPECT_NE(r.out.find("36 file(s) written"), std::string::npos) << r.out;
}

TEST_F(PkiCliTest, RerunKeepsWhatIsValid) {
  ASSERT_EQ(generate().exit_code, 0);
  auto before = mtimeOf(out() + "/pki/apiserver.crt");
  std::string ca = herd::testing::readFileOrDie(out() + "/pki/ca.crt");
  auto again = generate();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 file(s) written"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("created"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("renewed"), std::string::npos) << again.out;
  auto after = mtimeOf(out() + "/pki/apiserver.crt");
  EXPECT_EQ(before.tv_sec, after.tv_sec);
  EXPECT_EQ(before.tv_nsec, after.tv_nsec);
  EXPECT_EQ(herd::testing::readFileOrDie(out() + "/pki/ca.crt"), ca);

  // A new hostname renews only what carries it.
  dir_.write("cluster.yaml",
             std::string(kClusterYaml) + "  expose:\n    hostname: api.alpha.example.com\n");
  auto moved = generate();
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_NE(moved.out.find("apiserver                  renewed  SANs changed"), std::string::npos)
      << moved.out;
  EXPECT_NE(moved.out.find("etcd/peer                  kept"), std::string::npos) << moved.out;
  EXPECT_EQ(herd::testing::readFileOrDie(out() + "/pki/ca.crt"), ca);
}

TEST_F(PkiCliTest, CheckReportsHealthAndProblems) {
  ASSERT_EQ(generate().exit_code, 0);
  auto check = runHerd({"pki", "check", out(), "-f", cluster_file_});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("ITEM"), std::string::npos);
  EXPECT_NE(check.out.find("apiserver "), std::string::npos);
  EXPECT_NE(check.out.find("364d"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("3649d"), std::string::npos) << check.out;

  auto json = runHerd({"pki", "check", out(), "-o", "json"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_NE(json.out.find("\"item\": \"etcd/peer\""), std::string::npos) << json.out;

  // Corrupt one certificate: check names it, generate refuses to paper over it.
  ASSERT_TRUE(
      files::writeAtomic(out() + "/pki/front-proxy-client.crt", "-----BEGIN CERTIFICATE-----\nxx\n")
          .isOk());
  check = runHerd({"pki", "check", out()});
  EXPECT_EQ(check.exit_code, 1);
  EXPECT_NE(
      check.out.find("pki/front-proxy-client.crt: not a PEM certificate (corrupt or truncated)"),
      std::string::npos)
      << check.out;
  auto refused = generate();
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("pki/front-proxy-client.crt: not a PEM certificate"),
            std::string::npos)
      << refused.err;
}

TEST_F(PkiCliTest, RsaAndBadInput) {
  auto rsa = generate({"--key-algorithm", "rsa-2048"});
  ASSERT_EQ(rsa.exit_code, 0) << rsa.err;
  EXPECT_NE(herd::testing::readFileOrDie(out() + "/pki/ca.key").find("BEGIN RSA PRIVATE KEY"),
            std::string::npos);
  EXPECT_EQ(generate({"--key-algorithm", "dsa"}).exit_code, 2);
  auto invalid = runHerd({"pki", "generate", "-f",
                          dir_.write("bad.yaml",
                                     "kind: Cluster\napiVersion: herd.io/v1alpha1\n"
                                     "metadata: {name: Bad_Name}\n"),
                          "--out", out()});
  EXPECT_EQ(invalid.exit_code, 1);
  EXPECT_NE(invalid.err.find("is invalid"), std::string::npos) << invalid.err;
  auto missing = runHerd({"pki", "check", dir_.file("nowhere")});
  EXPECT_EQ(missing.exit_code, 1);
}

}  // namespace
}  // namespace herd::pki
