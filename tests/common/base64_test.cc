#include "common/base64.h"

#include <gtest/gtest.h>

namespace herd {
namespace {

TEST(Base64, EncodesWithPadding) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("\xfb\xff"), "+/8=");
}

TEST(Base64, DecodesWhatItEncodes) {
  for (std::string data : {"", "f", "fo", "foo", "foob", "\xfb\xff\x00 binary"}) {
    auto decoded = base64Decode(base64Encode(data));
    ASSERT_TRUE(decoded.isOk()) << data;
    EXPECT_EQ(*decoded, data);
  }
  EXPECT_FALSE(base64Decode("Zg=x").isOk());
  EXPECT_FALSE(base64Decode("Z-8").isOk());
}

TEST(Base64Url, EncodesWithoutPaddingInTheUrlAlphabet) {
  EXPECT_EQ(base64UrlEncode("f"), "Zg");
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64UrlEncode(R"({"alg":"HS256"})"), "eyJhbGciOiJIUzI1NiJ9");
}

TEST(Base64Url, DecodesWithOrWithoutPadding) {
  auto raw = base64UrlDecode("-_8");
  ASSERT_TRUE(raw.isOk());
  EXPECT_EQ(*raw, "\xfb\xff");
  auto padded = base64UrlDecode("-_8=");
  ASSERT_TRUE(padded.isOk());
  EXPECT_EQ(*padded, "\xfb\xff");
  auto token = base64UrlDecode(base64UrlEncode(std::string("{\"start\":\"a\0\"}", 14)));
  ASSERT_TRUE(token.isOk());
  EXPECT_EQ(*token, std::string("{\"start\":\"a\0\"}", 14));
}

TEST(Base64Url, RefusesTheStandardAlphabetAndGarbage) {
  EXPECT_FALSE(base64UrlDecode("+/8").isOk());
  EXPECT_FALSE(base64UrlDecode("Zg Zg").isOk());
  EXPECT_FALSE(base64UrlDecode("\x81").isOk());
  EXPECT_FALSE(base64UrlDecode("Z").isOk());
}

}  // namespace
}  // namespace herd
