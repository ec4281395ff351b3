#include "common/net.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace herd::net {
namespace {

TEST(IpAddressTest, ParsesBothFamiliesAndPrintsCanonically) {
  EXPECT_EQ(IpAddress::parse("10.96.0.1")->toString(), "10.96.0.1");
  EXPECT_TRUE(IpAddress::parse("10.96.0.1")->isV4());
  EXPECT_EQ(IpAddress::parse("fd00:0:0::1")->toString(), "fd00::1");
  EXPECT_FALSE(IpAddress::parse("fd00::1")->isV4());
  EXPECT_EQ(IpAddress::v4(0x0a600001).toString(), "10.96.0.1");
}

TEST(IpAddressTest, RejectsGarbage) {
  for (const char* bad : {"", "10.96.0", "10.96.0.256", "abc", "1.2.3.4.5", "::g"}) {
    EXPECT_FALSE(IpAddress::parse(bad).isOk()) << bad;
  }
  EXPECT_EQ(IpAddress::parse("x").status().message(), "\"x\" is not a valid IP address");
}

TEST(IpAddressTest, PlusCarriesAcrossOctets) {
  EXPECT_EQ(IpAddress::parse("10.0.0.255")->plus(1).toString(), "10.0.1.0");
  EXPECT_EQ(IpAddress::parse("fd00::ffff")->plus(1).toString(), "fd00::1:0");
}

TEST(CidrTest, ParseAndCanonicalForm) {
  auto c = Cidr::parse("10.96.0.0/12");
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->prefix(), 12);
  EXPECT_EQ(c->hostBits(), 20);
  EXPECT_TRUE(c->isCanonical());
  auto hosty = Cidr::parse("10.96.5.1/12");
  ASSERT_TRUE(hosty.isOk());
  EXPECT_FALSE(hosty->isCanonical());
  EXPECT_EQ(hosty->network().toString(), "10.96.0.0/12");
  EXPECT_EQ(Cidr::parse("fd00::1/64")->network().toString(), "fd00::/64");
}

TEST(CidrTest, RejectsMalformed) {
  for (const char* bad : {"10.96.0.0", "10.96.0.0/33", "10.96.0.0/-1", "10.96.0.0/", "10.96.0.0/1x",
                          "x/8", "fd00::/129"}) {
    EXPECT_FALSE(Cidr::parse(bad).isOk()) << bad;
  }
}

TEST(CidrTest, ContainsAndOverlaps) {
  auto services = *Cidr::parse("10.96.0.0/12");
  EXPECT_TRUE(services.contains(*IpAddress::parse("10.111.255.255")));
  EXPECT_FALSE(services.contains(*IpAddress::parse("10.112.0.0")));
  EXPECT_FALSE(services.contains(*IpAddress::parse("fd00::1")));
  EXPECT_TRUE(services.overlaps(*Cidr::parse("10.100.0.0/16")));
  EXPECT_TRUE(Cidr::parse("10.100.0.0/16")->overlaps(services));
  EXPECT_TRUE(services.overlaps(*Cidr::parse("10.0.0.0/8")));
  EXPECT_FALSE(services.overlaps(*Cidr::parse("10.244.0.0/16")));
  EXPECT_FALSE(services.overlaps(*Cidr::parse("fd00::/64")));
}

TEST(CidrTest, NthAddressAndBounds) {
  auto c = *Cidr::parse("10.96.0.0/12");
  EXPECT_EQ(c.nth(1)->toString(), "10.96.0.1");
  EXPECT_EQ(c.nth(10)->toString(), "10.96.0.10");
  EXPECT_EQ(c.nth((1u << 20) - 1)->toString(), "10.111.255.255");
  EXPECT_FALSE(c.nth(1u << 20).isOk());
  EXPECT_EQ(Cidr::parse("fd00::/108")->nth(10)->toString(), "fd00::a");
}

