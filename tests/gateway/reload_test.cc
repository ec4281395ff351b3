// What a rewrite of `herd gateway --config FILE` changes in a running gateway: limits (the
// global and per-tenant connection caps, the ClientHello cap) and timeouts apply to new
// connections without a restart, while open connections keep working; a changed listener
// address is logged as needing a restart and the rest of the file is applied all the same.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "common/files.h"
#include "gateway_test_util.h"

namespace herd::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using herd::testing::TempDir;
using testing::EchoServer;
using testing::GatewayProcess;

constexpr const char* kAlpha = "alpha.herd.localhost";

class GatewayReloadTest : public ::testing::Test {
 protected:
  void TearDown() override { closeHeld(); }

  // Before SIGTERM: the drain waits for open connections.
  void closeHeld() {
    for (int fd : held_) ::close(fd);
    held_.clear();
  }

  std::string tenants(int alpha_cap) const {
    return "tenants:\n  - name: alpha\n    maxConnections: " + std::to_string(alpha_cap) +
           "\n    apiServers: [\"127.0.0.1:" + std::to_string(echo_.port()) +
           "\"]\n  - name: beta\n    apiServers: [\"127.0.0.1:" + std::to_string(echo_.port()) +
           "\"]\n";
  }

  // The whole file, listeners included, replaced at once as a ConfigMap update does it.
  void rewrite(const std::string& tls_listen, const std::string& rest) {
    std::string text = "listeners:\n  tls: \"" + tls_listen +
                       "\"\n  http: \"127.0.0.1:" + std::to_string(gateway_.httpPort()) +
                       "\"\n  admin: \"127.0.0.1:" + std::to_string(gateway_.adminPort()) + "\"\n" +
                       rest;
    ASSERT_TRUE(files::writeAtomic(dir_.file("gateway.yaml"), text).isOk());
  }

  std::string sameTls() const { return "127.0.0.1:" + std::to_string(gateway_.tlsPort()); }

