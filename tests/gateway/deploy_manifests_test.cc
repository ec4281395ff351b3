// deploy/gateway: the gateway's identity in the seed and its workload. Every file is parsed
// with herd's YAML codec and checked against what the code does: the ClusterRole grants
// exactly the requests of the seed route source (kSeedApiAccess), so a new resource in the
// code fails here until the manifest grants it; the Deployment runs flags that herd accepts,
// with the ConfigMap's file, on the ports that file listens on, probed on the admin listener;
// every object passes herd's schema validator (api/schema.h) against the recorded Kubernetes
// OpenAPI documents; and kubectl applies the kustomization to the test apiserver (with a real
// kube-apiserver, RBAC is then asked; the fake does not evaluate it, and that test is skipped).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "common/files.h"
#include "common/yaml.h"
#include "gateway/config.h"
#include "gateway/seed_route_source.h"
#include "support/openapi/openapi_schemas.h"
#include "support/test_apiserver.h"
#include "support/test_env.h"

namespace herd::gateway {
namespace {

using nlohmann::json;
using Grant = std::tuple<std::string, std::string, std::string>;  // group, resource, verb

std::string deployDir() {
  return herd::testing::sourceDir() + "/deploy/gateway";
}

struct Manifest {
  std::string file;
  json object;
};

std::vector<Manifest> loadManifests() {
  std::vector<Manifest> out;
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(deployDir())) {
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    auto documents = parseDocuments(herd::testing::readFileOrDie(path));
    EXPECT_TRUE(documents.isOk()) << path << ": " << documents.status().toString();
    if (!documents) continue;
    for (auto& d : *documents) {
      if (!d.is_null()) {
        out.push_back({std::filesystem::path(path).filename().string(), std::move(d)});
      }
    }
  }
  return out;
}

const json* find(const std::vector<Manifest>& manifests, const std::string& kind,
                 const std::string& name) {
  for (const auto& m : manifests) {
    if (m.object.value("kind", "") == kind && m.object["metadata"].value("name", "") == name) {
      return &m.object;
    }
  }
  return nullptr;
}

std::vector<std::string> strings(const json& list) {
  std::vector<std::string> out;
  if (list.is_array()) {
    for (const auto& v : list) out.push_back(v.get<std::string>());
  }
  return out;
}

// Every (group, resource, verb) a ClusterRole grants, with "*" as RBAC reads it.
bool grants(const json& role, const Grant& wanted) {
  auto has = [](const json& list, const std::string& value) {
    auto v = strings(list);
    return std::find(v.begin(), v.end(), value) != v.end() ||
           std::find(v.begin(), v.end(), "*") != v.end();
  };
  for (const auto& rule : role["rules"]) {
    if (rule.contains("resourceNames")) continue;  // a list or watch cannot name objects
    if (has(rule["apiGroups"], std::get<0>(wanted)) &&
        has(rule["resources"], std::get<1>(wanted)) && has(rule["verbs"], std::get<2>(wanted))) {
      return true;
    }
  }
  return false;
}

std::set<Grant> codeRequests() {
  std::set<Grant> out;
  for (const auto& access : kSeedApiAccess) {
    for (auto verb : access.verbs) {
      out.emplace(std::string(access.group), std::string(access.resource), std::string(verb));
    }
  }
  return out;
}

class GatewayDeployTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifests_ = loadManifests();
    ASSERT_FALSE(manifests_.empty()) << "nothing in " << deployDir();
  }

  const json& mustFind(const std::string& kind, const std::string& name) {
    const json* object = find(manifests_, kind, name);
    if (!object) ADD_FAILURE() << "deploy/gateway has no " << kind << " " << name;
    static const json kNone = json::object();
    return object ? *object : kNone;
  }

  std::vector<Manifest> manifests_;
};

