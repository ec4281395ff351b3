// The generated SSH keys in OpenSSH's hands: ssh-keygen reads both, and a real sshd on
// loopback, using the generated host key, accepts a login with the node key (and the client
// checks the host key), but not with another tenant's node key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/files.h"
#include "pki/ssh_key.h"
#include "pki_test_util.h"

namespace herd::pki {
namespace {

using testing::run;

TEST(SshKeyTest, SshKeygenReadsBothKeys) {
  herd::testing::TempDir dir;
  testing::issueInto(testing::testCluster("alpha"), dir.path());
  for (auto path : {layout::kSshHostKey, layout::kSshNodeKey}) {
    std::string key = dir.path() + "/" + std::string(path);
    auto fingerprint = run({"ssh-keygen", "-l", "-f", key});
    EXPECT_EQ(fingerprint.exit_code, 0) << fingerprint.err;
    EXPECT_NE(fingerprint.out.find("256 SHA256:"), std::string::npos) << fingerprint.out;
    EXPECT_NE(fingerprint.out.find("(ED25519)"), std::string::npos) << fingerprint.out;
    // -y derives the public key from the private file; it must equal the .pub we wrote.
    auto derived = run({"ssh-keygen", "-y", "-f", key});
    ASSERT_EQ(derived.exit_code, 0) << derived.err;
    std::string pub = herd::testing::readFileOrDie(key + ".pub");
    EXPECT_EQ(pub.substr(0, pub.rfind(' ')),
              derived.out.substr(0, derived.out.find('\n')).substr(0, pub.rfind(' ')));
    auto pub_fingerprint = run({"ssh-keygen", "-l", "-f", key + ".pub"});
    EXPECT_EQ(pub_fingerprint.out.substr(0, 55), fingerprint.out.substr(0, 55));
  }
  std::string authorized = herd::testing::readFileOrDie(dir.file("ssh/authorized_keys"));
  EXPECT_TRUE(authorized.starts_with("restrict,port-forwarding ssh-ed25519 ")) << authorized;
  EXPECT_NE(authorized.find("herd-node@alpha"), std::string::npos);
}

TEST(SshKeyTest, RoundTripsAndRejectsDamage) {
  auto key = SshKey::generate("c");
  ASSERT_TRUE(key.isOk());
  auto back = SshKey::fromOpenSsh(key->privateKeyOpenSsh());
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->publicKeyLine(), key->publicKeyLine());
  EXPECT_EQ(back->privateKeyOpenSsh(), key->privateKeyOpenSsh());
  std::string text = key->privateKeyOpenSsh();
  EXPECT_FALSE(SshKey::fromOpenSsh(text.substr(0, text.size() / 2)).isOk());
  EXPECT_FALSE(SshKey::fromOpenSsh("garbage").isOk());
  text[60] = text[60] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(SshKey::fromOpenSsh(text).isOk());
}

TEST(SshKeyTest, SshKeygenKeyIsReadByHerd) {
  herd::testing::TempDir dir;
  auto made = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "from-ssh-keygen", "-f",
                   dir.file("k")});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto key = SshKey::fromOpenSsh(herd::testing::readFileOrDie(dir.file("k")));
  ASSERT_TRUE(key.isOk()) << key.status().toString();
  EXPECT_EQ(key->publicKeyLine() + "\n", herd::testing::readFileOrDie(dir.file("k.pub")));
}

class SshdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto sshd = findExecutable("sshd");
    auto ssh = findExecutable("ssh");
    if (!sshd || !ssh) GTEST_SKIP() << "OpenSSH is not installed (scripts/setup installs it)";
    ssh_ = *ssh;
    testing::issueInto(testing::testCluster("alpha"), alpha_.path());
    testing::issueInto(testing::testCluster("beta"), beta_.path());
    // sshd insists on its privilege-separation directory even when it never uses it.
    ::mkdir("/run/sshd", 0755);
    for (int attempt = 0; attempt < 3 && !sshd_; ++attempt) {
      port_ = testing::freeLoopbackPort();
      std::string config =
          "HostKey " + alpha_.file("ssh/host_ed25519_key") + "\n" + "AuthorizedKeysFile " +
          alpha_.file("ssh/authorized_keys") + "\n" +
          "ListenAddress 127.0.0.1:" + std::to_string(port_) + "\n" +
          "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nPidFile none\n"
          "PasswordAuthentication no\nKbdInteractiveAuthentication no\n";
      std::string config_path = alpha_.write("sshd_config", config);
      ProcessOptions options;
      options.stderr_path = alpha_.file("sshd.log");
      auto server = Process::spawn({*sshd, "-D", "-e", "-f", config_path}, options);
      if (!server) continue;
      if (testing::waitForPort(port_, std::chrono::seconds(10)) && server->running())
        sshd_.emplace(std::move(*server));
    }
    ASSERT_TRUE(sshd_) << files::read(alpha_.file("sshd.log")).valueOr("");
    // The client trusts exactly the generated host key.
    alpha_.write("known_hosts",
                 "[127.0.0.1]:" + std::to_string(port_) + " " +
                     herd::testing::readFileOrDie(alpha_.file("ssh/host_ed25519_key.pub")));
  }

  CommandResult login(const std::string& key) {
    return run({ssh_,
                "-F",
                "/dev/null",
                "-i",
                key,
                "-p",
                std::to_string(port_),
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "UserKnownHostsFile=" + alpha_.file("known_hosts"),
                "-o",
                "ConnectTimeout=10",
                "root@127.0.0.1",
                "echo",
                "herd-login-ok"},
               {}, std::chrono::seconds(30));
  }

  herd::testing::TempDir alpha_, beta_;
  std::string ssh_;
  int port_ = 0;
  std::optional<Process> sshd_;
};

TEST_F(SshdTest, AcceptsTheNodeKeyAndPresentsTheHostKey) {
  auto ok = login(alpha_.file("ssh/node_ed25519_key"));
  EXPECT_EQ(ok.exit_code, 0) << ok.err << files::read(alpha_.file("sshd.log")).valueOr("");
  EXPECT_EQ(ok.out, "herd-login-ok\n");
}

TEST_F(SshdTest, RefusesAnotherTenantsNodeKey) {
  auto refused = login(beta_.file("ssh/node_ed25519_key"));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace herd::pki
