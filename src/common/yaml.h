// YAML and JSON documents as nlohmann::json values, with the scalar typing kubectl applies.
//
// Parsing resolves plain YAML scalars the way sigs.k8s.io/yaml does (YAML 1.1: `yes`/`on` are
// booleans, `1.32` is a number, so versions must be quoted), rejects duplicate keys and
// non-string keys, and bounds depth and size so that hostile documents (alias bombs) fail
// cleanly instead of eating memory. Emitting quotes every string that would read back as
// something else. Stateless; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace herd {

// Every document in a YAML stream ("---"-separated), or one JSON value. Empty documents are
// skipped. Errors name the line and column.
Result<std::vector<nlohmann::json>> parseDocuments(std::string_view text);

// YAML in kubectl's layout: block style, two-space indent, sorted keys.
std::string toYaml(const nlohmann::json& value);

// What a plain (unquoted) YAML scalar means: null, boolean, integer, float or string.
nlohmann::json resolvePlainScalar(std::string_view text);

}  // namespace herd
