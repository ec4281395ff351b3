#include "common/net.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace herd::net
