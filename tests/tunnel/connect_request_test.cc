// The CONNECT parser on good requests, on every malformation worth a distinct answer, and on
// the committed fuzz corpus (replayed here so that it runs without libFuzzer).
#include "tunnel/connect_request.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/test_env.h"

namespace herd::tunnel {
namespace {

TEST(ConnectRequestTest, ParsesWhatKubeApiserverSends) {
  std::string request =
      "CONNECT 10.0.0.5:10250 HTTP/1.1\r\nHost: 10.0.0.5:10250\r\nUser-Agent: Go-http-client/1.1"
      "\r\n\r\nextra";
  auto p = parseConnectRequest(request);
  ASSERT_EQ(p.state, ParseState::kComplete) << p.error;
  EXPECT_EQ(p.request.host, "10.0.0.5");
  EXPECT_EQ(p.request.port, 10250);
  EXPECT_EQ(request.substr(p.request.header_bytes), "extra");
  auto v6 = parseConnectRequest("CONNECT [fd00::5]:10250 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(v6.state, ParseState::kComplete);
  EXPECT_EQ(v6.request.host, "fd00::5");
  auto fwd =
      parseConnectRequest("CONNECT node-1:10250 HTTP/1.1\r\nHerd-Forwarded-Tenant: a\r\n\r\n");
  EXPECT_EQ(fwd.request.forwarded_tenant, "a");
}

TEST(ConnectRequestTest, AsksForMoreUntilTheHeadersEnd) {
  EXPECT_EQ(parseConnectRequest("").state, ParseState::kIncomplete);
  EXPECT_EQ(parseConnectRequest("CONN").state, ParseState::kIncomplete);
  EXPECT_EQ(parseConnectRequest("CONNECT a:1 HTTP/1.1\r\n").state, ParseState::kIncomplete);
}

TEST(ConnectRequestTest, RejectsWithTheRightStatus) {
  struct Case {
    std::string input;
    int status;
  };
  for (const auto& c : std::vector<Case>{
           {"GET / HTTP/1.1\r\n\r\n", 405},
           {"\x16\x03\x01\x02\x00", 405},
           {"SSH-2.0-OpenSSH_9.2\r\n", 405},
           {"CONNECT node-1 HTTP/1.1\r\n\r\n", 400},
           {"CONNECT node-1:0 HTTP/1.1\r\n\r\n", 400},
           {"CONNECT node-1:65536 HTTP/1.1\r\n\r\n", 400},
           {"CONNECT node-1:10250x HTTP/1.1\r\n\r\n", 400},
           {"CONNECT no/de:1 HTTP/1.1\r\n\r\n", 400},
           {"CONNECT [zz]:1 HTTP/1.1\r\n\r\n", 400},
           {"CONNECT a:1 HTTP/2\r\n\r\n", 400},
           {"CONNECT a:1 HTTP/1.1\r\nno colon\r\n\r\n", 400},
           {"CONNECT a:1 HTTP/1.1\r\n: empty\r\n\r\n", 400},
           {"CONNECT a:1 HTTP/1.1\r\nX: " + std::string(9000, 'a'), 431},
       }) {
    auto p = parseConnectRequest(c.input);
    EXPECT_EQ(p.state, ParseState::kInvalid) << c.input.substr(0, 40);
    EXPECT_EQ(p.http_status, c.status) << c.input.substr(0, 40) << ": " << p.error;
    EXPECT_FALSE(p.error.empty());
  }
}

TEST(ConnectRequestTest, ReplaysTheFuzzCorpus) {
  std::string dir = herd::testing::sourceDir() + "/tests/tunnel/connect_corpus";
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string input = herd::testing::readFileOrDie(entry.path().string());
    auto p = parseConnectRequest(input);
    if (p.state == ParseState::kComplete) {
      EXPECT_LE(p.request.header_bytes, input.size());
    }
    if (p.state == ParseState::kInvalid) {
      EXPECT_NE(p.http_status, 0);
    }
    ++replayed;
  }
  EXPECT_GE(replayed, 5);
}

}  // namespace
}  // namespace herd::tunnel
