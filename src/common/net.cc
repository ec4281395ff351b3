#include "common/net.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>

namespace herd::net {

Result<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    in_addr a{};
    if (::inet_pton(AF_INET, s.c_str(), &a) != 1) {
      return Status::invalid(fmt::format("\"{}\" is not a valid IP address", text));
    }
    ip.family_ = Family::kV4;
    std::memcpy(ip.bytes_.data(), &a, 4);
  } else {
    in6_addr a{};
    if (::inet_pton(AF_INET6, s.c_str(), &a) != 1) {
      return Status::invalid(fmt::format("\"{}\" is not a valid IP address", text));
    }
    ip.family_ = Family::kV6;
    std::memcpy(ip.bytes_.data(), &a, 16);
  }
  return ip;
}

IpAddress IpAddress::v4(uint32_t host_order) {
  IpAddress ip;
  ip.family_ = Family::kV4;
  for (int i = 0; i < 4; ++i) ip.bytes_[i] = static_cast<uint8_t>(host_order >> (24 - 8 * i));
  return ip;
}

std::string IpAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(isV4() ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return buf;
}

IpAddress IpAddress::plus(uint64_t n) const {
  IpAddress out = *this;
  int i = (isV4() ? 4 : 16) - 1;
  unsigned carry = 0;
  while (i >= 0 && (n != 0 || carry != 0)) {
    unsigned sum = out.bytes_[i] + static_cast<unsigned>(n & 0xff) + carry;
    out.bytes_[i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
    n >>= 8;
    --i;
  }
  return out;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    return Status::invalid(
        fmt::format("\"{}\" is not a CIDR: expected ADDRESS/PREFIX, e.g. 10.96.0.0/12", text));
  }
  auto ip = IpAddress::parse(text.substr(0, slash));
  std::string_view len = text.substr(slash + 1);
  int prefix = -1;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (!ip || ec != std::errc() || end != len.data() + len.size() || len.empty() || prefix < 0 ||
      prefix > (ip ? ip->bits() : 0)) {
    return Status::invalid(fmt::format("\"{}\" is not a valid CIDR", text));
  }
  Cidr c;
  c.address_ = *ip;
  c.prefix_ = prefix;
  return c;
}

Cidr Cidr::network() const {
  Cidr out = *this;
  auto& b = out.address_.bytes_;
  int total = address_.bits() / 8;
  for (int i = 0; i < total; ++i) {
    int keep = prefix_ - i * 8;
    if (keep >= 8) continue;
    b[i] = keep <= 0 ? 0 : static_cast<uint8_t>(b[i] & (0xff << (8 - keep)));
  }
  return out;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.family() != family()) return false;
  Cidr probe = *this;
  probe.address_ = ip;
  return probe.network().address_ == network().address_;
}

bool Cidr::overlaps(const Cidr& other) const {
  if (family() != other.family()) return false;
  // Two prefixes overlap exactly when the shorter one contains the other's network address.
  const Cidr& wider = prefix_ <= other.prefix_ ? *this : other;
  const Cidr& narrower = prefix_ <= other.prefix_ ? other : *this;
  return wider.contains(narrower.network().address_);
}

Result<IpAddress> Cidr::nth(uint64_t n) const {
  if (hostBits() < 64 && n >= (uint64_t{1} << hostBits())) {
    return Status::invalid(fmt::format("{} has no address number {}", toString(), n));
  }
  return network().address_.plus(n);
}

std::string Cidr::toString() const {
  return fmt::format("{}/{}", address_.toString(), prefix_);
}

namespace {

// The longest text an error quotes: enough for any real address, short for a hostile one.
constexpr size_t kQuotedMax = 64;

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text.substr(0, kQuotedMax)) {
    out += c >= 0x20 && c < 0x7f ? c : '?';
  }
  if (text.size() > kQuotedMax) out += "...";
  return out + "\"";
}

Status hostPortError(std::string_view text, std::string_view why) {
  return Status::invalid(fmt::format("{} {}", quoted(text), why));
}

}  // namespace

Result<HostPort> parseHostPort(std::string_view text, HostPortRules rules) {
  HostPort out;
  std::string_view rest;  // what follows the host: empty or ":port"
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return hostPortError(text, "has no closing bracket");
    std::string_view inside = text.substr(1, close - 1);
    auto ip = IpAddress::parse(inside);
    if (!ip || ip->isV4()) {
      return hostPortError(text, "has no IPv6 address inside its brackets");
    }
    out.host = std::string(inside);
    rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      return hostPortError(text, "has something other than :port after its brackets");
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return hostPortError(text, "is an IPv6 address without brackets (want [address]:port)");
    }
    if (text.find_first_of("[]") != std::string_view::npos) {
      return hostPortError(text, "has a bracket out of place (want [address]:port)");
    }
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) rest = text.substr(colon);
    if (out.host.empty() && !rules.host_optional) return hostPortError(text, "has no host");
  }
  if (rest.empty()) {
    if (!rules.port_optional) return hostPortError(text, "has no port (want host:port)");
    return out;
  }
  std::string_view port = rest.substr(1);
  unsigned value = 0;
  // Five digits at most: from_chars would otherwise read "000080" as 80.
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || port.size() > 5 || ec != std::errc() || end != port.data() + port.size()) {
    return hostPortError(text, "has a malformed port (want decimal digits)");
  }
  if (value > 65535 || (value == 0 && !rules.port_zero)) {
    return hostPortError(
        text, rules.port_zero ? "has a port outside 0-65535" : "has a port outside 1-65535");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

std::string formatHostPort(std::string_view host, uint16_t port) {
  if (host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

}  // namespace herd::net
