// The mutual-TLS CONNECT listener and replica forwarding, with tunnels in this process, real
// OpenSSH clients on loopback and a PKI made by the openssl CLI: one CA per tenant (as herd
// issues them), a CA for the gateway's serving certificate and one for the replicas' link.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/files.h"
#include "common/socket.h"
#include "tunnel/config.h"
#include "tunnel/tunnel.h"
#include "tunnel_harness.h"

namespace herd::tunnel::testing {
namespace {

using namespace std::chrono_literals;
using herd::testing::TempDir;

void mustRun(const std::vector<std::string>& argv) {
  auto r = runCommand(argv, {}, 30s);
  ASSERT_TRUE(r.isOk() && r->exit_code == 0) << argv[0] << ": " << (r ? r->err : "");
}

// `name`.crt/.key with subject CN `cn`, issued by `ca` (or self-signed when ca is empty).
void makeCert(TempDir& dir, const std::string& name, const std::string& cn, const std::string& ca,
              const std::string& extensions) {
  std::string key = dir.file(name + ".key"), crt = dir.file(name + ".crt");
  mustRun({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
           key});
  if (ca.empty()) {
    mustRun({"openssl", "req", "-x509", "-new", "-key", key, "-subj", "/CN=" + cn, "-days", "1",
             "-out", crt});
    return;
  }
  std::string ext = dir.write(name + ".ext", extensions);
  mustRun({"openssl", "req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out",
           dir.file(name + ".csr")});
  mustRun({"openssl", "x509", "-req", "-in", dir.file(name + ".csr"), "-CA", dir.file(ca + ".crt"),
           "-CAkey", dir.file(ca + ".key"), "-CAcreateserial", "-days", "1", "-extfile", ext,
           "-out", crt});
}

constexpr const char* kClientExt = "extendedKeyUsage=clientAuth\n";
constexpr const char* kServerExt =
    "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n";

// A TLS client with its own certificate that sends one CONNECT and keeps the stream.
class TlsClient {
 public:
  TlsClient(const std::string& address, const std::string& cert, const std::string& key,
            const std::string& server_ca) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_use_certificate_file(ctx_, cert.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
    SSL_CTX_load_verify_locations(ctx_, server_ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    auto fd = net::connectTcp(address, 5s);
    if (!fd) return;
    fd_ = std::move(fd).value();
    int flags = ::fcntl(fd_.get(), F_GETFL);
    ::fcntl(fd_.get(), F_SETFL, flags & ~O_NONBLOCK);
    timeval tv{10, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_.get());
    handshake_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  bool handshake() const { return handshake_; }

  // Sends CONNECT (with `headers`) and returns the response head, or "" when the server
  // closed the connection without one (TLS 1.3 reports a refused client certificate here).
  std::string connect(const std::string& target, const std::string& headers = "") {
    if (!handshake_) return "";
    write(fmt::format("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n{1}\r\n", target, headers));
    std::string head;
    char c;
    while (head.size() < 8192 && !head.ends_with("\r\n\r\n") && SSL_read(ssl_, &c, 1) == 1) {
      head += c;
    }
    return head;
  }

  bool write(const std::string& data) {
    return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
           static_cast<int>(data.size());
  }
  std::string read(size_t size) {
    std::string out(size, '\0');
    size_t got = 0;
    while (got < size) {
      int n = SSL_read(ssl_, out.data() + got, static_cast<int>(size - got));
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
  }
  // Whether a byte sent through the stream comes back from the echoing kubelet.
  bool echoes() { return write("x") && read(1) == "x"; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  UniqueFd fd_;
  bool handshake_ = false;
};

class TlsPeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!findExecutable("ssh") || !findExecutable("openssl")) GTEST_SKIP() << "needs OpenSSH";
    keys_ = std::make_unique<Keys>(dir_);
    dir_.write("known_hosts", "");
    for (const char* ca : {"alpha-ca", "beta-ca", "gateway-ca", "peer-ca"}) {
      makeCert(dir_, ca, std::string("herd ") + ca, "", "");
    }
    makeCert(dir_, "server", "gateway", "gateway-ca", kServerExt);
    makeCert(dir_, "alpha-client", "alpha", "alpha-ca", kClientExt);
    makeCert(dir_, "beta-client", "beta", "beta-ca", kClientExt);
    // What an admin of alpha could get signed by alpha's own CA (its CSR API): beta's name.
    makeCert(dir_, "alpha-claims-beta", "beta", "alpha-ca", kClientExt);
    makeCert(dir_, "replica", "replica", "peer-ca", kServerExt);
  }

  void TearDown() override {
    nodes_.clear();
    for (auto& t : tunnels_) t->stop();
  }

  Tunnel& start(const std::string& name, const std::string& extra) {
    std::string yaml = tunnelConfig(*keys_, dir_.file(name + ".sock"), "127.0.0.1:0", extra);
    auto config = TunnelConfig::parse(yaml, dir_.path());
    EXPECT_TRUE(config.isOk()) << config.status().toString();
    auto tunnel = startTunnel(std::move(config).value());
    EXPECT_TRUE(tunnel.isOk()) << tunnel.status().toString();
    tunnels_.push_back(std::move(tunnel).value());
    Tunnel& t = *tunnels_.back();
    std::string known = files::read(dir_.file("known_hosts")).valueOr("");
    dir_.write("known_hosts",
               known + fmt::format("[127.0.0.1]:{} {}\n", t.sshPort(), t.hostKeyLine()));
    return t;
  }

  void connectNode(Tunnel& tunnel, const std::string& key, const std::string& tenant,
                   const std::string& node) {
    size_t before = tunnel.liveNodes();
    auto p = Process::spawn(sshCommand({}, key, tenant, "127.0.0.1", tunnel.sshPort(),
                                       dir_.file("known_hosts"), node, kubelet_.port()),
                            outputTo("", dir_.file("ssh.err")));
    ASSERT_TRUE(p.isOk());
    nodes_.push_back(std::move(p).value());
    ASSERT_TRUE(eventually([&] { return tunnel.liveNodes() > before; }, 10s))
        << files::read(dir_.file("ssh.err")).valueOr("");
  }

  std::unique_ptr<TlsClient> client(const std::string& address, const std::string& name,
                                    const std::string& server_ca = "gateway-ca") {
    return std::make_unique<TlsClient>(address, dir_.file(name + ".crt"), dir_.file(name + ".key"),
                                       dir_.file(server_ca + ".crt"));
  }

  // Sends `request` as is on a Unix egress socket; the whole answer.
  std::string rawUnix(const std::string& path, const std::string& request) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "";
    net::writeAll(fd.get(), request);
    return readAll(fd.get(), 8192, 5s);
  }

