// deploy/ as a whole and deploy/controller: `kubectl kustomize deploy/` builds the CRD, the
// gateway and the controller with no object twice; the controller's ClusterRole grants what
// the controller manages (the resources of kube/herd_resources.h) and nothing beyond, without
// wildcards; its Lease is granted in herd-system only; two replicas run `herd controller
// --leader-elect --in-cluster` behind a PodDisruptionBudget; and `kubectl apply -k deploy/`
// installs everything into the test apiserver, validated strictly against its OpenAPI.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <tuple>

#include "common/process.h"
#include "common/yaml.h"
#include "kube/herd_resources.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"

namespace herd::gateway {
namespace {

using nlohmann::json;
using Grant = std::tuple<std::string, std::string, std::string>;  // group, resource, verb

std::string deployDir() {
  return herd::testing::sourceDir() + "/deploy";
}

std::vector<std::string> strings(const json& list) {
  std::vector<std::string> out;
  if (list.is_array()) {
    for (const auto& v : list) out.push_back(v.get<std::string>());
  }
  return out;
}

// Every (group, resource, verb) the rules of a Role or ClusterRole grant, spelled out.
std::set<Grant> grantsOf(const json& role) {
  std::set<Grant> out;
  for (const auto& rule : role["rules"]) {
    for (const auto& g : strings(rule["apiGroups"]))
      for (const auto& r : strings(rule["resources"]))
        for (const auto& v : strings(rule["verbs"])) out.emplace(g, r, v);
  }
  return out;
}

class DeployAllTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kubectl = findExecutable("kubectl");
    if (!kubectl.isOk()) GTEST_SKIP() << "kubectl is not installed";
    kubectl_ = *kubectl;
    auto built = run({kubectl_, "kustomize", deployDir()});
    ASSERT_EQ(built.exit_code, 0) << built.err;
    auto docs = parseDocuments(built.out);
    ASSERT_TRUE(docs.isOk()) << docs.status().toString();
    for (auto& d : *docs) {
      if (d.is_object()) objects_.push_back(std::move(d));
    }
  }

  CommandResult run(std::vector<std::string> args) {
    ProcessOptions options;
    options.env = {"HOME=" + home_.path(), "KUBECONFIG="};
    auto r = runCommand(args, {}, std::chrono::seconds(60), options);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r ? *r : CommandResult{};
  }

  const json& mustFind(const std::string& kind, const std::string& name) {
    for (const auto& o : objects_) {
      if (o.value("kind", "") == kind && o["metadata"].value("name", "") == name) return o;
    }
    ADD_FAILURE() << "deploy/ builds no " << kind << " " << name;
    static const json kNone = json::object();
    return kNone;
  }

  std::string kubectl_;
  herd::testing::TempDir home_;
  std::vector<json> objects_;
};

TEST_F(DeployAllTest, KustomizeBuildsTheCrdTheGatewayAndTheController) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& o : objects_) {
    std::string kind = o.value("kind", "");
    std::string name = o["metadata"].value("name", "");
    EXPECT_TRUE(seen.emplace(kind, name).second) << kind << " " << name << " twice";
  }
  for (auto [kind, name] : std::initializer_list<std::pair<const char*, const char*>>{
           {"CustomResourceDefinition", "clusters.herd.io"},
           {"Namespace", "herd-system"},
           {"Deployment", "herd-gateway"},
           {"ServiceAccount", "herd-controller"},
           {"ClusterRole", "herd-controller"},
           {"ClusterRoleBinding", "herd-controller"},
           {"Role", "herd-controller-leader-election"},
           {"RoleBinding", "herd-controller-leader-election"},
           {"Deployment", "herd-controller"},
           {"PodDisruptionBudget", "herd-controller"}}) {
    EXPECT_TRUE(seen.count({kind, name})) << "missing " << kind << " " << name;
  }
  // herd's namespaced objects all live in herd-system.
  for (const auto& o : objects_) {
    std::string kind = o.value("kind", "");
    if (kind == "Namespace" || kind.starts_with("Cluster") || kind == "CustomResourceDefinition")
      continue;
    EXPECT_EQ(o["metadata"].value("namespace", ""), "herd-system")
        << kind << " " << o["metadata"].value("name", "");
  }
}

