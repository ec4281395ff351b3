// The recorded Kubernetes OpenAPI v3 documents (../shared/kubernetes/openapi/v3) as schemas
// that herd's own validator (api/schema.h) understands, so that tests check every object herd
// renders or ships against what a real kube-apiserver would accept.
//
// A kind's schema is made structural: every $ref is inlined, and a lone allOf (the form the
// Kubernetes documents use for a reference with a description) is merged into its parent.
// Documents are read once per OpenApiSchemas object. Not thread-safe; tests use one per thread.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace herd::testing {

class OpenApiSchemas {
 public:
  // `dir` holds api/v1.json, apis/apps/v1.json, ...; by default the shared recording.
  explicit OpenApiSchemas(std::string dir = "");

  // False when ../shared/kubernetes is not beside the repository (tests then skip).
  bool available() const;

  // The structural schema of a kind, or nullopt when the documents do not define it.
  std::optional<nlohmann::json> schemaFor(const std::string& api_version, const std::string& kind);

  // Every problem of `object` against the schema of its apiVersion and kind: unknown fields
  // (what pruning would drop), then types, enums and required fields. A kind without a schema
  // is itself one error.
  std::vector<std::string> errors(const nlohmann::json& object);

 private:
  const nlohmann::json* document(const std::string& group, const std::string& version);

  std::string dir_;
  std::map<std::string, nlohmann::json> documents_;  // file -> parsed document
};

// The errors of `object` against `schema` (already structural).
std::vector<std::string> schemaErrors(const nlohmann::json& object, const nlohmann::json& schema);

}  // namespace herd::testing
