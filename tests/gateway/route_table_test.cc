#include "gateway/route_table.h"

#include <gtest/gtest.h>

namespace herd::gateway {
namespace {

GatewayConfig configOf(std::string_view yaml) {
  auto c = parseGatewayConfig(yaml);
  EXPECT_TRUE(c.isOk()) << c.status().toString();
  return c.isOk() ? *c : GatewayConfig{};
}

TEST(RouteTableTest, DerivesTenantHostNamesLikeTheRestOfHerd) {
  GatewayStats stats;
  RouteRegistry registry(stats);
  auto table = registry.build(configOf(R"(
baseDomain: herd.localhost
tenants:
  - {name: alpha, apiServers: ["127.0.0.1:1001"], etcd: ["127.0.0.1:2001"]}
  - {name: beta, hostname: api.Beta.Example, apiServers: ["127.0.0.1:1002"]}
)"));
  ASSERT_TRUE(table.isOk());
  const RouteTable& t = **table;
  ASSERT_NE(t.findTls("alpha.herd.localhost"), nullptr);
  EXPECT_EQ(t.findTls("alpha.herd.localhost")->name, "alpha/api");
  EXPECT_EQ(t.findTls("etcd.alpha.herd.localhost")->name, "alpha/etcd");
  EXPECT_EQ(t.findTls("api.beta.example")->name, "beta/api");
  EXPECT_EQ(t.findTls("etcd.api.beta.example"), nullptr);  // beta has no etcd backends
  EXPECT_EQ(t.findTls("gamma.herd.localhost"), nullptr);
  EXPECT_EQ(t.defaultRoute(), nullptr);
  EXPECT_EQ(t.backends().size(), 3u);
}

TEST(RouteTableTest, TwoRoutesForOneHostAreRefused) {
  GatewayStats stats;
  RouteRegistry registry(stats);
  auto table = registry.build(configOf(R"(
tenants:
  - {name: alpha, apiServers: ["127.0.0.1:1001"]}
  - {name: beta, hostname: alpha.herd.localhost, apiServers: ["127.0.0.1:1002"]}
)"));
  EXPECT_FALSE(table.isOk());
}

TEST(RouteTableTest, LeastConnectionsSkipsUnhealthyAndTriedBackends) {
  GatewayStats stats;
  RouteRegistry registry(stats);
  auto table = registry.build(configOf(
      R"(tenants: [{name: a, apiServers: ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]}])"));
  ASSERT_TRUE(table.isOk());
  const Route* r = (*table)->findTls("a.herd.localhost");
  r->backends[0]->active = 5;
  r->backends[1]->active = 1;
  r->backends[2]->active = 3;
  size_t index = 99;
  EXPECT_EQ(r->pick(0, &index), r->backends[1]);
  EXPECT_EQ(index, 1u);
  r->backends[1]->healthy = false;
  EXPECT_EQ(r->pick(0, &index), r->backends[2]);
  EXPECT_EQ(r->pick(uint64_t{1} << 2, &index), r->backends[0]);
  // None healthy: every untried backend is still a candidate.
  for (auto& b : r->backends) b->healthy = false;
  EXPECT_EQ(r->pick(0, &index), r->backends[1]);
  EXPECT_EQ(r->pick(0b111, &index), nullptr);
}

TEST(RouteTableTest, StateSurvivesRebuildsAndDefaultRoute) {
  GatewayStats stats;
  RouteRegistry registry(stats);
  auto first = registry.build(configOf(R"(tenants: [{name: a, apiServers: ["127.0.0.1:1"]}])"));
  (*first)->backends()[0]->active = 7;
  auto second = registry.build(configOf(R"(
defaultBackends: ["127.0.0.1:9"]
tenants: [{name: a, apiServers: ["127.0.0.1:1"]}, {name: b, apiServers: ["127.0.0.1:2"]}]
)"));
  ASSERT_TRUE(second.isOk());
  EXPECT_GT((*second)->version(), (*first)->version());
  EXPECT_EQ((*second)->findTls("a.herd.localhost")->backends[0]->active, 7);
  ASSERT_NE((*second)->defaultRoute(), nullptr);
  EXPECT_EQ((*second)->defaultRoute()->name, "default");
}

TEST(GatewayStatsTest, PrometheusTextHasCountersRoutesAndHistogram) {
  GatewayStats stats;
  bump(stats.counters.sni_unknown, 3);
  stats.route("alpha/api")->connections = 2;
  stats.peek.observe(std::chrono::microseconds(300));
  std::string text = stats.renderPrometheus({}, true);
  EXPECT_NE(text.find("herd_gateway_sni_unknown_total 3\n"), std::string::npos);
  EXPECT_NE(text.find("herd_gateway_route_connections_total{route=\"alpha/api\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("herd_gateway_peek_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("herd_gateway_peek_seconds_count 1\n"), std::string::npos);
}

TEST(GatewayStatsTest, PrometheusTextHasBackendsSortedAndReadiness) {
  GatewayStats stats;
  auto second = std::make_shared<BackendState>(BackendAddress{"10.0.0.2", 6443});
  auto first = std::make_shared<BackendState>(BackendAddress{"10.0.0.1", 6443});
  second->healthy = false;
  second->active = 4;
  std::string text = stats.renderPrometheus({second, first}, false);
  EXPECT_NE(text.find("# HELP herd_gateway_backend_healthy Whether the backend passes its health "
                      "check.\n# TYPE herd_gateway_backend_healthy gauge\n"
                      "herd_gateway_backend_healthy{backend=\"10.0.0.1:6443\"} 1\n"
                      "herd_gateway_backend_healthy{backend=\"10.0.0.2:6443\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("herd_gateway_backend_active_connections{backend=\"10.0.0.2:6443\"} 4\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE herd_gateway_ready gauge\nherd_gateway_ready 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE herd_gateway_peek_seconds histogram\n"), std::string::npos);
}

// A tenant's port routes to its kube-apiserver route itself: one limit, one set of stats.
TEST(RouteTableTest, ATenantPortIsTheTenantsApiRoute) {
  GatewayStats stats;
  RouteRegistry registry(stats);
  auto table = registry.build(configOf(R"(
tenants:
  - {name: a, port: 7001, maxConnections: 5, apiServers: ["127.0.0.1:1"], etcd: ["127.0.0.1:2"]}
  - {name: b, port: 7002}
  - {name: c, apiServers: ["127.0.0.1:3"]}
)"));
  ASSERT_TRUE(table.isOk()) << table.status().toString();
  const Route* by_port = (*table)->findPort(7001);
  ASSERT_NE(by_port, nullptr);
  EXPECT_EQ(by_port, (*table)->findTls("a.herd.localhost"));
  EXPECT_EQ(by_port->name, "a/api");
  EXPECT_EQ(by_port->max_connections, 5);
  // b has a port but nothing to route to; c has no port.
  EXPECT_EQ((*table)->findPort(7002), nullptr);
  EXPECT_EQ((*table)->findPort(7003), nullptr);
  EXPECT_EQ((*table)->tenantPorts(), (std::map<uint16_t, std::string>{{7001, "a"}, {7002, "b"}}));

  // Two tenants on one port can only come from a source that skipped validation: refused.
  GatewayConfig twice = configOf("tenants: [{name: a, port: 7001}, {name: b}]");
  twice.tenants[1].port = 7001;
  auto refused = registry.build(twice);
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("port 7001"), std::string::npos);
}

}  // namespace
}  // namespace herd::gateway
