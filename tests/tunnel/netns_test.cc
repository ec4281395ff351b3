// The tunnel against real OpenSSH clients across network namespaces: the gateway (`herd
// tunnel`) in one namespace, a node with its kubelet (openssl s_server, HTTPS on the node's
// loopback) in another, joined by a veth pair. The gateway cannot reach the kubelet; only a
// CONNECT through the node's `ssh -R` session can. Each test makes its own uniquely named
// namespaces and deletes them. Where namespaces cannot be created (no CAP_SYS_ADMIN), the
// same tests run on loopback and say so.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include "common/files.h"
#include "tunnel_harness.h"

namespace herd::tunnel::testing {
namespace {

using namespace std::chrono_literals;
using herd::testing::TempDir;

int run(const std::vector<std::string>& argv, std::string* err = nullptr) {
  auto r = runCommand(argv, {}, 20s);
  if (!r) return -1;
  if (err != nullptr) *err = r->err;
  return r->exit_code;
}

// An HTTPS GET over an established tunnel stream; the whole response.
std::string httpsGet(int fd) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  std::string out;
  if (SSL_connect(ssl) == 1) {
    std::string request = "GET / HTTP/1.0\r\n\r\n";
    SSL_write(ssl, request.data(), static_cast<int>(request.size()));
    char buffer[4096];
    int n;
    while ((n = SSL_read(ssl, buffer, sizeof buffer)) > 0) out.append(buffer, n);
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

class NetnsTunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!findExecutable("ssh") || !findExecutable("openssl")) GTEST_SKIP() << "needs OpenSSH";
    static std::atomic<int> counter{0};
    int n = (::getpid() * 7 + counter++) % 250;
    std::string suffix = fmt::format("{}x{}", ::getpid() % 100000, n);
    gw_ns_ = "hgw" + suffix;
    node_ns_ = "hnd" + suffix;
    // Inside the namespaces only; 10.213.0.0/16 is never routed outside them.
    gw_ip_ = fmt::format("10.213.{}.1", n);
    node_ip_ = fmt::format("10.213.{}.2", n);
    std::string err;
    netns_ = run({"ip", "netns", "add", gw_ns_}, &err) == 0;
    if (!netns_) {
      std::cerr << "network namespaces unavailable (" << err << "); running on loopback\n";
      gw_ip_ = node_ip_ = "127.0.0.1";
      kubelet_port_ = herd::testing::freeLoopbackPort();
    } else {
      ASSERT_EQ(run({"ip", "netns", "add", node_ns_}), 0);
      std::string vg = "hg" + suffix, vn = "hn" + suffix;
      ASSERT_EQ(run({"ip", "link", "add", vg, "type", "veth", "peer", "name", vn}), 0);
      ASSERT_EQ(run({"ip", "link", "set", vg, "netns", gw_ns_}), 0);
      ASSERT_EQ(run({"ip", "link", "set", vn, "netns", node_ns_}), 0);
      for (auto [ns, dev, ip] : {std::tuple{gw_ns_, vg, gw_ip_}, {node_ns_, vn, node_ip_}}) {
        ASSERT_EQ(run({"ip", "-n", ns, "addr", "add", ip + "/30", "dev", dev}), 0);
        ASSERT_EQ(run({"ip", "-n", ns, "link", "set", dev, "up"}), 0);
        ASSERT_EQ(run({"ip", "-n", ns, "link", "set", "lo", "up"}), 0);
      }
    }
    keys_ = std::make_unique<Keys>(dir_);
    ASSERT_EQ(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=node-1", "-days", "1",
                   "-keyout", dir_.file("kubelet.key"), "-out", dir_.file("kubelet.crt")}),
              0);
    auto kubelet = Process::spawn(
        concat(prefix(node_ns_), {"openssl", "s_server", "-quiet", "-www", "-accept",
                                  "127.0.0.1:" + std::to_string(kubelet_port_), "-cert",
                                  dir_.file("kubelet.crt"), "-key", dir_.file("kubelet.key")}));
    ASSERT_TRUE(kubelet.isOk());
    kubelet_.emplace(std::move(kubelet).value());
    unix_path_ = dir_.file("alpha-egress.sock");
    std::string config = dir_.write(
        "tunnel.yaml", tunnelConfig(*keys_, unix_path_, netns_ ? gw_ip_ + ":2222" : "127.0.0.1:0"));
    auto gateway = Process::spawn(
        concat(prefix(gw_ns_), {herd::testing::herdBinary(), "tunnel", "--config", config}),
        outputTo(dir_.file("gateway.out"), dir_.file("gateway.err")));
    ASSERT_TRUE(gateway.isOk());
    gateway_.emplace(std::move(gateway).value());
    ASSERT_TRUE(eventually(
        [&] {
          return files::read(dir_.file("gateway.out")).valueOr("").find("ready") !=
                 std::string::npos;
        },
        10s))
        << files::read(dir_.file("gateway.err")).valueOr("");
    std::ifstream out(dir_.file("gateway.out"));
    std::string line;
    while (std::getline(out, line)) {
      if (line.starts_with("ssh port ")) ssh_port_ = std::stoi(line.substr(9));
      if (line.starts_with("host key ")) host_key_ = line.substr(9);
    }
    // Pinned host key: the node trusts this gateway and nothing else.
    dir_.write("known_hosts", fmt::format("[{}]:{} {}\n", gw_ip_, ssh_port_, host_key_));
  }

  void TearDown() override {
    nodes_.clear();
    gateway_.reset();
    kubelet_.reset();
    if (netns_) {
      run({"ip", "netns", "del", gw_ns_});
      run({"ip", "netns", "del", node_ns_});
    }
  }

  std::vector<std::string> prefix(const std::string& ns) const {
    if (!netns_) return {};
    return {"ip", "netns", "exec", ns};
  }

  std::vector<std::string> ssh(const std::string& key, const std::string& user,
                               const std::string& bind) {
    return sshCommand(prefix(node_ns_), key, user, gw_ip_, ssh_port_, dir_.file("known_hosts"),
                      bind, kubelet_port_);
  }

  Process& startNode(const std::string& key, const std::string& user, const std::string& bind) {
    auto p = Process::spawn(ssh(key, user, bind), outputTo("", dir_.file("ssh.err")));
    EXPECT_TRUE(p.isOk());
    nodes_.push_back(std::move(p).value());
    return nodes_.back();
  }

  bool kubeletReachable(const std::string& node) {
    UniqueFd fd = connectThrough(unix_path_, node + ":10250");
    return fd.valid() && httpsGet(fd.get()).find("s_server") != std::string::npos;
  }

  TempDir dir_;
  bool netns_ = false;
  std::string gw_ns_, node_ns_, gw_ip_, node_ip_, unix_path_, host_key_;
  int kubelet_port_ = 10250;
  int ssh_port_ = 0;
  std::unique_ptr<Keys> keys_;
  std::optional<Process> kubelet_;
  std::optional<Process> gateway_;
  std::vector<Process> nodes_;
};

