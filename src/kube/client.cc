#include "kube/client.h"

#include <fmt/format.h>

#include <random>
#include <thread>

#include "common/log.h"
#include "kube/api_error.h"

namespace herd::kube {
namespace {

void addParam(std::string& query, std::string_view key, const std::string& value) {
  if (value.empty()) return;
  query += query.empty() ? '?' : '&';
  query += key;
  query += '=';
  query += urlEncode(value);
}

std::string_view contentType(PatchType t) {
  switch (t) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

std::string metaField(const json& object, const char* key) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return {};
  auto v = m->find(key);
  return v != m->end() && v->is_string() ? v->get<std::string>() : std::string();
}

// Exponential backoff with full jitter, as client-go's wait.Backoff with jitter 1.0.
std::chrono::milliseconds backoff(const RetryPolicy& p, int attempt) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  auto ceiling =
      std::min<int64_t>(p.max_delay.count(), p.base_delay.count() << std::min(attempt, 20));
  std::uniform_int_distribution<int64_t> dist(ceiling / 2, ceiling);
  return std::chrono::milliseconds(dist(rng));
}

}  // namespace

ResourceRef namespacesResource() {
  return {"", "v1", "namespaces", false, "Namespace"};
}
ResourceRef configMapsResource() {
  return {"", "v1", "configmaps", true, "ConfigMap"};
}
ResourceRef secretsResource() {
  return {"", "v1", "secrets", true, "Secret"};
}
ResourceRef leasesResource() {
  return {"coordination.k8s.io", "v1", "leases", true, "Lease"};
}
ResourceRef crdsResource() {
  return {"apiextensions.k8s.io", "v1", "customresourcedefinitions", false,
          "CustomResourceDefinition"};
}

std::string urlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<WatchEvent> parseWatchEvent(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string() || !j.contains("object")) {
    return Status::invalid(fmt::format("malformed watch event: {}", line.substr(0, 200)));
  }
  WatchEvent e;
  const std::string& t = j["type"].get_ref<const std::string&>();
  if (t == "ADDED") {
    e.type = WatchEvent::Type::kAdded;
  } else if (t == "MODIFIED") {
    e.type = WatchEvent::Type::kModified;
  } else if (t == "DELETED") {
    e.type = WatchEvent::Type::kDeleted;
  } else if (t == "BOOKMARK") {
    e.type = WatchEvent::Type::kBookmark;
  } else if (t == "ERROR") {
    e.type = WatchEvent::Type::kError;
  } else {
    return Status::invalid(fmt::format("unknown watch event type \"{}\"", t));
  }
  e.object = std::move(j["object"]);
  return e;
}

Watch::Watch(std::unique_ptr<ResponseStream> stream, Context context)
    : stream_(std::move(stream)), context_(std::move(context)) {
  if (context_.cancel) {
    ResponseStream* s = stream_.get();
    on_cancel_ = context_.cancel->onCancel([s] { s->cancel(); });
  }
}

Watch::~Watch() {
  // Before the stream goes: a cancel() running now finishes with it first.
  if (context_.cancel && on_cancel_ != 0) context_.cancel->removeOnCancel(on_cancel_);
}

Result<std::optional<WatchEvent>> Watch::next(std::chrono::milliseconds idle_timeout) {
  for (;;) {
    if (context_.cancelled()) return Status::unavailable("watch: cancelled");
    auto left = context_.remaining();
    if (left && left->count() == 0) {
      return Status::deadlineExceeded("watch: the caller's deadline has passed");
    }
    HERD_ASSIGN_OR_RETURN(auto line,
                          stream_->readLine(left ? std::min(idle_timeout, *left) : idle_timeout));
    if (!line) return std::optional<WatchEvent>();
    if (line->empty()) continue;
    HERD_ASSIGN_OR_RETURN(WatchEvent e, parseWatchEvent(*line));
    return std::optional<WatchEvent>(std::move(e));
  }
}

