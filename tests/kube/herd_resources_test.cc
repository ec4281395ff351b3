// The resource table of kube/herd_resources.h: the Cluster's literals equal the API's own
// constants, and every built-in reference names a resource that a real Kubernetes 1.32 serves,
// with the scope and kind its discovery document gives.
#include "kube/herd_resources.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "api/cluster.h"
#include "support/test_env.h"

namespace herd::kube {
namespace {

TEST(HerdResourcesTest, ClusterReferenceMatchesTheApiTypes) {
  ResourceRef r = clustersResource();
  EXPECT_EQ(r.group, api::kGroup);
  EXPECT_EQ(r.version, api::kVersion);
  EXPECT_EQ(r.resource, api::kPlural);
  EXPECT_EQ(r.kind, api::kKind);
  EXPECT_EQ(r.apiVersion(), api::kApiVersion);
  EXPECT_FALSE(r.namespaced);
}

TEST(HerdResourcesTest, BuiltInReferencesMatchRecordedDiscovery) {
  std::string shared = testing::sharedDir();
  if (shared.empty()) GTEST_SKIP() << "no recorded Kubernetes data beside the repository";
  for (const ResourceRef& r :
       {endpointSlicesResource(), endpointsResource(), eventsResource(), coreEventsResource(),
        servicesResource(),
        deploymentsResource(), statefulSetsResource(), podDisruptionBudgetsResource(),
        networkPoliciesResource(), namespacesResource(), secretsResource(), configMapsResource(),
        leasesResource(), crdsResource()}) {
    SCOPED_TRACE(r.apiVersion() + " " + r.resource);
    std::string file = r.group.empty() ? "api_" + r.version + ".json"
                                       : "apis_" + r.group + "_" + r.version + ".json";
    std::string path = shared + "/kubernetes/discovery/" + file;
    ASSERT_TRUE(std::filesystem::exists(path)) << "Kubernetes 1.32 does not serve " << path;
    auto doc = nlohmann::json::parse(testing::readFileOrDie(path));
    const nlohmann::json* found = nullptr;
    for (const auto& res : doc["resources"]) {
      if (res["name"] == r.resource) found = &res;
    }
    ASSERT_NE(found, nullptr) << "no such resource in " << file;
    EXPECT_EQ((*found)["namespaced"].get<bool>(), r.namespaced);
    EXPECT_EQ((*found)["kind"].get<std::string>(), r.kind);
  }
}

}  // namespace
}  // namespace herd::kube
