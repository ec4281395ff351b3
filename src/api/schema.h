// OpenAPI v3 structural schemas as CustomResourceDefinitions use them: validation with
// kube-apiserver's messages, defaulting, and pruning of unknown fields.
//
// herd uses it to prove that its CRD and its C++ types agree, and the fake apiserver uses it
// to validate custom resources as the real server does. Covers the keywords a structural
// schema may use (type, properties, additionalProperties, items, required, enum, minimum,
// maximum, exclusive bounds, lengths, item counts, pattern, nullable, default,
// x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields, list-type map and set).
// CEL rules (x-kubernetes-validations) are not evaluated. Stateless; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/field_errors.h"

namespace herd::api::schema {

// Checks `value` against `schema`; `root` names the value in messages ("" at the top).
FieldErrors validate(const nlohmann::json& value, const nlohmann::json& schema,
                     const FieldPath& root = {});

// Applies the schema's defaults: a missing property with a default is set, then defaulted
// itself, as the apiserver does for custom resources.
void applyDefaults(nlohmann::json& value, const nlohmann::json& schema);

// Removes fields the schema does not know and returns their paths ("spec.bogus").
std::vector<std::string> prune(nlohmann::json& value, const nlohmann::json& schema,
                               const FieldPath& root = {});

}  // namespace herd::api::schema
