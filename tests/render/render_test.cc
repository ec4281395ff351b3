// The renderer of a tenant's control plane: every flag is a flag of its binary at the cluster's
// minor, output is byte-stable, CA keys stay with their signer, the egress selector file has
// the shape kube-apiserver reads, and bad input is refused with a message that says why.
//
// Golden files: tests/render/golden/{default,maximal}.json are compared byte for byte. After an
// intended change of the rendering, regenerate them with
//   HERD_UPDATE_GOLDEN=1 build/tests/render/herd_render_tests --gtest_filter='Golden*'
// and review the diff before committing it.
#include "render/render.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <set>

#include "api/defaults.h"
#include "api/naming.h"
#include "api/versions.h"
#include "pki/tenant_pki.h"
#include "render/mounts.h"
#include "support/test_env.h"

namespace herd::render {
namespace {

constexpr std::string_view kTunnelCa =
    "-----BEGIN CERTIFICATE-----\nMIIBgateway-ca\n-----END CERTIFICATE-----\n";

Platform testPlatform() {
  Platform p;
  p.tunnel_connect_address = "gateway.herd-system.svc:8131";
  p.tunnel_ca_bundle = std::string(kTunnelCa);
  return p;
}

api::Cluster defaultCluster(std::string version = "1.32") {
  api::Cluster c;
  c.metadata.name = "demo";
  c.spec.version = std::move(version);
  api::applyDefaults(c);
  return c;
}

// Every field of the spec set, none left to defaults.
api::Cluster maximalCluster() {
  api::Cluster c;
  c.metadata.name = "maximal";
  auto& s = c.spec;
  s.version = "1.32.4";
  auto& cp = s.controlPlane;
  cp.etcd.replicas = 5;
  cp.etcd.storageSize = api::Quantity{"20Gi"};
  cp.etcd.resources.requests = {{"cpu", {"500m"}}, {"memory", {"1Gi"}}};
  cp.etcd.resources.limits = {{"memory", {"2Gi"}}};
  cp.etcd.extraArgs = {{"heartbeat-interval", "250"}, {"election-timeout", "2500"}};
  cp.apiServer.replicas = 3;
  cp.apiServer.resources.requests = {{"cpu", {"1"}}, {"memory", {"2Gi"}}};
  cp.apiServer.extraArgs = {{"audit-log-maxage", "7"}, {"max-requests-inflight", "800"}};
  cp.controllerManager.replicas = 2;
  cp.controllerManager.resources.requests = {{"cpu", {"200m"}}};
  cp.controllerManager.extraArgs = {{"node-monitor-grace-period", "50s"}};
  cp.scheduler.replicas = 2;
  cp.scheduler.resources.limits = {{"memory", {"256Mi"}}};
  cp.scheduler.extraArgs = {{"v", "2"}};
  s.network.serviceCIDR = "10.128.0.0/16";
  s.network.podCIDR = "10.200.0.0/14";
  s.network.dnsDomain = "tenant.example";
  s.network.dnsServiceIP = "10.128.0.10";
  s.expose.hostname = "api.maximal.example.com";
  s.addons.kubeProxy.enabled = true;
  s.addons.coreDNS.enabled = true;
  s.addons.metricsServer.enabled = true;
  s.addons.dashboard.enabled = false;
  s.paused = false;
  api::applyDefaults(c);
  return c;
}

Platform maximalPlatform() {
  Platform p = testPlatform();
  p.image_registry = "registry.example.com/mirror";
  p.gateway_address = "192.0.2.10";
  p.tunnel_connect_address = "10.0.0.5:8131";
  return p;
}

std::vector<ComponentSpec> renderOrDie(const api::Cluster& c, const Platform& p) {
  auto specs = renderControlPlane(c, p);
  EXPECT_TRUE(specs.isOk()) << specs.status().message();
  return specs.isOk() ? *specs : std::vector<ComponentSpec>{};
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

std::string flagOf(const std::string& arg) {
  return arg.substr(2, arg.find('=') - 2);
}

// "--name=value" -> value, for the first argument of that flag; "" when absent.
std::string argValue(const ComponentSpec& s, std::string_view flag) {
  std::string prefix = "--" + std::string(flag) + "=";
  for (const auto& a : s.args) {
    if (a.starts_with(prefix)) return a.substr(prefix.size());
  }
  return "";
}

const ComponentSpec& specOf(const std::vector<ComponentSpec>& specs, Component c) {
  for (const auto& s : specs) {
    if (s.component == c) return s;
  }
  ADD_FAILURE() << "no spec for " << componentName(c);
  return specs.front();
}

// Every minor of the table, each with the default and the maximal cluster.
std::vector<std::pair<std::string, std::vector<ComponentSpec>>> everyRendering() {
  std::vector<std::pair<std::string, std::vector<ComponentSpec>>> out;
  for (const auto& r : api::supportedReleases()) {
    out.emplace_back("default " + std::string(r.minor),
                     renderOrDie(defaultCluster(std::string(r.minor)), testPlatform()));
    api::Cluster max = maximalCluster();
    max.spec.version = std::string(r.minor);
    out.emplace_back("maximal " + std::string(r.minor), renderOrDie(max, maximalPlatform()));
  }
  return out;
}

TEST(RenderTest, ComponentsComeInDependencyOrder) {
  auto specs = renderOrDie(defaultCluster(), testPlatform());
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].component, Component::kEtcd);
  EXPECT_EQ(specs[1].component, Component::kApiServer);
  EXPECT_EQ(specs[2].component, Component::kControllerManager);
  EXPECT_EQ(specs[3].component, Component::kScheduler);
  EXPECT_EQ(specs[0].replicas, 3);
  EXPECT_EQ(specs[1].replicas, 2);
}

TEST(RenderTest, EveryArgumentIsAFlagOfItsBinaryAtThatMinorAndNoneTwice) {
  for (const auto& r : api::supportedReleases()) {
    api::Cluster max = maximalCluster();
    max.spec.version = std::string(r.minor);
    for (const auto& [label, cluster, platform] :
         {std::tuple{"default", defaultCluster(std::string(r.minor)), testPlatform()},
          std::tuple{"maximal", max, maximalPlatform()}}) {
      auto specs = renderOrDie(cluster, platform);
      ASSERT_EQ(specs.size(), 4u) << label << " " << r.minor;
      for (const auto& s : specs) {
        std::set<std::string> seen;
        for (const auto& arg : s.args) {
          ASSERT_TRUE(arg.starts_with("--") && arg.find('=') != std::string::npos)
              << s.name << ": " << arg;
          std::string flag = flagOf(arg);
          EXPECT_TRUE(api::isKnownFlag(binaryOf(s.component), flag, r.minor))
              << label << " " << r.minor << ": --" << flag << " of " << s.binary << " "
              << api::flagRemovedIn(binaryOf(s.component), flag, r.minor);
          EXPECT_TRUE(seen.insert(flag).second) << s.name << " repeats --" << flag;
        }
        // Sorted by flag name (the whole argument would put "--a-b" before "--a=").
        EXPECT_TRUE(std::is_sorted(
            s.args.begin(), s.args.end(),
            [](const std::string& x, const std::string& y) { return flagOf(x) < flagOf(y); }))
            << s.name;
      }
    }
  }
}

TEST(RenderTest, NoMinorGetsAFlagThatItOrAnEarlierMinorDropped) {
  // The flag test above asks isKnownFlag; this one walks the removal lists themselves, so a
  // removal that isKnownFlag ignored would still be caught.
  for (const auto& [label, specs] : everyRendering()) {
    std::string minor = label.substr(label.find(' ') + 1);
    for (const auto& s : specs) {
      for (const auto& arg : s.args) {
        EXPECT_EQ(api::flagRemovedIn(binaryOf(s.component), flagOf(arg), minor), "")
            << label << ": " << s.binary << " " << arg;
      }
    }
  }
  // And a removed flag asked for through extraArgs is refused at a minor that dropped it.
  api::Cluster c = defaultCluster("1.34");
  c.spec.controlPlane.etcd.extraArgs["enable-v2"] = "false";
  auto r = renderControlPlane(c, testPlatform());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(),
            "extraArgs: --enable-v2 is not a flag of etcd 1.34 (etcd 3.6 dropped it)");
  c.spec.version = "1.33";
  EXPECT_TRUE(renderControlPlane(c, testPlatform()).isOk());
}

