// Where the fake apiserver keeps its objects: an abstract Storage with the semantics
// kube-apiserver derives from etcd, so that the in-memory store of the tests and an etcd-backed
// one (objects under /registry/..., resourceVersion = etcd revision) are interchangeable.
//
// - One revision counts every write of every kind: each create, update and delete takes the
//   next one, and the object comes back with it as metadata.resourceVersion. A list carries the
//   revision it was read at.
// - Writes are conditional: update and remove take the revision the caller read (0: whatever
//   is there), and a stale one is a Conflict, as etcd's compare-and-swap makes it.
// - Changes are kept as history that watches are fed from, oldest first. Compaction forgets
//   history: a watch or continue token from before compactedRevision() is 410 Gone ("too old
//   resource version").
//
// Values are whole objects as JSON; a key is a resource's storage name ("apps/deployments"),
// a namespace ("" for cluster-scoped kinds) and a name. Two implementations: MemoryStorage
// (memory_storage.h), which forgets everything with the process, and EtcdStorage
// (etcd_storage.h), which keeps the objects in etcd as kube-apiserver does, so that several
// servers share them and a restarted one finds them again.
//
// The ApiServer calls every method with its one mutex held, except sync() and health(), and
// hands each implementation that mutex and its wake-up as the change listener (see
// setChangeListener).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace herd::fake {

using Json = nlohmann::ordered_json;

struct ObjectKey {
  std::string resource;  // ResourceType::storageKey(): "group/resource"
  std::string ns;
  std::string name;
};

enum class ChangeType { kAdded, kModified, kDeleted };
// "ADDED", "MODIFIED", "DELETED": the watch event types.
const char* watchEventType(ChangeType type);

// One write, as watches see it: a deleted object carries the revision of its deletion.
struct Change {
  uint64_t revision = 0;
  ChangeType type = ChangeType::kAdded;
  ObjectKey key;
  Json object;
};

class Storage {
 public:
  // `key` is relative to the namespace listed: "name", or "ns/name" across namespaces.
  using ObjectVisitor = std::function<bool(const std::string& key, const Json& object)>;
  // Return false to stop.
  using ChangeVisitor = std::function<bool(const Change& change)>;

  virtual ~Storage() = default;

  // The revision of the latest write: what a list, a bookmark or a new watch starts from.
  virtual uint64_t revision() const = 0;
  // The oldest revision a watch can start from (it sees the changes after it).
  virtual uint64_t compactedRevision() const = 0;

  virtual std::optional<Json> get(const ObjectKey& key) const = 0;
  // Visits the objects of `resource` in namespace `ns` ("": every namespace) in key order, as
  // etcd ranges over /registry/<resource>/<ns>/, from the first whose key is not below `from`,
  // until `visit` returns false.
  virtual void list(const std::string& resource, const std::string& ns, const std::string& from,
                    const ObjectVisitor& visit) const = 0;
  // The storage names of every resource that has held objects.
  virtual std::vector<std::string> resources() const = 0;

  // Each returns the revision it wrote and sets it as object's metadata.resourceVersion.
  // AlreadyExists when the key is taken.
  virtual Result<uint64_t> create(const ObjectKey& key, Json& object) = 0;
  // NotFound when the key is free; Conflict when `expected` is neither 0 nor the stored
  // object's revision.
  virtual Result<uint64_t> update(const ObjectKey& key, Json& object, uint64_t expected) = 0;
  // `object` is the final state that the DELETED change carries (the stored one with the
  // caller's last edits, such as its last finalizer removed).
  virtual Result<uint64_t> remove(const ObjectKey& key, Json& object, uint64_t expected) = 0;

  // Visits the changes after `revision`, oldest first, until `visit` returns false. Changes
  // older than compactedRevision() are gone: the caller checks that first.
  virtual void changesAfter(uint64_t revision, const ChangeVisitor& visit) const = 0;
  // Forgets the history up to `revision` (the current one at most): a watch can then start
  // from `revision` or later.
  virtual void compact(uint64_t revision) = 0;
  // `listener` is called, with `guard` (the ApiServer's mutex) held and without blocking,
  // whenever changesAfter() or compactedRevision() have news: the in-memory storage calls it
  // inside each write; one fed from a thread of its own (etcd's watch) takes `guard` first.
  // Called once, before any other method.
  virtual void setChangeListener(std::mutex& guard, std::function<void()> listener) = 0;

  // Without the ApiServer's mutex: waits until what this storage serves includes every write
  // that had completed when sync() was called, wherever it was made (another server on the
  // same etcd), as kube-apiserver's consistent reads do. Unavailable when that cannot be
  // known (etcd unreachable). Thread-safe.
  virtual Status sync() { return Status::ok(); }
  // Without the ApiServer's mutex: whether the backing store answers now (kube-apiserver's
  // "etcd" health check). Thread-safe.
  virtual Status health() const { return Status::ok(); }
  // Whether the objects have been read in at least once (kube-apiserver's "etcd-readiness"
  // and informer sync); until then reads find nothing and writes fail. With the mutex held.
  virtual bool loaded() const { return true; }

  // Replaces everything stored by `objects`, which keep their resourceVersions (a restart
  // from a --state-dir snapshot). The revision becomes at least `revision` and history starts
  // there. A storage that outlives the process (etcd) has nothing to restore and refuses.
  virtual Status replace(std::vector<std::pair<ObjectKey, Json>> objects, uint64_t revision) = 0;
};

}  // namespace herd::fake
