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

}  // namespace herd::net
