// The tunnel server served by `herd gateway`: the gateway configuration's `tunnel:` section
// starts it in the gateway's process. A stock OpenSSH client registers a node with -R, a
// CONNECT on the egress socket reaches the node's "kubelet" (an echo server) through it, the
// tunnel's metrics appear on the gateway's /metrics, and SIGTERM ends both cleanly.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <thread>

#include "common/files.h"
#include "gateway_test_util.h"

namespace herd::gateway {
namespace {

using namespace std::chrono_literals;
using herd::testing::TempDir;
using testing::GatewayProcess;

std::string makeKey(const TempDir& dir, const std::string& name) {
  std::string path = dir.file(name);
  auto made = runCommand({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path});
  EXPECT_TRUE(made.isOk() && made->exit_code == 0) << "ssh-keygen failed";
  return path;
}

// CONNECT target over the Unix egress socket; the connected descriptor on "200", else -1.
int connectThrough(const std::string& socket_path, const std::string& target) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socket_path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      !testing::sendAll(fd, request)) {
    ::close(fd);
    return -1;
  }
  // Byte by byte, so that no tunnelled byte is taken with the response head.
  std::string head;
  while (head.size() < 4096 && !head.ends_with("\r\n\r\n")) {
    pollfd p{fd, POLLIN, 0};
    char c;
    if (::poll(&p, 1, 10000) != 1 || ::recv(fd, &c, 1, 0) != 1) break;
    head += c;
  }
  if (head.starts_with("HTTP/1.1 200")) return fd;
  ::close(fd);
  return -1;
}

TEST(GatewayTunnelTest, OpensshNodeAndConnectThroughHerdGateway) {
  if (!findExecutable("ssh") || !findExecutable("ssh-keygen")) GTEST_SKIP() << "needs OpenSSH";
  TempDir dir;
  std::string host_key = makeKey(dir, "host");
  std::string node_key = makeKey(dir, "alpha");
  int ssh_port = herd::testing::freeLoopbackPort();
  std::string egress = dir.file("alpha-egress.sock");
  testing::EchoServer kubelet;

  // Relative key file names: the tunnel section resolves them against the config's directory.
  std::string tunnel =
      "tunnel:\n"
      "  ssh:\n"
      "    listen: \"127.0.0.1:" +
      std::to_string(ssh_port) +
      "\"\n"
      "    hostKeyFile: host\n"
      "    keepaliveSeconds: 2\n"
      "  tenants:\n"
      "  - name: alpha\n"
      "    nodeKeyFiles: [alpha.pub]\n"
      "  connect:\n"
      "  - unix: " +
      egress +
      "\n"
      "    tenant: alpha\n";
  GatewayProcess gateway(dir);
  ASSERT_TRUE(gateway.start("timeouts: {drain: 2s}\n" + tunnel)) << gateway.log();

  auto host_pub = files::read(host_key + ".pub");
  ASSERT_TRUE(host_pub.isOk());
  ASSERT_TRUE(files::writeAtomic(dir.file("known_hosts"),
                                 "[127.0.0.1]:" + std::to_string(ssh_port) + " " + *host_pub)
                  .isOk());
  ProcessOptions options;
  options.stdout_path = dir.file("ssh.log");
  options.stderr_path = dir.file("ssh.log");
  auto node = Process::spawn({"ssh",
                              "-N",
                              "-T",
                              "-o",
                              "BatchMode=yes",
                              "-o",
                              "IdentitiesOnly=yes",
                              "-o",
                              "UserKnownHostsFile=" + dir.file("known_hosts"),
                              "-o",
                              "StrictHostKeyChecking=yes",
                              "-o",
                              "ExitOnForwardFailure=yes",
                              "-o",
                              "ServerAliveInterval=2",
                              "-o",
                              "ServerAliveCountMax=3",
                              "-o",
                              "ConnectTimeout=5",
                              "-i",
                              node_key,
                              "-p",
                              std::to_string(ssh_port),
                              "-R",
                              "node-1:10250:127.0.0.1:" + std::to_string(kubelet.port()),
                              "alpha@127.0.0.1"},
                             options);
  ASSERT_TRUE(node.isOk());

  int fd = -1;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (fd < 0 && std::chrono::steady_clock::now() < deadline && node->running()) {
    fd = connectThrough(egress, "node-1:10250");
    if (fd < 0) std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(fd, 0) << files::read(dir.file("ssh.log")).valueOr("") << gateway.log();
  ASSERT_TRUE(testing::sendAll(fd, "ping through the tunnel"));
  EXPECT_EQ(testing::readExactly(fd, 23).value_or(""), "ping through the tunnel");
  ::close(fd);
  // An unknown node is refused, not hung.
  EXPECT_LT(connectThrough(egress, "node-9:10250"), 0);

  EXPECT_EQ(gateway.metric("herd_tunnel_ssh_sessions_live"), 1) << gateway.metrics();

  // SIGTERM: the gateway drains, then the tunnel ends the node's session and the process exits.
  EXPECT_EQ(gateway.terminate(10s), 0) << gateway.log();
  auto ended = node->waitFor(10s);
  EXPECT_TRUE(ended.has_value()) << "the node's ssh outlived the gateway";
  if (!ended) node->stop(1s);
}

}  // namespace
}  // namespace herd::gateway