TEST(HostPortTest, SplitsNamesIpv4AndBracketedIpv6) {
  auto name = parseHostPort("node-1.example:10250");
  ASSERT_TRUE(name.isOk()) << name.status().toString();
  EXPECT_EQ(name->host, "node-1.example");
  EXPECT_EQ(name->port, 10250);
  EXPECT_EQ(parseHostPort("10.0.0.5:1")->host, "10.0.0.5");
  EXPECT_EQ(parseHostPort("10.0.0.5:65535")->port, 65535);
  auto v6 = parseHostPort("[fd00::5]:6443");
  ASSERT_TRUE(v6.isOk()) << v6.status().toString();
  EXPECT_EQ(v6->host, "fd00::5");
  EXPECT_EQ(v6->port, 6443);
}

TEST(HostPortTest, RefusesBadInputWithTheReason) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const auto& c : std::vector<Case>{
           {"", "has no host"},
           {"node-1", "has no port"},
           {"node-1:", "malformed port"},
           {":80", "has no host"},
           {"node-1:0", "outside 1-65535"},
           {"node-1:65536", "outside 1-65535"},
           {"node-1:99999", "outside 1-65535"},
           {"node-1:000080", "malformed port"},
           {"node-1:8o", "malformed port"},
           {"node-1:-1", "malformed port"},
           {"node-1:+80", "malformed port"},
           {"node-1: 80", "malformed port"},
           {"[::1:80", "no closing bracket"},
           {"::1]:80", "without brackets"},
           {"a]:80", "bracket out of place"},
           {"a[b]:80", "bracket out of place"},
           {"[::1]x:80", "after its brackets"},
           {"[::1]80", "after its brackets"},
           {"[]:80", "no IPv6 address"},
           {"[zz]:80", "no IPv6 address"},
           {"[10.0.0.1]:80", "no IPv6 address"},
           {"::1:80", "without brackets"},
           {"fd00::5", "without brackets"},
       }) {
    auto r = parseHostPort(c.text);
    ASSERT_FALSE(r.isOk()) << c.text;
    EXPECT_NE(r.status().message().find(c.why), std::string::npos)
        << c.text << ": " << r.status().message();
    EXPECT_TRUE(r.status().message().starts_with(std::string("\"") + c.text + "\""))
        << r.status().message();
  }
}

TEST(HostPortTest, OptionalPortHostAndZeroPort) {
  auto bare = parseHostPort("example.test", {.port_optional = true});
  ASSERT_TRUE(bare.isOk());
  EXPECT_EQ(bare->host, "example.test");
  EXPECT_EQ(bare->port, 0);
  auto bracketed = parseHostPort("[::1]", {.port_optional = true});
  ASSERT_TRUE(bracketed.isOk());
  EXPECT_EQ(bracketed->host, "::1");
  EXPECT_FALSE(parseHostPort("example.test:", {.port_optional = true}).isOk());
  EXPECT_FALSE(parseHostPort("example.test:0", {.port_optional = true}).isOk());

  auto every = parseHostPort(":2222", {.host_optional = true});
  ASSERT_TRUE(every.isOk());
  EXPECT_TRUE(every->host.empty());
  EXPECT_EQ(every->port, 2222);
  EXPECT_FALSE(parseHostPort(":0", {.host_optional = true}).isOk());
  auto any_port = parseHostPort(":0", {.host_optional = true, .port_zero = true});
  ASSERT_TRUE(any_port.isOk());
  EXPECT_EQ(any_port->port, 0);
  EXPECT_FALSE(parseHostPort(":65536", {.host_optional = true, .port_zero = true}).isOk());
}

TEST(HostPortTest, ErrorsQuoteUntrustedTextPrintably) {
  auto r = parseHostPort("a\r\nb" + std::string(100, 'x'));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message().find('\r'), std::string::npos);
  EXPECT_NE(r.status().message().find("\"a??bx"), std::string::npos);
  EXPECT_NE(r.status().message().find("...\""), std::string::npos);
}

TEST(HostPortTest, FormatsWithBracketsAroundIpv6) {
  EXPECT_EQ(formatHostPort("fd00::5", 10250), "[fd00::5]:10250");
  EXPECT_EQ(formatHostPort("10.0.0.5", 10250), "10.0.0.5:10250");
  EXPECT_EQ(formatHostPort("node-1", 22), "node-1:22");
  auto round_trip = parseHostPort(formatHostPort("fd00::5", 443));
  ASSERT_TRUE(round_trip.isOk());
  EXPECT_EQ(round_trip->host, "fd00::5");
}

}  // namespace
}  // namespace herd::net
