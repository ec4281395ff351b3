#include "etcd_storage.h"

#include <algorithm>
#include <set>

namespace herd::fake {
namespace {

// The kinds that kube-apiserver keeps under another path than their plural (its storage
// registrations: ResourcePrefix of each REST storage).
const std::map<std::string, std::string>& renamedPaths() {
  static const std::map<std::string, std::string> paths = {
      {"/services", "services/specs"},
      {"/endpoints", "services/endpoints"},
      {"/nodes", "minions"},
      {"/replicationcontrollers", "controllers"},
      {"networking.k8s.io/ingresses", "ingress"},
  };
  return paths;
}

// The groups built into kube-apiserver v1.32, whose kinds live at <prefix>/<plural> without
// the group; the other groups (custom resources, and the two below) are group-first.
const std::set<std::string>& builtinGroups() {
  static const std::set<std::string> groups = {
      "",
      "admissionregistration.k8s.io",
      "apps",
      "authentication.k8s.io",
      "authorization.k8s.io",
      "autoscaling",
      "batch",
      "certificates.k8s.io",
      "coordination.k8s.io",
      "discovery.k8s.io",
      "events.k8s.io",
      "flowcontrol.apiserver.k8s.io",
      "internal.apiserver.k8s.io",
      "networking.k8s.io",
      "node.k8s.io",
      "policy",
      "rbac.authorization.k8s.io",
      "resource.k8s.io",
      "scheduling.k8s.io",
      "storage.k8s.io",
      "storagemigration.k8s.io",
  };
  return groups;
}

// Served by kube-apiserver's extension and aggregation servers, which keep their group in the
// path.
bool groupFirst(const std::string& group) {
  return group == "apiextensions.k8s.io" || group == "apiregistration.k8s.io" ||
         !builtinGroups().count(group);
}

std::string bucketKey(const ObjectKey& key) {
  return key.ns.empty() ? key.name : key.ns + "/" + key.name;
}

std::string describe(const ObjectKey& key) {
  return key.resource + " " + bucketKey(key);
}

std::string groupOf(const Json& object) {
  std::string api_version = object.is_object() ? object.value("apiVersion", "") : "";
  size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

std::vector<std::string> splitKey(const std::string& path) {
  std::vector<std::string> out(1);
  for (char c : path) {
    if (c == '/') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

// What etcd keeps: the object without its resourceVersion, which is the key's mod_revision.
std::string storedValue(const Json& object) {
  Json copy = object;
  if (copy.contains("metadata") && copy["metadata"].is_object())
    copy["metadata"].erase("resourceVersion");
  return copy.dump();
}

etcd::Compare compareKey(const std::string& key, etcd::Compare::Target target, etcd::Compare::Op op,
                         int64_t number) {
  etcd::Compare c;
  c.key = key;
  c.target = target;
  c.op = op;
  c.number = number;
  return c;
}

// The key's mod_revision is `expected`; for 0, the key exists.
etcd::Compare readAt(const std::string& key, uint64_t expected) {
  if (expected == 0) {
    return compareKey(key, etcd::Compare::Target::kVersion, etcd::Compare::Op::kGreater, 0);
  }
  return compareKey(key, etcd::Compare::Target::kModRevision, etcd::Compare::Op::kEqual,
                    static_cast<int64_t>(expected));
}

etcd::RangeRequest rangeOf(const std::string& key) {
  etcd::RangeRequest r;
  r.key = key;
  return r;
}

etcd::PutRequest putOf(const std::string& key, std::string value) {
  etcd::PutRequest p;
  p.key = key;
  p.value = std::move(value);
  return p;
}

// Every key in etcd, for the watch (see the header: it must see every revision).
constexpr char kWholeKeyspace[] = {'\0'};

// How long the reader waits before reading etcd again after it failed.
constexpr auto kRelistBackoff = std::chrono::seconds(1);
// How long one wait of the reader on the watch lasts, so that it notices stop().
constexpr auto kWatchPoll = std::chrono::milliseconds(500);

}  // namespace

std::string registryPath(const std::string& storage_key) {
  if (auto it = renamedPaths().find(storage_key); it != renamedPaths().end()) return it->second;
  size_t slash = storage_key.find('/');
  std::string group = storage_key.substr(0, slash);
  std::string resource = slash == std::string::npos ? storage_key : storage_key.substr(slash + 1);
  return groupFirst(group) ? group + "/" + resource : resource;
}

EtcdStorage::EtcdStorage(EtcdStorageConfig config) : config_(std::move(config)) {
  std::string& prefix = config_.prefix;
  if (prefix.empty() || prefix.front() != '/') prefix.insert(prefix.begin(), '/');
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
}

Result<std::unique_ptr<EtcdStorage>> EtcdStorage::open(EtcdStorageConfig config) {
  if (config.client.endpoints.empty()) return Status::invalid("no etcd servers to keep objects in");
  auto storage = std::unique_ptr<EtcdStorage>(new EtcdStorage(std::move(config)));
  HERD_ASSIGN_OR_RETURN(storage->client_, etcd::Client::create(storage->config_.client));
  etcd::ClientConfig health = storage->config_.client;
  health.timeout = storage->config_.healthcheck_timeout;
  HERD_ASSIGN_OR_RETURN(storage->health_client_, etcd::Client::create(health));
  if (Status s = storage->relist(); !s.isOk()) {
    std::lock_guard lock(storage->feed_mu_);
    storage->feed_error_ = s;
  }
  return storage;
}

EtcdStorage::~EtcdStorage() {
  {
    std::lock_guard lock(feed_mu_);
    stopping_ = true;
    if (watch_) watch_->cancel();
  }
  feed_cv_.notify_all();
  if (reader_.joinable()) reader_.join();
  if (applier_.joinable()) applier_.join();
}

void EtcdStorage::setChangeListener(std::mutex& guard, std::function<void()> listener) {
  guard_ = &guard;
  listener_ = std::move(listener);
  // Nothing else uses the storage yet: take what open() read before the threads start.
  drainLocked();
  reader_ = std::thread([this] { readLoop(); });
  applier_ = std::thread([this] { applyLoop(); });
}

std::string EtcdStorage::keyOf(const ObjectKey& key) const {
  return config_.prefix + "/" + registryPath(key.resource) + "/" + bucketKey(key);
}

std::optional<ObjectKey> EtcdStorage::decodeKey(const std::string& etcd_key,
                                                const Json& object) const {
  const std::string root = config_.prefix + "/";
  if (etcd_key.compare(0, root.size(), root) != 0) return std::nullopt;
  std::vector<std::string> parts = splitKey(etcd_key.substr(root.size()));
  // The object's apiVersion tells its group; without one (a deletion etcd kept no value of),
  // a dotted first segment is a group.
  std::string group = object.is_object() && object.contains("apiVersion")
                          ? groupOf(object)
                          : (parts[0].find('.') != std::string::npos ? parts[0] : "");
  size_t at = 0;
  std::string resource;
  if (groupFirst(group)) {
    if (parts.size() < 3 || parts[0] != group) return std::nullopt;
    resource = parts[1];
    at = 2;
  } else {
    for (const auto& [storage_key, path] : renamedPaths()) {
      std::vector<std::string> renamed = splitKey(path);
      if (parts.size() > renamed.size() &&
          std::equal(renamed.begin(), renamed.end(), parts.begin())) {
        resource = storage_key.substr(storage_key.find('/') + 1);
        at = renamed.size();
        break;
      }
    }
    if (resource.empty()) {
      resource = parts[0];
      at = 1;
    }
  }
  size_t left = parts.size() - at;
  if (left == 1) return ObjectKey{group + "/" + resource, "", parts[at]};
  if (left == 2) return ObjectKey{group + "/" + resource, parts[at], parts[at + 1]};
  return std::nullopt;
}

Status EtcdStorage::relist() {
  etcd::RangeRequest all;
  all.key = config_.prefix + "/";
  all.range_end = etcd::prefixEnd(all.key);
  HERD_ASSIGN_OR_RETURN(etcd::RangeResponse read, client_->range(all));
  etcd::WatchRequest follow;
  follow.key = std::string(kWholeKeyspace, 1);
  follow.range_end = std::string(kWholeKeyspace, 1);
  follow.start_revision = read.revision + 1;
  follow.prev_kv = true;
  HERD_ASSIGN_OR_RETURN(std::unique_ptr<etcd::Watch> watch, client_->watch(follow));
  {
    std::lock_guard lock(feed_mu_);
    if (stopping_) watch->cancel();
    pending_events_.clear();
    pending_snapshot_ = Snapshot{read.revision, std::move(read.kvs)};
    fed_revision_ = std::max(fed_revision_, read.revision);
    feed_error_ = Status::ok();
    watch_ = std::move(watch);
  }
  feed_cv_.notify_all();
  return Status::ok();
}

void EtcdStorage::readLoop() {
  while (true) {
    etcd::Watch* watch = nullptr;
    {
      std::lock_guard lock(feed_mu_);
      if (stopping_) return;
      watch = watch_.get();
    }
    if (watch == nullptr) {
      if (Status s = relist(); !s.isOk()) {
        std::unique_lock lock(feed_mu_);
        feed_error_ = s;
        feed_cv_.wait_for(lock, kRelistBackoff, [&] { return stopping_; });
      }
      continue;
    }
    Result<std::vector<etcd::WatchEvent>> events = watch->next(kWatchPoll);
    if (!events.isOk()) {
      // Gone (compacted past while away) or etcd gone for the reconnect budget: the cache
      // can no longer follow; read everything again.
      std::unique_ptr<etcd::Watch> ended;
      {
        std::lock_guard lock(feed_mu_);
        feed_error_ = events.status();
        ended = std::move(watch_);
      }
      continue;
    }
    if (events->empty()) continue;
    {
      std::lock_guard lock(feed_mu_);
      for (auto& e : *events) {
        fed_revision_ = std::max(fed_revision_, e.kv.mod_revision);
        pending_events_.push_back(std::move(e));
      }
    }
    feed_cv_.notify_all();
  }
}

void EtcdStorage::applyLoop() {
  while (true) {
    {
      std::unique_lock lock(feed_mu_);
      feed_cv_.wait(lock, [&] {
        return stopping_ || pending_snapshot_.has_value() || !pending_events_.empty();
      });
      if (stopping_) return;
    }
    std::lock_guard guard(*guard_);
    if (drainLocked() && listener_) listener_();
  }
}

bool EtcdStorage::drainLocked() {
  std::optional<Snapshot> snapshot;
  std::vector<etcd::WatchEvent> events;
  {
    std::lock_guard lock(feed_mu_);
    snapshot.swap(pending_snapshot_);
    events.swap(pending_events_);
  }
  if (!snapshot && events.empty()) return false;
  if (snapshot) installLocked(*snapshot);
  for (const auto& e : events) applyLocked(e);
  return true;
}

void EtcdStorage::installLocked(const Snapshot& snapshot) {
  buckets_.clear();
  history_.clear();
  deleted_.clear();
  for (const auto& kv : snapshot.kvs) {
    Json object = Json::parse(kv.value, nullptr, false);
    if (!object.is_object()) continue;  // not written by a fake (protobuf, a lease range)
    std::optional<ObjectKey> key = decodeKey(kv.key, object);
    if (!key) continue;
    object["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
    buckets_[key->resource][bucketKey(*key)] = std::move(object);
  }
  revision_ = static_cast<uint64_t>(snapshot.revision);
  compacted_ = revision_;
  loaded_ = true;
}

void EtcdStorage::applyLocked(const etcd::WatchEvent& event) {
  const int64_t revision = event.kv.mod_revision;
  if (revision <= static_cast<int64_t>(revision_)) return;  // the snapshot has it already
  revision_ = static_cast<uint64_t>(revision);
  const bool put = event.type == etcd::WatchEvent::Type::kPut;
  Json object;
  if (put) {
    object = Json::parse(event.kv.value, nullptr, false);
  } else if (event.prev_kv) {
    object = Json::parse(event.prev_kv->value, nullptr, false);
  }
  std::optional<ObjectKey> key = decodeKey(event.kv.key, object);
  auto own = deleted_.find(revision);
  if (!key || (put && !object.is_object())) {
    if (own != deleted_.end()) deleted_.erase(own);
    return;
  }
  Bucket& bucket = buckets_[key->resource];
  ChangeType type = ChangeType::kDeleted;
  if (put) {
    type = event.kv.create_revision == revision ? ChangeType::kAdded : ChangeType::kModified;
    object["metadata"]["resourceVersion"] = std::to_string(revision);
    bucket[bucketKey(*key)] = object;
  } else {
    if (own != deleted_.end()) {
      object = std::move(own->second);
      deleted_.erase(own);
    }
    if (!object.is_object()) object = {{"metadata", {{"name", key->name}}}};
    object["metadata"]["resourceVersion"] = std::to_string(revision);
    bucket.erase(bucketKey(*key));
  }
  recordLocked({static_cast<uint64_t>(revision), type, std::move(*key), std::move(object)});
}

void EtcdStorage::recordLocked(Change change) {
  history_.push_back(std::move(change));
  while (history_.size() > config_.history_limit) {
    compacted_ = history_.front().revision;
    history_.pop_front();
  }
}

void EtcdStorage::catchUpLocked(int64_t revision) {
  {
    std::unique_lock lock(feed_mu_);
    feed_cv_.wait_for(lock, config_.client.timeout,
                      [&] { return fed_revision_ >= revision || stopping_ || !watch_; });
  }
  if (drainLocked() && listener_) listener_();
}

Status EtcdStorage::checkLoadedLocked() const {
  if (loaded_) return Status::ok();
  std::lock_guard lock(feed_mu_);
  return Status::unavailable("the objects in etcd have not been read yet: " +
                             feed_error_.message());
}

std::optional<Json> EtcdStorage::get(const ObjectKey& key) const {
  auto bucket = buckets_.find(key.resource);
  if (bucket == buckets_.end()) return std::nullopt;
  auto it = bucket->second.find(bucketKey(key));
  if (it == bucket->second.end()) return std::nullopt;
  return it->second;
}

void EtcdStorage::list(const std::string& resource, const std::string& ns, const std::string& from,
                       const ObjectVisitor& visit) const {
  auto bucket = buckets_.find(resource);
  if (bucket == buckets_.end()) return;
  std::string prefix = ns.empty() ? "" : ns + "/";
  for (auto it = bucket->second.lower_bound(prefix + from); it != bucket->second.end(); ++it) {
    if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
    if (!visit(it->first.substr(prefix.size()), it->second)) return;
  }
}

std::vector<std::string> EtcdStorage::resources() const {
  std::vector<std::string> out;
  for (const auto& [resource, bucket] : buckets_) out.push_back(resource);
  return out;
}

Status EtcdStorage::failedCompare(const ObjectKey& key, const etcd::TxnResponse& txn,
                                  uint64_t expected) const {
  const etcd::RangeResponse* read =
      txn.responses.empty() ? nullptr : std::get_if<etcd::RangeResponse>(&txn.responses.front());
  if (read == nullptr || read->kvs.empty()) {
    return Status::notFound(describe(key) + " does not exist");
  }
  return Status::conflict(describe(key) + " is at revision " +
                          std::to_string(read->kvs.front().mod_revision) + ", not " +
                          std::to_string(expected));
}

Result<uint64_t> EtcdStorage::create(const ObjectKey& key, Json& object) {
  HERD_RETURN_IF_ERROR(checkLoadedLocked());
  const std::string k = keyOf(key);
  etcd::TxnRequest txn;
  txn.compare.push_back(
      compareKey(k, etcd::Compare::Target::kCreateRevision, etcd::Compare::Op::kEqual, 0));
  txn.success.push_back(putOf(k, storedValue(object)));
  HERD_ASSIGN_OR_RETURN(etcd::TxnResponse done, client_->txn(txn));
  // Either way the cache is brought up to etcd's revision: a caller that reads again sees
  // the object that is in the way.
  catchUpLocked(done.revision);
  if (!done.succeeded) return Status::alreadyExists(describe(key) + " exists");
  object["metadata"]["resourceVersion"] = std::to_string(done.revision);
  return static_cast<uint64_t>(done.revision);
}

Result<uint64_t> EtcdStorage::update(const ObjectKey& key, Json& object, uint64_t expected) {
  HERD_RETURN_IF_ERROR(checkLoadedLocked());
  const std::string k = keyOf(key);
  etcd::TxnRequest txn;
  txn.compare.push_back(readAt(k, expected));
  txn.success.push_back(putOf(k, storedValue(object)));
  txn.failure.push_back(rangeOf(k));
  HERD_ASSIGN_OR_RETURN(etcd::TxnResponse done, client_->txn(txn));
  catchUpLocked(done.revision);
  if (!done.succeeded) return failedCompare(key, done, expected);
  object["metadata"]["resourceVersion"] = std::to_string(done.revision);
  return static_cast<uint64_t>(done.revision);
}

Result<uint64_t> EtcdStorage::remove(const ObjectKey& key, Json& object, uint64_t expected) {
  HERD_RETURN_IF_ERROR(checkLoadedLocked());
  const std::string k = keyOf(key);
  etcd::TxnRequest txn;
  txn.compare.push_back(readAt(k, expected));
  etcd::DeleteRequest erase;
  erase.key = k;
  txn.success.push_back(erase);
  txn.failure.push_back(rangeOf(k));
  HERD_ASSIGN_OR_RETURN(etcd::TxnResponse done, client_->txn(txn));
  if (done.succeeded) {
    object["metadata"]["resourceVersion"] = std::to_string(done.revision);
    deleted_[done.revision] = object;
  }
  catchUpLocked(done.revision);
  if (!done.succeeded) return failedCompare(key, done, expected);
  return static_cast<uint64_t>(done.revision);
}

void EtcdStorage::changesAfter(uint64_t revision, const ChangeVisitor& visit) const {
  auto it = std::upper_bound(history_.begin(), history_.end(), revision,
                             [](uint64_t rv, const Change& c) { return rv < c.revision; });
  for (; it != history_.end(); ++it) {
    if (!visit(*it)) return;
  }
}

void EtcdStorage::compact(uint64_t revision) {
  revision = std::min(revision, revision_);
  if (revision == 0) return;
  // etcd refuses a revision at or below its last compaction: nothing left to do then.
  (void)client_->compact(static_cast<int64_t>(revision));
  while (!history_.empty() && history_.front().revision <= revision) history_.pop_front();
  compacted_ = std::max(compacted_, revision);
  if (listener_) listener_();
}

Status EtcdStorage::replace(std::vector<std::pair<ObjectKey, Json>>, uint64_t) {
  return Status::failedPrecondition("the objects live in etcd under " + config_.prefix +
                                    ": there is no snapshot to restore them from");
}

Status EtcdStorage::sync() {
  // Any read answers with etcd's current revision; this one is kube-apiserver's health key.
  etcd::RangeRequest probe;
  probe.key = config_.prefix + "/health";
  probe.count_only = true;
  HERD_ASSIGN_OR_RETURN(etcd::RangeResponse now, client_->range(probe));
  {
    std::unique_lock lock(feed_mu_);
    bool caught_up = feed_cv_.wait_for(lock, config_.client.timeout, [&] {
      return fed_revision_ >= now.revision || stopping_ || !watch_;
    });
    if (!watch_ || !caught_up) {
      return Status::unavailable("the watch on etcd has not reached revision " +
                                 std::to_string(now.revision) +
                                 (feed_error_.isOk() ? "" : ": " + feed_error_.message()));
    }
  }
  std::lock_guard guard(*guard_);
  if (drainLocked() && listener_) listener_();
  return checkLoadedLocked();
}

Status EtcdStorage::health() const {
  etcd::RangeRequest probe;
  probe.key = config_.prefix + "/health";
  Result<etcd::RangeResponse> r = health_client_->range(probe);
  if (!r.isOk()) return r.status().withContext("error getting data from etcd");
  return Status::ok();
}

}  // namespace herd::fake
