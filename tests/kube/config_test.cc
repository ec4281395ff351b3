#include "kube/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/base64.h"
#include "common/files.h"
#include "common/process.h"
#include "support/test_env.h"

namespace herd::kube {
namespace {

using namespace std::chrono_literals;

// Sets an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

const char* kFirst = R"(apiVersion: v1
kind: Config
current-context: first
clusters:
- name: shared
  cluster:
    server: https://first.example:6443
    certificate-authority: ca.crt
    tls-server-name: api.first.example
- name: only-first
  cluster:
    server: https://only-first.example
users:
- name: shared
  user:
    token: first-token
contexts:
- name: first
  context: {cluster: shared, user: shared, namespace: team-a}
)";

const char* kSecond = R"(apiVersion: v1
kind: Config
current-context: second
clusters:
- name: shared
  cluster:
    server: https://second.example:6443
- name: only-second
  cluster:
    server: https://only-second.example:443/prefix/
    insecure-skip-tls-verify: true
users:
- name: shared
  user:
    token: second-token
- name: certs
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
contexts:
- name: second
  context: {cluster: only-second, user: certs}
- name: first
  context: {cluster: only-second, user: certs}
)";

TEST(KubeconfigTest, MergesLikeKubectlFirstFileWins) {
  testing::TempDir dir;
  dir.write("ca.crt", "CA PEM");
  std::string a = dir.write("a.yaml", kFirst);
  std::string b = dir.write("b.yaml", kSecond);
  ScopedEnv env("KUBECONFIG", a + ":" + dir.file("missing.yaml") + ":" + b);
  auto rc = loadKubeconfig();
  ASSERT_TRUE(rc.isOk()) << rc.status().toString();
  EXPECT_EQ(rc->server,
            "https://first.example:6443");  // context, cluster and user of the first file
  EXPECT_EQ(rc->bearer_token, "first-token");
  EXPECT_EQ(rc->ca_pem, "CA PEM");  // relative to the file that named it
  EXPECT_EQ(rc->tls_server_name, "api.first.example");
  EXPECT_EQ(rc->namespace_, "team-a");

  auto other = loadKubeconfig(LoadOptions{"", "second", ""});
  ASSERT_TRUE(other.isOk()) << other.status().toString();
  EXPECT_EQ(other->server, "https://only-second.example:443/prefix");
  EXPECT_TRUE(other->insecure_skip_tls_verify);
  EXPECT_EQ(other->client_cert_pem, "CERT");
  EXPECT_EQ(other->client_key_pem, "KEY");
  EXPECT_EQ(other->namespace_, "default");
}

TEST(KubeconfigTest, AgreesWithKubectlOnTheMergedResult) {
  testing::TempDir dir;
  dir.write("ca.crt", "CA PEM");
  std::string a = dir.write("a.yaml", kFirst);
  std::string b = dir.write("b.yaml", kSecond);
  for (const std::string context : {"", "second"}) {
    std::vector<std::string> argv = {"kubectl", "config", "view", "--minify",
                                     "--raw",   "-o",     "json"};
    if (!context.empty()) argv.push_back("--context=" + context);
    ProcessOptions po;
    po.env = {"KUBECONFIG=" + a + ":" + b, "HOME=" + dir.path()};
    auto r = runCommand(argv, {}, 30s, po);
    ASSERT_TRUE(r.isOk());
    ASSERT_EQ(r->exit_code, 0) << r->err;
    auto view = nlohmann::json::parse(r->out);
    ScopedEnv env("KUBECONFIG", a + ":" + b);
    auto rc = loadKubeconfig(LoadOptions{"", context, ""});
    ASSERT_TRUE(rc.isOk());
    std::string server = view["clusters"][0]["cluster"]["server"];
    while (server.back() == '/') server.pop_back();
    EXPECT_EQ(rc->server, server) << context;
    const auto& user = view["users"][0]["user"];
    EXPECT_EQ(rc->bearer_token, user.value("token", "")) << context;
    EXPECT_EQ(rc->client_cert_pem, *base64Decode(user.value("client-certificate-data", "")))
        << context;
  }
}

TEST(KubeconfigTest, ExplicitFileMustExist) {
  auto rc = loadKubeconfig(LoadOptions{"/nonexistent/kubeconfig", "", ""});
  ASSERT_FALSE(rc.isOk());
  EXPECT_EQ(rc.status().message(), "open /nonexistent/kubeconfig: No such file or directory");
}

