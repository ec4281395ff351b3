// TunnelConfig: a complete file reads back, and a broken one names every problem.
#include "tunnel/config.h"

#include <gtest/gtest.h>

#include "support/test_env.h"

namespace herd::tunnel {
namespace {

TEST(TunnelConfigTest, ReadsTenantsListenersAndPeers) {
  herd::testing::TempDir dir;
  dir.write("alpha.pub", "restrict,port-forwarding ssh-ed25519 AAAAC3Nz alpha\n# comment\n");
  auto config = TunnelConfig::parse(R"(
ssh: {listen: "127.0.0.1:0", hostKeyFile: host, keepaliveSeconds: 3}
tenants:
- {name: alpha, nodeKeyFiles: [alpha.pub], nodes: [node-1, 10.0.0.5]}
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

}  // namespace
}  // namespace herd::tunnel
