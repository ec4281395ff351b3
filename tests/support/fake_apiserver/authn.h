// Who a request comes from and what it may do: authentication by verified client certificate
// (CN and O) or bearer token, anonymous access, impersonation by system:masters, and the
// authorization of kube-apiserver's default roles plus the fake's AllowRules, with the 403
// messages of the real server.
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
};

// What a resource URL names.
struct Target {
  ResourceTypePtr type;
  std::string ns;
  std::string name;
  std::string sub;
  std::string verb;
};

// False: a 401. True with the anonymous user when the request carries no credentials.
bool authenticate(const HttpRequest& req, const std::map<std::string, UserInfo>& tokens,
                  Identity& id);
// Impersonate-User / Impersonate-Group: who the request acts as, or a 403.
std::optional<ApiError> impersonate(const HttpRequest& req, Identity& id);

bool authorizePath(const Identity& id, const std::string& path);
bool authorizeResource(const Identity& id, const Target& t, const std::vector<AllowRule>& allow);
// The 403 of a resource request that authorizeResource refused.
ApiError forbiddenFor(const Identity& id, const Target& t);

}  // namespace herd::fake
