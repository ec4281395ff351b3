// The tunnel against real OpenSSH clients across network namespaces: the gateway (`herd
// tunnel`) in one namespace, a node with its kubelet (openssl s_server, HTTPS on the node's
// loopback) in another, joined by a veth pair. The gateway cannot reach the kubelet; only a
// CONNECT through the node's `ssh -R` session can. Each test makes its own uniquely named
// namespaces, which are deleted when the fixture goes, whatever the outcome. Where namespaces
// cannot be created (not root, or `ip netns add` fails), the test of the "only" is skipped
// with the reason, and the others, which do not depend on the namespaces, run on loopback and
// say so.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <iostream>
#include <optional>

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

// A named network namespace, deleted (with the veth end inside it) when this goes, so a test
// that fails or is skipped half way leaves none behind.
class NetworkNamespace {
 public:
  explicit NetworkNamespace(std::string name) : name_(std::move(name)) {}
  NetworkNamespace(const NetworkNamespace&) = delete;
  NetworkNamespace& operator=(const NetworkNamespace&) = delete;
  ~NetworkNamespace() {
    if (created_) run({"ip", "netns", "del", name_});
  }

  // `ip netns add`; on failure, why.
  Status create() {
    std::string err;
    int rc = run({"ip", "netns", "add", name_}, &err);
    if (rc != 0) {
      while (!err.empty() && std::isspace(static_cast<unsigned char>(err.back()))) err.pop_back();
      return Status::unavailable(fmt::format("`ip netns add {}` failed (exit {}): {}", name_, rc,
                                             err.empty() ? "no output" : err));
    }
    created_ = true;
    return Status::ok();
  }

  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool created_ = false;
};

