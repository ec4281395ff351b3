// The CRD in deploy/crds/ and the C++ Cluster types must describe the same object: these
// tests walk both, field by field in both directions, and validate sample objects.
#include "api/crd.h"

#include <gtest/gtest.h>

#include "api/codec.h"
#include "api/defaults.h"
#include "api/schema.h"
#include "api/validation.h"
#include "support/test_env.h"

namespace herd::api {
namespace {

using nlohmann::json;

// Compares the type shape of a C++ field with the CRD schema node at `path`; collects every
// mismatch, recursing into objects, arrays and maps.
void compareShapes(const json& type, const json& crd, const std::string& path,
                   std::vector<std::string>& problems) {
  if (type.value("x-kubernetes-int-or-string", false)) {
    if (!crd.value("x-kubernetes-int-or-string", false))
      problems.push_back(path + ": C++ quantity, CRD not int-or-string");
    return;
  }
  std::string t = type.value("type", "");
  if (crd.value("type", "") != t) {
    problems.push_back(path + ": C++ type " + t + ", CRD type " + crd.value("type", "<none>"));
    return;
  }
  if (type.contains("format") && crd.value("format", "") != type["format"]) {
    problems.push_back(path + ": C++ format " + type["format"].get<std::string>() +
                       ", CRD format " + crd.value("format", "<none>"));
  }
  if (t == "array") {
    compareShapes(type["items"], crd.value("items", json::object()), path + "[]", problems);
  } else if (t == "object" && type.contains("additionalProperties")) {
    if (!crd.contains("additionalProperties")) {
      problems.push_back(path + ": C++ map, CRD has no additionalProperties");
    } else {
      compareShapes(type["additionalProperties"], crd["additionalProperties"], path + "[*]",
                    problems);
    }
  } else if (t == "object" && type.contains("properties")) {
    json crd_props = crd.value("properties", json::object());
    for (const auto& [name, sub] : type["properties"].items()) {
      if (!crd_props.contains(name)) {
        problems.push_back(path + "." + name + ": in the C++ type, missing from the CRD");
      } else {
        compareShapes(sub, crd_props[name], path + "." + name, problems);
      }
    }
    for (const auto& [name, sub] : crd_props.items()) {
      if (!type["properties"].contains(name))
        problems.push_back(path + "." + name + ": in the CRD, missing from the C++ type");
    }
  }
}

TEST(CrdTest, SchemaAndTypesAgreeFieldByFieldBothWays) {
  json schema = clusterSchema();
  // apiVersion and kind are TypeMeta, handled by the codec rather than the struct.
  schema["properties"].erase("apiVersion");
  schema["properties"].erase("kind");
  std::vector<std::string> problems;
  compareShapes(clusterTypeShape(), schema, "", problems);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
}

TEST(CrdTest, TheComparisonNoticesADifference) {
  json schema = clusterSchema();
  schema["properties"]["spec"]["properties"]["controlPlane"]["properties"]["etcd"]["properties"]
      .erase("storageSize");
  schema["properties"]["spec"]["properties"]["paused"]["type"] = "string";
  schema["properties"]["spec"]["properties"]["extra"] = {{"type", "string"}};
  std::vector<std::string> problems;
  compareShapes(clusterTypeShape(), schema, "", problems);
  std::sort(problems.begin(), problems.end());
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                ".apiVersion: in the CRD, missing from the C++ type",
                ".kind: in the CRD, missing from the C++ type",
                ".spec.controlPlane.etcd.storageSize: in the C++ type, missing from the CRD",
                ".spec.extra: in the CRD, missing from the C++ type",
                ".spec.paused: C++ type boolean, CRD type string",
            }));
}

TEST(CrdTest, ServerSideDefaultsMatchHerdsDefaults) {
  json minimal = json::parse(
      R"({"apiVersion":"herd.io/v1alpha1","kind":"Cluster","metadata":{"name":"demo"},"spec":{}})");
  json by_server = minimal;
  schema::applyDefaults(by_server, clusterSchema());
  Decoded server = decodeCluster(by_server);
  ASSERT_TRUE(server.errors.empty());
  Decoded herd = decodeCluster(minimal);
  applyDefaults(herd.cluster);
  // Derived defaults the server cannot compute: they depend on other fields and on the platform.
  herd.cluster.spec.network.dnsServiceIP.reset();
  herd.cluster.spec.expose.hostname.reset();
  EXPECT_EQ(encodeCluster(server.cluster), encodeCluster(herd.cluster));
}

