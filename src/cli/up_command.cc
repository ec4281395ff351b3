// herd up / herd down: the whole platform on this machine (up/local_platform.h).
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <ostream>
#include <thread>

#include "api/conditions.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "cli/seed.h"
#include "common/log.h"
#include "up/local_platform.h"

namespace herd::cli {
namespace {

struct UpFlags {
  std::string state_dir;
  std::string kube_bin;
  std::string address = "127.0.0.1";
  int gateway_port = 8443;
  bool demo = false;
  bool offline = false;
};

// Shows the demo cluster's conditions as they change, until Ready or a stop signal.
void followDemo(kube::Client& seed, Streams io, const sigset_t& stop_signals) {
  nlohmann::json object = {{"apiVersion", "herd.io/v1alpha1"},
                           {"kind", "Cluster"},
                           {"metadata", {{"name", "demo"}}},
                           {"spec", nlohmann::json::object()}};
  auto created = seed.create(clustersResource(), "", object);
  if (!created && created.status().code() != Code::kAlreadyExists) {
    io.err << "herd up: create cluster demo: " << created.status().message() << "\n";
    return;
  }
  io.out << "cluster demo: created\n";
  std::string shown;
  for (;;) {
    timespec tick{0, 500'000'000};
    sigset_t pending;
    sigpending(&pending);
    for (int sig : {SIGINT, SIGTERM})
      if (sigismember(&stop_signals, sig) && sigismember(&pending, sig)) return;
    nanosleep(&tick, nullptr);
    auto got = seed.get(clustersResource(), "", "demo");
    if (!got) continue;
    const auto status = got->value("status", nlohmann::json::object());
    std::string line = "cluster demo: " + status.value("phase", std::string("Pending"));
    bool ready = false;
    for (const auto& c : status.value("conditions", nlohmann::json::array())) {
      if (c.value("type", "") == api::condition::kReady) {
        ready = c.value("status", "") == "True";
        line += " (" + c.value("reason", std::string()) + ": " + c.value("message", std::string()) + ")";
      }
    }
    if (line != shown) {
      io.out << line << "\n" << std::flush;
      shown = line;
    }
    if (ready) {
      io.out << "\ncluster demo is Ready. Reach it with:\n"
             << "  herd kubeconfig demo > demo.conf && kubectl --kubeconfig demo.conf get ns\n"
             << std::flush;
      return;
    }
  }
}

int runUp(const UpFlags& f, Streams io) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  up::UpOptions o;
  o.state_dir = f.state_dir.empty() ? up::defaultStateDir() : f.state_dir;
  o.address = f.address;
  o.gateway_port = f.gateway_port;
  o.binaries = provider::local::binaryOptionsFromEnvironment();
  if (!f.kube_bin.empty()) o.binaries.kube_bin_dir = f.kube_bin;
  o.binaries.allow_download = !f.offline;
  o.binaries.progress = [&io, last = std::string()](const std::string& name, uint64_t done,
                                                     uint64_t total) mutable {
    std::string line =
        total > 0 ? fmt::format("downloading {}: {}%", name, done * 100 / total)
                  : fmt::format("downloading {}: {} MiB", name, done >> 20);
    if (line != last) io.out << "\r" << line << std::flush;
    last = line;
    if (total > 0 && done == total) io.out << "\n";
  };
  o.progress = [&io](std::string_view line) { io.out << line << "\n" << std::flush; };
  auto platform = up::LocalPlatform::start(std::move(o));
  if (!platform) {
    io.err << "herd up: " << platform.status().message() << "\n";
    return kExitFailure;
  }
  io.out << "seed kubeconfig: " << (*platform)->kubeconfigPath() << "\n"
         << "  herd get clusters            (finds it with no flags)\n"
         << "  export KUBECONFIG=" << (*platform)->kubeconfigPath() << "   (for kubectl)\n"
         << "Ctrl-C stops everything; the next 'herd up' brings every cluster back.\n"
         << std::flush;
  if (f.demo) followDemo((*platform)->seed(), io, stop_signals);
  int received = 0;
  sigwait(&stop_signals, &received);
  io.out << "stopping...\n" << std::flush;
  (*platform)->stop();
  io.out << "stopped; state kept\n";
  return kExitOk;
}

}  // namespace

void addUpCommands(CLI::App& app, Streams io, int& exit_code) {
  auto* up = app.add_subcommand(
      "up",
      "Run herd on this machine: a seed API, the controller with the local provider and the "
      "gateway, all on loopback; Ctrl-C stops it, state persists");
  auto f = std::make_shared<UpFlags>();
  up->add_option("--state-dir", f->state_dir, "Where herd keeps its state (default: " +
                                                  up::defaultStateDir() + ")");
  up->add_option("--kube-bin", f->kube_bin,
                 "Directory holding kube-apiserver, kube-controller-manager and kube-scheduler "
                 "(default: $HERD_KUBE_BIN, else the cache, else a download from dl.k8s.io)");
  up->add_flag("--offline", f->offline, "Never download: use --kube-bin or the cache");
  up->add_option("--address", f->address, "Loopback address of every listener")
      ->capture_default_str();
  up->add_option("--gateway-port", f->gateway_port, "The gateway's TLS port (0: any free one)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  up->add_flag("--demo", f->demo, "Also create cluster demo and show its progress until Ready");
  up->callback([f, io, &exit_code] { exit_code = runUp(*f, io); });

  auto* down = app.add_subcommand("down", "Stop a running 'herd up' (and anything it left)");
  auto state = std::make_shared<std::string>();
  auto wipe = std::make_shared<bool>(false);
  down->add_option("--state-dir", *state, "The state directory of 'herd up'");
  down->add_flag("--wipe", *wipe, "Also delete the state: every cluster, its data and its PKI");
  down->callback([state, wipe, io, &exit_code] {
    std::string dir = state->empty() ? up::defaultStateDir() : *state;
    Status s = up::down(dir, *wipe, std::chrono::seconds(90));
    if (!s.isOk()) {
      io.err << "herd down: " << s.message() << "\n";
      exit_code = kExitFailure;
      return;
    }
    io.out << (*wipe ? "stopped; state wiped\n" : "stopped; state kept in " + dir + "\n");
    exit_code = kExitOk;
  });
}

}  // namespace herd::cli
