// Decoding of etcd gateway answers, without a server: good objects, etcd errors, and bodies
// that are not JSON or were cut short.
#include "etcd/gateway.h"

#include <gtest/gtest.h>

#include "etcd/client.h"

namespace herd::etcd {
namespace {

TEST(GatewayResponse, AnObjectIsReturned) {
  auto j = decodeGatewayResponse(200, R"({"header":{"revision":"7"},"count":"1"})");
  ASSERT_TRUE(j.isOk()) << j.status().toString();
  EXPECT_EQ((*j)["count"], "1");
}

TEST(GatewayResponse, EtcdErrorKeepsItsMessageAndCode) {
  auto j = decodeGatewayResponse(
      400, R"({"error":"etcdserver: mvcc: required revision has been compacted","code":11})");
  ASSERT_FALSE(j.isOk());
  EXPECT_EQ(j.status().code(), Code::kGone);
  EXPECT_EQ(j.status().message(), "etcdserver: mvcc: required revision has been compacted");

  j = decodeGatewayResponse(
      503, R"({"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14})");
  ASSERT_FALSE(j.isOk());
  EXPECT_EQ(j.status().code(), Code::kUnavailable);
  EXPECT_EQ(j.status().message(), "etcdserver: no leader");
}

TEST(GatewayResponse, NotJsonIsAClearError) {
  auto j = decodeGatewayResponse(200, "<html>bad gateway</html>");
  ASSERT_FALSE(j.isOk());
  EXPECT_NE(j.status().message().find("not a JSON object: <html>bad gateway"), std::string::npos)
      << j.status().message();
}

TEST(GatewayResponse, TruncatedBodyIsAClearError) {
  auto j = decodeGatewayResponse(200, R"({"header":{"revision":"7"},"kvs":[{"key":"YQ==")");
  ASSERT_FALSE(j.isOk());
  EXPECT_NE(j.status().message().find("not a JSON object"), std::string::npos);

  j = decodeGatewayResponse(200, "");
  ASSERT_FALSE(j.isOk());
  EXPECT_NE(j.status().message().find("(empty)"), std::string::npos);

  j = decodeGatewayResponse(200, "[1,2]");
  EXPECT_FALSE(j.isOk());
}

TEST(PrefixEnd, IncrementsTheLastByteBelow0xff) {
  EXPECT_EQ(prefixEnd("/registry/"), "/registry0");
  EXPECT_EQ(prefixEnd("a\xff"), "b");
  EXPECT_EQ(prefixEnd("\xff\xff"), std::string(1, '\0'));
}

}  // namespace
}  // namespace herd::etcd
