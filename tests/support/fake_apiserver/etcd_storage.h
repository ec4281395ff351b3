// The Storage of kube-apiserver itself: objects kept in etcd (herd's etcd client, src/etcd),
// so that several fake servers on one etcd share one state, as the replicas of a tenant's
// kube-apiserver do, and a restarted one finds its objects (same uid, same resourceVersion).
//
// Laid out as kube-apiserver lays out etcd: the key of an object is
// <prefix>/<resource path>/<namespace>/<name> (cluster-scoped kinds without the namespace),
// the prefix being --etcd-prefix ("/registry"); the resource path is the plural
// ("/registry/pods/default/x", "/registry/deployments/...", "/registry/namespaces/x"), but for
// the few kinds kube-apiserver keeps elsewhere ("services/specs", "services/endpoints",
// "minions" for nodes, "controllers" for replication controllers, "ingress"), and group-first
// for the API extension groups and every custom resource
// ("/registry/apiextensions.k8s.io/customresourcedefinitions/<name>",
// "/registry/<group>/<plural>/..."). Values are the objects as JSON, without resourceVersion:
// where the real server writes built-in kinds as protobuf ("k8s\0" and a
// runtime.Unknown), this one writes JSON for every kind, as the real one does for custom
// resources. An object's resourceVersion is its key's mod_revision; a list's, the revision
// the cache is at.
//
// Writes are etcd transactions: create puts if create_revision == 0 (else AlreadyExists),
// update and delete compare mod_revision with the revision the caller read (else Conflict;
// the key's absence is NotFound). Reads come from an in-process cache, as kube-apiserver's
// watch cache serves them: filled by one range over the prefix, then kept by one etcd watch.
// That watch covers the whole keyspace (keys outside the prefix only move the revision on):
// etcd's JSON gateway sends no progress notifications, and sync() must be able to tell when
// the cache has seen every revision up to etcd's current one, which only a watch that sees
// every revision can. sync() (called by the ApiServer before each API request) reads etcd's
// current revision and waits for the cache to reach it, which makes a write through another
// server visible here before the next request is answered. Each write waits for the watch to
// bring it back before it returns, so that history stays in etcd's order.
//
// Watch history is the cache's: the changes it saw since it was filled, at most
// `history_limit`; a watch from before that is 410 Gone, as kube-apiserver's watch cache
// answers (after a restart it starts at the revision it read). compact() compacts etcd as
// kube-apiserver's compactor does, and the cache's history with it. A watch that etcd ends
// (its revision compacted while it was away, or etcd gone for the client's reconnect budget)
// fills the cache again from a fresh range, and the history restarts there.
//
// The deleted object that a DELETED change carries is the final state that remove() was given
// when this storage deleted it, and the last stored value (etcd's prev_kv) when another did.
//
// Threads: one reads the etcd watch, one applies what it read to the cache under the
// ApiServer's mutex (setChangeListener's `guard`) and calls the listener. Every method but
// sync(), health() and the destructor expects that mutex held. Destroy with it released.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "etcd/client.h"
#include "storage.h"

namespace herd::fake {

struct EtcdStorageConfig {
  etcd::ClientConfig client;  // endpoints and TLS; its timeout bounds every etcd call
  std::string prefix = "/registry";
  // The timeout of health(), as --etcd-healthcheck-timeout (its default).
  std::chrono::milliseconds healthcheck_timeout{std::chrono::seconds(2)};
  size_t history_limit = 10000;
};

class EtcdStorage : public Storage {
 public:
  // Tries to read the objects once; when etcd does not answer, the storage starts unloaded
  // and keeps trying from its thread (loaded() turns true once it has). Fails only on a bad
  // configuration.
  static Result<std::unique_ptr<EtcdStorage>> open(EtcdStorageConfig config);
  ~EtcdStorage() override;

  uint64_t revision() const override { return revision_; }
  uint64_t compactedRevision() const override { return compacted_; }