bool namespaceListed(const std::string& name) {
  auto r = runCommand({"ip", "netns", "list"}, {}, 20s);
  return r.isOk() && r->out.find(name) != std::string::npos;
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
    // Inside the namespaces only; 10.213.0.0/16 is never routed outside them.
    gw_ip_ = fmt::format("10.213.{}.1", n);
    node_ip_ = fmt::format("10.213.{}.2", n);
    if (auto made = makeNamespaces(suffix); made.isOk()) {
      std::cout << "running in network namespaces " << gw_ns_->name() << " / " << node_ns_->name()
                << "\n";
    } else {
      ASSERT_FALSE(HasFailure()) << made.toString();
      netns_unavailable_ = made.toString();
      gw_ns_.reset();
      node_ns_.reset();
      std::cout << "network namespaces unavailable (" << netns_unavailable_
                << "); running on loopback\n";
      gw_ip_ = node_ip_ = "127.0.0.1";
      kubelet_port_ = herd::testing::freeLoopbackPort();
    }
    keys_ = std::make_unique<Keys>(dir_);
    ASSERT_EQ(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=node-1", "-days", "1",
                   "-keyout", dir_.file("kubelet.key"), "-out", dir_.file("kubelet.crt")}),
              0);
    auto kubelet = Process::spawn(
        concat(prefix(nodeNs()), {"openssl", "s_server", "-quiet", "-www", "-accept",
                                  "127.0.0.1:" + std::to_string(kubelet_port_), "-cert",
                                  dir_.file("kubelet.crt"), "-key", dir_.file("kubelet.key")}));
    ASSERT_TRUE(kubelet.isOk());
    kubelet_.emplace(std::move(kubelet).value());
    unix_path_ = dir_.file("alpha-egress.sock");
    std::string config =
        dir_.write("tunnel.yaml",
                   tunnelConfig(*keys_, unix_path_, netns() ? gw_ip_ + ":2222" : "127.0.0.1:0"));
    auto gateway = Process::spawn(
        concat(prefix(gwNs()), {herd::testing::herdBinary(), "tunnel", "--config", config}),
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

  // The two namespaces and the veth pair between them, created inside them so that nothing is
  // left in this namespace if a step fails. Not root, or `ip netns add` failing, is a reason
  // to run on loopback; any later step failing is a test failure.
  Status makeNamespaces(const std::string& suffix) {
    if (uid_t euid = ::geteuid(); euid != 0) {
      return Status::permissionDenied(
          fmt::format("not root (euid {}): `ip netns add` needs CAP_SYS_ADMIN", euid));
    }
    gw_ns_.emplace("herd-gw-" + suffix);
    node_ns_.emplace("herd-node-" + suffix);
    for (auto* ns : {&*gw_ns_, &*node_ns_}) {
      if (Status created = ns->create(); !created.isOk()) return created;
    }
    std::string vg = "hg" + suffix, vn = "hn" + suffix;  // interface names: 15 bytes at most
    std::string err;
    EXPECT_EQ(run({"ip", "link", "add", vg, "netns", gwNs(), "type", "veth", "peer", "name", vn,
                   "netns", nodeNs()},
                  &err),
              0)
        << err;
    for (auto [ns, dev, ip] : {std::tuple{gwNs(), vg, gw_ip_}, {nodeNs(), vn, node_ip_}}) {
      EXPECT_EQ(run({"ip", "-n", ns, "addr", "add", ip + "/30", "dev", dev}, &err), 0) << err;
      EXPECT_EQ(run({"ip", "-n", ns, "link", "set", dev, "up"}, &err), 0) << err;
      EXPECT_EQ(run({"ip", "-n", ns, "link", "set", "lo", "up"}, &err), 0) << err;
    }
    if (HasFailure()) return Status::internal("setting up the veth pair failed");
    return Status::ok();
  }

  bool netns() const { return gw_ns_.has_value(); }
  std::string gwNs() const { return gw_ns_ ? gw_ns_->name() : ""; }
  std::string nodeNs() const { return node_ns_ ? node_ns_->name() : ""; }

  static std::vector<std::string> prefix(const std::string& ns) {
    if (ns.empty()) return {};
    return {"ip", "netns", "exec", ns};
  }

  // Whether an HTTPS GET from namespace `ns` ("" for the test's own) to host:port is answered
  // by the kubelet stand-in: a direct path, not through the tunnel.
  bool kubeletAnswersDirectly(const std::string& ns, const std::string& host) {
    auto r = runCommand(concat(prefix(ns), {"timeout", "3", "openssl", "s_client", "-quiet",
                                            "-connect", fmt::format("{}:{}", host, kubelet_port_)}),
                        "GET / HTTP/1.0\r\n\r\n", 20s);
    return r.isOk() && r->out.find("s_server") != std::string::npos;
  }

  std::vector<std::string> ssh(const std::string& key, const std::string& user,
                               const std::string& bind) {
    return sshCommand(prefix(nodeNs()), key, user, gw_ip_, ssh_port_, dir_.file("known_hosts"),
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

  // Declared before the processes, so those are stopped before the namespaces go.
  std::optional<NetworkNamespace> gw_ns_, node_ns_;
  std::string netns_unavailable_;  // why there are no namespaces, when there are none
  TempDir dir_;
  std::string gw_ip_, node_ip_, unix_path_, host_key_;
  int kubelet_port_ = 10250;
  int ssh_port_ = 0;
  std::unique_ptr<Keys> keys_;
  std::optional<Process> kubelet_;
  std::optional<Process> gateway_;
  std::vector<Process> nodes_;
};

TEST_F(NetnsTunnelTest, ConnectReachesKubeletOnlyThroughTheTunnel) {
  if (!netns()) GTEST_SKIP() << "needs network namespaces: " << netns_unavailable_;
  // The probe works: on the node, the kubelet answers it.
  ASSERT_TRUE(kubeletAnswersDirectly(nodeNs(), "127.0.0.1"));
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
  // With the tunnel up (so the veth pair carries traffic: the node's ssh came over it), no
  // direct path: neither the gateway's namespace nor this one, where the CONNECT client stands
  // in for the tenant's kube-apiserver, reaches the kubelet at the node's address or on its own
  // loopback.
  for (const std::string& ns : {gwNs(), std::string()}) {
    for (const std::string& host : {node_ip_, std::string("127.0.0.1")}) {
      EXPECT_FALSE(kubeletAnswersDirectly(ns, host))
          << "the kubelet answered " << host << " from " << (ns.empty() ? "the test's" : ns)
          << " namespace";
    }
  }
  EXPECT_TRUE(kubeletReachable("node-1"));
}

// The namespaces go with the fixture that made them, whatever the test's outcome.
TEST(NetworkNamespaceTest, DeletedWhenItGoesOutOfScope) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root (euid " << ::geteuid() << ")";
  std::string name = fmt::format("herd-scope-{}", ::getpid());
  {
    NetworkNamespace ns(name);
    Status created = ns.create();
    if (!created.isOk()) GTEST_SKIP() << created.toString();
    ASSERT_TRUE(namespaceListed(name));
  }
  EXPECT_FALSE(namespaceListed(name));
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
