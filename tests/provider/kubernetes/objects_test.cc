// The builders of the seed objects. Golden files hold every object of one realistic tenant
// byte for byte; to regenerate them after an intended change, run
//   HERD_UPDATE_GOLDEN=1 build/tests/provider/herd_provider_kubernetes_tests
//   --gtest_filter='*Golden*'
// and review the diff. Every object also passes the recorded Kubernetes OpenAPI schemas, and
// the structure that matters at run time (selectors, mounts, members, budgets) is checked.
#include "provider/kubernetes/objects.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "provider/kubernetes/credentials.h"
#include "provider/kubernetes/test_specs.h"
#include "support/openapi/openapi_schemas.h"
#include "support/test_env.h"

namespace herd::provider::kubernetes {
namespace {

using nlohmann::json;

ProviderOptions options() {
  ProviderOptions o;
  o.storage_class = "fast-ssd";
  return o;
}

// Every object of the test tenant, in the order the provider applies them.
std::vector<json> allObjects() {
  std::vector<json> out;
  auto tenant = tenantObjects(testdata::cluster(), options());
  EXPECT_TRUE(tenant.isOk()) << tenant.status().toString();
  if (tenant) out.insert(out.end(), tenant->begin(), tenant->end());
  auto secrets = credentialSecrets(testdata::cluster(), testdata::pkiFiles());
  EXPECT_TRUE(secrets.isOk()) << secrets.status().toString();
  if (secrets) out.insert(out.end(), secrets->begin(), secrets->end());
  for (const auto& spec : testdata::allSpecs()) {
    auto objects = componentObjects(testdata::cluster(), spec, options());
    EXPECT_TRUE(objects.isOk()) << spec.name << ": " << objects.status().toString();
    if (objects) out.insert(out.end(), objects->begin(), objects->end());
  }
  return out;
}

std::string goldenName(const json& object) {
  std::string kind = object["kind"];
  for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return kind + "-" + object["metadata"]["name"].get<std::string>() + ".json";
}

const json* find(const std::vector<json>& objects, const std::string& kind,
                 const std::string& name) {
  for (const auto& o : objects) {
    if (o["kind"] == kind && o["metadata"]["name"] == name) return &o;
  }
  return nullptr;
}

std::vector<json> objectsOf(const render::ComponentSpec& spec) {
  auto objects = componentObjects(testdata::cluster(), spec, options());
  EXPECT_TRUE(objects.isOk()) << objects.status().toString();
  return objects ? *objects : std::vector<json>{};
}

TEST(ObjectsTest, GoldenFilesMatchByteForByte) {
  const std::string dir = HERD_PROVIDER_GOLDEN_DIR;
  const bool update = std::getenv("HERD_UPDATE_GOLDEN") != nullptr;
  std::set<std::string> expected;
  for (const auto& object : allObjects()) {
    const std::string name = goldenName(object);
    ASSERT_TRUE(expected.insert(name).second) << name << " twice";
    const std::string text = object.dump(2) + "\n";
    const std::string path = dir + "/" + name;
    if (update) {
      std::ofstream(path, std::ios::binary) << text;
      continue;
    }
    ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing; see the file comment";
    EXPECT_EQ(herd::testing::readFileOrDie(path), text) << name << " differs from its golden file";
  }
  std::set<std::string> present;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    present.insert(entry.path().filename().string());
  }
  EXPECT_EQ(present, expected) << "golden files without an object, or objects without one";
}

TEST(ObjectsTest, BuildingTwiceIsByteIdentical) {
  auto first = allObjects();
  auto second = allObjects();
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].dump(), second[i].dump());
}

TEST(ObjectsTest, EveryObjectMatchesTheKubernetesSchema) {
  herd::testing::OpenApiSchemas schemas;
  if (!schemas.available()) GTEST_SKIP() << "../shared/kubernetes is not beside the repository";
  auto objects = allObjects();
  EXPECT_EQ(objects.size(), 28u);
  for (const auto& o : objects) {
    std::string listed;
    for (const auto& e : schemas.errors(o)) listed += e + "\n";
    EXPECT_TRUE(listed.empty()) << goldenName(o) << ":\n" << listed;
  }
  // The check can fail: a misspelt field and a wrong type are found.
  json broken = *find(objects, "StatefulSet", "etcd");
  broken["spec"]["serviceNme"] = "etcd";
  broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "2379";
  EXPECT_EQ(schemas.errors(broken).size(), 2u);
}

