#include "api/validation.h"

#include <gtest/gtest.h>

#include "api/defaults.h"
#include "api/naming.h"

namespace herd::api {
namespace {

Cluster valid(const std::string& name = "demo") {
  Cluster c;
  c.metadata.name = name;
  applyDefaults(c);
  return c;
}

std::vector<std::string> errorsOf(const Cluster& c) {
  std::vector<std::string> out;
  for (const auto& e : validateCluster(c)) out.push_back(e.toString());
  return out;
}

TEST(ValidationTest, DefaultedClusterIsValid) {
  EXPECT_TRUE(errorsOf(valid()).empty());
}

TEST(ValidationTest, NameLengthLimitIsInclusive) {
  EXPECT_TRUE(errorsOf(valid(std::string(kMaxClusterNameLength, 'a'))).empty());
  EXPECT_EQ(errorsOf(valid(std::string(kMaxClusterNameLength + 1, 'a'))).size(), 1u);
}

TEST(ValidationTest, DerivedNamesOfTheLongestNameFitTheirLimits) {
  Cluster c = valid(std::string(kMaxClusterNameLength, 'z'));
  ASSERT_TRUE(validateCluster(c).empty());
  EXPECT_TRUE(isDns1123Label(tenantNamespace(c)));
  EXPECT_TRUE(isDns1123Subdomain(apiHostname(c)));
  EXPECT_TRUE(isDns1123Subdomain(etcdHostname(c)));
  for (int i = 0; i < 5; ++i) {
    for (const auto& n : etcdMemberDnsNames(c, i)) EXPECT_TRUE(isDns1123Subdomain(n)) << n;
  }
  for (const auto& n : serviceDnsNames(kApiServerServiceName, tenantNamespace(c))) {
    EXPECT_TRUE(isDns1123Subdomain(n)) << n;
  }
  EXPECT_TRUE(isDns1123Label(c.metadata.name + "-" + std::string(22, 'p')));
}

TEST(ValidationTest, EveryEtcdSizeThatMakesAQuorum) {
  for (int n : {1, 3, 5}) {
    Cluster c = valid();
    c.spec.controlPlane.etcd.replicas = n;
    EXPECT_TRUE(errorsOf(c).empty()) << n;
  }
}

TEST(ValidationTest, RequestEqualToLimitIsFine) {
  Cluster c = valid();
  c.spec.controlPlane.etcd.resources.requests["memory"] = Quantity{"1Gi"};
  c.spec.controlPlane.etcd.resources.limits["memory"] = Quantity{"1024Mi"};
  EXPECT_TRUE(errorsOf(c).empty());
}

TEST(ValidationTest, MissingFieldsAfterDefaultingAreRequired) {
  Cluster c;
  c.metadata.name = "raw";  // not defaulted
  auto errs = errorsOf(c);
  EXPECT_EQ(errs, (std::vector<std::string>{
                      "spec.version: Required value",
                      "spec.controlPlane.apiServer.replicas: Required value",
                      "spec.controlPlane.controllerManager.replicas: Required value",
                      "spec.controlPlane.scheduler.replicas: Required value",
                      "spec.controlPlane.etcd.replicas: Required value",
                      "spec.controlPlane.etcd.storageSize: Required value",
                      "spec.network.serviceCIDR: Required value",
                      "spec.network.podCIDR: Required value",
                      "spec.network.dnsDomain: Required value",
                  }));
}

TEST(ValidationTest, DuplicateConditionTypes) {
  Cluster c = valid();
  c.status = ClusterStatus{};
  c.status->conditions = {{"Ready", "True", "Ok", "", "", {}},
                          {"Ready", "False", "Broken", "", "", {}}};
  EXPECT_EQ(errorsOf(c),
            std::vector<std::string>{"status.conditions[1].type: Duplicate value: \"Ready\""});
}

TEST(ValidationTest, DnsNameHelpers) {
  EXPECT_TRUE(isDns1123Label("a"));
  EXPECT_TRUE(isDns1123Label("123-abc"));
  EXPECT_FALSE(isDns1123Label("-a"));
  EXPECT_FALSE(isDns1123Label("a-"));
  EXPECT_FALSE(isDns1123Label(std::string(64, 'a')));
  EXPECT_TRUE(isDns1123Subdomain("api.example.com"));
  EXPECT_FALSE(isDns1123Subdomain("api..example.com"));
  EXPECT_FALSE(isDns1123Subdomain("API.example.com"));
  EXPECT_TRUE(isRfc3339("2026-11-25T01:40:25Z"));
  EXPECT_TRUE(isRfc3339("2026-11-25T01:40:25.123+01:00"));
  EXPECT_FALSE(isRfc3339("2026-11-25 01:40:25"));
  EXPECT_FALSE(isRfc3339("2026-13-25T01:40:25Z"));
}

}  // namespace
}  // namespace herd::api
