#include "api/crd.h"

#include <cstdlib>
#include <iostream>

#include "api/cluster.h"
#include "common/yaml.h"

namespace herd::embedded {
extern const std::string_view kClusterCrdYaml;
}

namespace herd::api {

std::string_view clusterCrdYaml() {
  return embedded::kClusterCrdYaml;
}

const nlohmann::json& clusterCrd() {
  static const nlohmann::json crd = [] {
    auto docs = parseDocuments(clusterCrdYaml());
    if (!docs || docs->size() != 1) {
      // The file is compiled in and covered by tests: failing here is a build defect.
      std::cerr << "herd: the embedded Cluster CRD does not parse: " << docs.status().message()
                << "\n";
      std::abort();
    }
    return (*docs)[0];
  }();
  return crd;
}

const nlohmann::json& clusterSchema() {
  static const nlohmann::json schema = [] {
    for (const auto& v : clusterCrd()["spec"]["versions"]) {
      if (v.value("name", "") == kVersion) return v["schema"]["openAPIV3Schema"];
    }
    std::cerr << "herd: the embedded Cluster CRD has no " << kVersion << " version\n";
    std::abort();
  }();
  return schema;
}

}  // namespace herd::api
