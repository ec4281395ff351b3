// herd gateway: serve the SNI and HTTP routers until SIGTERM or SIGINT, then drain.
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <ostream>

#include "cli/app.h"
#include "cli/commands.h"
#include "common/log.h"
#include "gateway/file_route_source.h"
#include "gateway/gateway.h"
#include "gateway/seed_route_source.h"
#include "kube/client.h"
#include "kube/config.h"

namespace herd::cli {
namespace {

struct GatewayOptions {
  std::string config;
  bool check = false;
  std::string seed_kubeconfig;
  std::string seed_context;
  bool in_cluster = false;
};

bool followsSeed(const GatewayOptions& o) {
  return o.in_cluster || !o.seed_kubeconfig.empty();
}

// The route source the flags ask for: the file alone, or the seed API with the file giving
// listeners, limits, timeouts and static routes (the file is followed in both cases).
Result<std::unique_ptr<gateway::RouteSource>> makeRouteSource(const GatewayOptions& o) {
  if (!followsSeed(o))
    return std::unique_ptr<gateway::RouteSource>(
        std::make_unique<gateway::FileRouteSource>(o.config));
  // Fail on a bad file before dialling the seed.
  auto base = gateway::loadGatewayConfig(o.config);
  if (!base) return base.status();
  auto rest = o.in_cluster ? kube::inClusterConfig()
                           : kube::loadKubeconfig({o.seed_kubeconfig, o.seed_context, ""});
  if (!rest) return rest.status().withContext("connect to the seed");
  rest->user_agent = "herd-gateway";
  auto client = kube::Client::create(*rest);
  if (!client) return client.status();
  gateway::SeedRouteSourceOptions options;
  options.base = std::move(*base);
  options.base_path = o.config;
  return std::unique_ptr<gateway::RouteSource>(
      std::make_unique<gateway::SeedRouteSource>(std::move(*client), std::move(options)));
}

int runGateway(const GatewayOptions& o, Streams io) {
  if (o.check) {
    auto config = gateway::loadGatewayConfig(o.config);
    if (!config) {
      io.err << "herd gateway: " << config.status().message() << "\n";
      return kExitFailure;
    }
    io.out << o.config << ": valid, " << config->tenants.size() << " tenants, "
           << config->http_routes.size() << " HTTP routes\n";
    return kExitOk;
  }
  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // only sigwait() below sees them: shutdown runs on this thread, not in a handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A peer that resets while we write must be an error code, not the end of the process.
  signal(SIGPIPE, SIG_IGN);

  auto source = makeRouteSource(o);
  if (!source) {
    io.err << "herd gateway: " << source.status().message() << "\n";
    return kExitFailure;
  }
  auto gw = gateway::makeGateway(std::move(*source));
  if (Status s = gw->start(); !s.isOk()) {
    io.err << "herd gateway: " << s.message() << "\n";
    return kExitFailure;
  }
  int received = 0;
  sigwait(&stop_signals, &received);
  log::root().info("stop signal received",
                   {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"}});
  gw->drain();
  log::root().info("gateway stopped");
  return kExitOk;
}

}  // namespace

void addGatewayCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "gateway",
      "Serve the shared gateway: TLS passthrough by SNI to each tenant's kube-apiserver and "
      "etcd, plain HTTP by Host; drains on SIGTERM");
  auto o = std::make_shared<GatewayOptions>();
  cmd->add_option("-c,--config", o->config, "Gateway configuration (YAML); reloaded on change")
      ->required();
  cmd->add_flag("--check", o->check, "Validate the configuration and exit");
  auto* seed = cmd->add_option("--seed-kubeconfig", o->seed_kubeconfig,
                               "Follow the seed API: routes from its Cluster objects and their "
                               "kube-apiserver and etcd EndpointSlices (--config then gives "
                               "listeners, limits and static routes)");
  cmd->add_option("--context", o->seed_context, "The kubeconfig context of the seed")->needs(seed);
  cmd->add_flag("--in-cluster", o->in_cluster, "Follow the seed API with the pod's service account")
      ->excludes(seed);
  cmd->callback([o, io, &exit_code] { exit_code = runGateway(*o, io); });
}

}  // namespace herd::cli
