// Base64 in the two alphabets herd's credentials use: standard with padding (PEM bodies,
// kubeconfig *-data fields, Secret data) and URL-safe without padding (JWS, Kubernetes continue
// tokens). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace herd {

std::string base64Encode(std::string_view data);
Result<std::string> base64Decode(std::string_view text);
std::string base64UrlEncode(std::string_view data);
// Accepts the URL-safe alphabet only, with or without the trailing padding.
Result<std::string> base64UrlDecode(std::string_view text);

}  // namespace herd
