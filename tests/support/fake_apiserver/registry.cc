#include "registry.h"

#include <algorithm>
#include <mutex>

#include "common/files.h"

namespace herd::fake {
namespace {

Result<Json> readJson(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string text, files::read(path));
  Json parsed = Json::parse(text, nullptr, false);
  if (parsed.is_discarded()) return Status::invalid(path + ": not JSON");
  return parsed;
}

std::string typeKey(const std::string& group, const std::string& version,
                    const std::string& resource) {
  return group + "/" + version + "/" + resource;
}

std::pair<std::string, std::string> splitGroupVersion(const std::string& gv) {
  size_t slash = gv.find('/');
  if (slash == std::string::npos) return {"", gv};
  return {gv.substr(0, slash), gv.substr(slash + 1)};
}

std::vector<std::string> stringList(const Json& value) {
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const auto& v : value) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// Verbs kube-apiserver lists for every custom resource, in its order.
const std::vector<std::string> kCustomVerbs = {"delete", "deletecollection", "get",    "list",
                                               "patch",  "create",           "update", "watch"};

}  // namespace

bool ResourceType::hasVerb(const std::string& verb) const {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

Result<std::unique_ptr<Registry>> Registry::load(const std::string& data_dir) {
  auto registry = std::unique_ptr<Registry>(new Registry());
  HERD_ASSIGN_OR_RETURN(registry->version_, readJson(data_dir + "/version.json"));
  HERD_ASSIGN_OR_RETURN(registry->api_, readJson(data_dir + "/api.json"));
  HERD_ASSIGN_OR_RETURN(registry->apis_, readJson(data_dir + "/apis.json"));
  HERD_ASSIGN_OR_RETURN(registry->aggregated_api_, readJson(data_dir + "/aggregated_api_v2.json"));
  HERD_ASSIGN_OR_RETURN(registry->aggregated_apis_,
                        readJson(data_dir + "/aggregated_apis_v2.json"));
  HERD_ASSIGN_OR_RETURN(Json core, readJson(data_dir + "/api_v1.json"));
  registry->indexResourceList(core);
  for (const auto& group : registry->apis_["groups"]) {
    for (const auto& v : group["versions"]) {
      auto [g, ver] = splitGroupVersion(v["groupVersion"].get<std::string>());
      HERD_ASSIGN_OR_RETURN(Json list, readJson(data_dir + "/apis_" + g + "_" + ver + ".json"));
      registry->indexResourceList(list);
    }
  }
  return registry;
}

void Registry::indexResourceList(const Json& list) {
  const std::string gv = list.value("groupVersion", "");
  builtin_lists_[gv] = list;
  auto [group, version] = splitGroupVersion(gv);
  std::map<std::string, std::shared_ptr<ResourceType>> parents;
  for (const auto& r : list["resources"]) {
    std::string name = r.value("name", "");
    size_t slash = name.find('/');
    if (slash != std::string::npos) {
      auto parent = parents.find(name.substr(0, slash));
      if (parent == parents.end()) continue;
      std::string sub = name.substr(slash + 1);
      if (sub == "status") parent->second->has_status = true;
      if (sub == "scale") parent->second->has_scale = true;
      continue;
    }
    auto type = std::make_shared<ResourceType>();
    type->group = group;
    type->version = version;
    type->resource = name;
    type->kind = r.value("kind", "");
    type->singular = r.value("singularName", "");
    type->namespaced = r.value("namespaced", false);
    type->verbs = stringList(r.value("verbs", Json::array()));
    type->short_names = stringList(r.value("shortNames", Json::array()));
    type->categories = stringList(r.value("categories", Json::array()));
    parents[name] = type;
  }
  for (auto& [name, type] : parents) types_[typeKey(group, version, name)] = type;
}

ResourceTypePtr Registry::find(const std::string& group, const std::string& version,
                               const std::string& resource) const {
  std::shared_lock lock(mu_);
  auto it = types_.find(typeKey(group, version, resource));
  return it == types_.end() ? nullptr : it->second;
}

ResourceTypePtr Registry::findKind(const std::string& api_version, const std::string& kind) const {
  auto [group, version] = splitGroupVersion(api_version);
  std::shared_lock lock(mu_);
  for (const auto& [key, type] : types_) {
    if (type->group == group && type->version == version && type->kind == kind) return type;
  }
  return nullptr;
}

ResourceTypePtr Registry::findAnyVersion(const std::string& group,
                                         const std::string& resource) const {
  std::shared_lock lock(mu_);
  for (const auto& [key, type] : types_) {
    if (type->group == group && type->resource == resource) return type;
  }
  return nullptr;
}

bool Registry::servesGroupVersion(const std::string& group, const std::string& version) const {
  std::shared_lock lock(mu_);
  std::string prefix = group + "/" + version + "/";
  auto it = types_.lower_bound(prefix);
  return it != types_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

bool Registry::servesGroup(const std::string& group) const {
  std::shared_lock lock(mu_);
  std::string prefix = group + "/";
  auto it = types_.lower_bound(prefix);
  return it != types_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

std::vector<ResourceTypePtr> Registry::addCrd(const Json& crd) {
  std::vector<ResourceTypePtr> added;
  const Json& spec = crd["spec"];
  const Json& names = spec["names"];
  for (const auto& v : spec["versions"]) {
    if (!v.value("served", true)) continue;
    auto type = std::make_shared<ResourceType>();
    type->group = spec.value("group", "");
    type->version = v.value("name", "");
    type->resource = names.value("plural", "");
    type->kind = names.value("kind", "");
    type->singular = names.value("singular", "");
    if (type->singular.empty()) {
      type->singular = type->kind;
      std::transform(type->singular.begin(), type->singular.end(), type->singular.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    }
    type->namespaced = spec.value("scope", "") == "Namespaced";
    type->verbs = kCustomVerbs;
    type->short_names = stringList(names.value("shortNames", Json::array()));
    type->categories = stringList(names.value("categories", Json::array()));
    type->custom = true;
    type->crd_name = crd["metadata"].value("name", "");
    if (v.contains("schema") && v["schema"].contains("openAPIV3Schema")) {
      type->schema = nlohmann::json::parse(v["schema"]["openAPIV3Schema"].dump());
    }
    if (v.contains("additionalPrinterColumns"))
      type->printer_columns = v["additionalPrinterColumns"];
    if (v.contains("subresources")) {
      const Json& sub = v["subresources"];
      type->has_status = sub.contains("status");
      if (sub.contains("scale")) {
        type->has_scale = true;
        type->scale_spec_path = sub["scale"].value("specReplicasPath", ".spec.replicas");
        type->scale_status_path = sub["scale"].value("statusReplicasPath", ".status.replicas");
        type->scale_selector_path = sub["scale"].value("labelSelectorPath", "");
      }
    }
    added.push_back(type);
  }
  std::unique_lock lock(mu_);
  for (const auto& type : added) types_[typeKey(type->group, type->version, type->resource)] = type;
  crds_[crd["metadata"].value("name", "")] = added;
  return added;
}

void Registry::removeCrd(const std::string& crd_name) {
  std::unique_lock lock(mu_);
  auto it = crds_.find(crd_name);
  if (it == crds_.end()) return;
  for (const auto& type : it->second)
    types_.erase(typeKey(type->group, type->version, type->resource));
  crds_.erase(it);
}

std::vector<std::string> Registry::crdNames() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, types] : crds_) out.push_back(name);
  return out;
}

Json Registry::coreVersions() const {
  return api_;
}

Json Registry::groupList() const {
  std::shared_lock lock(mu_);
  Json out = apis_;
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& [name, types] : crds_) {
    for (const auto& t : types) groups[t->group].push_back(t->version);
  }
  for (const auto& [group, versions] : groups) {
    Json g = {{"name", group}, {"versions", Json::array()}};
    for (const auto& v : versions) {
      g["versions"].push_back({{"groupVersion", group + "/" + v}, {"version", v}});
    }
    g["preferredVersion"] = g["versions"][0];
    out["groups"].push_back(g);
  }
  return out;
}

