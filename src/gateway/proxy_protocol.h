// PROXY protocol version 2 headers (haproxy.org/download/2.6/doc/proxy-protocol.txt): what the
// gateway sends first to a backend that asked for it, so the backend learns the client's
// address (and, in an AUTHORITY TLV, the SNI it was routed by) although it sees the gateway
// as its peer. Pure builders over plain bytes; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace herd::gateway {

struct ProxyAddresses {
  bool ipv6 = false;
  // Network byte order; IPv4 uses the first 4 bytes.
  std::array<uint8_t, 16> source{};
  std::array<uint8_t, 16> destination{};
  uint16_t source_port = 0;  // host byte order
  uint16_t destination_port = 0;
};

// A PROXY v2 "PROXY" command for a TCP connection, with an AUTHORITY TLV when `authority` is
// not empty (at most 255 bytes are sent: SNI host names are shorter).
std::string buildProxyV2Header(const ProxyAddresses& addresses, std::string_view authority);

// A PROXY v2 "LOCAL" command: the connection is the gateway's own (a health check).
std::string buildProxyV2Local();

}  // namespace herd::gateway