TEST(ObjectsTest, EveryObjectIsLabelledAndOwnedByTheCluster) {
  for (const auto& o : allObjects()) {
    const json& meta = o["metadata"];
    EXPECT_EQ(meta["labels"]["herd.io/cluster"], "alpha") << goldenName(o);
    EXPECT_TRUE(meta["labels"].contains("herd.io/component")) << goldenName(o);
    if (o["kind"] != "Namespace") {
      EXPECT_EQ(meta["namespace"], "herd-alpha") << goldenName(o);
    }
    ASSERT_EQ(meta["ownerReferences"].size(), 1u);
    const json& owner = meta["ownerReferences"][0];
    EXPECT_EQ(owner["apiVersion"], "herd.io/v1alpha1");
    EXPECT_EQ(owner["kind"], "Cluster");
    EXPECT_EQ(owner["name"], "alpha");
    EXPECT_EQ(owner["uid"], testdata::cluster().metadata.uid);
    EXPECT_EQ(owner["controller"], true);
    EXPECT_EQ(owner["blockOwnerDeletion"], true);
  }
}

TEST(ObjectsTest, ACusterNotReadFromTheSeedIsRefused) {
  auto c = testdata::cluster("");
  auto objects = componentObjects(c, testdata::etcdSpec(), options());
  ASSERT_FALSE(objects.isOk());
  EXPECT_NE(objects.status().message().find("no uid"), std::string::npos);
  EXPECT_FALSE(tenantObjects(c, options()).isOk());
}

TEST(ObjectsTest, EtcdIsAStatefulSetOfNamedMembers) {
  auto objects = objectsOf(testdata::etcdSpec());
  const json* sts = find(objects, "StatefulSet", "etcd");
  ASSERT_NE(sts, nullptr);
  EXPECT_EQ(objects.back(), *sts) << "the workload is applied last";
  const json& spec = (*sts)["spec"];
  EXPECT_EQ(spec["replicas"], 3);
  EXPECT_EQ(spec["serviceName"], "etcd");
  EXPECT_EQ(spec["podManagementPolicy"], "Parallel");
  EXPECT_EQ(spec["updateStrategy"]["type"], "RollingUpdate");
  const json& pod = spec["template"]["spec"];
  const json& container = pod["containers"][0];
  EXPECT_EQ(container["command"], json::array({"etcd"}));
  EXPECT_EQ(container["args"], json(testdata::etcdSpec().args));
  EXPECT_EQ(
      container["env"][0],
      json::parse(
          R"({"name":"HERD_MEMBER","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}})"));
  // Pods of the StatefulSet carry the labels its selector and its Services select on.
  for (const auto& [k, v] : spec["selector"]["matchLabels"].items()) {
    EXPECT_EQ(spec["template"]["metadata"]["labels"][k], v);
  }
  const json& term =
      pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
  EXPECT_EQ(term["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname");
  EXPECT_EQ(term["podAffinityTerm"]["labelSelector"]["matchLabels"],
            spec["selector"]["matchLabels"]);
  EXPECT_EQ(pod["automountServiceAccountToken"], false);

  ASSERT_EQ(spec["volumeClaimTemplates"].size(), 1u);
  const json& claim = spec["volumeClaimTemplates"][0];
  EXPECT_EQ(claim["metadata"]["name"], "data");
  EXPECT_EQ(claim["spec"]["resources"]["requests"]["storage"], "8Gi");
  EXPECT_EQ(claim["spec"]["storageClassName"], "fast-ssd");
  bool data_mounted = false;
  for (const auto& m : container["volumeMounts"]) {
    data_mounted |= m["name"] == "data" && m["mountPath"] == "/var/lib/etcd";
  }
  EXPECT_TRUE(data_mounted);

  const json* headless = find(objects, "Service", "etcd");
  ASSERT_NE(headless, nullptr);
  EXPECT_EQ((*headless)["spec"]["clusterIP"], "None");
  EXPECT_EQ((*headless)["spec"]["publishNotReadyAddresses"], true);
  EXPECT_EQ((*headless)["spec"]["ports"].size(), 3u);
  EXPECT_EQ((*headless)["spec"]["selector"], spec["selector"]["matchLabels"]);
  const json* client = find(objects, "Service", "etcd-client");
  ASSERT_NE(client, nullptr);
  ASSERT_EQ((*client)["spec"]["ports"].size(), 1u);
  EXPECT_EQ((*client)["spec"]["ports"][0]["port"], 2379);
  const json* budget = find(objects, "PodDisruptionBudget", "etcd");
  ASSERT_NE(budget, nullptr);
  EXPECT_EQ((*budget)["spec"]["maxUnavailable"], 1);

  // Without a platform storage class the seed's default is used.
  auto plain = componentObjects(testdata::cluster(), testdata::etcdSpec(), ProviderOptions{});
  ASSERT_TRUE(plain.isOk());
  EXPECT_FALSE(
      plain->back()["spec"]["volumeClaimTemplates"][0]["spec"].contains("storageClassName"));
}

