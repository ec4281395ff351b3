#include "memory_storage.h"

#include <algorithm>

namespace herd::fake {
namespace {

std::string bucketKey(const ObjectKey& key) {
  return key.ns.empty() ? key.name : key.ns + "/" + key.name;
}

std::string describe(const ObjectKey& key) {
  return key.resource + " " + bucketKey(key);
}

}  // namespace

const Json* MemoryStorage::find(const ObjectKey& key) const {
  auto bucket = buckets_.find(key.resource);
  if (bucket == buckets_.end()) return nullptr;
  auto it = bucket->second.find(bucketKey(key));
  return it == bucket->second.end() ? nullptr : &it->second;
}

std::optional<Json> MemoryStorage::get(const ObjectKey& key) const {
  const Json* found = find(key);
  if (found == nullptr) return std::nullopt;
  return *found;
}

void MemoryStorage::list(const std::string& resource, const std::string& ns,
                         const std::string& from, const ObjectVisitor& visit) const {
  auto bucket = buckets_.find(resource);
  if (bucket == buckets_.end()) return;
  std::string prefix = ns.empty() ? "" : ns + "/";
  for (auto it = bucket->second.lower_bound(prefix + from); it != bucket->second.end(); ++it) {
    if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!visit(it->first.substr(prefix.size()), it->second)) return;
  }
}

std::vector<std::string> MemoryStorage::resources() const {
  std::vector<std::string> out;
  for (const auto& [resource, bucket] : buckets_) out.push_back(resource);
  return out;
}

uint64_t MemoryStorage::record(ChangeType type, const ObjectKey& key, Json& object) {
  ++revision_;
  object["metadata"]["resourceVersion"] = std::to_string(revision_);
  history_.push_back({revision_, type, key, object});
  while (history_.size() > history_limit_) {
    compacted_ = history_.front().revision;
    history_.pop_front();
  }
  return revision_;
}

Status MemoryStorage::checkExpected(const ObjectKey& key, const Json& stored,
                                    uint64_t expected) const {
  if (expected == 0) return Status::ok();
  std::string have = stored["metadata"].value("resourceVersion", "");
  if (have == std::to_string(expected)) return Status::ok();
  return Status::conflict(describe(key) + " is at revision " + have + ", not " +
                          std::to_string(expected));
}

Result<uint64_t> MemoryStorage::create(const ObjectKey& key, Json& object) {
  if (find(key) != nullptr) return Status::alreadyExists(describe(key) + " exists");
  return put(ChangeType::kAdded, key, object);
}

Result<uint64_t> MemoryStorage::update(const ObjectKey& key, Json& object, uint64_t expected) {
  const Json* stored = find(key);
  if (stored == nullptr) return Status::notFound(describe(key) + " does not exist");
  HERD_RETURN_IF_ERROR(checkExpected(key, *stored, expected));
  return put(ChangeType::kModified, key, object);
}

uint64_t MemoryStorage::put(ChangeType type, const ObjectKey& key, Json& object) {
  uint64_t revision = record(type, key, object);
  buckets_[key.resource][bucketKey(key)] = object;
  if (listener_) listener_();
  return revision;
}

Result<uint64_t> MemoryStorage::remove(const ObjectKey& key, Json& object, uint64_t expected) {
  const Json* stored = find(key);
  if (stored == nullptr) return Status::notFound(describe(key) + " does not exist");
  HERD_RETURN_IF_ERROR(checkExpected(key, *stored, expected));
  buckets_[key.resource].erase(bucketKey(key));
  uint64_t revision = record(ChangeType::kDeleted, key, object);
  if (listener_) listener_();
  return revision;
}

void MemoryStorage::changesAfter(uint64_t revision, const ChangeVisitor& visit) const {
  auto it = std::upper_bound(history_.begin(), history_.end(), revision,
                             [](uint64_t rv, const Change& c) { return rv < c.revision; });
  for (; it != history_.end(); ++it) {
    if (!visit(*it)) return;
  }
}

void MemoryStorage::compact(uint64_t revision) {
  revision = std::min(revision, revision_);
  while (!history_.empty() && history_.front().revision <= revision) history_.pop_front();
  compacted_ = std::max(compacted_, revision);
  if (listener_) listener_();
}

Status MemoryStorage::replace(std::vector<std::pair<ObjectKey, Json>> objects, uint64_t revision) {
  buckets_.clear();
  history_.clear();
  for (auto& [key, object] : objects) buckets_[key.resource][bucketKey(key)] = std::move(object);
  revision_ = std::max(revision_, revision);
  compacted_ = revision_;
  return Status::ok();
}

}  // namespace herd::fake
