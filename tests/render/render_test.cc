// The renderer's promises, checked over every supported Kubernetes minor: each argument is a
// flag of its binary at that minor, once; the output is byte-identical across runs and equal
// to the golden files; PKI files reach components only per the mount table, CA keys only
// their signer; the egress selector configuration has the shape kube-apiserver reads.
//
// Golden files: tests/render/golden/{default,maximal}.json. After an intended change,
// regenerate them with
//   HERD_UPDATE_GOLDEN=1 build/tests/render/herd_render_tests --gtest_filter='*Golden*'
// and review the diff.
#include "render/render.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "api/defaults.h"
#include "api/validation.h"
#include "api/versions.h"
#include "common/yaml.h"
#include "pki/cert_table.h"
#include "pki/tenant_pki.h"
#include "render/mounts.h"
#include "support/test_env.h"

namespace herd::render {
namespace {

constexpr std::string_view kTunnelCa =
    "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n";

Platform testPlatform() {
  Platform p;
  p.gateway_address = "192.0.2.10";
  p.tunnel_connect_address = "gateway.herd-system.svc:8131";
  p.tunnel_ca_bundle = std::string(kTunnelCa);
  return p;
}

api::Cluster defaultCluster(std::string version = "") {
  api::Cluster c;
  c.metadata.name = "demo";
  if (!version.empty()) c.spec.version = version;
  api::applyDefaults(c);
  return c;
}

// Every field of the spec set to something other than its default.
api::Cluster maximalCluster() {
  api::Cluster c;
  c.metadata.name = "maximal";
  auto& s = c.spec;
  s.version = "1.33.2";
  s.controlPlane.etcd.replicas = 5;
  s.controlPlane.etcd.storageSize = api::Quantity{"20Gi"};
  s.controlPlane.etcd.resources.requests = {{"cpu", {"500m"}}, {"memory", {"1Gi"}}};
  s.controlPlane.etcd.resources.limits = {{"memory", {"2Gi"}}};
  s.controlPlane.etcd.extraArgs = {{"heartbeat-interval", "250"}, {"election-timeout", "2500"}};
  s.controlPlane.apiServer.replicas = 3;
  s.controlPlane.apiServer.resources.requests = {{"cpu", {"1"}}, {"memory", {"2Gi"}}};
  s.controlPlane.apiServer.resources.limits = {{"cpu", {"2"}}, {"memory", {"4Gi"}}};
  s.controlPlane.apiServer.extraArgs = {{"audit-log-path", "/var/log/kubernetes/audit.log"},
                                        {"v", "2"}};
  s.controlPlane.controllerManager.replicas = 3;
  s.controlPlane.controllerManager.resources.requests = {{"cpu", {"200m"}}};
  s.controlPlane.controllerManager.extraArgs = {{"node-monitor-grace-period", "50s"}};
  s.controlPlane.scheduler.replicas = 3;
  s.controlPlane.scheduler.resources.requests = {{"cpu", {"100m"}}};
  s.controlPlane.scheduler.extraArgs = {{"v", "3"}};
  s.network.serviceCIDR = "10.112.0.0/16";
  s.network.podCIDR = "10.128.0.0/14";
  s.network.dnsDomain = "tenant.example";
  s.network.dnsServiceIP = "10.112.0.53";
  s.expose.hostname = "api.maximal.example.com";
  s.addons.kubeProxy.enabled = false;
  s.addons.coreDNS.enabled = true;
  s.addons.metricsServer.enabled = true;
  s.addons.dashboard.enabled = true;
  s.paused = false;
  api::applyDefaults(c);
  return c;
}

Platform maximalPlatform() {
  Platform p = testPlatform();
  p.base_domain = "example.com";
  p.image_registry = "mirror.example.com/k8s";
  p.storage_class = "fast";
  return p;
}

std::vector<ComponentSpec> renderOrDie(const api::Cluster& c, const Platform& p) {
  auto r = renderControlPlane(c, p);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return r.isOk() ? *r : std::vector<ComponentSpec>{};
}

api::Binary binaryOf(Component c) {
  switch (c) {
    case Component::kEtcd:
      return api::Binary::kEtcd;
    case Component::kApiServer:
      return api::Binary::kKubeApiserver;
    case Component::kControllerManager:
      return api::Binary::kKubeControllerManager;
    case Component::kScheduler:
      return api::Binary::kKubeScheduler;
  }
  return api::Binary::kEtcd;
}

// "--flag=value" -> {flag, value}; empty flag when the argument is not of that form.
std::pair<std::string, std::string> splitArg(const std::string& arg) {
  if (!arg.starts_with("--")) return {};
  auto eq = arg.find('=');
  if (eq == std::string::npos) return {};
  return {arg.substr(2, eq - 2), arg.substr(eq + 1)};
}

std::map<std::string, std::string> flagsOf(const ComponentSpec& spec) {
  std::map<std::string, std::string> out;
  for (const auto& a : spec.args) out.insert(splitArg(a));
  return out;
}

const ComponentSpec& find(const std::vector<ComponentSpec>& specs, Component c) {
  for (const auto& s : specs) {
    if (s.component == c) return s;
  }
  ADD_FAILURE() << "no " << componentName(c);
  static ComponentSpec none;
  return none;
}

TEST(RenderTest, ComponentsComeInDependencyOrder) {
  auto specs = renderOrDie(defaultCluster(), testPlatform());
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].component, Component::kEtcd);
  EXPECT_EQ(specs[1].component, Component::kApiServer);
  EXPECT_EQ(specs[2].component, Component::kControllerManager);
  EXPECT_EQ(specs[3].component, Component::kScheduler);
  for (const auto& s : specs) EXPECT_EQ(s.binary, api::binaryName(binaryOf(s.component)));
}

