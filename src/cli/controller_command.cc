// herd controller: keep every Cluster of the seed converged, until SIGTERM or SIGINT.
//
// Wires the pieces that src/controller deliberately does not know: the seed connection, the
// provider (the kubernetes provider: tenant control planes as workloads of the seed), the
// renderer with the platform's settings, leader election, and the operations endpoint.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <ostream>

#include "cli/app.h"
#include "cli/commands.h"
#include "cli/seed.h"
#include "common/files.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/net.h"
#include "common/ops_server.h"
#include "controller/controller.h"
#include "controller/status_page.h"
#include "gateway/config.h"
#include "kube/config.h"
#include "kube/herd_resources.h"
#include "provider/kubernetes/kubernetes_provider.h"
#include "render/render.h"

namespace herd::cli {
namespace {

struct ControllerFlags {
  SeedFlags seed;
  bool in_cluster = false;
  std::string provider = "kubernetes";
  int workers = 2;
  std::string bind_address = "127.0.0.1:8080";
  bool leader_elect = false;
  bool status_page = false;
  bool tenants_through_gateway = false;
  std::string lease_namespace;  // default: $POD_NAMESPACE, else herd-system
  std::string lease_name = "herd-controller";
  std::string lease_duration = "15s", renew_deadline = "10s", retry_period = "2s";
  std::string resync = "30s";
  render::Platform platform;
  std::string tunnel_ca_file;
  std::string gateway_ports = std::to_string(controller::GatewayPortRange{}.first) + "-" +
                              std::to_string(controller::GatewayPortRange{}.last);
};

std::string envOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::move(fallback);
}

// The Lease holder's name: the pod's name in the seed, else host and process.
std::string identity() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return envOr("POD_NAME", std::string(host) + "_" + std::to_string(::getpid()));
}

Result<controller::GatewayPortRange> parsePortRange(const std::string& text) {
  auto dash = text.find('-');
  auto bad = [&] {
    return Status::invalid("--gateway-ports: want MIN-MAX within 1-65535, got \"" + text + "\"");
  };
  if (dash == std::string::npos) return bad();
  int min = 0, max = 0;
  try {
    size_t used_min = 0, used_max = 0;
    min = std::stoi(text.substr(0, dash), &used_min);
    max = std::stoi(text.substr(dash + 1), &used_max);
    if (used_min != dash || used_max != text.size() - dash - 1) return bad();
  } catch (const std::exception&) {
    return bad();
  }
  if (min < 1 || max > 65535 || min > max) return bad();
  return controller::GatewayPortRange{min, max};
}

// Everything the flags say, checked before anything is dialled or started.
Result<controller::ControllerOptions> controllerOptions(const ControllerFlags& f) {
  if (f.provider != "kubernetes")
    return Status::invalid("--provider: \"" + f.provider +
                           "\" is not served by this command; the local provider runs under "
                           "'herd up'");
  if (f.workers < 1 || f.workers > 64) return Status::invalid("--workers: want 1 to 64");
  if (!net::IpAddress::parse(f.platform.gateway_address))
    return Status::invalid("--gateway-address: want an IP address (it becomes each tenant's "
                           "default/kubernetes endpoint), got \"" +
                           f.platform.gateway_address + "\"");
  if (auto bind = net::parseHostPort(f.bind_address, {.port_zero = true}); !bind)
    return bind.status().withContext("--metrics-addr");
  controller::ControllerOptions o;
  o.workers = f.workers;
  o.reconciler.platform = f.platform;
  if (!f.tunnel_ca_file.empty()) {
    auto pem = files::read(f.tunnel_ca_file);
    if (!pem) return pem.status().withContext("--tunnel-ca-file");
    o.reconciler.platform.tunnel_ca_bundle = std::move(*pem);
  }
  if (Status s = render::validatePlatform(o.reconciler.platform); !s.isOk())
    return s.withContext("the platform flags (--gateway-address, --tunnel-connect-address, "
                         "--tunnel-ca-file, --image-registry)");
  auto ports = parsePortRange(f.gateway_ports);
  if (!ports) return ports.status();
  auto resync = gateway::parseDuration(f.resync);
  if (!resync) return resync.status().withContext("--resync");
  o.resync = *resync;
  o.reconciler.gateway_ports = *ports;
  // The kubernetes provider's workloads: a change to one brings its Cluster back.
  o.owned_resources = {kube::statefulSetsResource(), kube::deploymentsResource()};
  if (f.leader_elect) {
    kube::LeaderElectionConfig election;
    election.ns = f.lease_namespace.empty() ? envOr("POD_NAMESPACE", "herd-system")
                                            : f.lease_namespace;
    election.name = f.lease_name;
    election.identity = identity();
    struct Timing {
      const char* flag;
      const std::string& text;
      std::chrono::milliseconds& value;
    };
    for (const Timing& t : {Timing{"--leader-election-lease-duration", f.lease_duration,
                                   election.lease_duration},
                            Timing{"--leader-election-renew-deadline", f.renew_deadline,
                                   election.renew_deadline},
                            Timing{"--leader-election-retry-period", f.retry_period,
                                   election.retry_period}}) {
      auto parsed = gateway::parseDuration(t.text);
      if (!parsed) return parsed.status().withContext(t.flag);
      t.value = *parsed;
    }
    if (!(election.retry_period < election.renew_deadline &&
          election.renew_deadline < election.lease_duration))
      return Status::invalid(
          "leader election: want retry period < renew deadline < lease duration");
    o.leader_election = std::move(election);
  }
  return o;
}

