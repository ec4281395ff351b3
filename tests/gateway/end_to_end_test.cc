// The gateway between real TLS peers: openssl s_client, curl, kubectl and etcdctl reach the
// backends of two tenants, each with its own CAs, through one gateway port. TLS runs end to
// end (the gateway never terminates it), so each backend sees the client's own certificate.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "api/defaults.h"
#include "common/files.h"
#include "gateway_test_util.h"
#include "pki/kubeconfig.h"
#include "pki/pki_store.h"
#include "pki/tenant_pki.h"

namespace herd::gateway {
namespace {

using namespace std::chrono_literals;
using herd::testing::TempDir;
using testing::GatewayProcess;

constexpr std::chrono::seconds kToolTimeout{30};

using testing::Tenant;
using testing::waitForPort;

class GatewayEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(alpha_.startApiBackend());
    ASSERT_TRUE(alpha_.startApiBackend());
    ASSERT_TRUE(beta_.startApiBackend());
  }

  std::string routes(const std::string& extra = {}) const {
    std::string alpha_backends;
    for (int p : alpha_.api_ports) {
      alpha_backends += "\"127.0.0.1:" + std::to_string(p) + "\", ";
    }
    // A dead backend too: the passive check must route around it.
    alpha_backends += "\"127.0.0.1:" + std::to_string(dead_port_) + "\"";
    return "healthCheck: {interval: 200ms, timeout: 200ms}\n"
           "tenants:\n"
           "  - name: alpha\n    apiServers: [" +
           alpha_backends + "]\n" + extra +
           "  - name: beta\n    apiServers: [\"127.0.0.1:" + std::to_string(beta_.api_ports[0]) +
           "\"]\n";
  }

  CommandResult sClient(const Tenant& as, const std::string& server_name, int port) {
    auto r = runCommand(
        {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-servername",
         server_name, "-CAfile", as.dir.file("pki/ca.crt"), "-cert", as.dir.file("admin.crt"),
         "-key", as.dir.file("admin.key"), "-verify_return_error", "-ign_eof"},
        "GET / HTTP/1.0\r\n\r\n", kToolTimeout);
    EXPECT_TRUE(r.isOk());
    return r ? *r : CommandResult{};
  }

  Tenant alpha_{"alpha"};
  Tenant beta_{"beta"};
  int dead_port_ = herd::testing::freeLoopbackPort();
  TempDir dir_;
  GatewayProcess gateway_{dir_};
};

