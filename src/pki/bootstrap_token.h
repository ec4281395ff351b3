// kubeadm bootstrap tokens ("abcdef.0123456789abcdef"): generation, their Secret in
// kube-system (type bootstrap.kubernetes.io/token), and the cluster-info ConfigMap in
// kube-public with one detached JWS per token, computed exactly as `kubeadm join` checks it
// (HS256 keyed by the token secret over the ConfigMap's kubeconfig). Pure functions besides
// the random generation; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"
#include "pki/certificate.h"

namespace herd::pki {

// What kubeadm gives a default node token: used to authenticate and to sign cluster-info,
// and the group whose members the node-bootstrap RBAC rules admit.
inline constexpr std::string_view kBootstrapTokenGroup =
    "system:bootstrappers:kubeadm:default-node-token";
inline constexpr std::string_view kClusterInfoJwsPrefix = "jws-kubeconfig-";

struct BootstrapToken {
  std::string id;      // [a-z0-9]{6}, public
  std::string secret;  // [a-z0-9]{16}
  TimePoint expires;

  static Result<BootstrapToken> generate(TimePoint expires);
  // Parses "id.secret" (the expiry is left unset).
  static Result<BootstrapToken> parse(std::string_view text);
  std::string toString() const { return id + "." + secret; }
};

// The Secret kube-system/bootstrap-token-<id>, data base64-encoded as the API stores it.
nlohmann::json bootstrapTokenSecret(const BootstrapToken& token);
Result<BootstrapToken> tokenFromSecret(const nlohmann::json& secret);

// header..signature, the compact JWS with its payload left out.
std::string detachedJws(std::string_view payload, const BootstrapToken& token);

// kube-public/cluster-info: data.kubeconfig and data.jws-kubeconfig-<id>.
nlohmann::json clusterInfoConfigMap(std::string_view kubeconfig, const BootstrapToken& token);

}  // namespace herd::pki
