#include "responses.h"

#include <vector>

#include "wire.h"

namespace herd::fake {

Json statusJson(const ApiError& e) {
  Json s = {
      {"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", e.metadata}, {"status", "Failure"}};
  if (!e.message.empty()) s["message"] = e.message;
  s["reason"] = e.reason;
  if (!e.details.is_null()) s["details"] = e.details;
  s["code"] = e.code;
  return s;
}

ApiError notFound(const ResourceType& type, const std::string& name) {
  Json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = type.resource;
  return {404, "NotFound", type.qualifiedResource() + " \"" + name + "\" not found", details};
}

ApiError namespaceNotFound(const std::string& ns) {
  return {404,
          "NotFound",
          "namespaces \"" + ns + "\" not found",
          {{"name", ns}, {"kind", "namespaces"}}};
}

ApiError badRequest(std::string message) {
  return {400, "BadRequest", std::move(message)};
}

ApiError methodNotAllowed() {
  return {405, "MethodNotAllowed",
          "the server does not allow this method on the requested resource", Json::object()};
}

ApiError listOptionsForbidden(const std::string& field, const std::string& detail) {
  return {422,
          "Invalid",
          "ListOptions.meta.k8s.io \"\" is invalid: " + field + ": Forbidden: " + detail,
          {{"group", "meta.k8s.io"},
           {"kind", "ListOptions"},
           {"causes", Json::array({{{"reason", "FieldValueForbidden"},
                                    {"message", "Forbidden: " + detail},
                                    {"field", field}}})}}};
}

std::optional<ApiError> checkSendInitialEvents(const HttpRequest& req, bool watch) {
  if (!req.param("sendInitialEvents")) return std::nullopt;
  if (!watch)
    return listOptionsForbidden("sendInitialEvents", "sendInitialEvents is forbidden for list");
  if (req.param("resourceVersionMatch").value_or("") != "NotOlderThan") {
    return listOptionsForbidden(
        "resourceVersionMatch",
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
  }
  return std::nullopt;
}

ApiError alreadyExists(const ResourceType& type, const std::string& name) {
  Json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = type.resource;
  return {409, "AlreadyExists", type.qualifiedResource() + " \"" + name + "\" already exists",
          details};
}

ApiError conflictModified(const ResourceType& type, const std::string& name) {
  Json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = type.resource;
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + type.qualifiedResource() + " \"" + name +
              "\": the object has been modified; please apply your changes to the latest version "
              "and try again",
          details};
}

ApiError invalid(const ResourceType& type, const std::string& name, const api::FieldErrors& errs,
                 bool cel_note) {
  Json causes = Json::array();
  std::vector<std::string> lines;
  for (const auto& e : errs) {
    causes.push_back({{"reason", std::string(e.reason())},
                      {"message", e.message()},
                      {"field", e.field.empty() ? "<nil>" : e.field}});
    lines.push_back(e.toString());
  }
  if (cel_note) {
    const char* note =
        "Invalid value: \"null\": some validation rules were not checked because the object was "
        "invalid; correct the existing errors to complete validation";
    causes.push_back({{"reason", "FieldValueInvalid"}, {"message", note}, {"field", "<nil>"}});
    lines.push_back(std::string("<nil>: ") + note);
  }
  std::string joined;
  if (lines.size() == 1) {
    joined = lines[0];
  } else {
    joined = "[";
    for (size_t i = 0; i < lines.size(); ++i) joined += (i ? ", " : "") + lines[i];
    joined += "]";
  }
  Json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = type.kind;
  details["causes"] = causes;
  return {422, "Invalid", type.qualifiedKind() + " \"" + name + "\" is invalid: " + joined,
          details};
}

HttpResponse jsonResponse(HttpResponse res, int code, const Json& body) {
  res.status = code;
  res.setHeader("Content-Type", "application/json");
  res.body = dumpCompact(body);
  return res;
}

HttpResponse errorResponse(HttpResponse res, const ApiError& e) {
  return jsonResponse(std::move(res), e.code, statusJson(e));
}

HttpResponse forbiddenResponse(HttpResponse res, const ApiError& e) {
  res.setHeader("X-Content-Type-Options", "nosniff");
  return errorResponse(std::move(res), e);
}

HttpResponse plainNotFound(HttpResponse res) {
  res.status = 404;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.body = "404 page not found\n";
  return res;
}

}  // namespace herd::fake
