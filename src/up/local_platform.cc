#include "up/local_platform.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "api/crd.h"
#include "api/defaults.h"
#include "api/naming.h"
#include "api/versions.h"
#include "common/files.h"
#include "common/log.h"
#include "common/net.h"
#include "common/socket.h"
#include "common/yaml.h"
#include "common/ops_server.h"
#include "controller/controller.h"
#include "controller/status_page.h"
#include "gateway/gateway.h"
#include "gateway/seed_route_source.h"
#include "kube/config.h"
#include "kube/herd_resources.h"
#include "pki/tenant_pki.h"
#include "provider/local/local_provider.h"
#include "render/render.h"

namespace herd::up {
namespace {

using provider::local::LocalProvider;
using provider::local::LocalProviderOptions;
using Clock = std::chrono::steady_clock;

// Port ranges on the loopback address, apart so that they never meet: the seed's processes,
// the gateway's per-tenant ports, the tenants' processes.
constexpr provider::local::PortRange kSeedPorts{19000, 19199};
constexpr controller::GatewayPortRange kGatewayTenantPorts{17000, 17999};
constexpr provider::local::PortRange kTenantPorts{20000, 29999};

// The Kubernetes binaries of each release, found or fetched once.
class Binaries {
 public:
  explicit Binaries(provider::local::BinaryOptions options) : options_(std::move(options)) {}
  Result<std::string> operator()(const std::string& binary, const std::string& version) {
    std::lock_guard lock(mu_);
    if (binary == "etcd") return provider::local::findEtcd(options_);
    auto key = version + "/" + binary;
    if (auto it = paths_.find(key); it != paths_.end()) return it->second;
    HERD_ASSIGN_OR_RETURN(auto found, provider::local::ensureBinaries(version, {binary}, options_));
    paths_[key] = found.at(binary);
    return found.at(binary);
  }