TEST_F(GatewayDeployTest, ClusterRoleGrantsExactlyWhatTheSeedRouteSourceRequests) {
  const json& role = mustFind("ClusterRole", "herd-gateway");
  ASSERT_TRUE(role.contains("rules"));
  std::set<Grant> requested = codeRequests();
  ASSERT_FALSE(requested.empty());
  for (const auto& grant : requested) {
    EXPECT_TRUE(grants(role, grant))
        << "the seed route source requests " << std::get<2>(grant) << " on " << std::get<1>(grant)
        << "." << std::get<0>(grant) << " but deploy/gateway/rbac.yaml does not grant it";
  }
  // Least privilege: nothing beyond what the code asks for, and no wildcards.
  for (const auto& rule : role["rules"]) {
    for (const auto& group : strings(rule["apiGroups"])) {
      for (const auto& resource : strings(rule["resources"])) {
        for (const auto& verb : strings(rule["verbs"])) {
          EXPECT_TRUE(requested.count({group, resource, verb}))
              << "rbac.yaml grants " << verb << " on " << resource << "." << group
              << ", which the gateway never requests";
        }
      }
    }
  }
  // The Cluster group is the CRD's: herd.io, not a look-alike.
  EXPECT_TRUE(grants(role, {"herd.io", "clusters", "watch"}));
}

TEST_F(GatewayDeployTest, BindingServiceAccountAndDeploymentName) {
  const json& account = mustFind("ServiceAccount", "herd-gateway");
  EXPECT_EQ(account["metadata"].value("namespace", ""), "herd-system");
  ASSERT_NE(find(manifests_, "Namespace", "herd-system"), nullptr);
  const json& binding = mustFind("ClusterRoleBinding", "herd-gateway");
  EXPECT_EQ(binding["roleRef"], json({{"apiGroup", "rbac.authorization.k8s.io"},
                                      {"kind", "ClusterRole"},
                                      {"name", "herd-gateway"}}));
  EXPECT_EQ(binding["subjects"], json::parse(R"([{"kind": "ServiceAccount",
      "name": "herd-gateway", "namespace": "herd-system"}])"));
  const json& deployment = mustFind("Deployment", "herd-gateway");
  EXPECT_EQ(deployment["metadata"].value("namespace", ""), "herd-system");
  EXPECT_EQ(deployment["spec"]["template"]["spec"].value("serviceAccountName", ""), "herd-gateway");
}

