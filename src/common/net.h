// IP addresses and CIDR prefixes (IPv4 and IPv6): parsing, containment, overlap and address
// arithmetic, as the Cluster network settings and certificate SANs need them; and the one
// parser of "host:port" for every listener, backend, CONNECT target, Host header and server URL.
// Value types and pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace herd::net {

class IpAddress {
 public:
  enum class Family { kV4, kV6 };

  static Result<IpAddress> parse(std::string_view text);
  static IpAddress v4(uint32_t host_order);

  Family family() const { return family_; }
  bool isV4() const { return family_ == Family::kV4; }
  int bits() const { return isV4() ? 32 : 128; }
  // Network-order bytes; an IPv4 address uses the first 4.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  std::string toString() const;

  // This address plus `n` (wrapping is the caller's concern: see Cidr::nth).
  IpAddress plus(uint64_t n) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  friend class Cidr;
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

class Cidr {
 public:
  // Parses "10.96.0.0/12" or "fd00::/108". Host bits may be set; see isCanonical().
  static Result<Cidr> parse(std::string_view text);

  const IpAddress& address() const { return address_; }
  int prefix() const { return prefix_; }
  IpAddress::Family family() const { return address_.family(); }

  // The prefix with every host bit cleared.
  Cidr network() const;
  bool isCanonical() const { return network().address_ == address_; }
  bool contains(const IpAddress& ip) const;
  bool overlaps(const Cidr& other) const;
  // The n-th address of the prefix (0 is the network address); fails past the end.
  Result<IpAddress> nth(uint64_t n) const;
  // log2 of the number of addresses, e.g. 20 for a /12 IPv4 prefix.
  int hostBits() const { return address_.bits() - prefix_; }
  std::string toString() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;

 private:
  IpAddress address_;
  int prefix_ = 0;
};

// A host and a port as an address or a URL authority writes them.
struct HostPort {
  std::string host;   // a name or an IP literal, without IPv6 brackets
  uint16_t port = 0;  // 0 when the text had none (HostPortRules::port_optional)
};

// What a caller accepts beyond "host:port" with a host and a port from 1 to 65535.
struct HostPortRules {
  bool port_optional = false;  // "host" and "[v6]" alone parse, with port 0
  bool host_optional = false;  // ":2222" parses, with an empty host (a listener's every address)
  bool port_zero = false;      // port 0 parses (a listener's "any free port")
};

// "host:port", "[v6]:port". An IPv6 literal must stand in brackets (in "::1:80" the port
// cannot be told from the address), and brackets hold an IPv6 literal and nothing else. The
// port is decimal digits only. The error quotes `text` (made printable: it may be untrusted).
Result<HostPort> parseHostPort(std::string_view text, HostPortRules rules = {});

// "host:port", with brackets around an IPv6 host.
std::string formatHostPort(std::string_view host, uint16_t port);

}  // namespace herd::net
