// bench/controller: the herd controller converging many tenant clusters at once.
//
//   herd_controller_bench [--clusters N] [--baseline M] [--workers W] [--steady S]
//
// The controller runs in this process with the real renderer (render::renderControlPlane)
// and the kubernetes provider; the seed is the fake apiserver and the seed's workload
// controllers are the workload simulator, each in a process of its own, so that the peak RSS
// reported is the controller's alone. Each tenant's own API is a MemoryTenantApi (a thousand
// tenants cannot each run an apiserver here), all of them served from one more process
// (tenant_server.h) so that the tenants' objects do not count as the controller's memory.
//
// For each size (M, then N: default 100 and 1000) a fresh child process creates that many
// Clusters and measures: the time until every one is Ready, seconds per cluster, the
// controller's peak RSS, seed and tenant requests (and writes) per cluster until then, and a
// steady period after convergence in which every Cluster is reconciled once more and nothing
// else happens, whose writes should be zero. There is no other controller here to stand
// beside herd's, so the yardstick is herd itself at two sizes: the ratio of the per-cluster
// figures, which a controller that scales well keeps near 1.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "api/conditions.h"
#include "api/crd.h"
#include "common/files.h"
#include "common/log.h"
#include "common/process.h"
#include "common/yaml.h"
#include "controller/controller.h"
#include "kube/config.h"
#include "kube/herd_resources.h"
#include "tenant_server.h"
#include "provider/kubernetes/kubernetes_provider.h"
#include "render/render.h"

namespace {

using namespace herd;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using kube::json;

// Requests and writes (anything but GET) of every client that shares the counters; a watch
// counts as one request when it is opened.
struct RequestCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> writes{0};
  void count(const kube::HttpRequest& r) {
    requests.fetch_add(1, std::memory_order_relaxed);
    if (r.method != "GET") writes.fetch_add(1, std::memory_order_relaxed);
  }
};

class CountingTransport : public kube::Transport {
 public:
  CountingTransport(std::unique_ptr<kube::Transport> inner, RequestCounters& counters)
      : inner_(std::move(inner)), counters_(counters) {}
  Result<kube::HttpResponse> roundTrip(const kube::HttpRequest& r,
                                       std::chrono::milliseconds timeout) override {
    counters_.count(r);
    return inner_->roundTrip(r, timeout);
  }
  Result<std::unique_ptr<kube::ResponseStream>> openStream(
      const kube::HttpRequest& r, std::chrono::milliseconds timeout) override {
    counters_.count(r);
    return inner_->openStream(r, timeout);
  }
  const std::string& pathPrefix() const override { return inner_->pathPrefix(); }

 private:
  std::unique_ptr<kube::Transport> inner_;
  RequestCounters& counters_;
};

// A client of one tenant lives for one reconcile; its MemoryTenantApi lives for the run, in
// the tenant server's process.
class TenantTransport : public kube::Transport {
 public:
  TenantTransport(std::string tenant, bench::TenantServerClient& server, RequestCounters& counters)
      : tenant_(std::move(tenant)), server_(server), counters_(counters) {}
  Result<kube::HttpResponse> roundTrip(const kube::HttpRequest& r,
                                       std::chrono::milliseconds) override {
    counters_.count(r);
    return server_.roundTrip(tenant_, r);
  }
  Result<std::unique_ptr<kube::ResponseStream>> openStream(
      const kube::HttpRequest& r, std::chrono::milliseconds) override {
    counters_.count(r);
    return Status::unavailable(fmt::format("{} {}: the benchmark's tenants serve no watches",
                                           r.method, r.target));
  }
  const std::string& pathPrefix() const override { return prefix_; }

 private:
  std::string tenant_;
  bench::TenantServerClient& server_;
  RequestCounters& counters_;
  std::string prefix_;
};

// VmHWM (peak resident set) of a process, in KiB; 0 if unreadable.
long peakRssKb(const std::string& pid = "self") {
  std::ifstream status("/proc/" + pid + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// CPU seconds (user and system) a process has used so far; 0 if unreadable.
double cpuSeconds(const std::string& pid = "self") {
  std::ifstream stat("/proc/" + pid + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command may hold spaces: fields are counted from the ')' that ends it.
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The 1-minute load average: the machine may be shared, and the figures say so beside them.
double loadAverage() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  in >> load;
  return load;
}

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "herd_controller_bench: {}\n", what);
  std::exit(1);
}

bool waitFor(const std::function<bool()>& done, Clock::duration limit,
             Clock::duration step = 100ms) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(step);
  }
  return done();
}

