// The addons' objects: every one valid against the recorded Kubernetes OpenAPI schemas, the
// same bytes on every build (golden files), the images honouring --image-registry, each object
// labelled with its addon so that disabling one prunes exactly its objects, and clear errors
// for what cannot be built.
//
// Regenerate the golden files after an intended change with
//   HERD_UPDATE_GOLDEN=1 build/tests/addons/herd_addons_tests
#include "addons/addons.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "api/defaults.h"
#include "common/files.h"
#include "support/openapi/openapi_schemas.h"
#include "support/test_env.h"

namespace herd::addons {
namespace {

api::Cluster cluster(const std::string& version = "1.32.4") {
  api::Cluster c;
  c.metadata.name = "alpha";
  c.spec.version = version;
  api::applyDefaults(c);
  return c;
}

AddonContext context() {
  AddonContext ctx;
  ctx.api_host = "192.0.2.10";
  ctx.api_port = 30443;
  return ctx;
}

std::vector<nlohmann::json> build(Addon addon, const api::Cluster& c = cluster(),
                                  const AddonContext& ctx = context()) {
  auto objects = buildAddon(addon, c, ctx);
  EXPECT_TRUE(objects.isOk()) << objects.status().message();
  return objects.isOk() ? *objects : std::vector<nlohmann::json>{};
}

std::vector<std::string> images(const std::vector<nlohmann::json>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) {
    auto containers =
        o.value("/spec/template/spec/containers"_json_pointer, nlohmann::json::array());
    for (const auto& c : containers) out.push_back(c.value("image", ""));
  }
  return out;
}

TEST(AddonsTest, EveryObjectMatchesTheKubernetesOpenApiSchema) {
  herd::testing::OpenApiSchemas schemas;
  if (!schemas.available()) GTEST_SKIP() << "../shared/kubernetes is not beside the repository";
  for (Addon addon : kAllAddons) {
    for (const auto& object : build(addon)) {
      auto errors = schemas.errors(object);
      EXPECT_TRUE(errors.empty()) << addonName(addon) << " " << object["kind"] << " "
                                  << object["metadata"]["name"] << ": " << errors.front();
    }
  }
}

TEST(AddonsTest, ObjectsAreTheGoldenBytes) {
  bool update = std::getenv("HERD_UPDATE_GOLDEN") != nullptr;
  for (Addon addon : kAllAddons) {
    std::string text;
    for (const auto& object : build(addon)) text += object.dump(2) + "\n";
    EXPECT_EQ(text, [&] {
      std::string again;
      for (const auto& object : build(addon)) again += object.dump(2) + "\n";
      return again;
    }()) << "building twice gives the same bytes";
    std::string path = herd::testing::sourceDir() + "/tests/addons/golden/" +
                       std::string(addonName(addon)) + ".json";
    if (update) {
      ASSERT_TRUE(files::writeAtomic(path, text).isOk());
    }
    EXPECT_EQ(text, herd::testing::readFileOrDie(path))
        << path << " (HERD_UPDATE_GOLDEN=1 rewrites it)";
  }
}

TEST(AddonsTest, EveryObjectCarriesItsAddonLabelAndNamesAreUnique) {
  std::set<std::string> seen;
  for (Addon addon : kAllAddons) {
    for (const auto& o : build(addon)) {
      EXPECT_EQ(o["metadata"]["labels"].value(std::string(kAddonLabel), ""), addonName(addon))
          << o["kind"] << " " << o["metadata"]["name"];
      std::string key = o["kind"].get<std::string>() + "/" + o["metadata"].value("namespace", "") +
                        "/" + o["metadata"]["name"].get<std::string>();
      EXPECT_TRUE(seen.insert(key).second) << key << " is built by two addons";
    }
  }
}

TEST(AddonsTest, ImagesFollowTheVersionAndTheRegistryOverride) {
  auto proxy = images(build(Addon::kKubeProxy, cluster("1.31.2")));
  EXPECT_EQ(proxy, std::vector<std::string>{"registry.k8s.io/kube-proxy:v1.31.2"});
  EXPECT_EQ(images(build(Addon::kCoreDns, cluster("1.33.1"))),
            std::vector<std::string>{"registry.k8s.io/coredns/coredns:v1.12.0"});
  AddonContext mirror = context();
  mirror.image_registry = "mirror.example.com:5000/k8s";
  for (Addon addon : kAllAddons) {
    for (const auto& image : images(build(addon, cluster(), mirror))) {
      EXPECT_TRUE(image.starts_with("mirror.example.com:5000/k8s/")) << image;
    }
  }
  auto dash = images(build(Addon::kDashboard, cluster(), mirror));
  EXPECT_NE(std::find(dash.begin(), dash.end(),
                      "mirror.example.com:5000/k8s/kubernetesui/dashboard:v2.7.0"),
            dash.end());
}

TEST(AddonsTest, KubeProxyDialsTheTenantsGatewayPortAndDnsTheServiceAddress) {
  auto proxy = build(Addon::kKubeProxy);
  auto cm =
      std::find_if(proxy.begin(), proxy.end(), [](auto& o) { return o["kind"] == "ConfigMap"; });
  ASSERT_NE(cm, proxy.end());
  EXPECT_NE(
      (*cm)["data"]["kubeconfig.conf"].get<std::string>().find("server: https://192.0.2.10:30443"),
      std::string::npos);
  EXPECT_NE((*cm)["data"]["config.conf"].get<std::string>().find("clusterCIDR: 10.244.0.0/16"),
            std::string::npos);
  auto dns = build(Addon::kCoreDns);
  auto svc = std::find_if(dns.begin(), dns.end(), [](auto& o) { return o["kind"] == "Service"; });
  ASSERT_NE(svc, dns.end());
  EXPECT_EQ((*svc)["metadata"]["name"], "kube-dns");
  EXPECT_EQ((*svc)["spec"]["clusterIP"], "10.96.0.10");
}

TEST(AddonsTest, WhatCannotBeBuiltIsAClearError) {
  auto old = buildAddon(Addon::kCoreDns, cluster("1.21.0"), context());
  ASSERT_FALSE(old.isOk());
  EXPECT_NE(old.status().message().find("no images for Kubernetes \"1.21.0\""), std::string::npos);
  AddonContext no_port = context();
  no_port.api_port = 0;
  auto proxy = buildAddon(Addon::kKubeProxy, cluster(), no_port);
  ASSERT_FALSE(proxy.isOk());
  EXPECT_NE(proxy.status().message().find("gateway address and port"), std::string::npos);
}

TEST(AddonsTest, TheDefaultedSpecSaysWhichAddonsRun) {
  auto c = cluster();
  EXPECT_TRUE(isEnabled(Addon::kKubeProxy, c));
  EXPECT_TRUE(isEnabled(Addon::kCoreDns, c));
  EXPECT_TRUE(isEnabled(Addon::kMetricsServer, c));
  EXPECT_FALSE(isEnabled(Addon::kDashboard, c)) << "the dashboard is opt-in";
  c.spec.addons.dashboard.enabled = true;
  c.spec.addons.metricsServer.enabled = false;
  EXPECT_TRUE(isEnabled(Addon::kDashboard, c));
  EXPECT_FALSE(isEnabled(Addon::kMetricsServer, c));
}

TEST(AddonsTest, TheSchemaCheckCatchesAnObjectTheServerWouldRefuse) {
  herd::testing::OpenApiSchemas schemas;
  if (!schemas.available()) GTEST_SKIP() << "../shared/kubernetes is not beside the repository";
  auto dns = build(Addon::kCoreDns);
  auto deploy =
      std::find_if(dns.begin(), dns.end(), [](auto& o) { return o["kind"] == "Deployment"; });
  ASSERT_NE(deploy, dns.end());
  nlohmann::json bad = *deploy;
  bad["spec"]["replicas"] = "two";
  bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always";
  EXPECT_GE(schemas.errors(bad).size(), 2u);
}

}  // namespace
}  // namespace herd::addons