Json Registry::group(const std::string& name) const {
  Json list = groupList();
  for (auto& g : list["groups"]) {
    if (g.value("name", "") == name) {
      Json out = {{"kind", "APIGroup"}, {"apiVersion", "v1"}};
      for (auto& [k, v] : g.items()) out[k] = v;
      return out;
    }
  }
  return nullptr;
}

Json Registry::resourceList(const std::string& group, const std::string& version) const {
  std::string gv = group.empty() ? version : group + "/" + version;
  std::shared_lock lock(mu_);
  auto builtin = builtin_lists_.find(gv);
  if (builtin != builtin_lists_.end()) return builtin->second;
  Json out = {{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", gv},
              {"resources", Json::array()}};
  bool any = false;
  for (const auto& [name, types] : crds_) {
    for (const auto& t : types) {
      if (t->group != group || t->version != version) continue;
      any = true;
      Json r = {{"name", t->resource},
                {"singularName", t->singular},
                {"namespaced", t->namespaced},
                {"kind", t->kind},
                {"verbs", t->verbs}};
      if (!t->short_names.empty()) r["shortNames"] = t->short_names;
      if (!t->categories.empty()) r["categories"] = t->categories;
      out["resources"].push_back(r);
      if (t->has_status) {
        out["resources"].push_back({{"name", t->resource + "/status"},
                                    {"singularName", ""},
                                    {"namespaced", t->namespaced},
                                    {"kind", t->kind},
                                    {"verbs", {"get", "patch", "update"}}});
      }
      if (t->has_scale) {
        out["resources"].push_back({{"name", t->resource + "/scale"},
                                    {"singularName", ""},
                                    {"namespaced", t->namespaced},
                                    {"group", "autoscaling"},
                                    {"version", "v1"},
                                    {"kind", "Scale"},
                                    {"verbs", {"get", "patch", "update"}}});
      }
    }
  }
  return any ? out : Json(nullptr);
}

Json Registry::aggregatedCore() const {
  return aggregated_api_;
}

Json Registry::aggregatedGroups() const {
  std::shared_lock lock(mu_);
  Json out = aggregated_apis_;
  std::map<std::string, Json> groups;
  for (const auto& [name, types] : crds_) {
    for (const auto& t : types) {
      Json& g = groups[t->group];
      if (g.is_null()) {
        g = {{"metadata", {{"name", t->group}, {"creationTimestamp", nullptr}}},
             {"versions", Json::array()}};
      }
      Json r = {{"resource", t->resource},
                {"responseKind", {{"group", t->group}, {"version", t->version}, {"kind", t->kind}}},
                {"scope", t->namespaced ? "Namespaced" : "Cluster"},
                {"singularResource", t->singular},
                {"verbs", t->verbs}};
      if (!t->short_names.empty()) r["shortNames"] = t->short_names;
      if (!t->categories.empty()) r["categories"] = t->categories;
      Json subs = Json::array();
      if (t->has_status) {
        subs.push_back(
            {{"subresource", "status"},
             {"responseKind", {{"group", t->group}, {"version", t->version}, {"kind", t->kind}}},
             {"verbs", {"get", "patch", "update"}}});
      }
      if (t->has_scale) {
        subs.push_back(
            {{"subresource", "scale"},
             {"responseKind", {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}},
             {"verbs", {"get", "patch", "update"}}});
      }
      if (!subs.empty()) r["subresources"] = subs;
      g["versions"].push_back(
          {{"version", t->version}, {"resources", Json::array({r})}, {"freshness", "Current"}});
    }
  }
  for (auto& [name, g] : groups) out["items"].push_back(g);
  return out;
}

}  // namespace herd::fake
