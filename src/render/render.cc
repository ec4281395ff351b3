#include "render/render.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "api/naming.h"
#include "api/quantity.h"
#include "api/versions.h"
#include "common/net.h"
#include "common/yaml.h"
#include "render/mounts.h"

namespace herd::render {
namespace {

using api::Binary;
// Flag name (without "--") -> value; a map so that arguments come out sorted, each once.
using Flags = std::map<std::string, std::string>;

// etcd's own advice: a backend beyond 8 GiB makes defragmentation and snapshots slow enough to
// hurt; the volume also holds the WAL and snapshot files, hence the 20% left free.
constexpr long double kMaxEtcdQuotaBytes = 8.0L * 1024 * 1024 * 1024;
constexpr long double kEtcdQuotaShareOfVolume = 0.8L;
// The apiserver compacts etcd every 5 minutes itself; etcd's own periodic compaction is the
// backstop for clients that write without an apiserver (operators with etcdctl).
constexpr std::string_view kEtcdAutoCompactionRetention = "1h";
// Long enough for load balancers and the gateway's health checks to stop sending new
// requests to an apiserver that is shutting down, before it stops accepting them.
constexpr std::string_view kShutdownDelay = "10s";
// A joining etcd member or a cold apiserver may take minutes; a startup probe of
// 24 x 10s gives them four before the kubelet restarts them.
constexpr int kStartupFailureThreshold = 24;
// kubeadm's liveness tolerance: 8 failures 10s apart, so one slow /livez is no restart.
constexpr int kLivenessFailureThreshold = 8;
// Readiness reacts faster: 3 failures take a member out of its Service within 30s.
constexpr int kReadinessFailureThreshold = 3;

std::string mounted(std::string_view pki_file) {
  return mountPath(pki_file);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

// The facts every component's rendering reads, checked once.
struct Input {
  const api::Cluster& cluster;
  const Platform& platform;
  const Topology& topology;
  const api::KubernetesRelease* release = nullptr;
  std::string kubernetes_version;  // "1.32.11": the cluster's patch, or the table's
};

Status checkCluster(const api::Cluster& c, const api::KubernetesRelease** release) {
  auto unset = [](std::string_view field) {
    return Status::invalid(
        fmt::format("{} is unset: render a defaulted Cluster (api::applyDefaults)", field));
  };
  if (c.metadata.name.empty()) return Status::invalid("metadata.name is empty");
  if (!c.spec.version) return unset("spec.version");
  *release = api::findRelease(*c.spec.version);
  if (*release == nullptr) {
    std::vector<std::string> minors;
    for (auto m : api::supportedMinors()) minors.emplace_back(m);
    return Status::invalid(
        fmt::format("spec.version \"{}\" is not a supported Kubernetes version (supported: {})",
                    *c.spec.version, join(minors, ", ")));
  }
  const auto& cp = c.spec.controlPlane;
  if (!cp.etcd.replicas) return unset("spec.controlPlane.etcd.replicas");
  if (*cp.etcd.replicas != 1 && *cp.etcd.replicas != 3 && *cp.etcd.replicas != 5) {
    return Status::invalid(fmt::format(
        "spec.controlPlane.etcd.replicas is {}: etcd runs 1, 3 or 5 members", *cp.etcd.replicas));
  }
  if (!cp.etcd.storageSize) return unset("spec.controlPlane.etcd.storageSize");
  auto size = api::parseQuantity(cp.etcd.storageSize->text);
  if (!size.isOk() || *size <= 0) {
    return Status::invalid(
        fmt::format("spec.controlPlane.etcd.storageSize \"{}\" is not a "
                    "positive quantity",
                    cp.etcd.storageSize->text));
  }
  struct Stateless {
    const api::ComponentSpec& spec;
    std::string_view field;
  };
  for (const Stateless& s :
       {Stateless{cp.apiServer, "apiServer"}, Stateless{cp.controllerManager, "controllerManager"},
        Stateless{cp.scheduler, "scheduler"}}) {
    if (!s.spec.replicas) return unset(fmt::format("spec.controlPlane.{}.replicas", s.field));
    if (*s.spec.replicas < 1) {
      return Status::invalid(fmt::format("spec.controlPlane.{}.replicas is {}: at least 1", s.field,
                                         *s.spec.replicas));
    }
  }
  if (!c.spec.network.serviceCIDR) return unset("spec.network.serviceCIDR");
  if (!c.spec.network.podCIDR) return unset("spec.network.podCIDR");
  if (!c.spec.network.dnsDomain) return unset("spec.network.dnsDomain");
  return Status::ok();
}

Status checkPlatform(const Platform& p) {
  if (p.image_registry.empty()) return Status::invalid("platform: the image registry is empty");
  if (!net::IpAddress::parse(p.gateway_address).isOk()) {
    return Status::invalid(fmt::format(
        "platform: the gateway address \"{}\" is not an IP address (the apiservers advertise "
        "it as the tenant's kubernetes endpoint)",
        p.gateway_address));
  }
  if (p.tunnel_connect_address.empty()) {
    return Status::invalid(
        "platform: no tunnel CONNECT address: the apiservers' egress selector needs the "
        "gateway's CONNECT listener (host:port) to reach kubelets");
  }
  if (auto hp = net::parseHostPort(p.tunnel_connect_address); !hp.isOk()) {
    return hp.status().withContext("platform: the tunnel CONNECT address");
  }
  if (p.tunnel_ca_bundle.empty()) {
    return Status::invalid(
        "platform: no tunnel CA bundle: the apiservers' egress selector verifies the "
        "gateway's CONNECT listener with it");
  }
  return Status::ok();
}

// A port that differs per member needs its value in every member's environment.
Status checkListenPort(std::string_view component, std::string_view what, const ListenPort& port,
                       const MemberEnv& member_env, int32_t members) {
  if (port.env.empty()) {
    if (port.port <= 0 || port.port > 65535) {
      return Status::invalid(
          fmt::format("topology: {} {} port {} is not a TCP port", component, what, port.port));
    }
    return Status::ok();
  }
  if (member_env.size() != static_cast<size_t>(members)) {
    return Status::invalid(fmt::format(
        "topology: {} takes its {} port from ${}, but member_env lists {} members for {}",
        component, what, port.env, member_env.size(), members));
  }
  for (const auto& [member, env] : member_env) {
    if (!env.contains(port.env)) {
      return Status::invalid(fmt::format("topology: {} member {} has no {} ({} port)", component,
                                         member, port.env, what));
    }
  }
  return Status::ok();
}

Status checkTopology(const Topology& t, const api::Cluster& cluster) {
  const api::ControlPlaneSpec& cp = cluster.spec.controlPlane;
  int32_t etcd_members = etcdTopologySize(cluster);
  if (t.etcd_members.size() != static_cast<size_t>(etcd_members)) {
    return Status::invalid(fmt::format("topology: {} etcd member addresses for {} members",
                                       t.etcd_members.size(), etcd_members));
  }
  if (cluster.status && cluster.status->etcd) {
    for (const auto& m : cluster.status->etcd->members) {
      if (!api::etcdMemberIndex(m.name)) {
        return Status::invalid(fmt::format(
            "status.etcd.members: \"{}\" is not the name of an etcd member (etcd-<i>)", m.name));
      }
    }
  }
  for (const auto& m : t.etcd_members) {
    if (m.name.empty() || m.client_url.empty() || m.peer_url.empty()) {
      return Status::invalid("topology: an etcd member without its name or URLs");
    }
  }
  if (t.etcd_advertise_host.empty()) {
    return Status::invalid("topology: etcd members advertise no host");
  }
  struct Check {
    std::string_view component, what;
    const ListenPort& port;
    const MemberEnv& env;
    int32_t members;
  };
  for (const Check& c : {
           Check{"etcd", "client", t.etcd_client, t.etcd_member_env, etcd_members},
           Check{"etcd", "peer", t.etcd_peer, t.etcd_member_env, etcd_members},
           Check{"etcd", "metrics", t.etcd_metrics, t.etcd_member_env, etcd_members},
           Check{"kube-apiserver", "secure", t.apiserver_port, t.apiserver_member_env,
                 *cp.apiServer.replicas},
           Check{"kube-controller-manager", "secure", t.controller_manager_port,
                 t.controller_manager_member_env, *cp.controllerManager.replicas},
           Check{"kube-scheduler", "secure", t.scheduler_port, t.scheduler_member_env,
                 *cp.scheduler.replicas},
       }) {
    HERD_RETURN_IF_ERROR(checkListenPort(c.component, c.what, c.port, c.env, c.members));
  }
  return Status::ok();
}

// extraArgs on top of herd's flags. The api refuses managed and unknown flags; checking
// again here keeps the renderer's promise (every argument a flag of the binary at this
// minor) even for a Cluster that skipped validation.
Status mergeExtraArgs(Flags& flags, const std::map<std::string, std::string>& extra, Binary b,
                      std::string_view minor) {
  for (const auto& [flag, value] : extra) {
    if (!api::isKnownFlag(b, flag, minor)) {
      std::string removed = api::flagRemovedIn(b, flag, minor);
      return Status::invalid(fmt::format("extraArgs: --{} is not a flag of {} {}{}", flag,
                                         api::binaryName(b), minor,
                                         removed.empty() ? "" : " (" + removed + " dropped it)"));
    }
    if (api::isManagedFlag(b, flag)) {
      return Status::invalid(
          fmt::format("extraArgs: herd sets --{} of {} itself", flag, api::binaryName(b)));
    }
    flags[flag] = value;
  }
  return Status::ok();
}

std::vector<std::string> toArgs(const Flags& flags) {
  std::vector<std::string> args;
  args.reserve(flags.size());
  for (const auto& [flag, value] : flags) args.push_back(fmt::format("--{}={}", flag, value));
  return args;
}

std::vector<FileSpec> pkiFiles(Component component) {
  std::vector<FileSpec> files;
  for (const PkiMount& m : pkiMountTable()) {
    if (m.component != component) continue;
    FileSpec f;
    f.path = mountPath(m.pki_file);
    f.pki_file = std::string(m.pki_file);
    // Private keys, and kubeconfigs that embed one, are for their owner's eyes only.
    bool secret = m.pki_file.ends_with(".key") || m.pki_file.ends_with(".conf");
    f.mode = secret ? 0600 : 0644;
    files.push_back(std::move(f));
  }
  return files;
}

void sortFiles(std::vector<FileSpec>& files) {
  std::sort(files.begin(), files.end(),
            [](const FileSpec& a, const FileSpec& b) { return a.path < b.path; });
}

ProbeSpec probe(ProbeSpec::Scheme scheme, std::string path, const ListenPort& port,
                int failure_threshold) {
  ProbeSpec p;
  p.scheme = scheme;
  p.path = std::move(path);
  p.port = port.port;
  p.port_env = port.env;
  p.failure_threshold = failure_threshold;
  return p;
}

PortSpec portSpec(std::string name, const ListenPort& port) {
  return {std::move(name), port.port, port.env};
}

std::string image(const Input& in, std::string_view name, std::string_view tag) {
  return fmt::format("{}/{}:{}", in.platform.image_registry, name, tag);
}

// Each member's --initial-cluster and --initial-cluster-state, as the environment etcd reads
// them from (ComponentSpec::bootstrap_env). Before status.etcd records a membership, every
// member bootstraps the cluster together ("new", all of them). After, the member herd has just
// added joins the members recorded ("existing", which etcd checks against its member list: the
// same members, the same peer URLs). Every other member gets itself alone as an existing
// cluster: settings that a member with data ignores and that a member whose data is gone
// refuses to start with (it finds no peer to ask), so that a lost member never comes back under
// its old identity with an empty log; herd removes it and adds it afresh instead.
std::map<std::string, std::map<std::string, std::string>> etcdBootstrapEnv(const Input& in,
                                                                           int32_t running) {
  const Topology& t = in.topology;
  auto entry = [&](const EtcdMemberAddress& m) { return fmt::format("{}={}", m.name, m.peer_url); };
  auto settings = [](std::string initial, std::string state) {
    return std::map<std::string, std::string>{{"ETCD_INITIAL_CLUSTER", std::move(initial)},
                                              {"ETCD_INITIAL_CLUSTER_STATE", std::move(state)}};
  };
  std::map<std::string, std::map<std::string, std::string>> out;
  const std::vector<api::EtcdMemberStatus>* recorded = nullptr;
  if (in.cluster.status && in.cluster.status->etcd && !in.cluster.status->etcd->members.empty()) {
    recorded = &in.cluster.status->etcd->members;
  }
  if (recorded == nullptr) {
    std::vector<std::string> all;
    for (int32_t i = 0; i < running; ++i) all.push_back(entry(t.etcd_members[i]));
    for (int32_t i = 0; i < running; ++i) out[t.etcd_members[i].name] = settings(join(all, ","), "new");
    return out;
  }
  std::vector<std::string> members;
  std::set<std::string> joining;
  for (const auto& m : *recorded) {
    members.push_back(entry(t.etcd_members[*api::etcdMemberIndex(m.name)]));
    if (m.joining) joining.insert(m.name);
  }
  std::sort(members.begin(), members.end());
  for (int32_t i = 0; i < running; ++i) {
    const EtcdMemberAddress& m = t.etcd_members[i];
    out[m.name] = settings(joining.contains(m.name) ? join(members, ",") : entry(m), "existing");
  }
  return out;
}

Result<ComponentSpec> renderEtcd(const Input& in) {
  const Topology& t = in.topology;
  const api::EtcdSpec& etcd = in.cluster.spec.controlPlane.etcd;
  const int32_t running = etcdMembersToRun(in.cluster);
  long double volume = api::parseQuantity(etcd.storageSize->text).value();
  auto quota = static_cast<long long>(
      std::floor(std::min(volume * kEtcdQuotaShareOfVolume, kMaxEtcdQuotaBytes)));
  std::string member = fmt::format("$({})", kMemberEnv);

  Flags flags = {
      {"advertise-client-urls",
       fmt::format("https://{}:{}", t.etcd_advertise_host, t.etcd_client.arg())},
      {"auto-compaction-mode", "periodic"},
      {"auto-compaction-retention", std::string(kEtcdAutoCompactionRetention)},
      {"cert-file", mounted("pki/etcd/server.crt")},
      {"client-cert-auth", "true"},
      {"data-dir", std::string(kEtcdDataDir)},
      {"initial-advertise-peer-urls",
       fmt::format("https://{}:{}", t.etcd_advertise_host, t.etcd_peer.arg())},
      // Unique per tenant, so members of two tenants can never join each other's cluster.
      {"initial-cluster-token", api::tenantNamespace(in.cluster)},
      {"key-file", mounted("pki/etcd/server.key")},
      {"listen-client-urls", fmt::format("https://{}:{}", t.etcd_listen_host, t.etcd_client.arg())},
      // Plain HTTP, health and metrics only: probes need no client certificate.
      {"listen-metrics-urls",
       fmt::format("http://{}:{}", t.etcd_listen_host, t.etcd_metrics.arg())},
      {"listen-peer-urls", fmt::format("https://{}:{}", t.etcd_listen_host, t.etcd_peer.arg())},
      {"name", member},
      {"peer-cert-file", mounted("pki/etcd/peer.crt")},
      {"peer-client-cert-auth", "true"},
      {"peer-key-file", mounted("pki/etcd/peer.key")},
      {"peer-trusted-ca-file", mounted("pki/etcd/ca.crt")},
      {"quota-backend-bytes", std::to_string(quota)},
      // kubeadm's value: bounds the memory a member keeps between snapshots.
      {"snapshot-count", "10000"},
      {"trusted-ca-file", mounted("pki/etcd/ca.crt")},
  };
  HERD_RETURN_IF_ERROR(mergeExtraArgs(flags, etcd.extraArgs, Binary::kEtcd, in.release->minor));

  ComponentSpec s;
  s.component = Component::kEtcd;
  s.name = std::string(api::kEtcdStatefulSetName);
  s.binary = "etcd";
  s.image = image(in, "etcd", in.release->etcd_image_tag);
  s.version = std::string(in.release->etcd);
  s.args = toArgs(flags);
  s.files = pkiFiles(Component::kEtcd);
  sortFiles(s.files);
  s.ports = {portSpec("client", t.etcd_client), portSpec("peer", t.etcd_peer),
             portSpec("metrics", t.etcd_metrics)};
  using enum ProbeSpec::Scheme;
  s.startup = probe(kHttp, "/health", t.etcd_metrics, kStartupFailureThreshold);
  s.readiness = probe(kHttp, "/health", t.etcd_metrics, kReadinessFailureThreshold);
  s.liveness = probe(kHttp, "/health", t.etcd_metrics, kLivenessFailureThreshold);
  s.resources = etcd.resources;
  s.replicas = running;
  s.volumes = {{"data", std::string(kEtcdDataDir), etcd.storageSize->text}};
  s.member_env = t.etcd_member_env;
  s.bootstrap_env = etcdBootstrapEnv(in, running);
  return s;
}

Result<ComponentSpec> renderApiServer(const Input& in) {
  const Topology& t = in.topology;
  const api::Cluster& c = in.cluster;
  // The members the spec asks for: while etcd grows or shrinks towards them, a client skips
  // one that is not there (yet, or any more).
  std::vector<std::string> servers;
  for (int32_t i = 0; i < *c.spec.controlPlane.etcd.replicas; ++i) {
    servers.push_back(t.etcd_members[i].client_url);
  }
  HERD_ASSIGN_OR_RETURN(std::string egress, renderEgressSelectorConfig(in.platform));

  Flags flags = {
      // herd writes the tenant's default/kubernetes endpoints to the gateway (the reconciler
      // is off), so the address the apiservers advertise is the gateway's too.
      {"advertise-address", in.platform.gateway_address},
      // CNI and kube-proxy DaemonSets run privileged containers.
      {"allow-privileged", "true"},
      {"authorization-mode", "Node,RBAC"},
      {"bind-address", t.apiserver_bind_address},
      {"client-ca-file", mounted("pki/ca.crt")},
      {"egress-selector-config-file", std::string(kEgressSelectorConfigPath)},
      {"enable-admission-plugins", "NodeRestriction"},
      // kubeadm join authenticates with bootstrap tokens.
      {"enable-bootstrap-token-auth", "true"},
      {"endpoint-reconciler-type", "none"},
      {"etcd-cafile", mounted("pki/etcd/ca.crt")},
      {"etcd-certfile", mounted("pki/apiserver-etcd-client.crt")},
      {"etcd-keyfile", mounted("pki/apiserver-etcd-client.key")},
      {"etcd-servers", join(servers, ",")},
      {"kubelet-client-certificate", mounted("pki/apiserver-kubelet-client.crt")},
      {"kubelet-client-key", mounted("pki/apiserver-kubelet-client.key")},
      {"kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname"},
      {"proxy-client-cert-file", mounted("pki/front-proxy-client.crt")},
      {"proxy-client-key-file", mounted("pki/front-proxy-client.key")},
      {"requestheader-allowed-names", "front-proxy-client"},
      {"requestheader-client-ca-file", mounted("pki/front-proxy-ca.crt")},
      {"requestheader-extra-headers-prefix", "X-Remote-Extra-"},
      {"requestheader-group-headers", "X-Remote-Group"},
      {"requestheader-username-headers", "X-Remote-User"},
      {"secure-port", t.apiserver_port.arg()},
      {"service-account-issuer",
       fmt::format("https://kubernetes.default.svc.{}", *c.spec.network.dnsDomain)},
      {"service-account-key-file", mounted("pki/sa.pub")},
      {"service-account-signing-key-file", mounted("pki/sa.key")},
      {"service-cluster-ip-range", *c.spec.network.serviceCIDR},
      {"shutdown-delay-duration", std::string(kShutdownDelay)},
      // During the delay, new requests get a 429 with Retry-After instead of being served by
      // an apiserver about to go.
      {"shutdown-send-retry-after", "true"},
      {"tls-cert-file", mounted("pki/apiserver.crt")},
      {"tls-private-key-file", mounted("pki/apiserver.key")},
  };
  HERD_RETURN_IF_ERROR(mergeExtraArgs(flags, c.spec.controlPlane.apiServer.extraArgs,
                                      Binary::kKubeApiserver, in.release->minor));

  ComponentSpec s;
  s.component = Component::kApiServer;
  s.name = std::string(api::kApiServerServiceName);
  s.binary = "kube-apiserver";
  s.image = image(in, s.binary, "v" + in.kubernetes_version);
  s.version = in.kubernetes_version;
  s.args = toArgs(flags);
  s.files = pkiFiles(Component::kApiServer);
  s.files.push_back({std::string(kEgressSelectorConfigPath), "", std::move(egress), 0644});
  s.files.push_back({std::string(kTunnelCaPath), "", in.platform.tunnel_ca_bundle, 0644});
  sortFiles(s.files);
  s.ports = {portSpec("https", t.apiserver_port)};
  using enum ProbeSpec::Scheme;
  s.startup = probe(kHttps, "/livez", t.apiserver_port, kStartupFailureThreshold);
  s.readiness = probe(kHttps, "/readyz", t.apiserver_port, kReadinessFailureThreshold);
  s.liveness = probe(kHttps, "/livez", t.apiserver_port, kLivenessFailureThreshold);
  s.resources = c.spec.controlPlane.apiServer.resources;
  s.replicas = *c.spec.controlPlane.apiServer.replicas;
  s.member_env = t.apiserver_member_env;
  return s;
}

Result<ComponentSpec> renderControllerManager(const Input& in) {
  const Topology& t = in.topology;
  const api::Cluster& c = in.cluster;
  std::string kubeconfig = mounted("controller-manager.conf");
  Flags flags = {
      // Nodes get their pod ranges from spec.network.podCIDR.
      {"allocate-node-cidrs", "true"},
      {"authentication-kubeconfig", kubeconfig},
      {"authorization-kubeconfig", kubeconfig},
      {"bind-address", t.controller_manager_bind_address},
      {"client-ca-file", mounted("pki/ca.crt")},
      {"cluster-cidr", *c.spec.network.podCIDR},
      {"cluster-name", c.metadata.name},
      // Signs the kubelets' CSRs (kubeadm join, certificate rotation).
      {"cluster-signing-cert-file", mounted("pki/ca.crt")},
      {"cluster-signing-key-file", mounted("pki/ca.key")},
      // The bootstrap-token controllers are off by default; kubeadm join needs them.
      {"controllers", "*,bootstrapsigner,tokencleaner"},
      {"kubeconfig", kubeconfig},
      {"leader-elect", "true"},
      {"requestheader-client-ca-file", mounted("pki/front-proxy-ca.crt")},
      {"root-ca-file", mounted("pki/ca.crt")},
      {"secure-port", t.controller_manager_port.arg()},
      {"service-account-private-key-file", mounted("pki/sa.key")},
      {"service-cluster-ip-range", *c.spec.network.serviceCIDR},
      {"use-service-account-credentials", "true"},
  };
  HERD_RETURN_IF_ERROR(mergeExtraArgs(flags, c.spec.controlPlane.controllerManager.extraArgs,
                                      Binary::kKubeControllerManager, in.release->minor));
  ComponentSpec s;
  s.component = Component::kControllerManager;
  s.name = "kube-controller-manager";
  s.binary = "kube-controller-manager";
  s.image = image(in, s.binary, "v" + in.kubernetes_version);
  s.version = in.kubernetes_version;
  s.args = toArgs(flags);
  s.files = pkiFiles(Component::kControllerManager);
  sortFiles(s.files);
  s.ports = {portSpec("https", t.controller_manager_port)};
  using enum ProbeSpec::Scheme;
  s.startup = probe(kHttps, "/healthz", t.controller_manager_port, kStartupFailureThreshold);
  s.liveness = probe(kHttps, "/healthz", t.controller_manager_port, kLivenessFailureThreshold);
  s.resources = c.spec.controlPlane.controllerManager.resources;
  s.replicas = *c.spec.controlPlane.controllerManager.replicas;
  s.member_env = t.controller_manager_member_env;
  return s;
}

Result<ComponentSpec> renderScheduler(const Input& in) {
  const Topology& t = in.topology;
  const api::Cluster& c = in.cluster;
  std::string kubeconfig = mounted("scheduler.conf");
  Flags flags = {
      {"authentication-kubeconfig", kubeconfig},
      {"authorization-kubeconfig", kubeconfig},
      {"bind-address", t.scheduler_bind_address},
      {"kubeconfig", kubeconfig},
      {"leader-elect", "true"},
      {"secure-port", t.scheduler_port.arg()},
  };
  HERD_RETURN_IF_ERROR(mergeExtraArgs(flags, c.spec.controlPlane.scheduler.extraArgs,
                                      Binary::kKubeScheduler, in.release->minor));
  ComponentSpec s;
  s.component = Component::kScheduler;
  s.name = "kube-scheduler";
  s.binary = "kube-scheduler";
  s.image = image(in, s.binary, "v" + in.kubernetes_version);
  s.version = in.kubernetes_version;
  s.args = toArgs(flags);
  s.files = pkiFiles(Component::kScheduler);
  sortFiles(s.files);
  s.ports = {portSpec("https", t.scheduler_port)};
  using enum ProbeSpec::Scheme;
  s.startup = probe(kHttps, "/healthz", t.scheduler_port, kStartupFailureThreshold);
  s.liveness = probe(kHttps, "/healthz", t.scheduler_port, kLivenessFailureThreshold);
  s.resources = c.spec.controlPlane.scheduler.resources;
  s.replicas = *c.spec.controlPlane.scheduler.replicas;
  s.member_env = t.scheduler_member_env;
  return s;
}

nlohmann::json probeJson(const std::optional<ProbeSpec>& p) {
  if (!p) return nullptr;
  nlohmann::json j = {{"scheme", p->scheme == ProbeSpec::Scheme::kHttps ? "HTTPS" : "HTTP"},
                      {"path", p->path},
                      {"port", p->port},
                      {"initialDelaySeconds", p->initial_delay_seconds},
                      {"periodSeconds", p->period_seconds},
                      {"timeoutSeconds", p->timeout_seconds},
                      {"failureThreshold", p->failure_threshold}};
  if (!p->port_env.empty()) j["portEnv"] = p->port_env;
  return j;
}

nlohmann::json quantitiesJson(const std::map<std::string, api::Quantity>& q) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : q) out[name] = value.text;
  return out;
}

}  // namespace