  // Waits until the gateway has applied `count` reloads in all.
  bool waitForReloads(double count) {
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      if (gateway_.metric("herd_gateway_config_reloads_total") >= count) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // A routed connection that has echoed its ClientHello, kept open; -1 if it was refused.
  int openRouted(const std::string& sni) {
    int fd = testing::connectLoopback(gateway_.tlsPort());
    if (fd < 0) return -1;
    std::string hello = testing::clientHello(sni);
    if (!testing::sendAll(fd, hello) || !testing::readExactly(fd, hello.size())) {
      ::close(fd);
      return -1;
    }
    held_.push_back(fd);
    return fd;
  }

  static bool stillEchoes(int fd, const std::string& payload) {
    return testing::sendAll(fd, payload) && testing::readExactly(fd, payload.size()) == payload;
  }

  EchoServer echo_;
  TempDir dir_;
  GatewayProcess gateway_{dir_};
  std::vector<int> held_;
};

TEST_F(GatewayReloadTest, LowerGlobalCapRefusesNewConnectionsWhileOpenOnesKeepWorking) {
  ASSERT_TRUE(gateway_.start("limits: {maxConnections: 10}\n" + tenants(10))) << gateway_.log();
  std::vector<int> open;
  for (int i = 0; i < 3; ++i) {
    int fd = openRouted(kAlpha);
    ASSERT_GE(fd, 0);
    open.push_back(fd);
  }
  // Under the first cap a fourth connection is served.
  ASSERT_TRUE(testing::echoRoundTrip(gateway_.tlsPort(), kAlpha, "fourth"));
  // Its slot must be free again before the cap comes down to the three that stay open.
  auto deadline = Clock::now() + 3s;
  while (gateway_.metric("herd_gateway_active_connections") != 3 && Clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(gateway_.metric("herd_gateway_active_connections"), 3);

  // A lower cap, and a TLS listener on another port, which cannot move without a restart.
  int other_port = herd::testing::freeLoopbackPort();
  rewrite("127.0.0.1:" + std::to_string(other_port), "limits: {maxConnections: 3}\n" + tenants(10));
  ASSERT_TRUE(waitForReloads(1)) << gateway_.log();

  double rejected = gateway_.metric("herd_gateway_rejected_global_limit_total");
  EXPECT_FALSE(testing::echoRoundTrip(gateway_.tlsPort(), "beta.herd.localhost", "over the cap"));
  EXPECT_EQ(gateway_.metric("herd_gateway_rejected_global_limit_total"), rejected + 1);
  for (int fd : open) EXPECT_TRUE(stillEchoes(fd, "still here"));

  // The listener stayed where it was, and the log says why.
  EXPECT_LT(testing::connectLoopback(other_port, 200ms), 0);
  std::string log = gateway_.log();
  EXPECT_NE(log.find("configuration change needs a restart"), std::string::npos) << log;
  EXPECT_NE(log.find("listeners.tls"), std::string::npos) << log;
  EXPECT_NE(log.find(std::to_string(other_port)), std::string::npos) << log;

  // One connection leaves: the new cap has room for exactly one more.
  std::erase(held_, open.back());
  ::close(open.back());
  open.pop_back();
  bool served = false;
  deadline = Clock::now() + 3s;
  while (!served && Clock::now() < deadline) {
    served = openRouted(kAlpha) >= 0;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served);
  EXPECT_FALSE(testing::echoRoundTrip(gateway_.tlsPort(), kAlpha, "over the cap again"));
  closeHeld();
  EXPECT_EQ(gateway_.terminate(), 0) << gateway_.log();
}

TEST_F(GatewayReloadTest, TenantCapHandshakeTimeoutAndHelloCapApplyWithoutRestart) {
  ASSERT_TRUE(gateway_.start("timeouts: {handshake: 10s}\n" + tenants(10))) << gateway_.log();
  // The start of a ClientHello that announces 1,008 bytes: under the default cap the gateway
  // waits for the rest; under a 512-byte cap it is too large at once.
  const std::string big_hello_start("\x16\x03\x01\x04\x00\x01\x00\x03\xf0", 9);
  auto closedWithin = [&](const std::string& bytes, std::chrono::milliseconds wait) {
    int fd = testing::connectLoopback(gateway_.tlsPort(), wait);
    EXPECT_GE(fd, 0);
    if (!bytes.empty()) testing::sendAll(fd, bytes);
    char c;
    ssize_t n = ::recv(fd, &c, 1, 0);  // 0: closed; -1 with EAGAIN: still open at the timeout
    bool closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    ::close(fd);
    return closed;
  };
  int first = openRouted(kAlpha);
  ASSERT_GE(first, 0);
  ASSERT_GE(openRouted(kAlpha), 0);
  EXPECT_FALSE(closedWithin(big_hello_start, 500ms));
  EXPECT_FALSE(closedWithin("", 500ms));

  rewrite(sameTls(),
          "limits: {maxClientHelloBytes: 512}\ntimeouts: {handshake: 200ms}\n" + tenants(2));
  ASSERT_TRUE(waitForReloads(1)) << gateway_.log();

  // alpha now has its two connections: a third is refused, and beta is not held back by it.
  EXPECT_LT(openRouted(kAlpha), 0);
  EXPECT_GE(gateway_.metric("herd_gateway_rejected_tenant_limit_total"), 1);
  EXPECT_GE(openRouted("beta.herd.localhost"), 0);
  EXPECT_TRUE(stillEchoes(first, "alpha's open connection"));
  // The new hello cap and handshake timeout.
  EXPECT_TRUE(closedWithin(big_hello_start, 2s));
  EXPECT_GE(gateway_.metric("herd_gateway_hello_too_large_total"), 1);
  auto start = Clock::now();
  EXPECT_TRUE(closedWithin("", 3s));
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_GE(gateway_.metric("herd_gateway_handshake_timeouts_total"), 1);
  EXPECT_EQ(gateway_.log().find("needs a restart"), std::string::npos);
  closeHeld();
  EXPECT_EQ(gateway_.terminate(), 0) << gateway_.log();
}

}  // namespace
}  // namespace herd::gateway
