// The verbs on resources, as kube-apiserver's generic registry serves them: get and list
// (selectors, chunking with continue tokens, Table and metadata-only answers), create, update
// and patch (merge, JSON, strategic merge, server-side apply) with resourceVersion conflicts,
// managed fields and generation, delete and deletecollection, the scale and status
// subresources, and the self-reviews answered from the caller's identity.
//
// Each verb takes the store's mutex for as long as it reads and writes; thread-safe. Defined
// over resource_read.cc, resource_write.cc and resource_patch.cc.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "authn.h"
#include "fake_apiserver.h"
#include "http_types.h"
#include "responses.h"
#include "store.h"

namespace herd::fake {

// A verb's answer: the body, or an error; warnings go out as Warning headers either way.
struct Outcome {
  int code = 200;
  Json body;
  std::optional<ApiError> error;
  std::vector<std::string> warnings;
  Outcome() = default;
  Outcome(int c, Json b, std::optional<ApiError> e = std::nullopt, std::vector<std::string> w = {})
      : code(c), body(std::move(b)), error(std::move(e)), warnings(std::move(w)) {}
};

class ResourceHandler {
 public:
  // `on_namespace_created` runs, with the store's mutex held, after a namespace is created.
  ResourceHandler(const FakeApiServerOptions& options, Registry& registry, ObjectStore& store,
                  std::function<void()> on_namespace_created)
      : options_(options),
        registry_(registry),
        store_(store),
        on_namespace_created_(std::move(on_namespace_created)) {}

  Outcome get(const HttpRequest& req, const Target& t);
  Outcome list(const HttpRequest& req, const Target& t);
  Outcome create(const HttpRequest& req, const Target& t);
  Outcome update(const HttpRequest& req, const Target& t);
  Outcome patch(const HttpRequest& req, const Target& t);
  Outcome remove(const HttpRequest& req, const Target& t);
  Outcome removeCollection(const HttpRequest& req, const Target& t);
  // SelfSubjectReview and SelfSubjectAccessReview: answered from the caller's identity, never
  // stored.
  Outcome reviewSelf(const HttpRequest& req, const Identity& id, const Target& t) const;

 private:
  // Server-side apply (application/apply-patch+yaml).
  Outcome apply(const HttpRequest& req, const Target& t);
  // Common tail of update and patch, with the store's mutex held: checks and writes `next`
  // over `current`.
  Outcome commitUpdate(const HttpRequest& req, const Target& t, const Json& current, Json next,
                       const std::string& manager, bool skip_managed_fields = false);

  const FakeApiServerOptions& options_;
  Registry& registry_;
  ObjectStore& store_;
  std::function<void()> on_namespace_created_;
};

}  // namespace herd::fake
