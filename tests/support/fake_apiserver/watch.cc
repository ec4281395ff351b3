#include "watch.h"

#include <algorithm>
#include <chrono>
#include <deque>

#include "objects.h"
#include "responses.h"
#include "table.h"
#include "wire.h"

namespace herd::fake {

using Clock = std::chrono::steady_clock;

namespace {

// A watch event's object: the object itself, or a one-row Table with its resourceVersion.
Json watchObject(const WatchFilter& filter, const Json& obj) {
  if (!filter.as_table) return forOutput(*filter.type, obj);
  return tableOf(*filter.as_table, *filter.type, {obj},
                 {{"resourceVersion", obj["metadata"].value("resourceVersion", "")}});
}

std::string eventLine(const std::string& type, const Json& object) {
  return dumpCompact(Json{{"type", type}, {"object", object}}) + "\n";
}

}  // namespace

// One watch: replays history after its resourceVersion, then waits for new changes.
class WatchStream : public ResponseStream {
 public:
  WatchStream(Watches* watches, WatchFilter filter, uint64_t cursor, Clock::time_point deadline,
              bool bookmarks, std::deque<std::string> initial, uint64_t epoch,
              std::chrono::milliseconds bookmark_interval)
      : watches_(watches),
        filter_(std::move(filter)),
        cursor_(cursor),
        deadline_(deadline),
        bookmarks_(bookmarks),
        pending_(std::move(initial)),
        epoch_(epoch),
        bookmark_interval_(bookmark_interval),
        start_rv_(cursor) {
    next_bookmark_ = nextBookmarkTime(Clock::now());
  }

  std::optional<std::string> next() override {
    if (!pending_.empty()) {
      std::string out = std::move(pending_.front());
      pending_.pop_front();
      return out;
    }
    if (done_) return std::nullopt;
    ObjectStore& store = watches_->store_;
    std::unique_lock lock(store.mutex());
    while (true) {
      if (watches_->stopping_ || watches_->epoch_ != epoch_) return std::nullopt;
      const Storage& storage = store.storage();
      if (cursor_ < storage.compactedRevision()) {
        done_ = true;
        // The number in parentheses is the oldest resourceVersion a watch can start from.
        ApiError e{410, "Expired",
                   "too old resource version: " + std::to_string(cursor_) + " (" +
                       std::to_string(storage.compactedRevision()) + ")"};
        return eventLine("ERROR", statusJson(e));
      }
      std::optional<std::string> line;
      storage.changesAfter(cursor_, [&](const Change& change) {
        cursor_ = change.revision;
        if (!matches(change)) return true;
        line = eventLine(watchEventType(change.type), watchObject(filter_, change.object));
        return false;
      });
      if (line) return line;
      auto now = Clock::now();
      if (now >= deadline_) return std::nullopt;
      if (next_bookmark_ && now >= *next_bookmark_) {
        next_bookmark_ = nextBookmarkTime(now);
        // Only a bookmark that moves the client forward is sent.
        if (storage.revision() > start_rv_) {
          Json meta = {{"resourceVersion", std::to_string(storage.revision())},
                       {"creationTimestamp", nullptr}};
          Json obj = {{"kind", filter_.type->kind},
                      {"apiVersion", filter_.type->apiVersion()},
                      {"metadata", meta}};
          return eventLine("BOOKMARK", presentable(*filter_.type, obj));
        }
        continue;
      }
      auto wake = deadline_;
      if (next_bookmark_) wake = std::min(wake, *next_bookmark_);
      store.changed().wait_until(lock, wake);
    }
  }

 private:
  // As kube-apiserver's watch cache schedules bookmarks: every bookmark interval, and once 2 s
  // before the watch's deadline (so that a client about to be cut off learns the latest
  // resourceVersion); none once that moment has passed.
  std::optional<Clock::time_point> nextBookmarkTime(Clock::time_point now) const {
    if (!bookmarks_) return std::nullopt;
    auto at = std::min(now + bookmark_interval_, deadline_ - std::chrono::seconds(2));
    if (at <= now) return std::nullopt;
    return at;
  }

