// An informer: a local cache of one resource kept equal to the server by list+watch, with
// indexes and event handlers, as client-go's SharedIndexInformer.
//
// The reflector lists (in pages), then watches from the list's resourceVersion; it resumes
// the watch from the last resourceVersion it saw (events and bookmarks) when a watch ends or
// breaks, and lists again only after 410 Gone. Handlers run on the informer's thread, one
// event at a time, in order. Cache reads are thread-safe; start()/stop() from one owner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kube/client.h"

namespace herd::kube {

struct InformerOptions {
  ResourceRef resource;
  std::string ns;  // "" for all namespaces or a cluster-scoped resource
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  // Each watch asks the server to end after a random time in [min, 2*min), so that many
  // informers do not reconnect at once.
  std::chrono::seconds watch_timeout_min{300};
  // A watch with no event (not even a bookmark) for this long is considered dead.
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(10)};
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{std::chrono::seconds(10)};
  // Applied to every object as it arrives (listed or watched), before it is cached and handed
  // to the handlers, as client-go's SetTransform: a cache that keeps only the fields its users
  // read costs a fraction of the memory. It must keep metadata.name, namespace and
  // resourceVersion (the key, and how a changed object is told from a relisted one).
  std::function<void(json& object)> transform;
};

// A transform that drops metadata.managedFields: server-side apply's bookkeeping, often the
// largest part of an object, read by no controller. An update without it keeps the server's.
void stripManagedFields(json& object);
// A transform that keeps only metadata: name, namespace, uid, resourceVersion, generation,
// labels, deletionTimestamp; for caches that only map an event to the key of its owner.
void keepOnlyMetadata(json& object);

struct EventHandler {
  std::function<void(const json& object)> on_add;
  std::function<void(const json& old_object, const json& new_object)> on_update;
  std::function<void(const json& object)> on_delete;
};

// Maps an object to the values it is indexed under.
using IndexFunc = std::function<std::vector<std::string>(const json& object)>;
// "key=value" for every label.
IndexFunc labelIndex();
// The uid of every owner reference.
IndexFunc ownerIndex();

// "namespace/name", or "name" for cluster-scoped objects.
std::string objectKey(const json& object);

class Informer {
 public:
  Informer(Client& client, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before start().
  void addHandler(EventHandler handler);
  void addIndex(const std::string& name, IndexFunc fn);

  void start();
  void stop();
  // True once the first list is in the cache.
  bool waitForSync(std::chrono::milliseconds timeout);
  bool hasSynced() const { return synced_.load(); }

  std::optional<json> get(const std::string& key) const;
  bool contains(const std::string& key) const;
  std::vector<json> list() const;
  // Calls `visit` on every cached object, in key order, under the cache's lock and without
  // copying: `visit` must be quick and must not call back into this informer.
  void forEach(const std::function<void(const json& object)>& visit) const;
  std::vector<json> byIndex(const std::string& index, const std::string& value) const;
  size_t size() const;
  std::string lastResourceVersion() const;

  struct Stats {
    uint64_t lists = 0;    // full lists (the first, and one per 410 Gone)
    uint64_t watches = 0;  // watches opened
    uint64_t events = 0;   // ADDED, MODIFIED, DELETED applied
    uint64_t bookmarks = 0;
    uint64_t watch_errors = 0;  // watches that broke or returned an error
  };
  Stats stats() const;

 private:
  void run();
  // Lists everything and replaces the cache; returns the list's resourceVersion.
  Result<std::string> relist();
  // Watches from `rv` until the watch ends; updates `rv`. Gone means: list again.
  Status watchFrom(std::string& rv);
  void upsert(const json& object);
  void erase(const json& object);
  void indexLocked(const std::string& key, const json& object, bool add);
  bool sleepUnlessStopped(std::chrono::milliseconds d);

  Client& client_;
  InformerOptions options_;
  std::vector<EventHandler> handlers_;
  std::map<std::string, IndexFunc> index_funcs_;

  mutable std::mutex mu_;
  std::map<std::string, json> items_;
  std::map<std::string, std::map<std::string, std::set<std::string>>>
      indexes_;  // index -> value -> keys
  std::string rv_;
  Stats stats_;

  std::atomic<bool> synced_{false};
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::mutex watch_mu_;
  Watch* current_watch_ = nullptr;
  std::thread thread_;
};

}  // namespace herd::kube