TEST(RenderTest, EveryArgumentIsAFlagOfItsBinaryAtEveryMinorAndAppearsOnce) {
  for (const auto& release : api::supportedReleases()) {
    std::string minor(release.minor);
    api::Cluster maximal = maximalCluster();
    maximal.spec.version = minor;
    for (const api::Cluster& cluster : {defaultCluster(minor), maximal}) {
      for (const auto& spec : renderOrDie(cluster, testPlatform())) {
        api::Binary b = binaryOf(spec.component);
        std::set<std::string> seen;
        for (const auto& arg : spec.args) {
          auto [flag, value] = splitArg(arg);
          ASSERT_FALSE(flag.empty()) << minor << " " << spec.name << ": " << arg;
          EXPECT_TRUE(api::isKnownFlag(b, flag, minor))
              << spec.binary << " " << minor << " has no --" << flag;
          EXPECT_EQ(api::flagRemovedIn(b, flag, minor), "")
              << spec.binary << " dropped --" << flag << " by " << minor;
          EXPECT_TRUE(seen.insert(flag).second) << spec.binary << ": --" << flag << " twice";
        }
        std::vector<std::string> names;
        for (const auto& arg : spec.args) names.push_back(splitArg(arg).first);
        EXPECT_TRUE(std::is_sorted(names.begin(), names.end())) << spec.name << " by flag";
      }
    }
  }
}

TEST(RenderTest, RenderingTwiceIsByteIdentical) {
  for (const api::Cluster& c : {defaultCluster(), maximalCluster()}) {
    auto a = renderOrDie(c, testPlatform());
    api::Cluster copy = c;
    auto b = renderOrDie(copy, testPlatform());
    EXPECT_EQ(a, b);
    EXPECT_EQ(toJson(a), toJson(b));
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(toJson(a[i]), toJson(b[i]));
  }
}

void expectGolden(const std::string& name, const std::string& actual) {
  std::string path = testing::sourceDir() + "/tests/render/golden/" + name;
  if (const char* update = std::getenv("HERD_UPDATE_GOLDEN"); update && *update) {
    std::ofstream(path, std::ios::binary) << actual;
    GTEST_SKIP() << "wrote " << path;
  }
  EXPECT_EQ(actual, testing::readFileOrDie(path))
      << "rendering changed; if intended, HERD_UPDATE_GOLDEN=1 regenerates " << path;
}

TEST(RenderTest, GoldenDefault) {
  expectGolden("default.json", toJson(renderOrDie(defaultCluster(), testPlatform())));
}