TEST(KubeconfigTest, InlineTokenWinsOverTokenFileAndInsecureExcludesCa) {
  auto cfg = parseKubeconfig(R"(clusters:
- {name: c, cluster: {server: "https://x", insecure-skip-tls-verify: true, certificate-authority-data: Q0E=}}
- {name: ok, cluster: {server: "https://y"}}
users: [{name: u, user: {token: inline, tokenFile: /nonexistent}}]
contexts: [{name: bad, context: {cluster: c, user: u}}, {name: good, context: {cluster: ok, user: u}}]
)",
                             "/");
  ASSERT_TRUE(cfg.isOk()) << cfg.status().toString();
  auto good = resolveContext(*cfg, "good");
  ASSERT_TRUE(good.isOk());
  EXPECT_EQ(good->bearer_token, "inline");
  EXPECT_EQ(good->token_file, "");
  EXPECT_EQ(resolveContext(*cfg, "bad").status().message(),
            "kubeconfig: cluster \"c\": specifying a root certificates file with the insecure flag "
            "is not allowed");
  EXPECT_EQ(
      parseKubeconfig("clusters: [{name: c, cluster: {insecure-skip-tls-verify: \"yes\"}}]", "/")
          .status()
          .message(),
      "kubeconfig: cluster \"c\": insecure-skip-tls-verify must be true or false");
}

TEST(KubeconfigTest, ClearErrorsForBrokenReferences) {
  auto cfg = parseKubeconfig(kSecond, "/tmp");
  ASSERT_TRUE(cfg.isOk());
  EXPECT_EQ(resolveContext(*cfg, "nope").status().message(),
            "kubeconfig: context \"nope\" not found");
  cfg->contexts["dangling"] = {"ghost", "certs", ""};
  EXPECT_EQ(resolveContext(*cfg, "dangling").status().message(),
            "kubeconfig: cluster \"ghost\" of context \"dangling\" not found");
  Kubeconfig empty;
  EXPECT_EQ(resolveContext(empty, "").status().message(),
            "kubeconfig: no current-context is set and no --context was given");
}

TEST(KubeconfigTest, RejectsPluginsAndMalformedData) {
  auto exec = parseKubeconfig(R"(clusters: [{name: c, cluster: {server: "https://x"}}]
users: [{name: u, user: {exec: {command: aws}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)",
                              "/");
  ASSERT_TRUE(exec.isOk());
  EXPECT_NE(resolveContext(*exec, "").status().message().find("exec or auth-provider plugin"),
            std::string::npos);
  EXPECT_EQ(
      parseKubeconfig("users: [{name: u, user: {client-key-data: '%%%'}}]", "/").status().message(),
      "user \"u\": client-key-data is not valid base64");
  EXPECT_EQ(parseKubeconfig("clusters: [{cluster: {server: x}}]", "/").status().message(),
            "kubeconfig: an entry of clusters has no name");
  EXPECT_FALSE(parseKubeconfig("clusters: {", "/").isOk());
}

TEST(InClusterConfigTest, ReadsServiceAccountFiles) {
  testing::TempDir dir;
  dir.write("token", "tok-1\n");
  dir.write("ca.crt", "CA");
  dir.write("namespace", "herd-system");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  auto rc = inClusterConfig(dir.path());
  ASSERT_TRUE(rc.isOk()) << rc.status().toString();
  EXPECT_EQ(rc->server, "https://10.96.0.1:443");
  EXPECT_EQ(rc->ca_pem, "CA");
  EXPECT_EQ(rc->namespace_, "herd-system");
  EXPECT_EQ(rc->token_file, dir.file("token"));
  ScopedEnv v6("KUBERNETES_SERVICE_HOST", "fd00::1");
  EXPECT_EQ(inClusterConfig(dir.path())->server, "https://[fd00::1]:443");
}

TEST(InClusterConfigTest, OutsideAPodSaysSo) {
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(inClusterConfig("/nonexistent").status().code(), Code::kFailedPrecondition);
}

TEST(TokenSourceTest, RereadsARotatedTokenFile) {
  testing::TempDir dir;
  std::string file = dir.write("token", "old\n");
  RestConfig rc;
  rc.token_file = file;
  // A refresh period long enough that the fsync of the rewrite cannot outlast it on a busy machine.
  TokenSource tokens(rc, 1500ms);
  EXPECT_EQ(*tokens.token(), "old");
  ASSERT_TRUE(files::writeAtomic(file, "new").isOk());
  EXPECT_EQ(*tokens.token(), "old");  // cached within the refresh period
  std::this_thread::sleep_for(1600ms);
  EXPECT_EQ(*tokens.token(), "new");
  ASSERT_TRUE(files::removeAll(file).isOk());
  std::this_thread::sleep_for(1600ms);
  EXPECT_EQ(*tokens.token(), "new");  // a transient read failure keeps the last good token
}

}  // namespace
}  // namespace herd::kube
