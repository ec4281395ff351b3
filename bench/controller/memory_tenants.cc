#include "memory_tenants.h"

#include <fmt/format.h>

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

}  // namespace

Result<kube::HttpResponse> MemoryTenantApi::roundTrip(const kube::HttpRequest& request,
                                                      std::chrono::milliseconds) {
  ++requests_;
  std::string path = request.target.substr(0, request.target.find('?'));
  std::lock_guard lock(mu_);
  if (request.method == "GET") {
    auto it = objects_.find(path);
    if (it == objects_.end()) return statusReply(404, "NotFound", path + " not found");
    return reply(200, it->second);
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
