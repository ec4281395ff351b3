#include "memory_tenants.h"

#include <fmt/format.h>

#include <string_view>
#include <vector>

namespace herd::bench {
namespace {

kube::HttpResponse reply(int status, const nlohmann::json& body) {
  kube::HttpResponse r;
  r.status = status;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = body.dump();
  return r;
}

kube::HttpResponse statusReply(int code, const std::string& reason, const std::string& message) {
  return reply(code, {{"kind", "Status"},
                      {"apiVersion", "v1"},
                      {"metadata", nlohmann::json::object()},
                      {"status", "Failure"},
                      {"message", message},
                      {"reason", reason},
                      {"code", code}});
}

// A request path split as the apiserver routes it: the group-version prefix (/api/v1 or
// /apis/G/V), the namespace (empty when cluster-wide), the resource and the name (empty for a
// collection).
struct ApiPath {
  std::string prefix, ns, resource, name;
  bool valid = false;
};

ApiPath parsePath(std::string_view path) {
  std::vector<std::string> parts;
  for (size_t at = 0; at < path.size();) {
    size_t slash = path.find('/', at);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > at) parts.emplace_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  ApiPath out;
  size_t i = 0;
  if (parts.size() >= 2 && parts[0] == "api") {
    out.prefix = "/api/" + parts[1];
    i = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    out.prefix = "/apis/" + parts[1] + "/" + parts[2];
    i = 3;
  } else {
    return out;
  }
  if (parts.size() - i >= 3 && parts[i] == "namespaces") {
    out.ns = parts[i + 1];
    i += 2;
  }
  size_t rest = parts.size() - i;
  if (rest < 1 || rest > 2) return out;
  out.resource = parts[i];
  if (rest == 2) out.name = parts[i + 1];
  out.valid = true;
  return out;
}

}  // namespace

Result<kube::HttpResponse> MemoryTenantApi::roundTrip(const kube::HttpRequest& request,
                                                      std::chrono::milliseconds) {
  ++requests_;
  std::string path = request.target.substr(0, request.target.find('?'));
  std::lock_guard lock(mu_);
  if (request.method == "GET" && path == "/readyz") {
    kube::HttpResponse r;
    r.status = 200;
    r.headers = {{"Content-Type", "text/plain; charset=utf-8"}};
    r.body = "[+]ping ok\n[+]etcd ok\nreadyz check passed\n";
    return r;
  }
  ApiPath where = parsePath(path);
  if (!where.valid) return statusReply(404, "NotFound", path + " is not an API path");
  if (request.method == "GET" && where.name.empty()) {  // a list, cluster-wide or in one namespace
    nlohmann::json items = nlohmann::json::array();
    for (const auto& [key, object] : objects_) {
      ApiPath stored = parsePath(key);
      if (stored.prefix == where.prefix && stored.resource == where.resource &&
          (where.ns.empty() || stored.ns == where.ns))
        items.push_back(object);
    }
    return reply(200, {{"kind", "List"},
                       {"apiVersion", "v1"},
                       {"metadata", {{"resourceVersion", std::to_string(revision_)}}},
                       {"items", std::move(items)}});
  }
  if (request.method == "GET") {
    auto it = objects_.find(path);
    if (it == objects_.end()) return statusReply(404, "NotFound", path + " not found");
    return reply(200, it->second);
  }
  if (request.method == "DELETE") {
    if (objects_.erase(path) == 0) return statusReply(404, "NotFound", path + " not found");
    return reply(200, {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Success"}});
  }
  if (request.method == "PATCH") {  // server-side apply: the body is the whole intent
    auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object()) return statusReply(400, "BadRequest", "the body is not a JSON object");
    body["metadata"]["resourceVersion"] = std::to_string(++revision_);
    bool created = !objects_.contains(path);
    objects_[path] = body;
    return reply(created ? 201 : 200, body);
  }
  if (request.method == "POST" || request.method == "PUT") {
    auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object()) return statusReply(400, "BadRequest", "the body is not a JSON object");
    std::string key = path;
    if (request.method == "POST") key += "/" + body["metadata"].value("name", "");
    bool exists = objects_.contains(key);
    if (request.method == "POST" && exists) {
      return statusReply(409, "AlreadyExists", key + " already exists");
    }
    if (request.method == "PUT" && !exists) return statusReply(404, "NotFound", key + " not found");
    body["metadata"]["resourceVersion"] = std::to_string(++revision_);
    objects_[key] = body;
    return reply(request.method == "POST" ? 201 : 200, body);
  }
  return statusReply(405, "MethodNotAllowed", request.method + " is not served here");
}

Result<std::unique_ptr<kube::ResponseStream>> MemoryTenantApi::openStream(
    const kube::HttpRequest& request, std::chrono::milliseconds) {
  return Status::unavailable(fmt::format("{} {}: the benchmark's tenants serve no watches",
                                         request.method, request.target));
}

}  // namespace herd::bench
