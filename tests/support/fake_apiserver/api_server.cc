#include "api_server.h"

#include <atomic>
#include <ctime>
#include <thread>

#include "authn.h"
#include "controller.h"
#include "discovery.h"
#include "etcd_storage.h"
#include "memory_storage.h"
#include "registry.h"
#include "resource_handler.h"
#include "responses.h"
#include "store.h"
#include "watch.h"
#include "wire.h"

namespace herd::fake {
namespace {

// kube-apiserver's flow-control identities, sent on every authenticated response.
constexpr const char* kFlowSchemaUid = "ef5196a1-4507-4bc5-ae5b-d56f78f34f90";
constexpr const char* kPriorityLevelUid = "d5221bce-3c20-4f2c-a3fd-5aeb3e5c4a7f";

std::string verbFor(const HttpRequest& req, bool named) {
  const std::string& m = req.method;
  if (m == "GET" || m == "HEAD") {
    std::string w = req.param("watch").value_or("");
    if (w == "1" || w == "true") return "watch";
    return named ? "get" : "list";
  }
  if (m == "POST") return "create";
  if (m == "PUT") return "update";
  if (m == "PATCH") return "patch";
  if (m == "DELETE") return named ? "delete" : "deletecollection";
  return "";
}

}  // namespace

// Authentication, fault injection and routing; the parts below do the rest.
class ApiServer::Impl {
 public:
  Impl(const FakeApiServerOptions& options, std::unique_ptr<Registry> registry,
       std::unique_ptr<Storage> storage)
      : options_(options),
        registry_(std::move(registry)),
        store_(*registry_, std::move(storage)),
        controller_(options_, *registry_, store_),
        watches_(options_, store_),
        discovery_(options_, *registry_, store_),
        resources_(options_, *registry_, store_, [this] { controller_.publishRootCaLocked(); }) {}

  void init() {
    {
      std::lock_guard lock(store_.mutex());
      // A fresh cluster has these four namespaces, as kube-apiserver creates them at start
      // (later, from the controller, when the storage is not read in yet).
      controller_.ensureSystemNamespacesLocked();
    }
    controller_.start();
  }

  void stop() {
    {
      std::lock_guard lock(store_.mutex());
      if (stopping_) return;
      stopping_ = true;
      watches_.stopLocked();
    }
    store_.changed().notify_all();
    controller_.stop();
  }

  HttpResponse handle(const HttpRequest& req);

  void dropWatches() {
    std::lock_guard lock(store_.mutex());
    watches_.dropAllLocked();
    store_.changed().notify_all();
  }
  void failNext(int count, int code, int retry_after) {
    std::lock_guard lock(store_.mutex());
    fail_count_ = count;
    fail_code_ = code;
    fail_retry_after_ = retry_after;
  }
  void setLatency(std::chrono::milliseconds latency) { latency_ms_ = latency.count(); }
  void compactHistory(uint64_t revision) {
    std::lock_guard lock(store_.mutex());
    store_.storage().compact(revision == 0 ? store_.storage().revision() : revision);
  }
  uint64_t resourceVersion() const {
    std::lock_guard lock(store_.mutex());
    return store_.storage().revision();
  }
  std::string snapshot() const { return store_.snapshot(); }
  Status restore(const std::string& text) { return store_.restore(text); }

 private:
  bool authenticateBootstrapToken(const HttpRequest& req, Identity& id);
  bool isClusterAdmin(const Identity& id) const;
  HttpResponse handleResource(const HttpRequest& req, const Identity& id, HttpResponse res,
                              const std::string& group, const std::string& version,
                              const std::vector<std::string>& rest);

