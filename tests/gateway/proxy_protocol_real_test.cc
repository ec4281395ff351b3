// PROXY protocol v2 between the gateway and a real backend that parses it: Debian's nginx with
// `listen ... ssl proxy_protocol`, which answers with the client address the header carried.
// curl reaches it over TLS through the gateway, from an address and port of its choosing, and
// the answer must name that address and port (the client), not the gateway's. A tenant without
// the option reaches a plain TLS nginx unchanged: that nginx would fail the handshake on a
// PROXY header, and it sees the gateway as its peer.
#include <gtest/gtest.h>

#include "gateway_test_util.h"

namespace herd::gateway {
namespace {

using herd::testing::TempDir;
using testing::GatewayProcess;
using testing::NginxProcess;
using testing::Tenant;

constexpr std::chrono::seconds kToolTimeout{30};
// The client's own loopback address: not the 127.0.0.1 from which the gateway dials its
// backends, so an answer naming it can only have come from the PROXY header.
constexpr const char* kClientAddress = "127.0.0.2";

class ProxyProtocolRealTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NginxProcess::available()) GTEST_SKIP() << "nginx is not installed (scripts/setup)";
  }

  // A server block answering with nginx's view of the connection.
  static std::string server(int port, bool proxy_protocol, const Tenant& tenant,
                            const std::string& answer) {
    return "  server {\n    listen 127.0.0.1:" + std::to_string(port) + " ssl" +
           (proxy_protocol ? " proxy_protocol" : "") + ";\n    ssl_certificate " +
           tenant.dir.file("pki/apiserver.crt") + ";\n    ssl_certificate_key " +
           tenant.dir.file("pki/apiserver.key") + ";\n    location / { return 200 \"" + answer +
           "\\n\"; }\n  }\n";
  }

  // GET / as `tenant` through the gateway, from kClientAddress:local_port.
  CommandResult curlThroughGateway(const Tenant& tenant, int local_port) {
    std::string host = tenant.name + ".herd.localhost";
    std::string port = std::to_string(gateway_.tlsPort());
    auto r = runCommand(
        {"curl", "-sS", "--max-time", "20", "--interface", kClientAddress, "--local-port",
         std::to_string(local_port), "--resolve", host + ":" + port + ":127.0.0.1", "--cacert",
         tenant.dir.file("pki/ca.crt"), "https://" + host + ":" + port + "/"},
        {}, kToolTimeout);
    EXPECT_TRUE(r.isOk());
    return r ? *r : CommandResult{};
  }

  Tenant alpha_{"alpha"};
  Tenant beta_{"beta"};
  TempDir nginx_dir_;
  NginxProcess nginx_{nginx_dir_};
  TempDir gateway_dir_;
  GatewayProcess gateway_{gateway_dir_};
};

TEST_F(ProxyProtocolRealTest, NginxBehindTheGatewaySeesTheClientNotTheGateway) {
  int proxied_port = herd::testing::freeLoopbackPort();
  int plain_port = herd::testing::freeLoopbackPort();
  ASSERT_TRUE(
      nginx_.start(server(proxied_port, true, alpha_,
                          "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr "
                          "$proxy_protocol_server_port") +
                       server(plain_port, false, beta_, "$remote_addr $remote_port"),
                   {proxied_port, plain_port}))
      << nginx_.log();
  ASSERT_TRUE(gateway_.start(
      "tenants:\n  - name: alpha\n    proxyProtocol: true\n"
      "    apiServers: [\"127.0.0.1:" +
      std::to_string(proxied_port) +
      "\"]\n  - name: beta\n    apiServers: [\"127.0.0.1:" + std::to_string(plain_port) + "\"]\n"))
      << gateway_.log();

  // alpha: the client's address and source port, and the gateway address it dialled.
  int alpha_port = herd::testing::freeLoopbackPort();
  auto alpha = curlThroughGateway(alpha_, alpha_port);
  EXPECT_EQ(alpha.exit_code, 0) << alpha.err << nginx_.log();
  EXPECT_EQ(alpha.out, std::string(kClientAddress) + " " + std::to_string(alpha_port) +
                           " 127.0.0.1 " + std::to_string(gateway_.tlsPort()) + "\n")
      << nginx_.log();

  // beta: no header; the plain backend's peer is the gateway, not the client.
  int beta_port = herd::testing::freeLoopbackPort();
  auto beta = curlThroughGateway(beta_, beta_port);
  EXPECT_EQ(beta.exit_code, 0) << beta.err << nginx_.log();
  EXPECT_TRUE(beta.out.starts_with("127.0.0.1 ")) << beta.out;
  EXPECT_NE(beta.out, "127.0.0.1 " + std::to_string(beta_port) + "\n");
  EXPECT_EQ(beta.out.find(kClientAddress), std::string::npos) << beta.out;

  std::string metrics = gateway_.metrics();
  for (const char* route : {"alpha/api", "beta/api"}) {
    EXPECT_NE(metrics.find("herd_gateway_route_connections_total{route=\"" + std::string(route) +
                           "\"} 1"),
              std::string::npos)
        << metrics;
  }
  EXPECT_EQ(gateway_.terminate(), 0) << gateway_.log();
}

}  // namespace
}  // namespace herd::gateway
