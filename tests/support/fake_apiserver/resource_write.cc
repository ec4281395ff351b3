#include <algorithm>
#include <cstdlib>

#include "admission.h"
#include "builtin.h"
#include "managed_fields.h"
#include "objects.h"
#include "resource_handler.h"
#include "wire.h"

namespace herd::fake {
namespace {

// A pod's QoS class as the apiserver computes it: BestEffort when no container asks for or is
// limited in cpu or memory, Guaranteed when every container's cpu and memory limits are set
// and its requests (where given) equal them, Burstable otherwise.
std::string qosClass(const Json& pod) {
  bool any = false, guaranteed = true;
  const Json& spec = pod.value("spec", Json::object());
  for (const char* list : {"initContainers", "containers"}) {
    for (const auto& c : spec.value(list, Json::array())) {
      const Json& resources = c.value("resources", Json::object());
      const Json& requests = resources.value("requests", Json::object());
      const Json& limits = resources.value("limits", Json::object());
      for (const char* r : {"cpu", "memory"}) {
        any = any || requests.contains(r) || limits.contains(r);
        if (!limits.contains(r) || (requests.contains(r) && requests[r] != limits[r]))
          guaranteed = false;
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

}  // namespace

Outcome ResourceHandler::create(const HttpRequest& req, const Target& t) {
  if (!t.name.empty()) return {405, nullptr, methodNotAllowed()};
  Outcome out;
  Json obj;
  if (auto e = decodeBody(req, t, obj, out.warnings)) return {e->code, nullptr, e, out.warnings};
  Json& meta = obj["metadata"];
  if (auto e = checkBodyNamespace(t, meta)) return {e->code, nullptr, e};
  if (t.type->namespaced) {
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

  std::lock_guard lock(store_.mutex());
  Target named = t;
  named.name = name;
  if (auto e = store_.checkNamespace(named, true)) return {e->code, nullptr, e};
  if (t.type->custom) {
    if (auto e = admitCustom(t, obj, req, out.warnings, false))
      return {e->code, nullptr, e, out.warnings};
  }
  applyBuiltinDefaults(*t.type, obj);
  if (t.type->resource == "namespaces") obj["status"] = {{"phase", "Active"}};
  // A new pod is Pending with its QoS class, whatever status the client sent (the pod
  // strategy's PrepareForCreate).
  if (t.type->resource == "pods")
    obj["status"] = {{"phase", "Pending"}, {"qosClass", qosClass(obj)}};
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
  if (store_.find(*t.type, t.ns, name)) return {409, nullptr, alreadyExists(*t.type, name)};
  if (t.type->resource == "customresourcedefinitions") {
    Json& spec = obj["spec"];
    if (!spec.contains("conversion")) spec["conversion"] = {{"strategy", "None"}};
    obj["status"] = {{"conditions", Json::array()},
                     {"acceptedNames", {{"plural", ""}, {"kind", ""}}},
                     {"storedVersions", Json::array()}};
  }
  store_.stampNew(*t.type, obj, managerOf(req));
  if (dryRun(req)) {
    out.code = 201;
    out.body = forOutput(*t.type, obj);
    return out;
  }
  if (Status s = store_.create(t.type, obj); !s.isOk()) {
    ApiError e = storageError(*t.type, name, s);
    return {e.code, nullptr, e, out.warnings};
  }
  out.code = 201;
  out.body = forOutput(*t.type, obj);
  if (t.type->resource == "customresourcedefinitions") store_.onCrdWritten(obj);
  // kube-controller-manager publishes kube-root-ca.crt within milliseconds of a namespace's
  // creation; doing it here, not on the controller's next tick, keeps a busy machine from
  // showing clients a namespace without it.
  if (t.type->resource == "namespaces") on_namespace_created_();
  return out;
}

Outcome ResourceHandler::update(const HttpRequest& req, const Target& t) {
  Outcome out;
  if (t.sub == "scale") {
    Json scale = Json::parse(req.body, nullptr, false);
    if (scale.is_discarded() || !scale.is_object())
      return {400, nullptr,
              badRequest("the object provided is unrecognized (must be of type Scale)")};
    std::lock_guard lock(store_.mutex());
    std::optional<Json> current = store_.find(*t.type, t.ns, t.name);
    if (!current) return {404, nullptr, notFound(*t.type, t.name)};
    Json next = *current;
    Json replicas = scale.value("spec", Json::object()).value("replicas", Json(0));
    setFieldPath(next, t.type->scale_spec_path, replicas);
    Outcome r = commitUpdate(req, t, *current, next, managerOf(req));
    if (!r.error) r.body = scaleOf(*t.type, *store_.find(*t.type, t.ns, t.name));
    return r;
  }
  Json obj;
  if (auto e = decodeBody(req, t, obj, out.warnings)) return {e->code, nullptr, e, out.warnings};
  Json& meta = obj["metadata"];
  if (auto e = checkBodyName(t, meta.value("name", ""))) return {e->code, nullptr, e};
  if (auto e = checkBodyNamespace(t, meta)) return {e->code, nullptr, e};
  std::lock_guard lock(store_.mutex());
  std::optional<Json> found = store_.find(*t.type, t.ns, t.name);
  if (!found) return {404, nullptr, notFound(*t.type, t.name)};
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

Outcome ResourceHandler::commitUpdate(const HttpRequest& req, const Target& t, const Json& current,
                                      Json next, const std::string& manager,
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
  // The revision this update was computed from: a write in between is a conflict.
  uint64_t read = std::strtoull(cur_meta.value("resourceVersion", "0").c_str(), nullptr, 10);
  if (dryRun(req)) return {200, forOutput(*t.type, next)};
  if (next["metadata"].contains("deletionTimestamp") && finalizersOf(next).empty()) {
    if (Status s = store_.erase(t.type, next, read); !s.isOk()) {
      ApiError e = storageError(*t.type, t.name, s);
      return {e.code, nullptr, e};
    }
    // Erasing a CRD erases its objects too: the answer carries the revision after them all.
    next["metadata"]["resourceVersion"] = std::to_string(store_.storage().revision());
    return {200, forOutput(*t.type, next)};
  }
  if (Status s = store_.update(t.type, next, read); !s.isOk()) {
    ApiError e = storageError(*t.type, t.name, s);
    return {e.code, nullptr, e};
  }
  if (t.type->resource == "customresourcedefinitions") store_.onCrdWritten(next);
  return {200, forOutput(*t.type, next)};
}

Outcome ResourceHandler::remove(const HttpRequest& req, const Target& t) {
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
  std::lock_guard lock(store_.mutex());
  std::optional<Json> found = store_.find(*t.type, t.ns, t.name);
  if (!found) return {404, nullptr, notFound(*t.type, t.name)};
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
  return {200, store_.remove(t.type, *found, policy, dryRun(req))};
}

}  // namespace herd::fake