Result<std::unique_ptr<Client>> Client::create(const RestConfig& config, RetryPolicy retry) {
  HERD_ASSIGN_OR_RETURN(auto transport, makeTransport(config));
  return std::make_unique<Client>(std::move(transport), config, retry);
}

Client::Client(std::unique_ptr<Transport> transport, RestConfig config, RetryPolicy retry)
    : shared_(std::make_shared<Shared>()), config_(std::move(config)), retry_(retry) {
  shared_->transport = std::move(transport);
}

Client::Client(std::shared_ptr<Shared> shared, RestConfig config, RetryPolicy retry,
               Context context)
    : shared_(std::move(shared)),
      config_(std::move(config)),
      retry_(retry),
      context_(std::move(context)) {}

std::unique_ptr<Client> Client::withContext(Context context) const {
  return std::unique_ptr<Client>(new Client(shared_, config_, retry_, std::move(context)));
}

Status Client::checkContext(const HttpRequest& request) const {
  if (context_.cancelled()) {
    return Status::unavailable(fmt::format("{} {}: cancelled", request.method, request.target));
  }
  auto left = context_.remaining();
  if (left && left->count() == 0) {
    return Status::deadlineExceeded(
        fmt::format("{} {}: the caller's deadline has passed", request.method, request.target));
  }
  return Status::ok();
}

std::chrono::milliseconds Client::requestTimeout() const {
  auto left = context_.remaining();
  return left ? std::min(config_.timeout, *left) : config_.timeout;
}

Status Client::waitBeforeRetry(const HttpRequest& request, std::chrono::milliseconds wait,
                               const std::string& what, const Status& last) const {
  auto left = context_.remaining();
  if (left && wait > *left) {
    return Status::deadlineExceeded(fmt::format(
        "{} {}: not retried: {} ({} ms) would end past the caller's deadline (in {} ms); last "
        "error: {}",
        request.method, request.target, what, wait.count(), left->count(), last.message()));
  }
  auto until = std::chrono::steady_clock::now() + wait;
  bool cancelled = context_.cancel ? context_.cancel->waitUntil(until)
                                   : (std::this_thread::sleep_for(wait), false);
  if (cancelled) {
    return Status::unavailable(fmt::format("{} {}: cancelled while waiting for {}; last error: {}",
                                           request.method, request.target, what, last.message()));
  }
  return Status::ok();
}

std::string Client::path(const ResourceRef& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) const {
  std::string p = r.group.empty() ? "/api/" + r.version : "/apis/" + r.group + "/" + r.version;
  if (r.namespaced && !ns.empty()) p += "/namespaces/" + urlEncode(ns);
  p += "/" + r.resource;
  if (!name.empty()) p += "/" + urlEncode(name);
  if (!subresource.empty()) p += "/" + subresource;
  return p;
}