// The Deployment's command line is one herd accepts, its --config is the mounted ConfigMap
// file, the container ports are the listeners of that file, the probes ask the admin
// listener, and the Services reach the TLS and HTTP listeners of the same pods.
TEST_F(GatewayDeployTest, DeploymentRunsTheConfigMapsFileOnItsPorts) {
  const json& deployment = mustFind("Deployment", "herd-gateway");
  const json& pod = deployment["spec"]["template"];
  ASSERT_EQ(pod["spec"]["containers"].size(), 1u);
  const json& container = pod["spec"]["containers"][0];
  std::vector<std::string> args = strings(container["args"]);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "gateway");
  EXPECT_TRUE(std::find(args.begin(), args.end(), "--in-cluster") != args.end())
      << "the gateway must follow the seed with its ServiceAccount";
  auto config_flag = std::find(args.begin(), args.end(), "--config");
  ASSERT_NE(config_flag, args.end());
  ASSERT_NE(config_flag + 1, args.end());
  std::string config_path = *(config_flag + 1);

  // The file behind --config: a key of the ConfigMap mounted at its directory.
  std::string file_text;
  for (const auto& mount : container["volumeMounts"]) {
    std::string dir = mount.value("mountPath", "");
    if (!config_path.starts_with(dir + "/")) continue;
    for (const auto& volume : pod["spec"]["volumes"]) {
      if (volume.value("name", "") != mount.value("name", "") || !volume.contains("configMap")) {
        continue;
      }
      const json& map = mustFind("ConfigMap", volume["configMap"].value("name", ""));
      std::string key = config_path.substr(dir.size() + 1);
      ASSERT_TRUE(map["data"].contains(key)) << "the ConfigMap has no " << key;
      file_text = map["data"][key].get<std::string>();
    }
  }
  ASSERT_FALSE(file_text.empty()) << config_path << " is not a mounted ConfigMap file";
  auto config = parseGatewayConfig(file_text);
  ASSERT_TRUE(config.isOk()) << config.status().toString();

  // herd itself accepts the command line, with the file in place of the mount.
  herd::testing::TempDir dir;
  std::vector<std::string> check = args;
  check[static_cast<size_t>(config_flag - args.begin()) + 1] = dir.write("gateway.yaml", file_text);
  check.push_back("--check");
  auto checked = herd::testing::runHerd(check);
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_EQ(strings(container["command"]), std::vector<std::string>{"herd"});

  // Container ports by name: the listeners of the file.
  std::map<std::string, int64_t> ports;
  for (const auto& p : container["ports"]) ports[p.value("name", "")] = p.value("containerPort", 0);
  auto portOf = [](const std::string& listen) {
    auto address = parseBackendAddress(listen);
    EXPECT_TRUE(address.isOk()) << listen;
    return address ? static_cast<int64_t>(address->port) : -1;
  };
  EXPECT_EQ(ports["tls"], portOf(config->tls_listen));
  EXPECT_EQ(ports["http"], portOf(config->http_listen));
  EXPECT_EQ(ports["admin"], portOf(config->admin_listen));
  // Probes come from the kubelet, on the pod's address: the admin listener must not be
  // loopback-only.
  EXPECT_FALSE(config->admin_listen.starts_with("127.")) << config->admin_listen;
  for (auto [probe, path] :
       {std::pair{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}}) {
    const json& get = container[probe]["httpGet"];
    EXPECT_EQ(get.value("path", ""), path) << probe;
    const json& port = get["port"];
    EXPECT_EQ(port.is_string() ? ports[port.get<std::string>()] : port.get<int64_t>(),
              ports["admin"])
        << probe;
  }
  // The drain must fit in the grace period the kubelet gives after SIGTERM.
  int64_t grace = pod["spec"].value("terminationGracePeriodSeconds", 30);
  EXPECT_GT(grace * 1000, config->timeouts.drain.count());

  // Services select these pods and reach named container ports.
  const json& labels = pod["metadata"]["labels"];
  for (const auto& [key, value] : deployment["spec"]["selector"]["matchLabels"].items()) {
    EXPECT_EQ(labels.value(key, ""), value) << "the Deployment's selector misses its pods";
  }
  for (const char* name : {"herd-gateway", "herd-gateway-admin"}) {
    const json& service = mustFind("Service", name);
    for (const auto& [key, value] : service["spec"]["selector"].items()) {
      EXPECT_EQ(labels.value(key, ""), value) << name << " selects other pods";
    }
    for (const auto& p : service["spec"]["ports"]) {
      std::string target = p.value("targetPort", "");
      EXPECT_TRUE(ports.count(target)) << name << ": targetPort " << target;
    }
  }
}

TEST_F(GatewayDeployTest, KustomizationListsEveryFile) {
  auto text = files::read(deployDir() + "/kustomization.yaml");
  ASSERT_TRUE(text.isOk());
  auto documents = parseDocuments(*text);
  ASSERT_TRUE(documents.isOk() && documents->size() == 1);
  std::set<std::string> listed;
  for (const auto& r : strings((*documents)[0]["resources"])) listed.insert(r);
  std::set<std::string> present;
  for (const auto& m : manifests_) {
    if (m.file != "kustomization.yaml") present.insert(m.file);
  }
  EXPECT_EQ(listed, present);
}