TEST_F(GatewayEndToEndTest, OpensslReachesEachTenantWithItsOwnCaAndClientCertificate) {
  ASSERT_TRUE(gateway_.start(routes())) << gateway_.log();
  for (int i = 0; i < 4; ++i) {  // more than one pass: both alpha backends, the dead one skipped
    auto a = sClient(alpha_, "alpha.herd.localhost", gateway_.tlsPort());
    EXPECT_NE(a.out.find("Verify return code: 0 (ok)"), std::string::npos) << a.out << a.err;
    // s_server -www prints the session, including the certificate the client presented.
    EXPECT_NE(a.out.find("Client certificate"), std::string::npos) << a.out;
  }
  auto b = sClient(beta_, "BETA.herd.localhost", gateway_.tlsPort());
  EXPECT_NE(b.out.find("Verify return code: 0 (ok)"), std::string::npos) << b.out << b.err;
  // alpha's credentials are worthless at beta: beta's server demands its own CA.
  auto cross = sClient(alpha_, "beta.herd.localhost", gateway_.tlsPort());
  EXPECT_EQ(cross.out.find("Client certificate"), std::string::npos) << cross.out;
  // Unknown and missing names are closed and counted.
  auto unknown = sClient(alpha_, "gamma.herd.localhost", gateway_.tlsPort());
  EXPECT_NE(unknown.out.find("no peer certificate available"), std::string::npos) << unknown.out;
  EXPECT_GE(gateway_.metric("herd_gateway_sni_unknown_total"), 1);
  std::string metrics = gateway_.metrics();
  EXPECT_NE(metrics.find("herd_gateway_route_connections_total{route=\"alpha/api\"} 4"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("herd_gateway_backend_healthy{backend=\"127.0.0.1:" +
                         std::to_string(dead_port_) + "\"} 0"),
            std::string::npos)
      << metrics;
  EXPECT_EQ(gateway_.terminate(), 0) << gateway_.log();
}

TEST_F(GatewayEndToEndTest, CurlWithResolveSeesTheBackendPage) {
  ASSERT_TRUE(gateway_.start(routes())) << gateway_.log();
  std::string port = std::to_string(gateway_.tlsPort());
  for (Tenant* t : {&alpha_, &beta_}) {
    std::string host = t->name + ".herd.localhost";
    auto r = runCommand(
        {"curl", "-sS", "--max-time", "20", "--resolve", host + ":" + port + ":127.0.0.1",
         "--cacert", t->dir.file("pki/ca.crt"), "--cert", t->dir.file("admin.crt"), "--key",
         t->dir.file("admin.key"), "https://" + host + ":" + port + "/"},
        {}, kToolTimeout);
    ASSERT_TRUE(r.isOk());
    EXPECT_EQ(r->exit_code, 0) << r->err;
    EXPECT_NE(r->out.find("Client certificate"), std::string::npos) << r->out;
  }
  EXPECT_EQ(gateway_.terminate(), 0);
}

TEST_F(GatewayEndToEndTest, KubectlWithTheTenantKubeconfig) {
  ASSERT_TRUE(gateway_.start(routes())) << gateway_.log();
  for (Tenant* t : {&alpha_, &beta_}) {
    ProcessOptions options;
    options.env = {"HOME=" + t->dir.path(), "KUBECONFIG="};
    auto r =
        runCommand({"kubectl", "--kubeconfig", t->dir.file("admin.conf"), "--server",
                    "https://127.0.0.1:" + std::to_string(gateway_.tlsPort()), "--tls-server-name",
                    t->name + ".herd.localhost", "--request-timeout", "20s", "get", "--raw", "/"},
                   {}, kToolTimeout, options);
    ASSERT_TRUE(r.isOk());
    EXPECT_EQ(r->exit_code, 0) << r->err;
    EXPECT_NE(r->out.find("Client certificate"), std::string::npos) << r->out;
  }
  EXPECT_EQ(gateway_.terminate(), 0);
}

// etcdctl takes its server name from the endpoint's host, so the test gives it a private
// /etc/hosts in a mount namespace of its own, where etcd.alpha.herd.localhost is loopback.
TEST_F(GatewayEndToEndTest, EtcdctlReachesRealEtcdThroughTheGateway) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a private /etc/hosts (unshare --mount)";
  auto etcd_bin = findExecutable("etcd");
  if (!etcd_bin) GTEST_SKIP() << "etcd not installed";
  int client_port = herd::testing::freeLoopbackPort();
  int peer_port = herd::testing::freeLoopbackPort();
  const auto& d = alpha_.dir;
  ProcessOptions options;
  options.stdout_path = d.file("etcd.log");
  options.stderr_path = d.file("etcd.log");
  std::string client_url = "https://127.0.0.1:" + std::to_string(client_port);
  auto etcd = Process::spawn({*etcd_bin,
                              "--name",
                              "etcd-0",
                              "--data-dir",
                              d.file("etcd-data"),
                              "--listen-client-urls",
                              client_url,
                              "--advertise-client-urls",
                              client_url,
                              "--listen-peer-urls",
                              "http://127.0.0.1:" + std::to_string(peer_port),
                              "--initial-advertise-peer-urls",
                              "http://127.0.0.1:" + std::to_string(peer_port),
                              "--initial-cluster",
                              "etcd-0=http://127.0.0.1:" + std::to_string(peer_port),
                              "--cert-file",
                              d.file("pki/etcd/server.crt"),
                              "--key-file",
                              d.file("pki/etcd/server.key"),
                              "--client-cert-auth",
                              "--trusted-ca-file",
                              d.file("pki/etcd/ca.crt")},
                             options);
  ASSERT_TRUE(etcd.isOk());
  ASSERT_TRUE(waitForPort(client_port, 20s)) << files::read(d.file("etcd.log")).valueOr("");
  ASSERT_TRUE(
      gateway_.start(routes("    etcd: [\"127.0.0.1:" + std::to_string(client_port) + "\"]\n")))
      << gateway_.log();
  std::string hosts = dir_.write("hosts", "127.0.0.1 localhost etcd.alpha.herd.localhost\n");
  std::string etcdctl = "etcdctl --endpoints https://etcd.alpha.herd.localhost:" +
                        std::to_string(gateway_.tlsPort()) + " --cacert " +
                        d.file("pki/etcd/ca.crt") + " --cert " +
                        d.file("pki/apiserver-etcd-client.crt") + " --key " +
                        d.file("pki/apiserver-etcd-client.key") + " --dial-timeout 10s";
  ProcessOptions env;
  env.env = {"ETCDCTL_API=3"};
  auto r = runCommand({"unshare", "--mount", "sh", "-c",
                       "mount --bind " + hosts + " /etc/hosts && " + etcdctl +
                           " put /herd/gateway through && " + etcdctl + " get /herd/gateway"},
                      {}, kToolTimeout, env);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->exit_code, 0) << r->err << gateway_.log();
  EXPECT_NE(r->out.find("OK\n/herd/gateway\nthrough"), std::string::npos) << r->out;
  EXPECT_GE(gateway_.metric("herd_gateway_route_active_connections{route=\"alpha/etcd\"}"), 0);
  EXPECT_EQ(gateway_.terminate(), 0);
}

