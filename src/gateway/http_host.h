// The plain-HTTP inspector: finds the Host of the first request on a connection of the HTTP
// listener, so that the gateway can route it like an SNI name.
//
// Called with everything read so far until the answer is no longer kNeedMore. Only the request
// head is looked at (request line and header fields, RFC 9112); the body and every later
// request on the connection pass through untouched. Untrusted input: bounded by `max_bytes`,
// and a request with two Host fields is refused, since two parties could each read a
// different one. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace herd::gateway {

// The default limit of nginx's large_client_header_buffers line and of many servers' heads.
inline constexpr size_t kDefaultMaxHttpHeadBytes = 8192;

enum class HttpHeadOutcome {
  kNeedMore,   // no end of head yet
  kOk,         // `host` holds the lower-case host name without port (empty when none was sent)
  kMalformed,  // not an HTTP/1.x request head, or a bad or duplicate Host
  kTooLarge,   // no end of head within `max_bytes`
};

std::string_view httpHeadOutcomeName(HttpHeadOutcome outcome);

struct HttpHeadInfo {
  HttpHeadOutcome outcome = HttpHeadOutcome::kNeedMore;
  std::string host;
};

HttpHeadInfo inspectHttpHead(std::string_view data, size_t max_bytes = kDefaultMaxHttpHeadBytes);

}  // namespace herd::gateway