// What one size measured; written by the child as NAME=VALUE lines, read by the parent.
struct Measured {
  std::map<std::string, double> values;
  double operator[](const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? 0 : it->second;
  }
  std::string text() const {
    std::string out;
    for (const auto& [k, v] : values) out += fmt::format("{}={}\n", k, v);
    return out;
  }
  static Measured parse(const std::string& text) {
    Measured m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq != std::string::npos) m.values[line.substr(0, eq)] = std::stod(line.substr(eq + 1));
    }
    return m;
  }
};

struct RunOptions {
  int clusters = 1000;
  int workers = 4;
  int steady_seconds = 30;
  int timeout_seconds = 3600;
};

// The number in the controller's gauge herd_controller_clusters{phase="Running"}: Clusters
// whose last reconcile converged (every condition, Ready included, True).
int runningClusters(const metrics::Registry& registry) {
  const std::string text = registry.text();
  const std::string_view key = "herd_controller_clusters{phase=\"Running\"} ";
  auto at = text.find(key);
  if (at == std::string::npos) return 0;
  return std::atoi(text.c_str() + at + key.size());
}

Measured runOne(const RunOptions& o) {
  log::configure(log::Level::kError, log::Format::kText);
  auto dir = files::makeTempDir("herd-bench-controller");
  if (!dir) die(dir.status().message());

  // The seed: the fake apiserver in its own process, with a watch history that outlasts the
  // run (a 410 Gone would add relists the controller does not normally make).
  std::string kubeconfig = *dir + "/admin.kubeconfig";
  ProcessOptions fake_out;
  fake_out.stderr_path = *dir + "/fake-apiserver.log";
  auto fake = Process::spawn({HERD_FAKE_APISERVER_BINARY, "--listen", "127.0.0.1:0",
                              "--kubeconfig-out", kubeconfig, "--watch-history", "1000000"},
                             fake_out);
  if (!fake) die("the fake apiserver did not start: " + fake.status().message());
  if (!waitFor([&] { return files::exists(kubeconfig); }, 60s, 20ms)) {
    die("the fake apiserver wrote no kubeconfig; see " + fake_out.stderr_path);
  }
  auto rc = kube::loadKubeconfig({kubeconfig, "", ""});
  if (!rc) die(rc.status().message());
  auto admin = kube::Client::create(*rc);
  if (!admin) die(admin.status().message());

  auto crd = parseDocuments(api::clusterCrdYaml());
  if (!crd || crd->size() != 1) die("the Cluster CRD does not parse");
  if (auto r = (*admin)->create(kube::crdsResource(), "", (*crd)[0]); !r) {
    die("install the Cluster CRD: " + r.status().message());
  }
  if (!waitFor([&] { return (*admin)->list(kube::clustersResource(), "").isOk(); }, 30s, 50ms)) {
    die("the Cluster resource was never served");
  }

  // The seed's StatefulSet and Deployment controllers, in their own process too.
  ProcessOptions sim_out;
  sim_out.stdout_path = *dir + "/simulator.out";
  sim_out.stderr_path = *dir + "/simulator.log";
  auto simulator =
      Process::spawn({HERD_WORKLOAD_SIMULATOR_BINARY, "--kubeconfig", kubeconfig}, sim_out);
  if (!simulator) die("the workload simulator did not start: " + simulator.status().message());
  if (!waitFor(
          [&] {
            auto out = files::read(sim_out.stdout_path);
            return out && out->find("simulating") != std::string::npos;
          },
          60s, 50ms)) {
    die("the workload simulator did not sync; see " + sim_out.stderr_path);
  }

  // The tenants' APIs, in a process of their own.
  const std::string tenant_socket = *dir + "/tenants.sock";
  ProcessOptions tenants_out;
  tenants_out.stderr_path = *dir + "/tenants.log";
  auto tenant_server =
      Process::spawn({"/proc/self/exe", "--tenant-server", tenant_socket}, tenants_out);
  if (!tenant_server) die("the tenant server did not start: " + tenant_server.status().message());
  if (!waitFor([&] { return files::exists(tenant_socket); }, 60s, 20ms)) {
    die("the tenant server made no socket; see " + tenants_out.stderr_path);
  }
  bench::TenantServerClient tenant_server_client(tenant_socket);

  RequestCounters seed_counters, tenant_counters;
  auto transport = kube::makeTransport(*rc);
  if (!transport) die(transport.status().message());
  kube::Client seed(std::make_unique<CountingTransport>(std::move(*transport), seed_counters), *rc,
                    kube::RetryPolicy{});

  controller::TenantClientFactory tenant_clients =
      [&](const api::Cluster& c, const pki::PkiFiles&,
          const std::string&) -> Result<std::unique_ptr<kube::Client>> {
    kube::RestConfig config;
    config.server = "https://" + c.metadata.name + ".tenant.invalid";
    return std::make_unique<kube::Client>(
        std::make_unique<TenantTransport>(c.metadata.name, tenant_server_client, tenant_counters),
        config, kube::RetryPolicy{});
  };

  provider::kubernetes::KubernetesProvider provider(seed, provider::kubernetes::ProviderOptions{});
  metrics::Registry registry;
  controller::ControllerOptions options;
  options.workers = o.workers;
  options.metrics = &registry;
  options.owned_resources = {kube::statefulSetsResource(), kube::deploymentsResource()};
  options.reconciler.platform.base_domain = "herd.bench";
  options.reconciler.platform.gateway_address = "192.0.2.30";
  options.reconciler.platform.tunnel_connect_address = "herd-gateway.herd-system.svc:8131";
  options.reconciler.platform.tunnel_ca_bundle =
      "-----BEGIN CERTIFICATE-----\nMIIBbenchca\n-----END CERTIFICATE-----\n";
  options.reconciler.defaulting.baseDomain = options.reconciler.platform.base_domain;
  const render::Platform platform = options.reconciler.platform;
  controller::Renderer renderer = [platform](const api::Cluster& c) {
    return render::renderControlPlane(c, platform);
  };
  auto controller = std::make_unique<controller::Controller>(seed, provider, std::move(renderer),
                                                             std::move(options), tenant_clients);
  if (auto s = controller->start(); !s) die(s.message());
  if (!controller->waitForSync(60s)) die("the controller's Cluster cache did not sync");

  // Converge: create every Cluster (through the test's own client: not counted), then wait
  // until the controller's last reconcile of each converged.
  std::vector<std::string> names;
  const double load_start = loadAverage();
  const double cpu0 = cpuSeconds();
  const double fake_cpu0 = cpuSeconds(std::to_string(fake->pid()));
  const double simulator_cpu0 = cpuSeconds(std::to_string(simulator->pid()));
  const double tenants_cpu0 = cpuSeconds(std::to_string(tenant_server->pid()));
  auto t0 = Clock::now();
  for (int i = 0; i < o.clusters; ++i) {
    names.push_back(fmt::format("c{:04}", i));
    json object = {
        {"apiVersion", "herd.io/v1alpha1"},
        {"kind", "Cluster"},
        {"metadata", {{"name", names.back()}}},
        {"spec",
         {{"version", "1.32"},
          {"controlPlane", {{"etcd", {{"replicas", 3}}}, {"apiServer", {{"replicas", 2}}}}}}}};
    if (auto r = (*admin)->create(kube::clustersResource(), "", object); !r) {
      die("create " + names.back() + ": " + r.status().message());
    }
  }
  // Building the gauge walks the controller's whole Cluster cache, and that is CPU of this
  // process too; so it is looked at every 1/50 of the time gone by (at least every 250 ms, at
  // most every 10 s): about fifty looks whatever the size, the converge time within 2%.
  // Progress on stderr at every tenth of the clusters.
  const int step = std::max(1, o.clusters / 10);
  int last_reported = -1;
  const auto deadline = t0 + std::chrono::seconds(o.timeout_seconds);
  bool converged = false;
  while (!converged && Clock::now() < deadline) {
    int running = runningClusters(registry);
    auto gone = Clock::now() - t0;
    if (last_reported < 0 || running / step != last_reported / step) {
      fmt::print(stderr, "  {:>5}/{} Ready after {:.0f} s\n", running, o.clusters,
                 std::chrono::duration<double>(gone).count());
      last_reported = running;
    }
    converged = running == o.clusters;
    if (!converged) {
      std::this_thread::sleep_for(std::clamp<Clock::duration>(gone / 50, 250ms, 10s));
    }
  }
  double converge_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!converged) {
    die(fmt::format("only {} of {} clusters were Ready after {} s", runningClusters(registry),
                    o.clusters, o.timeout_seconds));
  }
  // The events and status writes that follow the last condition change finish: quiet for 2 s.
  uint64_t last = seed_counters.writes.load();
  auto quiet_since = Clock::now();
  waitFor(
      [&] {
        uint64_t now = seed_counters.writes.load();
        if (now != last) {
          last = now;
          quiet_since = Clock::now();
        }
        return Clock::now() - quiet_since >= 2s;
      },
      120s, 100ms);

  Measured m;
  m.values["clusters"] = o.clusters;
  m.values["workers"] = o.workers;
  m.values["converge_s"] = converge_s;
  m.values["load_start"] = load_start;
  m.values["cpu_s"] = cpuSeconds() - cpu0;
  m.values["fake_cpu_s"] = cpuSeconds(std::to_string(fake->pid())) - fake_cpu0;
  m.values["simulator_cpu_s"] = cpuSeconds(std::to_string(simulator->pid())) - simulator_cpu0;
  m.values["tenants_cpu_s"] = cpuSeconds(std::to_string(tenant_server->pid())) - tenants_cpu0;
  m.values["seed_requests"] = static_cast<double>(seed_counters.requests.load());
  m.values["seed_writes"] = static_cast<double>(seed_counters.writes.load());
  m.values["tenant_requests"] = static_cast<double>(tenant_counters.requests.load());
  m.values["tenant_writes"] = static_cast<double>(tenant_counters.writes.load());
  m.values["reconciles"] = static_cast<double>(controller->reconcileCount());

  // Every Cluster Ready, as the seed says (one list, not counted).
  auto list = (*admin)->listAll(kube::clustersResource(), "");
  if (!list) die("list the Clusters: " + list.status().message());
  int ready = 0;
  for (const auto& c : (*list)["items"]) {
    for (const auto& cond : c.value("status", json::object()).value("conditions", json::array())) {
      if (cond.value("type", "") == api::condition::kReady && cond.value("status", "") == "True") {
        ++ready;
      }
    }
  }
  m.values["ready_in_seed"] = ready;

  // Steady state: every Cluster reconciled once more, then nothing but time.
  uint64_t requests0 = seed_counters.requests.load(), writes0 = seed_counters.writes.load();
  uint64_t tenant_requests0 = tenant_counters.requests.load();
  uint64_t tenant_writes0 = tenant_counters.writes.load();
  uint64_t reconciles0 = controller->reconcileCount();
  auto s0 = Clock::now();
  for (const auto& name : names) controller->enqueue(name);
  waitFor([&] { return controller->reconcileCount() >= reconciles0 + names.size(); },
          std::chrono::seconds(o.timeout_seconds), 50ms);
  m.values["steady_pass_s"] = std::chrono::duration<double>(Clock::now() - s0).count();
  auto rest = std::chrono::seconds(o.steady_seconds) - (Clock::now() - s0);
  if (rest > 0s) std::this_thread::sleep_for(rest);
  m.values["steady_s"] = std::chrono::duration<double>(Clock::now() - s0).count();
  m.values["steady_reconciles"] = static_cast<double>(controller->reconcileCount() - reconciles0);
  m.values["steady_seed_requests"] = static_cast<double>(seed_counters.requests.load() - requests0);
  m.values["steady_seed_writes"] = static_cast<double>(seed_counters.writes.load() - writes0);
  m.values["steady_tenant_requests"] =
      static_cast<double>(tenant_counters.requests.load() - tenant_requests0);
  m.values["steady_tenant_writes"] =
      static_cast<double>(tenant_counters.writes.load() - tenant_writes0);

  m.values["load_end"] = loadAverage();
  m.values["peak_rss_kb"] = static_cast<double>(peakRssKb());
  m.values["fake_peak_rss_kb"] = static_cast<double>(peakRssKb(std::to_string(fake->pid())));
  m.values["simulator_peak_rss_kb"] =
      static_cast<double>(peakRssKb(std::to_string(simulator->pid())));
  m.values["tenants_peak_rss_kb"] =
      static_cast<double>(peakRssKb(std::to_string(tenant_server->pid())));

  controller->stop();
  controller.reset();
  simulator->stop();
  tenant_server->stop();
  fake->stop();
  (void)files::removeAll(*dir);
  return m;
}

