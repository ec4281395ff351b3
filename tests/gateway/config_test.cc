#include "gateway/config.h"

#include <gtest/gtest.h>

namespace herd::gateway {
namespace {

constexpr std::string_view kFull = R"(
listeners: {tls: "127.0.0.1:9443", http: "127.0.0.1:9080", admin: "127.0.0.1:9090"}
workers: 2
baseDomain: example.test
limits: {maxConnections: 100, maxConnectionsPerTenant: 10, maxClientHelloBytes: 4096}
timeouts: {handshake: 2s, idle: 5m, connect: 500ms, drain: 1s, removedRouteGrace: 1h}
healthCheck: {interval: 1s, timeout: 200ms}
defaultBackends: ["127.0.0.1:7000"]
tenants:
  - name: alpha
    apiServers: ["127.0.0.1:6443", "[::1]:6444"]
    etcd: ["localhost:2379"]
    maxConnections: 5
    proxyProtocol: true
httpRoutes:
  - host: grafana.alpha.example.test
    tenant: alpha
    backends: ["127.0.0.1:3000"]
)";

TEST(GatewayConfigTest, ParsesEveryField) {
  auto c = parseGatewayConfig(kFull);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->tls_listen, "127.0.0.1:9443");
  EXPECT_EQ(c->workers, 2);
  EXPECT_EQ(c->limits.max_client_hello_bytes, 4096u);
  EXPECT_EQ(c->timeouts.connect, Millis(500));
  EXPECT_EQ(c->timeouts.removed_route_grace, Millis(3600 * 1000));
  ASSERT_EQ(c->tenants.size(), 1u);
  EXPECT_EQ(c->tenants[0].api_servers[1].key(), "[::1]:6444");
  EXPECT_EQ(c->tenants[0].etcd[0].ip, "127.0.0.1");
  EXPECT_TRUE(c->tenants[0].proxy_protocol);
  EXPECT_EQ(c->http_routes[0].backends[0].port, 3000);
  EXPECT_EQ(c->default_backends.size(), 1u);
}

TEST(GatewayConfigTest, ErrorsNameTheField) {
  struct Case {
    std::string text, expected;
  } cases[] = {
      {"tenants: [{name: alpha, apiServers: [\"example.com:443\"]}]", "tenants[0].apiServers[0]"},
      {"tenants: [{name: Alpha}]", "tenants[0].name"},
      {"tenants: [{name: a}, {name: a}]", "listed twice"},
      {"timeouts: {idle: 10}", "timeouts.idle"},
      {"timeouts: {idle: 10d}", "not a duration"},
      {"limits: {maxClientHelloBytes: 10}", "maxClientHelloBytes"},
      {"bogus: 1", "unknown field \"bogus\""},
      {"tenants: [{name: a, apiServer: []}]", "unknown field \"apiServer\""},
      {"listeners: {tls: \"127.0.0.1\"}", "listeners.tls"},
      {"tenants: [{name: a, etcd: [\"127.0.0.1:0\"]}]", "port outside 1-65535"},
  };
  for (const auto& c : cases) {
    auto r = parseGatewayConfig(c.text);
    ASSERT_FALSE(r.isOk()) << c.text;
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos)
        << c.text << " -> " << r.status().message();
  }
}

TEST(GatewayConfigTest, Durations) {
  EXPECT_EQ(*parseDuration("250ms"), Millis(250));
  EXPECT_EQ(*parseDuration("3m"), Millis(180000));
  EXPECT_FALSE(parseDuration("-1s").isOk());
  EXPECT_FALSE(parseDuration("1.5s").isOk());
  EXPECT_FALSE(parseDuration("99999h").isOk());
}

// The tunnel section is read by the tunnel's own parser, relative to the config's directory,
// and its errors name the section.
TEST(GatewayConfigTest, TunnelSectionUsesTheTunnelSchema) {
  auto none = parseGatewayConfig("tenants: []");
  ASSERT_TRUE(none.isOk());
  EXPECT_FALSE(none->tunnel.has_value());
  auto with = parseGatewayConfig(
      "tunnel:\n  ssh: {listen: \"127.0.0.1:2222\", hostKeyFile: host_key}\n"
      "  tenants: [{name: alpha, nodeKeys: [\"ssh-ed25519 "
      "AAAAC3NzaC1lZDI1NTE5AAAAIGb0yGSl0dxkT4wFSpwcWt3wD2mAdRCQBfe3M0gO4vBz n\"]}]\n",
      "/etc/herd");
  ASSERT_TRUE(with.isOk()) << with.status().toString();
  ASSERT_TRUE(with->tunnel.has_value());
  EXPECT_EQ(with->tunnel->ssh_listen, "127.0.0.1:2222");
  EXPECT_EQ(with->tunnel->host_key_file, "/etc/herd/host_key");
  ASSERT_EQ(with->tunnel->tenants.size(), 1u);
  auto bad = parseGatewayConfig("tunnel: {ssh: {bogus: 1}}");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("tunnel"), std::string::npos) << bad.status().message();
}

TEST(GatewayConfigTest, TenantPortsAreValidatedAgainstEachOtherAndTheListeners) {
  auto ok = parseGatewayConfig(
      "tenants: [{name: a, port: 7443, apiServers: [\"127.0.0.1:6443\"]}, {name: b}]");
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_EQ(ok->tenants[0].port, 7443);
  EXPECT_EQ(ok->tenants[1].port, 0);  // none unless asked for

  struct Case {
    std::string text, expected;
  } cases[] = {
      {"tenants: [{name: a, port: 0}]", "tenants[0].port: must be an integer from 1 to 65535"},
      {"tenants: [{name: a, port: 65536}]", "tenants[0].port"},
      {"tenants: [{name: a, port: \"7443\"}]", "tenants[0].port"},
      {"tenants: [{name: a, port: 7443}, {name: b, port: 7443}]",
       "tenants[1].port: 7443 is tenant \"a\"'s already"},
      {"listeners: {tls: \"127.0.0.1:8443\"}\ntenants: [{name: a, port: 8443}]",
       "tenants[0].port: 8443 is the port of listeners.tls"},
      {"listeners: {http: \"0.0.0.0:8080\"}\ntenants: [{name: a, port: 8080}]", "listeners.http"},
      {"tenants: [{name: a, port: 9090}]", "listeners.admin"},  // the default admin port
  };
  for (const auto& c : cases) {
    auto r = parseGatewayConfig(c.text);
    ASSERT_FALSE(r.isOk()) << c.text;
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos)
        << c.text << " -> " << r.status().message();
  }
}

}  // namespace
}  // namespace herd::gateway