TEST(RenderTest, EtcdMembersKnowEachOtherAndTheirTls) {
  auto specs = renderOrDie(maximalCluster(), maximalPlatform());
  const ComponentSpec& etcd = specOf(specs, Component::kEtcd);
  EXPECT_EQ(etcd.replicas, 5);
  EXPECT_EQ(argValue(etcd, "name"), "$(HERD_MEMBER)");
  // A fresh cluster: all five bootstrap it together.
  ASSERT_EQ(etcd.bootstrap_env.size(), 5u);
  for (const auto& [member, env] : etcd.bootstrap_env) {
    std::string initial = env.at("ETCD_INITIAL_CLUSTER");
    for (int i = 0; i < 5; ++i) {
      std::string name = "etcd-" + std::to_string(i);
      EXPECT_NE(initial.find(name + "=https://" + name + ".etcd.herd-maximal.svc:2380"),
                std::string::npos)
          << initial;
    }
    EXPECT_EQ(env.at("ETCD_INITIAL_CLUSTER_STATE"), "new") << member;
  }
  EXPECT_EQ(argValue(etcd, "initial-cluster"), "") << "in the environment, not the arguments";
  EXPECT_EQ(argValue(etcd, "initial-cluster-token"), "herd-maximal");
  EXPECT_EQ(argValue(etcd, "advertise-client-urls"),
            "https://$(HERD_MEMBER).etcd.herd-maximal.svc:2379");
  EXPECT_EQ(argValue(etcd, "client-cert-auth"), "true");
  EXPECT_EQ(argValue(etcd, "peer-client-cert-auth"), "true");
  EXPECT_EQ(argValue(etcd, "trusted-ca-file"), "/etc/kubernetes/pki/etcd/ca.crt");
  EXPECT_EQ(argValue(etcd, "peer-trusted-ca-file"), "/etc/kubernetes/pki/etcd/ca.crt");
  EXPECT_EQ(argValue(etcd, "listen-metrics-urls"), "http://0.0.0.0:2381");
  // 80% of a 20Gi volume is 16Gi, above etcd's 8 GiB advice: the quota stops at 8 GiB.
  EXPECT_EQ(argValue(etcd, "quota-backend-bytes"), std::to_string(8LL << 30));
  EXPECT_EQ(argValue(etcd, "heartbeat-interval"), "250") << "extraArgs are merged";
  ASSERT_EQ(etcd.volumes.size(), 1u);
  EXPECT_EQ(etcd.volumes[0].size, "20Gi");
  EXPECT_EQ(argValue(etcd, "data-dir"), etcd.volumes[0].mount_path);
  ASSERT_TRUE(etcd.liveness.has_value());
  EXPECT_EQ(etcd.liveness->scheme, ProbeSpec::Scheme::kHttp);
  EXPECT_EQ(etcd.liveness->path, "/health");
  EXPECT_EQ(etcd.liveness->port, 2381);
  EXPECT_EQ(etcd.image, "registry.example.com/mirror/etcd:3.5.24-0");

  // A 1Gi volume: the quota is 80% of it.
  api::Cluster small = defaultCluster();
  small.spec.controlPlane.etcd.storageSize = api::Quantity{"1Gi"};
  auto smallSpecs = renderOrDie(small, testPlatform());
  EXPECT_EQ(argValue(specOf(smallSpecs, Component::kEtcd), "quota-backend-bytes"),
            std::to_string((1LL << 30) * 8 / 10));
}