TEST_F(DeployAllTest, ControllerRoleGrantsWhatTheControllerManagesAndNothingMore) {
  std::set<Grant> wanted;
  const std::vector<std::string> manage = {"get",    "list",  "watch", "create",
                                           "update", "patch", "delete"};
  for (const auto& r :
       {kube::namespacesResource(), kube::secretsResource(), kube::configMapsResource(),
        kube::servicesResource(), kube::statefulSetsResource(), kube::deploymentsResource(),
        kube::podDisruptionBudgetsResource(), kube::networkPoliciesResource()}) {
    for (const auto& v : manage) wanted.emplace(r.group, r.resource, v);
  }
  kube::ResourceRef clusters = kube::clustersResource();
  // Clusters are the users': read, and changed only for finalizers and status, never deleted.
  for (const char* v : {"get", "list", "watch", "update", "patch"})
    wanted.emplace(clusters.group, clusters.resource, v);
  for (const char* v : {"get", "update", "patch"})
    wanted.emplace(clusters.group, clusters.resource + "/status", v);
  wanted.emplace(clusters.group, clusters.resource + "/finalizers", "update");
  for (const std::string& group : {kube::eventsResource().group, std::string()}) {
    for (const char* v : {"create", "patch", "update"}) wanted.emplace(group, "events", v);
  }

  std::set<Grant> granted = grantsOf(mustFind("ClusterRole", "herd-controller"));
  for (const auto& g : wanted) {
    EXPECT_TRUE(granted.count(g)) << "not granted: " << std::get<2>(g) << " " << std::get<1>(g)
                                  << "." << std::get<0>(g);
  }
  for (const auto& g : granted) {
    EXPECT_TRUE(wanted.count(g)) << "granted beyond need: " << std::get<2>(g) << " "
                                 << std::get<1>(g) << "." << std::get<0>(g);
    EXPECT_NE(std::get<0>(g), "*");
    EXPECT_NE(std::get<1>(g), "*");
    EXPECT_NE(std::get<2>(g), "*");
  }

  // The Lease: only in herd-system, never cluster-wide.
  kube::ResourceRef leases = kube::leasesResource();
  EXPECT_FALSE(granted.count({leases.group, leases.resource, "update"}));
  const json& role = mustFind("Role", "herd-controller-leader-election");
  EXPECT_EQ(role["metadata"].value("namespace", ""), "herd-system");
  std::set<Grant> lease_grants = grantsOf(role);
  for (const char* v : {"get", "create", "update"})
    EXPECT_TRUE(lease_grants.count({leases.group, leases.resource, v})) << v;
  for (const auto& g : lease_grants) EXPECT_EQ(std::get<1>(g), leases.resource);

  // Both bindings name the controller's ServiceAccount.
  for (const auto& [kind, name] : {std::pair{"ClusterRoleBinding", "herd-controller"},
                                   std::pair{"RoleBinding", "herd-controller-leader-election"}}) {
    const json& binding = mustFind(kind, name);
    ASSERT_TRUE(binding.contains("subjects")) << kind;
    EXPECT_EQ(binding["subjects"][0].value("name", ""), "herd-controller");
    EXPECT_EQ(binding["subjects"][0].value("namespace", ""), "herd-system");
    EXPECT_EQ(binding["roleRef"].value("name", ""), name);  // each binds its namesake
  }
}

TEST_F(DeployAllTest, TwoControllerReplicasLeaderElectedBehindABudget) {
  const json& deployment = mustFind("Deployment", "herd-controller");
  ASSERT_TRUE(deployment.contains("spec"));
  EXPECT_EQ(deployment["spec"]["replicas"], 2);
  const json& pod = deployment["spec"]["template"];
  EXPECT_EQ(pod["spec"].value("serviceAccountName", ""), "herd-controller");
  ASSERT_EQ(pod["spec"]["containers"].size(), 1u);
  const json& container = pod["spec"]["containers"][0];
  EXPECT_EQ(strings(container["command"]), std::vector<std::string>{"herd"});
  auto args = strings(container["args"]);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "controller");
  for (const char* flag : {"--leader-elect", "--in-cluster"}) {
    EXPECT_NE(std::find(args.begin(), args.end(), flag), args.end()) << flag;
  }
  EXPECT_EQ(container.value("image", ""), "herd:latest");
  EXPECT_EQ(pod["spec"]["securityContext"].value("runAsNonRoot", false), true);

  // The budget keeps one replica through a drain, and selects exactly these pods.
  const json& budget = mustFind("PodDisruptionBudget", "herd-controller");
  EXPECT_EQ(budget["spec"]["minAvailable"], 1);
  const json& selector = budget["spec"]["selector"]["matchLabels"];
  ASSERT_TRUE(selector.is_object() && !selector.empty());
  for (const auto& [key, value] : selector.items()) {
    EXPECT_EQ(pod["metadata"]["labels"].value(key, ""), value.get<std::string>()) << key;
  }
  EXPECT_EQ(deployment["spec"]["selector"]["matchLabels"], selector);
}

TEST_F(DeployAllTest, KubectlApplyInstallsEverything) {
  if (herd::testing::sharedDir().empty()) GTEST_SKIP() << "../shared/kubernetes is not there";
  auto server = herd::testing::TestApiServer::start();
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  std::cout << "seed: " << (*server)->describe() << "\n";
  std::string kc = (*server)->kubeconfigPath();
  auto applied = run({kubectl_, "--kubeconfig", kc, "apply", "--server-side", "--validate=strict",
                      "-k", deployDir()});
  ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  for (const char* object :
       {"deployment.apps/herd-controller", "deployment.apps/herd-gateway",
        "serviceaccount/herd-controller", "poddisruptionbudget.policy/herd-controller",
        "role.rbac.authorization.k8s.io/herd-controller-leader-election"}) {
    auto got =
        run({kubectl_, "--kubeconfig", kc, "get", "-n", "herd-system", object, "-o", "name"});
    EXPECT_EQ(got.exit_code, 0) << object << ": " << got.err;
  }
  for (const char* object : {"clusterrole.rbac.authorization.k8s.io/herd-controller",
                             "customresourcedefinition.apiextensions.k8s.io/clusters.herd.io"}) {
    auto got = run({kubectl_, "--kubeconfig", kc, "get", object, "-o", "name"});
    EXPECT_EQ(got.exit_code, 0) << object << ": " << got.err;
  }
  // Applying again changes nothing and fails nothing.
  auto again = run({kubectl_, "--kubeconfig", kc, "apply", "--server-side", "--validate=strict",
                    "-k", deployDir()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

}  // namespace
}  // namespace herd::gateway
