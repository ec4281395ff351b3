#include "api/manifests.h"

#include <fmt/format.h>

#include "api/validation.h"

namespace herd::api {

Result<std::vector<ManifestDocument>> loadClusters(std::string_view text,
                                                   const DefaultingContext& context) {
  HERD_ASSIGN_OR_RETURN(auto docs, decodeManifests(text));
  for (auto& doc : docs) {
    if (!doc.decoded.errors.empty())
      continue;  // validating a half-decoded object would only add noise
    applyDefaults(doc.decoded.cluster, context);
    doc.decoded.errors = validateCluster(doc.decoded.cluster);
  }
  return docs;
}

Result<Cluster> loadOneCluster(std::string_view text, const DefaultingContext& context) {
  HERD_ASSIGN_OR_RETURN(auto docs, loadClusters(text, context));
  if (docs.size() != 1) {
    return Status::invalid(
        fmt::format("expected exactly one Cluster, found {} objects", docs.size()));
  }
  Decoded& d = docs[0].decoded;
  if (!d.errors.empty()) return d.errors.toStatus(kKind, d.cluster.metadata.name);
  return std::move(d.cluster);
}

}  // namespace herd::api