TEST(RenderTest, ApiServerFlagsFollowTheClusterAndThePki) {
  auto specs = renderOrDie(maximalCluster(), maximalPlatform());
  const ComponentSpec& api = specOf(specs, Component::kApiServer);
  EXPECT_EQ(api.image, "registry.example.com/mirror/kube-apiserver:v1.32.4");
  EXPECT_EQ(api.replicas, 3);
  std::string servers = argValue(api, "etcd-servers");
  for (int i = 0; i < 5; ++i) {
    EXPECT_NE(servers.find("https://etcd-" + std::to_string(i) + ".etcd.herd-maximal.svc:2379"),
              std::string::npos);
  }
  EXPECT_EQ(argValue(api, "service-account-issuer"),
            "https://kubernetes.default.svc.tenant.example");
  EXPECT_EQ(argValue(api, "service-account-key-file"), "/etc/kubernetes/pki/sa.pub");
  EXPECT_EQ(argValue(api, "service-account-signing-key-file"), "/etc/kubernetes/pki/sa.key");
  EXPECT_EQ(argValue(api, "service-cluster-ip-range"), "10.128.0.0/16");
  EXPECT_EQ(argValue(api, "authorization-mode"), "Node,RBAC");
  EXPECT_EQ(argValue(api, "endpoint-reconciler-type"), "none");
  EXPECT_EQ(argValue(api, "advertise-address"), "192.0.2.10");
  EXPECT_EQ(argValue(api, "requestheader-allowed-names"), "front-proxy-client");
  EXPECT_EQ(argValue(api, "requestheader-extra-headers-prefix"), "X-Remote-Extra-");
  EXPECT_EQ(argValue(api, "secure-port"), "6443");
  EXPECT_EQ(argValue(api, "audit-log-maxage"), "7");
  EXPECT_EQ(argValue(api, "egress-selector-config-file"), kEgressSelectorConfigPath);
  ASSERT_TRUE(api.readiness && api.liveness && api.startup);
  EXPECT_EQ(api.readiness->path, "/readyz");
  EXPECT_EQ(api.liveness->path, "/livez");
  EXPECT_EQ(api.startup->path, "/livez");
  EXPECT_EQ(api.readiness->scheme, ProbeSpec::Scheme::kHttps);
  EXPECT_EQ(api.readiness->port, 6443);
  EXPECT_EQ(api.resources, maximalCluster().spec.controlPlane.apiServer.resources);

  const ComponentSpec& kcm = specOf(specs, Component::kControllerManager);
  EXPECT_EQ(argValue(kcm, "cluster-cidr"), "10.200.0.0/14");
  EXPECT_EQ(argValue(kcm, "allocate-node-cidrs"), "true");
  EXPECT_EQ(argValue(kcm, "cluster-signing-key-file"), "/etc/kubernetes/pki/ca.key");
  EXPECT_EQ(argValue(kcm, "controllers"), "*,bootstrapsigner,tokencleaner");
  EXPECT_EQ(argValue(kcm, "kubeconfig"), "/etc/kubernetes/controller-manager.conf");
  EXPECT_EQ(argValue(kcm, "node-monitor-grace-period"), "50s");
  ASSERT_TRUE(kcm.liveness.has_value());
  EXPECT_EQ(kcm.liveness->port, 10257);
  const ComponentSpec& sched = specOf(specs, Component::kScheduler);
  EXPECT_EQ(argValue(sched, "kubeconfig"), "/etc/kubernetes/scheduler.conf");
  EXPECT_EQ(argValue(sched, "leader-elect"), "true");
  ASSERT_TRUE(sched.liveness.has_value());
  EXPECT_EQ(sched.liveness->port, 10259);
  EXPECT_EQ(sched.image, "registry.example.com/mirror/kube-scheduler:v1.32.4");
}