TEST_F(NetnsTunnelTest, ConnectReachesKubeletOnlyThroughTheTunnel) {
  if (netns_) {
    // The gateway's namespace has no route to the kubelet, which listens on the node's loopback.
    EXPECT_NE(run({"ip", "netns", "exec", gw_ns_, "timeout", "2", "bash", "-c",
                   fmt::format("exec 3<>/dev/tcp/{}/10250", node_ip_)}),
              0);
  }
  std::string response;
  EXPECT_FALSE(connectThrough(unix_path_, "node-1:10250", &response).valid());
  EXPECT_NE(response.find("502"), std::string::npos) << response;
  EXPECT_NE(response.find("no tunnel to node node-1 of tenant alpha"), std::string::npos);

  startNode(keys_->alpha, "alpha", "node-1");
  ASSERT_TRUE(eventually([&] { return kubeletReachable("node-1"); }, 10s))
      << files::read(dir_.file("ssh.err")).valueOr("");
  // A port the node does not forward is a clear 502 too, not a hang.
  EXPECT_FALSE(connectThrough(unix_path_, "node-1:10255", &response).valid());
  EXPECT_NE(response.find("does not forward port 10255"), std::string::npos) << response;
}

TEST_F(NetnsTunnelTest, RefusesWrongKeyWrongTenantAndForeignNames) {
  std::string err;
  // A key no tenant knows.
  EXPECT_NE(run(ssh(keys_->stranger, "alpha", "node-1"), &err), 0);
  EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
  // alpha's key presented as tenant beta.
  EXPECT_NE(run(ssh(keys_->alpha, "beta", "beta-node"), &err), 0);
  EXPECT_NE(err.find("Permission denied"), std::string::npos) << err;
  // beta may only bind the names listed for it.
  EXPECT_NE(run(ssh(keys_->beta, "beta", "node-1"), &err), 0);
  EXPECT_NE(err.find("forwarding failed"), std::string::npos) << err;
  // Another live node's name.
  startNode(keys_->alpha, "alpha", "node-1");
  ASSERT_TRUE(eventually([&] { return kubeletReachable("node-1"); }, 10s));
  EXPECT_NE(run(ssh(keys_->alpha, "alpha", "node-1"), &err), 0);
  EXPECT_NE(err.find("forwarding failed"), std::string::npos) << err;
  EXPECT_TRUE(nodes_.back().running());
  EXPECT_TRUE(kubeletReachable("node-1"));
}

TEST_F(NetnsTunnelTest, KilledClientReconnectsWithinSeconds) {
  startNode(keys_->alpha, "alpha", "node-1");
  ASSERT_TRUE(eventually([&] { return kubeletReachable("node-1"); }, 10s));
  ASSERT_TRUE(nodes_.back().signal(SIGKILL).isOk());
  nodes_.back().wait();
  auto start = std::chrono::steady_clock::now();
  startNode(keys_->alpha, "alpha", "node-1");
  ASSERT_TRUE(eventually([&] { return kubeletReachable("node-1"); }, 10s))
      << files::read(dir_.file("ssh.err")).valueOr("");
  auto took = std::chrono::steady_clock::now() - start;
  std::cout << "reconnect to a working tunnel took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_LT(took, 10s);
}

}  // namespace
}  // namespace herd::tunnel::testing