Status validatePlatform(const Platform& platform) { return checkPlatform(platform); }

std::string_view componentName(Component component) {
  switch (component) {
    case Component::kEtcd:
      return "etcd";
    case Component::kApiServer:
      return "kube-apiserver";
    case Component::kControllerManager:
      return "kube-controller-manager";
    case Component::kScheduler:
      return "kube-scheduler";
  }
  return "unknown";
}

Result<std::string> renderEgressSelectorConfig(const Platform& platform) {
  HERD_RETURN_IF_ERROR(checkPlatform(platform));
  // The CONNECT listener (tunnel/connect_listener.h) verifies the client certificate against
  // the tenant's cluster CA and takes the tenant from its common name: hence a certificate of
  // its own, issued by the tenant CA with the tenant's name as CN (kEgressClientCert).
  nlohmann::json tls = {{"caBundle", std::string(kTunnelCaPath)},
                        {"clientCert", mountPath(kEgressClientCert)},
                        {"clientKey", mountPath(kEgressClientKey)}};
  nlohmann::json transport = {
      {"tcp",
       {{"url", fmt::format("https://{}", platform.tunnel_connect_address)}, {"tlsConfig", tls}}}};
  nlohmann::json config = {
      {"apiVersion", "apiserver.k8s.io/v1beta1"},
      {"kind", "EgressSelectorConfiguration"},
      {"egressSelections",
       {{{"name", "cluster"},
         {"connection", {{"proxyProtocol", "HTTPConnect"}, {"transport", transport}}}}}}};
  return toYaml(config);
}

