// buildSeedConfig: Cluster objects and EndpointSlices, as the seed API serves them, become
// the tenants of a gateway configuration.
#include <gtest/gtest.h>

#include <map>

#include "gateway/route_table.h"
#include "gateway/seed_route_source.h"

namespace herd::gateway {
namespace {

using nlohmann::json;

json cluster(const std::string& name, const std::string& hostname = {}) {
  json c = {{"apiVersion", "herd.io/v1alpha1"},
            {"kind", "Cluster"},
            {"metadata", {{"name", name}}},
            {"spec", json::object()}};
  if (!hostname.empty()) c["spec"]["expose"] = {{"hostname", hostname}};
  return c;
}

json slice(const std::string& ns, const std::string& service, const json& endpoints,
           const json& ports, const std::string& type = "IPv4") {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", service + "-x"},
            {"namespace", ns},
            {"labels", {{"kubernetes.io/service-name", service}}}}},
          {"addressType", type},
          {"endpoints", endpoints},
          {"ports", ports}};
}

json ready(const std::string& ip, bool is_ready = true) {
  return {{"addresses", {ip}}, {"conditions", {{"ready", is_ready}}}};
}

std::vector<std::string> keys(const std::vector<BackendAddress>& v) {
  std::vector<std::string> out;
  for (const auto& b : v) out.push_back(b.key());
  return out;
}

TEST(SeedConfigTest, ClustersAndTheirSlicesBecomeTenants) {
  GatewayConfig base;
  base.base_domain = "example.test";
  auto config = buildSeedConfig(
      base, {cluster("alpha"), cluster("beta", "api.beta.example.org")},
      {slice("herd-alpha", "kube-apiserver",
             {ready("10.0.0.2"), ready("10.0.0.1"), ready("10.0.0.3", false),
              json{{"addresses", {"10.0.0.4"}}}},
             {{{"name", "https"}, {"port", 6443}, {"protocol", "TCP"}}}),
       slice("herd-alpha", "etcd", json::array({ready("10.0.1.1")}),
             {{{"name", "peer"}, {"port", 2380}}, {{"name", "client"}, {"port", 2379}}}),
       slice("herd-beta", "kube-apiserver", json::array({ready("fd00::1")}), {{{"port", 6443}}},
             "IPv6"),
       // Not a tenant namespace, a foreign service, an FQDN slice: all ignored.
       slice("default", "kube-apiserver", json::array({ready("10.9.9.9")}), {{{"port", 443}}}),
       slice("herd-beta", "other", json::array({ready("10.9.9.8")}), {{{"port", 80}}}),
       slice("herd-beta", "etcd", json::array({ready("etcd-0.example")}), {{{"port", 2379}}},
             "FQDN")});
  ASSERT_EQ(config.tenants.size(), 2u);
  const auto& alpha = config.tenants[0];
  EXPECT_EQ(alpha.name, "alpha");
  EXPECT_EQ(alpha.hostname, "alpha.example.test");
  // Not-ready endpoints are left out; a missing condition counts as ready.
  EXPECT_EQ(keys(alpha.api_servers),
            (std::vector<std::string>{"10.0.0.1:6443", "10.0.0.2:6443", "10.0.0.4:6443"}));
  EXPECT_EQ(keys(alpha.etcd), (std::vector<std::string>{"10.0.1.1:2379"}));
  const auto& beta = config.tenants[1];
  EXPECT_EQ(beta.hostname, "api.beta.example.org");
  EXPECT_EQ(keys(beta.api_servers), (std::vector<std::string>{"[fd00::1]:6443"}));
  EXPECT_TRUE(beta.etcd.empty());
}