TEST(RenderTest, TheVersionPicksTheImagesOfThatRelease) {
  for (const auto& r : api::supportedReleases()) {
    auto specs = renderOrDie(defaultCluster(std::string(r.minor)), testPlatform());
    ASSERT_EQ(specs.size(), 4u);
    EXPECT_EQ(specs[0].image, "registry.k8s.io/etcd:" + std::string(r.etcd_image_tag));
    EXPECT_EQ(specs[1].image, "registry.k8s.io/kube-apiserver:v" + std::string(r.patch));
    EXPECT_EQ(specs[3].version, std::string(r.patch));
  }
}

TEST(RenderTest, RenderingTwiceIsByteIdentical) {
  for (const auto& [cluster, platform] : {std::pair{defaultCluster(), testPlatform()},
                                          std::pair{maximalCluster(), maximalPlatform()}}) {
    auto a = renderOrDie(cluster, platform);
    auto b = renderOrDie(cluster, platform);
    EXPECT_EQ(a, b);
    EXPECT_EQ(toJsonText(a), toJsonText(b));
    // A copy of the input renders the same too: nothing depends on addresses or clocks.
    api::Cluster copy = cluster;
    EXPECT_EQ(toJsonText(renderOrDie(copy, platform)), toJsonText(a));
  }
}

