// What the fake apiserver serves: every resource type of the recorded discovery documents plus
// the custom resources of established CRDs, and the discovery documents describing them.
//
// Built-in types come from the recorded /api/v1 and /apis/<g>/<v> documents, so the fake
// serves exactly what kube-apiserver v1.32 serves; CRDs add and remove types at runtime.
// Thread-safe: lookups return shared immutable ResourceType values.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace herd::fake {

using Json = nlohmann::ordered_json;

struct ResourceType {
  std::string group;
  std::string version;
  std::string resource;  // plural
  std::string kind;
  std::string singular;
  bool namespaced = false;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool has_status = false;
  bool has_scale = false;
  bool custom = false;
  std::string crd_name;
  nlohmann::json schema;  // openAPIV3Schema of this version (custom resources only)
  Json printer_columns = Json::array();
  std::string scale_spec_path = ".spec.replicas";
  std::string scale_status_path = ".status.replicas";
  std::string scale_selector_path;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // Objects are stored once per group and resource, whatever the version asked for.
  std::string storageKey() const { return group + "/" + resource; }
  // "configmaps", "deployments.apps": how messages name the resource.
  std::string qualifiedResource() const {
    return group.empty() ? resource : resource + "." + group;
  }
  // "ConfigMap", "Deployment.apps": how Invalid messages name the kind.
  std::string qualifiedKind() const { return group.empty() ? kind : kind + "." + group; }
  bool hasVerb(const std::string& verb) const;
};

using ResourceTypePtr = std::shared_ptr<const ResourceType>;

class Registry {
 public:
  // Reads the recorded discovery documents from `data_dir`.
  static Result<std::unique_ptr<Registry>> load(const std::string& data_dir);

  ResourceTypePtr find(const std::string& group, const std::string& version,
                       const std::string& resource) const;
  ResourceTypePtr findKind(const std::string& api_version, const std::string& kind) const;
  // A version of `resource` in `group`, whichever is served: for objects found in storage,
  // where the group and resource are known but not the version they were written as.
  ResourceTypePtr findAnyVersion(const std::string& group, const std::string& resource) const;
  bool servesGroupVersion(const std::string& group, const std::string& version) const;
  bool servesGroup(const std::string& group) const;

  // Serves (or stops serving) the versions of a CRD. Returns the types added.
  std::vector<ResourceTypePtr> addCrd(const Json& crd);
  void removeCrd(const std::string& crd_name);
  // The names of the CRDs whose types are served.
  std::vector<std::string> crdNames() const;

  const Json& version() const { return version_; }
  Json coreVersions() const;  // GET /api
  Json groupList() const;     // GET /apis
  Json group(const std::string& name) const;
  Json resourceList(const std::string& group, const std::string& version) const;
  Json aggregatedCore() const;
  Json aggregatedGroups() const;

 private:
  struct CrdGroup {
    std::string name;
    std::vector<std::string> versions;
    std::vector<ResourceTypePtr> types;
  };

  void indexResourceList(const Json& list);

  mutable std::shared_mutex mu_;
  Json version_, api_, apis_, aggregated_api_, aggregated_apis_;
  std::map<std::string, Json> builtin_lists_;                 // "group/version" -> APIResourceList
  std::map<std::string, ResourceTypePtr> types_;              // "group/version/resource"
  std::map<std::string, std::vector<ResourceTypePtr>> crds_;  // crd name -> its types
};

}  // namespace herd::fake
