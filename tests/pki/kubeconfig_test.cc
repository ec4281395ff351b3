// The generated kubeconfigs in kubectl's hands: `kubectl config view` reads them, and a real
// TLS handshake with client-certificate authentication succeeds against an `openssl s_server`
// that demands a client certificate from this tenant's CA, and fails with another tenant's.
#include "pki/kubeconfig.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "pki_test_util.h"

namespace herd::pki {
namespace {

using testing::run;

// kubectl should give up quickly when the handshake is refused.
constexpr std::string_view kRequestTimeout = "--request-timeout=10s";

class KubeconfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = findExecutable("kubectl");
    if (!kubectl) GTEST_SKIP() << "kubectl is not installed (scripts/setup installs it)";
    kubectl_ = *kubectl;
    testing::issueInto(testing::testCluster("alpha"), alpha_.path());
    testing::issueInto(testing::testCluster("beta"), beta_.path());
  }

  // openssl s_server as the tenant apiserver: alpha's serving certificate, and a client
  // certificate issued by alpha's cluster CA required (-Verify with -verify_return_error).
  bool startServer() {
    auto openssl = findExecutable("openssl");
    if (!openssl) return false;
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = testing::freeLoopbackPort();
      ProcessOptions options;
      options.stdout_path = alpha_.path() + "/s_server.log";
      options.stderr_path = alpha_.path() + "/s_server.log";
      auto server = Process::spawn(
          {*openssl, "s_server", "-accept", "127.0.0.1:" + std::to_string(port_), "-cert",
           alpha_.file("pki/apiserver.crt"), "-key", alpha_.file("pki/apiserver.key"), "-CAfile",
           alpha_.file("pki/ca.crt"), "-Verify", "1", "-verify_return_error", "-www", "-quiet"},
          options);
      if (!server) continue;
      server_.emplace(std::move(*server));
      if (testing::waitForPort(port_, std::chrono::seconds(10)) && server_->running()) return true;
      server_.reset();
    }
    return false;
  }

  CommandResult kubectl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{kubectl_};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessOptions options;
    options.env = {"HOME=" + alpha_.path(), "KUBECONFIG="};
    return run(argv, {}, std::chrono::seconds(60), options);
  }

  // kubectl through `conf`, sent to the local test server under the public name.
  CommandResult getThroughServer(const std::string& conf) {
    return kubectl({"--kubeconfig", conf, "--server", "https://127.0.0.1:" + std::to_string(port_),
                    "--tls-server-name", "alpha.herd.localhost", std::string(kRequestTimeout),
                    "get", "--raw", "/"});
  }

  herd::testing::TempDir alpha_, beta_;
  std::string kubectl_;
  int port_ = 0;
  std::optional<Process> server_;
};

TEST_F(KubeconfigTest, KubectlConfigViewReadsEveryKubeconfig) {
  struct Expect {
    const char* file;
    const char* user;
    const char* server;
  };
  for (const auto& e :
       {Expect{"admin.conf", "kubernetes-admin", "https://alpha.herd.localhost:443"},
        Expect{"controller-manager.conf", "system:kube-controller-manager",
               "https://kube-apiserver.herd-alpha.svc:6443"},
        Expect{"scheduler.conf", "system:kube-scheduler",
               "https://kube-apiserver.herd-alpha.svc:6443"},
        Expect{"herd.conf", "herd:controller", "https://kube-apiserver.herd-alpha.svc:6443"}}) {
    auto view =
        kubectl({"config", "view", "--raw", "-o", "json", "--kubeconfig", alpha_.file(e.file)});
    ASSERT_EQ(view.exit_code, 0) << e.file << ": " << view.err;
    auto config = nlohmann::json::parse(view.out);
    EXPECT_EQ(config["current-context"], std::string(e.user) + "@alpha") << e.file;
    EXPECT_EQ(config["clusters"][0]["cluster"]["server"], e.server) << e.file;
    EXPECT_EQ(config["users"][0]["name"], e.user) << e.file;
    EXPECT_FALSE(config["users"][0]["user"]["client-certificate-data"].get<std::string>().empty());
    auto context = kubectl({"config", "current-context", "--kubeconfig", alpha_.file(e.file)});
    EXPECT_EQ(context.out, std::string(e.user) + "@alpha\n");
  }
}

TEST_F(KubeconfigTest, KubectlAuthenticatesWithItsClientCertificate) {
  ASSERT_TRUE(startServer()) << files::read(alpha_.path() + "/s_server.log").valueOr("");
  for (const char* conf :
       {"admin.conf", "controller-manager.conf", "scheduler.conf", "herd.conf"}) {
    auto get = getThroughServer(alpha_.file(conf));
    EXPECT_EQ(get.exit_code, 0) << conf << ": " << get.err;
    // s_server -www answers with a page describing the session, which includes the
    // client certificate it verified.
    EXPECT_NE(get.out.find("s_server"), std::string::npos) << conf << ": " << get.out;
  }
}

TEST_F(KubeconfigTest, AnotherTenantsKubeconfigIsRefused) {
  ASSERT_TRUE(startServer());
  auto get = getThroughServer(beta_.file("admin.conf"));
  EXPECT_NE(get.exit_code, 0) << get.out;
  // beta's CA does not vouch for alpha's serving certificate either.
  auto verify =
      kubectl({"--kubeconfig", beta_.file("admin.conf"), "--server",
               "https://127.0.0.1:" + std::to_string(port_), "--tls-server-name",
               "alpha.herd.localhost", std::string(kRequestTimeout), "get", "--raw", "/"});
  EXPECT_NE(verify.err.find("certificate"), std::string::npos) << verify.err;
  // And a name the serving certificate does not carry is rejected by kubectl.
  auto wrong_name =
      kubectl({"--kubeconfig", alpha_.file("admin.conf"), "--server",
               "https://127.0.0.1:" + std::to_string(port_), "--tls-server-name",
               "beta.herd.localhost", std::string(kRequestTimeout), "get", "--raw", "/"});
  EXPECT_NE(wrong_name.exit_code, 0);
}

TEST(KubeconfigParseTest, ReadsBackWhatItRendered) {
  KubeconfigParams p{
      "alpha", "https://alpha.herd.localhost:443", "CA PEM", "kubernetes-admin", "CERT", "KEY"};
  auto parsed = parseKubeconfig(renderKubeconfig(p));
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  EXPECT_EQ(parsed->server, p.server);
  EXPECT_EQ(parsed->ca_pem, "CA PEM");
  EXPECT_EQ(parsed->client_cert_pem, "CERT");
  EXPECT_EQ(parsed->client_key_pem, "KEY");
  EXPECT_FALSE(parseKubeconfig("kind: Config\n").isOk());
  EXPECT_FALSE(parseKubeconfig(": : :").isOk());
}

}  // namespace
}  // namespace herd::pki