TEST(RenderTest, GoldenMaximal) {
  api::Cluster c = maximalCluster();
  ASSERT_TRUE(api::validateCluster(c).empty())
      << api::validateCluster(c).toStatus("Cluster", "maximal").toString();
  expectGolden("maximal.json", toJson(renderOrDie(c, maximalPlatform())));
}

TEST(RenderTest, MountTableGivesCaKeysOnlyToTheirSigner) {
  auto paths = pki::layout::allPaths();
  std::set<std::string> layout(paths.begin(), paths.end());
  for (const PkiMount& m : pkiMountTable()) {
    EXPECT_TRUE(layout.count(std::string(m.pki_file))) << m.pki_file << " is no PKI file";
  }
  for (const auto& entry : pki::certificateTable()) {
    if (!entry.isCa()) continue;
    std::string key = pki::layout::keyPath(entry);
    for (Component c : {Component::kEtcd, Component::kApiServer, Component::kControllerManager,
                        Component::kScheduler}) {
      bool allowed = entry.name == "ca" && c == Component::kControllerManager;
      EXPECT_EQ(isMounted(c, key), allowed) << key << " in " << componentName(c);
    }
  }
}

TEST(RenderTest, RenderedFilesFollowTheMountTable) {
  std::set<std::string> ca_keys;
  for (const auto& entry : pki::certificateTable()) {
    if (entry.isCa()) ca_keys.insert(pki::layout::keyPath(entry));
  }
  for (const api::Cluster& c : {defaultCluster(), maximalCluster()}) {
    for (const auto& spec : renderOrDie(c, testPlatform())) {
      std::set<std::string> paths;
      for (const auto& f : spec.files) {
        EXPECT_TRUE(f.pki_file.empty() != f.content.empty()) << f.path;
        EXPECT_TRUE(paths.insert(f.path).second) << f.path << " twice";
        if (f.pki_file.empty()) continue;
        EXPECT_TRUE(isMounted(spec.component, f.pki_file)) << spec.name << ": " << f.pki_file;
        EXPECT_EQ(f.path, mountPath(f.pki_file));
        if (ca_keys.count(f.pki_file)) {
          EXPECT_EQ(spec.component, Component::kControllerManager) << f.pki_file;
          EXPECT_EQ(f.pki_file, "pki/ca.key");
        }
        if (f.pki_file.ends_with(".key")) {
          EXPECT_EQ(f.mode, 0600u) << f.path;
        }
      }
      EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
      // Every file an argument names is one the component receives.
      for (const auto& [flag, value] : flagsOf(spec)) {
        if (value.starts_with(std::string(kKubernetesDir) + "/")) {
          EXPECT_TRUE(paths.count(value)) << spec.name << " --" << flag << "=" << value;
        }
      }
    }
  }
}

TEST(RenderTest, EtcdMembersFindEachOtherByTheirServiceNames) {
  auto specs = renderOrDie(maximalCluster(), testPlatform());
  const auto& etcd = find(specs, Component::kEtcd);
  auto flags = flagsOf(etcd);
  EXPECT_EQ(etcd.replicas, 5);
  EXPECT_EQ(flags["name"], "$(HERD_MEMBER)");
  EXPECT_EQ(flags["initial-cluster"],
            "etcd-0=https://etcd-0.etcd.herd-maximal.svc:2380,"
            "etcd-1=https://etcd-1.etcd.herd-maximal.svc:2380,"
            "etcd-2=https://etcd-2.etcd.herd-maximal.svc:2380,"
            "etcd-3=https://etcd-3.etcd.herd-maximal.svc:2380,"
            "etcd-4=https://etcd-4.etcd.herd-maximal.svc:2380");
  EXPECT_EQ(flags["advertise-client-urls"], "https://$(HERD_MEMBER).etcd.herd-maximal.svc:2379");
  EXPECT_EQ(flags["listen-metrics-urls"], "http://0.0.0.0:2381");
  EXPECT_EQ(flags["client-cert-auth"], "true");
  EXPECT_EQ(flags["peer-client-cert-auth"], "true");
  EXPECT_EQ(flags["heartbeat-interval"], "250");  // extraArgs
  // 80% of 20Gi passes etcd's 8 GiB ceiling.
  EXPECT_EQ(flags["quota-backend-bytes"], std::to_string(8LL * 1024 * 1024 * 1024));
  ASSERT_EQ(etcd.volumes.size(), 1u);
  EXPECT_EQ(etcd.volumes[0].size, "20Gi");
  ASSERT_TRUE(etcd.readiness);
  EXPECT_EQ(etcd.readiness->scheme, ProbeSpec::Scheme::kHttp);
  EXPECT_EQ(etcd.readiness->path, "/health");
  EXPECT_EQ(etcd.readiness->port, 2381);
  EXPECT_EQ(etcd.image, "registry.k8s.io/etcd:3.5.24-0");

  const auto& api = find(specs, Component::kApiServer);
  EXPECT_EQ(flagsOf(api)["etcd-servers"],
            "https://etcd-0.etcd.herd-maximal.svc:2379,https://etcd-1.etcd.herd-maximal.svc:2379,"
            "https://etcd-2.etcd.herd-maximal.svc:2379,https://etcd-3.etcd.herd-maximal.svc:2379,"
            "https://etcd-4.etcd.herd-maximal.svc:2379");
  // Below the ceiling, 80% of the volume (the rest for the WAL and snapshots).
  api::Cluster small = maximalCluster();
  small.spec.controlPlane.etcd.storageSize = api::Quantity{"5Gi"};
  EXPECT_EQ(
      flagsOf(find(renderOrDie(small, testPlatform()), Component::kEtcd))["quota-backend-bytes"],
      std::to_string(4LL * 1024 * 1024 * 1024));
}