  std::string tcpListener(const std::string& ca, const std::string& tenant) {
    return fmt::format(
        "- tcp: 127.0.0.1:0\n  certFile: server.crt\n  keyFile: server.key\n"
        "  clientCaFile: {}.crt\n{}",
        ca, tenant.empty() ? "" : "  tenant: " + tenant + "\n");
  }

  TempDir dir_;
  // Echoes every stream, so that a working path is one byte sent and the same byte back.
  ScriptedService kubelet_{ScriptedService::Mode::kEcho};
  std::unique_ptr<Keys> keys_;
  std::vector<std::unique_ptr<Tunnel>> tunnels_;
  std::vector<Process> nodes_;
};

TEST_F(TlsPeerTest, MutualTlsListenerKeepsEachTenantToItsOwnNodes) {
  Tunnel& tunnel = start("gw", tcpListener("alpha-ca", "alpha") + tcpListener("beta-ca", "beta"));
  std::vector<std::string> addresses = tunnel.connectAddresses();
  ASSERT_EQ(addresses.size(), 3u);
  const std::string& alpha_listener = addresses[1];
  const std::string& beta_listener = addresses[2];
  connectNode(tunnel, keys_->alpha, "alpha", "node-1");
  connectNode(tunnel, keys_->beta, "beta", "beta-node");

  // alpha's certificate reaches alpha's node.
  auto alpha = client(alpha_listener, "alpha-client");
  ASSERT_TRUE(alpha->handshake());
  std::string head = alpha->connect("node-1:10250");
  ASSERT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
  EXPECT_TRUE(alpha->echoes());

  // beta's certificate, from beta's CA, is refused at alpha's listener during the handshake
  // (TLS 1.3 finishes the client's side first, so the refusal can surface on the first read).
  auto stranger = client(alpha_listener, "beta-client");
  EXPECT_EQ(stranger->connect("beta-node:10250"), "");

  // alpha's certificate cannot reach beta's node: it is looked up among alpha's nodes only.
  auto crossing = client(alpha_listener, "alpha-client");
  head = crossing->connect("beta-node:10250");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 502")) << head;

  // Nor can a certificate that alpha's CA issued in beta's name.
  auto forged = client(alpha_listener, "alpha-claims-beta");
  ASSERT_TRUE(forged->handshake());
  head = forged->connect("beta-node:10250");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 403")) << head;

  // A tenant's listener refuses the header only replicas may send.
  auto smuggled = client(alpha_listener, "alpha-client");
  head = smuggled->connect("beta-node:10250", "Herd-Forwarded-Tenant: beta\r\n");
  EXPECT_TRUE(head.starts_with("HTTP/1.1 403")) << head;

  // beta's certificate works at beta's listener.
  auto beta = client(beta_listener, "beta-client");
  head = beta->connect("beta-node:10250");
  ASSERT_TRUE(head.starts_with("HTTP/1.1 200")) << head;
  EXPECT_TRUE(beta->echoes());
}

TEST_F(TlsPeerTest, ReplicaForwardsConnectToThePeerHoldingTheNode) {
  int port1 = herd::testing::freeLoopbackPort();
  int port2 = herd::testing::freeLoopbackPort();
  auto peers = [&](int own, int other) {
    return fmt::format(
        "peers:\n  listen: 127.0.0.1:{}\n  certFile: replica.crt\n  keyFile: replica.key\n"
        "  caFile: peer-ca.crt\n  addresses: [\"127.0.0.1:{}\"]\n",
        own, other);
  };
  Tunnel& replica1 = start("replica1", peers(port1, port2));
  Tunnel& replica2 = start("replica2", peers(port2, port1));
  connectNode(replica1, keys_->alpha, "alpha", "node-1");
  EXPECT_EQ(replica2.liveNodes(), 0u);

  // The node's session is on replica 1; a CONNECT on replica 2 reaches it through the peer.
  std::string response;
  UniqueFd stream = connectThrough(dir_.file("replica2.sock"), "node-1:10250", &response);
  ASSERT_TRUE(stream.valid()) << response;
  ASSERT_TRUE(net::writeAll(stream.get(), "through the peer"));
  EXPECT_EQ(readAll(stream.get(), 16, 5s), "through the peer");
  EXPECT_NE(replica2.metricsText().find("\nherd_tunnel_connect_peer_forwards_total 1\n"),
            std::string::npos)
      << replica2.metricsText();

  // A node neither replica holds: 502 after one round to the peer, and no loop.
  EXPECT_FALSE(connectThrough(dir_.file("replica2.sock"), "node-9:10250", &response).valid());
  EXPECT_NE(response.find("502"), std::string::npos) << response;

  // A tenant's Unix socket refuses the replicas' header.
  response = rawUnix(dir_.file("replica2.sock"),
                     "CONNECT node-1:10250 HTTP/1.1\r\nHost: node-1:10250\r\n"
                     "Herd-Forwarded-Tenant: alpha\r\n\r\n");
  EXPECT_TRUE(response.starts_with("HTTP/1.1 403")) << response;

  // The peer listener takes only the peer CA's certificates.
  auto tenant_at_peer = client(fmt::format("127.0.0.1:{}", port1), "alpha-client", "peer-ca");
  EXPECT_EQ(tenant_at_peer->connect("node-1:10250", "Herd-Forwarded-Tenant: alpha\r\n"), "");
}

}  // namespace
}  // namespace herd::tunnel::testing
