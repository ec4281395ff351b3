#include "controller.h"

#include <algorithm>
#include <ctime>
#include <optional>
#include <set>
#include <vector>

#include "builtin.h"
#include "objects.h"
#include "wire.h"

namespace herd::fake {

void Controller::start() {
  thread_ = std::thread([this] { run(); });
}

void Controller::stop() {
  {
    std::lock_guard lock(store_.mutex());
    stopping_ = true;
  }
  store_.changed().notify_all();
  if (thread_.joinable()) thread_.join();
}

void Controller::ensureSystemNamespacesLocked() {
  if (namespaces_ensured_ || !store_.storage().loaded()) return;
  bool all = true;
  for (const char* name : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (store_.find(*store_.namespaces(), "", name)) continue;
    Json obj = {{"kind", "Namespace"}, {"apiVersion", "v1"}, {"metadata", {{"name", name}}}};
    applyBuiltinDefaults(*store_.namespaces(), obj);
    store_.stampNew(*store_.namespaces(), obj, "kube-apiserver");
    Status s = store_.create(store_.namespaces(), obj);
    // AlreadyExists: another server sharing the storage made it first.
    if (!s.isOk() && s.code() != Code::kAlreadyExists) all = false;
  }
  namespaces_ensured_ = all;
}

void Controller::run() {
  std::unique_lock lock(store_.mutex());
  while (!stopping_) {
    store_.changed().wait_for(lock, kTick);
    if (stopping_) break;
    ensureSystemNamespacesLocked();
    collectGarbageLocked();
    finishNamespacesLocked();
    publishRootCaLocked();
  }
}

void Controller::publishRootCaLocked() {
  if (options_.root_ca_pem.empty()) return;
  ResourceTypePtr configmaps = registry_.find("", "v1", "configmaps");
  // Only a change of a namespace or of a kube-root-ca.crt can leave one to publish: without
  // one since the last look, the walk over every namespace is skipped.
  Storage& storage = store_.storage();
  const std::string namespaces_key = store_.namespaces()->storageKey();
  const std::string configmaps_key = configmaps->storageKey();
  if (published_at_ && *published_at_ >= storage.compactedRevision()) {
    bool relevant = false;
    storage.changesAfter(*published_at_, [&](const Change& change) {
      relevant = change.key.resource == namespaces_key ||
                 (change.key.resource == configmaps_key && change.key.name == "kube-root-ca.crt");
      return !relevant;
    });
    if (!relevant) {
      published_at_ = storage.revision();
      return;
    }
  }
  published_at_ = storage.revision();
  std::vector<std::string> missing;
  store_.storage().list(store_.namespaces()->storageKey(), "", "",
                        [&](const std::string& name, const Json& ns) {
                          if (ns["metadata"].contains("deletionTimestamp")) return true;
                          if (!store_.find(*configmaps, name, "kube-root-ca.crt"))
                            missing.push_back(name);
                          return true;
                        });
  for (const auto& ns : missing) {
    // What kube-controller-manager's root-ca-cert-publisher puts in every namespace.
    Json cm = {
        {"kind", "ConfigMap"},
        {"apiVersion", "v1"},
        {"metadata",
         {{"name", "kube-root-ca.crt"},
          {"namespace", ns},
          {"annotations",
           {{"kubernetes.io/description",
             "Contains a CA bundle that can be used to verify the kube-apiserver when using "
             "internal endpoints such as the internal service IP or kubernetes.default.svc. No "
             "other usage is guaranteed across distributions of Kubernetes clusters."}}}}},
        {"data", {{"ca.crt", options_.root_ca_pem}}}};
    store_.stampNew(*configmaps, cm, "kube-controller-manager");
    (void)store_.create(configmaps, cm);
  }
}

void Controller::collectGarbageLocked() {
  Storage& storage = store_.storage();
  // What the collector does follows from the store alone: a pass is needed only after a
  // change that can leave work for it (a deletion, a deletionTimestamp, an ownerReference to
  // no stored object), so a store that only gains and updates owned objects costs one look
  // at each change instead of a walk over everything. A pass that writes moves the revision
  // on, so the next call looks at its own writes.
  const uint64_t revision = storage.revision();
  if (collected_at_ && *collected_at_ == revision) return;
  if (collected_at_ && *collected_at_ >= storage.compactedRevision() &&
      !changesNeedPassLocked(*collected_at_)) {
    collected_at_ = revision;
    return;
  }
  collected_at_ = revision;

  // One walk over the store, by reference: every object's uid, the keys and ownerReferences
  // of the dependents, and the objects being deleted. Only objects acted on are copied.
  struct Dependent {
    ObjectKey key;
    Json refs;
  };
  std::vector<Dependent> with_owners;
  std::vector<ObjectKey> deleting;
  live_uids_.clear();
  for (const auto& resource : storage.resources()) {
    storage.list(resource, "", "", [&](const std::string&, const Json& obj) {
      const Json& meta = obj["metadata"];
      live_uids_.insert(meta.value("uid", ""));
      auto refs = meta.find("ownerReferences");
      bool owned = refs != meta.end() && refs->is_array() && !refs->empty();
      bool being_deleted = meta.contains("deletionTimestamp");
      if (!owned && !being_deleted) return true;
      ObjectKey key{resource, meta.value("namespace", ""), meta.value("name", "")};
      if (owned) with_owners.push_back({key, *refs});
      if (being_deleted) deleting.push_back(key);
      return true;
    });
  }
  auto dependentsOf = [&](const std::string& uid) {
    std::vector<std::pair<ObjectKey, bool>> out;  // dependent, blockOwnerDeletion
    for (const auto& dependent : with_owners) {
      for (const auto& ref : dependent.refs) {
        if (ref.value("uid", "") == uid)
          out.push_back({dependent.key, ref.value("blockOwnerDeletion", false)});
      }
    }
    return out;
  };

  // Owners being deleted with foreground or orphan propagation.
  for (const auto& key : deleting) {
    std::optional<Json> found = storage.get(key);
    if (!found) continue;
    Json owner = *found;
    ResourceTypePtr type = store_.typeOf(key.resource);
    std::vector<std::string> finalizers = finalizersOf(owner);
    std::string uid = owner["metadata"].value("uid", "");
    bool foreground =
        std::find(finalizers.begin(), finalizers.end(), "foregroundDeletion") != finalizers.end();
    bool orphan = std::find(finalizers.begin(), finalizers.end(), "orphan") != finalizers.end();
    if (!foreground && !orphan) continue;
    auto dependents = dependentsOf(uid);
    if (orphan) {
      for (const auto& [dep_key, block] : dependents) {
        std::optional<Json> dep = storage.get(dep_key);
        if (!dep) continue;
        Json next = *dep;
        Json refs = Json::array();
        for (const auto& ref : next["metadata"].value("ownerReferences", Json::array())) {
          if (ref.value("uid", "") != uid) refs.push_back(ref);
        }
        if (refs.empty()) {
          next["metadata"].erase("ownerReferences");
        } else {
          next["metadata"]["ownerReferences"] = refs;
        }
        (void)store_.update(store_.typeOf(dep_key.resource), next, revisionOf(*dep));
      }
      finalizers.erase(std::find(finalizers.begin(), finalizers.end(), "orphan"));
    } else {
      bool blocked = false;
      for (const auto& [dep_key, block] : dependents) {
        std::optional<Json> dep = storage.get(dep_key);
        if (!dep) continue;
        if (!(*dep)["metadata"].contains("deletionTimestamp"))
          store_.remove(store_.typeOf(dep_key.resource), *dep, "Foreground", false);
        if (block && storage.get(dep_key)) blocked = true;
      }
      if (blocked) continue;
      finalizers.erase(std::find(finalizers.begin(), finalizers.end(), "foregroundDeletion"));
    }
    setFinalizers(owner, finalizers);
    // Conditional writes: when another server changed the owner meanwhile, the change brings
    // the collector back to it.
    if (finalizers.empty()) {
      (void)store_.erase(type, owner, revisionOf(*found));
    } else {
      (void)store_.update(type, owner, revisionOf(*found));
    }
  }

  // The uids stored right now, gathered again whenever a write has changed the store.
  std::set<std::string> live_uids = live_uids_;
  uint64_t live_at = revision;
  auto alive = [&](const std::string& uid) {
    if (live_at != storage.revision()) {
      live_uids.clear();
      for (const auto& resource : storage.resources()) {
        storage.list(resource, "", "", [&](const std::string&, const Json& obj) {
          live_uids.insert(obj["metadata"].value("uid", ""));
          return true;
        });
      }
      live_at = storage.revision();
    }
    return live_uids.count(uid) > 0;
  };

  // Dependents whose owners are gone: deleted when no owner is left, else the dangling
  // references are dropped.
  for (const auto& dependent : with_owners) {
    bool dangling = false;
    for (const auto& ref : dependent.refs) dangling = dangling || !alive(ref.value("uid", ""));
    if (!dangling) continue;
    const ObjectKey& key = dependent.key;
    std::optional<Json> found = storage.get(key);
    if (!found) continue;
    const Json refs = (*found)["metadata"].value("ownerReferences", Json::array());
    if (refs.empty()) continue;
    Json live = Json::array();
    for (const auto& ref : refs) {
      if (alive(ref.value("uid", ""))) live.push_back(ref);
    }
    if (live.size() == refs.size()) continue;
    ResourceTypePtr type = store_.typeOf(key.resource);
    if (live.empty()) {
      if (!(*found)["metadata"].contains("deletionTimestamp"))
        store_.remove(type, *found, "Background", false);
    } else {
      Json next = *found;
      next["metadata"]["ownerReferences"] = live;
      (void)store_.update(type, next, revisionOf(*found));
    }
  }
}

bool Controller::changesNeedPassLocked(uint64_t since) {
  bool needed = false;
  std::vector<Json> owner_refs;  // of the objects added or changed since
  store_.storage().changesAfter(since, [&](const Change& change) {
    const Json& meta = change.object["metadata"];
    std::string uid = meta.value("uid", "");
    if (change.type == ChangeType::kDeleted) {
      live_uids_.erase(uid);
      needed = true;
      return true;
    }
    live_uids_.insert(uid);
    if (meta.contains("deletionTimestamp")) needed = true;
    auto refs = meta.find("ownerReferences");
    if (refs != meta.end() && refs->is_array() && !refs->empty()) owner_refs.push_back(*refs);
    return true;
  });
  for (const auto& refs : owner_refs) {
    for (const auto& ref : refs) needed = needed || !live_uids_.count(ref.value("uid", ""));
  }
  return needed;
}

void Controller::finishNamespacesLocked() {
  Storage& storage = store_.storage();
  std::vector<Json> terminating;
  storage.list(store_.namespaces()->storageKey(), "", "", [&](const std::string&, const Json& ns) {
    if (ns["metadata"].contains("deletionTimestamp")) terminating.push_back(ns);
    return true;
  });
  long long now = static_cast<long long>(std::time(nullptr));
  for (auto& ns : terminating) {
    // Like kube-controller-manager, take a moment: clients see the Terminating phase.
    long long since = parseRfc3339(ns["metadata"].value("deletionTimestamp", ""));
    if (now - since < options_.namespace_delete_seconds) continue;
    std::string name = ns["metadata"].value("name", "");
    size_t remaining = 0;
    std::vector<std::pair<ResourceTypePtr, Json>> victims;
    for (const auto& resource : storage.resources()) {
      storage.list(resource, name, "", [&](const std::string&, const Json& obj) {
        ++remaining;
        if (!obj["metadata"].contains("deletionTimestamp"))
          victims.push_back({store_.typeOf(resource), obj});
        return true;
      });
    }
    for (auto& [type, obj] : victims) store_.remove(type, obj, "Background", false);
    if (remaining == 0) (void)store_.erase(store_.namespaces(), ns, revisionOf(ns));
  }
}

}  // namespace herd::fake