  bool matches(const Change& e) const {
    if (e.key.resource != filter_.type->storageKey()) return false;
    if (!filter_.ns.empty() && e.key.ns != filter_.ns) return false;
    if (!matchesRequirements(e.object["metadata"].value("labels", Json::object()), filter_.labels))
      return false;
    return matchesFields(e.object, filter_.fields);
  }

  Watches* watches_;
  WatchFilter filter_;
  uint64_t cursor_;
  Clock::time_point deadline_;
  bool bookmarks_;
  std::deque<std::string> pending_;
  uint64_t epoch_;
  std::chrono::milliseconds bookmark_interval_;
  uint64_t start_rv_;
  std::optional<Clock::time_point> next_bookmark_;
  bool done_ = false;
};

HttpResponse Watches::serve(const HttpRequest& req, const Target& t, HttpResponse res) {
  if (auto e = checkSendInitialEvents(req, true)) return errorResponse(std::move(res), *e);
  WatchFilter filter{t.type, t.ns, {}, {}, std::nullopt};
  if (req.header("accept").find("as=Table") != std::string::npos) filter.as_table = req;
  std::string error;
  if (!parseLabelSelector(req.param("labelSelector").value_or(""), filter.labels, error)) {
    return errorResponse(std::move(res), badRequest("unable to parse requirement: " + error));
  }
  if (!parseFieldSelector(*t.type, req.param("fieldSelector").value_or(""), filter.fields, error)) {
    return errorResponse(std::move(res), badRequest(error));
  }
  if (!t.name.empty()) filter.fields.push_back({"metadata.name", "=", {t.name}});
  std::chrono::milliseconds timeout = options_.max_watch;
  if (auto s = req.param("timeoutSeconds"); s && !s->empty()) {
    timeout = std::chrono::seconds(std::strtol(s->c_str(), nullptr, 10));
  }
  bool bookmarks = req.param("allowWatchBookmarks").value_or("") == "true";
  std::string rv_param = req.param("resourceVersion").value_or("");
  std::deque<std::string> initial;
  uint64_t cursor = 0;
  uint64_t epoch = 0;
  {
    std::lock_guard lock(store_.mutex());
    const Storage& storage = store_.storage();
    epoch = epoch_;
    // sendInitialEvents=true (WatchList) starts with the current state whatever the
    // resourceVersion; =false never does.
    std::string send_initial = req.param("sendInitialEvents").value_or("");
    if (send_initial == "true" || (send_initial.empty() && (rv_param.empty() || rv_param == "0"))) {
      storage.list(t.type->storageKey(), t.ns, "", [&](const std::string&, const Json& obj) {
        if (matchesSelectors(obj, filter.labels, filter.fields))
          initial.push_back(eventLine("ADDED", watchObject(filter, obj)));
        return true;
      });
      cursor = storage.revision();
      if (send_initial == "true" && bookmarks) {
        // What the recording's NOTE describes for an etcd with progress notifications: the
        // end of the initial events is a BOOKMARK annotated k8s.io/initial-events-end.
        Json meta = {{"resourceVersion", std::to_string(storage.revision())},
                     {"creationTimestamp", nullptr},
                     {"annotations", {{"k8s.io/initial-events-end", "true"}}}};
        Json obj = {
            {"kind", t.type->kind}, {"apiVersion", t.type->apiVersion()}, {"metadata", meta}};
        initial.push_back(eventLine("BOOKMARK", presentable(*t.type, obj)));
      }
    } else if (send_initial == "false" && rv_param.empty()) {
      cursor = storage.revision();
    } else {
      char* end = nullptr;
      cursor = std::strtoull(rv_param.c_str(), &end, 10);
      if (*end != '\0') {
        return errorResponse(std::move(res),
                             badRequest("invalid resource version \"" + rv_param + "\""));
      }
    }
  }
  res.status = 200;
  res.setHeader("Content-Type", "application/json");
  res.stream = std::make_shared<WatchStream>(this, std::move(filter), cursor,
                                             Clock::now() + timeout, bookmarks, std::move(initial),
                                             epoch, options_.bookmark_interval);
  return res;
}

}  // namespace herd::fake
