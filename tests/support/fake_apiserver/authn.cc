#include "authn.h"

#include <openssl/crypto.h>

#include <algorithm>

#include "common/base64.h"
#include "wire.h"

namespace herd::fake {

bool authenticate(const HttpRequest& req, const std::map<std::string, UserInfo>& tokens,
                  Identity& id, bool anonymous) {
  if (req.peer.presented && req.peer.verified) {
    id.authenticated = true;
    id.user.name = req.peer.common_name;
    id.user.groups = req.peer.organizations;
    id.user.groups.push_back("system:authenticated");
    return true;
  }
  std::string auth = req.header("authorization");
  if (!auth.empty()) {
    if (!startsWith(auth, "Bearer ")) return false;
    auto it = tokens.find(auth.substr(7));
    if (it == tokens.end()) return false;
    id.authenticated = true;
    id.user = it->second;
    id.user.groups.push_back("system:authenticated");
    return true;
  }
  if (req.peer.presented) return false;  // a certificate of an unknown CA
  if (!anonymous) return false;
  id.user.name = "system:anonymous";
  id.user.groups = {"system:unauthenticated"};
  return true;
}

namespace {

bool isSuperuser(const Identity& id) {
  if (id.cluster_admin) return true;
  return std::find(id.user.groups.begin(), id.user.groups.end(), "system:masters") !=
         id.user.groups.end();
}

bool isBootstrapTokenPart(const std::string& s, size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
         });
}

// The decoded value of Secret data key `key`, or "" when it is missing or not base64.
std::string secretValue(const Json& secret, const char* key) {
  const Json* data = secret.contains("data") ? &secret["data"] : nullptr;
  if (data == nullptr || !data->is_object() || !data->contains(key) || !(*data)[key].is_string())
    return "";
  auto decoded = base64Decode((*data)[key].get<std::string>());
  return decoded.isOk() ? *decoded : "";
}

}  // namespace

std::optional<std::string> bootstrapTokenId(const HttpRequest& req) {
  std::string auth = req.header("authorization");
  if (!startsWith(auth, "Bearer ")) return std::nullopt;
  std::string token = auth.substr(7);
  size_t dot = token.find('.');
  if (dot == std::string::npos) return std::nullopt;
  std::string id = token.substr(0, dot);
  if (!isBootstrapTokenPart(id, 6) || !isBootstrapTokenPart(token.substr(dot + 1), 16))
    return std::nullopt;
  return id;
}

std::optional<UserInfo> bootstrapTokenUser(const HttpRequest& req, const Json& secret,
                                           long long now) {
  auto id = bootstrapTokenId(req);
  if (!id) return std::nullopt;
  std::string token_secret = req.header("authorization").substr(7 + id->size() + 1);
  if (secret.value("type", "") != "bootstrap.kubernetes.io/token") return std::nullopt;
  if (secret.contains("metadata") && secret["metadata"].contains("deletionTimestamp"))
    return std::nullopt;
  if (secretValue(secret, "token-id") != *id) return std::nullopt;
  std::string stored = secretValue(secret, "token-secret");
  if (stored.size() != token_secret.size() ||
      CRYPTO_memcmp(stored.data(), token_secret.data(), stored.size()) != 0)
    return std::nullopt;
  std::string expiration = secretValue(secret, "expiration");
  if (!expiration.empty() && parseRfc3339(expiration) <= now) return std::nullopt;
  if (secretValue(secret, "usage-bootstrap-authentication") != "true") return std::nullopt;
  UserInfo user;
  user.name = "system:bootstrap:" + *id;
  user.groups = {"system:bootstrappers"};
  std::string extra = secretValue(secret, "auth-extra-groups");
  for (size_t pos = 0; !extra.empty() && pos <= extra.size();) {
    size_t comma = extra.find(',', pos);
    if (comma == std::string::npos) comma = extra.size();
    std::string group = trim(extra.substr(pos, comma - pos));
    // The authenticator refuses a Secret naming a group outside system:bootstrappers:*.
    if (!startsWith(group, "system:bootstrappers:")) return std::nullopt;
    user.groups.push_back(group);
    pos = comma + 1;
  }
  return user;
}