Result<json> Client::send(HttpRequest request, bool idempotent) {
  Status last;
  for (int attempt = 0; attempt < retry_.max_attempts; ++attempt) {
    HERD_RETURN_IF_ERROR(checkContext(request));
    shared_->requests.fetch_add(1);
    auto response = shared_->transport->roundTrip(request, requestTimeout());
    std::chrono::milliseconds wait{0};
    std::string what = "a backoff";
    if (!response) {
      last = response.status();
      // A broken connection may have delivered a write; only reads are safe to repeat.
      if (!idempotent || last.code() != Code::kUnavailable) return last;
      wait = backoff(retry_, attempt);
    } else if (response->status >= 200 && response->status < 300) {
      if (response->body.empty()) return json::object();
      json body = json::parse(response->body, nullptr, false);
      if (body.is_discarded()) {
        return Status::internal(
            fmt::format("{} {}: the response is not JSON", request.method, request.target));
      }
      return body;
    } else {
      ApiError e = parseApiError(*response);
      last = toStatus(e);
      // 429 never reached a handler; other 5xx may have, so writes retry only when the
      // server asks for it with Retry-After.
      bool retry = isRetriable(e) && (idempotent || e.code == 429 || e.retry_after.has_value());
      if (!retry) return last;
      wait = e.retry_after ? std::chrono::duration_cast<std::chrono::milliseconds>(*e.retry_after)
                           : backoff(retry_, attempt);
      // The server's Retry-After is honoured (bounded, against a bogus value); our own backoff
      // never exceeds max_delay.
      wait = e.retry_after ? std::min(wait, std::chrono::milliseconds(std::chrono::seconds(60)))
                           : std::min(wait, retry_.max_delay);
      if (e.retry_after)
        what = fmt::format("the server's Retry-After of {} s", e.retry_after->count());
    }
    if (attempt + 1 < retry_.max_attempts) {
      log::root().debug("retrying request", {{"method", request.method},
                                             {"path", request.target},
                                             {"attempt", attempt + 1},
                                             {"error", last.message()}});
      HERD_RETURN_IF_ERROR(waitBeforeRetry(request, wait, what, last));
    }
  }
  return last;
}

Result<json> Client::request(const std::string& method, const std::string& path,
                             const std::string& body, const std::string& content_type) {
  HttpRequest req;
  req.method = method;
  req.target = path;
  req.body = body;
  if (!body.empty()) req.headers.emplace_back("Content-Type", content_type);
  return send(std::move(req), method == "GET");
}

Result<HttpResponse> Client::getRaw(const std::string& path) {
  HttpRequest req;
  req.method = "GET";
  req.target = path;
  HERD_RETURN_IF_ERROR(checkContext(req));
  shared_->requests.fetch_add(1);
  return shared_->transport->roundTrip(req, requestTimeout());
}

Result<json> Client::get(const ResourceRef& r, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  return request("GET", path(r, ns, name, subresource));
}

Result<json> Client::list(const ResourceRef& r, const std::string& ns, const ListOptions& o) {
  std::string query;
  addParam(query, "labelSelector", o.label_selector);
  addParam(query, "fieldSelector", o.field_selector);
  if (o.limit > 0) addParam(query, "limit", std::to_string(o.limit));
  addParam(query, "continue", o.continue_token);
  addParam(query, "resourceVersion", o.resource_version);
  addParam(query, "resourceVersionMatch", o.resource_version_match);
  return request("GET", path(r, ns, "") + query);
}

Result<json> Client::listAll(const ResourceRef& r, const std::string& ns, ListOptions o) {
  HERD_ASSIGN_OR_RETURN(json all, list(r, ns, o));
  if (!all.contains("items") || all["items"].is_null()) all["items"] = json::array();
  std::string next = all["metadata"].value("continue", "");
  while (!next.empty()) {
    o.continue_token = next;
    o.resource_version.clear();  // the continue token pins the snapshot
    o.resource_version_match.clear();
    HERD_ASSIGN_OR_RETURN(json page, list(r, ns, o));
    if (page.contains("items") && page["items"].is_array()) {
      for (auto& item : page["items"]) all["items"].push_back(std::move(item));
    }
    next = page["metadata"].value("continue", "");
  }
  all["metadata"].erase("continue");
  all["metadata"].erase("remainingItemCount");
  return all;
}

Result<json> Client::create(const ResourceRef& r, const std::string& ns, const json& object) {
  return request("POST", path(r, ns, ""), object.dump());
}

Result<json> Client::update(const ResourceRef& r, const std::string& ns, const json& object) {
  return request("PUT", path(r, ns, metaField(object, "name")), object.dump());
}

Result<json> Client::updateStatus(const ResourceRef& r, const std::string& ns, const json& object) {
  return request("PUT", path(r, ns, metaField(object, "name"), "status"), object.dump());
}

