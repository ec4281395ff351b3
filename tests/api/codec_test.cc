#include "api/codec.h"

#include <gtest/gtest.h>

#include "api/defaults.h"
#include "common/yaml.h"

namespace herd::api {
namespace {

using nlohmann::json;

Cluster fullCluster() {
  Cluster c;
  c.metadata.name = "prod";
  c.metadata.labels = {{"team", "payments"}};
  c.metadata.annotations = {{"herd.io/note", "x: y"}};
  c.metadata.finalizers = {"herd.io/cleanup"};
  c.metadata.uid = "0146be2a-6d3e-4708-b464-7ae89203acea";
  c.metadata.resourceVersion = "841";
  c.metadata.generation = 3;
  c.metadata.creationTimestamp = "2026-11-25T01:40:25Z";
  c.metadata.passthrough["managedFields"] =
      json::array({{{"manager", "herd"}, {"operation", "Apply"}}});
  c.spec.version = "1.31";
  c.spec.controlPlane.apiServer.replicas = 3;
  c.spec.controlPlane.apiServer.resources.requests["cpu"] = Quantity{"250m"};
  c.spec.controlPlane.apiServer.resources.limits["memory"] = Quantity{"1Gi"};
  c.spec.controlPlane.apiServer.extraArgs["audit-log-maxage"] = "7";
  c.spec.controlPlane.etcd.replicas = 5;
  c.spec.controlPlane.etcd.storageSize = Quantity{"20Gi"};
  c.spec.network.serviceCIDR = "fd00:10::/108";
  c.spec.network.podCIDR = "fd00:20::/64";
  c.spec.expose.hostname = "api.prod.example.com";
  c.spec.addons.dashboard.enabled = true;
  c.spec.paused = false;
  ClusterStatus st;
  st.phase = "Running";
  st.observedGeneration = 3;
  st.endpoint = "https://api.prod.example.com:443";
  st.conditions.push_back(
      {"Ready", "True", "AllComponentsReady", "3/3 API servers ready", "2026-11-25T01:40:25Z", 3});
  st.components = ComponentsStatus{};
  st.components->etcd = ComponentStatus{5, 5, ""};
  st.nodes = WorkloadCounts{4, 3};
  c.status = st;
  applyDefaults(c);
  return c;
}

TEST(CodecTest, JsonRoundTripIsLossless) {
  Cluster c = fullCluster();
  json j = encodeCluster(c);
  Decoded d = decodeCluster(j);
  ASSERT_TRUE(d.errors.empty()) << d.errors.toStatus("Cluster", "prod").message();
  EXPECT_EQ(d.cluster, c);
  EXPECT_EQ(encodeCluster(d.cluster), j);
}

TEST(CodecTest, YamlRoundTripIsLossless) {
  Cluster c = fullCluster();
  std::string yaml = toYaml(encodeCluster(c));
  auto docs = parseDocuments(yaml);
  ASSERT_TRUE(docs.isOk()) << docs.status().toString() << "\n" << yaml;
  ASSERT_EQ(docs->size(), 1u);
  Decoded d = decodeCluster((*docs)[0]);
  ASSERT_TRUE(d.errors.empty()) << yaml;
  EXPECT_EQ(d.cluster, c);
}

TEST(CodecTest, EncodingOmitsEmptyFieldsAndKeepsTypeMeta) {
  Cluster c;
  c.metadata.name = "bare";
  json j = encodeCluster(c);
  EXPECT_EQ(
      j,
      json::parse(
          R"({"apiVersion":"herd.io/v1alpha1","kind":"Cluster","metadata":{"name":"bare"},"spec":{}})"));
}

TEST(CodecTest, EncodingKeepsZeroCountsInStatus) {
  Cluster c;
  c.metadata.name = "x";
  c.status = ClusterStatus{};
  c.status->nodes = WorkloadCounts{0, 0};
  json j = encodeCluster(c);
  EXPECT_EQ(j["status"]["nodes"], json::parse(R"({"total":0,"ready":0})"));
}

TEST(CodecTest, KeysAreSortedLikeTheApiserverSerializesCustomResources) {
  std::string text = encodeCluster(fullCluster()).dump();
  EXPECT_LT(text.find("\"apiVersion\""), text.find("\"kind\""));
  EXPECT_LT(text.find("\"kind\""), text.find("\"metadata\""));
  EXPECT_LT(text.find("\"metadata\""), text.find("\"spec\""));
  EXPECT_LT(text.find("\"spec\""), text.find("\"status\""));
}

TEST(CodecTest, NullMeansUnset) {
  json j = json::parse(
      R"({"apiVersion":"herd.io/v1alpha1","kind":"Cluster","metadata":{"name":"n"},"spec":{"version":null,"paused":null}})");
  Decoded d = decodeCluster(j);
  EXPECT_TRUE(d.errors.empty());
  EXPECT_FALSE(d.cluster.spec.version.has_value());
  EXPECT_FALSE(d.cluster.spec.paused.has_value());
}

TEST(CodecTest, QuantityAcceptsNumbers) {
  json j = json::parse(
      R"({"apiVersion":"herd.io/v1alpha1","kind":"Cluster","metadata":{"name":"n"},
          "spec":{"controlPlane":{"etcd":{"resources":{"limits":{"cpu":2}}}}}})");
  Decoded d = decodeCluster(j);
  ASSERT_TRUE(d.errors.empty());
  EXPECT_EQ(d.cluster.spec.controlPlane.etcd.resources.limits.at("cpu").text, "2");
}

TEST(CodecTest, ListOfClustersIsUnrolled) {
  std::string text = R"({"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"herd.io/v1alpha1","kind":"Cluster","metadata":{"name":"a"}},
      {"apiVersion":"herd.io/v1alpha1","kind":"Cluster","metadata":{"name":"b"}}]})";
  auto docs = decodeManifests(text);
  ASSERT_TRUE(docs.isOk());
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[1].decoded.cluster.metadata.name, "b");
}

TEST(CodecTest, UnknownMetadataFieldsAreErrorsButKnownOnesPassThrough) {
  json j = json::parse(R"({"apiVersion":"herd.io/v1alpha1","kind":"Cluster",
      "metadata":{"name":"n","ownerReferences":[],"generateName":"x-","colour":"red"}})");
  Decoded d = decodeCluster(j);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_EQ(d.errors.all()[0].toString(), "unknown field \"metadata.colour\"");
  EXPECT_EQ(d.cluster.metadata.passthrough["generateName"], "x-");
}

}  // namespace
}  // namespace herd::api