TEST(RenderTest, ApiServerFlags) {
  auto specs = renderOrDie(maximalCluster(), testPlatform());
  const auto& api = find(specs, Component::kApiServer);
  auto flags = flagsOf(api);
  EXPECT_EQ(api.replicas, 3);
  EXPECT_EQ(flags["service-account-issuer"], "https://kubernetes.default.svc.tenant.example");
  EXPECT_EQ(flags["service-cluster-ip-range"], "10.112.0.0/16");
  EXPECT_EQ(flags["authorization-mode"], "Node,RBAC");
  EXPECT_EQ(flags["endpoint-reconciler-type"], "none");
  EXPECT_EQ(flags["advertise-address"], "192.0.2.10");
  EXPECT_EQ(flags["requestheader-allowed-names"], "front-proxy-client");
  EXPECT_EQ(flags["requestheader-username-headers"], "X-Remote-User");
  EXPECT_EQ(flags["enable-bootstrap-token-auth"], "true");
  EXPECT_EQ(flags["audit-log-path"], "/var/log/kubernetes/audit.log");  // extraArgs
  EXPECT_EQ(flags["egress-selector-config-file"], kEgressSelectorConfigPath);
  EXPECT_EQ(api.image, "registry.k8s.io/kube-apiserver:v1.33.2");
  ASSERT_TRUE(api.readiness && api.liveness && api.startup);
  EXPECT_EQ(api.readiness->path, "/readyz");
  EXPECT_EQ(api.liveness->path, "/livez");
  EXPECT_EQ(api.readiness->scheme, ProbeSpec::Scheme::kHttps);
  EXPECT_EQ(api.readiness->port, 6443);
  EXPECT_EQ(api.resources, maximalCluster().spec.controlPlane.apiServer.resources);
}

TEST(RenderTest, ControllerManagerAndSchedulerFlags) {
  auto specs = renderOrDie(maximalCluster(), testPlatform());
  auto kcm = flagsOf(find(specs, Component::kControllerManager));
  EXPECT_EQ(kcm["kubeconfig"], "/etc/kubernetes/controller-manager.conf");
  EXPECT_EQ(kcm["authentication-kubeconfig"], kcm["kubeconfig"]);
  EXPECT_EQ(kcm["cluster-signing-key-file"], "/etc/kubernetes/pki/ca.key");
  EXPECT_EQ(kcm["controllers"], "*,bootstrapsigner,tokencleaner");
  EXPECT_EQ(kcm["cluster-cidr"], "10.128.0.0/14");
  EXPECT_EQ(kcm["leader-elect"], "true");
  EXPECT_EQ(kcm["use-service-account-credentials"], "true");
  EXPECT_EQ(kcm["node-monitor-grace-period"], "50s");
  auto sched = flagsOf(find(specs, Component::kScheduler));
  EXPECT_EQ(sched["kubeconfig"], "/etc/kubernetes/scheduler.conf");
  EXPECT_EQ(sched["leader-elect"], "true");
  EXPECT_EQ(sched["v"], "3");
  const auto& s = find(specs, Component::kScheduler);
  ASSERT_TRUE(s.liveness);
  EXPECT_EQ(s.liveness->path, "/healthz");
  EXPECT_EQ(s.liveness->port, 10259);
  EXPECT_EQ(find(specs, Component::kControllerManager).liveness->port, 10257);
}