Result<std::vector<ComponentSpec>> renderControlPlane(const api::Cluster& cluster,
                                                      const Platform& platform,
                                                      const Topology& topology) {
  const api::KubernetesRelease* release = nullptr;
  HERD_RETURN_IF_ERROR(checkCluster(cluster, &release));
  HERD_RETURN_IF_ERROR(checkPlatform(platform));
  HERD_RETURN_IF_ERROR(checkTopology(topology, cluster));
  Input in{cluster, platform, topology, release, std::string(release->patch)};
  // "1.32.4" asks for that patch release; "1.32" for the one the table runs.
  if (cluster.spec.version->size() > release->minor.size())
    in.kubernetes_version = *cluster.spec.version;

  std::vector<ComponentSpec> specs;
  for (auto render : {renderEtcd, renderApiServer, renderControllerManager, renderScheduler}) {
    HERD_ASSIGN_OR_RETURN(ComponentSpec spec, render(in));
    specs.push_back(std::move(spec));
  }
  return specs;
}

Result<std::vector<ComponentSpec>> renderControlPlane(const api::Cluster& cluster,
                                                      const Platform& platform) {
  return renderControlPlane(cluster, platform, kubernetesTopology(cluster));
}

nlohmann::json toJson(const ComponentSpec& s) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : s.files) {
    nlohmann::json j = {{"path", f.path}, {"mode", fmt::format("{:04o}", f.mode)}};
    if (!f.pki_file.empty()) j["pkiFile"] = f.pki_file;
    if (!f.content.empty()) j["content"] = f.content;
    files.push_back(std::move(j));
  }
  nlohmann::json ports = nlohmann::json::array();
  for (const auto& p : s.ports) {
    nlohmann::json j = {{"name", p.name}, {"port", p.port}};
    if (!p.port_env.empty()) j["portEnv"] = p.port_env;
    ports.push_back(std::move(j));
  }
  nlohmann::json volumes = nlohmann::json::array();
  for (const auto& v : s.volumes) {
    volumes.push_back({{"name", v.name}, {"mountPath", v.mount_path}, {"size", v.size}});
  }
  return {{"component", componentName(s.component)},
          {"name", s.name},
          {"binary", s.binary},
          {"image", s.image},
          {"version", s.version},
          {"args", s.args},
          {"files", files},
          {"env", s.env},
          {"ports", ports},
          {"startupProbe", probeJson(s.startup)},
          {"readinessProbe", probeJson(s.readiness)},
          {"livenessProbe", probeJson(s.liveness)},
          {"resources",
           {{"requests", quantitiesJson(s.resources.requests)},
            {"limits", quantitiesJson(s.resources.limits)}}},
          {"replicas", s.replicas},
          {"volumes", volumes},
          {"memberEnv", s.member_env},
          {"bootstrapEnv", s.bootstrap_env}};
}

