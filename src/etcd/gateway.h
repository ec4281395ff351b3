// Decoding of etcd gRPC JSON gateway answers, shared by the client and its tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace herd::etcd {

// The JSON object of a gateway answer with HTTP status `http_status`, or etcd's error from
// it ({"error": ..., "code": <gRPC code>}) as a Status; a body that is not a JSON object is
// an error that quotes its start.
Result<nlohmann::json> decodeGatewayResponse(int http_status, const std::string& body);

}  // namespace herd::etcd
