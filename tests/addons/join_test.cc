// What `kubeadm join` finds in a tenant: the token Secret and signed cluster-info from the
// tenant's PKI, kubeadm's bootstrap RBAC, and the kubeadm-config and kubelet-config it reads;
// every object valid against the recorded OpenAPI schemas.
#include "addons/join.h"

#include <gtest/gtest.h>

#include "addons/addons.h"
#include "api/defaults.h"
#include "common/yaml.h"
#include "pki/bootstrap_token.h"
#include "support/openapi/openapi_schemas.h"

namespace herd::addons {
namespace {

using nlohmann::json;

struct Fixture {
  api::Cluster cluster;
  pki::PkiFiles files;
  pki::BootstrapToken token;
};

Fixture make(const std::string& version = "1.32.4") {
  Fixture f;
  f.cluster.metadata.name = "alpha";
  f.cluster.spec.version = version;
  api::applyDefaults(f.cluster);
  auto pki = pki::generatePki(f.cluster, {});
  EXPECT_TRUE(pki.isOk()) << pki.status().message();
  f.files = pki->files;
  f.token = pki->token;
  return f;
}

const json* find(const std::vector<json>& objects, const std::string& kind,
                 const std::string& name) {
  for (const auto& o : objects) {
    if (o["kind"] == kind && o["metadata"]["name"] == name) return &o;
  }
  return nullptr;
}

TEST(JoinObjectsTest, EveryObjectMatchesTheKubernetesOpenApiSchema) {
  herd::testing::OpenApiSchemas schemas;
  if (!schemas.available()) GTEST_SKIP() << "../shared/kubernetes is not beside the repository";
  auto f = make();
  auto objects = buildJoinObjects(f.cluster, f.files);
  ASSERT_TRUE(objects.isOk()) << objects.status().message();
  for (const auto& o : *objects) {
    auto errors = schemas.errors(o);
    EXPECT_TRUE(errors.empty()) << o["kind"] << " " << o["metadata"]["name"] << ": "
                                << errors.front();
    EXPECT_EQ(o["metadata"]["labels"].value(std::string(kAddonLabel), ""), kNodeJoin);
  }
}

TEST(JoinObjectsTest, TheTokenAndClusterInfoAreTheTenantsAndTheRbacAdmitsItsGroup) {
  auto f = make();
  auto objects = buildJoinObjects(f.cluster, f.files);
  ASSERT_TRUE(objects.isOk());
  const json* secret = find(*objects, "Secret", "bootstrap-token-" + f.token.id);
  ASSERT_NE(secret, nullptr);
  auto token = pki::tokenFromSecret(*secret);
  ASSERT_TRUE(token.isOk()) << token.status().message();
  EXPECT_EQ(token->toString(), f.token.toString());
  const json* info = find(*objects, "ConfigMap", "cluster-info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ((*info)["metadata"]["namespace"], "kube-public");
  EXPECT_TRUE((*info)["data"].contains("jws-kubeconfig-" + f.token.id));
  const json* approve = find(*objects, "ClusterRoleBinding", "kubeadm:node-autoapprove-bootstrap");
  ASSERT_NE(approve, nullptr);
  EXPECT_EQ((*approve)["subjects"][0]["name"], pki::kBootstrapTokenGroup);
  const json* anonymous = find(*objects, "RoleBinding", "kubeadm:bootstrap-signer-clusterinfo");
  ASSERT_NE(anonymous, nullptr);
  EXPECT_EQ((*anonymous)["subjects"][0]["name"], "system:anonymous");
}

TEST(JoinObjectsTest, KubeadmAndKubeletConfigurationsParseAndDescribeTheTenant) {
  for (auto [version, api_version] : {std::pair{"1.30.6", "kubeadm.k8s.io/v1beta3"},
                                      std::pair{"1.32.4", "kubeadm.k8s.io/v1beta4"}}) {
    auto f = make(version);
    auto objects = buildJoinObjects(f.cluster, f.files);
    ASSERT_TRUE(objects.isOk());
    const json* kubeadm = find(*objects, "ConfigMap", "kubeadm-config");
    ASSERT_NE(kubeadm, nullptr);
    auto docs = parseDocuments((*kubeadm)["data"]["ClusterConfiguration"].get<std::string>());
    ASSERT_TRUE(docs.isOk());
    const json& cc = (*docs)[0];
    EXPECT_EQ(cc["apiVersion"], api_version);
    EXPECT_EQ(cc["controlPlaneEndpoint"], "alpha.herd.localhost:443");
    EXPECT_EQ(cc["kubernetesVersion"], std::string("v") + version);
    EXPECT_EQ(cc["etcd"]["external"]["endpoints"][0], "https://etcd.alpha.herd.localhost:443");
    EXPECT_EQ(cc["networking"]["serviceSubnet"], "10.96.0.0/12");
    const json* kubelet = find(*objects, "ConfigMap", "kubelet-config");
    ASSERT_NE(kubelet, nullptr);
    auto kdocs = parseDocuments((*kubelet)["data"]["kubelet"].get<std::string>());
    ASSERT_TRUE(kdocs.isOk());
    EXPECT_EQ((*kdocs)[0]["clusterDNS"][0], "10.96.0.10");
    EXPECT_EQ((*kdocs)[0]["authorization"]["mode"], "Webhook");
  }
}

TEST(JoinObjectsTest, AMissingOrDamagedTokenFileIsNamed) {
  auto f = make();
  auto without = f.files;
  without.erase(std::string(pki::layout::kTokenSecret));
  auto missing = buildJoinObjects(f.cluster, without);
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find(pki::layout::kTokenSecret), std::string::npos);
  auto damaged = f.files;
  damaged[std::string(pki::layout::kClusterInfo)].data = "a: [unclosed";
  auto bad = buildJoinObjects(f.cluster, damaged);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find(pki::layout::kClusterInfo), std::string::npos);
}

}  // namespace
}  // namespace herd::addons
