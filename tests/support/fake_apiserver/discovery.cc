#include "discovery.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <set>

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

namespace {

// The checks of kube-apiserver v1.32 in its order, as recorded in
// ../shared/kubernetes/kubectl/{livez,readyz}-verbose.txt. /healthz runs the /livez checks
// (the apiserver adds its health checks and post-start hooks to both); /readyz adds three.
constexpr std::string_view kHealthChecks[] = {
    "ping",
    "log",
    "etcd",
    "etcd-readiness",
    "informer-sync",
    "poststarthook/start-apiserver-admission-initializer",
    "poststarthook/generic-apiserver-start-informers",
    "poststarthook/priority-and-fairness-config-consumer",
    "poststarthook/priority-and-fairness-filter",
    "poststarthook/storage-object-count-tracker-hook",
    "poststarthook/start-apiextensions-informers",
    "poststarthook/start-apiextensions-controllers",
    "poststarthook/crd-informer-synced",
    "poststarthook/start-system-namespaces-controller",
    "poststarthook/start-cluster-authentication-info-controller",
    "poststarthook/start-kube-apiserver-identity-lease-controller",
    "poststarthook/start-kube-apiserver-identity-lease-garbage-collector",
    "poststarthook/start-legacy-token-tracking-controller",
    "poststarthook/start-service-ip-repair-controllers",
    "poststarthook/rbac/bootstrap-roles",
    "poststarthook/scheduling/bootstrap-system-priority-classes",
    "poststarthook/priority-and-fairness-config-producer",
    "poststarthook/bootstrap-controller",
    "poststarthook/aggregator-reload-proxy-client-cert",
    "poststarthook/start-kube-aggregator-informers",
    "poststarthook/apiservice-status-local-available-controller",
    "poststarthook/apiservice-status-remote-available-controller",
    "poststarthook/apiservice-registration-controller",
    "poststarthook/apiservice-discovery-controller",
    "poststarthook/kube-apiserver-autoregistration",
    "autoregister-completion",
    "poststarthook/apiservice-openapi-controller",
    "poststarthook/apiservice-openapiv3-controller",
    "shutdown",
};

bool readinessOnly(std::string_view check) {
  return check == "etcd-readiness" || check == "informer-sync" || check == "shutdown";
}

}  // namespace

// The storage's checks: "etcd" whether it answers (always, in memory), "etcd-readiness" also
// whether the objects have been read in. Every other check passes: the fake has nothing else
// that could fail. ?verbose lists them, ?exclude=<check> (repeatable) marks them excluded; a
// failing check makes the answer a 500 that lists every check, whether verbose or not, with
// the reason withheld (it is logged), as the real handler does.
HttpResponse Discovery::serveHealth(const HttpRequest& req, HttpResponse res) const {
  const std::string endpoint = req.path.substr(1);
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("X-Content-Type-Options", "nosniff");
  std::set<std::string> excluded;
  for (auto [it, end] = req.query.equal_range("exclude"); it != end; ++it) {
    excluded.insert(it->second);
  }
  Status etcd = Status::ok();
  if (!excluded.count("etcd") || (endpoint == "readyz" && !excluded.count("etcd-readiness"))) {
    etcd = store_.storage().health();
  }
  bool loaded = false;
  {
    std::lock_guard lock(store_.mutex());
    loaded = store_.storage().loaded();
  }
  auto failing = [&](std::string_view check) {
    if (check == "etcd") return !etcd.isOk();
    if (check == "etcd-readiness") return !etcd.isOk() || !loaded;
    return false;
  };
  std::string body;
  bool failed = false;
  for (std::string_view check : kHealthChecks) {
    if (endpoint != "readyz" && readinessOnly(check)) continue;
    if (excluded.erase(std::string(check)) > 0) {
      body += fmt::format("[+]{} excluded: ok\n", check);
    } else if (failing(check)) {
      body += fmt::format("[-]{} failed: reason withheld\n", check);
      failed = true;
    } else {
      body += fmt::format("[+]{} ok\n", check);
    }
  }
  if (!excluded.empty()) {
    std::vector<std::string> missing(excluded.begin(), excluded.end());
    std::string quoted;
    for (const auto& m : missing) quoted += (quoted.empty() ? "" : ",") + ("\"" + m + "\"");
    body += fmt::format("warn: some health checks cannot be excluded: no matches for {}\n", quoted);
  }
  if (failed) {
    if (!etcd.isOk())
      std::fprintf(stderr, "%s check failed: etcd: %s\n", endpoint.c_str(), etcd.message().c_str());
    res.status = 500;
    res.body = body + endpoint + " check failed\n";
    return res;
  }
  res.status = 200;
  res.body = req.param("verbose") ? body + endpoint + " check passed\n" : "ok";
  return res;
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
    return serveHealth(req, std::move(res));
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