TEST(RenderTest, ImagesFollowTheMinorAndTheRegistry) {
  const api::KubernetesRelease* release = api::findRelease("1.34");
  ASSERT_NE(release, nullptr);
  std::string patch(release->patch);
  auto specs = renderOrDie(defaultCluster("1.34"), maximalPlatform());
  EXPECT_EQ(find(specs, Component::kApiServer).image,
            "mirror.example.com/k8s/kube-apiserver:v" + patch);
  EXPECT_EQ(find(specs, Component::kScheduler).image,
            "mirror.example.com/k8s/kube-scheduler:v" + patch);
  EXPECT_EQ(find(specs, Component::kEtcd).image,
            "mirror.example.com/k8s/etcd:" + std::string(release->etcd_image_tag));
  // A patch in spec.version is the one that runs.
  specs = renderOrDie(defaultCluster("1.32.4"), testPlatform());
  EXPECT_EQ(find(specs, Component::kControllerManager).image,
            "registry.k8s.io/kube-controller-manager:v1.32.4");
}

TEST(RenderTest, EgressSelectorConfigurationHasTheShapeTheApiserverReads) {
  Platform p = testPlatform();
  auto text = renderEgressSelectorConfig(p);
  ASSERT_TRUE(text.isOk()) << text.status().toString();
  auto docs = parseDocuments(*text);
  ASSERT_TRUE(docs.isOk()) << docs.status().toString();
  ASSERT_EQ(docs->size(), 1u);
  const nlohmann::json& doc = (*docs)[0];
  EXPECT_EQ(doc["apiVersion"], "apiserver.k8s.io/v1beta1");
  EXPECT_EQ(doc["kind"], "EgressSelectorConfiguration");
  ASSERT_EQ(doc["egressSelections"].size(), 1u);
  const auto& sel = doc["egressSelections"][0];
  EXPECT_EQ(sel["name"], "cluster");
  EXPECT_EQ(sel["connection"]["proxyProtocol"], "HTTPConnect");
  const auto& tcp = sel["connection"]["transport"]["tcp"];
  EXPECT_EQ(tcp["url"], "https://gateway.herd-system.svc:8131");

  // The files it names are the apiserver's: its kubelet client identity and the tunnel CA.
  auto specs = renderOrDie(defaultCluster(), p);
  const auto& api = find(specs, Component::kApiServer);
  std::map<std::string, FileSpec> files;
  for (const auto& f : api.files) files[f.path] = f;
  ASSERT_TRUE(files.count(tcp["tlsConfig"]["caBundle"].get<std::string>()));
  EXPECT_EQ(files[tcp["tlsConfig"]["caBundle"].get<std::string>()].content, kTunnelCa);
  EXPECT_EQ(files[tcp["tlsConfig"]["clientCert"].get<std::string>()].pki_file,
            "pki/apiserver-kubelet-client.crt");
  EXPECT_EQ(files[tcp["tlsConfig"]["clientKey"].get<std::string>()].pki_file,
            "pki/apiserver-kubelet-client.key");
  EXPECT_EQ(files[std::string(kEgressSelectorConfigPath)].content, *text);
}

