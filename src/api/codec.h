// Cluster <-> JSON and YAML.
//
// Decoding is strict like kube-apiserver's fieldValidation=Strict: unknown fields, wrong JSON
// types, a wrong apiVersion or kind are field errors, and decoding goes on past them so one
// pass reports every problem. Encoding omits empty fields (omitempty) and sorts keys, as the
// apiserver serializes custom resources. Stateless; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"
#include "api/field_errors.h"
#include "common/status.h"

namespace herd::api {

struct Decoded {
  Cluster cluster;
  FieldErrors errors;  // empty when the object decoded cleanly
};

Decoded decodeCluster(const nlohmann::json& object);
nlohmann::json encodeCluster(const Cluster& cluster);

// Every Cluster in a YAML or JSON stream (a List of Clusters is unrolled). A document that
// does not decode is reported with its index; nothing is dropped silently.
struct ManifestDocument {
  size_t index = 0;  // position in the stream, from 0
  Decoded decoded;
};
Result<std::vector<ManifestDocument>> decodeManifests(std::string_view text);

std::string toJsonText(const nlohmann::json& value);  // two-space indent, newline-terminated

// The JSON shape herd's C++ types describe: an OpenAPI-like tree of {type, properties,
// items, additionalProperties} used to check the CRD schema against the types.
nlohmann::json clusterTypeShape();

}  // namespace herd::api
