#include "admission.h"

#include <algorithm>
#include <map>
#include <regex>

#include "api/schema.h"
#include "objects.h"

namespace herd::fake {
namespace {

// Top-level fields of the built-in kinds herd writes, to find unknown fields as the strict
// decoder does (nested fields are not checked).
const std::map<std::string, std::vector<std::string>>& knownTopLevel() {
  static const std::map<std::string, std::vector<std::string>> kKnown = {
      {"configmaps", {"data", "binaryData", "immutable"}},
      {"secrets", {"data", "stringData", "type", "immutable"}},
      {"namespaces", {"spec", "status"}},
      {"leases", {"spec"}},
      {"deployments", {"spec", "status"}},
      {"statefulsets", {"spec", "status"}},
      {"services", {"spec", "status"}},
      {"pods", {"spec", "status"}},
  };
  return kKnown;
}

}  // namespace

std::string managerOf(const HttpRequest& req) {
  if (auto m = req.param("fieldManager"); m && !m->empty()) return *m;
  std::string ua = req.header("user-agent");
  size_t slash = ua.find('/');
  std::string name = ua.substr(0, slash);
  return name.empty() ? "unknown" : name;
}

bool dryRun(const HttpRequest& req) {
  return req.param("dryRun").value_or("") == "All";
}

std::optional<ApiError> decodeBody(const HttpRequest& req, const Target& t, Json& obj,
                                   std::vector<std::string>& warnings) {
  const ResourceType& type = *t.type;
  obj = Json::parse(req.body, nullptr, false);
  if (obj.is_discarded() || !obj.is_object()) {
    std::string head = req.body.substr(0, 30);
    return badRequest(
        "the object provided is unrecognized (must be of type " + type.kind +
        "): couldn't get version/kind; json parse error: unexpected end of JSON input (" + head +
        (req.body.size() > 30 ? " ...)" : ")"));
  }
  std::string kind = obj.value("kind", "");
  std::string api_version = obj.value("apiVersion", "");
  if (kind.empty())
    return badRequest("Object 'Kind' is missing in '" + req.body.substr(0, 200) + "'");
  if (kind != type.kind || (!api_version.empty() && api_version != type.apiVersion() &&
                            api_version.substr(0, api_version.find('/')) != type.group)) {
    std::string version = api_version.substr(
        api_version.find('/') == std::string::npos ? 0 : api_version.find('/') + 1);
    return badRequest(kind + " in version \"" + version + "\" cannot be handled as a " + type.kind +
                      ": converting (" + version + "." + kind + ") to (" +
                      (type.group.empty() ? "core" : type.group) + "." + type.kind +
                      "): unknown conversion");
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  if (type.resource == "leases" && obj.contains("spec") && obj["spec"].is_object()) {
    static const std::regex kMicroTime(
        R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d))");
    for (const char* field : {"acquireTime", "renewTime"}) {
      const Json& v = obj["spec"].value(field, Json());
      if (v.is_string() && !std::regex_match(v.get<std::string>(), kMicroTime)) {
        std::string text = v.get<std::string>();
        return badRequest("Lease in version \"" + type.version +
                          "\" cannot be handled as a Lease: parsing time \"" + text +
                          "\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"" + text +
                          "\" as \"2006\"");
      }
    }
  }
  std::string validation = req.param("fieldValidation").value_or("Warn");
  if (!type.custom) {
    auto known = knownTopLevel().find(type.resource);
    if (known != knownTopLevel().end()) {
      std::vector<std::string> unknown;
      for (const auto& [k, v] : obj.items()) {
        if (k == "apiVersion" || k == "kind" || k == "metadata") continue;
        if (std::find(known->second.begin(), known->second.end(), k) == known->second.end())
          unknown.push_back(k);
      }
      if (!unknown.empty() && validation == "Strict") {
        std::string list;
        for (const auto& u : unknown)
          list += (list.empty() ? "" : ", ") + std::string("unknown field \"") + u + "\"";
        return badRequest(type.kind + " in version \"" + type.version +
                          "\" cannot be handled as a " + type.kind +
                          ": strict decoding error: " + list);
      }
      for (const auto& u : unknown) {
        obj.erase(u);
        if (validation != "Ignore") warnings.push_back("unknown field \"" + u + "\"");
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> checkBodyName(const Target& t, const std::string& body_name) {
  if (body_name.empty() || body_name == t.name) return std::nullopt;
  return badRequest("the name of the object (" + body_name +
                    ") does not match the name on the URL (" + t.name + ")");
}

std::optional<ApiError> checkBodyNamespace(const Target& t, const Json& meta) {
  if (!t.type->namespaced) return std::nullopt;
  std::string body_ns = meta.value("namespace", "");
  if (body_ns.empty() || body_ns == t.ns) return std::nullopt;
  return badRequest(
      "the namespace of the provided object does not match the namespace sent on the request");
}

std::optional<ApiError> admitCustom(const Target& t, Json& obj, const HttpRequest& req,
                                    std::vector<std::string>& warnings, bool status_only) {
  const ResourceType& type = *t.type;
  if (!type.custom || !type.schema.is_object()) return std::nullopt;
  nlohmann::json body = nlohmann::json::parse(obj.dump());
  body.erase("apiVersion");
  body.erase("kind");
  body.erase("metadata");
  nlohmann::json schema = type.schema;
  if (schema.contains("properties")) {
    for (const char* k : {"apiVersion", "kind", "metadata"}) schema["properties"].erase(k);
  }
  std::vector<std::string> unknown = api::schema::prune(body, schema);
  std::string validation = req.param("fieldValidation").value_or("Warn");
  if (!unknown.empty() && validation == "Strict" && !status_only) {
    std::string list;
    for (const auto& u : unknown)
      list += (list.empty() ? "" : ", ") + std::string("unknown field \"") + u + "\"";
    return badRequest(type.kind + " in version \"" + type.version + "\" cannot be handled as a " +
                      type.kind + ": strict decoding error: " + list);
  }
  if (validation != "Ignore") {
    for (const auto& u : unknown) warnings.push_back("unknown field \"" + u + "\"");
  }
  api::schema::applyDefaults(body, schema);
  api::FieldErrors errs = api::schema::validate(body, schema);
  if (!errs.empty())
    return invalid(type, obj["metadata"].value("name", ""), errs, schemaHasCel(type.schema));
  Json rebuilt = Json::parse(body.dump());
  Json out = Json::object();
  out["apiVersion"] = obj.value("apiVersion", type.apiVersion());
  out["kind"] = type.kind;
  out["metadata"] = obj["metadata"];
  for (auto& [k, v] : rebuilt.items()) out[k] = v;
  obj = std::move(out);
  return std::nullopt;
}

Json applyStatusRule(bool to_status, bool has_status_subresource, const Json& current,
                     const Json& incoming) {
  Json next = to_status ? current : incoming;
  const Json& status_from = to_status ? incoming : current;
  if (!to_status && !has_status_subresource) return next;
  if (status_from.contains("status")) {
    next["status"] = status_from["status"];
  } else {
    next.erase("status");
  }
  return next;
}

}  // namespace herd::fake