// One pod template serves every member: it carries the bootstrap settings of the member that
// joins now (it lists the most members), which the members with data ignore.
TEST(ObjectsTest, TheEtcdTemplateCarriesTheJoiningMembersBootstrapSettings) {
  render::ComponentSpec etcd = testdata::etcdSpec();
  auto settings = [](std::string initial) {
    return std::map<std::string, std::string>{{"ETCD_INITIAL_CLUSTER", std::move(initial)},
                                              {"ETCD_INITIAL_CLUSTER_STATE", "existing"}};
  };
  etcd.bootstrap_env = {{"etcd-0", settings("etcd-0=https://a:2380")},
                        {"etcd-1", settings("etcd-0=https://a:2380,etcd-1=https://b:2380")},
                        {"etcd-2", settings("etcd-2=https://c:2380")}};
  auto envOf = [](const std::vector<json>& objects) {
    std::map<std::string, std::string> out;
    const json* sts = find(objects, "StatefulSet", "etcd");
    EXPECT_NE(sts, nullptr);
    if (sts == nullptr) return out;
    for (const auto& e : (*sts)["spec"]["template"]["spec"]["containers"][0]["env"]) {
      if (e.contains("value")) out[e["name"]] = e["value"];
    }
    return out;
  };
  auto env = envOf(objectsOf(etcd));
  EXPECT_EQ(env["ETCD_INITIAL_CLUSTER"], "etcd-0=https://a:2380,etcd-1=https://b:2380");
  EXPECT_EQ(env["ETCD_INITIAL_CLUSTER_STATE"], "existing");
  // Nobody joining: the highest member's.
  etcd.bootstrap_env["etcd-1"] = settings("etcd-1=https://b:2380");
  EXPECT_EQ(envOf(objectsOf(etcd))["ETCD_INITIAL_CLUSTER"], "etcd-2=https://c:2380");
}

TEST(ObjectsTest, EveryFileIsMountedAtItsPathWithItsMode) {
  for (const auto& spec : testdata::allSpecs()) {
    auto objects = objectsOf(spec);
    const json& pod = objects.back()["spec"]["template"]["spec"];
    const json* config = find(objects, "ConfigMap", configMapName(spec));
    for (const auto& file : spec.files) {
      const std::string dir = file.path.substr(0, file.path.rfind('/'));
      const std::string base = file.path.substr(file.path.rfind('/') + 1);
      std::string volume;
      for (const auto& m : pod["containers"][0]["volumeMounts"]) {
        if (m["mountPath"] == dir) volume = m["name"];
      }
      ASSERT_FALSE(volume.empty()) << spec.name << ": nothing mounted at " << dir;
      int found = 0;
      for (const auto& v : pod["volumes"]) {
        if (v["name"] != volume) continue;
        for (const auto& source : v["projected"]["sources"]) {
          for (const auto& [kind, ref] : source.items()) {
            for (const auto& item : ref["items"]) {
              if (item["path"] != base) continue;
              ++found;
              EXPECT_EQ(item["mode"], file.mode) << file.path;
              if (file.pki_file.empty()) {
                EXPECT_EQ(kind, "configMap");
                ASSERT_NE(config, nullptr);
                EXPECT_EQ((*config)["data"][item["key"].get<std::string>()], file.content);
              } else {
                const CredentialFile* where = findCredentialFile(file.pki_file);
                EXPECT_EQ(kind, "secret");
                EXPECT_EQ(ref["name"], where->secret) << file.path;
                EXPECT_EQ(item["key"], where->key) << file.path;
              }
            }
          }
        }
      }
      EXPECT_EQ(found, 1) << spec.name << ": " << file.path;
    }
  }
}

TEST(ObjectsTest, ARenderedFileChangeRollsThePods) {
  auto spec = testdata::apiServerSpec();
  auto before = objectsOf(spec).back()["spec"]["template"]["metadata"]["annotations"];
  for (auto& f : spec.files) {
    if (f.pki_file.empty()) f.content += "# changed\n";
  }
  auto after = objectsOf(spec).back()["spec"]["template"]["metadata"]["annotations"];
  EXPECT_NE(before[std::string(kFilesHashAnnotation)], after[std::string(kFilesHashAnnotation)]);
}

