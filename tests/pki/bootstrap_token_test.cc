// Bootstrap tokens, their Secret, and cluster-info's detached JWS, checked against an
// independent HMAC computed by `openssl dgst -hmac`.
#include "pki/bootstrap_token.h"

#include <gtest/gtest.h>

#include <regex>

#include "common/base64.h"
#include "common/yaml.h"
#include "pki/kubeconfig.h"
#include "pki_test_util.h"

namespace herd::pki {
namespace {

using testing::run;

// What `kubeadm join` does, with the openssl command line doing the HMAC: recompute the
// signature over header.payload and compare.
std::string opensslDetachedJws(const std::string& payload, const std::string& token_id,
                               const std::string& secret) {
  std::string header = base64UrlEncode(R"({"alg":"HS256","kid":")" + token_id + R"("})");
  std::string input = header + "." + base64UrlEncode(payload);
  auto mac = run({"openssl", "dgst", "-sha256", "-hmac", secret, "-binary"}, input);
  EXPECT_EQ(mac.exit_code, 0) << mac.err;
  return header + ".." + base64UrlEncode(mac.out);
}

TEST(BootstrapTokenTest, HasKubeadmsFormat) {
  const std::regex pattern("^[a-z0-9]{6}\\.[a-z0-9]{16}$");
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto token = BootstrapToken::generate(Clock::now());
    ASSERT_TRUE(token.isOk());
    EXPECT_TRUE(std::regex_match(token->toString(), pattern)) << token->toString();
    EXPECT_TRUE(seen.insert(token->toString()).second);
  }
  EXPECT_TRUE(BootstrapToken::parse("abcdef.0123456789abcdef").isOk());
  EXPECT_FALSE(BootstrapToken::parse("ABCDEF.0123456789abcdef").isOk());
  EXPECT_FALSE(BootstrapToken::parse("abcdef0123456789abcdef").isOk());
  EXPECT_FALSE(BootstrapToken::parse("abcde.0123456789abcdef").isOk());
}

TEST(BootstrapTokenTest, SecretCarriesWhatTheBootstrapAuthenticatorReads) {
  BootstrapToken token{"abcdef", "0123456789abcdef", Clock::from_time_t(1800000000)};
  nlohmann::json secret = bootstrapTokenSecret(token);
  EXPECT_EQ(secret["type"], "bootstrap.kubernetes.io/token");
  EXPECT_EQ(secret["metadata"]["name"], "bootstrap-token-abcdef");
  EXPECT_EQ(secret["metadata"]["namespace"], "kube-system");
  auto field = [&](const char* key) {
    return base64Decode(secret["data"][key].get<std::string>()).value();
  };
  EXPECT_EQ(field("token-id"), "abcdef");
  EXPECT_EQ(field("token-secret"), "0123456789abcdef");
  EXPECT_EQ(field("expiration"), "2027-01-15T08:00:00Z");
  EXPECT_EQ(field("usage-bootstrap-authentication"), "true");
  EXPECT_EQ(field("usage-bootstrap-signing"), "true");
  EXPECT_EQ(field("auth-extra-groups"), "system:bootstrappers:kubeadm:default-node-token");
  auto back = tokenFromSecret(secret);
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(back->toString(), token.toString());
  EXPECT_EQ(back->expires, token.expires);
}

TEST(BootstrapTokenTest, DetachedJwsMatchesAnIndependentHmac) {
  BootstrapToken token{"abcdef", "0123456789abcdef", {}};
  const std::string payload = "apiVersion: v1\nkind: Config\n";
  std::string jws = detachedJws(payload, token);
  EXPECT_EQ(jws, opensslDetachedJws(payload, "abcdef", "0123456789abcdef"));
  // The protected header is exactly what kubeadm's signer writes.
  EXPECT_EQ(jws.substr(0, jws.find('.')), "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9");
  EXPECT_NE(jws.find(".."), std::string::npos) << "detached: no payload between the dots";
  EXPECT_EQ(jws.find('='), std::string::npos) << "base64url without padding";
}

TEST(BootstrapTokenTest, ClusterInfoOfAGeneratedPkiVerifies) {
  herd::testing::TempDir dir;
  PkiResult result = testing::issueInto(testing::testCluster("alpha"), dir.path());
  auto docs = parseDocuments(herd::testing::readFileOrDie(dir.file("tokens/cluster-info.yaml")));
  ASSERT_TRUE(docs.isOk());
  const nlohmann::json& cm = docs->front();
  EXPECT_EQ(cm["metadata"]["name"], "cluster-info");
  EXPECT_EQ(cm["metadata"]["namespace"], "kube-public");
  std::string kubeconfig = cm["data"]["kubeconfig"];
  std::string key = "jws-kubeconfig-" + result.token.id;
  ASSERT_TRUE(cm["data"].contains(key)) << cm.dump();
  std::string token_text = herd::testing::readFileOrDie(dir.file("tokens/bootstrap-token"));
  ASSERT_EQ(token_text, result.token.toString() + "\n");
  EXPECT_EQ(cm["data"][key], opensslDetachedJws(kubeconfig, result.token.id, result.token.secret));
  // A different secret must not produce the same signature.
  EXPECT_NE(cm["data"][key], opensslDetachedJws(kubeconfig, result.token.id, "0000000000000000"));

  // The kubeconfig is kubeadm's anonymous one: the public endpoint and the cluster CA.
  auto config = parseDocuments(kubeconfig);
  ASSERT_TRUE(config.isOk());
  EXPECT_EQ((*config)[0]["clusters"][0]["cluster"]["server"], "https://alpha.herd.localhost:443");
  EXPECT_EQ(
      base64Decode(
          (*config)[0]["clusters"][0]["cluster"]["certificate-authority-data"].get<std::string>())
          .value(),
      herd::testing::readFileOrDie(dir.file("pki/ca.crt")));
  EXPECT_TRUE((*config)[0]["users"].is_null());
}

}  // namespace
}  // namespace herd::pki