Result<json> Client::patch(const ResourceRef& r, const std::string& ns, const std::string& name,
                           PatchType type, const std::string& body, const PatchOptions& o,
                           const std::string& subresource) {
  std::string query;
  addParam(query, "fieldManager", o.field_manager);
  if (o.force) addParam(query, "force", "true");
  return request("PATCH", path(r, ns, name, subresource) + query, body,
                 std::string(contentType(type)));
}

Result<json> Client::remove(const ResourceRef& r, const std::string& ns, const std::string& name,
                            const DeleteOptions& o) {
  json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!o.propagation_policy.empty()) body["propagationPolicy"] = o.propagation_policy;
  if (o.grace_period_seconds) body["gracePeriodSeconds"] = *o.grace_period_seconds;
  if (!o.precondition_uid.empty()) body["preconditions"]["uid"] = o.precondition_uid;
  if (!o.precondition_resource_version.empty()) {
    body["preconditions"]["resourceVersion"] = o.precondition_resource_version;
  }
  return request("DELETE", path(r, ns, name), body.dump());
}

Result<std::unique_ptr<Watch>> Client::watch(const ResourceRef& r, const std::string& ns,
                                             const WatchOptions& o) {
  std::string query = "?watch=1";
  addParam(query, "labelSelector", o.label_selector);
  addParam(query, "fieldSelector", o.field_selector);
  addParam(query, "resourceVersion", o.resource_version);
  if (o.allow_bookmarks) query += "&allowWatchBookmarks=true";
  if (o.timeout) query += "&timeoutSeconds=" + std::to_string(o.timeout->count());
  HttpRequest req;
  req.target = path(r, ns, "") + query;
  HERD_RETURN_IF_ERROR(checkContext(req));
  shared_->requests.fetch_add(1);
  HERD_ASSIGN_OR_RETURN(auto stream, shared_->transport->openStream(req, requestTimeout()));
  if (stream->status() != 200) {
    // The error body is small; read it whole for the Status.
    HttpResponse response;
    response.status = stream->status();
    response.headers = stream->headers();
    for (int i = 0; i < 64; ++i) {
      auto line = stream->readLine(requestTimeout());
      if (!line || !*line) break;
      response.body += **line;
    }
    return toStatus(parseApiError(response));
  }
  return std::make_unique<Watch>(std::move(stream), context_);
}

Result<ResourceRef> Client::resourceFor(const std::string& api_version, const std::string& kind) {
  for (int pass = 0; pass < 2; ++pass) {
    json doc;
    {
      std::lock_guard<std::mutex> lock(shared_->discovery_mu);
      if (pass == 1)
        shared_->discovery.erase(api_version);  // a miss may mean a new CRD: look again
      auto it = shared_->discovery.find(api_version);
      if (it != shared_->discovery.end()) doc = it->second;
    }
    if (doc.is_null()) {
      std::string p = api_version.find('/') == std::string::npos ? "/api/" + api_version
                                                                 : "/apis/" + api_version;
      auto fetched = request("GET", p);
      if (!fetched) {
        if (fetched.status().code() == Code::kNotFound) continue;
        return fetched.status();
      }
      doc = *fetched;
      std::lock_guard<std::mutex> lock(shared_->discovery_mu);
      shared_->discovery[api_version] = doc;
    }
    for (const auto& res : doc.value("resources", json::array())) {
      std::string name = res.value("name", "");
      if (res.value("kind", "") != kind || name.find('/') != std::string::npos) continue;
      ResourceRef ref;
      auto slash = api_version.find('/');
      ref.group = slash == std::string::npos ? "" : api_version.substr(0, slash);
      ref.version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
      ref.resource = name;
      ref.namespaced = res.value("namespaced", false);
      ref.kind = kind;
      return ref;
    }
  }
  return Status::notFound(
      fmt::format("the server has no resource for kind \"{}\" in \"{}\"", kind, api_version));
}

}  // namespace herd::kube
