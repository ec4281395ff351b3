#include "discovery.h"

#include <algorithm>

#include "common/files.h"
#include "responses.h"
#include "wire.h"

namespace herd::fake {

std::vector<Json> Discovery::crds() const {
  std::vector<Json> out;
  std::lock_guard lock(store_.mutex());
  store_.storage().list(store_.crds()->storageKey(), "", "",
                        [&](const std::string&, const Json& crd) {
                          out.push_back(crd);
                          return true;
                        });
  return out;
}

HttpResponse Discovery::serve(const HttpRequest& req, const Identity& id, HttpResponse res) const {
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
    return jsonResponse(std::move(res), 200, registry_.version());
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
      Json doc = path == "/api" ? registry_.aggregatedCore() : registry_.aggregatedGroups();
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
                        path == "/api" ? registry_.coreVersions() : registry_.groupList());
  }
  std::vector<std::string> parts = splitPath(path);
  if (parts.size() == 2 && parts[0] == "api") {
    Json list = registry_.resourceList("", parts[1]);
    if (list.is_null()) return plainNotFound(std::move(res));
    return jsonResponse(std::move(res), 200, list);
  }
  if (parts.size() == 2 && parts[0] == "apis") {
    Json g = registry_.group(parts[1]);
    if (g.is_null()) return plainNotFound(std::move(res));
    return jsonResponse(std::move(res), 200, g);
  }
  if (parts.size() == 3 && parts[0] == "apis") {
    Json list = registry_.resourceList(parts[1], parts[2]);
    if (list.is_null()) return plainNotFound(std::move(res));
    return jsonResponse(std::move(res), 200, list);
  }
  return plainNotFound(std::move(res));
}

HttpResponse Discovery::serveOpenApi(const HttpRequest& req, HttpResponse res) const {
  std::string dir = options_.openapi_dir;
  if (req.path == "/openapi/v3" || req.path == "/openapi/v3/") {
    Json index = {{"paths", Json::object()}};
    if (!dir.empty() && files::exists(dir + "/v3/index.json")) {
      auto text = files::read(dir + "/v3/index.json");
      if (text.isOk()) index = Json::parse(*text, nullptr, false);
    }
    for (const Json& obj : crds()) {
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
      for (const Json& obj : crds()) {
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

}  // namespace herd::fake
