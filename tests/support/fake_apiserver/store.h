// The fake's objects as the API sees them: a Storage behind the one mutex of the server,
// written through typed calls that stamp apiVersion and kind, run the side effects of
// kube-apiserver's own controllers on CRDs (establishing them, serving and removing their
// types, deleting their objects), and delete as the API does (finalizers, propagation
// policies, Terminating namespaces). Also saves and restores everything for --state-dir.
//
// Owned by the ApiServer; every method but mutex(), changed() and the snapshots expects
// mutex() held. Watches and the controller wait on changed(), which the storage signals on
// every change, whoever made it: a storage shared with other servers (etcd) reports their
// writes too, and the store follows their CRDs (serving or no longer serving their types).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "authn.h"
#include "registry.h"
#include "responses.h"
#include "storage.h"

namespace herd::fake {

class ObjectStore {
 public:
  ObjectStore(Registry& registry, std::unique_ptr<Storage> storage);

  std::mutex& mutex() const { return mu_; }
  std::condition_variable& changed() { return changed_; }
  Storage& storage() { return *storage_; }
  const Storage& storage() const { return *storage_; }
  const ResourceTypePtr& namespaces() const { return namespaces_type_; }
  const ResourceTypePtr& crds() const { return crd_type_; }

  std::optional<Json> find(const ResourceType& type, const std::string& ns,
                           const std::string& name) const;
  // A type serving the objects stored as `storage_key` (the last one that wrote there, else
  // any served version of it: objects written by another server).
  ResourceTypePtr typeOf(const std::string& storage_key) const;

  // Gives a new object its uid, creationTimestamp, generation and first managedFields entry.
  void stampNew(const ResourceType& type, Json& obj, const std::string& manager);
  // Write `obj` as `type`'s; each sets obj's resourceVersion to the revision written.
  // `expected` is the revision the write was computed from (0: whatever is stored); a stale
  // one is a Conflict, which only a write by another server sharing the storage can cause.
  Status create(const ResourceTypePtr& type, Json& obj);
  Status update(const ResourceTypePtr& type, Json& obj, uint64_t expected = 0);
  // Removes the object for good; a CRD takes its custom resources with it.
  Status erase(const ResourceTypePtr& type, Json& obj, uint64_t expected = 0);
  // DELETE as the API does it: a namespace turns Terminating, finalizers (and the
  // foregroundDeletion or orphan finalizer that `policy` asks for) only mark the object, else
  // it is erased. Each write is conditional on the revision read and, on a conflict, computed
  // again from the object as it is now (as kube-apiserver retries a delete). Returns the
  // response body.
  Json remove(const ResourceTypePtr& type, const Json& obj, const std::string& policy,
              bool dry_run);

  // NotFound for a namespaced target in a missing namespace; Forbidden when `creating` in a
  // Terminating one.
  std::optional<ApiError> checkNamespace(const Target& t, bool creating) const;
  // After a CRD is written: serve its types and, as kube-apiserver's controllers do within
  // milliseconds, accept its names and establish it.
  void onCrdWritten(const Json& crd);

  // Everything stored, CRDs first, and its replacement (which serves the CRDs' types again).
  std::string snapshot() const;
  Status restore(const std::string& text);

 private:
  void onCrdDeleted(const Json& crd);
  // One attempt of remove(); `written` is the status of its write.
  Json removeOnce(const ResourceTypePtr& type, const Json& obj, const std::string& policy,
                  bool dry_run, Status& written);
  // The storage's listener: serves the types of CRDs written or deleted since the last call
  // (by this server or another), then wakes the watches and the controller.
  void onStorageChangedLocked();
  void followCrdsLocked();

  Registry& registry_;
  ResourceTypePtr namespaces_type_;
  ResourceTypePtr crd_type_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, ResourceTypePtr> types_by_storage_;
  // The storage revision up to which CRD changes have been followed.
  uint64_t crds_followed_ = 0;
  // Last, so that it is destroyed first: a storage with a thread of its own stops it while
  // the mutex and everything its listener touches are still there.
  std::unique_ptr<Storage> storage_;
};

// The revision in obj's metadata.resourceVersion (0 when there is none).
uint64_t revisionOf(const Json& obj);

// The API error for a write that the storage refused.
ApiError storageError(const ResourceType& type, const std::string& name, const Status& status);

}  // namespace herd::fake
