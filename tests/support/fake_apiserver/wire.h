// Small pieces of kube-apiserver's wire format shared by the fake's parts: timestamps in
// RFC 3339 and HTTP form, UUIDs and generated-name suffixes, compact JSON, path splitting.
//
// Pure functions (the random ones use a generator per thread); thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace herd::fake {

using Json = nlohmann::ordered_json;

std::string nowRfc3339();
std::string httpDate();
// Seconds since the epoch, 0 when `s` is not an RFC 3339 time.
long long parseRfc3339(const std::string& s);

std::string randomUuid();
// What generateName appends: five characters of k8s.io/apimachinery's rand.String alphabet.
std::string randomSuffix();
std::string sha512Hex(const std::string& data);

bool startsWith(const std::string& s, std::string_view prefix);
std::string trim(const std::string& s);
// "/api/v1/pods" -> {"api", "v1", "pods"}; empty segments are dropped.
std::vector<std::string> splitPath(const std::string& path);

// JSON as kube-apiserver writes it: no spaces, invalid UTF-8 replaced.
std::string dumpCompact(const Json& j);

}  // namespace herd::fake
