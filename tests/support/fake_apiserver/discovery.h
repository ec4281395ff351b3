// The paths outside /api/<v>/... and /apis/<g>/<v>/...: health checks, /version, discovery
// (the recorded documents, plain and aggregated) and OpenAPI v3 (the recorded documents plus
// one per CRD version, built from its schema).
//
// Reads the registry and, for CRDs, the store under its mutex; thread-safe.
#pragma once

#include "authn.h"
#include "fake_apiserver.h"
#include "http_types.h"
#include "registry.h"
#include "store.h"

namespace herd::fake {

class Discovery {
 public:
  Discovery(const FakeApiServerOptions& options, const Registry& registry, const ObjectStore& store)
      : options_(options), registry_(registry), store_(store) {}

  // Authorizes `id` for the path, then answers it (a plain 404 for anything unknown).
  HttpResponse serve(const HttpRequest& req, const Identity& id, HttpResponse res) const;

 private:
  HttpResponse serveOpenApi(const HttpRequest& req, HttpResponse res) const;
  // The stored CRDs, oldest name first.
  std::vector<Json> crds() const;

  const FakeApiServerOptions& options_;
  const Registry& registry_;
  const ObjectStore& store_;
};

}  // namespace herd::fake