nlohmann::json toJson(const std::vector<ComponentSpec>& specs) {
  nlohmann::json all = nlohmann::json::array();
  for (const auto& s : specs) all.push_back(toJson(s));
  return all;
}

std::string toJsonText(const std::vector<ComponentSpec>& specs) {
  return toJson(specs).dump(2) + "\n";
}

Result<std::vector<std::string>> expandMemberArgs(const ComponentSpec& spec,
                                                  std::string_view member) {
  const std::map<std::string, std::string>* env = nullptr;
  if (!spec.member_env.empty()) {
    auto it = spec.member_env.find(std::string(member));
    if (it == spec.member_env.end()) {
      return Status::invalid(fmt::format("{} has no member {}", spec.name, member));
    }
    env = &it->second;
  }
  std::vector<std::string> out;
  out.reserve(spec.args.size());
  for (const std::string& arg : spec.args) {
    std::string expanded;
    // One pass left to right: a value is never expanded again, so the loop ends.
    for (size_t i = 0; i < arg.size();) {
      size_t open = arg.find("$(", i);
      if (open == std::string::npos) {
        expanded.append(arg, i, std::string::npos);
        break;
      }
      expanded.append(arg, i, open - i);
      size_t close = arg.find(')', open + 2);
      if (close == std::string::npos) {
        return Status::invalid(fmt::format("{}: unterminated $( in {}", spec.name, arg));
      }
      std::string var = arg.substr(open + 2, close - open - 2);
      if (var == kMemberEnv) {
        expanded += member;
      } else if (env != nullptr && env->contains(var)) {
        expanded += env->at(var);
      } else {
        return Status::invalid(
            fmt::format("{}: {} refers to $({}), which member {} does not define", spec.name, arg,
                        var, member));
      }
      i = close + 1;
    }
    out.push_back(std::move(expanded));
  }
  return out;
}

}  // namespace herd::render
