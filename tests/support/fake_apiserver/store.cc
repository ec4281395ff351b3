#include "store.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <vector>

#include "builtin.h"
#include "managed_fields.h"
#include "objects.h"
#include "wire.h"

namespace herd::fake {
namespace {

ObjectKey keyOf(const ResourceType& type, const Json& obj) {
  const Json& meta = obj["metadata"];
  return {type.storageKey(), meta.value("namespace", ""), meta.value("name", "")};
}

}  // namespace

// How often a DELETE computes its write again after another server changed the object.
constexpr int kDeleteAttempts = 5;

uint64_t revisionOf(const Json& obj) {
  const Json& meta = obj["metadata"];
  if (!meta.is_object()) return 0;
  return std::strtoull(meta.value("resourceVersion", "0").c_str(), nullptr, 10);
}

ObjectStore::ObjectStore(Registry& registry, std::unique_ptr<Storage> storage)
    : registry_(registry), storage_(std::move(storage)) {
  namespaces_type_ = registry_.find("", "v1", "namespaces");
  crd_type_ = registry_.find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  storage_->setChangeListener(mu_, [this] { onStorageChangedLocked(); });
  // Serve the CRDs the storage holds already (etcd after a restart). Nothing else runs yet.
  followCrdsLocked();
}

void ObjectStore::onStorageChangedLocked() {
  followCrdsLocked();
  changed_.notify_all();
}

void ObjectStore::followCrdsLocked() {
  const std::string crds = crd_type_->storageKey();
  auto serve = [&](const Json& crd) {
    std::string name = crd["metadata"].value("name", "");
    registry_.removeCrd(name);
    registry_.addCrd(crd);
  };
  if (crds_followed_ < storage_->compactedRevision()) {
    // The changes since the last look are gone: serve exactly the CRDs stored now.
    std::set<std::string> stored;
    storage_->list(crds, "", "", [&](const std::string& name, const Json& crd) {
      stored.insert(name);
      serve(crd);
      return true;
    });
    for (const auto& name : registry_.crdNames()) {
      if (!stored.count(name)) registry_.removeCrd(name);
    }
  } else {
    storage_->changesAfter(crds_followed_, [&](const Change& change) {
      if (change.key.resource != crds) return true;
      if (change.type == ChangeType::kDeleted) {
        registry_.removeCrd(change.key.name);
      } else {
        serve(change.object);
      }
      return true;
    });
  }
  crds_followed_ = storage_->revision();
}

std::optional<Json> ObjectStore::find(const ResourceType& type, const std::string& ns,
                                      const std::string& name) const {
  return storage_->get({type.storageKey(), ns, name});
}

ResourceTypePtr ObjectStore::typeOf(const std::string& storage_key) const {
  auto it = types_by_storage_.find(storage_key);
  if (it != types_by_storage_.end()) return it->second;
  size_t slash = storage_key.find('/');
  if (slash == std::string::npos) return nullptr;
  return registry_.findAnyVersion(storage_key.substr(0, slash), storage_key.substr(slash + 1));
}

void ObjectStore::stampNew(const ResourceType& type, Json& obj, const std::string& manager) {
  Json& meta = obj["metadata"];
  meta["uid"] = randomUuid();
  meta["creationTimestamp"] = nowRfc3339();
  if (usesGeneration(type)) meta["generation"] = 1;
  UpdateContext ctx{manager, type.apiVersion(), "", nowRfc3339(),
                    type.has_status ? FieldScope::kNoStatus : FieldScope::kAll};
  recordUpdate(nullptr, obj, listKeysFor(registry_.find(type.group, type.version, type.resource)),
               ctx);
}

Status ObjectStore::create(const ResourceTypePtr& type, Json& obj) {
  obj["apiVersion"] = type->apiVersion();
  obj["kind"] = type->kind;
  HERD_RETURN_IF_ERROR(storage_->create(keyOf(*type, obj), obj).status());
  types_by_storage_[type->storageKey()] = type;
  return Status::ok();
}

Status ObjectStore::update(const ResourceTypePtr& type, Json& obj, uint64_t expected) {
  obj["apiVersion"] = type->apiVersion();
  obj["kind"] = type->kind;
  HERD_RETURN_IF_ERROR(storage_->update(keyOf(*type, obj), obj, expected).status());
  types_by_storage_[type->storageKey()] = type;
  return Status::ok();
}

Status ObjectStore::erase(const ResourceTypePtr& type, Json& obj, uint64_t expected) {
  HERD_RETURN_IF_ERROR(storage_->remove(keyOf(*type, obj), obj, expected).status());
  if (type->resource == "customresourcedefinitions") onCrdDeleted(obj);
  return Status::ok();
}

std::optional<ApiError> ObjectStore::checkNamespace(const Target& t, bool creating) const {
  if (!t.type->namespaced) return std::nullopt;
  std::optional<Json> ns = find(*namespaces_type_, "", t.ns);
  if (!ns) return namespaceNotFound(t.ns);
  if (creating && (*ns)["metadata"].contains("deletionTimestamp")) {
    std::string name = t.name;
    Json details = {{"name", name}};
    if (!t.type->group.empty()) details["group"] = t.type->group;
    details["kind"] = t.type->resource;
    details["causes"] = Json::array({{{"reason", "NamespaceTerminating"},
                                      {"message", "namespace " + t.ns + " is being terminated"},
                                      {"field", "metadata.namespace"}}});
    return ApiError{403, "Forbidden",
                    t.type->qualifiedResource() + " \"" + name +
                        "\" is forbidden: unable to create new content in namespace " + t.ns +
                        " because it is being terminated",
                    details};
  }
  return std::nullopt;
}

Json ObjectStore::remove(const ResourceTypePtr& type, const Json& obj, const std::string& policy,
                         bool dry_run) {
  Json current = obj;
  Json body;
  for (int attempt = 0; attempt < kDeleteAttempts; ++attempt) {
    Status written = Status::ok();
    body = removeOnce(type, current, policy, dry_run, written);
    if (written.code() != Code::kConflict) break;
    const Json& meta = current["metadata"];
    std::optional<Json> now = find(*type, meta.value("namespace", ""), meta.value("name", ""));
    if (!now) break;
    current = std::move(*now);
  }
  return body;
}

Json ObjectStore::removeOnce(const ResourceTypePtr& type, const Json& obj,
                             const std::string& policy, bool dry_run, Status& written) {
  const uint64_t read = revisionOf(obj);
  Json next = obj;
  if (type->resource == "namespaces") {
    if (!next["metadata"].contains("deletionTimestamp")) {
      next["metadata"]["deletionTimestamp"] = nowRfc3339();
      next["metadata"]["deletionGracePeriodSeconds"] = 0;
      next["status"]["phase"] = "Terminating";
      if (!dry_run) written = update(type, next, read);
    }
    return forOutput(*type, next);
  }
  Json& meta = next["metadata"];
  std::vector<std::string> finalizers = finalizersOf(next);
  auto add = [&](const std::string& f) {
    if (std::find(finalizers.begin(), finalizers.end(), f) == finalizers.end())
      finalizers.push_back(f);
  };
  if (policy == "Foreground") add("foregroundDeletion");
  if (policy == "Orphan") add("orphan");
  if (!finalizers.empty()) {
    bool changed = !meta.contains("deletionTimestamp") || finalizers != finalizersOf(obj);
    setFinalizers(next, finalizers);
    if (!meta.contains("deletionTimestamp")) {
      meta["deletionTimestamp"] = nowRfc3339();
      meta["deletionGracePeriodSeconds"] = 0;
    }
    if (changed && !dry_run) written = update(type, next, read);
    return forOutput(*type, next);
  }
  Json details = {{"name", meta.value("name", "")}};
  if (!type->group.empty()) details["group"] = type->group;
  details["kind"] = type->resource;
  details["uid"] = meta.value("uid", "");
  if (!dry_run) written = erase(type, next, read);
  return Json{{"kind", "Status"},
              {"apiVersion", "v1"},
              {"metadata", Json::object()},
              {"status", "Success"},
              {"details", details}};
}

void ObjectStore::onCrdWritten(const Json& crd) {
  std::string name = crd["metadata"].value("name", "");
  registry_.removeCrd(name);
  registry_.addCrd(crd);
  const Json& status = crd.value("status", Json::object());
  bool established = false;
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "Established" && c.value("status", "") == "True") established = true;
  }
  if (established) return;
  // kube-apiserver's CRD controllers accept the names and establish the CRD within
  // milliseconds, as a second write after the create.
  Json next = crd;
  std::string now = nowRfc3339();
  Json names = crd["spec"]["names"];
  if (!names.contains("singular")) {
    std::string singular = names.value("kind", "");
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    names["singular"] = singular;
  }
  if (!names.contains("listKind")) names["listKind"] = names.value("kind", "") + "List";
  Json stored = Json::array();
  for (const auto& v : crd["spec"]["versions"]) {
    if (v.value("storage", false)) stored.push_back(v.value("name", ""));
  }
  next["status"] = {
      {"conditions", Json::array({{{"type", "NamesAccepted"},
                                   {"status", "True"},
                                   {"lastTransitionTime", now},
                                   {"reason", "NoConflicts"},
                                   {"message", "no conflicts found"}},
                                  {{"type", "Established"},
                                   {"status", "True"},
                                   {"lastTransitionTime", now},
                                   {"reason", "InitialNamesAccepted"},
                                   {"message", "the initial names have been accepted"}}})},
      {"acceptedNames", names},
      {"storedVersions", stored}};
  // Conditional: when another server changed the CRD meanwhile, its own write establishes it.
  (void)update(crd_type_, next, revisionOf(crd));
}

