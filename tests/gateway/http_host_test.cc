#include "gateway/http_host.h"

#include <gtest/gtest.h>

namespace herd::gateway {
namespace {

TEST(HttpHeadTest, FindsHostWithoutPortLowerCased) {
  auto info =
      inspectHttpHead("GET /x HTTP/1.1\r\nUser-Agent: t\r\nHOST: Grafana.Alpha.Test:8080\r\n\r\n");
  EXPECT_EQ(info.outcome, HttpHeadOutcome::kOk);
  EXPECT_EQ(info.host, "grafana.alpha.test");
}

TEST(HttpHeadTest, NeedsMoreUntilTheHeadEnds) {
  std::string head = "GET / HTTP/1.1\r\nHost: a.b\r\n\r\n";
  for (size_t n = 0; n < head.size(); ++n) {
    EXPECT_EQ(inspectHttpHead(head.substr(0, n)).outcome, HttpHeadOutcome::kNeedMore) << n;
  }
  EXPECT_EQ(inspectHttpHead(head).host, "a.b");
}

TEST(HttpHeadTest, RefusesWhatCouldBeReadTwoWays) {
  EXPECT_EQ(inspectHttpHead("GET / HTTP/1.1\r\nHost: a.b\r\nHost: c.d\r\n\r\n").outcome,
            HttpHeadOutcome::kMalformed);
  EXPECT_EQ(inspectHttpHead("GET / HTTP/1.1\r\nHost : a.b\r\n\r\n").outcome,
            HttpHeadOutcome::kMalformed);
  EXPECT_EQ(inspectHttpHead("GET / HTTP/1.1\r\nX: y\r\n folded\r\n\r\n").outcome,
            HttpHeadOutcome::kMalformed);
  EXPECT_EQ(inspectHttpHead("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n").outcome,
            HttpHeadOutcome::kMalformed);
  EXPECT_EQ(inspectHttpHead("\x16\x03\x01garbage\r\n").outcome, HttpHeadOutcome::kMalformed);
}

TEST(HttpHeadTest, MissingHostIsOkAndEmpty) {
  auto info = inspectHttpHead("GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(info.outcome, HttpHeadOutcome::kOk);
  EXPECT_TRUE(info.host.empty());
}

TEST(HttpHeadTest, OversizedHeadIsRefused) {
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a');
  EXPECT_EQ(inspectHttpHead(big).outcome, HttpHeadOutcome::kTooLarge);
}

}  // namespace
}  // namespace herd::gateway
