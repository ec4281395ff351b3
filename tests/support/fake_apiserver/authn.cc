#include "authn.h"

#include <algorithm>

#include "wire.h"

namespace herd::fake {

bool authenticate(const HttpRequest& req, const std::map<std::string, UserInfo>& tokens,
                  Identity& id) {
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
  id.user.name = "system:anonymous";
  id.user.groups = {"system:unauthenticated"};
  return true;
}

bool authorizePath(const Identity& id, const std::string& path) {
  for (const auto& g : id.user.groups) {
    if (g == "system:masters") return true;
  }
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
  for (const auto& g : id.user.groups) {
    if (g == "system:masters") return true;
  }
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
  bool master = std::find(id.user.groups.begin(), id.user.groups.end(), "system:masters") !=
                id.user.groups.end();
  if (!master) {
    // Only system:masters may impersonate here; RBAC could grant more, the fake does not.
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
