// The HTTP CONNECT request that kube-apiserver's egress selector (proxyProtocol: HTTPConnect)
// sends before it uses a connection as a raw byte stream: "CONNECT host:port HTTP/1.1",
// headers, an empty line. The parser sees untrusted bytes straight off the socket, so it
// never throws, bounds what it accepts and says which HTTP status a rejection deserves.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herd::tunnel {

// Go's net/http sends a few hundred bytes; 8 KiB is what most proxies allow before 431.
inline constexpr size_t kMaxConnectHeaderBytes = 8192;

// A header a gateway replica adds when it forwards a CONNECT to its peers (see
// docs/tunnel.md): the tenant the first replica authenticated. Only peers may send it.
inline constexpr std::string_view kForwardedTenantHeader = "herd-forwarded-tenant";

struct ConnectRequest {
  std::string host;  // a DNS name or an IP literal, without IPv6 brackets
  uint16_t port = 0;
  std::string forwarded_tenant;  // value of kForwardedTenantHeader, empty when absent
  size_t header_bytes = 0;       // request line and headers, including the final CRLF CRLF
};

enum class ParseState { kIncomplete, kComplete, kInvalid };

struct ConnectParse {
  ParseState state = ParseState::kIncomplete;
  ConnectRequest request;
  int http_status = 0;  // for kInvalid: 400, 405 or 431
  std::string error;    // for kInvalid: one line a client operator can act on
};

// Parses the start of a connection. kIncomplete asks for more bytes (unless `bytes` already
// exceeds kMaxConnectHeaderBytes, which is kInvalid with 431).
ConnectParse parseConnectRequest(std::string_view bytes);

}  // namespace herd::tunnel