TEST_F(GatewayDeployTest, EveryObjectMatchesTheKubernetesOpenApiSchema) {
  if (herd::testing::sharedDir().empty()) GTEST_SKIP() << "../shared is not beside the repository";
  herd::testing::OpenApiSchemas schemas;
  auto schemaOf = [&](const std::string& api_version, const std::string& kind) {
    return schemas.schemaFor(api_version, kind);
  };
  for (const auto& m : manifests_) {
    if (m.file == "kustomization.yaml") continue;
    std::string api_version = m.object.value("apiVersion", "");
    std::string kind = m.object.value("kind", "");
    auto schema = schemaOf(api_version, kind);
    ASSERT_TRUE(schema.has_value()) << m.file << ": no schema for " << api_version << " " << kind;
    std::string listed;
    for (const auto& e : herd::testing::schemaErrors(m.object, *schema)) listed += e + "\n";
    EXPECT_TRUE(listed.empty()) << m.file << " " << kind << ":\n" << listed;
  }
  // The check itself finds a misspelt field and a wrong type.
  json broken = mustFind("Deployment", "herd-gateway");
  json& container = broken["spec"]["template"]["spec"]["containers"][0];
  container["readinesProbe"] = json::object();
  container["ports"][0]["containerPort"] = "8443";
  auto errors = herd::testing::schemaErrors(broken, *schemaOf("apps/v1", "Deployment"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("readinesProbe"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("containerPort"), std::string::npos) << errors[1];
}

// kubectl against the test apiserver (the seed), with a private HOME and no ambient
// kubeconfig.
class GatewaySeedTest : public GatewayDeployTest {
 protected:
  void SetUp() override {
    GatewayDeployTest::SetUp();
    if (HasFatalFailure()) return;
    auto kubectl = findExecutable("kubectl");
    if (!kubectl.isOk()) GTEST_SKIP() << "kubectl is not installed";
    kubectl_ = *kubectl;
    auto server = herd::testing::TestApiServer::start();
    ASSERT_TRUE(server.isOk()) << server.status().toString();
    server_ = std::move(*server);
    std::cout << "seed: " << server_->describe() << "\n";
  }

  CommandResult kubectl(std::vector<std::string> args) {
    args.insert(args.begin(), {kubectl_, "--kubeconfig", server_->kubeconfigPath()});
    ProcessOptions options;
    options.env = {"HOME=" + home_.path(), "KUBECONFIG="};
    auto r = runCommand(args, {}, std::chrono::seconds(60), options);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    return r ? *r : CommandResult{};
  }

  // kubectl apply validates against the server's OpenAPI, which the fake serves from
  // ../shared/kubernetes.
  void applyKustomization() {
    if (server_->isFake() && herd::testing::sharedDir().empty()) {
      GTEST_SKIP() << "../shared/kubernetes is not there";
    }
    auto applied = kubectl({"apply", "--server-side", "--validate=strict", "-k", deployDir()});
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
  }

  std::string kubectl_;
  herd::testing::TempDir home_;
  std::unique_ptr<herd::testing::TestApiServer> server_;
};

TEST_F(GatewaySeedTest, KubectlAppliesTheKustomizationToTheSeed) {
  applyKustomization();
  if (IsSkipped() || HasFatalFailure()) return;
  for (const char* object :
       {"serviceaccount/herd-gateway", "deployment.apps/herd-gateway", "service/herd-gateway",
        "configmap/herd-gateway", "poddisruptionbudget.policy/herd-gateway"}) {
    auto got = kubectl({"get", "-n", "herd-system", object, "-o", "name"});
    EXPECT_EQ(got.exit_code, 0) << object << ": " << got.err;
  }
  for (const char* object : {"clusterrole.rbac.authorization.k8s.io/herd-gateway",
                             "clusterrolebinding.rbac.authorization.k8s.io/herd-gateway"}) {
    auto got = kubectl({"get", object, "-o", "name"});
    EXPECT_EQ(got.exit_code, 0) << object << ": " << got.err;
  }
}

// Once applied, the seed itself answers, for the gateway's ServiceAccount, every request of
// the seed route source with yes and a read of Secrets with no. Only a real kube-apiserver
// evaluates a ClusterRole's rules (the fake honours bindings to cluster-admin alone); against
// the fake, ClusterRoleGrantsExactlyWhatTheSeedRouteSourceRequests
// checks the same grants in the manifest.
TEST_F(GatewaySeedTest, SeedAuthorizesTheGatewayAccountForItsRequestsOnly) {
  if (server_->isFake()) {
    GTEST_SKIP() << "the fake apiserver honours only bindings to cluster-admin, not the rules "
                    "of other ClusterRoles; set HERD_KUBE_BIN to ask a real kube-apiserver";
  }
  applyKustomization();
  if (IsSkipped() || HasFatalFailure()) return;
  const std::string as = "--as=system:serviceaccount:herd-system:herd-gateway";
  for (const auto& [group, resource, verb] : codeRequests()) {
    auto can = kubectl({"auth", "can-i", as, verb, resource + "." + group, "--all-namespaces"});
    EXPECT_EQ(can.out, "yes\n") << verb << " " << resource << "." << group << can.err;
  }
  auto secrets = kubectl({"auth", "can-i", as, "get", "secrets", "--all-namespaces"});
  EXPECT_EQ(secrets.out, "no\n") << secrets.err;
}

}  // namespace
}  // namespace herd::gateway
