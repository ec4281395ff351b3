#include "kube/informer.h"

#include <random>

#include "common/log.h"
#include "kube/api_error.h"

namespace herd::kube {
namespace {

std::string resourceVersionOf(const json& object) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return {};
  return m->value("resourceVersion", "");
}

}  // namespace

std::string objectKey(const json& object) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return {};
  auto field = [&](const char* key) {
    auto it = m->find(key);
    return it != m->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string ns = field("namespace");
  std::string name = field("name");
  return ns.empty() ? name : ns + "/" + name;
}

IndexFunc labelIndex() {
  return [](const json& o) {
    std::vector<std::string> out;
    if (o.contains("metadata") && o["metadata"].contains("labels") &&
        o["metadata"]["labels"].is_object()) {
      for (const auto& [k, v] : o["metadata"]["labels"].items()) {
        if (v.is_string()) out.push_back(k + "=" + v.get<std::string>());
      }
    }
    return out;
  };
}

IndexFunc ownerIndex() {
  return [](const json& o) {
    std::vector<std::string> out;
    if (o.contains("metadata") && o["metadata"].contains("ownerReferences")) {
      for (const auto& ref : o["metadata"]["ownerReferences"]) {
        if (ref.is_object() && ref.contains("uid")) out.push_back(ref["uid"].get<std::string>());
      }
    }
    return out;
  };
}

void stripManagedFields(json& object) {
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
    m->erase("managedFields");
  }
}

void keepOnlyMetadata(json& object) {
  static constexpr const char* kKept[] = {"name",       "namespace", "uid",
                                          "resourceVersion", "generation", "labels",
                                          "deletionTimestamp"};
  json kept = json::object();
  if (auto m = object.find("metadata"); m != object.end() && m->is_object()) {
    for (const char* field : kKept) {
      if (auto f = m->find(field); f != m->end()) kept[field] = std::move(*f);
    }
  }
  json out = json::object();
  for (const char* field : {"apiVersion", "kind"}) {
    if (auto f = object.find(field); f != object.end()) out[field] = std::move(*f);
  }
  out["metadata"] = std::move(kept);
  object = std::move(out);
}

Informer::Informer(Client& client, InformerOptions options)
    : client_(client), options_(std::move(options)) {}

Informer::~Informer() {
  stop();
}

void Informer::addHandler(EventHandler handler) {
  handlers_.push_back(std::move(handler));
}

void Informer::addIndex(const std::string& name, IndexFunc fn) {
  index_funcs_[name] = std::move(fn);
}

void Informer::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Informer::stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    if (current_watch_) current_watch_->stop();
  }
  if (thread_.joinable()) thread_.join();
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!synced_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool Informer::sleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(stop_mu_);
  return !stop_cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void Informer::run() {
  auto delay = options_.backoff_initial;
  std::string rv;
  bool need_list = true;
  while (!stopping_) {
    if (need_list) {
      auto listed = relist();
      if (!listed) {
        log::root().warn("informer list failed", {{"resource", options_.resource.resource},
                                                  {"error", listed.status().message()}});
        if (!sleepUnlessStopped(delay)) return;
        delay = std::min(delay * 2, options_.backoff_max);
        continue;
      }
      rv = *listed;
      need_list = false;
      synced_ = true;
      delay = options_.backoff_initial;
    }
    Status s = watchFrom(rv);
    if (stopping_) return;
    if (s.code() == Code::kGone) {
      need_list = true;  // our resourceVersion was compacted away: start over
      continue;
    }
    if (!s) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        stats_.watch_errors++;
      }
      log::root().debug("informer watch ended",
                        {{"resource", options_.resource.resource}, {"error", s.message()}});
      if (!sleepUnlessStopped(delay)) return;
      delay = std::min(delay * 2, options_.backoff_max);
    } else {
      delay = options_.backoff_initial;
    }
  }
}

Result<std::string> Informer::relist() {
  ListOptions lo;
  lo.label_selector = options_.label_selector;
  lo.field_selector = options_.field_selector;
  lo.limit = options_.page_size;
  HERD_ASSIGN_OR_RETURN(json list, client_.listAll(options_.resource, options_.ns, lo));
  std::string rv = list["metadata"].value("resourceVersion", "");
  std::map<std::string, json> fresh;
  for (auto& item : list["items"]) {
    // List items carry no kind; fill it in so cached objects look like watched ones.
    if (!item.contains("kind") && !options_.resource.kind.empty())
      item["kind"] = options_.resource.kind;
    if (!item.contains("apiVersion")) item["apiVersion"] = options_.resource.apiVersion();
    if (options_.transform) options_.transform(item);
    std::string key =
        objectKey(item);  // before the move: json's operator= takes its argument by value
    fresh[key] = std::move(item);
  }
  // Swap the whole cache at once, so that readers never see half the old list and half the
  // new; handlers run afterwards, outside the lock.
  std::vector<json> added, deleted;
  std::vector<std::pair<json, json>> updated;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.lists++;
    for (const auto& [key, old] : items_) {
      auto it = fresh.find(key);
      if (it == fresh.end()) {
        deleted.push_back(old);
      } else if (resourceVersionOf(old) != resourceVersionOf(it->second)) {
        updated.emplace_back(old, it->second);
      }
    }
    for (const auto& [key, obj] : fresh) {
      if (!items_.count(key)) added.push_back(obj);
    }
    items_ = std::move(fresh);
    indexes_.clear();
    for (const auto& [key, obj] : items_) indexLocked(key, obj, true);
    rv_ = rv;
  }
  for (const auto& h : handlers_) {
    for (const auto& d : deleted) {
      if (h.on_delete) h.on_delete(d);
    }
    for (const auto& [old, now] : updated) {
      if (h.on_update) h.on_update(old, now);
    }
    for (const auto& a : added) {
      if (h.on_add) h.on_add(a);
    }
  }
  return rv;
}