TEST_F(GatewayEndToEndTest, PlainHttpRoutesByHostAndOperationsEndpoints) {
  testing::EchoServer web;
  ASSERT_TRUE(gateway_.start(routes() +
                             "httpRoutes:\n  - host: grafana.alpha.herd.localhost\n"
                             "    backends: [\"127.0.0.1:" +
                             std::to_string(web.port()) + "\"]\n"))
      << gateway_.log();
  // The echo backend returns the request: the bytes went through unchanged.
  int fd = testing::connectLoopback(gateway_.httpPort());
  std::string request = "GET /d HTTP/1.1\r\nHost: Grafana.alpha.herd.localhost:80\r\n\r\n";
  ASSERT_TRUE(testing::sendAll(fd, request));
  EXPECT_EQ(testing::readExactly(fd, request.size()).value_or(""), request);
  ::close(fd);
  EXPECT_EQ(testing::httpGet(gateway_.httpPort(), "/", "nobody.example").status, 404);
  EXPECT_EQ(testing::httpGet(gateway_.adminPort(), "/healthz").status, 200);
  EXPECT_EQ(testing::httpGet(gateway_.adminPort(), "/nothing").status, 404);
  EXPECT_GE(gateway_.metric("herd_gateway_http_host_unknown_total"), 1);
  EXPECT_NE(gateway_.metrics().find("herd_gateway_peek_seconds_bucket"), std::string::npos);
  EXPECT_EQ(gateway_.terminate(), 0);
}

// SIGTERM: /readyz fails and the listener closes at once, an open connection may finish
// within the drain timeout, then the process exits 0.
TEST_F(GatewayEndToEndTest, SigtermDrainsOpenConnections) {
  testing::EchoServer echo;
  ASSERT_TRUE(
      gateway_.start("timeouts: {drain: 3s}\ntenants:\n  - name: alpha\n"
                     "    apiServers: [\"127.0.0.1:" +
                     std::to_string(echo.port()) + "\"]\n"))
      << gateway_.log();
  int fd = testing::connectLoopback(gateway_.tlsPort());
  std::string hello = testing::clientHello("alpha.herd.localhost");
  ASSERT_TRUE(testing::sendAll(fd, hello));
  ASSERT_TRUE(testing::readExactly(fd, hello.size()).has_value());
  ASSERT_EQ(::kill(gateway_.pid(), SIGTERM), 0);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (testing::httpGet(gateway_.adminPort(), "/readyz").status == 200 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LT(testing::connectLoopback(gateway_.tlsPort(), 1s), 0) << "listener still open";
  // The established connection still works during the drain...
  ASSERT_TRUE(testing::sendAll(fd, "still here"));
  EXPECT_EQ(testing::readExactly(fd, 10).value_or(""), "still here");
  // ...and ends when the client half-closes: the echo backend closes in turn.
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(testing::readToEof(fd), "");
  ::close(fd);
  EXPECT_EQ(gateway_.terminate(5s), 0) << gateway_.log();
  EXPECT_NE(gateway_.log().find("drained"), std::string::npos);
}

}  // namespace
}  // namespace herd::gateway
