// The TLS ClientHello inspector: reads the first bytes a client sends on the TLS listener and
// says whom it wants to reach (the SNI host name), without terminating TLS or keeping state.
//
// The gateway calls inspectClientHello() every time more bytes arrive, with everything read
// so far, until the answer is no longer kNeedMore. The bytes are untrusted: every length is
// checked against what is there, nothing is read past the span, nothing is allocated beyond
// `max_bytes`, and each way a hello can be wrong has its own outcome so that it is counted.
// A ClientHello may span several TLS records; they are reassembled. The SSLv2-compatible hello
// (no SNI, no TLS 1.2+) is recognised and refused. Pure function of its input; thread-safe.
// It depends on the standard library only, so the fuzz target can build it on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace herd::gateway {

// One full TLS record (2^14 bytes) plus its 5-byte header: every real ClientHello fits, the
// largest of them (post-quantum key shares, many resumption tickets) stay below 8 KiB, and it
// bounds what one connection can make the gateway hold before it is routed.
inline constexpr size_t kDefaultMaxClientHelloBytes = 16384 + 5;

enum class HelloOutcome {
  kNeedMore,    // a valid prefix: read more bytes and call again
  kOk,          // a complete ClientHello; `sni` is set when the client sent one
  kNotTls,      // the first byte is not a TLS handshake record (plain HTTP, SSH, noise)
  kSslV2,       // an SSLv2-compatible ClientHello: refused, it cannot carry SNI
  kMalformed,   // a TLS record or ClientHello that breaks the format
  kInvalidSni,  // a well-formed hello whose server name is not a DNS host name
  kTooLarge,    // the hello would need more than `max_bytes`
};

// Stable snake_case name, used in logs and metric labels.
std::string_view helloOutcomeName(HelloOutcome outcome);

struct ClientHelloInfo {
  HelloOutcome outcome = HelloOutcome::kNeedMore;
  // The host_name entry of server_name: lower case, without a trailing dot. Empty when the
  // client sent none (an IP-address connection, or an old client).
  std::string sni;
  // What was wrong, for the debug log; a static string, never built from the input.
  std::string_view detail;
};

ClientHelloInfo inspectClientHello(std::span<const uint8_t> data,
                                   size_t max_bytes = kDefaultMaxClientHelloBytes);

// True when `name` is a DNS host name as SNI may carry it: 1..253 characters of letters,
// digits, '-', '_' and '.', no empty label, no label over 63. Case-insensitive.
bool isValidHostName(std::string_view name);

}  // namespace herd::gateway