Status Informer::watchFrom(std::string& rv) {
  WatchOptions wo;
  wo.label_selector = options_.label_selector;
  wo.field_selector = options_.field_selector;
  wo.resource_version = rv;
  wo.allow_bookmarks = true;
  static thread_local std::mt19937 rng{std::random_device{}()};
  auto min = options_.watch_timeout_min.count();
  wo.timeout = std::chrono::seconds(
      min + std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(min - 1, 0))(rng));
  auto opened = client_.watch(options_.resource, options_.ns, wo);
  if (!opened) return opened.status();
  std::unique_ptr<Watch> w = std::move(*opened);
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    if (stopping_) return Status::ok();
    current_watch_ = w.get();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.watches++;
  }
  auto clear = [&] {
    std::lock_guard<std::mutex> lock(watch_mu_);
    current_watch_ = nullptr;
  };
  for (;;) {
    auto ev = w->next(options_.idle_timeout);
    if (!ev) {
      clear();
      return ev.status();
    }
    if (!*ev) {
      clear();
      return Status::ok();  // the server ended the watch: resume from rv
    }
    WatchEvent& e = **ev;
    if (e.type == WatchEvent::Type::kError) {
      clear();
      // The object is a Status: map it like any other API error (410 Expired becomes Gone).
      HttpResponse as_response;
      as_response.status = e.object.value("code", 500);
      as_response.body = e.object.dump();
      return toStatus(parseApiError(as_response));
    }
    std::string new_rv = resourceVersionOf(e.object);
    if (e.type == WatchEvent::Type::kBookmark) {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.bookmarks++;
    } else if (e.type == WatchEvent::Type::kDeleted) {
      if (options_.transform) options_.transform(e.object);
      erase(e.object);
    } else {
      if (options_.transform) options_.transform(e.object);
      upsert(e.object);
    }
    if (!new_rv.empty()) {
      rv = new_rv;
      std::lock_guard<std::mutex> lock(mu_);
      rv_ = new_rv;
      if (e.type != WatchEvent::Type::kBookmark) stats_.events++;
    }
  }
}

void Informer::indexLocked(const std::string& key, const json& object, bool add) {
  for (const auto& [name, fn] : index_funcs_) {
    for (const auto& value : fn(object)) {
      auto& keys = indexes_[name][value];
      if (add) {
        keys.insert(key);
      } else {
        keys.erase(key);
        if (keys.empty()) indexes_[name].erase(value);
      }
    }
  }
}

void Informer::upsert(const json& object) {
  std::string key = objectKey(object);
  std::optional<json> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(key);
    if (it != items_.end()) {
      if (resourceVersionOf(it->second) == resourceVersionOf(object))
        return;  // nothing new (relist)
      old = it->second;
      indexLocked(key, it->second, false);
    }
    items_[key] = object;
    indexLocked(key, object, true);
  }
  for (const auto& h : handlers_) {
    if (old && h.on_update) h.on_update(*old, object);
    if (!old && h.on_add) h.on_add(object);
  }
}

void Informer::erase(const json& object) {
  std::string key = objectKey(object);
  json last = object;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(key);
    if (it == items_.end()) return;
    indexLocked(key, it->second, false);
    items_.erase(it);
  }
  for (const auto& h : handlers_) {
    if (h.on_delete) h.on_delete(last);
  }
}

std::optional<json> Informer::get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = items_.find(key);
  if (it == items_.end()) return std::nullopt;
  return it->second;
}

bool Informer::contains(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_.count(key) > 0;
}

std::vector<json> Informer::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<json> out;
  out.reserve(items_.size());
  for (const auto& [k, v] : items_) out.push_back(v);
  return out;
}

void Informer::forEach(const std::function<void(const json& object)>& visit) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [k, v] : items_) visit(v);
}

std::vector<json> Informer::byIndex(const std::string& index, const std::string& value) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<json> out;
  auto idx = indexes_.find(index);
  if (idx == indexes_.end()) return out;
  auto keys = idx->second.find(value);
  if (keys == idx->second.end()) return out;
  for (const auto& k : keys->second) out.push_back(items_.at(k));
  return out;
}

size_t Informer::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return items_.size();
}

std::string Informer::lastResourceVersion() const {
  std::lock_guard<std::mutex> lock(mu_);
  return rv_;
}

Informer::Stats Informer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace herd::kube