  std::optional<Json> get(const ObjectKey& key) const override;
  void list(const std::string& resource, const std::string& ns, const std::string& from,
            const ObjectVisitor& visit) const override;
  std::vector<std::string> resources() const override;

  Result<uint64_t> create(const ObjectKey& key, Json& object) override;
  Result<uint64_t> update(const ObjectKey& key, Json& object, uint64_t expected) override;
  Result<uint64_t> remove(const ObjectKey& key, Json& object, uint64_t expected) override;

  void changesAfter(uint64_t revision, const ChangeVisitor& visit) const override;
  void compact(uint64_t revision) override;
  void setChangeListener(std::mutex& guard, std::function<void()> listener) override;

  // The objects are in etcd already: nothing to restore.
  Status replace(std::vector<std::pair<ObjectKey, Json>> objects, uint64_t revision) override;

  Status sync() override;
  Status health() const override;
  bool loaded() const override { return loaded_; }

  // The etcd key of an object: "/registry/pods/default/x".
  std::string keyOf(const ObjectKey& key) const;

 private:
  // A full read of the prefix, replacing the cache.
  struct Snapshot {
    int64_t revision = 0;
    std::vector<etcd::KeyValue> kvs;
  };
  using Bucket = std::map<std::string, Json>;  // "ns/name" or "name" -> object

  explicit EtcdStorage(EtcdStorageConfig config);

  // The key of the object stored at `etcd_key` with value `object`; nullopt outside the
  // prefix.
  std::optional<ObjectKey> decodeKey(const std::string& etcd_key, const Json& object) const;
  // Reads the prefix and starts the watch after it; on the reader thread (or in open()).
  Status relist();
  void readLoop();
  void applyLoop();
  // Moves what the reader has read into the cache; true when anything changed.
  bool drainLocked();
  void installLocked(const Snapshot& snapshot);
  void applyLocked(const etcd::WatchEvent& event);
  void recordLocked(Change change);
  // Waits (bounded by the client's timeout) until the reader has seen `revision`, then
  // drains and tells the listener.
  void catchUpLocked(int64_t revision);
  Status checkLoadedLocked() const;
  // A conflict or NotFound for a failed compare, from the range in the failure branch.
  Status failedCompare(const ObjectKey& key, const etcd::TxnResponse& txn, uint64_t expected) const;

  EtcdStorageConfig config_;
  std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<etcd::Client> health_client_;

  // Guarded by *guard_ (the ApiServer's mutex).
  std::mutex* guard_ = nullptr;
  std::function<void()> listener_;
  bool loaded_ = false;
  uint64_t revision_ = 0;
  uint64_t compacted_ = 0;
  std::map<std::string, Bucket> buckets_;  // resource -> its objects
  std::deque<Change> history_;
  // The final states of the objects this storage deleted, by the revision of the deletion.
  std::map<int64_t, Json> deleted_;

  // What the reader has read and the cache not yet taken; guarded by feed_mu_, which is
  // taken after *guard_ when both are.
  mutable std::mutex feed_mu_;
  std::condition_variable feed_cv_;
  std::optional<Snapshot> pending_snapshot_;
  std::vector<etcd::WatchEvent> pending_events_;
  int64_t fed_revision_ = 0;  // the newest revision the reader has seen
  Status feed_error_;         // why the watch is down, while it is
  bool stopping_ = false;
  std::unique_ptr<etcd::Watch> watch_;  // the reader's; reset and cancelled under feed_mu_

  std::thread reader_;
  std::thread applier_;
};

// The path under the prefix where kube-apiserver keeps the resource stored as `storage_key`
// ("group/resource", ResourceType::storageKey()): "pods", "services/specs",
// "apiextensions.k8s.io/customresourcedefinitions", "example.com/widgets".
std::string registryPath(const std::string& storage_key);

}  // namespace herd::fake