void ObjectStore::onCrdDeleted(const Json& crd) {
  std::string name = crd["metadata"].value("name", "");
  const Json& spec = crd["spec"];
  std::string storage = spec.value("group", "") + "/" + spec["names"].value("plural", "");
  if (ResourceTypePtr type = typeOf(storage)) {
    std::vector<Json> victims;
    storage_->list(storage, "", "", [&](const std::string&, const Json& obj) {
      victims.push_back(obj);
      return true;
    });
    for (auto& v : victims) (void)erase(type, v);
  }
  registry_.removeCrd(name);
}

std::string ObjectStore::snapshot() const {
  std::lock_guard lock(mu_);
  Json out = {{"resourceVersion", storage_->revision()}, {"objects", Json::array()}};
  auto save = [&](const std::string&, const Json& obj) {
    out["objects"].push_back(obj);
    return true;
  };
  // CRDs first so that their resources are served again before their objects are loaded.
  storage_->list(crd_type_->storageKey(), "", "", save);
  for (const auto& resource : storage_->resources()) {
    if (resource != crd_type_->storageKey()) storage_->list(resource, "", "", save);
  }
  return dumpCompact(out);
}

Status ObjectStore::restore(const std::string& text) {
  Json in = Json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return Status::invalid("state snapshot is not JSON");
  std::lock_guard lock(mu_);
  std::vector<std::pair<ObjectKey, Json>> objects;
  for (auto obj : in.value("objects", Json::array())) {
    ResourceTypePtr type = registry_.findKind(obj.value("apiVersion", ""), obj.value("kind", ""));
    if (!type) continue;
    if (type->resource == "customresourcedefinitions") registry_.addCrd(obj);
    types_by_storage_[type->storageKey()] = type;
    ObjectKey key = keyOf(*type, obj);
    objects.emplace_back(std::move(key), std::move(obj));
  }
  return storage_->replace(std::move(objects), in.value("resourceVersion", uint64_t{1}));
}

ApiError storageError(const ResourceType& type, const std::string& name, const Status& status) {
  switch (status.code()) {
    case Code::kAlreadyExists:
      return alreadyExists(type, name);
    case Code::kConflict:
      return conflictModified(type, name);
    case Code::kNotFound:
      return notFound(type, name);
    default:
      return {500,
              "InternalError",
              "Internal error occurred: " + status.message(),
              {{"causes", Json::array({{{"message", status.message()}}})}}};
  }
}

}  // namespace herd::fake
