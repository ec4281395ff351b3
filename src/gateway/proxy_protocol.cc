#include "gateway/proxy_protocol.h"

#include <algorithm>

namespace herd::gateway {
namespace {

constexpr std::string_view kSignature{"\r\n\r\n\0\r\nQUIT\n", 12};
constexpr uint8_t kVersion2Proxy = 0x21;
constexpr uint8_t kVersion2Local = 0x20;
constexpr uint8_t kTcpOverIpv4 = 0x11;
constexpr uint8_t kTcpOverIpv6 = 0x21;
constexpr uint8_t kTlvAuthority = 0x02;
constexpr size_t kMaxAuthority = 255;

void put16(std::string& out, size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

}  // namespace

std::string buildProxyV2Header(const ProxyAddresses& addresses, std::string_view authority) {
  authority = authority.substr(0, std::min(authority.size(), kMaxAuthority));
  size_t address_bytes = addresses.ipv6 ? 16 : 4;
  size_t tlv_bytes = authority.empty() ? 0 : 3 + authority.size();
  std::string out(kSignature);
  out.push_back(static_cast<char>(kVersion2Proxy));
  out.push_back(static_cast<char>(addresses.ipv6 ? kTcpOverIpv6 : kTcpOverIpv4));
  put16(out, 2 * address_bytes + 4 + tlv_bytes);
  out.append(reinterpret_cast<const char*>(addresses.source.data()), address_bytes);
  out.append(reinterpret_cast<const char*>(addresses.destination.data()), address_bytes);
  put16(out, addresses.source_port);
  put16(out, addresses.destination_port);
  if (!authority.empty()) {
    out.push_back(static_cast<char>(kTlvAuthority));
    put16(out, authority.size());
    out.append(authority);
  }
  return out;
}

std::string buildProxyV2Local() {
  std::string out(kSignature);
  out.push_back(static_cast<char>(kVersion2Local));
  out.push_back(0);  // AF_UNSPEC
  put16(out, 0);
  return out;
}

}  // namespace herd::gateway