  FakeApiServerOptions options_;
  std::unique_ptr<Registry> registry_;
  ObjectStore store_;
  Controller controller_;
  Watches watches_;
  Discovery discovery_;
  ResourceHandler resources_;
  ResourceTypePtr secrets_ = registry_->find("", "v1", "secrets");
  ResourceTypePtr cluster_role_bindings_ =
      registry_->find("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
  // Guarded by the store's mutex.
  bool stopping_ = false;
  int fail_count_ = 0;
  int fail_code_ = 500;
  int fail_retry_after_ = 1;
  std::atomic<long long> latency_ms_{0};
};

HttpResponse ApiServer::Impl::handle(const HttpRequest& req) {
  if (long long ms = latency_ms_.load(); ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  HttpResponse res;
  res.setHeader("Audit-Id", randomUuid());
  res.setHeader("Cache-Control", "no-cache, private");
  res.setHeader("Date", httpDate());

  Identity id;
  bool known = authenticate(req, options_.tokens, id, options_.anonymous_auth);
  // As kube-apiserver's union of authenticators: the bootstrap one after certificates and
  // the token file.
  if (!known && options_.bootstrap_token_auth) known = authenticateBootstrapToken(req, id);
  if (!known) return errorResponse(std::move(res), {401, "Unauthorized", "Unauthorized"});
  res.setHeader("X-Kubernetes-Pf-Flowschema-Uid", kFlowSchemaUid);
  res.setHeader("X-Kubernetes-Pf-Prioritylevel-Uid", kPriorityLevelUid);
  id.cluster_admin = isClusterAdmin(id);
  if (auto e = impersonate(req, id)) return forbiddenResponse(std::move(res), *e);
  id.cluster_admin = isClusterAdmin(id);

  bool health = req.path == "/healthz" || req.path == "/readyz" || req.path == "/livez";
  if (startsWith(req.path, "/api/") || startsWith(req.path, "/apis/")) {
    // Reads see every write completed before this request, through whichever server sharing
    // the storage it was made (kube-apiserver's consistent reads).
    if (Status s = store_.storage().sync(); !s.isOk()) {
      return errorResponse(std::move(res),
                           {500,
                            "InternalError",
                            "Internal error occurred: " + s.message(),
                            {{"causes", Json::array({{{"message", s.message()}}})}}});
    }
  }
  if (!health) {
    std::unique_lock lock(store_.mutex());
    if (fail_count_ > 0) {
      --fail_count_;
      int code = fail_code_;
      int retry = fail_retry_after_;
      lock.unlock();
      if (code == 429) {
        res.setHeader("Retry-After", std::to_string(retry));
        return errorResponse(std::move(res), {429,
                                              "TooManyRequests",
                                              "Too many requests, please try again later.",
                                              {{"retryAfterSeconds", retry}}});
      }
      return errorResponse(std::move(res),
                           {code,
                            "InternalError",
                            "Internal error occurred: injected fault",
                            {{"causes", Json::array({{{"message", "injected fault"}}})}}});
    }
  }

  std::vector<std::string> parts = splitPath(req.path);
  bool resource_path = false;
  std::string group, version;
  std::vector<std::string> rest;
  if (parts.size() >= 3 && parts[0] == "api") {
    version = parts[1];
    rest.assign(parts.begin() + 2, parts.end());
    resource_path = true;
  } else if (parts.size() >= 4 && parts[0] == "apis") {
    group = parts[1];
    version = parts[2];
    rest.assign(parts.begin() + 3, parts.end());
    resource_path = true;
  }
  if (!resource_path) return discovery_.serve(req, id, std::move(res));
  if (!registry_->servesGroupVersion(group, version)) return plainNotFound(std::move(res));
  return handleResource(req, id, std::move(res), group, version, rest);
}

bool ApiServer::Impl::authenticateBootstrapToken(const HttpRequest& req, Identity& id) {
  auto token_id = bootstrapTokenId(req);
  if (!token_id || !secrets_) return false;
  std::optional<Json> secret;
  {
    std::lock_guard lock(store_.mutex());
    secret = store_.find(*secrets_, "kube-system", "bootstrap-token-" + *token_id);
  }
  if (!secret) return false;
  auto user = bootstrapTokenUser(req, *secret, static_cast<long long>(std::time(nullptr)));
  if (!user) return false;
  id.authenticated = true;
  id.user = *user;
  id.user.groups.push_back("system:authenticated");
  return true;
}

bool ApiServer::Impl::isClusterAdmin(const Identity& id) const {
  if (!id.authenticated || !cluster_role_bindings_) return false;
  std::vector<Json> bindings;
  {
    std::lock_guard lock(store_.mutex());
    store_.storage().list(cluster_role_bindings_->storageKey(), "", "",
                          [&](const std::string&, const Json& binding) {
                            bindings.push_back(binding);
                            return true;
                          });
  }
  return boundToClusterAdmin(id.user, bindings);
}

HttpResponse ApiServer::Impl::handleResource(const HttpRequest& req, const Identity& id,
                                             HttpResponse res, const std::string& group,
                                             const std::string& version,
                                             const std::vector<std::string>& rest) {
  Target t;
  std::vector<std::string> segs = rest;
  // namespaces/<ns>/<resource>...; but namespaces/<name>/status|finalize is the Namespace.
  if (segs.size() >= 3 && segs[0] == "namespaces" && segs[2] != "status" && segs[2] != "finalize") {
    t.ns = segs[1];
    segs.erase(segs.begin(), segs.begin() + 2);
  }
  t.type = registry_->find(group, version, segs[0]);
  if (!t.type || segs.size() > 3) return plainNotFound(std::move(res));
  if (segs.size() >= 2) t.name = segs[1];
  if (segs.size() == 3) t.sub = segs[2];
  if (!t.sub.empty() &&
      !((t.sub == "status" && t.type->has_status) || (t.sub == "scale" && t.type->has_scale) ||
        (t.sub == "finalize" && t.type->resource == "namespaces"))) {
    return plainNotFound(std::move(res));
  }
  if (t.type->namespaced == false && !t.ns.empty()) return plainNotFound(std::move(res));
  t.verb = verbFor(req, !t.name.empty());
  if (t.verb.empty()) return errorResponse(std::move(res), methodNotAllowed());
  if (!authorizeResource(id, t, options_.allow))
    return forbiddenResponse(std::move(res), forbiddenFor(id, t));
  if (!t.type->hasVerb(t.verb) && t.sub.empty())
    return errorResponse(std::move(res), methodNotAllowed());
  if (t.type->namespaced && t.ns.empty() && t.verb != "list" && t.verb != "watch") {
    // kube-apiserver answers cluster-wide paths of namespaced kinds only for list and watch.
    return plainNotFound(std::move(res));
  }
  if (t.verb == "watch") return watches_.serve(req, t, std::move(res));

  Outcome out;
  if (t.verb == "create" &&
      (t.type->resource == "selfsubjectreviews" || t.type->resource == "selfsubjectaccessreviews"))
    out = resources_.reviewSelf(req, id, t);
  else if (t.verb == "get")
    out = resources_.get(req, t);
  else if (t.verb == "list")
    out = resources_.list(req, t);
  else if (t.verb == "create")
    out = resources_.create(req, t);
  else if (t.verb == "update")
    out = resources_.update(req, t);
  else if (t.verb == "patch")
    out = resources_.patch(req, t);
  else if (t.verb == "delete")
    out = resources_.remove(req, t);
  else
    out = resources_.removeCollection(req, t);
  for (const auto& w : out.warnings) {
    std::string escaped;
    for (char c : w) {
      if (c == '"' || c == '\\') escaped.push_back('\\');
      escaped.push_back(c);
    }
    res.setHeader("Warning", "299 - \"" + escaped + "\"");
  }
  if (out.error) return errorResponse(std::move(res), *out.error);
  return jsonResponse(std::move(res), out.code, out.body);
}

Result<std::unique_ptr<ApiServer>> ApiServer::create(const FakeApiServerOptions& options) {
  std::string data_dir =
      options.data_dir.empty() ? std::string(HERD_FAKE_APISERVER_DATA_DIR) : options.data_dir;
  HERD_ASSIGN_OR_RETURN(std::unique_ptr<Registry> registry, Registry::load(data_dir));
  std::unique_ptr<Storage> storage;
  if (options.etcd.servers.empty()) {
    storage = std::make_unique<MemoryStorage>(options.history_limit);
  } else {
    EtcdStorageConfig config;
    config.client.endpoints = options.etcd.servers;
    config.client.ca_pem = options.etcd.ca_pem;
    config.client.client_cert_pem = options.etcd.cert_pem;
    config.client.client_key_pem = options.etcd.key_pem;
    config.prefix = options.etcd.prefix;
    config.healthcheck_timeout = options.etcd.healthcheck_timeout;
    config.history_limit = options.history_limit;
    HERD_ASSIGN_OR_RETURN(storage, EtcdStorage::open(std::move(config)));
  }
  auto impl = std::make_unique<Impl>(options, std::move(registry), std::move(storage));
  impl->init();
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiServer::~ApiServer() {
  stop();
}
HttpResponse ApiServer::handle(const HttpRequest& request) {
  return impl_->handle(request);
}
void ApiServer::dropWatches() {
  impl_->dropWatches();
}
void ApiServer::failNextRequests(int count, int code, int retry_after_seconds) {
  impl_->failNext(count, code, retry_after_seconds);
}
void ApiServer::setLatency(std::chrono::milliseconds latency) {
  impl_->setLatency(latency);
}
void ApiServer::compactHistory(uint64_t revision) {
  impl_->compactHistory(revision);
}
uint64_t ApiServer::resourceVersion() const {
  return impl_->resourceVersion();
}
std::string ApiServer::snapshot() const {
  return impl_->snapshot();
}
Status ApiServer::restore(const std::string& snapshot) {
  return impl_->restore(snapshot);
}
void ApiServer::stop() {
  impl_->stop();
}

}  // namespace herd::fake