TEST(SeedConfigTest, ADeletingClusterHasNoRoutesAndStaticTenantsWin) {
  GatewayConfig base;
  TenantRoutes fixed;
  fixed.name = "alpha";
  fixed.api_servers.push_back({"127.0.0.1", 7000});
  base.tenants.push_back(fixed);
  json deleting = cluster("gamma");
  deleting["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z";
  auto config = buildSeedConfig(
      base, {cluster("alpha"), deleting, cluster("delta")},
      {slice("herd-alpha", "kube-apiserver", json::array({ready("10.0.0.1")}), {{{"port", 6443}}}),
       slice("herd-gamma", "kube-apiserver", json::array({ready("10.0.0.2")}), {{{"port", 6443}}}),
       slice("herd-delta", "kube-apiserver", {ready("10.0.0.3"), ready("not-an-ip")},
             {{{"port", 6443}}})});
  ASSERT_EQ(config.tenants.size(), 2u);
  EXPECT_EQ(keys(config.tenants[0].api_servers), (std::vector<std::string>{"127.0.0.1:7000"}));
  EXPECT_EQ(config.tenants[1].name, "delta");
  EXPECT_EQ(keys(config.tenants[1].api_servers), (std::vector<std::string>{"10.0.0.3:6443"}));
}

TEST(SeedConfigTest, HostileShapesAreSkippedNotThrown) {
  GatewayConfig base;
  json weird_slice = slice("herd-alpha", "kube-apiserver", json::array({1, "x", nullptr}),
                           json::array({{{"port", "https"}}, 7}));
  json no_labels = {{"metadata", {{"namespace", "herd-alpha"}, {"labels", 3}}}};
  auto config = buildSeedConfig(base, {json(5), json::object(), cluster("alpha")},
                                {weird_slice, no_labels, json("x"), json::array()});
  ASSERT_EQ(config.tenants.size(), 1u);
  EXPECT_TRUE(config.tenants[0].api_servers.empty());
}

}  // namespace
}  // namespace herd::gateway

namespace herd::gateway {
namespace {

// The access table (which deploy/gateway's ClusterRole is checked against) and the resources
// the informers really open must name the same things.
TEST(SeedConfigTest, AccessTableNamesTheResourcesTheInformersWatch) {
  auto same = [](const SeedApiAccess& a, const kube::ResourceRef& r) {
    EXPECT_EQ(a.group, r.group);
    EXPECT_EQ(a.version, r.version);
    EXPECT_EQ(a.resource, r.resource);
    EXPECT_EQ(a.namespaced, r.namespaced);
    EXPECT_EQ(a.kind, r.kind);
  };
  same(kClustersAccess, kube::clustersResource());
  same(kEndpointSlicesAccess, kube::endpointSlicesResource());
}

json withPort(json cluster, json port) {
  cluster["status"]["gatewayPort"] = std::move(port);
  return cluster;
}

const TenantRoutes* tenantNamed(const GatewayConfig& config, const std::string& name) {
  for (const auto& t : config.tenants) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TEST(SeedConfigTest, StatusGatewayPortBecomesTheTenantsPort) {
  auto base = parseGatewayConfig(
      "listeners: {tls: \"127.0.0.1:8443\"}\n"
      "tenants: [{name: static, port: 7100, apiServers: [\"127.0.0.1:6443\"]}]");
  ASSERT_TRUE(base.isOk()) << base.status().toString();
  GatewayConfig config =
      buildSeedConfig(*base,
                      {withPort(cluster("alpha"), 7001), cluster("beta"),
                       withPort(cluster("gamma"), 7001), withPort(cluster("delta"), 7100),
                       withPort(cluster("eps"), 8443), withPort(cluster("zeta"), 70000),
                       withPort(cluster("eta"), "7002"), withPort(cluster("theta"), -5)},
                      {});
  // Every cluster keeps its SNI routes; only valid, free ports are granted.
  ASSERT_EQ(config.tenants.size(), 9u);
  std::map<std::string, int> ports;
  for (const auto& t : config.tenants) ports[t.name] = t.port;
  EXPECT_EQ(ports, (std::map<std::string, int>{{"static", 7100},
                                               {"alpha", 7001},  // first by name
                                               {"beta", 0},      // none in its status
                                               {"gamma", 0},     // alpha's
                                               {"delta", 0},     // the static tenant's
                                               {"eps", 0},       // the TLS listener's
                                               {"zeta", 0},      // out of range
                                               {"eta", 0},       // not an integer
                                               {"theta", 0}}));
  // The result passes the route table's own check.
  GatewayStats stats;
  RouteRegistry registry(stats);
  EXPECT_TRUE(registry.build(config).isOk());
}

TEST(SeedConfigTest, APortMovesWithTheStatus) {
  GatewayConfig base;
  auto first = buildSeedConfig(base, {withPort(cluster("alpha"), 7001)}, {});
  auto moved = buildSeedConfig(base, {withPort(cluster("alpha"), 7002)}, {});
  auto gone = buildSeedConfig(base, {cluster("alpha")}, {});
  ASSERT_NE(tenantNamed(first, "alpha"), nullptr);
  EXPECT_EQ(tenantNamed(first, "alpha")->port, 7001);
  EXPECT_EQ(tenantNamed(moved, "alpha")->port, 7002);
  EXPECT_EQ(tenantNamed(gone, "alpha")->port, 0);
}

}  // namespace
}  // namespace herd::gateway
