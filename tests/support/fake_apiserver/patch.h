// The patch formats kube-apiserver accepts: JSON merge patch (RFC 7386), JSON patch
// (RFC 6902) and strategic merge patch (lists merged by key, `$patch: delete`), plus the list
// keys that strategic merge and server-side apply share for built-in types.
//
// Pure functions on JSON values; none throws on bad input: a malformed patch is an error
// Status. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace herd::fake {

using Json = nlohmann::ordered_json;

// Keys of a list field that merges by key ("containers" -> {"name"}); empty when the list is
// atomic. `path` is the dotted field path of the list ("spec.template.spec.containers").
std::vector<std::string> builtinListKeys(const std::string& path);

void applyMergePatch(Json& target, const Json& patch);
Status applyJsonPatch(Json& target, const Json& patch);
Status applyStrategicMergePatch(Json& target, const Json& patch, const std::string& path = "");

}  // namespace herd::fake