bool boundToClusterAdmin(const UserInfo& user, const std::vector<Json>& bindings) {
  for (const auto& binding : bindings) {
    const Json ref = binding.value("roleRef", Json::object());
    if (ref.value("kind", "") != "ClusterRole" || ref.value("name", "") != "cluster-admin")
      continue;
    for (const auto& subject : binding.value("subjects", Json::array())) {
      std::string kind = subject.value("kind", "");
      std::string name = subject.value("name", "");
      if (kind == "User" && name == user.name) return true;
      if (kind == "Group" &&
          std::find(user.groups.begin(), user.groups.end(), name) != user.groups.end())
        return true;
    }
  }
  return false;
}

bool authorizePath(const Identity& id, const std::string& path) {
  if (isSuperuser(id)) return true;
  // system:public-info-viewer, bound to everyone including anonymous.
  for (const char* open : {"/version", "/healthz", "/readyz", "/livez"}) {
    if (path == open || path == std::string(open) + "/") return true;
  }
  if (!id.authenticated) return false;
  // system:discovery and system:basic-user for every authenticated user.
  return path == "/api" || startsWith(path, "/api/") || path == "/apis" ||
         startsWith(path, "/apis/") || path == "/openapi" || startsWith(path, "/openapi/");
}

bool authorizeResource(const Identity& id, const Target& t, const std::vector<AllowRule>& allow) {
  if (isSuperuser(id)) return true;
  if (!id.authenticated) return false;
  if (t.verb == "create" &&
      (t.type->resource == "selfsubjectreviews" || t.type->resource == "selfsubjectaccessreviews" ||
       t.type->resource == "selfsubjectrulesreviews")) {
    return true;
  }
  std::string resource = t.sub.empty() ? t.type->resource : t.type->resource + "/" + t.sub;
  for (const auto& rule : allow) {
    if (rule.user != "*" && rule.user != id.user.name) continue;
    if (rule.verb != "*" && rule.verb != t.verb) continue;
    if (rule.resource != "*" && rule.resource != resource && rule.resource != t.type->resource)
      continue;
    if (rule.ns != "*" && rule.ns != t.ns) continue;
    return true;
  }
  return false;
}

std::optional<ApiError> impersonate(const HttpRequest& req, Identity& id) {
  std::string user = req.header("impersonate-user");
  if (user.empty()) return std::nullopt;
  if (!isSuperuser(id)) {
    // Only system:masters and cluster-admins may impersonate here; RBAC could grant more, the
    // fake does not.
    return ApiError{403,
                    "Forbidden",
                    "users \"" + user + "\" is forbidden: User \"" + id.user.name +
                        "\" cannot impersonate resource \"users\" in API group \"\" at the "
                        "cluster scope",
                    {{"name", user}, {"kind", "users"}}};
  }
  UserInfo as;
  as.name = user;
  std::string groups = req.header("impersonate-group");
  for (size_t pos = 0; !groups.empty() && pos <= groups.size();) {
    size_t comma = groups.find(',', pos);
    if (comma == std::string::npos) comma = groups.size();
    std::string g = trim(groups.substr(pos, comma - pos));
    if (!g.empty()) as.groups.push_back(g);
    pos = comma + 1;
  }
  if (user != "system:anonymous") as.groups.push_back("system:authenticated");
  id.user = as;
  id.authenticated = user != "system:anonymous";
  id.cluster_admin = false;  // the caller decides again for the impersonated user
  return std::nullopt;
}

ApiError forbiddenFor(const Identity& id, const Target& t) {
  std::string resource = t.sub.empty() ? t.type->resource : t.type->resource + "/" + t.sub;
  std::string subject = t.type->qualifiedResource();
  if (!t.name.empty()) subject += " \"" + t.name + "\"";
  std::string where = t.type->namespaced && !t.ns.empty() ? " in the namespace \"" + t.ns + "\""
                                                          : " at the cluster scope";
  Json details = Json::object();
  if (!t.name.empty()) details["name"] = t.name;
  if (!t.type->group.empty()) details["group"] = t.type->group;
  details["kind"] = t.type->resource;
  return {403, "Forbidden",
          subject + " is forbidden: User \"" + id.user.name + "\" cannot " + t.verb +
              " resource \"" + resource + "\" in API group \"" + t.type->group + "\"" + where,
          details};
}

}  // namespace herd::fake