void compareGolden(const std::string& name, const std::string& actual) {
  std::string path = testing::sourceDir() + "/tests/render/golden/" + name;
  if (const char* update = std::getenv("HERD_UPDATE_GOLDEN");
      update && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << path << " is missing: run with HERD_UPDATE_GOLDEN=1";
  std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(expected == actual) << name << " differs from the rendering; if the change is "
                                  << "intended, regenerate with HERD_UPDATE_GOLDEN=1\n"
                                  << actual;
}

TEST(GoldenTest, Default) {
  compareGolden("default.json", toJsonText(renderOrDie(defaultCluster(), testPlatform())));
}

TEST(GoldenTest, Maximal) {
  compareGolden("maximal.json", toJsonText(renderOrDie(maximalCluster(), maximalPlatform())));
}

TEST(MountTest, CaKeysReachOnlyTheirSigner) {
  const std::set<std::string> ca_keys = {"pki/ca.key", "pki/etcd/ca.key", "pki/front-proxy-ca.key"};
  int checked = 0;
  for (const auto& [label, specs] : everyRendering()) {
    for (const auto& s : specs) {
      for (const auto& f : s.files) {
        if (f.pki_file.empty()) continue;
        ++checked;
        EXPECT_TRUE(isMounted(s.component, f.pki_file)) << label << ": " << f.pki_file;
        EXPECT_EQ(f.path, mountPath(f.pki_file));
        if (ca_keys.contains(f.pki_file)) {
          EXPECT_TRUE(f.pki_file == "pki/ca.key" && s.component == Component::kControllerManager)
              << label << ": " << s.name << " receives the CA key " << f.pki_file;
        }
        if (f.pki_file.ends_with(".key") || f.pki_file.ends_with(".conf")) {
          EXPECT_EQ(f.mode, 0600u) << f.path;
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
  // The table itself says the same.
  for (const PkiMount& m : pkiMountTable()) {
    if (ca_keys.contains(std::string(m.pki_file))) {
      EXPECT_EQ(m.pki_file, "pki/ca.key");
      EXPECT_EQ(m.component, Component::kControllerManager);
    }
  }
}

TEST(MountTest, EveryPathAnArgumentNamesIsAFileOfThatComponent) {
  for (const auto& [label, specs] : everyRendering()) {
    for (const auto& s : specs) {
      std::set<std::string> paths;
      for (const auto& f : s.files) paths.insert(f.path);
      for (const auto& arg : s.args) {
        std::string value = arg.substr(arg.find('=') + 1);
        if (value.starts_with("/etc/kubernetes/")) {
          EXPECT_TRUE(paths.contains(value)) << label << ": " << s.name << " " << arg;
        }
      }
    }
  }
}

TEST(MountTest, EveryMountedPkiFileIsOneThePkiWrites) {
  std::vector<std::string> layout = pki::layout::allPaths();
  std::set<std::string> written(layout.begin(), layout.end());
  for (const PkiMount& m : pkiMountTable()) {
    EXPECT_TRUE(written.contains(std::string(m.pki_file))) << m.pki_file;
  }
}

TEST(EgressTest, TheSelectorConfigurationHasTheShapeKubeApiserverReads) {
  auto specs = renderOrDie(defaultCluster(), testPlatform());
  const ComponentSpec& api = specOf(specs, Component::kApiServer);
  const FileSpec* file = nullptr;
  const FileSpec* ca = nullptr;
  for (const auto& f : api.files) {
    if (f.path == kEgressSelectorConfigPath) file = &f;
    if (f.path == kTunnelCaPath) ca = &f;
  }
  ASSERT_NE(file, nullptr);
  ASSERT_NE(ca, nullptr);
  EXPECT_EQ(ca->content, kTunnelCa);
  YAML::Node doc = YAML::Load(file->content);
  EXPECT_EQ(doc["apiVersion"].as<std::string>(), "apiserver.k8s.io/v1beta1");
  EXPECT_EQ(doc["kind"].as<std::string>(), "EgressSelectorConfiguration");
  ASSERT_TRUE(doc["egressSelections"].IsSequence());
  ASSERT_EQ(doc["egressSelections"].size(), 1u);
  YAML::Node sel = doc["egressSelections"][0];
  EXPECT_EQ(sel["name"].as<std::string>(), "cluster");
  EXPECT_EQ(sel["connection"]["proxyProtocol"].as<std::string>(), "HTTPConnect");
  YAML::Node tcp = sel["connection"]["transport"]["tcp"];
  EXPECT_EQ(tcp["url"].as<std::string>(), "https://gateway.herd-system.svc:8131");
  std::set<std::string> paths;
  for (const auto& f : api.files) paths.insert(f.path);
  for (const char* key : {"caBundle", "clientCert", "clientKey"}) {
    std::string path = tcp["tlsConfig"][key].as<std::string>();
    EXPECT_TRUE(paths.contains(path)) << key << " " << path << " is not a file of the apiserver";
  }
  EXPECT_EQ(tcp["tlsConfig"]["clientCert"].as<std::string>(), mountPath(kEgressClientCert));
}

TEST(ErrorTest, AnUnsupportedVersionIsRefusedWithTheSupportedOnes) {
  auto r = renderControlPlane(defaultCluster("1.29"), testPlatform());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("spec.version \"1.29\" is not a supported Kubernetes "
                                      "version (supported: 1.30, "),
            std::string::npos)
      << r.status().message();
  EXPECT_FALSE(renderControlPlane(defaultCluster("1.32.x"), testPlatform()).isOk());
}

TEST(ErrorTest, AClusterThatSkippedDefaultingIsRefused) {
  api::Cluster c;
  c.metadata.name = "raw";
  c.spec.version = "1.32";
  auto r = renderControlPlane(c, testPlatform());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(),
            "spec.controlPlane.etcd.replicas is unset: render a defaulted Cluster "
            "(api::applyDefaults)");
  api::Cluster d = defaultCluster();
  d.spec.network.podCIDR.reset();
  EXPECT_EQ(renderControlPlane(d, testPlatform()).status().message(),
            "spec.network.podCIDR is unset: render a defaulted Cluster (api::applyDefaults)");
}

TEST(ErrorTest, ManagedFlagsAndAPlatformWithoutItsTunnelAreRefused) {
  api::Cluster c = defaultCluster();
  c.spec.controlPlane.apiServer.extraArgs["etcd-servers"] = "https://elsewhere:2379";
  EXPECT_EQ(renderControlPlane(c, testPlatform()).status().message(),
            "extraArgs: herd sets --etcd-servers of kube-apiserver itself");
  Platform p = testPlatform();
  p.tunnel_connect_address.clear();
  auto r = renderControlPlane(defaultCluster(), p);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("no tunnel CONNECT address"), std::string::npos);
}

// The local provider's case: one loopback address, ports per member, from one spec.
Topology loopbackTopology(const api::Cluster& c) {
  Topology t;
  t.etcd_listen_host = "127.0.0.1";
  t.etcd_advertise_host = "127.0.0.1";
  t.etcd_client = {20001, "HERD_CLIENT_PORT"};
  t.etcd_peer = {20002, "HERD_PEER_PORT"};
  t.etcd_metrics = {20101, "HERD_METRICS_PORT"};
  for (int i = 0; i < *c.spec.controlPlane.etcd.replicas; ++i) {
    std::string name = "etcd-" + std::to_string(i);
    int client = 20001 + 2 * i;
    t.etcd_members.push_back({name, "https://127.0.0.1:" + std::to_string(client),
                              "https://127.0.0.1:" + std::to_string(client + 1)});
    t.etcd_member_env[name] = {{"HERD_CLIENT_PORT", std::to_string(client)},
                               {"HERD_PEER_PORT", std::to_string(client + 1)},
                               {"HERD_METRICS_PORT", std::to_string(20101 + i)}};
  }
  t.apiserver_bind_address = "127.0.0.1";
  t.apiserver_port = {20010, "HERD_SECURE_PORT"};
  for (int i = 0; i < *c.spec.controlPlane.apiServer.replicas; ++i) {
    t.apiserver_member_env["kube-apiserver-" + std::to_string(i)] = {
        {"HERD_SECURE_PORT", std::to_string(20010 + i)}};
  }
  return t;
}

TEST(TopologyTest, OneSpecServesMembersOnOneAddressWithTheirOwnPorts) {
  api::Cluster c = defaultCluster();
  auto specs = renderControlPlane(c, testPlatform(), loopbackTopology(c));
  ASSERT_TRUE(specs.isOk()) << specs.status().message();
  const ComponentSpec& etcd = (*specs)[0];
  auto member1 = expandMemberArgs(etcd, "etcd-1");
  ASSERT_TRUE(member1.isOk()) << member1.status().message();
  std::set<std::string> args(member1->begin(), member1->end());
  EXPECT_TRUE(args.contains("--name=etcd-1"));
  EXPECT_TRUE(args.contains("--listen-client-urls=https://127.0.0.1:20003"));
  EXPECT_TRUE(args.contains("--advertise-client-urls=https://127.0.0.1:20003"));
  EXPECT_TRUE(args.contains("--listen-peer-urls=https://127.0.0.1:20004"));
  EXPECT_TRUE(args.contains("--listen-metrics-urls=http://127.0.0.1:20102"));
  EXPECT_EQ(etcd.bootstrap_env.at("etcd-1").at("ETCD_INITIAL_CLUSTER"),
            "etcd-0=https://127.0.0.1:20002,etcd-1=https://127.0.0.1:20004,"
            "etcd-2=https://127.0.0.1:20006");
  for (const auto& a : *member1) EXPECT_EQ(a.find("$("), std::string::npos) << a;
  ASSERT_TRUE(etcd.liveness.has_value());
  EXPECT_EQ(etcd.liveness->port_env, "HERD_METRICS_PORT");

  const ComponentSpec& api = (*specs)[1];
  auto apiserver1 = expandMemberArgs(api, "kube-apiserver-1");
  ASSERT_TRUE(apiserver1.isOk()) << apiserver1.status().message();
  std::set<std::string> api_args(apiserver1->begin(), apiserver1->end());
  EXPECT_TRUE(api_args.contains("--secure-port=20011"));
  EXPECT_TRUE(
      api_args.contains("--etcd-servers=https://127.0.0.1:20001,https://127.0.0.1:20003,"
                        "https://127.0.0.1:20005"));
  EXPECT_FALSE(expandMemberArgs(api, "kube-apiserver-7").isOk());

  // A member_env that misses a member's port is a topology error, not a broken argument.
  Topology broken = loopbackTopology(c);
  broken.etcd_member_env["etcd-2"].erase("HERD_PEER_PORT");
  auto r = renderControlPlane(c, testPlatform(), broken);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(), "topology: etcd member etcd-2 has no HERD_PEER_PORT (peer port)");
}

TEST(TopologyTest, InTheSeedMembersDifferOnlyInTheirName) {
  auto specs = renderOrDie(defaultCluster(), testPlatform());
  for (const auto& s : specs) {
    EXPECT_TRUE(s.member_env.empty()) << s.name;
    for (const auto& a : s.args) {
      // $(HERD_MEMBER) is the only variable the kubernetes provider must define.
      size_t at = a.find("$(");
      if (at != std::string::npos) {
        EXPECT_EQ(a.substr(at, 14), "$(HERD_MEMBER)") << a;
      }
    }
  }
  auto expanded = expandMemberArgs(specs[0], "etcd-2");
  ASSERT_TRUE(expanded.isOk());
  std::set<std::string> args(expanded->begin(), expanded->end());
  EXPECT_TRUE(args.contains("--advertise-client-urls=https://etcd-2.etcd.herd-demo.svc:2379"));
}

}  // namespace
}  // namespace herd::render