 private:
  provider::local::BinaryOptions options_;
  std::mutex mu_;
  std::map<std::string, std::string> paths_;
};

// The pid file of a running `herd up`.
std::string pidPath(const std::string& state_dir) { return state_dir + "/up.pid"; }

bool isRunning(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

std::optional<pid_t> recordedPid(const std::string& state_dir) {
  auto text = files::read(pidPath(state_dir));
  if (!text) return std::nullopt;
  try {
    return static_cast<pid_t>(std::stol(*text));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

class Platform : public LocalPlatform {
 public:
  explicit Platform(UpOptions options)
      : options_(std::move(options)), binaries_(std::make_shared<Binaries>(options_.binaries)) {}
  ~Platform() override { stop(); }

  kube::Client& seed() override { return *seed_client_; }
  const std::string& kubeconfigPath() const override { return kubeconfig_; }
  int gatewayTlsPort() const override { return gateway_tls_port_; }

  Status start() {
    const std::string& state = options_.state_dir;
    HERD_RETURN_IF_ERROR(files::makeDirs(state, 0700));
    if (auto pid = recordedPid(state); pid && *pid != ::getpid() && isRunning(*pid))
      return Status::failedPrecondition(fmt::format(
          "herd up is running already (pid {}) with state {}: 'herd down' stops it", *pid, state));
    HERD_RETURN_IF_ERROR(files::writeAtomic(pidPath(state), fmt::format("{}\n", ::getpid()), 0600));
    HERD_RETURN_IF_ERROR(startSeed());
    HERD_RETURN_IF_ERROR(installCrd());
    HERD_RETURN_IF_ERROR(startGateway());
    HERD_RETURN_IF_ERROR(startController());
    HERD_RETURN_IF_ERROR(startStatusPage());
    say(fmt::format("herd is up: seed {}, gateway https://{}", seedUrl(),
                    net::formatHostPort(options_.address,
                                        static_cast<uint16_t>(gateway_tls_port_))));
    return Status::ok();
  }

  void stop() override {
    if (stopped_) return;
    stopped_ = true;
    ops_.reset();  // its pages read through the controller's seed client
    if (controller_) controller_->stop();
    controller_.reset();
    if (gateway_) gateway_->stop();
    gateway_.reset();
    if (tenants_) tenants_->stopAll();
    tenants_.reset();
    tenant_seed_client_.reset();
    if (seed_) seed_->stopAll();
    seed_.reset();
    ::unlink(pidPath(options_.state_dir).c_str());
  }

 private:
  void say(std::string_view line) {
    if (options_.progress) options_.progress(line);
  }

  render::Platform platform(int public_port) const {
    render::Platform p;
    p.base_domain = options_.base_domain;
    p.gateway_address = options_.address;
    p.gateway_tls_port = public_port;
    // The CONNECT listener of the node tunnels: not run by `herd up` yet; the apiservers'
    // egress selector names this address and verifies it with the seed's CA.
    p.tunnel_connect_address = net::formatHostPort(options_.address, 8132);
    p.tunnel_ca_bundle = seed_ca_;
    return p;
  }

  std::string seedUrl() const { return seed_url_; }

  // Applies every spec of the seed until each has rolled out, in order.
  Status startSeed() {
    seed_ = std::make_unique<LocalProvider>(localProviderOptions("seed", kSeedPorts));

    api::Cluster seed;
    seed.metadata.name = "seed";
    seed.spec.version = std::string(api::defaultRelease().minor);
    seed.spec.controlPlane.etcd.replicas = 1;
    seed.spec.controlPlane.apiServer.replicas = 1;
    seed.spec.controlPlane.controllerManager.replicas = 1;
    seed.spec.controlPlane.scheduler.replicas = 1;
    api::applyDefaults(seed, {options_.base_domain});
    HERD_RETURN_IF_ERROR(seed_->ensureTenant(seed));
    HERD_ASSIGN_OR_RETURN(pki::PkiFiles existing, seed_->loadCredentials(seed));
    HERD_ASSIGN_OR_RETURN(pki::PkiResult pki, pki::reconcilePki(seed, existing, {}));
    HERD_RETURN_IF_ERROR(seed_->storeCredentials(seed, pki.files));
    seed_ca_ = pki.files.at("pki/ca.crt").data;
    HERD_ASSIGN_OR_RETURN(render::Topology topology, seed_->topology(seed));
    HERD_ASSIGN_OR_RETURN(auto specs, render::renderControlPlane(seed, platform(443), topology));
    seed_url_ = seed_->apiServerUrl(seed);

    for (const auto& spec : specs) {
      // The seed schedules no pods: its scheduler would only wait for a Lease.
      if (spec.component == render::Component::kScheduler) continue;
      say(fmt::format("seed: starting {}", spec.name));
      auto deadline = Clock::now() + options_.seed_timeout;
      std::string last;
      while (true) {
        HERD_ASSIGN_OR_RETURN(auto state, seed_->applyComponent(seed, spec));
        if (state.rolled_out) break;
        if (state.message != last) {
          last = state.message;
          if (!last.empty()) say(fmt::format("seed: {}: {}", spec.name, last));
        }
        if (Clock::now() > deadline)
          return Status::deadlineExceeded(fmt::format(
              "the seed's {} did not become ready within {} s: {} (logs under {}/seed/seed/)",
              spec.name, options_.seed_timeout.count(), state.message, options_.state_dir));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      // The apiserver must serve before the controller-manager can lead.
      if (spec.component == render::Component::kApiServer) HERD_RETURN_IF_ERROR(writeKubeconfig(pki.files));
    }
    return Status::ok();
  }

  // A kubeconfig of the seed's PKI set pointed at the seed on loopback: admin.conf (and
  // herd.conf) name the public endpoint, and the seed's serving certificate names 127.0.0.1.
  Result<std::string> localKubeconfig(const pki::PkiFiles& files, const std::string& name) {
    std::string text = files.at(name).data;
    HERD_ASSIGN_OR_RETURN(auto parsed, kube::parseKubeconfig(text, "/"));
    HERD_ASSIGN_OR_RETURN(auto rest, kube::resolveContext(parsed, ""));
    for (size_t at = 0; (at = text.find(rest.server, at)) != std::string::npos;) {
      text.replace(at, rest.server.size(), seed_url_);
      at += seed_url_.size();
    }
    return text;
  }

  Result<std::unique_ptr<kube::Client>> seedClient(const std::string& kubeconfig,
                                                   const char* agent) {
    auto rest = kube::loadKubeconfig({kubeconfig, "", ""});
    if (!rest) return rest.status();
    rest->user_agent = agent;
    return kube::Client::create(*rest);
  }

  // herd's own clients use herd.conf (system:masters); the user gets admin.conf, whose group
  // herd binds to cluster-admin first, as kubeadm does.
  Status writeKubeconfig(const pki::PkiFiles& files) {
    HERD_ASSIGN_OR_RETURN(std::string herd_conf, localKubeconfig(files, "herd.conf"));
    herd_kubeconfig_ = options_.state_dir + "/seed/herd.conf";
    HERD_RETURN_IF_ERROR(files::writeAtomic(herd_kubeconfig_, herd_conf, 0600));
    HERD_ASSIGN_OR_RETURN(seed_client_, seedClient(herd_kubeconfig_, "herd-up"));
    HERD_ASSIGN_OR_RETURN(tenant_seed_client_, seedClient(herd_kubeconfig_, "herd-up"));
    HERD_ASSIGN_OR_RETURN(controller_seed_client_, seedClient(herd_kubeconfig_, "herd-controller"));
    auto deadline = Clock::now() + options_.seed_timeout;
    while (true) {
      auto ready = seed_client_->get(kube::namespacesResource(), "", "default");
      if (ready.isOk()) break;
      if (Clock::now() > deadline)
        return ready.status().withContext("the seed's kube-apiserver never became ready");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    nlohmann::json binding = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", "kubeadm:cluster-admins"}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "cluster-admin"}}},
        {"subjects", nlohmann::json::array({{{"apiGroup", "rbac.authorization.k8s.io"},
                                             {"kind", "Group"},
                                             {"name", "kubeadm:cluster-admins"}}})}};
    auto bound = seed_client_->patch({"rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                                      false, "ClusterRoleBinding"},
                                     "", "kubeadm:cluster-admins", kube::PatchType::kApply,
                                     binding.dump(), {"herd", true});
    if (!bound) return bound.status().withContext("bind kubeadm:cluster-admins in the seed");
    HERD_ASSIGN_OR_RETURN(std::string admin_conf, localKubeconfig(files, "admin.conf"));
    kubeconfig_ = seedKubeconfigPath(options_.state_dir);
    return files::writeAtomic(kubeconfig_, admin_conf, 0600);
  }

  Status installCrd() {
    HERD_ASSIGN_OR_RETURN(auto docs, parseDocuments(api::clusterCrdYaml()));
    auto created = seed_client_->create(kube::crdsResource(), "", docs.at(0));
    if (!created && created.status().code() != Code::kAlreadyExists)
      return created.status().withContext("install the Cluster CRD");
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!seed_client_->resourceFor("herd.io/v1alpha1", "Cluster").isOk()) {
      if (Clock::now() > deadline)
        return Status::deadlineExceeded("the seed never served the Cluster resource");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    say("seed: the Cluster resource is served");
    return Status::ok();
  }

  // A local provider keeping its processes under <state>/<subdir>, on `ports` of the address.
  LocalProviderOptions localProviderOptions(const std::string& subdir,
                                            provider::local::PortRange ports) const {
    LocalProviderOptions o;
    o.state_root = options_.state_dir + "/" + subdir;
    o.address = options_.address;
    o.ports = ports;
    o.binaries = [b = binaries_](const std::string& name, const std::string& version) {
      return (*b)(name, version);
    };
    return o;
  }

  // A port of the address nothing listens on now (the kernel's choice).
  Result<int> freePort() {
    HERD_ASSIGN_OR_RETURN(auto fd, net::listenTcp(net::formatHostPort(options_.address, 0), 1));
    return net::boundPort(fd.get());
  }

  // The gateway's listeners: the TLS port asked for, else the one the last run used (tenant
  // kubeconfigs name it), else a free one; HTTP and admin likewise.
  Status startGateway() {
    std::string ip = options_.address;
    std::string path = options_.state_dir + "/gateway.yaml";
    int tls = options_.gateway_port, http = 0, admin = 0;
    if (auto previous = gateway::loadGatewayConfig(path); previous.isOk()) {
      auto port = [](const std::string& listen) {
        auto hp = net::parseHostPort(listen);
        return hp ? static_cast<int>(hp->port) : 0;
      };
      if (tls == 0) tls = port(previous->tls_listen);
      http = port(previous->http_listen);
      admin = port(previous->admin_listen);
      // Another program may have taken one while herd was down: then a fresh one, said aloud
      // (for the TLS port, kubeconfigs follow on the next reconcile).
      for (int* p : {&tls, &http, &admin}) {
        if (*p == 0 || (p == &tls && options_.gateway_port != 0)) continue;
        if (net::listenTcp(net::formatHostPort(ip, static_cast<uint16_t>(*p)), 1).isOk()) continue;
        say(fmt::format("gateway: port {} of the last run is taken by another program, using "
                        "another one",
                        *p));
        *p = 0;
      }
    }
    for (int* p : {&tls, &http, &admin}) {
      if (*p != 0) continue;
      auto free = freePort();
      if (!free) return free.status().withContext("a port for the gateway");
      *p = *free;
    }
    std::string yaml = fmt::format(
        "listeners:\n  tls: \"{}\"\n  http: \"{}\"\n  admin: \"{}\"\nbaseDomain: {}\n",
        net::formatHostPort(ip, static_cast<uint16_t>(tls)),
        net::formatHostPort(ip, static_cast<uint16_t>(http)),
        net::formatHostPort(ip, static_cast<uint16_t>(admin)), options_.base_domain);
    HERD_RETURN_IF_ERROR(files::writeAtomic(path, yaml, 0600));
    HERD_ASSIGN_OR_RETURN(auto base, gateway::loadGatewayConfig(path));
    HERD_ASSIGN_OR_RETURN(auto client, seedClient(herd_kubeconfig_, "herd-gateway"));
    gateway::SeedRouteSourceOptions o;
    o.base = std::move(base);
    o.base_path = path;
    gateway_ = gateway::makeGateway(
        std::make_unique<gateway::SeedRouteSource>(std::move(client), std::move(o)));
    HERD_RETURN_IF_ERROR(gateway_->start().withContext("the gateway"));
    gateway_tls_port_ = gateway_->port(gateway::ListenerKind::kTls);
    say(fmt::format("gateway: TLS on {}", net::formatHostPort(
                                              ip, static_cast<uint16_t>(gateway_tls_port_))));
    return Status::ok();
  }

  Status startController() {
    LocalProviderOptions o = localProviderOptions("tenants", kTenantPorts);
    o.seed = tenant_seed_client_.get();
    tenants_ = std::make_unique<LocalProvider>(std::move(o));

    controller::ControllerOptions co;
    co.reconciler.platform = platform(gateway_tls_port_);
    co.reconciler.defaulting = {options_.base_domain};
    co.reconciler.gateway_ports = kGatewayTenantPorts;
    co.reconciler.pki.public_port = gateway_tls_port_;
    co.workers = 2;
    // A handful of clusters on one machine: their nodes and pods reach status within seconds.
    co.resync = std::chrono::seconds(5);
    // Nothing in the seed tells the controller that a local process became ready (a real seed
    // updates the workload's status), so it looks again soon: a few cheap calls on loopback.
    co.reconciler.poll = std::chrono::milliseconds(250);
    co.metrics = &registry_;
    LocalProvider* provider = tenants_.get();
    render::Platform p = co.reconciler.platform;
    controller::Renderer renderer =
        [provider, p](const api::Cluster& cluster) -> Result<std::vector<render::ComponentSpec>> {
      HERD_ASSIGN_OR_RETURN(render::Topology topology, provider->topology(cluster));
      return render::renderControlPlane(cluster, p, topology);
    };
    controller_ = std::make_unique<controller::Controller>(*controller_seed_client_, *tenants_,
                                                           std::move(renderer), std::move(co));
    HERD_RETURN_IF_ERROR(controller_->start());
    if (!controller_->waitForSync(std::chrono::seconds(30)))
      return Status::deadlineExceeded("the controller's Cluster cache never synced");
    say("controller: reconciling the seed's Clusters with the local provider");
    return Status::ok();
  }

  // The controller's operations listener: /metrics, /readyz and the status page, on the port
  // the last run used (a bookmark keeps working), else a free one.
  Status startStatusPage() {
    std::string path = options_.state_dir + "/status-port";
    int port = 0;
    if (auto previous = files::read(path); previous.isOk()) port = std::atoi(previous->c_str());
    if (port <= 0 || port > 65535) {
      HERD_ASSIGN_OR_RETURN(port, freePort());
    }
    HERD_RETURN_IF_ERROR(files::writeAtomic(path, fmt::format("{}\n", port), 0600));
    ops::Handlers handlers;
    handlers.metrics = [this] { return registry_.text(); };
    handlers.ready = [this] { return controller_->waitForSync(std::chrono::milliseconds(0)); };
    controller::addStatusPages(handlers, *controller_seed_client_);
    std::string listen = net::formatHostPort(options_.address, static_cast<uint16_t>(port));
    HERD_ASSIGN_OR_RETURN(ops_, ops::startServer(listen, std::move(handlers)));
    say(fmt::format("status page: http://{}/status/", listen));
    return Status::ok();
  }

  UpOptions options_;
  std::shared_ptr<Binaries> binaries_;
  std::unique_ptr<LocalProvider> seed_;
  std::unique_ptr<LocalProvider> tenants_;
  std::unique_ptr<kube::Client> seed_client_, tenant_seed_client_, controller_seed_client_;
  std::unique_ptr<gateway::Gateway> gateway_;
  metrics::Registry registry_;
  std::unique_ptr<controller::Controller> controller_;
  std::unique_ptr<ops::Server> ops_;
  std::string seed_ca_;
  std::string seed_url_;
  std::string kubeconfig_;
  std::string herd_kubeconfig_;
  int gateway_tls_port_ = 0;
  bool stopped_ = false;
};

}  // namespace

std::string defaultStateDir() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg == '/')
    return std::string(xdg) + "/herd";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/root") + "/.local/state/herd";
}

std::string seedKubeconfigPath(const std::string& state_dir) { return state_dir + "/kubeconfig"; }

Result<std::unique_ptr<LocalPlatform>> LocalPlatform::start(UpOptions options) {
  if (options.state_dir.empty()) options.state_dir = defaultStateDir();
  auto ip = net::IpAddress::parse(options.address);
  bool loopback = ip && (ip->isV4() ? options.address.starts_with("127.") : ip->toString() == "::1");
  if (!loopback)
    return Status::invalid("herd up listens on a loopback address only, got \"" +
                           options.address + "\"");
  auto platform = std::make_unique<Platform>(std::move(options));
  if (Status s = platform->start(); !s.isOk()) {
    platform->stop();
    return s;
  }
  return std::unique_ptr<LocalPlatform>(std::move(platform));
}

Status down(const std::string& state_dir, bool wipe, std::chrono::seconds timeout) {
  if (auto pid = recordedPid(state_dir); pid && isRunning(*pid)) {
    ::kill(*pid, SIGTERM);
    auto deadline = Clock::now() + timeout;
    while (isRunning(*pid)) {
      if (Clock::now() > deadline)
        return Status::deadlineExceeded(fmt::format("herd up (pid {}) did not stop", *pid));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Whatever a killed herd up left: every member's pid file.
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(state_dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && it->path().extension() == ".pid" &&
        it->path().filename() != "up.pid") {
      HERD_RETURN_IF_ERROR(provider::local::stopRecorded(it->path().string(), std::chrono::seconds(10)));
    }
  }
  if (wipe) return files::removeAll(state_dir);
  return Status::ok();
}

}  // namespace herd::up
