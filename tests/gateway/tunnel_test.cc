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
#include "tunnel_harness.h"

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
  auto node =
      Process::spawn(tunnel::testing::sshCommand({}, node_key, "alpha", "127.0.0.1", ssh_port,
                                                 dir.file("known_hosts"), "node-1", kubelet.port()),
                     options);
  ASSERT_TRUE(node.isOk());

  UniqueFd stream;
  tunnel::testing::eventually(
      [&] {
        stream = tunnel::testing::connectThrough(egress, "node-1:10250");
        return stream.valid() || !node->running();
      },
      15s);
  ASSERT_TRUE(stream.valid()) << files::read(dir.file("ssh.log")).valueOr("") << gateway.log();
  ASSERT_TRUE(testing::sendAll(stream.get(), "ping through the tunnel"));
  EXPECT_EQ(testing::readExactly(stream.get(), 23).value_or(""), "ping through the tunnel");
  stream = UniqueFd();
  // An unknown node is refused, not hung.
  std::string refusal;
  EXPECT_FALSE(tunnel::testing::connectThrough(egress, "node-9:10250", &refusal).valid());
  EXPECT_NE(refusal.find("502"), std::string::npos) << refusal;

  EXPECT_EQ(gateway.metric("herd_tunnel_ssh_sessions_live"), 1) << gateway.metrics();

  // SIGTERM: the gateway drains, then the tunnel ends the node's session and the process exits.
  EXPECT_EQ(gateway.terminate(10s), 0) << gateway.log();
  auto ended = node->waitFor(10s);
  EXPECT_TRUE(ended.has_value()) << "the node's ssh outlived the gateway";
  if (!ended) node->stop(1s);
}

}  // namespace
}  // namespace herd::gateway