// A provider running every process on one address gives its own Topology: the same flags
// come out, with its addresses, and per-member ports through member_env.
TEST(RenderTest, AnotherTopologyChangesAddressesNotFlags) {
  api::Cluster c = defaultCluster();
  Topology local;
  for (int i = 0; i < 3; ++i) {
    int client = 20001 + 2 * i;
    std::string name = "etcd-" + std::to_string(i);
    local.etcd_members.push_back({name, "https://127.0.0.1:" + std::to_string(client),
                                  "https://127.0.0.1:" + std::to_string(client + 1)});
    local.etcd_member_env[name] = {{"HERD_CLIENT_PORT", std::to_string(client)},
                                   {"HERD_PEER_PORT", std::to_string(client + 1)}};
  }
  local.etcd_listen_host = "127.0.0.1";
  local.etcd_advertise_host = "127.0.0.1";
  local.etcd_client_port = "$(HERD_CLIENT_PORT)";
  local.etcd_peer_port = "$(HERD_PEER_PORT)";
  local.apiserver_bind_address = "127.0.0.1";
  local.apiserver_port = "20010";
  local.apiserver_port_number = 20010;

  auto k8s = renderOrDie(c, testPlatform());
  auto r = renderControlPlane(c, testPlatform(), local);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  for (size_t i = 0; i < k8s.size(); ++i) {
    std::set<std::string> a, b;
    for (const auto& [f, v] : flagsOf(k8s[i])) a.insert(f);
    for (const auto& [f, v] : flagsOf((*r)[i])) b.insert(f);
    EXPECT_EQ(a, b) << k8s[i].name;
  }
  auto etcd = flagsOf((*r)[0]);
  EXPECT_EQ(etcd["listen-client-urls"], "https://127.0.0.1:$(HERD_CLIENT_PORT)");
  EXPECT_EQ(etcd["initial-cluster"],
            "etcd-0=https://127.0.0.1:20002,etcd-1=https://127.0.0.1:20004,"
            "etcd-2=https://127.0.0.1:20006");
  EXPECT_EQ((*r)[0].member_env.at("etcd-1").at("HERD_CLIENT_PORT"), "20003");
  EXPECT_EQ(flagsOf((*r)[1])["secure-port"], "20010");
  EXPECT_EQ((*r)[1].readiness->port, 20010);
}

void expectInvalid(const Result<std::vector<ComponentSpec>>& r, std::string_view needle) {
  ASSERT_FALSE(r.isOk()) << "expected an error containing: " << needle;
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

TEST(RenderTest, BadInputGivesAClearError) {
  Platform p = testPlatform();
  expectInvalid(renderControlPlane(defaultCluster("1.29"), p),
                "spec.version \"1.29\" is not a supported Kubernetes version (supported: 1.30");
  expectInvalid(renderControlPlane(defaultCluster("1.32.x"), p), "not a supported");

  api::Cluster raw;
  raw.metadata.name = "raw";
  raw.spec.version = "1.32";
  expectInvalid(renderControlPlane(raw, p), "is unset: render a defaulted Cluster");

  api::Cluster c = defaultCluster();
  c.spec.controlPlane.etcd.replicas = 2;
  expectInvalid(renderControlPlane(c, p), "etcd runs 1, 3 or 5 members");

  c = defaultCluster();
  c.spec.controlPlane.etcd.storageSize = api::Quantity{"lots"};
  expectInvalid(renderControlPlane(c, p), "storageSize \"lots\" is not a positive quantity");

  c = defaultCluster();
  c.spec.controlPlane.apiServer.extraArgs = {{"no-such-flag", "1"}};
  expectInvalid(renderControlPlane(c, p), "--no-such-flag is not a flag of kube-apiserver");
  c.spec.controlPlane.apiServer.extraArgs = {{"etcd-servers", "https://elsewhere:2379"}};
  expectInvalid(renderControlPlane(c, p), "herd sets --etcd-servers");

  c = defaultCluster();
  Platform bad = p;
  bad.tunnel_connect_address = "";
  expectInvalid(renderControlPlane(c, bad), "no tunnel CONNECT address");
  bad.tunnel_connect_address = "no-port";
  expectInvalid(renderControlPlane(c, bad), "tunnel CONNECT address");
  bad = p;
  bad.tunnel_ca_bundle.clear();
  expectInvalid(renderControlPlane(c, bad), "no tunnel CA bundle");
  bad = p;
  bad.gateway_address = "gateway.example.com";
  expectInvalid(renderControlPlane(c, bad), "is not an IP address");

  Topology short_topology = kubernetesTopology(c);
  short_topology.etcd_members.pop_back();
  expectInvalid(renderControlPlane(c, p, short_topology), "2 etcd member addresses for 3");
}

}  // namespace
}  // namespace herd::render
