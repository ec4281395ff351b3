// The Storage of the standalone fake and of the tests: objects in ordered maps (one per
// resource, keyed "ns/name" so that they sort as etcd keys do), a revision counter, and the
// latest `history_limit` changes as watch history (older ones are compacted away).
//
// Not thread-safe, as Storage says: the ApiServer's mutex guards it.
#pragma once

#include <deque>
#include <map>

#include "storage.h"

namespace herd::fake {

class MemoryStorage : public Storage {
 public:
  explicit MemoryStorage(size_t history_limit) : history_limit_(history_limit) {}

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
  // Called inside each write, where `guard` is held already.
  void setChangeListener(std::mutex&, std::function<void()> listener) override {
    listener_ = std::move(listener);
  }

  Status replace(std::vector<std::pair<ObjectKey, Json>> objects, uint64_t revision) override;

 private:
  using Bucket = std::map<std::string, Json>;  // "ns/name" or "name" -> object

  const Json* find(const ObjectKey& key) const;
  // Stamps the next revision on `object` and records the change.
  uint64_t record(ChangeType type, const ObjectKey& key, Json& object);
  // record(), then stores `object` and tells the listener.
  uint64_t put(ChangeType type, const ObjectKey& key, Json& object);
  Status checkExpected(const ObjectKey& key, const Json& stored, uint64_t expected) const;

  size_t history_limit_;
  uint64_t revision_ = 1;
  uint64_t compacted_ = 1;
  std::map<std::string, Bucket> buckets_;  // resource -> its objects
  std::deque<Change> history_;
  std::function<void()> listener_;
};

}  // namespace herd::fake
