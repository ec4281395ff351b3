// Who a request comes from and what it may do: authentication by verified client certificate
// (CN and O), bearer token or bootstrap token, anonymous access, impersonation by
// system:masters, and the authorization of kube-apiserver's default roles, of ClusterRoleBindings
// to cluster-admin (the one piece of RBAC the fake evaluates: kubeadm's and herd's admin
// binding) and of the fake's AllowRules, with the 403 messages of the real server.
//
// Pure functions of the request and the options; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fake_apiserver.h"
#include "http_types.h"
#include "registry.h"
#include "responses.h"

namespace herd::fake {

struct Identity {
  bool authenticated = false;
  UserInfo user;
  // A subject of a ClusterRoleBinding to ClusterRole cluster-admin: may do anything.
  bool cluster_admin = false;
};

// What a resource URL names.
struct Target {
  ResourceTypePtr type;
  std::string ns;
  std::string name;
  std::string sub;
  std::string verb;
};

// False: a 401. True with the anonymous user when the request carries no credentials and
// `anonymous` allows it.
bool authenticate(const HttpRequest& req, const std::map<std::string, UserInfo>& tokens,
                  Identity& id, bool anonymous = true);

// The id of a bearer token of the bootstrap form "<id>.<secret>" ([a-z0-9]{6}.[a-z0-9]{16}),
// whose Secret is kube-system/bootstrap-token-<id>.
std::optional<std::string> bootstrapTokenId(const HttpRequest& req);
// The user that Secret `secret` makes of the request's bootstrap token, as kube-apiserver's
// bootstrap authenticator decides: type bootstrap.kubernetes.io/token, not being deleted, the
// same token-secret, usage-bootstrap-authentication "true", not past its expiration (at `now`,
// seconds since the epoch). system:bootstrap:<id>, groups system:bootstrappers and the
// Secret's auth-extra-groups.
std::optional<UserInfo> bootstrapTokenUser(const HttpRequest& req, const Json& secret,
                                           long long now);

// Whether `user` is a subject (User, or Group it belongs to) of one of `bindings`
// (ClusterRoleBindings) whose roleRef is ClusterRole cluster-admin.
bool boundToClusterAdmin(const UserInfo& user, const std::vector<Json>& bindings);
// Impersonate-User / Impersonate-Group: who the request acts as, or a 403.
std::optional<ApiError> impersonate(const HttpRequest& req, Identity& id);

bool authorizePath(const Identity& id, const std::string& path);
bool authorizeResource(const Identity& id, const Target& t, const std::vector<AllowRule>& allow);
// The 403 of a resource request that authorizeResource refused.
ApiError forbiddenFor(const Identity& id, const Target& t);

}  // namespace herd::fake
