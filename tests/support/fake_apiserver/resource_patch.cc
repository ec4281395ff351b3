#include <algorithm>

#include "admission.h"
#include "builtin.h"
#include "common/yaml.h"
#include "managed_fields.h"
#include "objects.h"
#include "patch.h"
#include "resource_handler.h"
#include "wire.h"

namespace herd::fake {

Outcome ResourceHandler::patch(const HttpRequest& req, const Target& t) {
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
  if (apply) return this->apply(req, t);
  Outcome out;
  Json patch_doc = Json::parse(req.body, nullptr, false);
  if (patch_doc.is_discarded())
    return {400, nullptr, badRequest("error decoding patch: invalid JSON")};
  std::lock_guard lock(store_.mutex());
  std::optional<Json> found = store_.find(*t.type, t.ns, t.name);
  if (!found) return {404, nullptr, notFound(*t.type, t.name)};
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
    std::optional<Json> now = store_.find(*t.type, t.ns, t.name);
    if (now) o.body = scaleOf(*t.type, *now);
  }
  o.warnings.insert(o.warnings.begin(), out.warnings.begin(), out.warnings.end());
  return o;
}

Outcome ResourceHandler::apply(const HttpRequest& req, const Target& t) {
  Outcome out;
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
  auto docs = parseDocuments(req.body);
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
  if (auto e = checkBodyName(t, applied["metadata"].value("name", "")))
    return {e->code, nullptr, e};
  applied["metadata"]["name"] = t.name;
  if (t.type->namespaced) applied["metadata"]["namespace"] = t.ns;
  bool force = req.param("force").value_or("") == "true";
  std::lock_guard lock(store_.mutex());
  std::optional<Json> found = store_.find(*t.type, t.ns, t.name);
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
      if (!only_required || !found) return {e->code, nullptr, e, out.warnings};
    }
  }
  if (!found) {
    Target named = t;
    if (auto e = store_.checkNamespace(named, true)) return {e->code, nullptr, e};
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
    if (Status s = store_.create(t.type, obj); !s.isOk()) {
      ApiError e = storageError(*t.type, t.name, s);
      return {e.code, nullptr, e, out.warnings};
    }
    if (t.type->resource == "customresourcedefinitions") store_.onCrdWritten(obj);
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
    return {409, nullptr, ApiError{409, "Conflict", conflictMessage(sorted), {{"causes", causes}}}};
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

}  // namespace herd::fake
