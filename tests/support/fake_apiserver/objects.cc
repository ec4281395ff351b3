#include "objects.h"

#include "patch.h"
#include "wire.h"

namespace herd::fake {
namespace {

// Field order of ObjectMeta in Go, which is how built-in objects come out of kube-apiserver.
const std::vector<std::string> kMetaOrder = {"name",
                                             "generateName",
                                             "namespace",
                                             "selfLink",
                                             "uid",
                                             "resourceVersion",
                                             "generation",
                                             "creationTimestamp",
                                             "deletionTimestamp",
                                             "deletionGracePeriodSeconds",
                                             "labels",
                                             "annotations",
                                             "ownerReferences",
                                             "finalizers",
                                             "managedFields"};

ListShape schemaListShape(const nlohmann::json& schema, const std::string& dotted) {
  const nlohmann::json* cur = &schema;
  size_t pos = 0;
  while (pos <= dotted.size() && cur != nullptr) {
    size_t dot = dotted.find('.', pos);
    if (dot == std::string::npos) dot = dotted.size();
    std::string key = dotted.substr(pos, dot - pos);
    pos = dot + 1;
    while (cur->contains("items") && (*cur)["items"].is_object() && !cur->contains("properties"))
      cur = &(*cur)["items"];
    if (!cur->contains("properties") || !(*cur)["properties"].contains(key)) return {};
    cur = &(*cur)["properties"][key];
  }
  if (cur == nullptr) return {};
  std::string list_type = cur->value("x-kubernetes-list-type", "");
  if (list_type == "set") return {{}, true};
  if (list_type == "map") {
    ListShape shape;
    for (const auto& k : cur->value("x-kubernetes-list-map-keys", nlohmann::json::array())) {
      shape.keys.push_back(k.get<std::string>());
    }
    return shape;
  }
  return {};
}

}  // namespace

Json orderedMeta(const Json& meta) {
  Json out = Json::object();
  for (const auto& k : kMetaOrder) {
    if (meta.contains(k)) out[k] = meta[k];
  }
  for (const auto& [k, v] : meta.items()) {
    if (!out.contains(k)) out[k] = v;
  }
  // Labels and annotations are Go maps, which encoding/json writes with sorted keys.
  for (const char* map : {"labels", "annotations"}) {
    if (out.contains(map) && out[map].is_object())
      out[map] = Json::parse(nlohmann::json::parse(out[map].dump()).dump());
  }
  return out;
}

// Built-in kinds in Go struct order; custom resources with sorted keys (they are

Json presentable(const ResourceType& type, const Json& object) {
  if (type.custom) return Json::parse(nlohmann::json::parse(object.dump()).dump());
  Json out = Json::object();
  if (object.contains("kind")) out["kind"] = object["kind"];
  if (object.contains("apiVersion")) out["apiVersion"] = object["apiVersion"];
  if (object.contains("metadata")) out["metadata"] = orderedMeta(object["metadata"]);
  for (const auto& [k, v] : object.items()) {
    if (!out.contains(k)) out[k] = v;
  }
  return out;
}

Json forOutput(const ResourceType& type, Json object) {
  object["apiVersion"] = type.apiVersion();
  object["kind"] = type.kind;
  return presentable(type, object);
}

Json specPart(const Json& obj) {
  Json out = obj;
  out.erase("metadata");
  out.erase("status");
  out.erase("apiVersion");
  out.erase("kind");
  return out;
}

std::vector<std::string> finalizersOf(const Json& obj) {
  std::vector<std::string> out;
  for (const auto& f : obj["metadata"].value("finalizers", Json::array())) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

void setFinalizers(Json& obj, const std::vector<std::string>& finalizers) {
  if (finalizers.empty()) {
    obj["metadata"].erase("finalizers");
  } else {
    obj["metadata"]["finalizers"] = finalizers;
  }
}

void setFieldPath(Json& obj, const std::string& path, Json value) {
  Json* cur = &obj;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    if (dot == std::string::npos) dot = path.size();
    cur = &(*cur)[path.substr(pos, dot - pos)];
    pos = dot + 1;
  }
  *cur = std::move(value);
}

Json evalJsonPath(const Json& obj, const std::string& path) {
  const Json* cur = &obj;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      size_t end = path.find_first_of(".[", i);
      std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
      if (!cur->is_object() || !cur->contains(key)) return nullptr;
      cur = &(*cur)[key];
      i = end == std::string::npos ? path.size() : end;
    } else if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string::npos || !cur->is_array()) return nullptr;
      std::string inner = path.substr(i + 1, close - i - 1);
      i = close + 1;
      if (startsWith(inner, "?(@.")) {
        size_t eq = inner.find("==");
        if (eq == std::string::npos) return nullptr;
        std::string key = inner.substr(4, eq - 4);
        std::string want = inner.substr(eq + 2);
        if (!want.empty() && want.back() == ')') want.pop_back();
        if (want.size() >= 2 && (want[0] == '"' || want[0] == '\''))
          want = want.substr(1, want.size() - 2);
        const Json* found = nullptr;
        for (const auto& item : *cur) {
          if (item.is_object() && item.contains(key) && item[key].is_string() &&
              item[key].get<std::string>() == want) {
            found = &item;
            break;
          }
        }
        if (found == nullptr) return nullptr;
        cur = found;
      } else {
        size_t index = 0;
        try {
          index = std::stoul(inner);
        } catch (...) {
          return nullptr;
        }
        if (index >= cur->size()) return nullptr;
        cur = &(*cur)[index];
      }
    } else {
      return nullptr;
    }
  }
  return *cur;
}

Json scaleOf(const ResourceType& type, const Json& obj) {
  const Json& meta = obj["metadata"];
  Json out_meta = {{"name", meta.value("name", "")}};
  if (meta.contains("namespace")) out_meta["namespace"] = meta["namespace"];
  out_meta["uid"] = meta.value("uid", "");
  out_meta["resourceVersion"] = meta.value("resourceVersion", "");
  out_meta["creationTimestamp"] = meta.value("creationTimestamp", "");
  Json spec_replicas = evalJsonPath(obj, type.scale_spec_path);
  Json status_replicas = evalJsonPath(obj, type.scale_status_path);
  Json status = {{"replicas", status_replicas.is_null() ? Json(0) : status_replicas}};
  if (type.custom) {
    if (!type.scale_selector_path.empty()) {
      Json sel = evalJsonPath(obj, type.scale_selector_path);
      if (sel.is_string()) status["selector"] = sel;
    }
  } else {
    std::string sel;
    const Json match_labels = obj.value("spec", Json::object())
                                  .value("selector", Json::object())
                                  .value("matchLabels", Json::object());
    for (const auto& [k, v] : match_labels.items()) {
      sel += (sel.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    if (!sel.empty()) status["selector"] = sel;
  }
  Json spec = Json::object();
  if (!spec_replicas.is_null()) spec["replicas"] = spec_replicas;
  return Json{{"kind", "Scale"},
              {"apiVersion", "autoscaling/v1"},
              {"metadata", out_meta},
              {"spec", spec},
              {"status", status}};
}

ListKeys listKeysFor(const ResourceTypePtr& type) {
  return [type](const std::string& dotted) -> ListShape {
    if (dotted == "metadata.finalizers") return {{}, true};
    if (dotted == "metadata.ownerReferences") return {{"uid"}, false};
    if (type->custom) return schemaListShape(type->schema, dotted);
    return {builtinListKeys(dotted), false};
  };
}

bool schemaHasCel(const nlohmann::json& schema) {
  return schema.dump().find("x-kubernetes-validations") != std::string::npos;
}

}  // namespace herd::fake
