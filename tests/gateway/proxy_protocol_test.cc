#include "gateway/proxy_protocol.h"

#include <gtest/gtest.h>

namespace herd::gateway {
namespace {

TEST(ProxyProtocolTest, Ipv4HeaderWithAuthority) {
  ProxyAddresses a;
  a.source = {10, 0, 0, 1};
  a.destination = {127, 0, 0, 1};
  a.source_port = 50000;
  a.destination_port = 443;
  std::string h = buildProxyV2Header(a, "alpha.herd.localhost");
  ASSERT_EQ(h.size(), 16u + 12 + 3 + 20);
  EXPECT_EQ(h.substr(0, 12), std::string("\r\n\r\n\0\r\nQUIT\n", 12));
  EXPECT_EQ(static_cast<uint8_t>(h[12]), 0x21);
  EXPECT_EQ(static_cast<uint8_t>(h[13]), 0x11);
  EXPECT_EQ((static_cast<uint8_t>(h[14]) << 8) | static_cast<uint8_t>(h[15]), 12 + 3 + 20);
  EXPECT_EQ(static_cast<uint8_t>(h[16]), 10);
  EXPECT_EQ(static_cast<uint8_t>(h[20]), 127);
  EXPECT_EQ((static_cast<uint8_t>(h[24]) << 8) | static_cast<uint8_t>(h[25]), 50000);
  EXPECT_EQ((static_cast<uint8_t>(h[26]) << 8) | static_cast<uint8_t>(h[27]), 443);
  EXPECT_EQ(static_cast<uint8_t>(h[28]), 0x02);
  EXPECT_EQ(h.substr(31), "alpha.herd.localhost");
}

TEST(ProxyProtocolTest, Ipv6AndLocal) {
  ProxyAddresses a;
  a.ipv6 = true;
  a.source[15] = 1;
  std::string h = buildProxyV2Header(a, "");
  EXPECT_EQ(h.size(), 16u + 36);
  EXPECT_EQ(static_cast<uint8_t>(h[13]), 0x21);
  std::string local = buildProxyV2Local();
  EXPECT_EQ(local.size(), 16u);
  EXPECT_EQ(static_cast<uint8_t>(local[12]), 0x20);
}

}  // namespace
}  // namespace herd::gateway