namespace herd::render {
namespace {

api::EtcdMemberStatus recordedMember(std::string name, bool joining = false) {
  api::EtcdMemberStatus m;
  m.name = std::move(name);
  m.id = "1";
  m.learner = joining;
  m.joining = joining;
  return m;
}

// Once status.etcd records the membership, the spec follows it: as many members run as are
// recorded (a gap keeps its place), the one herd has just added joins the recorded members,
// and every other member gets settings that refuse to start on an empty data directory.
TEST(RenderTest, EtcdFollowsTheRecordedMembershipAndOnlyTheJoiningMemberMayJoin) {
  api::Cluster c = defaultCluster();
  c.spec.controlPlane.etcd.replicas = 5;
  c.status.emplace();
  c.status->etcd.emplace();
  c.status->etcd->members = {recordedMember("etcd-0"), recordedMember("etcd-1"),
                             recordedMember("etcd-2"), recordedMember("etcd-3", true)};
  auto specs = renderOrDie(c, testPlatform());
  const ComponentSpec& etcd = specOf(specs, Component::kEtcd);
  EXPECT_EQ(etcd.replicas, 4);
  ASSERT_EQ(etcd.bootstrap_env.size(), 4u);
  const auto& joining = etcd.bootstrap_env.at("etcd-3");
  EXPECT_EQ(joining.at("ETCD_INITIAL_CLUSTER_STATE"), "existing");
  EXPECT_EQ(joining.at("ETCD_INITIAL_CLUSTER"),
            "etcd-0=https://etcd-0.etcd.herd-demo.svc:2380,"
            "etcd-1=https://etcd-1.etcd.herd-demo.svc:2380,"
            "etcd-2=https://etcd-2.etcd.herd-demo.svc:2380,"
            "etcd-3=https://etcd-3.etcd.herd-demo.svc:2380");
  const auto& settled = etcd.bootstrap_env.at("etcd-1");
  EXPECT_EQ(settled.at("ETCD_INITIAL_CLUSTER_STATE"), "existing");
  EXPECT_EQ(settled.at("ETCD_INITIAL_CLUSTER"), "etcd-1=https://etcd-1.etcd.herd-demo.svc:2380");
  // The apiservers are pointed at the members the spec asks for.
  const ComponentSpec& api = specOf(specs, Component::kApiServer);
  EXPECT_NE(argValue(api, "etcd-servers").find("etcd-4.etcd.herd-demo.svc:2379"),
            std::string::npos);

  // etcd-1 removed to be replaced: etcd-2 keeps running in its place.
  c.status->etcd->members = {recordedMember("etcd-0"), recordedMember("etcd-2")};
  c.spec.controlPlane.etcd.replicas = 3;
  auto replaced = renderOrDie(c, testPlatform());
  EXPECT_EQ(specOf(replaced, Component::kEtcd).replicas, 3);
  // Shrinking from five recorded to three asked: all five keep running until removed.
  c.status->etcd->members.clear();
  for (int i = 0; i < 5; ++i) c.status->etcd->members.push_back(recordedMember(api::etcdMemberName(i)));
  auto shrinking = renderOrDie(c, testPlatform());
  EXPECT_EQ(specOf(shrinking, Component::kEtcd).replicas, 5);
  EXPECT_EQ(argValue(specOf(shrinking, Component::kApiServer), "etcd-servers")
                .find("etcd-3."),
            std::string::npos);
  // A recorded name that is no member's is refused.
  c.status->etcd->members = {recordedMember("etcd-x")};
  EXPECT_FALSE(renderControlPlane(c, testPlatform()).isOk());
}

}  // namespace
}  // namespace herd::render
