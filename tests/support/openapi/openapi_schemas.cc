#include "support/openapi/openapi_schemas.h"

#include <filesystem>

#include "api/schema.h"
#include "support/test_env.h"

namespace herd::testing {

using nlohmann::json;

namespace {

// Pod specs nest about twenty deep; none of the built-in kinds refers back to itself except
// through JSONSchemaProps (CRDs), which this depth cuts off instead of recursing forever.
constexpr int kMaxDepth = 64;

json inlined(const json& schemas, const json& schema, int depth) {
  if (!schema.is_object() || depth > kMaxDepth) return schema;
  if (schema.contains("$ref")) {
    std::string ref = schema["$ref"].get<std::string>();
    std::string name = ref.substr(ref.rfind('/') + 1);
    if (!schemas.contains(name)) return json::object();
    return inlined(schemas, schemas[name], depth + 1);
  }
  json out = schema;
  out.erase("default");  // validation only: defaults belong to the server
  if (out.contains("allOf") && out["allOf"].size() == 1) {
    json target = inlined(schemas, out["allOf"][0], depth + 1);
    out.erase("allOf");
    for (auto& [key, value] : target.items()) {
      if (!out.contains(key)) out[key] = value;
    }
  }
  if (out.contains("properties")) {
    for (auto& [key, value] : out["properties"].items()) value = inlined(schemas, value, depth + 1);
  }
  for (const char* key : {"items", "additionalProperties"}) {
    if (out.contains(key)) out[key] = inlined(schemas, out[key], depth + 1);
  }
  for (const char* key : {"allOf", "anyOf", "oneOf"}) {
    if (!out.contains(key)) continue;
    for (auto& option : out[key]) option = inlined(schemas, option, depth + 1);
  }
  return out;
}

}  // namespace

OpenApiSchemas::OpenApiSchemas(std::string dir) : dir_(std::move(dir)) {
  if (dir_.empty() && !sharedDir().empty()) dir_ = sharedDir() + "/kubernetes/openapi/v3";
}

bool OpenApiSchemas::available() const {
  return !dir_.empty() && std::filesystem::is_directory(dir_);
}

const json* OpenApiSchemas::document(const std::string& group, const std::string& version) {
  std::string file = group.empty() ? "api/" + version : "apis/" + group + "/" + version;
  auto it = documents_.find(file);
  if (it == documents_.end()) {
    std::string path = dir_ + "/" + file + ".json";
    if (!std::filesystem::exists(path)) return nullptr;
    it = documents_.emplace(file, json::parse(readFileOrDie(path))).first;
  }
  return &it->second;
}

std::optional<json> OpenApiSchemas::schemaFor(const std::string& api_version,
                                              const std::string& kind) {
  auto slash = api_version.find('/');
  std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
  std::string version = api_version.substr(slash == std::string::npos ? 0 : slash + 1);
  const json* doc = document(group, version);
  if (doc == nullptr) return std::nullopt;
  const json& schemas = (*doc)["components"]["schemas"];
  for (const auto& [name, schema] : schemas.items()) {
    for (const auto& gvk : schema.value("x-kubernetes-group-version-kind", json::array())) {
      if (gvk.value("group", "") == group && gvk.value("version", "") == version &&
          gvk.value("kind", "") == kind) {
        return inlined(schemas, schema, 0);
      }
    }
  }
  return std::nullopt;
}

std::vector<std::string> OpenApiSchemas::errors(const json& object) {
  std::string api_version = object.value("apiVersion", "");
  std::string kind = object.value("kind", "");
  auto schema = schemaFor(api_version, kind);
  if (!schema) return {"no OpenAPI schema for " + api_version + " " + kind};
  return schemaErrors(object, *schema);
}

std::vector<std::string> schemaErrors(const json& object, const json& schema) {
  std::vector<std::string> out;
  json copy = object;
  for (const auto& field : api::schema::prune(copy, schema)) {
    out.push_back(field + ": unknown field");
  }
  for (const auto& error : api::schema::validate(object, schema)) out.push_back(error.toString());
  return out;
}

}  // namespace herd::testing
