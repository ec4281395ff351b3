#include "common/ops_server.h"

#include <gtest/gtest.h>
#include <string>

#include "support/test_env.h"

namespace herd::ops {
namespace {

std::string get(int port, const std::string& target, const std::string& method = "GET") {
  return testing::httpOnLoopback(port, target, method);
}

std::string statusLine(const std::string& response) { return testing::statusLineOf(response); }

TEST(OpsServerTest, ServesMetricsHealthReadinessAndPages) {
  bool ready = false;
  Handlers handlers;
  handlers.metrics = [] { return std::string("herd_up 1\n"); };
  handlers.ready = [&] { return ready; };
  handlers.pages["/"] = [](const std::string&) {
    return Page{200, "text/html; charset=utf-8", "<h1>herd</h1>"};
  };
  handlers.pages["/clusters/"] = [](const std::string& path) {
    return Page{200, "text/plain", "cluster " + path.substr(10)};
  };
  auto server = startServer("127.0.0.1:0", handlers);
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  int port = (*server)->port();
  ASSERT_GT(port, 0);

  std::string metrics = get(port, "/metrics");
  EXPECT_EQ(statusLine(metrics), "HTTP/1.1 200 OK");
  EXPECT_NE(metrics.find("text/plain; version=0.0.4"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\r\n\r\nherd_up 1\n"), std::string::npos) << metrics;
  EXPECT_EQ(statusLine(get(port, "/healthz")), "HTTP/1.1 200 OK");
  EXPECT_EQ(statusLine(get(port, "/readyz?verbose")), "HTTP/1.1 503 Service Unavailable");
  ready = true;
  EXPECT_EQ(statusLine(get(port, "/readyz")), "HTTP/1.1 200 OK");

  std::string root = get(port, "/");
  EXPECT_NE(root.find("text/html"), std::string::npos) << root;
  EXPECT_NE(root.find("<h1>herd</h1>"), std::string::npos);
  // A prefix ending in '/' takes every path below it; the query is not part of the path.
  std::string demo = get(port, "/clusters/demo?x=1");
  EXPECT_NE(demo.find("cluster demo"), std::string::npos) << demo;
  // Exact paths match exactly: "/" is not a prefix for unknown paths, "/clusters" is not
  // "/clusters/".
  EXPECT_EQ(statusLine(get(port, "/nothing")), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(statusLine(get(port, "/clusters")), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(statusLine(get(port, "/metrics", "POST")), "HTTP/1.1 405 Method Not Allowed");
}

TEST(OpsServerTest, ABadListenAddressIsAClearError) {
  auto server = startServer("not an address", {});
  ASSERT_FALSE(server.isOk());
  EXPECT_NE(server.status().message().find("ops listener"), std::string::npos)
      << server.status().toString();
}

}  // namespace
}  // namespace herd::ops
