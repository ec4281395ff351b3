#include "api_server.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <functional>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "api/schema.h"
#include "api/yaml.h"
#include "builtin.h"
#include "common/files.h"
#include "managed_fields.h"
#include "patch.h"
#include "registry.h"

namespace herd::fake {
namespace {

using Clock = std::chrono::steady_clock;

// kube-apiserver's flow-control identities, sent on every authenticated response.
constexpr const char* kFlowSchemaUid = "ef5196a1-4507-4bc5-ae5b-d56f78f34f90";
constexpr const char* kPriorityLevelUid = "d5221bce-3c20-4f2c-a3fd-5aeb3e5c4a7f";
// How often the controller (garbage collector, namespace deletion) looks at the store when
// nothing wakes it earlier.
constexpr auto kControllerTick = std::chrono::milliseconds(50);

std::string nowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string httpDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

long long parseRfc3339(const std::string& s) {
  std::tm tm{};
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return 0;
  return static_cast<long long>(timegm(&tm));
}

std::string randomUuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string randomSuffix() {
  // The alphabet of k8s.io/apimachinery's rand.String: no vowels, no confusable digits.
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::string out;
  for (int i = 0; i < 5; ++i) out.push_back(kAlphabet[rng() % (sizeof kAlphabet - 1)]);
  return out;
}

std::string base64UrlEncode(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (auto& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

bool base64UrlDecode(std::string in, std::string& out) {
  for (auto& c : in) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/')
      return false;
  }
  while (in.size() % 4 != 0) in.push_back('=');
  out.assign(in.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return false;
  size_t pad = 0;
  while (pad < 2 && !in.empty() && in[in.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return true;
}

std::string sha512Hex(const std::string& data) {
  unsigned char md[SHA512_DIGEST_LENGTH];
  SHA512(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : md) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool startsWith(const std::string& s, std::string_view prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) out.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

// An error answer: a metav1.Status with the reason and details kube-apiserver gives.
struct ApiError {
  int code = 500;
  std::string reason;
  std::string message;
  Json details = nullptr;  // null: no "details" key
  Json metadata = Json::object();
};

Json statusJson(const ApiError& e) {
  Json s = {
      {"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", e.metadata}, {"status", "Failure"}};
  if (!e.message.empty()) s["message"] = e.message;
  s["reason"] = e.reason;
  if (!e.details.is_null()) s["details"] = e.details;
  s["code"] = e.code;
  return s;
}

ApiError notFound(const ResourceType& type, const std::string& name) {
  Json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = type.resource;
  return {404, "NotFound", type.qualifiedResource() + " \"" + name + "\" not found", details};
}

ApiError namespaceNotFound(const std::string& ns) {
  return {404,
          "NotFound",
          "namespaces \"" + ns + "\" not found",
          {{"name", ns}, {"kind", "namespaces"}}};
}

ApiError badRequest(std::string message) {
  return {400, "BadRequest", std::move(message)};
}

// A query parameter kube-apiserver's ListOptions validation forbids (field.Forbidden).
ApiError listOptionsForbidden(const std::string& field, const std::string& detail) {
  return {422,
          "Invalid",
          "ListOptions.meta.k8s.io \"\" is invalid: " + field + ": Forbidden: " + detail,
          {{"group", "meta.k8s.io"},
           {"kind", "ListOptions"},
           {"causes", Json::array({{{"reason", "FieldValueForbidden"},
                                    {"message", "Forbidden: " + detail},
                                    {"field", field}}})}}};
}

// What ListOptions validation says about sendInitialEvents (WatchList), as recorded.
std::optional<ApiError> checkSendInitialEvents(const HttpRequest& req, bool watch) {
  if (!req.param("sendInitialEvents")) return std::nullopt;
  if (!watch)
    return listOptionsForbidden("sendInitialEvents", "sendInitialEvents is forbidden for list");
  if (req.param("resourceVersionMatch").value_or("") != "NotOlderThan") {
    return listOptionsForbidden(
        "resourceVersionMatch",
        "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
  }
  return std::nullopt;
}

ApiError conflictModified(const ResourceType& type, const std::string& name) {
  Json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = type.resource;
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + type.qualifiedResource() + " \"" + name +
              "\": the object has been modified; please apply your changes to the latest version "
              "and try again",
          details};
}

ApiError invalid(const ResourceType& type, const std::string& name, const api::FieldErrors& errs,
                 bool cel_note = false) {
  Json causes = Json::array();
  std::vector<std::string> lines;
  for (const auto& e : errs) {
    causes.push_back({{"reason", std::string(e.reason())},
                      {"message", e.message()},
                      {"field", e.field.empty() ? "<nil>" : e.field}});
    lines.push_back(e.toString());
  }
  if (cel_note) {
    const char* note =
        "Invalid value: \"null\": some validation rules were not checked because the object was "
        "invalid; correct the existing errors to complete validation";
    causes.push_back({{"reason", "FieldValueInvalid"}, {"message", note}, {"field", "<nil>"}});
    lines.push_back(std::string("<nil>: ") + note);
  }
  std::string joined;
  if (lines.size() == 1) {
    joined = lines[0];
  } else {
    joined = "[";
    for (size_t i = 0; i < lines.size(); ++i) joined += (i ? ", " : "") + lines[i];
    joined += "]";
  }
  Json details = {{"name", name}};
  if (!type.group.empty()) details["group"] = type.group;
  details["kind"] = type.kind;
  details["causes"] = causes;
  return {422, "Invalid", type.qualifiedKind() + " \"" + name + "\" is invalid: " + joined,
          details};
}

// Field order of ObjectMeta in Go, which is how built-in objects come out of kube-apiserver.
const std::vector<std::string> kMetaOrder = {"name",
                                             "generateName",
                                             "namespace",
                                             "selfLink",
                                             "uid",
                                             "resourceVersion",
                                             "generation",
                                             "creationTimestamp",
                                             "deletionTimestamp",
                                             "deletionGracePeriodSeconds",
                                             "labels",
                                             "annotations",
                                             "ownerReferences",
                                             "finalizers",
                                             "managedFields"};

Json orderedMeta(const Json& meta) {
  Json out = Json::object();
  for (const auto& k : kMetaOrder) {
    if (meta.contains(k)) out[k] = meta[k];
  }
  for (const auto& [k, v] : meta.items()) {
    if (!out.contains(k)) out[k] = v;
  }
  // Labels and annotations are Go maps, which encoding/json writes with sorted keys.
  for (const char* map : {"labels", "annotations"}) {
    if (out.contains(map) && out[map].is_object())
      out[map] = Json::parse(nlohmann::json::parse(out[map].dump()).dump());
  }
  return out;
}

// Built-in kinds in Go struct order; custom resources with sorted keys (they are
// unstructured maps inside kube-apiserver).
Json presentable(const ResourceType& type, const Json& object) {
  if (type.custom) return Json::parse(nlohmann::json::parse(object.dump()).dump());
  Json out = Json::object();
  if (object.contains("kind")) out["kind"] = object["kind"];
  if (object.contains("apiVersion")) out["apiVersion"] = object["apiVersion"];
  if (object.contains("metadata")) out["metadata"] = orderedMeta(object["metadata"]);
  for (const auto& [k, v] : object.items()) {
    if (!out.contains(k)) out[k] = v;
  }
  return out;
}

std::string dumpCompact(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// --- label and field selectors -------------------------------------------------------------

struct Requirement {
  std::string key;
  std::string op;  // =, !=, in, notin, exists, !exists
  std::vector<std::string> values;
};

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

bool parseLabelSelector(const std::string& text, std::vector<Requirement>& out,
                        std::string& error) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!trim(cur).empty() || !parts.empty()) parts.push_back(cur);
  for (auto part : parts) {
    part = trim(part);
    if (part.empty()) {
      error = "found '', expected: identifier";
      return false;
    }
    Requirement r;
    size_t sp = part.find(' ');
    if (sp != std::string::npos &&
        (part.find(" in ") != std::string::npos || part.find(" notin ") != std::string::npos)) {
      r.key = trim(part.substr(0, sp));
      std::string rest = trim(part.substr(sp));
      r.op = startsWith(rest, "notin") ? "notin" : "in";
      size_t open = rest.find('('), close = rest.rfind(')');
      if (open == std::string::npos || close == std::string::npos || close < open) {
        error = "found '" + rest + "', expected: '('";
        return false;
      }
      std::string inner = rest.substr(open + 1, close - open - 1);
      size_t pos = 0;
      while (pos <= inner.size()) {
        size_t comma = inner.find(',', pos);
        if (comma == std::string::npos) comma = inner.size();
        r.values.push_back(trim(inner.substr(pos, comma - pos)));
        pos = comma + 1;
      }
    } else if (part[0] == '!') {
      r.key = trim(part.substr(1));
      r.op = "!exists";
    } else if (size_t ne = part.find("!="); ne != std::string::npos) {
      r.key = trim(part.substr(0, ne));
      r.op = "!=";
      r.values.push_back(trim(part.substr(ne + 2)));
    } else if (size_t eq2 = part.find("=="); eq2 != std::string::npos) {
      r.key = trim(part.substr(0, eq2));
      r.op = "=";
      r.values.push_back(trim(part.substr(eq2 + 2)));
    } else if (size_t eq = part.find('='); eq != std::string::npos) {
      r.key = trim(part.substr(0, eq));
      r.op = "=";
      r.values.push_back(trim(part.substr(eq + 1)));
    } else {
      r.key = part;
      r.op = "exists";
    }
    if (r.key.empty() || r.key.find_first_of(" ()=!") != std::string::npos) {
      error = "invalid label key \"" + r.key + "\"";
      return false;
    }
    out.push_back(std::move(r));
  }
  return true;
}

bool matchesRequirements(const Json& labels, const std::vector<Requirement>& reqs) {
  for (const auto& r : reqs) {
    bool has = labels.is_object() && labels.contains(r.key) && labels[r.key].is_string();
    std::string value = has ? labels[r.key].get<std::string>() : "";
    bool in = has && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    if (r.op == "=" && !in) return false;
    if (r.op == "!=" && in) return false;
    if (r.op == "in" && !in) return false;
    if (r.op == "notin" && in) return false;
    if (r.op == "exists" && !has) return false;
    if (r.op == "!exists" && has) return false;
  }
  return true;
}

const Json* dottedLookup(const Json& object, const std::string& path) {
  const Json* cur = &object;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    if (dot == std::string::npos) dot = path.size();
    std::string key = path.substr(pos, dot - pos);
    if (!cur->is_object() || !cur->contains(key)) return nullptr;
    cur = &(*cur)[key];
    pos = dot + 1;
  }
  return cur;
}

bool fieldSupported(const ResourceType& type, const std::string& field) {
  if (field == "metadata.name" || field == "metadata.namespace") return true;
  if (type.custom) return false;
  static const std::map<std::string, std::vector<std::string>> kFields = {
      {"pods",
       {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}},
      {"events",
       {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}},
      {"secrets", {"type"}},
      {"namespaces", {"status.phase"}},
      {"nodes", {"spec.unschedulable"}},
      {"replicasets", {"status.replicas"}},
      {"jobs", {"status.successful"}},
  };
  auto it = kFields.find(type.resource);
  return it != kFields.end() &&
         std::find(it->second.begin(), it->second.end(), field) != it->second.end();
}

bool parseFieldSelector(const ResourceType& type, const std::string& text,
                        std::vector<Requirement>& out, std::string& error) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string part = trim(text.substr(pos, comma - pos));
    pos = comma + 1;
    if (part.empty()) continue;
    Requirement r;
    if (size_t ne = part.find("!="); ne != std::string::npos) {
      r.key = part.substr(0, ne);
      r.op = "!=";
      r.values.push_back(part.substr(ne + 2));
    } else if (size_t eq2 = part.find("=="); eq2 != std::string::npos) {
      r.key = part.substr(0, eq2);
      r.op = "=";
      r.values.push_back(part.substr(eq2 + 2));
    } else if (size_t eq = part.find('='); eq != std::string::npos) {
      r.key = part.substr(0, eq);
      r.op = "=";
      r.values.push_back(part.substr(eq + 1));
    } else {
      error = "invalid selector: '" + text + "'; can't understand '" + part + "'";
      return false;
    }
    if (!fieldSupported(type, r.key)) {
      error = "field label not supported: " + r.key;
      return false;
    }
    out.push_back(std::move(r));
  }
  return true;
}

bool matchesFields(const Json& object, const std::vector<Requirement>& reqs) {
  for (const auto& r : reqs) {
    const Json* v = dottedLookup(object, r.key);
    std::string value;
    if (v != nullptr) value = v->is_string() ? v->get<std::string>() : v->dump();
    bool eq = value == r.values[0];
    if (r.op == "=" && !eq) return false;
    if (r.op == "!=" && eq) return false;
  }
  return true;
}

// Where an object lives inside its type's map: "ns/name" or "name"; sorted as etcd keys are.
std::string objectKey(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

// Shapes of lists for managed fields and apply: the built-in table, or the CRD schema's
// x-kubernetes-list-type annotations.
ListShape schemaListShape(const nlohmann::json& schema, const std::string& dotted) {
  const nlohmann::json* cur = &schema;
  size_t pos = 0;
  while (pos <= dotted.size() && cur != nullptr) {
    size_t dot = dotted.find('.', pos);
    if (dot == std::string::npos) dot = dotted.size();
    std::string key = dotted.substr(pos, dot - pos);
    pos = dot + 1;
    while (cur->contains("items") && (*cur)["items"].is_object() && !cur->contains("properties"))
      cur = &(*cur)["items"];
    if (!cur->contains("properties") || !(*cur)["properties"].contains(key)) return {};
    cur = &(*cur)["properties"][key];
  }
  if (cur == nullptr) return {};
  std::string list_type = cur->value("x-kubernetes-list-type", "");
  if (list_type == "set") return {{}, true};
  if (list_type == "map") {
    ListShape shape;
    for (const auto& k : cur->value("x-kubernetes-list-map-keys", nlohmann::json::array())) {
      shape.keys.push_back(k.get<std::string>());
    }
    return shape;
  }
  return {};
}

ListKeys listKeysFor(const ResourceTypePtr& type) {
  return [type](const std::string& dotted) -> ListShape {
    if (dotted == "metadata.finalizers") return {{}, true};
    if (dotted == "metadata.ownerReferences") return {{"uid"}, false};
    if (type->custom) return schemaListShape(type->schema, dotted);
    return {builtinListKeys(dotted), false};
  };
}

bool schemaHasCel(const nlohmann::json& schema) {
  return schema.dump().find("x-kubernetes-validations") != std::string::npos;
}

}  // namespace

// --- the server ------------------------------------------------------------------------------

struct WatchEvent {
  uint64_t rv = 0;
  std::string type;  // ADDED, MODIFIED, DELETED
  std::string storage_key;
  std::string ns;
  Json object;
};

struct Identity {
  bool authenticated = false;
  UserInfo user;
};

// What a resource URL names.
struct Target {
  ResourceTypePtr type;
  std::string ns;
  std::string name;
  std::string sub;
  std::string verb;
};

// What one watch selects, and how it presents each event's object.
struct WatchFilter {
  ResourceTypePtr type;
  std::string ns;
  std::vector<Requirement> labels;
  std::vector<Requirement> fields;
  // Set when the client asked for Tables (kubectl get -w): each event's object is then a
  // Table of one row, printed for this request.
  std::optional<HttpRequest> as_table;
};

class ApiServer::Impl {
 public:
  explicit Impl(const FakeApiServerOptions& options) : options_(options) {}

  Status init() {
    std::string data_dir =
        options_.data_dir.empty() ? std::string(HERD_FAKE_APISERVER_DATA_DIR) : options_.data_dir;
    HERD_ASSIGN_OR_RETURN(registry_, Registry::load(data_dir));
    namespaces_type_ = registry_->find("", "v1", "namespaces");
    crd_type_ = registry_->find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    std::lock_guard lock(mu_);
    // A fresh cluster has these four namespaces, as kube-apiserver creates them at start.
    for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      Json obj = {{"kind", "Namespace"}, {"apiVersion", "v1"}, {"metadata", {{"name", ns}}}};
      applyBuiltinDefaults(*namespaces_type_, obj);
      stampNew(*namespaces_type_, obj, "kube-apiserver");
      storeLocked(namespaces_type_, obj, "ADDED");
    }
    controller_ = std::thread([this] { controllerLoop(); });
    return Status::ok();
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    if (controller_.joinable()) controller_.join();
  }

  HttpResponse handle(const HttpRequest& req);

  // Faults and introspection.
  void dropWatches() {
    std::lock_guard lock(mu_);
    ++watch_epoch_;
    cv_.notify_all();
  }
  void failNext(int count, int code, int retry_after) {
    std::lock_guard lock(mu_);
    fail_count_ = count;
    fail_code_ = code;
    fail_retry_after_ = retry_after;
  }
  void setLatency(std::chrono::milliseconds latency) { latency_ms_ = latency.count(); }
  void compactHistory() {
    std::lock_guard lock(mu_);
    history_.clear();
    history_floor_ = rv_;
    cv_.notify_all();
  }
  uint64_t resourceVersion() const {
    std::lock_guard lock(mu_);
    return rv_;
  }
  std::string snapshot() const;
  Status restore(const std::string& text);

  // Used by WatchStream.
  friend class WatchStream;

 private:
  // --- authentication and authorization ---
  bool authenticate(const HttpRequest& req, Identity& id) const;
  bool authorizeResource(const Identity& id, const Target& t) const;
  bool authorizePath(const Identity& id, const std::string& path) const;

  // --- routing ---
  HttpResponse handleNonResource(const HttpRequest& req, const Identity& id, HttpResponse res);
  HttpResponse handleResource(const HttpRequest& req, const Identity& id, HttpResponse res,
                              const std::string& group, const std::string& version,
                              const std::vector<std::string>& rest);
  HttpResponse serveOpenApi(const HttpRequest& req, HttpResponse res);

  // --- verbs; each returns the body or an error ---
  struct Outcome {
    int code = 200;
    Json body;
    std::optional<ApiError> error;
    std::vector<std::string> warnings;
    Outcome() = default;
    Outcome(int c, Json b, std::optional<ApiError> e = std::nullopt,
            std::vector<std::string> w = {})
        : code(c), body(std::move(b)), error(std::move(e)), warnings(std::move(w)) {}
  };
  Outcome get(const HttpRequest& req, const Target& t);
  Outcome list(const HttpRequest& req, const Target& t);
  Outcome create(const HttpRequest& req, const Target& t);
  Outcome update(const HttpRequest& req, const Target& t);
  Outcome patch(const HttpRequest& req, const Target& t);
  Outcome remove(const HttpRequest& req, const Target& t);
  Outcome removeCollection(const HttpRequest& req, const Target& t);
  HttpResponse watch(const HttpRequest& req, const Target& t, HttpResponse res);
  // SelfSubjectReview and SelfSubjectAccessReview: answered from the caller's identity, never
  // stored.
  Outcome reviewSelf(const HttpRequest& req, const Identity& id, const Target& t) const;
  // Impersonate-User / Impersonate-Group: who the request acts as, or a 403.
  std::optional<ApiError> impersonate(const HttpRequest& req, Identity& id) const;

  // --- store, all with mu_ held ---
  const Json* findLocked(const ResourceType& type, const std::string& ns,
                         const std::string& name) const {
    auto bucket = objects_.find(type.storageKey());
    if (bucket == objects_.end()) return nullptr;
    auto it = bucket->second.find(objectKey(ns, name));
    return it == bucket->second.end() ? nullptr : &it->second;
  }
  void stampNew(const ResourceType& type, Json& obj, const std::string& manager);
  uint64_t storeLocked(const ResourceTypePtr& type, Json& obj, const std::string& event);
  void eraseLocked(const ResourceTypePtr& type, Json obj);
  void recordEvent(const ResourceTypePtr& type, const Json& obj, const std::string& event);
  std::optional<ApiError> checkNamespace(const Target& t, bool creating) const;
  // Common tail of update and patch: checks and writes `next` over `current`.
  Outcome commitUpdate(const HttpRequest& req, const Target& t, const Json& current, Json next,
                       const std::string& manager, bool skip_managed_fields = false);
  std::optional<ApiError> admitCustom(const Target& t, Json& obj, const HttpRequest& req,
                                      std::vector<std::string>& warnings, bool status_only);
  std::optional<ApiError> decodeBody(const HttpRequest& req, const Target& t, Json& obj,
                                     std::vector<std::string>& warnings);
  Outcome deleteLocked(const ResourceTypePtr& type, const Json& obj, const std::string& policy,
                       bool dry_run);
  void onCrdWritten(const Json& crd);
  void onCrdDeleted(const Json& crd);
  Json scaleOf(const ResourceType& type, const Json& obj) const;

  // --- controller ---
  void controllerLoop();
  void collectGarbageLocked();
  void finishNamespacesLocked();
  void publishRootCaLocked();

  // --- presentation ---
  Json forOutput(const ResourceType& type, Json obj) const {
    obj["apiVersion"] = type.apiVersion();
    obj["kind"] = type.kind;
    return presentable(type, obj);
  }
  Json table(const HttpRequest& req, const ResourceType& type, const std::vector<Json>& items,
             const Json& list_meta) const;
  // A watch event's object: the object itself, or a one-row Table with its resourceVersion.
  Json watchObject(const WatchFilter& filter, const Json& obj) const;

  FakeApiServerOptions options_;
  std::unique_ptr<Registry> registry_;
  ResourceTypePtr namespaces_type_;
  ResourceTypePtr crd_type_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  uint64_t watch_epoch_ = 0;
  int fail_count_ = 0;
  int fail_code_ = 500;
  int fail_retry_after_ = 1;
  std::atomic<long long> latency_ms_{0};
  uint64_t rv_ = 1;
  uint64_t history_floor_ = 1;
  std::deque<WatchEvent> history_;
  std::map<std::string, std::map<std::string, Json>> objects_;
  std::map<std::string, ResourceTypePtr> type_of_storage_;  // storage key -> a type serving it
  std::map<std::string, std::pair<std::string, std::string>>
      uids_;  // uid -> storage key, object key
  std::thread controller_;
};

// --- authentication ------------------------------------------------------------------------

bool ApiServer::Impl::authenticate(const HttpRequest& req, Identity& id) const {
  if (req.peer.presented && req.peer.verified) {
    id.authenticated = true;
    id.user.name = req.peer.common_name;
    id.user.groups = req.peer.organizations;
    id.user.groups.push_back("system:authenticated");
    return true;
  }
  std::string auth = req.header("authorization");
  if (!auth.empty()) {
    if (!startsWith(auth, "Bearer ")) return false;
    auto it = options_.tokens.find(auth.substr(7));
    if (it == options_.tokens.end()) return false;
    id.authenticated = true;
    id.user = it->second;
    id.user.groups.push_back("system:authenticated");
    return true;
  }
  if (req.peer.presented) return false;  // a certificate of an unknown CA
  id.user.name = "system:anonymous";
  id.user.groups = {"system:unauthenticated"};
  return true;
}

bool ApiServer::Impl::authorizePath(const Identity& id, const std::string& path) const {
  for (const auto& g : id.user.groups) {
    if (g == "system:masters") return true;
  }
  // system:public-info-viewer, bound to everyone including anonymous.
  for (const char* open : {"/version", "/healthz", "/readyz", "/livez"}) {
    if (path == open || path == std::string(open) + "/") return true;
  }
  if (!id.authenticated) return false;
  // system:discovery and system:basic-user for every authenticated user.
  return path == "/api" || startsWith(path, "/api/") || path == "/apis" ||
         startsWith(path, "/apis/") || path == "/openapi" || startsWith(path, "/openapi/");
}

bool ApiServer::Impl::authorizeResource(const Identity& id, const Target& t) const {
  for (const auto& g : id.user.groups) {
    if (g == "system:masters") return true;
  }
  if (!id.authenticated) return false;
  if (t.verb == "create" &&
      (t.type->resource == "selfsubjectreviews" || t.type->resource == "selfsubjectaccessreviews" ||
       t.type->resource == "selfsubjectrulesreviews")) {
    return true;
  }
  std::string resource = t.sub.empty() ? t.type->resource : t.type->resource + "/" + t.sub;
  for (const auto& rule : options_.allow) {
    if (rule.user != "*" && rule.user != id.user.name) continue;
    if (rule.verb != "*" && rule.verb != t.verb) continue;
    if (rule.resource != "*" && rule.resource != resource && rule.resource != t.type->resource)
      continue;
    if (rule.ns != "*" && rule.ns != t.ns) continue;
    return true;
  }
  return false;
}

std::optional<ApiError> ApiServer::Impl::impersonate(const HttpRequest& req, Identity& id) const {
  std::string user = req.header("impersonate-user");
  if (user.empty()) return std::nullopt;
  bool master = std::find(id.user.groups.begin(), id.user.groups.end(), "system:masters") !=
                id.user.groups.end();
  if (!master) {
    // Only system:masters may impersonate here; RBAC could grant more, the fake does not.
    return ApiError{403,
                    "Forbidden",
                    "users \"" + user + "\" is forbidden: User \"" + id.user.name +
                        "\" cannot impersonate resource \"users\" in API group \"\" at the "
                        "cluster scope",
                    {{"name", user}, {"kind", "users"}}};
  }
  UserInfo as;
  as.name = user;
  std::string groups = req.header("impersonate-group");
  for (size_t pos = 0; !groups.empty() && pos <= groups.size();) {
    size_t comma = groups.find(',', pos);
    if (comma == std::string::npos) comma = groups.size();
    std::string g = trim(groups.substr(pos, comma - pos));
    if (!g.empty()) as.groups.push_back(g);
    pos = comma + 1;
  }
  if (user != "system:anonymous") as.groups.push_back("system:authenticated");
  id.user = as;
  id.authenticated = user != "system:anonymous";
  return std::nullopt;
}

// --- routing -------------------------------------------------------------------------------

namespace {

HttpResponse jsonResponse(HttpResponse res, int code, const Json& body) {
  res.status = code;
  res.setHeader("Content-Type", "application/json");
  res.body = dumpCompact(body);
  return res;
}

HttpResponse errorResponse(HttpResponse res, const ApiError& e) {
  return jsonResponse(std::move(res), e.code, statusJson(e));
}

// The authorization filter's 403 (responsewriters.Forbidden) also sets nosniff.
HttpResponse forbiddenResponse(HttpResponse res, const ApiError& e) {
  res.setHeader("X-Content-Type-Options", "nosniff");
  return errorResponse(std::move(res), e);
}

HttpResponse plainNotFound(HttpResponse res) {
  res.status = 404;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.body = "404 page not found\n";
  return res;
}

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

ApiError forbiddenFor(const Identity& id, const Target& t) {
  std::string resource = t.sub.empty() ? t.type->resource : t.type->resource + "/" + t.sub;
  std::string subject = t.type->qualifiedResource();
  if (!t.name.empty()) subject += " \"" + t.name + "\"";
  std::string where = t.type->namespaced && !t.ns.empty() ? " in the namespace \"" + t.ns + "\""
                                                          : " at the cluster scope";
  Json details = Json::object();
  if (!t.name.empty()) details["name"] = t.name;
  if (!t.type->group.empty()) details["group"] = t.type->group;
  details["kind"] = t.type->resource;
  return {403, "Forbidden",
          subject + " is forbidden: User \"" + id.user.name + "\" cannot " + t.verb +
              " resource \"" + resource + "\" in API group \"" + t.type->group + "\"" + where,
          details};
}

}  // namespace

HttpResponse ApiServer::Impl::handle(const HttpRequest& req) {
  if (long long ms = latency_ms_.load(); ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  HttpResponse res;
  res.setHeader("Audit-Id", randomUuid());
  res.setHeader("Cache-Control", "no-cache, private");
  res.setHeader("Date", httpDate());

  Identity id;
  if (!authenticate(req, id)) {
    return errorResponse(std::move(res), {401, "Unauthorized", "Unauthorized"});
  }
  res.setHeader("X-Kubernetes-Pf-Flowschema-Uid", kFlowSchemaUid);
  res.setHeader("X-Kubernetes-Pf-Prioritylevel-Uid", kPriorityLevelUid);
  if (auto e = impersonate(req, id)) return forbiddenResponse(std::move(res), *e);

  bool health = req.path == "/healthz" || req.path == "/readyz" || req.path == "/livez";
  if (!health) {
    std::unique_lock lock(mu_);
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
  if (!resource_path) return handleNonResource(req, id, std::move(res));
  if (!registry_->servesGroupVersion(group, version)) return plainNotFound(std::move(res));
  return handleResource(req, id, std::move(res), group, version, rest);
}

HttpResponse ApiServer::Impl::handleNonResource(const HttpRequest& req, const Identity& id,
                                                HttpResponse res) {
  const std::string& path = req.path;
  if (!authorizePath(id, path)) {
    return forbiddenResponse(std::move(res),
                             {403, "Forbidden",
                              "forbidden: User \"" + id.user.name + "\" cannot " +
                                  (req.method == "GET" ? std::string("get") : std::string("post")) +
                                  " path \"" + path + "\"",
                              Json::object()});
  }
  if (path == "/healthz" || path == "/readyz" || path == "/livez") {
    res.status = 200;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.body = "ok";
    if (req.param("verbose"))
      res.body = "[+]ping ok\n[+]etcd ok\n" + std::string(path.substr(1)) + " check passed\n";
    return res;
  }
  if (path == "/version" || path == "/version/")
    return jsonResponse(std::move(res), 200, registry_->version());
  if (startsWith(path, "/openapi/")) return serveOpenApi(req, std::move(res));
  if (req.method != "GET") return plainNotFound(std::move(res));

  std::string accept = req.header("accept");
  bool aggregated = accept.find("as=APIGroupDiscoveryList") != std::string::npos &&
                    accept.find("g=apidiscovery.k8s.io") != std::string::npos;
  // v2 is preferred when a client lists both; a client asking only for v2beta1 gets it.
  std::string agg_version =
      accept.find("v=v2;") != std::string::npos || accept.find("v=v2,") != std::string::npos ||
              (accept.size() >= 4 && accept.compare(accept.size() - 4, 4, "v=v2") == 0)
          ? "v2"
          : "v2beta1";
  if (path == "/api" || path == "/apis") {
    if (aggregated) {
      Json doc = path == "/api" ? registry_->aggregatedCore() : registry_->aggregatedGroups();
      doc["apiVersion"] = "apidiscovery.k8s.io/" + agg_version;
      std::string body = dumpCompact(doc);
      res.headers.erase(std::remove_if(res.headers.begin(), res.headers.end(),
                                       [](const auto& h) { return h.first == "Cache-Control"; }),
                        res.headers.end());
      res.setHeader("Cache-Control", "public");
      res.setHeader("Content-Type", "application/json;g=apidiscovery.k8s.io;v=" + agg_version +
                                        ";as=APIGroupDiscoveryList");
      res.setHeader("Etag", "\"" + sha512Hex(body) + "\"");
      res.setHeader("Vary", "Accept");
      res.status = 200;
      res.body = std::move(body);
      return res;
    }
    return jsonResponse(std::move(res), 200,
                        path == "/api" ? registry_->coreVersions() : registry_->groupList());
  }
  std::vector<std::string> parts = splitPath(path);
  if (parts.size() == 2 && parts[0] == "api") {
    Json list = registry_->resourceList("", parts[1]);
    if (list.is_null()) return plainNotFound(std::move(res));
    return jsonResponse(std::move(res), 200, list);
  }
  if (parts.size() == 2 && parts[0] == "apis") {
    Json g = registry_->group(parts[1]);
    if (g.is_null()) return plainNotFound(std::move(res));
    return jsonResponse(std::move(res), 200, g);
  }
  if (parts.size() == 3 && parts[0] == "apis") {
    Json list = registry_->resourceList(parts[1], parts[2]);
    if (list.is_null()) return plainNotFound(std::move(res));
    return jsonResponse(std::move(res), 200, list);
  }
  return plainNotFound(std::move(res));
}

HttpResponse ApiServer::Impl::serveOpenApi(const HttpRequest& req, HttpResponse res) {
  std::string dir = options_.openapi_dir;
  if (req.path == "/openapi/v3" || req.path == "/openapi/v3/") {
    Json index = {{"paths", Json::object()}};
    if (!dir.empty() && files::exists(dir + "/v3/index.json")) {
      auto text = files::read(dir + "/v3/index.json");
      if (text.isOk()) index = Json::parse(*text, nullptr, false);
    }
    std::lock_guard lock(mu_);
    for (const auto& [name, types] : objects_) (void)name;
    for (const auto& [key, obj] : objects_[crd_type_->storageKey()]) {
      const Json& spec = obj["spec"];
      for (const auto& v : spec["versions"]) {
        std::string p = "apis/" + spec.value("group", "") + "/" + v.value("name", "");
        index["paths"][p] = {{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" +
                                                       sha512Hex(dumpCompact(obj)).substr(0, 32)}};
      }
    }
    res.status = 200;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.body = dumpCompact(index);
    return res;
  }
  if (startsWith(req.path, "/openapi/v3/")) {
    std::string rel = req.path.substr(std::string("/openapi/v3/").size());
    std::vector<std::string> parts = splitPath(rel);
    if (parts.size() == 3 && parts[0] == "apis") {
      std::lock_guard lock(mu_);
      for (const auto& [key, obj] : objects_[crd_type_->storageKey()]) {
        const Json& spec = obj["spec"];
        if (spec.value("group", "") != parts[1]) continue;
        for (const auto& v : spec["versions"]) {
          if (v.value("name", "") != parts[2]) continue;
          std::string kind = spec["names"].value("kind", "");
          std::string plural = spec["names"].value("plural", "");
          std::string schema_name = "io." + parts[1] + "." + parts[2] + "." + kind;
          Json gvk = Json::array({{{"group", parts[1]}, {"version", parts[2]}, {"kind", kind}}});
          Json schema = v.contains("schema") ? v["schema"].value("openAPIV3Schema", Json::object())
                                             : Json::object();
          schema["x-kubernetes-group-version-kind"] = gvk;
          Json params = Json::array(
              {{{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
               {{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
               {{"name", "dryRun"}, {"in", "query"}, {"schema", {{"type", "string"}}}}});
          Json op = {{"parameters", params}, {"x-kubernetes-group-version-kind", gvk[0]}};
          std::string base =
              "/apis/" + parts[1] + "/" + parts[2] + "/" +
              (spec.value("scope", "") == "Namespaced" ? "namespaces/{namespace}/" : "") + plural;
          Json doc = {
              {"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes CRD Swagger"}, {"version", "v0.1.0"}}},
              {"paths",
               {{base, {{"get", op}, {"post", op}}},
                {base + "/{name}", {{"get", op}, {"put", op}, {"patch", op}, {"delete", op}}}}},
              {"components", {{"schemas", {{schema_name, schema}}}}}};
          res.status = 200;
          res.setHeader("Content-Type", "application/json");
          res.body = dumpCompact(doc);
          return res;
        }
      }
    }
    if (dir.empty() || rel.find("..") != std::string::npos) return plainNotFound(std::move(res));
    auto text = files::read(dir + "/v3/" + rel + ".json");
    if (!text.isOk()) return plainNotFound(std::move(res));
    res.status = 200;
    res.setHeader("Content-Type", "application/json");
    res.body = std::move(*text);
    return res;
  }
  return plainNotFound(std::move(res));
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
  if (t.verb.empty()) {
    return errorResponse(
        std::move(res),
        {405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
         Json::object()});
  }
  if (!authorizeResource(id, t)) return forbiddenResponse(std::move(res), forbiddenFor(id, t));
  if (!t.type->hasVerb(t.verb) && t.sub.empty()) {
    return errorResponse(
        std::move(res),
        {405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
         Json::object()});
  }
  if (t.type->namespaced && t.ns.empty() && t.verb != "list" && t.verb != "watch") {
    // kube-apiserver answers cluster-wide paths of namespaced kinds only for list and watch.
    return plainNotFound(std::move(res));
  }
  if (t.verb == "watch") return watch(req, t, std::move(res));

  Outcome out;
  if (t.verb == "create" &&
      (t.type->resource == "selfsubjectreviews" || t.type->resource == "selfsubjectaccessreviews"))
    out = reviewSelf(req, id, t);
  else if (t.verb == "get")
    out = get(req, t);
  else if (t.verb == "list")
    out = list(req, t);
  else if (t.verb == "create")
    out = create(req, t);
  else if (t.verb == "update")
    out = update(req, t);
  else if (t.verb == "patch")
    out = patch(req, t);
  else if (t.verb == "delete")
    out = remove(req, t);
  else
    out = removeCollection(req, t);
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

// --- store ---------------------------------------------------------------------------------

namespace {

std::string managerOf(const HttpRequest& req) {
  if (auto m = req.param("fieldManager"); m && !m->empty()) return *m;
  std::string ua = req.header("user-agent");
  size_t slash = ua.find('/');
  std::string name = ua.substr(0, slash);
  return name.empty() ? "unknown" : name;
}

bool dryRun(const HttpRequest& req) {
  return req.param("dryRun").value_or("") == "All";
}

Json specPart(const Json& obj) {
  Json out = obj;
  out.erase("metadata");
  out.erase("status");
  out.erase("apiVersion");
  out.erase("kind");
  return out;
}

std::vector<std::string> finalizersOf(const Json& obj) {
  std::vector<std::string> out;
  for (const auto& f : obj["metadata"].value("finalizers", Json::array())) {
    if (f.is_string()) out.push_back(f.get<std::string>());
  }
  return out;
}

void setFinalizers(Json& obj, const std::vector<std::string>& finalizers) {
  if (finalizers.empty()) {
    obj["metadata"].erase("finalizers");
  } else {
    obj["metadata"]["finalizers"] = finalizers;
  }
}

// Top-level fields of the built-in kinds herd writes, to find unknown fields as the strict
// decoder does (nested fields are not checked).
const std::map<std::string, std::vector<std::string>>& knownTopLevel() {
  static const std::map<std::string, std::vector<std::string>> kKnown = {
      {"configmaps", {"data", "binaryData", "immutable"}},
      {"secrets", {"data", "stringData", "type", "immutable"}},
      {"namespaces", {"spec", "status"}},
      {"leases", {"spec"}},
      {"deployments", {"spec", "status"}},
      {"statefulsets", {"spec", "status"}},
      {"services", {"spec", "status"}},
      {"pods", {"spec", "status"}},
  };
  return kKnown;
}

std::string ageOf(const std::string& timestamp) {
  long long created = parseRfc3339(timestamp);
  if (created == 0) return "<unknown>";
  long long s = std::max<long long>(0, static_cast<long long>(std::time(nullptr)) - created);
  if (s < 120) return std::to_string(s) + "s";
  if (s < 600) return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (s < 3 * 3600) return std::to_string(s / 60) + "m";
  if (s < 8 * 3600)
    return std::to_string(s / 3600) + "h" + (s / 60 % 60 ? std::to_string(s / 60 % 60) + "m" : "");
  if (s < 48 * 3600) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

// Sets the field at a dotted path (".spec.replicas", as a scale subresource names it),
// creating the objects on the way.
void setFieldPath(Json& obj, const std::string& path, Json value) {
  Json* cur = &obj;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t dot = path.find('.', pos);
    if (dot == std::string::npos) dot = path.size();
    cur = &(*cur)[path.substr(pos, dot - pos)];
    pos = dot + 1;
  }
  *cur = std::move(value);
}

// The subset of kubectl JSONPath used by printer columns: .a.b, .a[0].b and
// .a[?(@.k=="v")].b.
Json evalJsonPath(const Json& obj, const std::string& path) {
  const Json* cur = &obj;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      size_t end = path.find_first_of(".[", i);
      std::string key = path.substr(i, end == std::string::npos ? std::string::npos : end - i);
      if (!cur->is_object() || !cur->contains(key)) return nullptr;
      cur = &(*cur)[key];
      i = end == std::string::npos ? path.size() : end;
    } else if (path[i] == '[') {
      size_t close = path.find(']', i);
      if (close == std::string::npos || !cur->is_array()) return nullptr;
      std::string inner = path.substr(i + 1, close - i - 1);
      i = close + 1;
      if (startsWith(inner, "?(@.")) {
        size_t eq = inner.find("==");
        if (eq == std::string::npos) return nullptr;
        std::string key = inner.substr(4, eq - 4);
        std::string want = inner.substr(eq + 2);
        if (!want.empty() && want.back() == ')') want.pop_back();
        if (want.size() >= 2 && (want[0] == '"' || want[0] == '\''))
          want = want.substr(1, want.size() - 2);
        const Json* found = nullptr;
        for (const auto& item : *cur) {
          if (item.is_object() && item.contains(key) && item[key].is_string() &&
              item[key].get<std::string>() == want) {
            found = &item;
            break;
          }
        }
        if (found == nullptr) return nullptr;
        cur = found;
      } else {
        size_t index = 0;
        try {
          index = std::stoul(inner);
        } catch (...) {
          return nullptr;
        }
        if (index >= cur->size()) return nullptr;
        cur = &(*cur)[index];
      }
    } else {
      return nullptr;
    }
  }
  return *cur;
}

}  // namespace

void ApiServer::Impl::stampNew(const ResourceType& type, Json& obj, const std::string& manager) {
  Json& meta = obj["metadata"];
  meta["uid"] = randomUuid();
  meta["creationTimestamp"] = nowRfc3339();
  if (usesGeneration(type)) meta["generation"] = 1;
  UpdateContext ctx{manager, type.apiVersion(), "", nowRfc3339(),
                    type.has_status ? FieldScope::kNoStatus : FieldScope::kAll};
  recordUpdate(nullptr, obj, listKeysFor(registry_->find(type.group, type.version, type.resource)),
               ctx);
}

uint64_t ApiServer::Impl::storeLocked(const ResourceTypePtr& type, Json& obj,
                                      const std::string& event) {
  ++rv_;
  obj["metadata"]["resourceVersion"] = std::to_string(rv_);
  obj["apiVersion"] = type->apiVersion();
  obj["kind"] = type->kind;
  const Json& meta = obj["metadata"];
  std::string key = objectKey(meta.value("namespace", ""), meta.value("name", ""));
  objects_[type->storageKey()][key] = obj;
  type_of_storage_[type->storageKey()] = type;
  uids_[meta.value("uid", "")] = {type->storageKey(), key};
  recordEvent(type, obj, event);
  return rv_;
}

void ApiServer::Impl::eraseLocked(const ResourceTypePtr& type, Json obj) {
  ++rv_;
  obj["metadata"]["resourceVersion"] = std::to_string(rv_);
  const Json& meta = obj["metadata"];
  objects_[type->storageKey()].erase(
      objectKey(meta.value("namespace", ""), meta.value("name", "")));
  uids_.erase(meta.value("uid", ""));
  recordEvent(type, obj, "DELETED");
  if (type->resource == "customresourcedefinitions") onCrdDeleted(obj);
}

void ApiServer::Impl::recordEvent(const ResourceTypePtr& type, const Json& obj,
                                  const std::string& event) {
  history_.push_back({rv_, event, type->storageKey(), obj["metadata"].value("namespace", ""), obj});
  while (history_.size() > options_.history_limit) {
    history_floor_ = history_.front().rv;
    history_.pop_front();
  }
  cv_.notify_all();
}

std::optional<ApiError> ApiServer::Impl::checkNamespace(const Target& t, bool creating) const {
  if (!t.type->namespaced) return std::nullopt;
  const Json* ns = findLocked(*namespaces_type_, "", t.ns);
  if (ns == nullptr) return namespaceNotFound(t.ns);
  if (creating && (*ns)["metadata"].contains("deletionTimestamp")) {
    std::string name = t.name;
    Json details = {{"name", name}};
    if (!t.type->group.empty()) details["group"] = t.type->group;
    details["kind"] = t.type->resource;
    details["causes"] = Json::array({{{"reason", "NamespaceTerminating"},
                                      {"message", "namespace " + t.ns + " is being terminated"},
                                      {"field", "metadata.namespace"}}});
    return ApiError{403, "Forbidden",
                    t.type->qualifiedResource() + " \"" + name +
                        "\" is forbidden: unable to create new content in namespace " + t.ns +
                        " because it is being terminated",
                    details};
  }
  return std::nullopt;
}

std::optional<ApiError> ApiServer::Impl::decodeBody(const HttpRequest& req, const Target& t,
                                                    Json& obj, std::vector<std::string>& warnings) {
  const ResourceType& type = *t.type;
  obj = Json::parse(req.body, nullptr, false);
  if (obj.is_discarded() || !obj.is_object()) {
    std::string head = req.body.substr(0, 30);
    return badRequest(
        "the object provided is unrecognized (must be of type " + type.kind +
        "): couldn't get version/kind; json parse error: unexpected end of JSON input (" + head +
        (req.body.size() > 30 ? " ...)" : ")"));
  }
  std::string kind = obj.value("kind", "");
  std::string api_version = obj.value("apiVersion", "");
  if (kind.empty())
    return badRequest("Object 'Kind' is missing in '" + req.body.substr(0, 200) + "'");
  if (kind != type.kind || (!api_version.empty() && api_version != type.apiVersion() &&
                            api_version.substr(0, api_version.find('/')) != type.group)) {
    std::string version = api_version.substr(
        api_version.find('/') == std::string::npos ? 0 : api_version.find('/') + 1);
    return badRequest(kind + " in version \"" + version + "\" cannot be handled as a " + type.kind +
                      ": converting (" + version + "." + kind + ") to (" +
                      (type.group.empty() ? "core" : type.group) + "." + type.kind +
                      "): unknown conversion");
  }
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  if (type.resource == "leases" && obj.contains("spec") && obj["spec"].is_object()) {
    static const std::regex kMicroTime(
        R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d))");
    for (const char* field : {"acquireTime", "renewTime"}) {
      const Json& v = obj["spec"].value(field, Json());
      if (v.is_string() && !std::regex_match(v.get<std::string>(), kMicroTime)) {
        std::string text = v.get<std::string>();
        return badRequest("Lease in version \"" + type.version +
                          "\" cannot be handled as a Lease: parsing time \"" + text +
                          "\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"" + text +
                          "\" as \"2006\"");
      }
    }
  }
  std::string validation = req.param("fieldValidation").value_or("Warn");
  if (!type.custom) {
    auto known = knownTopLevel().find(type.resource);
    if (known != knownTopLevel().end()) {
      std::vector<std::string> unknown;
      for (const auto& [k, v] : obj.items()) {
        if (k == "apiVersion" || k == "kind" || k == "metadata") continue;
        if (std::find(known->second.begin(), known->second.end(), k) == known->second.end())
          unknown.push_back(k);
      }
      if (!unknown.empty() && validation == "Strict") {
        std::string list;
        for (const auto& u : unknown)
          list += (list.empty() ? "" : ", ") + std::string("unknown field \"") + u + "\"";
        return badRequest(type.kind + " in version \"" + type.version +
                          "\" cannot be handled as a " + type.kind +
                          ": strict decoding error: " + list);
      }
      for (const auto& u : unknown) {
        obj.erase(u);
        if (validation != "Ignore") warnings.push_back("unknown field \"" + u + "\"");
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ApiServer::Impl::admitCustom(const Target& t, Json& obj,
                                                     const HttpRequest& req,
                                                     std::vector<std::string>& warnings,
                                                     bool status_only) {
  const ResourceType& type = *t.type;
  if (!type.custom || !type.schema.is_object()) return std::nullopt;
  nlohmann::json body = nlohmann::json::parse(obj.dump());
  body.erase("apiVersion");
  body.erase("kind");
  body.erase("metadata");
  nlohmann::json schema = type.schema;
  if (schema.contains("properties")) {
    for (const char* k : {"apiVersion", "kind", "metadata"}) schema["properties"].erase(k);
  }
  std::vector<std::string> unknown = api::schema::prune(body, schema);
  std::string validation = req.param("fieldValidation").value_or("Warn");
  if (!unknown.empty() && validation == "Strict" && !status_only) {
    std::string list;
    for (const auto& u : unknown)
      list += (list.empty() ? "" : ", ") + std::string("unknown field \"") + u + "\"";
    return badRequest(type.kind + " in version \"" + type.version + "\" cannot be handled as a " +
                      type.kind + ": strict decoding error: " + list);
  }
  if (validation != "Ignore") {
    for (const auto& u : unknown) warnings.push_back("unknown field \"" + u + "\"");
  }
  api::schema::applyDefaults(body, schema);
  api::FieldErrors errs = api::schema::validate(body, schema);
  if (!errs.empty())
    return invalid(type, obj["metadata"].value("name", ""), errs, schemaHasCel(type.schema));
  Json rebuilt = Json::parse(body.dump());
  Json out = Json::object();
  out["apiVersion"] = obj.value("apiVersion", type.apiVersion());
  out["kind"] = type.kind;
  out["metadata"] = obj["metadata"];
  for (auto& [k, v] : rebuilt.items()) out[k] = v;
  obj = std::move(out);
  return std::nullopt;
}

ApiServer::Impl::Outcome ApiServer::Impl::get(const HttpRequest& req, const Target& t) {
  std::lock_guard lock(mu_);
  const Json* obj = findLocked(*t.type, t.ns, t.name);
  if (obj == nullptr) return {404, nullptr, notFound(*t.type, t.name)};
  if (t.sub == "scale") return {200, scaleOf(*t.type, *obj)};
  if (req.header("accept").find("as=Table") != std::string::npos) {
    // A single object's Table carries the object's own resourceVersion.
    return {200, table(req, *t.type, {*obj},
                       {{"resourceVersion", (*obj)["metadata"].value("resourceVersion", "")}})};
  }
  if (req.header("accept").find("as=PartialObjectMetadata") != std::string::npos) {
    return {200, Json{{"kind", "PartialObjectMetadata"},
                      {"apiVersion", "meta.k8s.io/v1"},
                      {"metadata", orderedMeta((*obj)["metadata"])}}};
  }
  return {200, forOutput(*t.type, *obj)};
}

ApiServer::Impl::Outcome ApiServer::Impl::reviewSelf(const HttpRequest& req, const Identity& id,
                                                     const Target& t) const {
  Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return {400, nullptr, badRequest("the body of the request was in an unknown format")};
  }
  if (t.type->resource == "selfsubjectreviews") {
    Json user = {{"username", id.user.name}};
    if (!id.user.uid.empty()) user["uid"] = id.user.uid;
    user["groups"] = id.user.groups;
    return {201, Json{{"kind", "SelfSubjectReview"},
                      {"apiVersion", t.type->apiVersion()},
                      {"metadata", {{"creationTimestamp", nowRfc3339()}}},
                      {"status", {{"userInfo", user}}}}};
  }
  // kube-apiserver runs the create path on the review, so it carries the caller's managed
  // fields but no creationTimestamp.
  Json spec = body.value("spec", Json::object());
  Json review = {{"kind", "SelfSubjectAccessReview"},
                 {"apiVersion", t.type->apiVersion()},
                 {"metadata", {{"creationTimestamp", nullptr}}},
                 {"spec", spec}};
  UpdateContext ctx{managerOf(req), t.type->apiVersion(), "", nowRfc3339(), FieldScope::kNoStatus};
  recordUpdate(nullptr, review, ListKeys{}, ctx);
  bool allowed = false;
  if (spec.contains("resourceAttributes")) {
    const Json& ra = spec["resourceAttributes"];
    ResourceTypePtr type;
    for (const auto& v : {"v1", "v1beta1", "v2"}) {
      if (!type) type = registry_->find(ra.value("group", ""), v, ra.value("resource", ""));
    }
    if (type) {
      Target asked{type, ra.value("namespace", ""), ra.value("name", ""),
                   ra.value("subresource", ""), ra.value("verb", "")};
      allowed = authorizeResource(id, asked);
    }
  } else if (spec.contains("nonResourceAttributes")) {
    allowed = authorizePath(id, spec["nonResourceAttributes"].value("path", ""));
  }
  review["status"] = {{"allowed", allowed}};
  return {201, review};
}

// The object a write stores, as the status subresource rules it: a write to /status changes
// only the status; a write to the main resource changes everything but a status that the
// resource guards with a /status subresource.
static Json applyStatusRule(bool to_status, bool has_status_subresource, const Json& current,
                            const Json& incoming) {
  Json next = to_status ? current : incoming;
  const Json& status_from = to_status ? incoming : current;
  if (!to_status && !has_status_subresource) return next;
  if (status_from.contains("status")) {
    next["status"] = status_from["status"];
  } else {
    next.erase("status");
  }
  return next;
}

ApiServer::Impl::Outcome ApiServer::Impl::list(const HttpRequest& req, const Target& t) {
  if (auto e = checkSendInitialEvents(req, false)) return {e->code, nullptr, e};
  std::vector<Requirement> labels, fields;
  std::string error;
  if (!parseLabelSelector(req.param("labelSelector").value_or(""), labels, error)) {
    return {400, nullptr, badRequest("unable to parse requirement: " + error)};
  }
  if (!parseFieldSelector(*t.type, req.param("fieldSelector").value_or(""), fields, error)) {
    return {400, nullptr, badRequest(error)};
  }
  long limit = 0;
  if (auto l = req.param("limit"); l && !l->empty()) {
    char* end = nullptr;
    limit = std::strtol(l->c_str(), &end, 10);
    if (*end != '\0' || limit < 0) limit = 0;
  }
  // resourceVersion=0 is served from kube-apiserver's watch cache, which ignores limit.
  if (req.param("resourceVersion").value_or("") == "0" && !req.param("continue")) limit = 0;
  std::lock_guard lock(mu_);
  std::string start;
  if (auto c = req.param("continue"); c && !c->empty()) {
    std::string decoded;
    Json token;
    if (base64UrlDecode(*c, decoded)) token = Json::parse(decoded, nullptr, false);
    if (token.is_discarded() || !token.is_object() || !token.contains("start") ||
        !token.contains("rv")) {
      std::string bad = decoded.empty() ? std::string("\\u0081") : std::string(1, decoded[0]);
      return {400, nullptr,
              badRequest("invalid continue token: continue key is not valid: invalid character '" +
                         std::string("\\u0081") + "' looking for beginning of value")};
    }
    start = token.value("start", "");
    long long token_rv = token["rv"].is_number() ? token["rv"].get<long long>() : 0;
    if (token_rv > 0 && static_cast<uint64_t>(token_rv) < history_floor_) {
      Json fresh = {{"v", "meta.k8s.io/v1"}, {"rv", -1}, {"start", start}};
      ApiError e{410, "Expired",
                 "The provided continue parameter is too old to display a consistent list result. "
                 "You can start a new "
                 "list without the continue parameter, or use the continue token in this response "
                 "to retrieve the "
                 "remainder of the results. Continuing with the provided token results in an "
                 "inconsistent list - "
                 "objects that were created, modified, or deleted between the time the first chunk "
                 "was returned and "
                 "now may show up in the list."};
      e.metadata = {{"continue", base64UrlEncode(dumpCompact(fresh))}};
      return {410, nullptr, e};
    }
  }
  if (req.param("resourceVersionMatch").value_or("") == "Exact") {
    std::string rv = req.param("resourceVersion").value_or("");
    uint64_t want = std::strtoull(rv.c_str(), nullptr, 10);
    if (want < history_floor_)
      return {410, nullptr,
              ApiError{410, "Expired", "The resourceVersion for the provided list is too old."}};
  }
  std::string prefix = t.ns.empty() ? "" : t.ns + "/";
  auto& bucket = objects_[t.type->storageKey()];
  auto it = start.empty() ? bucket.lower_bound(prefix) : bucket.lower_bound(prefix + start);
  std::vector<Json> items;
  std::string last_key;
  long remaining = 0;
  bool more = false;
  for (; it != bucket.end(); ++it) {
    if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
    const Json& obj = it->second;
    if (!matchesRequirements(obj["metadata"].value("labels", Json::object()), labels)) continue;
    if (!matchesFields(obj, fields)) continue;
    if (limit > 0 && static_cast<long>(items.size()) >= limit) {
      more = true;
      ++remaining;
      continue;
    }
    items.push_back(obj);
    last_key = it->first.substr(prefix.size());
  }
  Json meta = {{"resourceVersion", std::to_string(rv_)}};
  if (more) {
    Json token = {{"v", "meta.k8s.io/v1"}, {"rv", rv_}, {"start", last_key + std::string(1, '\0')}};
    meta["continue"] = base64UrlEncode(dumpCompact(token));
    if (labels.empty() && fields.empty()) meta["remainingItemCount"] = remaining;
  }
  std::string accept = req.header("accept");
  if (accept.find("as=Table") != std::string::npos) return {200, table(req, *t.type, items, meta)};
  Json out_items = Json::array();
  bool metadata_only = accept.find("as=PartialObjectMetadataList") != std::string::npos;
  for (auto& obj : items) {
    if (metadata_only) {
      out_items.push_back({{"kind", "PartialObjectMetadata"},
                           {"apiVersion", "meta.k8s.io/v1"},
                           {"metadata", orderedMeta(obj["metadata"])}});
    } else if (t.type->custom) {
      out_items.push_back(forOutput(*t.type, obj));
    } else {
      Json o = forOutput(*t.type, obj);
      o.erase("kind");
      o.erase("apiVersion");
      out_items.push_back(o);
    }
  }
  Json body;
  if (metadata_only) {
    body = {{"kind", "PartialObjectMetadataList"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", meta},
            {"items", out_items}};
  } else {
    body = {{"kind", t.type->kind + "List"},
            {"apiVersion", t.type->apiVersion()},
            {"metadata", meta},
            {"items", out_items}};
    if (t.type->custom) body = presentable(*t.type, body);
  }
  return {200, body};
}

ApiServer::Impl::Outcome ApiServer::Impl::create(const HttpRequest& req, const Target& t) {
  if (!t.name.empty()) {
    return {405, nullptr,
            ApiError{405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource",
                     Json::object()}};
  }
  Outcome out;
  Json obj;
  if (auto e = decodeBody(req, t, obj, out.warnings)) return {e->code, nullptr, e, out.warnings};
  Json& meta = obj["metadata"];
  if (t.type->namespaced) {
    std::string body_ns = meta.value("namespace", "");
    if (!body_ns.empty() && body_ns != t.ns) {
      return {400, nullptr,
              badRequest("the namespace of the provided object does not match the namespace sent "
                         "on the request")};
    }
    meta["namespace"] = t.ns;
  } else {
    meta.erase("namespace");
  }
  if (meta.value("name", "").empty() && !meta.value("generateName", "").empty()) {
    meta["name"] = meta.value("generateName", "") + randomSuffix();
  }
  for (const char* server_owned :
       {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink"}) {
    meta.erase(server_owned);
  }
  std::string name = meta.value("name", "");
  if (t.type->has_status && t.type->resource != "namespaces") obj.erase("status");
  // A workload's status is a Go struct value, so a new one shows "status": {}.
  for (const char* workload : {"deployments", "statefulsets", "replicasets", "daemonsets"}) {
    if (!t.type->custom && t.type->resource == workload) obj["status"] = Json::object();
  }

  std::lock_guard lock(mu_);
  Target named = t;
  named.name = name;
  if (auto e = checkNamespace(named, true)) return {e->code, nullptr, e};
  if (t.type->custom) {
    if (auto e = admitCustom(t, obj, req, out.warnings, false))
      return {e->code, nullptr, e, out.warnings};
  }
  applyBuiltinDefaults(*t.type, obj);
  if (t.type->resource == "namespaces") obj["status"] = {{"phase", "Active"}};
  api::FieldErrors errs = validateObject(*t.type, obj);
  if (t.type->resource == "customresourcedefinitions" && !name.empty()) {
    const Json& spec = obj.value("spec", Json::object());
    std::string want =
        spec.value("names", Json::object()).value("plural", "") + "." + spec.value("group", "");
    if (name != want)
      errs.invalid(api::FieldPath("metadata.name"), name,
                   "must be spec.names.plural+\".\"+spec.group");
  }
  if (!errs.empty()) return {422, nullptr, invalid(*t.type, name, errs), out.warnings};
  if (findLocked(*t.type, t.ns, name) != nullptr) {
    Json details = {{"name", name}};
    if (!t.type->group.empty()) details["group"] = t.type->group;
    details["kind"] = t.type->resource;
    return {409, nullptr,
            ApiError{409, "AlreadyExists",
                     t.type->qualifiedResource() + " \"" + name + "\" already exists", details}};
  }
  if (t.type->resource == "customresourcedefinitions") {
    Json& spec = obj["spec"];
    if (!spec.contains("conversion")) spec["conversion"] = {{"strategy", "None"}};
    obj["status"] = {{"conditions", Json::array()},
                     {"acceptedNames", {{"plural", ""}, {"kind", ""}}},
                     {"storedVersions", Json::array()}};
  }
  stampNew(*t.type, obj, managerOf(req));
  if (dryRun(req)) {
    out.code = 201;
    out.body = forOutput(*t.type, obj);
    return out;
  }
  storeLocked(t.type, obj, "ADDED");
  out.code = 201;
  out.body = forOutput(*t.type, obj);
  if (t.type->resource == "customresourcedefinitions") onCrdWritten(obj);
  // kube-controller-manager publishes kube-root-ca.crt within milliseconds of a namespace's
  // creation; doing it here, not on the controller's next tick, keeps a busy machine from
  // showing clients a namespace without it.
  if (t.type->resource == "namespaces") publishRootCaLocked();
  return out;
}

ApiServer::Impl::Outcome ApiServer::Impl::update(const HttpRequest& req, const Target& t) {
  Outcome out;
  if (t.sub == "scale") {
    Json scale = Json::parse(req.body, nullptr, false);
    if (scale.is_discarded() || !scale.is_object())
      return {400, nullptr,
              badRequest("the object provided is unrecognized (must be of type Scale)")};
    std::lock_guard lock(mu_);
    const Json* current = findLocked(*t.type, t.ns, t.name);
    if (current == nullptr) return {404, nullptr, notFound(*t.type, t.name)};
    Json next = *current;
    Json replicas = scale.value("spec", Json::object()).value("replicas", Json(0));
    setFieldPath(next, t.type->scale_spec_path, replicas);
    Outcome r = commitUpdate(req, t, *current, next, managerOf(req));
    if (!r.error) r.body = scaleOf(*t.type, *findLocked(*t.type, t.ns, t.name));
    return r;
  }
  Json obj;
  if (auto e = decodeBody(req, t, obj, out.warnings)) return {e->code, nullptr, e, out.warnings};
  Json& meta = obj["metadata"];
  std::string body_name = meta.value("name", "");
  if (!body_name.empty() && body_name != t.name) {
    return {400, nullptr,
            badRequest("the name of the object (" + body_name +
                       ") does not match the name on the URL (" + t.name + ")")};
  }
  if (t.type->namespaced) {
    std::string body_ns = meta.value("namespace", "");
    if (!body_ns.empty() && body_ns != t.ns) {
      return {400, nullptr,
              badRequest("the namespace of the provided object does not match the namespace sent "
                         "on the request")};
    }
  }
  std::lock_guard lock(mu_);
  const Json* found = findLocked(*t.type, t.ns, t.name);
  if (found == nullptr) return {404, nullptr, notFound(*t.type, t.name)};
  Json current = *found;
  std::string rv = meta.value("resourceVersion", "");
  if (!rv.empty() && rv != current["metadata"].value("resourceVersion", "")) {
    return {409, nullptr, conflictModified(*t.type, t.name)};
  }
  Json next = applyStatusRule(t.sub == "status", t.type->has_status, current, obj);
  if (t.type->custom) {
    if (auto e = admitCustom(t, next, req, out.warnings, t.sub == "status"))
      return {e->code, nullptr, e, out.warnings};
  }
  Outcome r = commitUpdate(req, t, current, next, managerOf(req));
  r.warnings.insert(r.warnings.begin(), out.warnings.begin(), out.warnings.end());
  return r;
}

ApiServer::Impl::Outcome ApiServer::Impl::commitUpdate(const HttpRequest& req, const Target& t,
                                                       const Json& current, Json next,
                                                       const std::string& manager,
                                                       bool skip_managed_fields) {
  const Json& cur_meta = current["metadata"];
  // ordered_json keeps members in a vector: inserting a top-level key moves "metadata", so
  // every use below looks it up again instead of holding a reference.
  next["apiVersion"] = current["apiVersion"];
  next["kind"] = current["kind"];
  if (!next.contains("metadata") || !next["metadata"].is_object())
    next["metadata"] = Json::object();
  Json& meta = next["metadata"];
  for (const char* keep : {"name", "namespace", "uid", "creationTimestamp", "generation",
                           "deletionTimestamp", "deletionGracePeriodSeconds"}) {
    if (cur_meta.contains(keep)) {
      meta[keep] = cur_meta[keep];
    } else {
      meta.erase(keep);
    }
  }
  if (!skip_managed_fields) {
    if (cur_meta.contains("managedFields")) {
      meta["managedFields"] = cur_meta["managedFields"];
    } else {
      meta.erase("managedFields");
    }
  }
  meta["resourceVersion"] = cur_meta.value("resourceVersion", "");
  if (cur_meta.contains("deletionTimestamp")) {
    std::vector<std::string> before = finalizersOf(current), after = finalizersOf(next), added;
    for (const auto& f : after) {
      if (std::find(before.begin(), before.end(), f) == before.end()) added.push_back(f);
    }
    if (!added.empty()) {
      std::string go = "[]string{";
      for (size_t i = 0; i < added.size(); ++i)
        go += (i ? ", " : "") + nlohmann::json(added[i]).dump();
      go += "}";
      api::FieldErrors errs;
      // kube-apiserver reports this twice (generic and per-kind ObjectMeta update validation).
      for (int i = 0; i < 2; ++i) {
        errs.forbidden(
            api::FieldPath("metadata.finalizers"),
            "no new finalizers can be added if the object is being deleted, found new finalizers " +
                go);
      }
      return {422, nullptr, invalid(*t.type, t.name, errs)};
    }
  }
  applyBuiltinDefaults(*t.type, next);
  Json& meta_after = next["metadata"];
  api::FieldErrors errs = validateObject(*t.type, next);
  if (!errs.empty()) return {422, nullptr, invalid(*t.type, t.name, errs)};
  if (usesGeneration(*t.type) && specPart(next) != specPart(current)) {
    meta_after["generation"] = cur_meta.value("generation", 0) + 1;
  }
  if (!skip_managed_fields) {
    FieldScope scope = t.sub == "status"    ? FieldScope::kStatusOnly
                       : t.type->has_status ? FieldScope::kNoStatus
                                            : FieldScope::kAll;
    UpdateContext ctx{manager, t.type->apiVersion(),
                      t.sub == "scale" || t.sub == "status" ? t.sub : "", nowRfc3339(), scope};
    recordUpdate(current, next, listKeysFor(t.type), ctx);
  }
  if (next == current) return {200, forOutput(*t.type, current)};
  if (dryRun(req)) return {200, forOutput(*t.type, next)};
  if (next["metadata"].contains("deletionTimestamp") && finalizersOf(next).empty()) {
    eraseLocked(t.type, next);
    next["metadata"]["resourceVersion"] = std::to_string(rv_);
    return {200, forOutput(*t.type, next)};
  }
  storeLocked(t.type, next, "MODIFIED");
  if (t.type->resource == "customresourcedefinitions") onCrdWritten(next);
  return {200, forOutput(*t.type, next)};
}

ApiServer::Impl::Outcome ApiServer::Impl::patch(const HttpRequest& req, const Target& t) {
  std::string content_type = req.header("content-type");
  content_type = trim(content_type.substr(0, content_type.find(';')));
  bool apply = content_type == "application/apply-patch+yaml";
  bool smp = content_type == "application/strategic-merge-patch+json";
  if (smp && t.type->custom) {
    return {
        415, nullptr,
        ApiError{415, "UnsupportedMediaType",
                 "the body of the request was in an unknown format - accepted media types include: "
                 "application/json-patch+json, application/merge-patch+json, "
                 "application/apply-patch+yaml"}};
  }
  if (!apply && !smp && content_type != "application/merge-patch+json" &&
      content_type != "application/json-patch+json") {
    return {415, nullptr,
            ApiError{415, "UnsupportedMediaType", "415: Unsupported Media Type", Json::object()}};
  }
  Outcome out;
  if (apply) {
    auto manager = req.param("fieldManager");
    if (!manager || manager->empty()) {
      Json details = {
          {"name", ""},
          {"group", "meta.k8s.io"},
          {"kind", "PatchOptions"},
          {"causes", Json::array({{{"reason", "FieldValueRequired"},
                                   {"message", "Required value: is required for apply patch"},
                                   {"field", "fieldManager"}}})}};
      return {422, nullptr,
              ApiError{422, "Invalid",
                       "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is "
                       "required for apply patch",
                       details}};
    }
    auto docs = api::parseDocuments(req.body);
    if (!docs.isOk() || docs->size() != 1 || !(*docs)[0].is_object()) {
      return {400, nullptr,
              badRequest("error decoding YAML: " + (docs.isOk() ? std::string("expected one object")
                                                                : docs.status().message()))};
    }
    Json applied = Json::parse((*docs)[0].dump());
    if (applied.value("kind", "") != t.type->kind) {
      return {400, nullptr,
              badRequest("the kind of the applied object (" + applied.value("kind", "") +
                         ") does not match " + t.type->kind)};
    }
    if (!applied.contains("metadata") || !applied["metadata"].is_object())
      applied["metadata"] = Json::object();
    std::string body_name = applied["metadata"].value("name", "");
    if (!body_name.empty() && body_name != t.name) {
      return {400, nullptr,
              badRequest("the name of the object (" + body_name +
                         ") does not match the name on the URL (" + t.name + ")")};
    }
    applied["metadata"]["name"] = t.name;
    if (t.type->namespaced) applied["metadata"]["namespace"] = t.ns;
    bool force = req.param("force").value_or("") == "true";
    std::lock_guard lock(mu_);
    const Json* found = findLocked(*t.type, t.ns, t.name);
    UpdateContext ctx{*manager, t.type->apiVersion(), t.sub, nowRfc3339(),
                      t.sub == "status"    ? FieldScope::kStatusOnly
                      : t.type->has_status ? FieldScope::kNoStatus
                                           : FieldScope::kAll};
    if (t.type->custom) {
      Json checked = applied;
      if (auto e = admitCustom(t, checked, req, out.warnings, false)) {
        // An apply configuration may be partial: only type errors matter, not missing fields.
        bool only_required = e->code == 422;
        for (const auto& c : e->details.value("causes", Json::array())) {
          if (c.value("reason", "") != "FieldValueRequired" && c.value("field", "") != "<nil>")
            only_required = false;
        }
        if (!only_required || found == nullptr) return {e->code, nullptr, e, out.warnings};
      }
    }
    if (found == nullptr) {
      Target named = t;
      if (auto e = checkNamespace(named, true)) return {e->code, nullptr, e};
      ApplyResult r = serverSideApply(nullptr, applied, listKeysFor(t.type), ctx, force);
      Json obj = r.object;
      obj["apiVersion"] = t.type->apiVersion();
      obj["kind"] = t.type->kind;
      if (t.type->custom) {
        if (auto e = admitCustom(t, obj, req, out.warnings, false))
          return {e->code, nullptr, e, out.warnings};
      }
      applyBuiltinDefaults(*t.type, obj);
      api::FieldErrors errs = validateObject(*t.type, obj);
      if (!errs.empty()) return {422, nullptr, invalid(*t.type, t.name, errs)};
      Json mf = obj["metadata"]["managedFields"];
      obj["metadata"]["uid"] = randomUuid();
      obj["metadata"]["creationTimestamp"] = nowRfc3339();
      if (usesGeneration(*t.type)) obj["metadata"]["generation"] = 1;
      obj["metadata"]["managedFields"] = mf;
      if (dryRun(req)) return {201, forOutput(*t.type, obj), std::nullopt, out.warnings};
      storeLocked(t.type, obj, "ADDED");
      if (t.type->resource == "customresourcedefinitions") onCrdWritten(obj);
      return {201, forOutput(*t.type, obj), std::nullopt, out.warnings};
    }
    Json current = *found;
    ApplyResult r = serverSideApply(current, applied, listKeysFor(t.type), ctx, force);
    if (!r.conflicts.empty()) {
      std::vector<ApplyConflict> sorted = r.conflicts;
      std::sort(sorted.begin(), sorted.end(),
                [](const auto& a, const auto& b) { return a.field < b.field; });
      Json causes = Json::array();
      for (const auto& c : sorted)
        causes.push_back(
            {{"reason", "FieldManagerConflict"}, {"message", c.message}, {"field", c.field}});
      return {409, nullptr,
              ApiError{409, "Conflict", conflictMessage(sorted), {{"causes", causes}}}};
    }
    Json next = r.object;
    if (t.type->custom) {
      if (auto e = admitCustom(t, next, req, out.warnings, t.sub == "status"))
        return {e->code, nullptr, e, out.warnings};
    }
    Outcome o = commitUpdate(req, t, current, next, *manager, true);
    o.warnings.insert(o.warnings.begin(), out.warnings.begin(), out.warnings.end());
    return o;
  }

  Json patch_doc = Json::parse(req.body, nullptr, false);
  if (patch_doc.is_discarded())
    return {400, nullptr, badRequest("error decoding patch: invalid JSON")};
  std::lock_guard lock(mu_);
  const Json* found = findLocked(*t.type, t.ns, t.name);
  if (found == nullptr) return {404, nullptr, notFound(*t.type, t.name)};
  Json current = *found;
  Json base = t.sub == "scale" ? scaleOf(*t.type, current) : forOutput(*t.type, current);
  Json patched = base;
  if (content_type == "application/json-patch+json") {
    if (!applyJsonPatch(patched, patch_doc).isOk()) {
      return {
          422, nullptr,
          ApiError{422, "Invalid", "the server rejected our request due to an error in our request",
                   Json::object()}};
    }
  } else if (content_type == "application/merge-patch+json") {
    if (!patch_doc.is_object())
      return {400, nullptr,
              badRequest("error decoding patch: a merge patch must be a JSON object")};
    applyMergePatch(patched, patch_doc);
  } else {
    if (!patch_doc.is_object())
      return {400, nullptr,
              badRequest("error decoding patch: a strategic merge patch must be a JSON object")};
    if (!applyStrategicMergePatch(patched, patch_doc).isOk()) {
      return {
          422, nullptr,
          ApiError{422, "Invalid", "the server rejected our request due to an error in our request",
                   Json::object()}};
    }
  }
  if (!patched.is_object())
    return {
        422, nullptr,
        ApiError{422, "Invalid", "the server rejected our request due to an error in our request",
                 Json::object()}};
  if (!patched.contains("metadata") || !patched["metadata"].is_object())
    patched["metadata"] = Json::object();
  std::string rv = patched["metadata"].value("resourceVersion", "");
  if (!rv.empty() && rv != current["metadata"].value("resourceVersion", ""))
    return {409, nullptr, conflictModified(*t.type, t.name)};
  if (patched["metadata"].value("name", t.name) != t.name) {
    return {400, nullptr,
            badRequest("the name of the object (" + patched["metadata"].value("name", "") +
                       ") does not match the name on the URL (" + t.name + ")")};
  }
  Json next;
  if (t.sub == "scale") {
    next = current;
    Json replicas = patched.value("spec", Json::object()).value("replicas", Json(0));
    setFieldPath(next, t.type->scale_spec_path, replicas);
  } else {
    next = applyStatusRule(t.sub == "status", t.type->has_status, current, patched);
  }
  if (t.type->custom) {
    if (auto e = admitCustom(t, next, req, out.warnings, t.sub == "status"))
      return {e->code, nullptr, e, out.warnings};
  }
  Outcome o = commitUpdate(req, t, current, next, managerOf(req));
  if (t.sub == "scale" && !o.error) {
    const Json* now = findLocked(*t.type, t.ns, t.name);
    if (now != nullptr) o.body = scaleOf(*t.type, *now);
  }
  o.warnings.insert(o.warnings.begin(), out.warnings.begin(), out.warnings.end());
  return o;
}

ApiServer::Impl::Outcome ApiServer::Impl::remove(const HttpRequest& req, const Target& t) {
  Json options = req.body.empty() ? Json::object() : Json::parse(req.body, nullptr, false);
  if (options.is_discarded() || !options.is_object())
    return {400, nullptr, badRequest("the body of a delete must be a DeleteOptions object")};
  std::string policy =
      req.param("propagationPolicy").value_or(options.value("propagationPolicy", ""));
  if (policy.empty()) {
    bool orphan = req.param("orphanDependents").value_or("") == "true" ||
                  options.value("orphanDependents", false);
    policy = orphan ? "Orphan" : "Background";
  }
  if (policy != "Background" && policy != "Foreground" && policy != "Orphan") {
    api::FieldErrors errs;
    errs.notSupported(api::FieldPath("propagationPolicy"), policy,
                      {"Foreground", "Background", "Orphan", "nil"});
    return {422, nullptr, invalid(*t.type, t.name, errs)};
  }
  std::lock_guard lock(mu_);
  const Json* found = findLocked(*t.type, t.ns, t.name);
  if (found == nullptr) return {404, nullptr, notFound(*t.type, t.name)};
  const Json& meta = (*found)["metadata"];
  Json pre = options.value("preconditions", Json::object());
  Json details = {{"name", t.name}};
  if (!t.type->group.empty()) details["group"] = t.type->group;
  details["kind"] = t.type->resource;
  if (pre.contains("uid") && pre["uid"].is_string() &&
      pre["uid"].get<std::string>() != meta.value("uid", "")) {
    return {409, nullptr,
            ApiError{409, "Conflict",
                     "Operation cannot be fulfilled on " + t.type->kind + " \"" + t.name +
                         "\": the UID in the precondition (" + pre["uid"].get<std::string>() +
                         ") does not match the UID in record (" + meta.value("uid", "") +
                         "). The object might have been deleted and then recreated",
                     details}};
  }
  if (pre.contains("resourceVersion") && pre["resourceVersion"].is_string() &&
      pre["resourceVersion"].get<std::string>() != meta.value("resourceVersion", "")) {
    return {
        409, nullptr,
        ApiError{409, "Conflict",
                 "Operation cannot be fulfilled on " + t.type->kind + " \"" + t.name +
                     "\": the ResourceVersion in the precondition (" +
                     pre["resourceVersion"].get<std::string>() +
                     ") does not match the ResourceVersion in record (" +
                     meta.value("resourceVersion", "") + "). The object might have been modified",
                 details}};
  }
  return deleteLocked(t.type, *found, policy, dryRun(req));
}

ApiServer::Impl::Outcome ApiServer::Impl::deleteLocked(const ResourceTypePtr& type, const Json& obj,
                                                       const std::string& policy, bool dry_run) {
  Json next = obj;
  if (type->resource == "namespaces") {
    if (!next["metadata"].contains("deletionTimestamp")) {
      next["metadata"]["deletionTimestamp"] = nowRfc3339();
      next["metadata"]["deletionGracePeriodSeconds"] = 0;
      next["status"]["phase"] = "Terminating";
      if (!dry_run) storeLocked(type, next, "MODIFIED");
    }
    return {200, forOutput(*type, next)};
  }
  Json& meta = next["metadata"];
  std::vector<std::string> finalizers = finalizersOf(next);
  auto add = [&](const std::string& f) {
    if (std::find(finalizers.begin(), finalizers.end(), f) == finalizers.end())
      finalizers.push_back(f);
  };
  if (policy == "Foreground") add("foregroundDeletion");
  if (policy == "Orphan") add("orphan");
  if (!finalizers.empty()) {
    bool changed = !meta.contains("deletionTimestamp") || finalizers != finalizersOf(obj);
    setFinalizers(next, finalizers);
    if (!meta.contains("deletionTimestamp")) {
      meta["deletionTimestamp"] = nowRfc3339();
      meta["deletionGracePeriodSeconds"] = 0;
    }
    if (changed && !dry_run) storeLocked(type, next, "MODIFIED");
    return {200, forOutput(*type, next)};
  }
  Json details = {{"name", meta.value("name", "")}};
  if (!type->group.empty()) details["group"] = type->group;
  details["kind"] = type->resource;
  details["uid"] = meta.value("uid", "");
  if (!dry_run) eraseLocked(type, next);
  return {200, Json{{"kind", "Status"},
                    {"apiVersion", "v1"},
                    {"metadata", Json::object()},
                    {"status", "Success"},
                    {"details", details}}};
}

ApiServer::Impl::Outcome ApiServer::Impl::removeCollection(const HttpRequest& req,
                                                           const Target& t) {
  std::vector<Requirement> labels, fields;
  std::string error;
  if (!parseLabelSelector(req.param("labelSelector").value_or(""), labels, error)) {
    return {400, nullptr, badRequest("unable to parse requirement: " + error)};
  }
  if (!parseFieldSelector(*t.type, req.param("fieldSelector").value_or(""), fields, error))
    return {400, nullptr, badRequest(error)};
  std::lock_guard lock(mu_);
  std::string prefix = t.ns.empty() ? "" : t.ns + "/";
  std::vector<Json> victims;
  for (const auto& [key, obj] : objects_[t.type->storageKey()]) {
    if (!prefix.empty() && key.compare(0, prefix.size(), prefix) != 0) continue;
    if (!matchesRequirements(obj["metadata"].value("labels", Json::object()), labels) ||
        !matchesFields(obj, fields))
      continue;
    victims.push_back(obj);
  }
  Json items = Json::array();
  for (const auto& v : victims) {
    deleteLocked(t.type, v, "Background", dryRun(req));
    Json o = forOutput(*t.type, v);
    if (!t.type->custom) {
      o.erase("kind");
      o.erase("apiVersion");
    }
    items.push_back(o);
  }
  return {200, Json{{"kind", t.type->kind + "List"},
                    {"apiVersion", t.type->apiVersion()},
                    {"metadata", {{"resourceVersion", std::to_string(rv_)}}},
                    {"items", items}}};
}

Json ApiServer::Impl::scaleOf(const ResourceType& type, const Json& obj) const {
  const Json& meta = obj["metadata"];
  Json out_meta = {{"name", meta.value("name", "")}};
  if (meta.contains("namespace")) out_meta["namespace"] = meta["namespace"];
  out_meta["uid"] = meta.value("uid", "");
  out_meta["resourceVersion"] = meta.value("resourceVersion", "");
  out_meta["creationTimestamp"] = meta.value("creationTimestamp", "");
  Json spec_replicas = evalJsonPath(obj, type.scale_spec_path);
  Json status_replicas = evalJsonPath(obj, type.scale_status_path);
  Json status = {{"replicas", status_replicas.is_null() ? Json(0) : status_replicas}};
  if (type.custom) {
    if (!type.scale_selector_path.empty()) {
      Json sel = evalJsonPath(obj, type.scale_selector_path);
      if (sel.is_string()) status["selector"] = sel;
    }
  } else {
    std::string sel;
    const Json match_labels = obj.value("spec", Json::object())
                                  .value("selector", Json::object())
                                  .value("matchLabels", Json::object());
    for (const auto& [k, v] : match_labels.items()) {
      sel += (sel.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    if (!sel.empty()) status["selector"] = sel;
  }
  Json spec = Json::object();
  if (!spec_replicas.is_null()) spec["replicas"] = spec_replicas;
  return Json{{"kind", "Scale"},
              {"apiVersion", "autoscaling/v1"},
              {"metadata", out_meta},
              {"spec", spec},
              {"status", status}};
}

void ApiServer::Impl::onCrdWritten(const Json& crd) {
  std::string name = crd["metadata"].value("name", "");
  registry_->removeCrd(name);
  registry_->addCrd(crd);
  const Json& status = crd.value("status", Json::object());
  bool established = false;
  for (const auto& c : status.value("conditions", Json::array())) {
    if (c.value("type", "") == "Established" && c.value("status", "") == "True") established = true;
  }
  if (established) return;
  // kube-apiserver's CRD controllers accept the names and establish the CRD within
  // milliseconds, as a second write after the create.
  Json next = crd;
  std::string now = nowRfc3339();
  Json names = crd["spec"]["names"];
  if (!names.contains("singular")) {
    std::string singular = names.value("kind", "");
    std::transform(singular.begin(), singular.end(), singular.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    names["singular"] = singular;
  }
  if (!names.contains("listKind")) names["listKind"] = names.value("kind", "") + "List";
  Json stored = Json::array();
  for (const auto& v : crd["spec"]["versions"]) {
    if (v.value("storage", false)) stored.push_back(v.value("name", ""));
  }
  next["status"] = {
      {"conditions", Json::array({{{"type", "NamesAccepted"},
                                   {"status", "True"},
                                   {"lastTransitionTime", now},
                                   {"reason", "NoConflicts"},
                                   {"message", "no conflicts found"}},
                                  {{"type", "Established"},
                                   {"status", "True"},
                                   {"lastTransitionTime", now},
                                   {"reason", "InitialNamesAccepted"},
                                   {"message", "the initial names have been accepted"}}})},
      {"acceptedNames", names},
      {"storedVersions", stored}};
  storeLocked(crd_type_, next, "MODIFIED");
}

void ApiServer::Impl::onCrdDeleted(const Json& crd) {
  std::string name = crd["metadata"].value("name", "");
  const Json& spec = crd["spec"];
  std::string storage = spec.value("group", "") + "/" + spec["names"].value("plural", "");
  auto type = type_of_storage_.find(storage);
  if (type != type_of_storage_.end()) {
    std::vector<Json> victims;
    for (const auto& [key, obj] : objects_[storage]) victims.push_back(obj);
    ResourceTypePtr t = type->second;
    for (auto& v : victims) eraseLocked(t, v);
  }
  registry_->removeCrd(name);
}

// --- watch ---------------------------------------------------------------------------------

// One watch: replays history after its resourceVersion, then waits for new events. Runs on
// the connection's thread; reads the server's store under its mutex.
class WatchStream : public ResponseStream {
 public:
  using Filter = WatchFilter;

  WatchStream(ApiServer::Impl* server, Filter filter, uint64_t cursor, Clock::time_point deadline,
              bool bookmarks, std::deque<std::string> initial, uint64_t epoch,
              std::chrono::milliseconds bookmark_interval)
      : server_(server),
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
    std::unique_lock lock(server_->mu_);
    while (true) {
      if (server_->stopping_ || server_->watch_epoch_ != epoch_) return std::nullopt;
      if (cursor_ < server_->history_floor_) {
        done_ = true;
        // The number in parentheses is the oldest resourceVersion a watch can start from.
        ApiError e{410, "Expired",
                   "too old resource version: " + std::to_string(cursor_) + " (" +
                       std::to_string(server_->history_floor_) + ")"};
        return eventLine("ERROR", statusJson(e));
      }
      auto& history = server_->history_;
      auto it = std::upper_bound(history.begin(), history.end(), cursor_,
                                 [](uint64_t rv, const WatchEvent& e) { return rv < e.rv; });
      for (; it != history.end(); ++it) {
        cursor_ = it->rv;
        if (!matches(*it)) continue;
        return eventLine(it->type, server_->watchObject(filter_, it->object));
      }
      auto now = Clock::now();
      if (now >= deadline_) return std::nullopt;
      if (next_bookmark_ && now >= *next_bookmark_) {
        next_bookmark_ = nextBookmarkTime(now);
        // Only a bookmark that moves the client forward is sent.
        if (server_->rv_ > start_rv_) {
          Json meta = {{"resourceVersion", std::to_string(server_->rv_)},
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
      server_->cv_.wait_until(lock, wake);
    }
  }

  static std::string eventLine(const std::string& type, const Json& object) {
    return dumpCompact(Json{{"type", type}, {"object", object}}) + "\n";
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

  bool matches(const WatchEvent& e) const {
    if (e.storage_key != filter_.type->storageKey()) return false;
    if (!filter_.ns.empty() && e.ns != filter_.ns) return false;
    if (!matchesRequirements(e.object["metadata"].value("labels", Json::object()), filter_.labels))
      return false;
    return matchesFields(e.object, filter_.fields);
  }

  ApiServer::Impl* server_;
  Filter filter_;
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

HttpResponse ApiServer::Impl::watch(const HttpRequest& req, const Target& t, HttpResponse res) {
  if (auto e = checkSendInitialEvents(req, true)) return errorResponse(std::move(res), *e);
  WatchStream::Filter filter{t.type, t.ns, {}, {}, std::nullopt};
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
    std::lock_guard lock(mu_);
    epoch = watch_epoch_;
    // sendInitialEvents=true (WatchList) starts with the current state whatever the
    // resourceVersion; =false never does.
    std::string send_initial = req.param("sendInitialEvents").value_or("");
    if (send_initial == "true" || (send_initial.empty() && (rv_param.empty() || rv_param == "0"))) {
      std::string prefix = t.ns.empty() ? "" : t.ns + "/";
      for (const auto& [key, obj] : objects_[t.type->storageKey()]) {
        if (!prefix.empty() && key.compare(0, prefix.size(), prefix) != 0) continue;
        if (!matchesRequirements(obj["metadata"].value("labels", Json::object()), filter.labels) ||
            !matchesFields(obj, filter.fields))
          continue;
        initial.push_back(WatchStream::eventLine("ADDED", watchObject(filter, obj)));
      }
      cursor = rv_;
      if (send_initial == "true" && bookmarks) {
        // What the recording's NOTE describes for an etcd with progress notifications: the
        // end of the initial events is a BOOKMARK annotated k8s.io/initial-events-end.
        Json meta = {{"resourceVersion", std::to_string(rv_)},
                     {"creationTimestamp", nullptr},
                     {"annotations", {{"k8s.io/initial-events-end", "true"}}}};
        Json obj = {
            {"kind", t.type->kind}, {"apiVersion", t.type->apiVersion()}, {"metadata", meta}};
        initial.push_back(WatchStream::eventLine("BOOKMARK", presentable(*t.type, obj)));
      }
    } else if (send_initial == "false" && rv_param.empty()) {
      cursor = rv_;
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

// --- controller: garbage collector and namespace lifecycle ----------------------------------

void ApiServer::Impl::controllerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, kControllerTick);
    if (stopping_) break;
    collectGarbageLocked();
    finishNamespacesLocked();
    publishRootCaLocked();
  }
}

void ApiServer::Impl::publishRootCaLocked() {
  if (options_.root_ca_pem.empty()) return;
  ResourceTypePtr configmaps = registry_->find("", "v1", "configmaps");
  std::vector<std::string> missing;
  for (const auto& [key, ns] : objects_[namespaces_type_->storageKey()]) {
    if (ns["metadata"].contains("deletionTimestamp")) continue;
    if (findLocked(*configmaps, key, "kube-root-ca.crt") == nullptr) missing.push_back(key);
  }
  for (const auto& ns : missing) {
    // What kube-controller-manager's root-ca-cert-publisher puts in every namespace.
    Json cm = {
        {"kind", "ConfigMap"},
        {"apiVersion", "v1"},
        {"metadata",
         {{"name", "kube-root-ca.crt"},
          {"namespace", ns},
          {"annotations",
           {{"kubernetes.io/description",
             "Contains a CA bundle that can be used to verify the kube-apiserver when using "
             "internal endpoints such as the internal service IP or kubernetes.default.svc. No "
             "other usage is guaranteed across distributions of Kubernetes clusters."}}}}},
        {"data", {{"ca.crt", options_.root_ca_pem}}}};
    stampNew(*configmaps, cm, "kube-controller-manager");
    storeLocked(configmaps, cm, "ADDED");
  }
}

void ApiServer::Impl::collectGarbageLocked() {
  struct Ref {
    std::string storage;
    std::string key;
  };
  std::vector<Ref> with_owners, deleting;
  for (const auto& [storage, bucket] : objects_) {
    for (const auto& [key, obj] : bucket) {
      const Json& meta = obj["metadata"];
      if (meta.contains("ownerReferences") && !meta["ownerReferences"].empty())
        with_owners.push_back({storage, key});
      if (meta.contains("deletionTimestamp")) deleting.push_back({storage, key});
    }
  }
  auto lookup = [&](const Ref& r) -> const Json* {
    auto b = objects_.find(r.storage);
    if (b == objects_.end()) return nullptr;
    auto it = b->second.find(r.key);
    return it == b->second.end() ? nullptr : &it->second;
  };
  auto dependentsOf = [&](const std::string& uid) {
    std::vector<std::pair<Ref, bool>> out;  // dependent, blockOwnerDeletion
    for (const auto& r : with_owners) {
      const Json* obj = lookup(r);
      if (obj == nullptr) continue;
      const Json refs = (*obj)["metadata"].value("ownerReferences", Json::array());
      for (const auto& ref : refs) {
        if (ref.value("uid", "") == uid) out.push_back({r, ref.value("blockOwnerDeletion", false)});
      }
    }
    return out;
  };

  // Owners being deleted with foreground or orphan propagation.
  for (const auto& r : deleting) {
    const Json* found = lookup(r);
    if (found == nullptr) continue;
    Json owner = *found;
    ResourceTypePtr type = type_of_storage_[r.storage];
    std::vector<std::string> finalizers = finalizersOf(owner);
    std::string uid = owner["metadata"].value("uid", "");
    bool foreground =
        std::find(finalizers.begin(), finalizers.end(), "foregroundDeletion") != finalizers.end();
    bool orphan = std::find(finalizers.begin(), finalizers.end(), "orphan") != finalizers.end();
    if (!foreground && !orphan) continue;
    auto dependents = dependentsOf(uid);
    if (orphan) {
      for (const auto& [dep_ref, block] : dependents) {
        const Json* dep = lookup(dep_ref);
        if (dep == nullptr) continue;
        Json next = *dep;
        Json refs = Json::array();
        for (const auto& ref : next["metadata"].value("ownerReferences", Json::array())) {
          if (ref.value("uid", "") != uid) refs.push_back(ref);
        }
        if (refs.empty()) {
          next["metadata"].erase("ownerReferences");
        } else {
          next["metadata"]["ownerReferences"] = refs;
        }
        storeLocked(type_of_storage_[dep_ref.storage], next, "MODIFIED");
      }
      finalizers.erase(std::find(finalizers.begin(), finalizers.end(), "orphan"));
    } else {
      bool blocked = false;
      for (const auto& [dep_ref, block] : dependents) {
        const Json* dep = lookup(dep_ref);
        if (dep == nullptr) continue;
        if (!(*dep)["metadata"].contains("deletionTimestamp")) {
          deleteLocked(type_of_storage_[dep_ref.storage], *dep, "Foreground", false);
        }
        if (block && lookup(dep_ref) != nullptr) blocked = true;
      }
      if (blocked) continue;
      finalizers.erase(std::find(finalizers.begin(), finalizers.end(), "foregroundDeletion"));
    }
    setFinalizers(owner, finalizers);
    if (finalizers.empty()) {
      eraseLocked(type, owner);
    } else {
      storeLocked(type, owner, "MODIFIED");
    }
  }

  // Dependents whose owners are gone: deleted when no owner is left, else the dangling
  // references are dropped.
  for (const auto& r : with_owners) {
    const Json* found = lookup(r);
    if (found == nullptr) continue;
    const Json refs = (*found)["metadata"].value("ownerReferences", Json::array());
    if (refs.empty()) continue;
    Json alive = Json::array();
    for (const auto& ref : refs) {
      if (uids_.count(ref.value("uid", ""))) alive.push_back(ref);
    }
    if (alive.size() == refs.size()) continue;
    ResourceTypePtr type = type_of_storage_[r.storage];
    if (alive.empty()) {
      if (!(*found)["metadata"].contains("deletionTimestamp"))
        deleteLocked(type, *found, "Background", false);
    } else {
      Json next = *found;
      next["metadata"]["ownerReferences"] = alive;
      storeLocked(type, next, "MODIFIED");
    }
  }
}

void ApiServer::Impl::finishNamespacesLocked() {
  std::vector<Json> terminating;
  for (const auto& [key, ns] : objects_[namespaces_type_->storageKey()]) {
    if (ns["metadata"].contains("deletionTimestamp")) terminating.push_back(ns);
  }
  long long now = static_cast<long long>(std::time(nullptr));
  for (const auto& ns : terminating) {
    // Like kube-controller-manager, take a moment: clients see the Terminating phase.
    long long since = parseRfc3339(ns["metadata"].value("deletionTimestamp", ""));
    if (now - since < options_.namespace_delete_seconds) continue;
    std::string prefix = ns["metadata"].value("name", "") + "/";
    size_t remaining = 0;
    std::vector<std::pair<ResourceTypePtr, Json>> victims;
    for (const auto& [storage, bucket] : objects_) {
      for (auto it = bucket.lower_bound(prefix);
           it != bucket.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        ++remaining;
        if (!it->second["metadata"].contains("deletionTimestamp"))
          victims.push_back({type_of_storage_[storage], it->second});
      }
    }
    for (auto& [type, obj] : victims) deleteLocked(type, obj, "Background", false);
    if (remaining == 0) eraseLocked(namespaces_type_, ns);
  }
}

// --- Table output --------------------------------------------------------------------------

namespace {

// kube-apiserver's built-in printers (pkg/printers/internalversion), as far as the recording
// shows them: the column definitions word for word, and each row's cells computed as the
// printer does. A printer prints every column, the wide ones (priority 1) included.
struct PrinterColumn {
  std::string name, type, format, description;
  int priority = 0;
  std::function<Json(const Json&)> cell;
};

constexpr const char* kNameDescription =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr const char* kAgeDescription =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

std::function<Json(const Json&)> atPath(std::string path) {
  return [path = std::move(path)](const Json& obj) { return evalJsonPath(obj, path); };
}

// A string field, "" when unset (Go's zero value), or `none` when the printer says "<none>".
std::function<Json(const Json&)> stringAt(std::string path, std::string none = "") {
  return [path = std::move(path), none = std::move(none)](const Json& obj) -> Json {
    Json v = evalJsonPath(obj, path);
    if (!v.is_string() || v.get<std::string>().empty()) return none;
    return v;
  };
}

Json ageCell(const Json& obj) {
  Json v = evalJsonPath(obj, ".metadata.creationTimestamp");
  return v.is_string() ? Json(ageOf(v.get<std::string>())) : Json("<unknown>");
}

long long intAt(const Json& obj, const std::string& path) {
  Json v = evalJsonPath(obj, path);
  return v.is_number_integer() ? v.get<long long>() : 0;
}

std::string joined(const Json& items, const char* key) {
  std::string out;
  for (const auto& item : items.is_array() ? items : Json::array()) {
    if (!out.empty()) out += ",";
    out += item.value(key, "");
  }
  return out;
}

// metav1.FormatLabelSelector: requirements sorted by key, "<none>" when empty.
std::string formatLabelSelector(const Json& selector) {
  if (!selector.is_object()) return "<none>";
  std::vector<std::pair<std::string, std::string>> parts;
  const Json match_labels = selector.value("matchLabels", Json::object());
  for (const auto& [key, value] : match_labels.items()) {
    parts.push_back({key, key + "=" + (value.is_string() ? value.get<std::string>() : "")});
  }
  for (const auto& e : selector.value("matchExpressions", Json::array())) {
    std::string key = e.value("key", "");
    std::string op = e.value("operator", "");
    std::vector<std::string> values;
    for (const auto& v : e.value("values", Json::array()))
      if (v.is_string()) values.push_back(v.get<std::string>());
    std::sort(values.begin(), values.end());
    std::string list;
    for (const auto& v : values) list += (list.empty() ? "" : ",") + v;
    if (op == "In")
      parts.push_back({key, key + " in (" + list + ")"});
    else if (op == "NotIn")
      parts.push_back({key, key + " notin (" + list + ")"});
    else if (op == "Exists")
      parts.push_back({key, key});
    else if (op == "DoesNotExist")
      parts.push_back({key, "!" + key});
  }
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [key, text] : parts) out += (out.empty() ? "" : ",") + text;
  return out.empty() ? "<none>" : out;
}

// printPod's STATUS column: the phase, overridden by the pod's reason, then by the first
// unfinished init container, then by the containers' waiting or terminated reasons.
std::string podStatus(const Json& pod) {
  const Json status = pod.value("status", Json::object());
  std::string reason = status.value("phase", "");
  if (!status.value("reason", "").empty()) reason = status.value("reason", "");
  auto exitReason = [](const Json& terminated) {
    if (!terminated.value("reason", "").empty()) return terminated.value("reason", "");
    if (terminated.value("signal", 0) != 0)
      return "Signal:" + std::to_string(terminated.value("signal", 0));
    return "ExitCode:" + std::to_string(terminated.value("exitCode", 0));
  };
  bool initializing = false;
  const Json init_statuses = status.value("initContainerStatuses", Json::array());
  size_t init_count =
      pod.value("spec", Json::object()).value("initContainers", Json::array()).size();
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const Json state = init_statuses[i].value("state", Json::object());
    if (state.contains("terminated") && state["terminated"].value("exitCode", 0) == 0) continue;
    if (state.contains("terminated")) {
      reason = "Init:" + exitReason(state["terminated"]);
    } else if (state.contains("waiting") && !state["waiting"].value("reason", "").empty() &&
               state["waiting"].value("reason", "") != "PodInitializing") {
      reason = "Init:" + state["waiting"].value("reason", "");
    } else {
      reason = "Init:" + std::to_string(i) + "/" + std::to_string(init_count);
    }
    initializing = true;
    break;
  }
  if (!initializing) {
    const Json statuses = status.value("containerStatuses", Json::array());
    bool running = false;
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      const Json state = it->value("state", Json::object());
      if (state.contains("waiting") && !state["waiting"].value("reason", "").empty()) {
        reason = state["waiting"].value("reason", "");
      } else if (state.contains("terminated")) {
        reason = exitReason(state["terminated"]);
      } else if (state.contains("running") && it->value("ready", false)) {
        running = true;
      }
    }
    if (reason == "Completed" && running) reason = "Running";
  }
  if (pod["metadata"].contains("deletionTimestamp")) {
    reason = status.value("reason", "") == "NodeLost" ? "Unknown" : "Terminating";
  }
  return reason;
}

Json podReady(const Json& pod) {
  long long ready = 0;
  for (const auto& c :
       pod.value("status", Json::object()).value("containerStatuses", Json::array()))
    if (c.value("ready", false) && c.value("state", Json::object()).contains("running")) ++ready;
  size_t total = pod.value("spec", Json::object()).value("containers", Json::array()).size();
  return std::to_string(ready) + "/" + std::to_string(total);
}

Json podRestarts(const Json& pod) {
  long long restarts = 0;
  for (const auto& c :
       pod.value("status", Json::object()).value("containerStatuses", Json::array()))
    restarts += c.value("restartCount", 0);
  return std::to_string(restarts);
}

Json podReadinessGates(const Json& pod) {
  const Json gates = pod.value("spec", Json::object()).value("readinessGates", Json::array());
  if (gates.empty()) return "<none>";
  size_t ready = 0;
  for (const auto& gate : gates) {
    for (const auto& c : pod.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == gate.value("conditionType", "") && c.value("status", "") == "True")
        ++ready;
    }
  }
  return std::to_string(ready) + "/" + std::to_string(gates.size());
}

Json podIp(const Json& pod) {
  const Json ips = pod.value("status", Json::object()).value("podIPs", Json::array());
  if (!ips.empty() && !ips[0].value("ip", "").empty()) return ips[0]["ip"];
  return stringAt(".status.podIP", "<none>")(pod);
}

Json dataCount(const Json& obj) {
  return obj.value("data", Json::object()).size() + obj.value("binaryData", Json::object()).size();
}

std::vector<PrinterColumn> builtinColumns(const ResourceType& type) {
  const std::string& r = type.resource;
  std::vector<PrinterColumn> columns;
  if (r == "namespaces") {
    columns = {{"Status", "string", "", "The status of the namespace", 0, atPath(".status.phase")}};
  } else if (r == "configmaps") {
    columns = {{"Data", "string", "",
                "Data contains the configuration data. Each key must consist of alphanumeric "
                "characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the "
                "BinaryData field. The keys stored in Data must not overlap with the keys in the "
                "BinaryData field, this is enforced during validation process.",
                0, dataCount}};
  } else if (r == "secrets") {
    // Not in the recording; kept as the fake printed it before.
    columns = {{"Type", "string", "", "The type of the secret", 0, atPath(".type")},
               {"Data", "string", "", "Number of data entries", 0, [](const Json& obj) -> Json {
                  return obj.value("data", Json::object()).size() +
                         obj.value("stringData", Json::object()).size();
                }}};
  } else if (r == "leases") {
    columns = {{"Holder", "string", "",
                "holderIdentity contains the identity of the holder of a current lease. If "
                "Coordinated Leader Election is used, the holder identity must be equal to the "
                "elected LeaseCandidate.metadata.name field.",
                0, stringAt(".spec.holderIdentity")}};
  } else if (r == "deployments") {
    columns = {
        {"Ready", "string", "", "Number of the pod with ready state", 0,
         [](const Json& d) -> Json {
           return std::to_string(intAt(d, ".status.readyReplicas")) + "/" +
                  std::to_string(intAt(d, ".spec.replicas"));
         }},
        {"Up-to-date", "string", "",
         "Total number of non-terminated pods targeted by this deployment that have the desired "
         "template spec.",
         0, [](const Json& d) -> Json { return intAt(d, ".status.updatedReplicas"); }},
        {"Available", "string", "",
         "Total number of available pods (ready for at least minReadySeconds) targeted by this "
         "deployment.",
         0, [](const Json& d) -> Json { return intAt(d, ".status.availableReplicas"); }},
        {"Age", "string", "", kAgeDescription, 0, ageCell},
        {"Containers", "string", "", "Names of each container in the template.", 1,
         [](const Json& d) -> Json {
           return joined(evalJsonPath(d, ".spec.template.spec.containers"), "name");
         }},
        {"Images", "string", "", "Images referenced by each container in the template.", 1,
         [](const Json& d) -> Json {
           return joined(evalJsonPath(d, ".spec.template.spec.containers"), "image");
         }},
        {"Selector", "string", "",
         "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be "
         "the ones affected by this deployment.",
         1,
         [](const Json& d) -> Json {
           return formatLabelSelector(evalJsonPath(d, ".spec.selector"));
         }},
    };
    return columns;
  } else if (r == "pods") {
    columns = {
        {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.",
         0, podReady},
        {"Status", "string", "", "The aggregate status of the containers in this pod.", 0,
         [](const Json& pod) -> Json { return podStatus(pod); }},
        {"Restarts", "string", "",
         "The number of times the containers in this pod have been restarted and when the last "
         "container in this pod has restarted.",
         0, podRestarts},
        {"Age", "string", "", kAgeDescription, 0, ageCell},
        {"IP", "string", "",
         "podIP address allocated to the pod. Routable at least within the cluster. Empty if not "
         "yet allocated.",
         1, podIp},
        {"Node", "string", "",
         "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
         "candidate for scheduling by the scheduler defined in schedulerName. Once this field is "
         "set, the kubelet for this node becomes responsible for the lifecycle of this pod. This "
         "field should not be used to express a desire for the pod to be scheduled on a specific "
         "node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
         1, stringAt(".spec.nodeName", "<none>")},
        {"Nominated Node", "string", "",
         "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
         "cannot be scheduled right away as preemption victims receive their graceful "
         "termination periods. This field does not guarantee that the pod will be scheduled on "
         "this node. Scheduler may decide to place the pod elsewhere if other nodes become "
         "available sooner. Scheduler may also decide to give the resources on this node to a "
         "higher priority pod that is created after preemption. As a result, this field may be "
         "different than PodSpec.nodeName when the pod is scheduled.",
         1, stringAt(".status.nominatedNodeName", "<none>")},
        {"Readiness Gates", "string", "",
         "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
         "when all its containers are ready AND all conditions specified in the readiness gates "
         "have status equal to \"True\" More info: "
         "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
         1, podReadinessGates},
    };
    return columns;
  }
  columns.push_back({"Age", "string", "", kAgeDescription, 0, ageCell});
  return columns;
}

std::vector<PrinterColumn> customColumns(const ResourceType& type) {
  std::vector<PrinterColumn> columns;
  if (type.printer_columns.empty()) {
    columns.push_back(
        {"Age", "date", "",
         "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp", 0,
         ageCell});
  }
  for (const auto& c : type.printer_columns) {
    std::string path = c.value("jsonPath", "");
    std::string description = c.value("description", "");
    if (description.empty())
      description = "Custom resource definition column (in JSONPath format): " + path;
    std::string column_type = c.value("type", "string");
    auto cell = [path, column_type](const Json& obj) -> Json {
      Json v = evalJsonPath(obj, path);
      if ((column_type == "date" || path == ".metadata.creationTimestamp") && v.is_string())
        return ageOf(v.get<std::string>());
      return v;
    };
    columns.push_back({c.value("name", ""), column_type, c.value("format", ""), description,
                       c.value("priority", 0), cell});
  }
  return columns;
}

}  // namespace

Json ApiServer::Impl::table(const HttpRequest& req, const ResourceType& type,
                            const std::vector<Json>& items, const Json& list_meta) const {
  std::vector<PrinterColumn> columns = {
      {"Name", "string", "name", kNameDescription, 0, atPath(".metadata.name")}};
  for (auto& c : type.custom ? customColumns(type) : builtinColumns(type))
    columns.push_back(std::move(c));
  Json defs = Json::array();
  for (const auto& c : columns) {
    defs.push_back({{"name", c.name},
                    {"type", c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});
  }
  std::string accept = req.header("accept");
  bool v1beta1 = accept.find("as=Table;v=v1beta1") != std::string::npos &&
                 accept.find("as=Table;v=v1;") == std::string::npos;
  std::string meta_version = v1beta1 ? "meta.k8s.io/v1beta1" : "meta.k8s.io/v1";
  std::string include = req.param("includeObject").value_or("Metadata");
  Json rows = Json::array();
  for (const auto& obj : items) {
    Json cells = Json::array();
    for (const auto& c : columns) cells.push_back(c.cell(obj));
    Json row = {{"cells", cells}};
    if (include == "Object") {
      row["object"] = forOutput(type, obj);
    } else if (include == "None") {
      // RawExtension without an object still serializes: "object": null.
      row["object"] = nullptr;
    } else {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", meta_version},
                       {"metadata", orderedMeta(obj["metadata"])}};
    }
    rows.push_back(row);
  }
  return {{"kind", "Table"},
          {"apiVersion", meta_version},
          {"metadata", list_meta},
          {"columnDefinitions", defs},
          {"rows", rows}};
}

Json ApiServer::Impl::watchObject(const WatchFilter& filter, const Json& obj) const {
  if (!filter.as_table) return forOutput(*filter.type, obj);
  return table(*filter.as_table, *filter.type, {obj},
               {{"resourceVersion", obj["metadata"].value("resourceVersion", "")}});
}

// --- snapshots -----------------------------------------------------------------------------

std::string ApiServer::Impl::snapshot() const {
  std::lock_guard lock(mu_);
  Json out = {{"resourceVersion", rv_}, {"objects", Json::array()}};
  // CRDs first so that their resources are served again before their objects are loaded.
  auto crds = objects_.find(crd_type_->storageKey());
  if (crds != objects_.end()) {
    for (const auto& [key, obj] : crds->second) out["objects"].push_back(obj);
  }
  for (const auto& [storage, bucket] : objects_) {
    if (storage == crd_type_->storageKey()) continue;
    for (const auto& [key, obj] : bucket) out["objects"].push_back(obj);
  }
  return dumpCompact(out);
}

Status ApiServer::Impl::restore(const std::string& text) {
  Json in = Json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return Status::invalid("state snapshot is not JSON");
  std::lock_guard lock(mu_);
  objects_.clear();
  uids_.clear();
  history_.clear();
  for (auto obj : in.value("objects", Json::array())) {
    ResourceTypePtr type = registry_->findKind(obj.value("apiVersion", ""), obj.value("kind", ""));
    if (!type) continue;
    if (type->resource == "customresourcedefinitions") registry_->addCrd(obj);
    const Json& meta = obj["metadata"];
    std::string key = objectKey(meta.value("namespace", ""), meta.value("name", ""));
    objects_[type->storageKey()][key] = obj;
    type_of_storage_[type->storageKey()] = type;
    uids_[meta.value("uid", "")] = {type->storageKey(), key};
  }
  rv_ = std::max<uint64_t>(rv_, in.value("resourceVersion", uint64_t{1}));
  history_floor_ = rv_;
  return Status::ok();
}

// --- public wrapper ------------------------------------------------------------------------

Result<std::unique_ptr<ApiServer>> ApiServer::create(const FakeApiServerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  HERD_RETURN_IF_ERROR(impl->init());
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
void ApiServer::compactHistory() {
  impl_->compactHistory();
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
