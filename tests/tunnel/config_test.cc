// TunnelConfig: a complete file reads back, and a broken one names every problem.
#include "tunnel/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "pki/certificate.h"
#include "pki/key.h"
#include "support/test_env.h"

namespace herd::tunnel {
namespace {

using namespace std::chrono_literals;

// A certificate as herd's PKI issues them: CN `cn`, a CA when `ca` is null and a client
// certificate signed by `ca` otherwise. Returns the PEM; the key is kept in `key`.
std::string issue(const std::string& cn, const pki::Certificate* ca, const pki::PrivateKey* ca_key,
                  pki::PrivateKey& key) {
  key = std::move(pki::PrivateKey::generate(pki::KeyAlgorithm::kEcdsaP256)).value();
  pki::CertificateRequest request;
  request.common_name = cn;
  request.is_ca = ca == nullptr;
  request.key_usage = pki::kDigitalSignature | (ca == nullptr ? pki::kCertSign : 0u);
  request.ext_key_usage = ca == nullptr ? 0u : unsigned{pki::kClientAuth};
  request.not_before = pki::Clock::now() - 1h;
  request.not_after = pki::Clock::now() + 24h;
  auto cert = pki::Certificate::issue(request, key, ca, ca == nullptr ? key : *ca_key);
  EXPECT_TRUE(cert.isOk()) << cert.status().toString();
  return cert ? cert->toPem() : std::string();
}

std::string caPem(const std::string& cn) {
  auto key = pki::PrivateKey::generate(pki::KeyAlgorithm::kEcdsaP256).value();
  return issue(cn, nullptr, nullptr, key);
}

// The YAML of one inline PEM list entry.
std::string yamlQuoted(const std::string& pem) {
  std::string out = "\"";
  for (char c : pem) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out + "\"";
}

TEST(TunnelConfigTest, ReadsTenantsListenersAndPeers) {
  herd::testing::TempDir dir;
  dir.write("alpha.pub", "restrict,port-forwarding ssh-ed25519 AAAAC3Nz alpha\n# comment\n");
  std::string alpha_ca = caPem("kubernetes");
  dir.write("alpha-ca.crt", alpha_ca);
  auto config = TunnelConfig::parse(R"(
ssh: {listen: "127.0.0.1:0", hostKeyFile: host, keepaliveSeconds: 3}
tenants:
- {name: alpha, nodeKeyFiles: [alpha.pub], nodes: [node-1, 10.0.0.5], clientCaFile: alpha-ca.crt}
connect:
- {unix: alpha.sock, tenant: alpha}
- {tcp: "127.0.0.1:0", certFile: c, keyFile: k, clientCaFile: ca}
peers: {listen: ":8132", certFile: c, keyFile: k, caFile: ca, addresses: ["10.1.0.2:8132"]}
)",
                                    dir.path());
  ASSERT_TRUE(config.isOk()) << config.status().toString();
  EXPECT_EQ(config->host_key_file, dir.path() + "/host");
  EXPECT_EQ(config->keepalive.count(), 3);
  ASSERT_EQ(config->tenants.size(), 1u);
  EXPECT_EQ(config->tenants[0].node_keys[0], "ssh-ed25519 AAAAC3Nz alpha");
  EXPECT_EQ(config->tenants[0].nodes.size(), 2u);
  EXPECT_EQ(config->tenants[0].client_ca_pem, alpha_ca);
  ASSERT_EQ(config->connect.size(), 2u);
  EXPECT_EQ(config->connect[1].tls.ca_file, dir.path() + "/ca");
  EXPECT_EQ(config->peers.addresses.size(), 1u);
}

TEST(TunnelConfigTest, ReportsEveryProblem) {
  auto config = TunnelConfig::parse(R"(
ssh: {keepaliveSeconds: 0}
tenants:
- {name: Bad_Name}
connect:
- {unix: /x.sock, tenant: nobody}
- {tcp: ":1"}
)");
  ASSERT_FALSE(config.isOk());
  const std::string& m = config.status().message();
  for (const char* want : {"ssh.hostKeyFile", "keepaliveSeconds", "tenants[0].name",
                           "nodeKeys or nodeKeyFiles", "connect[0].tenant", "connect[1]"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " in " << m;
  }
  EXPECT_TRUE(isValidNodeAddress("ip-10-0-0-1.ec2.internal"));
  EXPECT_TRUE(isValidNodeAddress("fd00::1"));
  EXPECT_FALSE(isValidNodeAddress("node_1"));
  EXPECT_FALSE(isValidNodeAddress(""));
}

// clientCaFile (relative to the config's directory) and clientCas (inline) add up: a tenant
// rotating its CA names the old and the new one.
TEST(TunnelConfigTest, ReadsEachTenantsClientCas) {
  herd::testing::TempDir dir;
  std::string old_ca = caPem("kubernetes");
  std::string new_ca = caPem("kubernetes");
  std::filesystem::create_directories(dir.file("alpha/pki"));
  dir.write("alpha/pki/ca.crt", old_ca);
  auto config = TunnelConfig::parse(fmt::format(R"(
ssh: {{hostKeyFile: host}}
tenants:
- {{name: alpha, nodeKeys: [ssh-ed25519 AAAA], clientCaFile: alpha/pki/ca.crt, clientCas: [{}]}}
- {{name: beta, nodeKeys: [ssh-ed25519 BBBB]}}
connect:
- {{tcp: "127.0.0.1:0", tenant: beta, certFile: c, keyFile: k, clientCaFile: beta-ca.crt}}
)",
                                                yamlQuoted(new_ca)),
                                    dir.path());
  ASSERT_TRUE(config.isOk()) << config.status().toString();
  EXPECT_EQ(config->tenants[0].client_ca_pem, old_ca + new_ca);
  // beta has no CA of its own: fine, its only TCP listener is pinned to it.
  EXPECT_EQ(config->tenants[1].client_ca_pem, "");
}

// A TCP listener without tenant: serves every tenant and believes a name only from that
// tenant's own CA: a tenant without one is an error that names it and says what to add.
TEST(TunnelConfigTest, SharedTcpListenerNeedsEveryTenantsCa) {
  herd::testing::TempDir dir;
  dir.write("alpha-ca.crt", caPem("kubernetes"));
  auto config = TunnelConfig::parse(R"(
ssh: {hostKeyFile: host}
tenants:
- {name: alpha, nodeKeys: [ssh-ed25519 AAAA], clientCaFile: alpha-ca.crt}
- {name: beta, nodeKeys: [ssh-ed25519 BBBB]}
- {name: gamma, nodeKeys: [ssh-ed25519 CCCC]}
connect:
- {unix: beta.sock, tenant: beta}
- {tcp: "0.0.0.0:8131", certFile: c, keyFile: k, clientCaFile: tenants-ca.crt}
)",
                                    dir.path());
  ASSERT_FALSE(config.isOk());
  const std::string& m = config.status().message();
  for (const char* want : {"tenants[1]: tenant \"beta\" needs clientCaFile or clientCas",
                           "tenants[2]: tenant \"gamma\" needs clientCaFile or clientCas",
                           "connect[1] (tcp 0.0.0.0:8131) serves every tenant"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " in " << m;
  }
  EXPECT_EQ(m.find("tenants[0]"), std::string::npos) << m;
}

TEST(TunnelConfigTest, ClientCasMustBeReadableCaCertificates) {
  herd::testing::TempDir dir;
  pki::PrivateKey ca_key = pki::PrivateKey::generate(pki::KeyAlgorithm::kEcdsaP256).value();
  std::string ca = issue("kubernetes", nullptr, nullptr, ca_key);
  auto ca_cert = pki::Certificate::fromPem(ca).value();
  pki::PrivateKey leaf_key = pki::PrivateKey::generate(pki::KeyAlgorithm::kEcdsaP256).value();
  std::string leaf = issue("alpha", &ca_cert, &ca_key, leaf_key);
  dir.write("leaf.crt", leaf);
  std::string broken = ca.substr(0, ca.size() / 2) + "\n-----END CERTIFICATE-----\n";
  auto config = TunnelConfig::parse(fmt::format(R"(
ssh: {{hostKeyFile: host}}
tenants:
- {{name: alpha, nodeKeys: [ssh-ed25519 AAAA], clientCaFile: leaf.crt}}
- {{name: beta, nodeKeys: [ssh-ed25519 BBBB], clientCaFile: missing.crt}}
- {{name: gamma, nodeKeys: [ssh-ed25519 CCCC], clientCas: ["not PEM", {}]}}
)",
                                                yamlQuoted(broken)),
                                    dir.path());
  ASSERT_FALSE(config.isOk());
  const std::string& m = config.status().message();
  for (const char* want :
       {"tenants[0].clientCaFile: certificate 1 (CN=alpha) is not a CA certificate",
        "tenants[1].clientCaFile: ", "missing.crt",
        "tenants[2].clientCas[0]: holds no PEM certificate",
        "tenants[2].clientCas[1]: certificate 1 is corrupt"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " in " << m;
  }
}

}  // namespace
}  // namespace herd::tunnel
