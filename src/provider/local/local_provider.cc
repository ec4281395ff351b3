#include "provider/local/local_provider.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "api/naming.h"
#include "common/files.h"
#include "common/log.h"
#include "kube/herd_resources.h"
#include "provider/kubernetes/credentials.h"
#include "render/mounts.h"
#include "render/render.h"

namespace herd::provider::local {
namespace {

constexpr std::string_view kDigestFile = "spec.sha256";

std::string sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", digest[i]);
  return out;
}

std::string memberName(const render::ComponentSpec& spec, int index) {
  return fmt::format("{}-{}", spec.name, index);
}

// Where a path of the pod's filesystem lives for a member: below its directory.
std::string hostPath(const std::string& member_dir, std::string_view pod_path) {
  return member_dir + std::string(pod_path);
}

// The directories of the pod's filesystem that the member's directory stands in for: every
// volume's mount, kubeadm's /etc/kubernetes, and the directory of every file; longest first,
// so that a nested root is rewritten before the one holding it.
std::vector<std::string> podRoots(const render::ComponentSpec& spec) {
  std::vector<std::string> roots{std::string(render::kKubernetesDir)};
  for (const auto& v : spec.volumes) roots.push_back(v.mount_path);
  for (const auto& f : spec.files) {
    roots.push_back(std::filesystem::path(f.path).parent_path().string());
  }
  std::sort(roots.begin(), roots.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  return roots;
}

// Rewrites each pod path in an argument ("--tls-cert-file=/etc/kubernetes/pki/x.crt",
// "--etcd-servers=...", "--data-dir=/var/lib/etcd") to the member's directory. A pod path
// starts the argument's value or follows a ',' and is a root itself or continues with '/'.
std::string rewriteArg(const std::string& arg, const std::vector<std::string>& roots,
                       const std::string& member_dir) {
  size_t value = arg.starts_with("--") ? arg.find('=') : std::string::npos;
  size_t start = value == std::string::npos ? 0 : value + 1;
  std::string out = arg.substr(0, start);
  while (start <= arg.size()) {
    size_t end = arg.find(',', start);
    if (end == std::string::npos) end = arg.size();
    std::string_view item(arg.data() + start, end - start);
    for (const auto& root : roots) {
      if (item.starts_with(root) && (item.size() == root.size() || item[root.size()] == '/')) {
        out += member_dir;
        break;
      }
    }
    out.append(item);
    if (end == arg.size()) break;
    out += ',';
    start = end + 1;
  }
  return out;
}

// The same for the pod paths inside a rendered configuration file (the egress selector's
// certificate paths): a root followed by '/' where a YAML value starts.
std::string rewriteContent(const std::string& content, const std::vector<std::string>& roots,
                           const std::string& member_dir) {
  std::string out;
  for (size_t i = 0; i < content.size();) {
    bool at_value = i == 0 || std::string_view(" \t\n\"':=").find(content[i - 1]) !=
                                  std::string_view::npos;
    bool matched = false;
    if (at_value && content[i] == '/') {
      for (const auto& root : roots) {
        if (content.compare(i, root.size() + 1, root + "/") == 0) {
          out += member_dir;
          out += root;
          i += root.size();
          matched = true;
          break;
        }
      }
    }
    if (!matched) out += content[i++];
  }
  return out;
}

std::optional<HttpProbe> httpProbe(const std::optional<render::ProbeSpec>& probe,
                                   const std::map<std::string, std::string>& member_env,
                                   const std::string& address) {
  if (!probe) return std::nullopt;
  HttpProbe out;
  out.https = probe->scheme == render::ProbeSpec::Scheme::kHttps;
  out.host = address;
  out.port = probe->port;
  if (!probe->port_env.empty()) {
    auto it = member_env.find(probe->port_env);
    if (it != member_env.end()) out.port = std::stoi(it->second);
  }
  out.path = probe->path;
  // The pod's probe, asked more often: on one machine a second is cheap, and `herd up`
  // shows readiness as it happens rather than a kubelet period later.
  out.period = std::chrono::seconds(std::clamp(probe->period_seconds, 1, 2));
  out.timeout = std::chrono::seconds(std::max(1, probe->timeout_seconds));
  out.failure_threshold = std::max(1, probe->failure_threshold);
  return out;
}

// Writes `data` to `path` with `mode` unless it holds exactly that already.
Status writeIfChanged(const std::string& path, const std::string& data, unsigned mode) {
  if (auto old = files::read(path); old.isOk() && *old == data) {
    std::error_code ec;
    auto perms = std::filesystem::status(path, ec).permissions();
    if (!ec && static_cast<unsigned>(perms) == mode) return Status::ok();
  }
  HERD_RETURN_IF_ERROR(files::makeDirs(std::filesystem::path(path).parent_path().string(), 0700));
  return files::writeAtomic(path, data, static_cast<mode_t>(mode));
}

// One member as it should run.
struct Desired {
  std::string member;
  std::string dir;
  ProcessSpec process;
  std::string digest;            // of everything it runs with but its bootstrap settings
  std::string bootstrap_digest;  // of those (ComponentSpec::bootstrap_env)
  bool has_data = true;          // false: a stateful member whose data directory is empty
  // What the member's digest file and running_ hold.
  std::string record() const { return digest + " " + bootstrap_digest; }
};

// The two digests of a record (Desired::record); a record of an older herd has no bootstrap one.
std::pair<std::string, std::string> splitRecord(std::string_view record) {
  while (!record.empty() && record.back() == '\n') record.remove_suffix(1);
  size_t space = record.find(' ');
  if (space == std::string_view::npos) return {std::string(record), ""};
  return {std::string(record.substr(0, space)), std::string(record.substr(space + 1))};
}

// Whether an etcd member has data of its own: a write-ahead log, which etcd writes before it
// first joins and which nothing but its data's loss takes away.
bool etcdHasData(const std::string& member_dir) {
  std::error_code ec;
  std::string wal = hostPath(member_dir, render::kEtcdDataDir) + "/member/wal";
  for (const auto& entry : std::filesystem::directory_iterator(wal, ec)) {
    if (entry.path().extension() == ".wal") return true;
  }
  return false;
}

}  // namespace

std::string processName(const std::string& cluster, const std::string& member) {
  return cluster + "/" + member;
}

LocalProvider::LocalProvider(LocalProviderOptions options)
    : options_(std::move(options)), supervisor_(options_.supervisor) {}

LocalProvider::~LocalProvider() = default;

Result<TenantState*> LocalProvider::tenant(const std::string& cluster) {
  auto it = tenants_.find(cluster);
  if (it == tenants_.end()) {
    HERD_ASSIGN_OR_RETURN(auto state, TenantState::open(options_.state_root, cluster));
    // Once per herd run, before any port is handed out: a port that another program took
    // while herd was down must not carry this tenant's traffic to it.
    auto ours = [&state](const std::string& member) {
      return recordedProcessRunning(fmt::format("{}/{}/{}.pid", state.dir(), member, member));
    };
    HERD_ASSIGN_OR_RETURN(auto taken, state.releaseTakenPorts(options_.address, ours));
    for (const auto& [what, port] : taken.released) {
      log::forCluster(cluster).warn("a port of the tenant is taken by another program: "
                                    "the member moves to a new one",
                                    {{"port", what}, {"was", port}});
    }
    for (const auto& [what, port] : taken.kept) {
      log::forCluster(cluster).warn("an etcd peer port is taken by another program: the member "
                                    "cannot start until it is free (its cluster records it)",
                                    {{"port", what}, {"number", port}});
    }
    it = tenants_.emplace(cluster, std::move(state)).first;
  }
  return &it->second;
}

Status LocalProvider::ensureTenant(const api::Cluster& cluster) {
  std::lock_guard lock(mu_);
  HERD_RETURN_IF_ERROR(tenant(cluster.metadata.name).status());
  if (options_.seed == nullptr) return Status::ok();
  std::string ns = api::tenantNamespace(cluster);
  if (options_.seed->get(kube::namespacesResource(), "", ns).isOk()) return Status::ok();
  nlohmann::json object = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata", {{"name", ns}, {"labels", {{"herd.io/cluster", cluster.metadata.name}}}}}};
  auto created = options_.seed->create(kube::namespacesResource(), "", object);
  if (!created && created.status().code() != Code::kAlreadyExists)
    return created.status().withContext("the tenant's namespace in the seed");
  return Status::ok();
}

Status LocalProvider::publish(const api::Cluster& cluster, const render::ComponentSpec& spec,
                              const std::vector<bool>& ready) {
  const char* service = nullptr;
  const char* port_name = nullptr;
  const char* port_env = nullptr;
  if (spec.component == render::Component::kEtcd) {
    service = api::kEtcdServiceName.data();
    port_name = "client";
    port_env = "HERD_ETCD_CLIENT_PORT";
  } else if (spec.component == render::Component::kApiServer) {
    service = api::kApiServerServiceName.data();
    port_name = "https";
    port_env = "HERD_SECURE_PORT";
  } else {
    return Status::ok();
  }
  const std::string ns = api::tenantNamespace(cluster);
  const kube::ResourceRef slices = kube::endpointSlicesResource();
  std::set<std::string> wanted;
  for (int i = 0; i < spec.replicas; ++i) {
    std::string member = memberName(spec, i);
    auto env = spec.member_env.find(member);
    if (env == spec.member_env.end() || !env->second.contains(port_env)) continue;
    int port = std::stoi(env->second.at(port_env));
    nlohmann::json slice = {
        {"apiVersion", "discovery.k8s.io/v1"},
        {"kind", "EndpointSlice"},
        {"metadata",
         {{"name", member},
          {"namespace", ns},
          {"labels",
           {{"kubernetes.io/service-name", service},
            {"endpointslice.kubernetes.io/managed-by", "herd.io/local-provider"},
            {"herd.io/cluster", cluster.metadata.name}}}}},
        {"addressType", options_.address.find(':') == std::string::npos ? "IPv4" : "IPv6"},
        {"endpoints",
         nlohmann::json::array({{{"addresses", nlohmann::json::array({options_.address})},
                                 {"conditions", {{"ready", static_cast<bool>(ready[i])}}}}})},
        {"ports", nlohmann::json::array({{{"name", port_name}, {"port", port},
                                          {"protocol", "TCP"}}})}};
    std::string key = ns + "/" + member;
    wanted.insert(key);
    if (auto it = published_.find(key); it != published_.end() && it->second == slice) continue;
    auto applied = options_.seed->patch(slices, ns, member, kube::PatchType::kApply, slice.dump(),
                                        {"herd", true});
    if (!applied) return applied.status().withContext("publish " + member + " to the seed");
    published_[key] = std::move(slice);
  }
  const std::string prefix = ns + "/" + spec.name + "-";
  for (auto it = published_.begin(); it != published_.end();) {
    if (it->first.starts_with(prefix) && !wanted.contains(it->first)) {
      auto removed = options_.seed->remove(slices, ns, it->first.substr(ns.size() + 1));
      if (!removed && removed.status().code() != Code::kNotFound) return removed.status();
      it = published_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::ok();
}

Result<pki::PkiFiles> LocalProvider::loadCredentials(const api::Cluster& cluster) {
  std::lock_guard lock(mu_);
  HERD_ASSIGN_OR_RETURN(TenantState * state, tenant(cluster.metadata.name));
  return state->loadCredentials();
}

Status LocalProvider::storeCredentials(const api::Cluster& cluster, const pki::PkiFiles& files) {
  std::lock_guard lock(mu_);
  HERD_ASSIGN_OR_RETURN(TenantState * state, tenant(cluster.metadata.name));
  HERD_RETURN_IF_ERROR(state->storeCredentials(files));
  if (options_.seed == nullptr) return Status::ok();
  // The same Secrets the kubernetes provider keeps, so that `herd kubeconfig` and
  // `herd join-command` read a local tenant as they read any other.
  HERD_ASSIGN_OR_RETURN(auto secrets, provider::kubernetes::credentialSecrets(cluster, files));
  for (const auto& secret : secrets) {
    std::string ns = secret["metadata"].value("namespace", "");
    std::string name = secret["metadata"].value("name", "");
    std::string key = ns + "/secret/" + name;
    if (auto it = published_.find(key); it != published_.end() && it->second == secret) continue;
    auto applied = options_.seed->patch(kube::secretsResource(), ns, name, kube::PatchType::kApply,
                                        secret.dump(), {"herd", true});
    if (!applied) return applied.status().withContext("store " + name + " in the seed");
    published_[key] = secret;
  }
  return Status::ok();
}

Result<render::Topology> LocalProvider::topology(const api::Cluster& cluster) {
  std::lock_guard lock(mu_);
  HERD_ASSIGN_OR_RETURN(TenantState * state, tenant(cluster.metadata.name));
  const auto& cp = cluster.spec.controlPlane;
  const std::string& ip = options_.address;
  auto port = [&](const std::string& member, std::string_view what) -> Result<int> {
    return state->port(fmt::format("{}.{}", member, what), ip, options_.ports);
  };
  render::Topology t;
  t.etcd_listen_host = ip;
  t.etcd_advertise_host = ip;
  t.etcd_client = {0, "HERD_ETCD_CLIENT_PORT"};
  t.etcd_peer = {0, "HERD_ETCD_PEER_PORT"};
  t.etcd_metrics = {0, "HERD_ETCD_METRICS_PORT"};
  for (int i = 0; i < render::etcdTopologySize(cluster); ++i) {
    std::string member = api::etcdMemberName(i);
    HERD_ASSIGN_OR_RETURN(int client, port(member, "client"));
    HERD_ASSIGN_OR_RETURN(int peer, port(member, "peer"));
    HERD_ASSIGN_OR_RETURN(int metrics, port(member, "metrics"));
    if (i == 0) {
      t.etcd_client.port = client;
      t.etcd_peer.port = peer;
      t.etcd_metrics.port = metrics;
    }
    t.etcd_members.push_back({member, fmt::format("https://{}:{}", ip, client),
                              fmt::format("https://{}:{}", ip, peer)});
    t.etcd_member_env[member] = {{"HERD_ETCD_CLIENT_PORT", std::to_string(client)},
                                 {"HERD_ETCD_PEER_PORT", std::to_string(peer)},
                                 {"HERD_ETCD_METRICS_PORT", std::to_string(metrics)}};
  }
  struct Stateless {
    std::string_view name;
    int replicas;
    std::string& bind;
    render::ListenPort& listen;
    render::MemberEnv& env;
  };
  for (Stateless s :
       {Stateless{"kube-apiserver", cp.apiServer.replicas.value_or(1), t.apiserver_bind_address,
                  t.apiserver_port, t.apiserver_member_env},
        Stateless{"kube-controller-manager", cp.controllerManager.replicas.value_or(1),
                  t.controller_manager_bind_address, t.controller_manager_port,
                  t.controller_manager_member_env},
        Stateless{"kube-scheduler", cp.scheduler.replicas.value_or(1), t.scheduler_bind_address,
                  t.scheduler_port, t.scheduler_member_env}}) {
    s.bind = ip;
    s.listen = {0, "HERD_SECURE_PORT"};
    for (int i = 0; i < s.replicas; ++i) {
      std::string member = fmt::format("{}-{}", s.name, i);
      HERD_ASSIGN_OR_RETURN(int secure, port(member, "secure"));
      if (i == 0) s.listen.port = secure;
      s.env[member] = {{"HERD_SECURE_PORT", std::to_string(secure)}};
    }
  }
  return t;
}

std::string LocalProvider::apiServerUrl(const api::Cluster& cluster) const {
  std::lock_guard lock(mu_);
  auto it = tenants_.find(cluster.metadata.name);
  if (it == tenants_.end()) return "";
  auto port = it->second.ports().find("kube-apiserver-0.secure");
  if (port == it->second.ports().end()) return "";
  return fmt::format("https://{}:{}", options_.address, port->second);
}

Result<std::vector<EtcdEndpoint>> LocalProvider::etcdEndpoints(const api::Cluster& cluster) {
  HERD_ASSIGN_OR_RETURN(render::Topology t, topology(cluster));
  std::lock_guard lock(mu_);
  HERD_ASSIGN_OR_RETURN(TenantState * state, tenant(cluster.metadata.name));
  std::vector<EtcdEndpoint> out;
  for (const auto& m : t.etcd_members) {
    HERD_ASSIGN_OR_RETURN(std::string dir, state->memberDir(m.name));
    out.push_back({m.name, m.client_url, m.peer_url, !etcdHasData(dir)});
  }
  return out;
}

Result<ComponentState> LocalProvider::applyComponent(const api::Cluster& cluster,
                                                     const render::ComponentSpec& spec) {
  std::lock_guard lock(mu_);
  return apply(cluster, spec);
}

Result<ComponentState> LocalProvider::apply(const api::Cluster& cluster,
                                            const render::ComponentSpec& spec) {
  const std::string& name = cluster.metadata.name;
  HERD_ASSIGN_OR_RETURN(TenantState * state, tenant(name));
  HERD_ASSIGN_OR_RETURN(pki::PkiFiles pki, state->loadCredentials());
  auto api_port = state->ports().find("kube-apiserver-0.secure");
  if (api_port == state->ports().end())
    return Status::failedPrecondition("the tenant's ports are not allocated: render it first");
  // The control-plane kubeconfigs name the in-seed Service; here the first apiserver is on
  // loopback, which its serving certificate also names.
  const std::string in_seed = api::internalApiServerUrl(cluster);
  const std::string local = fmt::format("https://{}:{}", options_.address, api_port->second);
  HERD_ASSIGN_OR_RETURN(std::string binary, options_.binaries(spec.binary, spec.version));
  const auto roots = podRoots(spec);

  std::vector<Desired> desired;
  for (int i = 0; i < spec.replicas; ++i) {
    Desired d;
    d.member = memberName(spec, i);
    HERD_ASSIGN_OR_RETURN(d.dir, state->memberDir(d.member));
    HERD_ASSIGN_OR_RETURN(auto args, render::expandMemberArgs(spec, d.member));
    std::string fingerprint;
    d.process.argv = {binary};
    for (const auto& a : args) d.process.argv.push_back(rewriteArg(a, roots, d.dir));
    for (const auto& a : d.process.argv) fingerprint += a + '\0';
    std::map<std::string, std::string> member_env;
    if (auto it = spec.member_env.find(d.member); it != spec.member_env.end()) member_env = it->second;
    for (const auto& [k, v] : spec.env) d.process.env.push_back(k + "=" + v);
    d.process.env.push_back(fmt::format("{}={}", render::kMemberEnv, d.member));
    for (const auto& e : d.process.env) fingerprint += e + '\0';
    std::string bootstrap;
    if (auto it = spec.bootstrap_env.find(d.member); it != spec.bootstrap_env.end()) {
      for (const auto& [k, v] : it->second) {
        d.process.env.push_back(k + "=" + v);
        bootstrap += k + "=" + v + '\0';
      }
    }
    d.bootstrap_digest = sha256Hex(bootstrap);
    for (const auto& f : spec.files) {
      std::string data = rewriteContent(f.content, roots, d.dir);
      if (!f.pki_file.empty()) {
        auto it = pki.find(f.pki_file);
        if (it == pki.end())
          return Status::failedPrecondition(
              fmt::format("{}: the tenant's credentials hold no {}", d.member, f.pki_file));
        data = it->second.data;
        if (f.pki_file.ends_with(".conf")) {
          for (size_t at = 0; (at = data.find(in_seed, at)) != std::string::npos;) {
            data.replace(at, in_seed.size(), local);
            at += local.size();
          }
        }
      }
      HERD_RETURN_IF_ERROR(writeIfChanged(hostPath(d.dir, f.path), data, f.mode));
      fingerprint += f.path + '\0' + data + '\0' + std::to_string(f.mode) + '\0';
    }
    for (const auto& v : spec.volumes) {
      HERD_RETURN_IF_ERROR(files::makeDirs(hostPath(d.dir, v.mount_path), 0700));
    }
    d.process.name = processName(name, d.member);
    d.process.log_path = fmt::format("{}/{}.log", d.dir, d.member);
    d.process.pid_path = fmt::format("{}/{}.pid", d.dir, d.member);
    d.process.cwd = d.dir;
    d.process.readiness = httpProbe(spec.readiness ? spec.readiness : spec.startup, member_env,
                                    options_.address);
    d.process.liveness = httpProbe(spec.liveness, member_env, options_.address);
    d.digest = sha256Hex(fingerprint);
    if (spec.component == render::Component::kEtcd) d.has_data = etcdHasData(d.dir);
    desired.push_back(std::move(d));
  }

  // Members beyond the replica count go, with their directories.
  const std::string prefix = processName(name, spec.name + "-");
  for (auto it = running_.begin(); it != running_.end();) {
    bool wanted = std::any_of(desired.begin(), desired.end(),
                              [&](const Desired& d) { return d.process.name == it->first; });
    if (it->first.starts_with(prefix) && !wanted) {
      std::string member = it->first.substr(name.size() + 1);
      if (Status s = supervisor_.remove(it->first); !s.isOk() && s.code() != Code::kNotFound)
        return s;
      HERD_ASSIGN_OR_RETURN(std::string dir, state->memberDir(member));
      HERD_RETURN_IF_ERROR(files::removeAll(dir));
      it = running_.erase(it);
    } else {
      ++it;
    }
  }

  auto record = [&](const Desired& d) -> Status {
    running_[d.process.name] = d.record();
    return files::writeAtomic(d.dir + "/" + std::string(kDigestFile), d.record() + "\n", 0600);
  };
  auto updated = [&](const Desired& d) {
    return splitRecord(running_[d.process.name]).first == d.digest;
  };
  auto isReady = [&](const Desired& d) {
    auto s = supervisor_.status(d.process.name);
    return s && s->ready;
  };
  for (const auto& d : desired) {
    if (running_.contains(d.process.name)) continue;
    // Not supervised by this herd: the process a previous herd left runs this very spec
    // (adopted), or it runs another and is stopped first, so that a member never runs twice.
    auto recorded = files::read(d.dir + "/" + std::string(kDigestFile));
    if (!recorded || splitRecord(*recorded).first != d.digest) {
      HERD_RETURN_IF_ERROR(stopRecorded(d.process.pid_path, options_.supervisor.grace));
    }
    HERD_RETURN_IF_ERROR(supervisor_.add(d.process));
    HERD_RETURN_IF_ERROR(record(d));
  }
  // New bootstrap settings alone: a member with data ignores them, so it keeps running and
  // only a restart would see them; a member without data starts afresh with them (it serves
  // nothing, so this waits for no one).
  for (const auto& d : desired) {
    auto [digest, bootstrap] = splitRecord(running_[d.process.name]);
    if (digest != d.digest || bootstrap == d.bootstrap_digest) continue;
    if (d.has_data) {
      HERD_RETURN_IF_ERROR(supervisor_.setEnv(d.process.name, d.process.env));
    } else {
      log::forCluster(name).info("restarting a member without data", {{"member", d.member}});
      HERD_RETURN_IF_ERROR(supervisor_.remove(d.process.name));
      HERD_RETURN_IF_ERROR(supervisor_.add(d.process));
    }
    HERD_RETURN_IF_ERROR(record(d));
  }
  // One outdated member at a time, and only while every other member is ready: a member just
  // replaced is not ready until its probe passes, so the next waits for it.
  for (const auto& d : desired) {
    if (updated(d)) continue;
    bool others_fine = std::all_of(desired.begin(), desired.end(),
                                   [&](const Desired& o) { return &o == &d || isReady(o); });
    if (!others_fine) break;
    log::forCluster(name).info("replacing a member", {{"member", d.member}});
    HERD_RETURN_IF_ERROR(supervisor_.remove(d.process.name));
    HERD_RETURN_IF_ERROR(supervisor_.add(d.process));
    HERD_RETURN_IF_ERROR(record(d));
    break;
  }

  ComponentState out;
  out.replicas = spec.replicas;
  std::vector<std::string> waiting;
  std::vector<bool> readiness;
  for (const auto& d : desired) {
    bool ready = isReady(d);
    readiness.push_back(ready);
    bool current = updated(d);
    out.ready_replicas += ready ? 1 : 0;
    out.updated_replicas += current ? 1 : 0;
    if (!ready || !current) {
      auto s = supervisor_.status(d.process.name);
      std::string why = !current ? "outdated" : "not ready";
      if (s && s->restarts > 0)
        why += fmt::format(", {} restarts, last {}", s->restarts, s->last_exit);
      waiting.push_back(fmt::format("{} ({})", d.member, why));
    }
  }
  out.rolled_out = out.ready_replicas == out.replicas && out.updated_replicas == out.replicas;
  if (options_.seed != nullptr) HERD_RETURN_IF_ERROR(publish(cluster, spec, readiness));
  if (!waiting.empty()) out.message = fmt::format("waiting for {}", fmt::join(waiting, ", "));
  return out;
}

Result<bool> LocalProvider::removeTenant(const api::Cluster& cluster) {
  std::lock_guard lock(mu_);
  const std::string& name = cluster.metadata.name;
  HERD_ASSIGN_OR_RETURN(TenantState * state, tenant(name));
  const std::string prefix = name + "/";
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->first.starts_with(prefix)) {
      if (Status s = supervisor_.remove(it->first); !s.isOk() && s.code() != Code::kNotFound)
        return s;
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  // Processes a previous herd left and this one never supervised: their pid files.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state->dir(), ec)) {
    if (!entry.is_directory()) continue;
    std::string member = entry.path().filename().string();
    HERD_RETURN_IF_ERROR(stopRecorded(entry.path().string() + "/" + member + ".pid",
                                      options_.supervisor.grace));
  }
  HERD_RETURN_IF_ERROR(state->remove());
  tenants_.erase(name);
  if (options_.seed != nullptr) {
    std::string ns = api::tenantNamespace(cluster);
    for (auto it = published_.begin(); it != published_.end();) {
      if (!it->first.starts_with(ns + "/")) {
        ++it;
        continue;
      }
      if (it->first.starts_with(ns + "/secret/")) {  // they go with the namespace
        it = published_.erase(it);
        continue;
      }
      auto removed =
          options_.seed->remove(kube::endpointSlicesResource(), ns, it->first.substr(ns.size() + 1));
      if (!removed && removed.status().code() != Code::kNotFound) return removed.status();
      it = published_.erase(it);
    }
    auto gone = options_.seed->remove(kube::namespacesResource(), "", ns);
    if (!gone && gone.status().code() != Code::kNotFound) return gone.status();
    // Done once the seed has let the namespace go.
    return gone.status().code() == Code::kNotFound;
  }
  return true;
}

std::vector<ProcessStatus> LocalProvider::processes() const { return supervisor_.statuses(); }

void LocalProvider::stopAll() {
  std::lock_guard lock(mu_);
  supervisor_.stopAll();
  running_.clear();
}

}  // namespace herd::provider::local
