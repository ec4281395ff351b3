#include "pki/bootstrap_token.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <regex>

#include "common/base64.h"

namespace herd::pki {
namespace {

constexpr std::string_view kTokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr size_t kIdLength = 6;
constexpr size_t kSecretLength = 16;

Result<std::string> randomTokenPart(size_t length) {
  std::string out;
  while (out.size() < length) {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
      return Status::internal("no randomness for a bootstrap token");
    for (unsigned char b : bytes) {
      // 252 = 7 * 36: rejecting the top four values keeps every character equally likely.
      if (b < 252 && out.size() < length) out += kTokenAlphabet[b % kTokenAlphabet.size()];
    }
  }
  return out;
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, sizeof(out),
            &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

TimePoint parseRfc3339(const std::string& text) {
  struct tm tm {};
  if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return TimePoint{};
  return Clock::from_time_t(timegm(&tm));
}

}  // namespace

Result<BootstrapToken> BootstrapToken::generate(TimePoint expires) {
  BootstrapToken token;
  HERD_ASSIGN_OR_RETURN(token.id, randomTokenPart(kIdLength));
  HERD_ASSIGN_OR_RETURN(token.secret, randomTokenPart(kSecretLength));
  token.expires = expires;
  return token;
}

Result<BootstrapToken> BootstrapToken::parse(std::string_view text) {
  static const std::regex kPattern("^([a-z0-9]{6})\\.([a-z0-9]{16})$");
  std::string s(text);
  std::smatch m;
  if (!std::regex_match(s, m, kPattern)) {
    return Status::invalid("a bootstrap token looks like [a-z0-9]{6}.[a-z0-9]{16}");
  }
  return BootstrapToken{m[1], m[2], TimePoint{}};
}

nlohmann::json bootstrapTokenSecret(const BootstrapToken& token) {
  auto b64 = [](std::string_view s) { return base64Encode(s); };
  return {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata", {{"name", "bootstrap-token-" + token.id}, {"namespace", "kube-system"}}},
      {"type", "bootstrap.kubernetes.io/token"},
      {"data",
       {{"token-id", b64(token.id)},
        {"token-secret", b64(token.secret)},
        {"expiration", b64(formatTime(token.expires))},
        {"usage-bootstrap-authentication", b64("true")},
        {"usage-bootstrap-signing", b64("true")},
        {"auth-extra-groups", b64(kBootstrapTokenGroup)},
        {"description", b64("node join token issued by herd")}}},
  };
}

Result<BootstrapToken> tokenFromSecret(const nlohmann::json& secret) {
  if (!secret.is_object() || secret.value("type", "") != "bootstrap.kubernetes.io/token" ||
      !secret.contains("data") || !secret["data"].is_object()) {
    return Status::invalid("not a bootstrap token Secret");
  }
  const auto& data = secret["data"];
  auto field = [&](const char* key) -> Result<std::string> {
    if (!data.contains(key) || !data[key].is_string()) {
      return Status::invalid(std::string("bootstrap token Secret has no ") + key);
    }
    return base64Decode(data[key].get<std::string>());
  };
  HERD_ASSIGN_OR_RETURN(std::string id, field("token-id"));
  HERD_ASSIGN_OR_RETURN(std::string secret_part, field("token-secret"));
  HERD_ASSIGN_OR_RETURN(BootstrapToken token, BootstrapToken::parse(id + "." + secret_part));
  HERD_ASSIGN_OR_RETURN(std::string expiration, field("expiration"));
  token.expires = parseRfc3339(expiration);
  if (token.expires == TimePoint{})
    return Status::invalid("bootstrap token expiration is not RFC 3339");
  return token;
}

std::string detachedJws(std::string_view payload, const BootstrapToken& token) {
  // The protected header as go-jose serializes it (keys sorted), which is what kubeadm's
  // bootstrap signer produces and `kubeadm join` recomputes and compares byte for byte.
  const std::string header = base64UrlEncode(R"({"alg":"HS256","kid":")" + token.id + R"("})");
  const std::string signing_input = header + "." + base64UrlEncode(payload);
  return header + ".." + base64UrlEncode(hmacSha256(token.secret, signing_input));
}

nlohmann::json clusterInfoConfigMap(std::string_view kubeconfig, const BootstrapToken& token) {
  return {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", "cluster-info"}, {"namespace", "kube-public"}}},
      {"data",
       {{"kubeconfig", std::string(kubeconfig)},
        {std::string(kClusterInfoJwsPrefix) + token.id, detachedJws(kubeconfig, token)}}},
  };
}

}  // namespace herd::pki