TEST(ObjectsTest, ApiServerIsADeploymentBehindItsService) {
  auto objects = objectsOf(testdata::apiServerSpec());
  const json* deployment = find(objects, "Deployment", "kube-apiserver");
  ASSERT_NE(deployment, nullptr);
  const json& spec = (*deployment)["spec"];
  EXPECT_EQ(spec["replicas"], 2);
  EXPECT_EQ(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
  EXPECT_EQ(spec["strategy"]["rollingUpdate"]["maxSurge"], 1);
  const json& container = spec["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["scheme"], "HTTPS");
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"], "/readyz");
  EXPECT_EQ(container["startupProbe"]["failureThreshold"], 24);
  EXPECT_EQ(container["resources"]["requests"]["cpu"], "250m");
  EXPECT_EQ(container["ports"][0]["containerPort"], 6443);
  const json* service = find(objects, "Service", "kube-apiserver");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ((*service)["spec"]["ports"][0]["port"], 6443);
  EXPECT_EQ((*service)["spec"]["selector"], spec["selector"]["matchLabels"]);
  const json* budget = find(objects, "PodDisruptionBudget", "kube-apiserver");
  ASSERT_NE(budget, nullptr);
  EXPECT_EQ((*budget)["spec"]["minAvailable"], 1);
  ASSERT_NE(find(objects, "ConfigMap", "kube-apiserver-files"), nullptr);

  auto single = testdata::apiServerSpec();
  single.replicas = 1;
  EXPECT_EQ(find(objectsOf(single), "PodDisruptionBudget", "kube-apiserver"), nullptr);
}

TEST(ObjectsTest, ControllerManagerAndSchedulerAreDeploymentsWithoutServices) {
  auto cm = objectsOf(testdata::controllerManagerSpec());
  ASSERT_EQ(cm.size(), 2u);  // budget (2 replicas), Deployment
  EXPECT_EQ(cm[0]["kind"], "PodDisruptionBudget");
  EXPECT_EQ(cm[1]["kind"], "Deployment");
  auto scheduler = objectsOf(testdata::schedulerSpec());
  ASSERT_EQ(scheduler.size(), 1u);
  EXPECT_EQ(scheduler[0]["kind"], "Deployment");
  EXPECT_EQ(scheduler[0]["metadata"]["labels"]["herd.io/component"], "kube-scheduler");
}

TEST(ObjectsTest, TheNamespaceAdmitsOnlyHerdAndTheTenant) {
  ProviderOptions o;
  o.system_namespace = "platform";
  o.gateway_pod_labels = {{"app", "gw"}};
  o.controller_pod_labels = {{"app", "ctl"}};
  auto objects = tenantObjects(testdata::cluster(), o);
  ASSERT_TRUE(objects.isOk());
  ASSERT_EQ(objects->size(), 2u);
  EXPECT_EQ((*objects)[0]["kind"], "Namespace");
  EXPECT_EQ((*objects)[0]["metadata"]["name"], "herd-alpha");
  const json& policy = (*objects)[1];
  EXPECT_EQ(policy["spec"]["podSelector"], json::object());
  EXPECT_EQ(policy["spec"]["policyTypes"], json::array({"Ingress"}));
  const json& from = policy["spec"]["ingress"][0]["from"];
  ASSERT_EQ(from.size(), 3u);
  EXPECT_EQ(from[0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "platform");
  EXPECT_EQ(from[0]["podSelector"]["matchLabels"], json({{"app", "gw"}}));
  EXPECT_EQ(from[1]["podSelector"]["matchLabels"], json({{"app", "ctl"}}));
  EXPECT_FALSE(from[2].contains("namespaceSelector"));
  EXPECT_EQ(from[2]["podSelector"]["matchLabels"], json({{"herd.io/cluster", "alpha"}}));
}

TEST(ObjectsTest, SpecsThatCannotRunHereAreRefused) {
  auto expectInvalid = [](render::ComponentSpec spec, const std::string& words) {
    auto r = componentObjects(testdata::cluster(), spec, options());
    ASSERT_FALSE(r.isOk()) << words;
    EXPECT_EQ(r.status().code(), Code::kInvalid);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  };
  auto s = testdata::schedulerSpec();
  s.files[0].pki_file = "pki/unknown.key";
  expectInvalid(s, "pki/unknown.key");
  s = testdata::schedulerSpec();
  s.files[0].path = "scheduler.conf";
  expectInvalid(s, "not an absolute file path");
  s = testdata::schedulerSpec();
  s.files[0].content = "also content";
  expectInvalid(s, "exactly one");
  s = testdata::schedulerSpec();
  s.volumes = {{"data", "/var/lib/x", "1Gi"}};
  expectInvalid(s, "no volumes");
  s = testdata::schedulerSpec();
  s.env["HERD_MEMBER"] = "x";
  expectInvalid(s, "HERD_MEMBER");
  auto e = testdata::etcdSpec();
  e.ports = {{"peer", 2380, ""}};
  expectInvalid(e, "client");
  auto a = testdata::apiServerSpec();
  a.files.push_back({"/other/egress-selector.yaml", "", "x", 0644});
  expectInvalid(a, "collide");
}

}  // namespace
}  // namespace herd::provider::kubernetes