Result<std::unique_ptr<kube::Client>> connect(const ControllerFlags& f) {
  auto rest = f.in_cluster ? kube::inClusterConfig()
                           : kube::loadKubeconfig({f.seed.kubeconfig, f.seed.context, ""});
  if (!rest) return rest.status().withContext("connect to the seed");
  rest->user_agent = "herd-controller";
  return kube::Client::create(*rest);
}

int fail(Streams io, const Status& s) {
  io.err << "herd controller: " << s.message() << "\n";
  return kExitFailure;
}

int runController(const ControllerFlags& f, Streams io) {
  auto options = controllerOptions(f);
  if (!options) return fail(io, options.status());
  // Block the stop signals before any thread starts: every thread inherits the mask, and
  // shutdown runs on this thread after sigwait(), not in a handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto seed = connect(f);
  if (!seed) return fail(io, seed.status());
  metrics::Registry registry;
  options->metrics = &registry;

  provider::kubernetes::ProviderOptions provider_options;
  provider_options.storage_class = f.platform.storage_class;
  provider::kubernetes::KubernetesProvider provider(**seed, provider_options);
  controller::Renderer renderer = [platform = options->reconciler.platform](
                                      const api::Cluster& cluster) {
    return render::renderControlPlane(cluster, platform);
  };
  // In the seed, tenants' apiservers are reached at their Service (Provider::apiServerUrl).
  // A controller outside the seed's network reaches them as users do: at the gateway's TLS
  // port, with the tenant's public name as SNI (the admin kubeconfig's server name).
  controller::TenantClientFactory tenants = controller::defaultTenantClientFactory();
  if (f.tenants_through_gateway) {
    std::string gateway =
        "https://" + net::formatHostPort(f.platform.gateway_address,
                                         static_cast<uint16_t>(f.platform.gateway_tls_port));
    tenants = [gateway, inner = std::move(tenants)](const api::Cluster& cluster,
                                                    const pki::PkiFiles& files,
                                                    const std::string&) {
      return inner(cluster, files, gateway);
    };
  }
  controller::Controller controller(**seed, provider, std::move(renderer), std::move(*options),
                                    std::move(tenants));

  // Ready once the Cluster cache has synced: a standby replica is ready too (it serves its
  // metrics and takes over when the leader goes).
  ops::Handlers handlers;
  handlers.metrics = [&registry] { return registry.text(); };
  handlers.ready = [&controller] { return controller.waitForSync(std::chrono::milliseconds(0)); };
  if (f.status_page) controller::addStatusPages(handlers, **seed);
  auto ops = ops::startServer(f.bind_address, std::move(handlers));
  if (!ops) return fail(io, ops.status());

  if (Status s = controller.start(); !s.isOk()) return fail(io, s);
  log::root().info("controller started",
                   {{"provider", provider.name()},
                    {"workers", std::to_string(f.workers)},
                    {"leader_election", f.leader_elect ? "on" : "off"},
                    {"ops", net::formatHostPort(
                                net::parseHostPort(f.bind_address, {.port_zero = true})->host,
                                static_cast<uint16_t>((*ops)->port()))}});
  int received = 0;
  sigwait(&stop_signals, &received);
  log::root().info("stop signal received",
                   {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
  // Finishes the reconciles under way and, when leading, releases the Lease so that a standby
  // takes over at once.
  controller.stop();
  log::root().info("controller stopped");
  return kExitOk;
}

}  // namespace

void addControllerCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "controller",
      "Run the herd controller: every Cluster of the seed becomes a running tenant control "
      "plane (etcd, kube-apiserver, controller-manager, scheduler) and is kept converged; "
      "stops cleanly on SIGTERM");
  auto f = std::make_shared<ControllerFlags>();
  addSeedFlags(cmd, f->seed);
  cmd->add_flag("--in-cluster", f->in_cluster, "Reach the seed with the pod's service account");
  cmd->add_option("--provider", f->provider, "Where tenant control planes run: kubernetes")
      ->capture_default_str();
  cmd->add_option("--workers", f->workers, "Clusters reconciled at once")->capture_default_str();
  cmd->add_option("--resync", f->resync,
                  "How often a converged Cluster is looked at again, to bring what goes on "
                  "inside its tenant into status (0s: only on changes)")
      ->capture_default_str();
  cmd->add_option("--metrics-addr", f->bind_address,
                  "Serve /metrics, /healthz and /readyz here (ip:port; port 0: any)")
      ->capture_default_str();
  cmd->add_flag("--status-page", f->status_page,
                "Also serve a read-only status page of every cluster at /status/ on the "
                "--metrics-addr listener (off by default: it shows every tenant's state to "
                "whoever reaches that address)");
  cmd->add_flag("--leader-elect", f->leader_elect,
                "Reconcile only while holding the Lease, so that replicas can stand by");
  cmd->add_option("--leader-election-namespace", f->lease_namespace,
                  "Namespace of the Lease (default: $POD_NAMESPACE, else herd-system)");
  cmd->add_option("--leader-election-id", f->lease_name, "Name of the Lease")
      ->capture_default_str();
  cmd->add_option("--leader-election-lease-duration", f->lease_duration,
                  "How long standbys wait after the last renewal before taking over")
      ->capture_default_str();
  cmd->add_option("--leader-election-renew-deadline", f->renew_deadline,
                  "How long the leader keeps trying to renew before it stops leading")
      ->capture_default_str();
  cmd->add_option("--leader-election-retry-period", f->retry_period,
                  "How often candidates try to acquire or renew the Lease")
      ->capture_default_str();
  cmd->add_option("--base-domain", f->platform.base_domain,
                  "Tenants are served at https://<name>.<base-domain>")
      ->capture_default_str();
  cmd->add_option("--gateway-address", f->platform.gateway_address,
                  "IP address of herd's gateway, as nodes and in-cluster clients reach it")
      ->capture_default_str();
  cmd->add_option("--gateway-tls-port", f->platform.gateway_tls_port,
                  "The gateway's SNI-routed TLS port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--gateway-ports", f->gateway_ports,
                  "Range of the dedicated per-tenant gateway ports (MIN-MAX)")
      ->capture_default_str();
  cmd->add_flag("--tenants-through-gateway", f->tenants_through_gateway,
                "Reach tenant APIs through the gateway's TLS port by SNI rather than at their "
                "Service (for a controller outside the seed's network)");
  cmd->add_option("--tunnel-connect-address", f->platform.tunnel_connect_address,
                  "The gateway's CONNECT listener (host:port) that apiservers reach kubelets "
                  "through")
      ->required();
  cmd->add_option("--tunnel-ca-file", f->tunnel_ca_file,
                  "PEM of the CA that issued the CONNECT listener's certificate")
      ->required();
  cmd->add_option("--image-registry", f->platform.image_registry,
                  "Registry of the control-plane images (a mirror, for air-gapped seeds)")
      ->capture_default_str();
  cmd->add_option("--storage-class", f->platform.storage_class,
                  "StorageClass of etcd's volumes (default: the seed's default)");
  cmd->callback([f, io, &exit_code] { exit_code = runController(*f, io); });
}

}  // namespace herd::cli
