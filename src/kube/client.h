// A Kubernetes API client for any resource, with client-go's behaviour: typed errors from
// Status bodies, retries with backoff and jitter for what is retriable (429 with Retry-After,
// 5xx, broken connections on reads), list paging, every patch type, deletion with propagation
// and preconditions, watch, and kind-to-resource mapping through cached discovery.
//
// Objects are nlohmann::json. A Client is thread-safe and shares one Transport (a keep-alive
// pool) among its callers. withContext() gives a view of the same client (same transport,
// discovery cache and request count) whose every wait is bounded by a caller's deadline and
// ends on its cancellation (context.h); a plain client has neither.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/status.h"
#include "kube/config.h"
#include "kube/context.h"
#include "kube/transport.h"

namespace herd::kube {

using nlohmann::json;

// Which resource: group ("" for core), version, plural resource name, and scope.
struct ResourceRef {
  std::string group;
  std::string version;
  std::string resource;
  bool namespaced = true;
  std::string kind;  // informational; filled by discovery
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
};

// Common resources.
ResourceRef namespacesResource();
ResourceRef configMapsResource();
ResourceRef secretsResource();
ResourceRef leasesResource();
ResourceRef crdsResource();

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;
  std::string continue_token;
  std::string resource_version;
  std::string resource_version_match;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  std::string resource_version;
  bool allow_bookmarks = true;
  // Asks the server to end the watch after this long (it always does eventually).
  std::optional<std::chrono::seconds> timeout;
};

struct DeleteOptions {
  std::string propagation_policy;  // Background, Foreground, Orphan
  std::string precondition_uid;
  std::string precondition_resource_version;
  std::optional<int64_t> grace_period_seconds;
};

enum class PatchType { kMerge, kJson, kStrategicMerge, kApply };

struct PatchOptions {
  std::string field_manager;  // required for kApply
  bool force = false;         // kApply: take ownership of conflicting fields
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  json object;
};

// One open watch. next() blocks for the next event; nullopt when the server ended the watch
// cleanly. stop() may be called from any thread. Opened through a client with a Context, the
// watch ends when it is cancelled (next() fails with Unavailable "cancelled"), and next()
// waits no later than the deadline (then fails with DeadlineExceeded).
class Watch {
 public:
  explicit Watch(std::unique_ptr<ResponseStream> stream, Context context = {});
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  Result<std::optional<WatchEvent>> next(std::chrono::milliseconds idle_timeout);
  void stop() { stream_->cancel(); }

 private:
  std::unique_ptr<ResponseStream> stream_;
  Context context_;
  uint64_t on_cancel_ = 0;  // the token's callback that stops the stream
};

// Parses one line of a watch stream: {"type":..., "object":...}.
Result<WatchEvent> parseWatchEvent(std::string_view line);

struct RetryPolicy {
  int max_attempts = 5;
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{std::chrono::seconds(5)};
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> create(const RestConfig& config, RetryPolicy retry = {});
  Client(std::unique_ptr<Transport> transport, RestConfig config, RetryPolicy retry);

  // A client on the same connections whose calls obey `context`: no request starts after the
  // deadline or the cancellation; each request's timeout is cut to the time left; a retry
  // whose wait (backoff or the server's Retry-After) would end past the deadline is not
  // waited for: the call fails at once with DeadlineExceeded, naming the wait and the last
  // error. cancel() wakes a waiting retry at once (the call fails with Unavailable, "cancelled")
  // and stops the view's open watches. A request already on the wire runs to its (cut)
  // timeout. The view may outlive this client.
  std::unique_ptr<Client> withContext(Context context) const;
  const Context& context() const { return context_; }

  Result<json> get(const ResourceRef& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = "");
  // One page; follow metadata.continue for more, or use listAll.
  Result<json> list(const ResourceRef& r, const std::string& ns, const ListOptions& options = {});
  // Every page, items concatenated; metadata.resourceVersion is the first page's.
  Result<json> listAll(const ResourceRef& r, const std::string& ns, ListOptions options = {});
  Result<json> create(const ResourceRef& r, const std::string& ns, const json& object);
  // PUT: object.metadata.resourceVersion, when present, makes it a compare-and-swap.
  Result<json> update(const ResourceRef& r, const std::string& ns, const json& object);
  Result<json> updateStatus(const ResourceRef& r, const std::string& ns, const json& object);
  Result<json> patch(const ResourceRef& r, const std::string& ns, const std::string& name,
                     PatchType type, const std::string& body, const PatchOptions& options = {},
                     const std::string& subresource = "");
  // The deleted object (or the object now marked for deletion), or the server's Status.
  Result<json> remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                      const DeleteOptions& options = {});
  Result<std::unique_ptr<Watch>> watch(const ResourceRef& r, const std::string& ns,
                                       const WatchOptions& options);

  // The resource serving `kind` in `apiVersion`, from discovery (cached; refreshed on a miss).
  Result<ResourceRef> resourceFor(const std::string& api_version, const std::string& kind);

  // Any request; 2xx bodies parsed as JSON, failures as typed errors, retried like the rest.
  Result<json> request(const std::string& method, const std::string& path,
                       const std::string& body = "",
                       const std::string& content_type = "application/json");

  // One GET, not retried, answered whatever its status: for the text endpoints (/readyz?verbose
  // answers 500 with the same list of checks when one fails).
  Result<HttpResponse> getRaw(const std::string& path);

  const RestConfig& config() const { return config_; }
  // Counts requests that went on the wire (including retries), for tests and metrics.
  // Shared with every view of this client.
  uint64_t requestCount() const { return shared_->requests.load(); }

 private:
  // What a client and its views share.
  struct Shared {
    std::unique_ptr<Transport> transport;
    std::atomic<uint64_t> requests{0};
    std::mutex discovery_mu;
    std::map<std::string, json> discovery;  // groupVersion -> APIResourceList
  };
  Client(std::shared_ptr<Shared> shared, RestConfig config, RetryPolicy retry, Context context);

  Result<json> send(HttpRequest request, bool idempotent);
  // Why the context forbids starting `request` now (cancelled, past the deadline), if it does.
  Status checkContext(const HttpRequest& request) const;
  // The request timeout, cut to the time the deadline leaves.
  std::chrono::milliseconds requestTimeout() const;
  // Sleeps `wait` before a retry, unless the deadline or a cancellation forbids it.
  Status waitBeforeRetry(const HttpRequest& request, std::chrono::milliseconds wait,
                         const std::string& what, const Status& last) const;
  std::string path(const ResourceRef& r, const std::string& ns, const std::string& name,
                   const std::string& subresource = "") const;

  std::shared_ptr<Shared> shared_;
  RestConfig config_;
  RetryPolicy retry_;
  Context context_;
};

// The query-string encoding of one value (RFC 3986 unreserved characters kept).
std::string urlEncode(std::string_view s);

}  // namespace herd::kube