TEST(CrdTest, ValidSamplesPassTheSchema) {
  std::vector<Cluster> samples(3);
  samples[0].metadata.name = "demo";
  samples[1].metadata.name = "v6";
  samples[1].spec.network.serviceCIDR = "fd00:10::/108";
  samples[1].spec.network.podCIDR = "fd00:20::/64";
  samples[1].spec.controlPlane.etcd.replicas = 5;
  samples[1].spec.controlPlane.apiServer.resources.requests["cpu"] = Quantity{"250m"};
  samples[1].spec.controlPlane.apiServer.resources.limits["memory"] = Quantity{"2Gi"};
  samples[1].spec.controlPlane.apiServer.extraArgs["audit-log-maxage"] = "7";
  samples[2].metadata.name = "running";
  samples[2].status = ClusterStatus{};
  samples[2].status->phase = "Running";
  samples[2].status->conditions.push_back(
      {"Ready", "True", "AllReady", "ok", "2026-11-25T01:40:25Z", 1});
  samples[2].status->components =
      ComponentsStatus{ComponentStatus{3, 3, ""}, ComponentStatus{2, 2, ""}, {}, {}};
  samples[2].status->nodes = WorkloadCounts{2, 2};
  for (auto& c : samples) {
    applyDefaults(c);
    ASSERT_TRUE(validateCluster(c).empty()) << c.metadata.name;
    auto errs = schema::validate(encodeCluster(c), clusterSchema());
    EXPECT_TRUE(errs.empty()) << c.metadata.name << ": "
                              << errs.toStatus("Cluster", c.metadata.name).message();
  }
}

TEST(CrdTest, SchemaRejectsWhatItCanExpress) {
  struct Bad {
    const char* patch;
    const char* error;
  };
  const Bad cases[] = {
      {R"({"spec":{"controlPlane":{"etcd":{"replicas":2}}}})",
       "spec.controlPlane.etcd.replicas: Unsupported value: 2: supported values: 1, 3, 5"},
      {R"({"spec":{"controlPlane":{"apiServer":{"replicas":0}}}})",
       "spec.controlPlane.apiServer.replicas: Invalid value: 0: "
       "spec.controlPlane.apiServer.replicas in body should "
       "be greater than or equal to 1"},
      {R"({"spec":{"version":"latest"}})",
       "spec.version: Invalid value: \"latest\": spec.version in body should match "
       "'^1\\.[0-9]+(\\.[0-9]+)?$'"},
      {R"({"spec":{"paused":"yes"}})",
       "spec.paused: Invalid value: \"string\": spec.paused in body must be of type boolean: "
       "\"string\""},
      {R"({"spec":{"controlPlane":{"etcd":{"storageSize":"lots"}}}})",
       "spec.controlPlane.etcd.storageSize: Invalid value: \"lots\": "
       "spec.controlPlane.etcd.storageSize in body should "
       "match "
       "'^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+("
       "\\.[0-9]*)?)|(\\.[0-9]+))))?$'"},
      {R"({"status":{"phase":"Exploding"}})",
       "status.phase: Unsupported value: \"Exploding\": supported values: \"Pending\", "
       "\"Provisioning\", \"Running\", "
       "\"Updating\", \"Degraded\", \"Deleting\", \"Failed\""},
  };
  for (const auto& c : cases) {
    json obj = json::parse(
        R"({"apiVersion":"herd.io/v1alpha1","kind":"Cluster","metadata":{"name":"x"},"spec":{}})");
    obj.merge_patch(json::parse(c.patch));
    auto errs = schema::validate(obj, clusterSchema());
    ASSERT_EQ(errs.size(), 1u) << c.patch;
    EXPECT_EQ(errs.all()[0].toString(), c.error);
  }
}

TEST(CrdTest, NamesScopeAndSubresources) {
  const json& crd = clusterCrd();
  EXPECT_EQ(crd["metadata"]["name"], std::string(kPlural) + "." + std::string(kGroup));
  EXPECT_EQ(crd["spec"]["group"], kGroup);
  EXPECT_EQ(crd["spec"]["scope"], "Cluster");
  EXPECT_EQ(crd["spec"]["names"]["kind"], kKind);
  EXPECT_EQ(crd["spec"]["names"]["plural"], kPlural);
  EXPECT_EQ(crd["spec"]["names"]["shortNames"], json::array({"hc"}));
  const json& v = crd["spec"]["versions"][0];
  EXPECT_EQ(v["name"], kVersion);
  EXPECT_TRUE(v["served"].get<bool>() && v["storage"].get<bool>());
  EXPECT_EQ(v["subresources"]["status"], json::object());
  // The scale paths name int32 replica fields of the C++ type.
  json shape = clusterTypeShape();
  auto at = [&](std::string path) {
    json node = shape;
    size_t start = 1;
    while (start < path.size()) {
      size_t dot = path.find('.', start);
      std::string part =
          path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      node = node["properties"][part];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return node;
  };
  EXPECT_EQ(at(v["subresources"]["scale"]["specReplicasPath"])["format"], "int32");
  EXPECT_EQ(at(v["subresources"]["scale"]["statusReplicasPath"])["format"], "int32");
}

TEST(CrdTest, PrinterColumns) {
  const json& cols = clusterCrd()["spec"]["versions"][0]["additionalPrinterColumns"];
  std::vector<std::string> default_columns;
  for (const auto& c : cols) {
    if (c.value("priority", 0) == 0) default_columns.push_back(c["name"]);
  }
  EXPECT_EQ(default_columns,
            (std::vector<std::string>{"Version", "Phase", "Endpoint", "Ready", "Nodes", "Pods",
                                      "Age"}));
}

TEST(CrdTest, EmbeddedCopyIsTheDeployedFile) {
  EXPECT_EQ(clusterCrdYaml(),
            testing::readFileOrDie(testing::sourceDir() + "/deploy/crds/herd.io_clusters.yaml"));
}

}  // namespace
}  // namespace herd::api
