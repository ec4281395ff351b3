// Tenant ports, end to end through `herd gateway --config FILE`: a tenant's own port takes any
// connection (TLS with or without SNI, or none at all) to that tenant's kube-apiservers and to
// no one else's; ports open, move and close with rewrites of the file, without a restart and
// without disturbing the other listeners; bad ports are reported and skipped; the tenant's
// connection limit and stats are those of its SNI route.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "gateway_test_util.h"

namespace herd::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using herd::testing::TempDir;
using testing::EchoServer;
using testing::GatewayProcess;

// Both the same length, so a reader knows how much to wait for.
constexpr const char* kAlphaGreeting = "alpha";
constexpr const char* kBetaGreeting = "beta!";

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(25ms);
  }
  return condition();
}

class TenantPortTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int fd : held_) ::close(fd);
  }

  // Connects to `port`, sends `first_bytes` and returns the backend's greeting, or "" when the
  // connection was refused or closed without one. With `keep`, the connection stays open.
  std::string greetingVia(int port, const std::string& first_bytes, int* keep = nullptr) {
    int fd = testing::connectLoopback(port);
    if (fd < 0) return "";
    std::string greeting;
    if (testing::sendAll(fd, first_bytes)) {
      auto got = testing::readExactly(fd, 5);
      // The echo of what was sent follows the greeting: the bytes went through untouched.
      auto echoed = got ? testing::readExactly(fd, first_bytes.size()) : std::nullopt;
      if (got && echoed == first_bytes) greeting = *got;
    }
    if (keep && !greeting.empty()) {
      *keep = fd;
      held_.push_back(fd);
    } else {
      ::close(fd);
    }
    return greeting;
  }

  std::string tenants(const std::string& alpha_extra, const std::string& beta_extra) const {
    return "tenants:\n  - name: alpha\n    apiServers: [\"127.0.0.1:" +
           std::to_string(alpha_.port()) + "\"]\n" + alpha_extra +
           "  - name: beta\n    apiServers: [\"127.0.0.1:" + std::to_string(beta_.port()) +
           "\"]\n" + beta_extra;
  }

  static std::string portLine(int port) { return "    port: " + std::to_string(port) + "\n"; }

  bool waitForReloads(double count) {
    return eventually(
        [&] { return gateway_.metric("herd_gateway_config_reloads_total") >= count; });
  }

  EchoServer alpha_{kAlphaGreeting};
  EchoServer beta_{kBetaGreeting};
  TempDir dir_;
  GatewayProcess gateway_{dir_};
  std::vector<int> held_;
};

TEST_F(TenantPortTest, APortIsItsTenantsWhateverTheClientSays) {
  int port = herd::testing::freeLoopbackPort();
  ASSERT_TRUE(gateway_.start(tenants(portLine(port), ""))) << gateway_.log();

  // No SNI (a pod dialing the kubernetes Service IP), and no TLS at all: still alpha.
  ASSERT_TRUE(eventually([&] {
    return greetingVia(port, testing::clientHello("")) == kAlphaGreeting;
  })) << gateway_.log();
  EXPECT_EQ(greetingVia(port, "not even TLS"), kAlphaGreeting);
  // Another tenant's name in the ClientHello does not lead anywhere else: the port is alpha's.
  EXPECT_EQ(greetingVia(port, testing::clientHello("beta.herd.localhost")), kAlphaGreeting);
  EXPECT_EQ(greetingVia(port, testing::clientHello("etcd.beta.herd.localhost")), kAlphaGreeting);
  // The shared TLS port still routes by SNI.
  EXPECT_EQ(greetingVia(gateway_.tlsPort(), testing::clientHello("beta.herd.localhost")),
            kBetaGreeting);
  EXPECT_EQ(greetingVia(gateway_.tlsPort(), testing::clientHello("alpha.herd.localhost")),
            kAlphaGreeting);

  // The port's connections are the SNI route's: one set of stats (four on the port, one by
  // SNI; attempts before the port opened were refused, not routed).
  EXPECT_EQ(gateway_.metric("herd_gateway_route_connections_total{route=\"alpha/api\"}"), 5);
  EXPECT_EQ(gateway_.metric("herd_gateway_route_connections_total{route=\"beta/api\"}"), 1);
  EXPECT_EQ(gateway_.metric("herd_gateway_sni_missing_total"), 0);  // never looked at
}

