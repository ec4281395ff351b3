#include <algorithm>
#include <cstdlib>

#include "admission.h"
#include "common/base64.h"
#include "managed_fields.h"
#include "objects.h"
#include "resource_handler.h"
#include "selectors.h"
#include "table.h"
#include "wire.h"

namespace herd::fake {

Outcome ResourceHandler::get(const HttpRequest& req, const Target& t) {
  std::lock_guard lock(store_.mutex());
  std::optional<Json> obj = store_.find(*t.type, t.ns, t.name);
  if (!obj) return {404, nullptr, notFound(*t.type, t.name)};
  if (t.sub == "scale") return {200, scaleOf(*t.type, *obj)};
  if (req.header("accept").find("as=Table") != std::string::npos) {
    // A single object's Table carries the object's own resourceVersion.
    return {200, tableOf(req, *t.type, {*obj},
                         {{"resourceVersion", (*obj)["metadata"].value("resourceVersion", "")}})};
  }
  if (req.header("accept").find("as=PartialObjectMetadata") != std::string::npos) {
    return {200, Json{{"kind", "PartialObjectMetadata"},
                      {"apiVersion", "meta.k8s.io/v1"},
                      {"metadata", orderedMeta((*obj)["metadata"])}}};
  }
  return {200, forOutput(*t.type, *obj)};
}

Outcome ResourceHandler::reviewSelf(const HttpRequest& req, const Identity& id,
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
      if (!type) type = registry_.find(ra.value("group", ""), v, ra.value("resource", ""));
    }
    if (type) {
      Target asked{type, ra.value("namespace", ""), ra.value("name", ""),
                   ra.value("subresource", ""), ra.value("verb", "")};
      allowed = authorizeResource(id, asked, options_.allow);
    }
  } else if (spec.contains("nonResourceAttributes")) {
    allowed = authorizePath(id, spec["nonResourceAttributes"].value("path", ""));
  }
  review["status"] = {{"allowed", allowed}};
  return {201, review};
}

Outcome ResourceHandler::list(const HttpRequest& req, const Target& t) {
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
  std::lock_guard lock(store_.mutex());
  const Storage& storage = store_.storage();
  std::string start;
  if (auto c = req.param("continue"); c && !c->empty()) {
    Result<std::string> decoded = base64UrlDecode(*c);
    Json token;
    if (decoded.isOk()) token = Json::parse(*decoded, nullptr, false);
    if (token.is_discarded() || !token.is_object() || !token.contains("start") ||
        !token.contains("rv")) {
      return {400, nullptr,
              badRequest("invalid continue token: continue key is not valid: invalid character '" +
                         std::string("\\u0081") + "' looking for beginning of value")};
    }
    start = token.value("start", "");
    long long token_rv = token["rv"].is_number() ? token["rv"].get<long long>() : 0;
    if (token_rv > 0 && static_cast<uint64_t>(token_rv) < storage.compactedRevision()) {
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
    if (want < storage.compactedRevision())
      return {410, nullptr,
              ApiError{410, "Expired", "The resourceVersion for the provided list is too old."}};
  }
  std::vector<Json> items;
  std::string last_key;
  long remaining = 0;
  bool more = false;
  storage.list(t.type->storageKey(), t.ns, start, [&](const std::string& key, const Json& obj) {
    if (!matchesSelectors(obj, labels, fields)) return true;
    if (limit > 0 && static_cast<long>(items.size()) >= limit) {
      more = true;
      ++remaining;
      return true;
    }
    items.push_back(obj);
    last_key = key;
    return true;
  });
  uint64_t revision = storage.revision();
  Json meta = {{"resourceVersion", std::to_string(revision)}};
  if (more) {
    Json token = {
        {"v", "meta.k8s.io/v1"}, {"rv", revision}, {"start", last_key + std::string(1, '\0')}};
    meta["continue"] = base64UrlEncode(dumpCompact(token));
    if (labels.empty() && fields.empty()) meta["remainingItemCount"] = remaining;
  }
  std::string accept = req.header("accept");
  if (accept.find("as=Table") != std::string::npos)
    return {200, tableOf(req, *t.type, items, meta)};
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

Outcome ResourceHandler::removeCollection(const HttpRequest& req, const Target& t) {
  std::vector<Requirement> labels, fields;
  std::string error;
  if (!parseLabelSelector(req.param("labelSelector").value_or(""), labels, error)) {
    return {400, nullptr, badRequest("unable to parse requirement: " + error)};
  }
  if (!parseFieldSelector(*t.type, req.param("fieldSelector").value_or(""), fields, error))
    return {400, nullptr, badRequest(error)};
  std::lock_guard lock(store_.mutex());
  std::vector<Json> victims;
  store_.storage().list(t.type->storageKey(), t.ns, "", [&](const std::string&, const Json& obj) {
    if (matchesSelectors(obj, labels, fields)) victims.push_back(obj);
    return true;
  });
  Json items = Json::array();
  for (const auto& v : victims) {
    store_.remove(t.type, v, "Background", dryRun(req));
    Json o = forOutput(*t.type, v);
    if (!t.type->custom) {
      o.erase("kind");
      o.erase("apiVersion");
    }
    items.push_back(o);
  }
  return {200,
          Json{{"kind", t.type->kind + "List"},
               {"apiVersion", t.type->apiVersion()},
               {"metadata", {{"resourceVersion", std::to_string(store_.storage().revision())}}},
               {"items", items}}};
}

}  // namespace herd::fake
