// The Cluster CustomResourceDefinition (deploy/crds/herd.io_clusters.yaml), compiled into
// herd so that `herd crd`, `herd up` and the tests use the very file that is deployed.
// Parsed once on first use; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace herd::api {

// The CRD manifest as it is in deploy/crds/.
std::string_view clusterCrdYaml();
// The same, parsed.
const nlohmann::json& clusterCrd();
// spec.versions[v1alpha1].schema.openAPIV3Schema of the CRD.
const nlohmann::json& clusterSchema();

}  // namespace herd::api
