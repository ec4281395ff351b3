// Route changes through the config file while traffic flows: tenant beta is added and removed
// a hundred times while clients of tenant alpha keep making requests, none of which may fail;
// each change must be visible quickly; a removed tenant's connections end after the grace.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "gateway_test_util.h"

namespace herd::gateway {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string tenantYaml(const std::string& name, int port) {
  return "  - name: " + name + "\n    apiServers: [\"127.0.0.1:" + std::to_string(port) + "\"]\n";
}

TEST(GatewayChurnTest, TenantBAddedAndRemoved100TimesWhileAIsServedWithoutAFailure) {
  testing::EchoServer alpha_backend, beta_backend;
  herd::testing::TempDir dir;
  testing::GatewayProcess gateway(dir);
  std::string head = "timeouts: {removedRouteGrace: 0s}\ntenants:\n";
  std::string alpha = tenantYaml("alpha", alpha_backend.port());
  std::string beta = tenantYaml("beta", beta_backend.port());
  ASSERT_TRUE(gateway.start(head + alpha)) << gateway.log();

  std::atomic<bool> done{false};
  std::atomic<int> requests{0}, failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; !done; ++i) {
        bool ok =
            testing::echoRoundTrip(gateway.tlsPort(), "alpha.herd.localhost",
                                   "client " + std::to_string(c) + " request " + std::to_string(i));
        requests++;
        if (!ok) failures++;
      }
    });
  }
  // Joins the clients however the test ends, so a failed assertion reports instead of aborting.
  struct Joiner {
    std::atomic<bool>& done;
    std::vector<std::thread>& threads;
    ~Joiner() {
      done = true;
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{done, clients};
  Clock::duration worst_apply{};
  // A change counts as applied when the gateway has reloaded it and beta's routing matches. A
  // refused beta request alone is not proof (a loaded machine can fail a request for other
  // reasons), so the reload counter must have moved on too.
  double reloads = gateway.metric("herd_gateway_config_reloads_total");
  auto until = [&](bool want_beta) {
    auto start = Clock::now();
    reloads += 1;
    while (Clock::now() - start < 5s) {
      if (gateway.metric("herd_gateway_config_reloads_total") >= reloads &&
          testing::echoRoundTrip(gateway.tlsPort(), "beta.herd.localhost", "b") == want_beta) {
        worst_apply = std::max(worst_apply, Clock::now() - start);
        return true;
      }
    }
    return false;
  };
  for (int cycle = 0; cycle < 100; ++cycle) {
    gateway.writeConfig(head + alpha + beta);
    ASSERT_TRUE(until(true)) << "cycle " << cycle << gateway.log();
    gateway.writeConfig(head + alpha);
    ASSERT_TRUE(until(false)) << "cycle " << cycle;
  }
  done = true;
  for (auto& t : clients) t.join();
  auto worst_ms = std::chrono::duration_cast<std::chrono::milliseconds>(worst_apply).count();
  std::cout << "alpha requests: " << requests << ", failed: " << failures
            << ", slowest change applied in " << worst_ms << " ms\n";
  EXPECT_EQ(failures, 0);
  EXPECT_GT(requests, 100);
  // The goal is 100 ms (25 ms polling); the bound leaves room for a loaded CI machine.
  EXPECT_LT(worst_ms, 1000);
  EXPECT_EQ(gateway.terminate(), 0);
}

TEST(GatewayChurnTest, RemovedTenantsConnectionsCloseAfterTheGraceOthersStay) {
  testing::EchoServer alpha_backend, beta_backend;
  herd::testing::TempDir dir;
  testing::GatewayProcess gateway(dir);
  std::string head = "timeouts: {removedRouteGrace: 1s}\ntenants:\n";
  std::string alpha = tenantYaml("alpha", alpha_backend.port());
  ASSERT_TRUE(gateway.start(head + alpha + tenantYaml("beta", beta_backend.port())));
  auto open = [&](const std::string& sni) {
    int fd = testing::connectLoopback(gateway.tlsPort(), 10s);
    std::string hello = testing::clientHello(sni);
    EXPECT_TRUE(testing::sendAll(fd, hello));
    EXPECT_TRUE(testing::readExactly(fd, hello.size()).has_value());
    return fd;
  };
  int a = open("alpha.herd.localhost");
  int b = open("beta.herd.localhost");
  gateway.writeConfig(head + alpha);
  auto removed = Clock::now();
  std::this_thread::sleep_for(300ms);
  // Within the grace the removed tenant's connection still works; new ones are refused.
  ASSERT_TRUE(testing::sendAll(b, "x"));
  EXPECT_EQ(testing::readExactly(b, 1).value_or(""), "x");
  EXPECT_FALSE(testing::echoRoundTrip(gateway.tlsPort(), "beta.herd.localhost", "new"));
  // After it, the gateway closes it.
  EXPECT_EQ(testing::readToEof(b), "");
  auto closed_after = Clock::now() - removed;
  EXPECT_GE(closed_after, 900ms);
  EXPECT_LT(closed_after, 5s);
  ::close(b);
  ASSERT_TRUE(testing::sendAll(a, "y"));
  EXPECT_EQ(testing::readExactly(a, 1).value_or(""), "y");
  ::close(a);
  EXPECT_EQ(gateway.metric("herd_gateway_removed_route_closed_total"), 1);
  EXPECT_EQ(gateway.terminate(), 0);
}

}  // namespace
}  // namespace herd::gateway
