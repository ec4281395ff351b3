// Reading Cluster manifests the way herd acts on them: decode strictly, then default and
// validate each object that decoded. `herd validate`, `herd pki generate` and the tests all go
// through here so that they agree on what is valid. Stateless; thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "api/codec.h"
#include "api/defaults.h"

namespace herd::api {

// Every Cluster in `text`, each defaulted (when it decoded) and with all its problems in
// `decoded.errors`. Fails only when the text is not YAML or JSON at all.
Result<std::vector<ManifestDocument>> loadClusters(std::string_view text,
                                                   const DefaultingContext& context = {});

// The one valid Cluster that `text` must hold, or an Invalid status listing every problem.
Result<Cluster> loadOneCluster(std::string_view text, const DefaultingContext& context = {});

}  // namespace herd::api