// Runs one size in a child process of this program (so that each size has its own heap and
// its own peak RSS) and reads back what it measured.
Measured runChild(const RunOptions& o, const std::string& results_path) {
  std::vector<std::string> argv = {"/proc/self/exe",
                                   "--clusters",
                                   std::to_string(o.clusters),
                                   "--workers",
                                   std::to_string(o.workers),
                                   "--steady",
                                   std::to_string(o.steady_seconds),
                                   "--timeout",
                                   std::to_string(o.timeout_seconds),
                                   "--results",
                                   results_path};
  ProcessOptions out;
  out.stderr_path = "/dev/stderr";
  auto child = Process::spawn(argv, out);
  if (!child) die("cannot run a child: " + child.status().message());
  auto code = child->waitFor(std::chrono::seconds(o.timeout_seconds * 2 + 600));
  if (!code) {
    child->stop();
    die(fmt::format("the run of {} clusters did not finish", o.clusters));
  }
  if (*code != 0) die(fmt::format("the run of {} clusters failed (exit {})", o.clusters, *code));
  auto text = files::read(results_path);
  if (!text) die("no results from the run of " + std::to_string(o.clusters) + " clusters");
  return Measured::parse(*text);
}

void printTable(const std::vector<Measured>& runs) {
  fmt::print(
      "\nherd controller: N Clusters (1.32, 3 etcd, 2 apiservers) from creation to Ready\n"
      "controller in this process (real renderer, kubernetes provider, {} workers); seed: the\n"
      "fake apiserver, its own process; seed workload controllers: the workload simulator,\n"
      "its own process; tenant APIs: in memory, in one more process. Peak RSS is the\n"
      "controller process's alone.\n"
      "{} CPUs; a load average above that means other work shared the machine.\n\n",
      static_cast<int>(runs.front()["workers"]), std::thread::hardware_concurrency());
  std::string header = fmt::format("{:<44}", "");
  for (const auto& r : runs)
    header += fmt::format("{:>16}", fmt::format("{:.0f} clusters", r["clusters"]));
  bool ratio = runs.size() == 2;
  if (ratio) header += fmt::format("{:>20}", "per-cluster ratio");
  fmt::print("{}\n", header);
  struct Row {
    const char* label;
    std::function<double(const Measured&)> value;
    const char* format;
    bool per_cluster;  // compared as a ratio between the sizes
  };
  auto per = [](const char* key) {
    return [key](const Measured& m) { return m[key] / std::max(1.0, m["clusters"]); };
  };
  auto raw = [](const char* key) { return [key](const Measured& m) { return m[key]; }; };
  std::vector<Row> rows = {
      {"load average (1 min) at start", raw("load_start"), "{:.2f}", false},
      {"load average (1 min) at end", raw("load_end"), "{:.2f}", false},
      {"converge: all Ready (s)", raw("converge_s"), "{:.1f}", false},
      {"seconds per cluster", per("converge_s"), "{:.3f}", true},
      {"controller CPU per cluster (ms)",
       [](const Measured& m) { return 1000 * m["cpu_s"] / std::max(1.0, m["clusters"]); }, "{:.1f}",
       true},
      {"fake apiserver CPU per cluster (ms, apart)",
       [](const Measured& m) { return 1000 * m["fake_cpu_s"] / std::max(1.0, m["clusters"]); },
       "{:.1f}", true},
      {"simulator CPU per cluster (ms, apart)",
       [](const Measured& m) { return 1000 * m["simulator_cpu_s"] / std::max(1.0, m["clusters"]); },
       "{:.1f}", true},
      {"tenant APIs CPU per cluster (ms, apart)",
       [](const Measured& m) { return 1000 * m["tenants_cpu_s"] / std::max(1.0, m["clusters"]); },
       "{:.1f}", true},
      {"clusters Ready (seed's view)", raw("ready_in_seed"), "{:.0f}", false},
      {"peak RSS, controller (MiB)", [](const Measured& m) { return m["peak_rss_kb"] / 1024; },
       "{:.1f}", false},
      {"peak RSS per cluster (KiB)", per("peak_rss_kb"), "{:.1f}", true},
      {"reconciles per cluster", per("reconciles"), "{:.1f}", true},
      {"seed requests per cluster", per("seed_requests"), "{:.1f}", true},
      {"  of which writes", per("seed_writes"), "{:.1f}", true},
      {"tenant requests per cluster", per("tenant_requests"), "{:.1f}", true},
      {"  of which writes", per("tenant_writes"), "{:.1f}", true},
      {"steady: period, the pass included (s)", raw("steady_s"), "{:.0f}", false},
      {"steady: reconciles (one pass)", raw("steady_reconciles"), "{:.0f}", false},
      {"steady: pass over all clusters (s)", raw("steady_pass_s"), "{:.2f}", false},
      {"steady: seed reads per reconcile",
       [](const Measured& m) {
         return (m["steady_seed_requests"] - m["steady_seed_writes"]) /
                std::max(1.0, m["steady_reconciles"]);
       },
       "{:.1f}", true},
      {"steady: seed writes", raw("steady_seed_writes"), "{:.0f}", false},
      {"steady: tenant requests per reconcile",
       [](const Measured& m) {
         return m["steady_tenant_requests"] / std::max(1.0, m["steady_reconciles"]);
       },
       "{:.1f}", true},
      {"steady: tenant writes", raw("steady_tenant_writes"), "{:.0f}", false},
      {"peak RSS, fake apiserver (MiB, apart)",
       [](const Measured& m) { return m["fake_peak_rss_kb"] / 1024; }, "{:.1f}", false},
      {"peak RSS, simulator (MiB, apart)",
       [](const Measured& m) { return m["simulator_peak_rss_kb"] / 1024; }, "{:.1f}", false},
      {"peak RSS, tenant APIs (MiB, apart)",
       [](const Measured& m) { return m["tenants_peak_rss_kb"] / 1024; }, "{:.1f}", false},
  };
  for (const auto& row : rows) {
    std::string line = fmt::format("{:<44}", row.label);
    for (const auto& r : runs)
      line += fmt::format("{:>16}", fmt::format(fmt::runtime(row.format), row.value(r)));
    if (ratio && row.per_cluster) {
      double a = row.value(runs[0]), b = row.value(runs[1]);
      line += a > 0 ? fmt::format("{:>20.2f}", b / a) : fmt::format("{:>20}", "-");
    }
    fmt::print("{}\n", line);
  }
  if (ratio) {
    fmt::print(
        "\nper-cluster ratio: the {:.0f}-cluster figure over the {:.0f}-cluster one; 1.00 is "
        "flat (no cost grows with the number of clusters).\n",
        runs[1]["clusters"], runs[0]["clusters"]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"herd controller benchmark: N clusters to Ready against the fake apiserver"};
  RunOptions o;
  int baseline = 100;
  std::string results, tenant_server;
  app.add_option("--clusters", o.clusters, "clusters to create (default 1000)");
  app.add_option("--baseline", baseline,
                 "a smaller size run first, for the scaling ratio (default 100; only if below "
                 "--clusters; 0 for none)");
  app.add_option("--workers", o.workers, "controller workers (default 4)");
  app.add_option("--steady", o.steady_seconds, "seconds of steady state after convergence");
  app.add_option("--timeout", o.timeout_seconds, "give up converging after this many seconds");
  app.add_option("--results", results, "run one size here and write its figures to this file");
  app.add_option("--tenant-server", tenant_server,
                 "serve the tenants' APIs on this Unix socket (the run's own child process)");
  CLI11_PARSE(app, argc, argv);
  if (!tenant_server.empty()) return bench::serveTenants(tenant_server);
  if (o.clusters < 1) die("--clusters must be at least 1");

  if (!results.empty()) {
    Measured m = runOne(o);
    if (auto s = files::writeAtomic(results, m.text()); !s) die(s.message());
    return 0;
  }
  auto dir = files::makeTempDir("herd-bench-controller-results");
  if (!dir) die(dir.status().message());
  std::vector<int> sizes;
  if (baseline > 0 && baseline < o.clusters) sizes.push_back(baseline);
  sizes.push_back(o.clusters);
  std::vector<Measured> runs;
  for (int size : sizes) {
    fmt::print(stderr, "running {} clusters...\n", size);
    RunOptions one = o;
    one.clusters = size;
    runs.push_back(runChild(one, fmt::format("{}/{}.results", *dir, size)));
  }
  (void)files::removeAll(*dir);
  printTable(runs);
  for (const auto& r : runs) {
    if (r["ready_in_seed"] != r["clusters"] || r["steady_seed_writes"] != 0 ||
        r["steady_tenant_writes"] != 0) {
      fmt::print("\nFAIL: a run left clusters not Ready, or wrote in steady state\n");
      return 1;
    }
  }
  return 0;
}