TEST_F(TenantPortTest, PortsOpenMoveAndCloseLiveWhileOtherListenersKeepWorking) {
  int first = herd::testing::freeLoopbackPort();
  int second = herd::testing::freeLoopbackPort();
  ASSERT_NE(first, second);
  ASSERT_TRUE(gateway_.start("timeouts: {removedRouteGrace: 1s}\n" + tenants("", "")))
      << gateway_.log();
  double reloads = gateway_.metric("herd_gateway_config_reloads_total");
  EXPECT_LT(testing::connectLoopback(first), 0);  // nothing there yet

  // Add.
  gateway_.writeConfig("timeouts: {removedRouteGrace: 1s}\n" + tenants(portLine(first), ""));
  ASSERT_TRUE(waitForReloads(reloads + 1)) << gateway_.log();
  ASSERT_TRUE(eventually([&] { return greetingVia(first, "x") == kAlphaGreeting; }))
      << gateway_.log();
  int held = -1;
  ASSERT_EQ(greetingVia(first, "held", &held), kAlphaGreeting);

  // Move: the new port takes over, the old one refuses new connections, and the connection
  // opened on it ends after the removed-route grace.
  gateway_.writeConfig("timeouts: {removedRouteGrace: 1s}\n" + tenants(portLine(second), ""));
  ASSERT_TRUE(waitForReloads(reloads + 2)) << gateway_.log();
  ASSERT_TRUE(eventually([&] { return greetingVia(second, "x") == kAlphaGreeting; }))
      << gateway_.log();
  EXPECT_TRUE(eventually([&] {
    int fd = testing::connectLoopback(first);
    if (fd >= 0) ::close(fd);
    return fd < 0;
  }));
  // Ended by the gateway (EOF), well before the read timeout of 5 s per recv runs out twice.
  auto before_end = Clock::now();
  std::string rest = testing::readToEof(held);
  EXPECT_TRUE(rest.empty());
  EXPECT_LT(Clock::now() - before_end, 60s);
  EXPECT_TRUE(
      eventually([&] { return gateway_.metric("herd_gateway_removed_route_closed_total") >= 1; }));
  // The shared listener was never disturbed.
  EXPECT_EQ(greetingVia(gateway_.tlsPort(), testing::clientHello("beta.herd.localhost")),
            kBetaGreeting);

  // Hand the old port to beta, then take alpha's away.
  gateway_.writeConfig("timeouts: {removedRouteGrace: 1s}\n" + tenants("", portLine(first)));
  ASSERT_TRUE(waitForReloads(reloads + 3)) << gateway_.log();
  ASSERT_TRUE(eventually([&] { return greetingVia(first, "x") == kBetaGreeting; }))
      << gateway_.log();
  EXPECT_TRUE(eventually([&] {
    int fd = testing::connectLoopback(second);
    if (fd >= 0) ::close(fd);
    return fd < 0;
  }));
  EXPECT_EQ(greetingVia(gateway_.tlsPort(), testing::clientHello("alpha.herd.localhost")),
            kAlphaGreeting);
  EXPECT_EQ(gateway_.metric("herd_gateway_tenant_port_errors_total"), 0);
}

TEST_F(TenantPortTest, BadPortsAreReportedAndSkipped) {
  // A port some other process holds: the gateway cannot bind it.
  int busy_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(busy_fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(busy_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(busy_fd, 4), 0);
  socklen_t length = sizeof addr;
  ::getsockname(busy_fd, reinterpret_cast<sockaddr*>(&addr), &length);
  int busy = ntohs(addr.sin_port);
  int free_port = herd::testing::freeLoopbackPort();

  ASSERT_TRUE(gateway_.start(tenants(portLine(busy), portLine(free_port)))) << gateway_.log();
  ASSERT_TRUE(eventually([&] { return greetingVia(free_port, "x") == kBetaGreeting; }))
      << gateway_.log();
  EXPECT_GE(gateway_.metric("herd_gateway_tenant_port_errors_total"), 1);
  EXPECT_NE(gateway_.log().find("tenant port cannot be opened"), std::string::npos);
  // alpha keeps its SNI route.
  EXPECT_EQ(greetingVia(gateway_.tlsPort(), testing::clientHello("alpha.herd.localhost")),
            kAlphaGreeting);

  // A rewrite that hands beta the TLS listener's port is refused whole; the routes stay.
  double errors = gateway_.metric("herd_gateway_config_reload_errors_total");
  gateway_.writeConfig(tenants("", portLine(gateway_.tlsPort())));
  ASSERT_TRUE(eventually([&] {
    return gateway_.metric("herd_gateway_config_reload_errors_total") > errors;
  })) << gateway_.log();
  EXPECT_NE(gateway_.log().find("is the port of listeners.tls"), std::string::npos);
  EXPECT_EQ(greetingVia(free_port, "x"), kBetaGreeting);
  EXPECT_EQ(greetingVia(gateway_.tlsPort(), testing::clientHello("beta.herd.localhost")),
            kBetaGreeting);
  ::close(busy_fd);
}

TEST_F(TenantPortTest, TheTenantsLimitCountsItsPortAndItsSniRouteTogether) {
  int port = herd::testing::freeLoopbackPort();
  ASSERT_TRUE(gateway_.start(tenants(portLine(port) + "    maxConnections: 1\n", "")))
      << gateway_.log();
  int held = -1;
  ASSERT_TRUE(eventually([&] {
    return greetingVia(gateway_.tlsPort(), testing::clientHello("alpha.herd.localhost"), &held) ==
           kAlphaGreeting;
  }));
  EXPECT_EQ(greetingVia(port, "x"), "");  // the one slot is taken
  EXPECT_GE(gateway_.metric("herd_gateway_rejected_tenant_limit_total"), 1);
  EXPECT_EQ(greetingVia(port, testing::clientHello("beta.herd.localhost")), "");
  // Another tenant is not limited by alpha's connections.
  EXPECT_EQ(greetingVia(gateway_.tlsPort(), testing::clientHello("beta.herd.localhost")),
            kBetaGreeting);
}

}  // namespace
}  // namespace herd::gateway
