// The short HTTP answers the egress proxy gives a CONNECT: "200 Connection established", or an
// error with a one-line text body. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace herd::tunnel {

// "HTTP/1.1 <status> <reason>" with a text/plain body and Connection: close.
std::string httpError(int status, std::string_view body);
inline constexpr std::string_view kConnectEstablished =
    "HTTP/1.1 200 Connection established\r\n\r\n";

}  // namespace herd::tunnel
