// herd create/get/describe/delete cluster against an API server (the fake, or a real one
// under HERD_KUBE_BIN), through the herd binary as a user runs it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api/crd.h"
#include "common/base64.h"
#include "common/yaml.h"
#include "kube/client.h"
#include "kube/herd_resources.h"
#include "api/defaults.h"
#include "common/files.h"
#include "common/process.h"
#include "pki/tenant_pki.h"
#include "provider/kubernetes/credentials.h"
#include "support/test_env.h"
#include "support/test_apiserver.h"

namespace herd {
namespace {

using testing::runHerd;

class SeedCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    server_ = std::move(*s);
    kc_ = {"--kubeconfig", server_->kubeconfigPath()};
  }

  void installCrd() {
    auto client = kube::Client::create(server_->adminConfig());
    ASSERT_TRUE(client.isOk());
    auto crd = parseDocuments(api::clusterCrdYaml());
    ASSERT_TRUE(crd.isOk() && crd->size() == 1);
    ASSERT_TRUE((*client)->create(kube::crdsResource(), "", (*crd)[0]).isOk());
    for (int i = 0; i < 100; ++i) {
      if ((*client)->resourceFor("herd.io/v1alpha1", "Cluster").isOk()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "the Cluster resource was never served";
  }

  std::vector<std::string> with(std::vector<std::string> args) {
    args.insert(args.end(), kc_.begin(), kc_.end());
    return args;
  }

  std::unique_ptr<testing::TestApiServer> server_;
  std::vector<std::string> kc_;
};

TEST_F(SeedCommandsTest, WithoutTheCrdTheErrorSaysHowToInstallIt) {
  auto r = runHerd(with({"create", "cluster", "demo"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "herd: the seed does not serve herd.io/v1alpha1 clusters: install the API with `herd "
            "crd | kubectl apply "
            "-f -`\n");
}

TEST_F(SeedCommandsTest, CreateGetDescribeDelete) {
  installCrd();
  auto created = runHerd(
      with({"create", "cluster", "demo", "--etcd-replicas", "5", "--hostname", "k8s.example.com"}));
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "cluster.herd.io/demo created\n");
  EXPECT_EQ(runHerd(with({"create", "cluster", "demo"})).err,
            "herd: clusters.herd.io \"demo\" already exists\n");
  ASSERT_EQ(runHerd(with({"create", "cluster", "shop", "--version", "1.31"})).exit_code, 0);

  auto table = runHerd(with({"get", "clusters"}));
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::istringstream lines(table.out);
  std::string header, first, second;
  std::getline(lines, header);
  std::getline(lines, first);
  std::getline(lines, second);
  EXPECT_EQ(header.substr(0, 4), "NAME");
  EXPECT_NE(header.find("VERSION"), std::string::npos);
  EXPECT_NE(header.find("ENDPOINT"), std::string::npos);
  EXPECT_NE(header.find("NODES"), std::string::npos);
  EXPECT_NE(header.find("PODS"), std::string::npos);
  EXPECT_EQ(first.substr(0, 4), "demo");
  EXPECT_NE(first.find("1.32"), std::string::npos);  // defaulted by the seed's schema
  EXPECT_EQ(second.substr(0, 4), "shop");
  EXPECT_NE(second.find("1.31"), std::string::npos);

  auto one = runHerd(with({"get", "cluster", "demo", "-o", "json"}));
  ASSERT_EQ(one.exit_code, 0);
  auto j = nlohmann::json::parse(one.out);
  EXPECT_EQ(j["spec"]["controlPlane"]["etcd"]["replicas"], 5);
  EXPECT_EQ(j["spec"]["expose"]["hostname"], "k8s.example.com");
  EXPECT_FALSE(j["spec"].contains("network") &&
               j["spec"]["network"].contains("dnsServiceIP"));  // left to the controller

  auto names = runHerd(with({"get", "hc", "-o", "name"}));
  EXPECT_EQ(names.out, "cluster.herd.io/demo\ncluster.herd.io/shop\n");

  // An event about demo (as the controller records them), one about shop: describe shows
  // demo's only.
  auto admin = kube::Client::create(server_->adminConfig());
  ASSERT_TRUE(admin.isOk());
  for (const char* about : {"demo", "shop"}) {
    auto cluster = (*admin)->get(kube::clustersResource(), "", about);
    ASSERT_TRUE(cluster.isOk());
    nlohmann::json event = {
        {"apiVersion", "v1"},
        {"kind", "Event"},
        {"metadata", {{"name", std::string(about) + ".1"}, {"namespace", "default"}}},
        {"involvedObject",
         {{"apiVersion", "herd.io/v1alpha1"},
          {"kind", "Cluster"},
          {"name", about},
          {"uid", (*cluster)["metadata"]["uid"]}}},
        {"reason", std::string("Provisioned-") + about},
        {"message", "the control plane of " + std::string(about) + " is up"},
        {"type", "Normal"},
        {"lastTimestamp", "2026-01-01T00:00:00Z"}};
    ASSERT_TRUE((*admin)->create(kube::coreEventsResource(), "default", event).isOk());
  }
  auto described = runHerd(with({"describe", "cluster", "demo"}));
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_NE(described.out.find("Events:\n  TYPE"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("Provisioned-demo"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("the control plane of demo is up"), std::string::npos);
  EXPECT_EQ(described.out.find("Provisioned-shop"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("Addons:\n  ADDON"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("Name:                 demo\n"), std::string::npos) << described.out;
  EXPECT_NE(described.out.find("Hostname:             k8s.example.com\n"), std::string::npos)
      << described.out;
  EXPECT_NE(described.out.find("etcd                        5"), std::string::npos)
      << described.out;
  EXPECT_NE(described.out.find("Nodes (ready/total):  0/0\n"), std::string::npos) << described.out;

  auto deleted = runHerd(with({"delete", "cluster", "demo", "--wait", "--timeout", "30"}));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "cluster.herd.io \"demo\" deleted\n");
  auto gone = runHerd(with({"get", "cluster", "demo"}));
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.err, "herd: cluster \"demo\" not found\n");
  EXPECT_EQ(runHerd(with({"describe", "cluster", "demo"})).err,
            "herd: cluster \"demo\" not found\n");
  EXPECT_EQ(runHerd(with({"delete", "cluster", "demo"})).err, "herd: cluster \"demo\" not found\n");
}

TEST_F(SeedCommandsTest, EmptyListAndUnknownResource) {
  installCrd();
  auto empty = runHerd(with({"get", "clusters"}));
  EXPECT_EQ(empty.exit_code, 0);
  EXPECT_EQ(empty.err, "No resources found\n");
  auto bad = runHerd(with({"get", "pods"}));
  EXPECT_EQ(bad.exit_code, 2);
}

TEST_F(SeedCommandsTest, InvalidClusterIsRefusedBeforeReachingTheSeed) {
  auto r = runHerd(
      {"create", "cluster", "demo", "--etcd-replicas", "4", "--kubeconfig", "/nonexistent"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("must be 1, 3 or 5"), std::string::npos) << r.err;
}

TEST_F(SeedCommandsTest, MissingKubeconfigIsAClearError) {
  auto r = runHerd({"get", "clusters", "--kubeconfig", "/nonexistent/kubeconfig"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err,
            "herd: connect to the seed: open /nonexistent/kubeconfig: No such file or directory\n");
}

// herd kubeconfig NAME: the admin kubeconfig from the tenant's Secret, its server pointed at the
// Cluster's status.endpoint. Here the "tenant" is the test apiserver itself, so the printed
// file is proven by using it.
TEST_F(SeedCommandsTest, KubeconfigPrintsTheAdminConfigPointedAtTheEndpoint) {
  installCrd();
  auto client = kube::Client::create(server_->adminConfig());
  ASSERT_TRUE(client.isOk());
  auto& c = **client;
  EXPECT_EQ(runHerd(with({"kubeconfig", "alpha"})).err, "herd: cluster \"alpha\" not found\n");

  ASSERT_EQ(runHerd(with({"create", "cluster", "alpha"})).exit_code, 0);
  auto pending = runHerd(with({"kubeconfig", "alpha"}));
  EXPECT_EQ(pending.exit_code, 1);
  EXPECT_NE(pending.err.find("cluster \"alpha\" has no kubeconfigSecret in its status yet"),
            std::string::npos)
      << pending.err;

  std::string endpoint = server_->adminConfig().server;
  auto got = c.get(kube::clustersResource(), "", "alpha");
  ASSERT_TRUE(got.isOk());
  (*got)["status"]["kubeconfigSecret"] = "alpha-admin-kubeconfig";
  (*got)["status"]["endpoint"] = endpoint;
  auto updated = c.updateStatus(kube::clustersResource(), "", *got);
  ASSERT_TRUE(updated.isOk()) << updated.status().toString();
  auto no_secret = runHerd(with({"kubeconfig", "alpha"}));
  EXPECT_EQ(no_secret.exit_code, 1);
  EXPECT_EQ(no_secret.err,
            "herd: secret herd-alpha/alpha-admin-kubeconfig of cluster \"alpha\" does not exist\n");

  // The Secret holds a kubeconfig whose server is the in-seed address, unreachable from here.
  std::string admin = testing::readFileOrDie(server_->kubeconfigPath());
  auto at = admin.find(endpoint);
  ASSERT_NE(at, std::string::npos);
  std::string in_seed = admin;
  in_seed.replace(at, endpoint.size(), "https://kube-apiserver.herd-alpha.svc:6443");
  ASSERT_TRUE(
      c.create(
           kube::namespacesResource(), "",
           {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "herd-alpha"}}}})
          .isOk());
  nlohmann::json secret = {{"apiVersion", "v1"},
                           {"kind", "Secret"},
                           {"metadata", {{"name", "alpha-admin-kubeconfig"}}},
                           {"data", {{"other.conf", base64Encode(in_seed)}}}};
  ASSERT_TRUE(c.create(kube::secretsResource(), "herd-alpha", secret).isOk());
  auto no_key = runHerd(with({"kubeconfig", "alpha"}));
  EXPECT_EQ(no_key.err,
            "herd: secret herd-alpha/alpha-admin-kubeconfig has no key \"admin.conf\" (it has: "
            "other.conf)\n");

  auto printed = runHerd(with({"kubeconfig", "alpha", "--key", "other.conf"}));
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  auto docs = parseDocuments(printed.out);
  ASSERT_TRUE(docs.isOk() && docs->size() == 1) << printed.out;
  EXPECT_EQ((*docs)[0]["clusters"][0]["cluster"]["server"], endpoint);
  EXPECT_EQ(printed.out.find("herd-alpha.svc"), std::string::npos);
  // The credentials came through: the printed file reaches the API.
  testing::TempDir dir;
  std::string path = dir.write("alpha.conf", printed.out);
  auto listed = runHerd({"get", "clusters", "-o", "name", "--kubeconfig", path});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out, "cluster.herd.io/alpha\n");

  // A key that does not hold a kubeconfig is said to be one.
  ASSERT_TRUE(
      c.patch(kube::secretsResource(), "herd-alpha", "alpha-admin-kubeconfig",
              kube::PatchType::kMerge,
              nlohmann::json{{"data", {{"admin.conf", base64Encode("just: text\n")}}}}.dump())
          .isOk());
  auto broken = runHerd(with({"kubeconfig", "alpha"}));
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find("is not a kubeconfig: it names no cluster"), std::string::npos)
      << broken.err;
}


// herd join-command NAME: the lines a node needs, from the tenant's credential Secrets as the
// providers store them. The CA hash is compared with the one OpenSSL's command line computes
// the way kubeadm documents it.
TEST_F(SeedCommandsTest, JoinCommandPrintsTheKeyTheTunnelAndTheKubeadmJoinLine) {
  installCrd();
  auto client = kube::Client::create(server_->adminConfig());
  ASSERT_TRUE(client.isOk());
  auto& c = **client;
  ASSERT_EQ(runHerd(with({"create", "cluster", "alpha"})).exit_code, 0);
  testing::TempDir dir;
  std::string host_key = dir.write("gateway_host_key.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHerdGatewayHostKeyForTests0000000000000 gw\n");
  std::vector<std::string> flags = {"--tunnel-address", "gateway.example.com:2222",
                                    "--tunnel-host-key-file", host_key};
  auto args = [&](std::vector<std::string> a) {
    a.insert(a.end(), flags.begin(), flags.end());
    return with(a);
  };
  auto early = runHerd(args({"join-command", "alpha"}));
  EXPECT_EQ(early.exit_code, 1);
  EXPECT_NE(early.err.find("has no endpoint in its status yet"), std::string::npos) << early.err;

  api::Cluster cluster;
  cluster.metadata.name = "alpha";
  cluster.metadata.uid = (*c.get(kube::clustersResource(), "", "alpha"))["metadata"]["uid"];
  cluster.spec.version = "1.32";
  api::applyDefaults(cluster);
  auto pki = pki::generatePki(cluster, {});
  ASSERT_TRUE(pki.isOk()) << pki.status().toString();
  nlohmann::json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "herd-alpha"}}}};
  ASSERT_TRUE(c.create(kube::namespacesResource(), "", ns).isOk());
  auto secrets = provider::kubernetes::credentialSecrets(cluster, pki->files);
  ASSERT_TRUE(secrets.isOk()) << secrets.status().toString();
  for (const auto& secret : *secrets)
    ASSERT_TRUE(c.create(kube::secretsResource(), "herd-alpha", secret).isOk());
  auto got = c.get(kube::clustersResource(), "", "alpha");
  ASSERT_TRUE(got.isOk());
  (*got)["status"]["endpoint"] = "https://alpha.herd.example.com:443";
  ASSERT_TRUE(c.updateStatus(kube::clustersResource(), "", *got).isOk());

  auto r = runHerd(args({"join-command", "alpha", "--node-name", "node-7"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string ca = dir.write("ca.crt", pki->files.at("pki/ca.crt").data);
  auto hash = runCommand({"sh", "-c",
                          "openssl x509 -in " + ca +
                              " -pubkey -noout | openssl pkey -pubin -outform der | "
                              "openssl dgst -sha256 -hex | sed 's/^.* //'"});
  ASSERT_TRUE(hash.isOk() && hash->exit_code == 0);
  std::string expected_hash = hash->out.substr(0, hash->out.find('\n'));
  ASSERT_EQ(expected_hash.size(), 64u) << hash->out;
  EXPECT_NE(r.out.find("kubeadm join alpha.herd.example.com:443 --token " + pki->token.toString() +
                       " --discovery-token-ca-cert-hash sha256:" + expected_hash + "\n"),
            std::string::npos)
      << r.out;
  // The node's private key, the gateway's host key pinned at its address, and the tunnel as
  // the tenant's SSH user binding the node's name.
  EXPECT_NE(r.out.find(pki->files.at("ssh/node_ed25519_key").data), std::string::npos);
  EXPECT_NE(r.out.find("echo '[gateway.example.com]:2222 ssh-ed25519 "
                       "AAAAC3NzaC1lZDI1NTE5AAAAIHerdGatewayHostKeyForTests0000000000000' > "
                       "/etc/herd/known_hosts"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("-p 2222 -R node-7:10250:127.0.0.1:10250 alpha@gateway.example.com\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("StrictHostKeyChecking=yes"), std::string::npos);

  // The printed script is valid shell.
  auto syntax = runCommand({"sh", "-n", "-c", r.out});
  ASSERT_TRUE(syntax.isOk());
  EXPECT_EQ(syntax->exit_code, 0) << syntax->err;

  std::string bad_key = dir.write("bad.pub", "not a key\n");
  auto bad = runHerd(with({"join-command", "alpha", "--tunnel-address", "gw:2222",
                           "--tunnel-host-key-file", bad_key}));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("not an OpenSSH public key"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace herd
