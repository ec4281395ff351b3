// bench/provision: how long a tenant takes from `create` to Ready under `herd up`, and what
// herd adds to the start-up of the control plane's own binaries.
//
//   herd_provision_bench [--clusters 1,5] [--kube-bin DIR] [--apiserver-replicas N]
//                        [--timeout S] [--keep]
//
// For each size N: a fresh `herd up` (its own state directory, the gateway on any free port)
// gets N Clusters created at once, and the bench watches their conditions every 25 ms: the
// time from the create to PKIReady (the PKI, rendered and stored), then to EtcdReady (every
// member healthy), APIServerReady (every replica ready) and Ready (the rest: controller-
// manager, scheduler, the tenant's endpoints). Once all are Ready it takes the memory (RSS)
// of herd's own process (the controller and the gateway), of the seed's processes and of the
// tenants' processes, and reads every tenant process's command line, environment and working
// directory off /proc.
//
// The yardstick is the same binaries started by hand: herd is stopped, each etcd member's
// data directory emptied, and for every cluster at once the bench starts its etcd members
// with exactly those command lines, waits (polling every 20 ms) until each answers its health
// probe, then the apiservers, then the controller-managers and schedulers; the same order
// and the same probes as herd's. The certificates are the ones herd issued, so "by hand"
// has no PKI step: that is herd's own work, counted in its total. herd's overhead is the
// ratio of the two totals; the goals are an overhead of at most 1.2x and herd's own memory at
// most 5% of everything running.
//
// The Kubernetes binaries are HERD_KUBE_BIN's or --kube-bin's, else herd's stand-ins
// (build/kube-standins); etcd is Debian's. Exits 77 when they are not there.
#include <curl/curl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "common/process.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/herd_resources.h"

namespace {

using namespace herd;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using kube::json;

constexpr int kSkipped = 77;  // CTest's SKIP_RETURN_CODE
// The bench's own polling: fine enough not to blur phases that last a second or more.
constexpr auto kConditionPoll = 25ms;
constexpr auto kProbePoll = 20ms;

struct Options {
  std::vector<int> sizes{1, 5};
  std::string kube_bin;
  std::string herd = HERD_BINARY;
  int apiserver_replicas = 2;
  int timeout_s = 300;
  bool keep = false;
};

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// One GET, counted as the kubelet counts a probe: 200-399, certificates not verified.
bool probeOk(const std::string& url) {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return false;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION,
      +[](char*, size_t size, size_t count, void*) { return size * count; });
  if (curl_easy_perform(c) != CURLE_OK) return false;
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  return code >= 200 && code < 400;
}

// The NUL-separated strings of a /proc file (cmdline, environ).
std::vector<std::string> procStrings(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> out;
  for (std::string item; std::getline(in, item, '\0');) out.push_back(item);
  return out;
}

uint64_t rssKiB(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::stoull(line.substr(6));
  }
  return 0;
}

// The pid a supervisor's pid file records ("<pid> <start time>"), if that process is alive.
std::optional<pid_t> livePid(const std::string& pid_file) {
  auto text = files::read(pid_file);
  if (!text) return std::nullopt;
  pid_t pid = 0;
  std::istringstream(*text) >> pid;
  if (pid <= 0 || ::kill(pid, 0) != 0) return std::nullopt;
  return pid;
}

// Every member pid file under `root` (<root>/<cluster>/<member>/<member>.pid).
std::vector<std::filesystem::path> pidFiles(const std::string& root) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && it->path().extension() == ".pid") out.push_back(it->path());
  }
  return out;
}

// The value of "--flag=value" (or "--flag value") in argv; empty when absent.
std::string flagValue(const std::vector<std::string>& argv, std::string_view flag) {
  const std::string eq = std::string(flag) + "=";
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i].starts_with(eq)) return argv[i].substr(eq.size());
    if (argv[i] == flag && i + 1 < argv.size()) return argv[i + 1];
  }
  return "";
}

// The order in which a control plane comes up, and in which the bench times it.
enum class Stage { kEtcd, kApiServer, kRest };
constexpr Stage kStages[] = {Stage::kEtcd, Stage::kApiServer, Stage::kRest};

// One tenant process as herd ran it.
struct Member {
  std::string cluster;
  std::string name;  // "etcd-0", "kube-apiserver-1"
  Stage stage = Stage::kRest;
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string cwd;
  std::string probe_url;  // the readiness (else startup) probe herd renders for it
};

Stage stageOf(const std::string& member) {
  if (member.starts_with("etcd-")) return Stage::kEtcd;
  if (member.starts_with("kube-apiserver-")) return Stage::kApiServer;
  return Stage::kRest;
}

// etcd: /health on its metrics listener; kube-apiserver: /readyz, the others: /healthz, on
// the secure port.
std::string probeUrlOf(Stage stage, const std::vector<std::string>& argv) {
  if (stage == Stage::kEtcd) {
    std::string urls = flagValue(argv, "--listen-metrics-urls");
    return urls.substr(0, urls.find(',')) + "/health";
  }
  std::string host = flagValue(argv, "--bind-address");
  if (host.empty()) host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return fmt::format("https://{}:{}{}", host, flagValue(argv, "--secure-port"),
                     stage == Stage::kApiServer ? "/readyz" : "/healthz");
}

// When the bench first saw each condition True, in seconds after the create.
struct ClusterTimes {
  std::optional<double> pki, etcd, apiserver, ready;
};

struct Memory {
  uint64_t herd_kib = 0, seed_kib = 0, tenants_kib = 0;
  int seed_processes = 0, tenant_processes = 0;
};

struct HerdRun {
  std::map<std::string, ClusterTimes> clusters;
  double all_ready = 0;
  Memory memory;
  std::vector<Member> members;
};

// Per cluster, the seconds each stage took by hand (etcd, apiserver, rest).
struct HandRun {
  std::map<std::string, std::array<double, 3>> clusters;
  double all_ready = 0;
};

class Bench {
 public:
  Bench(Options options, std::string dir) : o_(std::move(options)), dir_(std::move(dir)) {}

  Result<std::pair<HerdRun, HandRun>> run(int size) {
    std::string state = fmt::format("{}/{}-clusters", dir_, size);
    HERD_ASSIGN_OR_RETURN(HerdRun herd, runHerd(size, state));
    HERD_ASSIGN_OR_RETURN(HandRun hand, runByHand(herd.members, state));
    return std::make_pair(std::move(herd), std::move(hand));
  }

 private:
  // herd up, measured, then stopped with Ctrl-C (its state kept for the run by hand); when
  // anything failed, `herd down` also stops what it may have left.
  Result<HerdRun> runHerd(int size, const std::string& state) {
    std::string log = state + "-up.log";
    ProcessOptions po;
    po.stdout_path = po.stderr_path = log;
    HERD_ASSIGN_OR_RETURN(
        Process up, Process::spawn({o_.herd, "up", "--state-dir", state, "--kube-bin", o_.kube_bin,
                                    "--gateway-port", "0", "--offline"},
                                   po));
    auto measured = measureHerd(size, state, log, up);
    if (!up.signal(SIGINT).isOk() || !up.waitFor(120s)) up.stop();
    if (!measured) (void)runCommand({o_.herd, "down", "--state-dir", state}, {}, 120s);
    return measured;
  }

  Result<HerdRun> measureHerd(int size, const std::string& state, const std::string& log,
                              Process& up) {
    auto deadline = Clock::now() + std::chrono::seconds(o_.timeout_s);
    while (files::read(log).valueOr("").find("herd is up") == std::string::npos) {
      if (!up.running() || Clock::now() > deadline)
        return Status::unavailable(fmt::format("herd up did not come up; see {}", log));
      std::this_thread::sleep_for(50ms);
    }
    HERD_ASSIGN_OR_RETURN(auto rest, kube::loadKubeconfig({state + "/kubeconfig", "", ""}));
    rest.user_agent = "herd-provision-bench";
    HERD_ASSIGN_OR_RETURN(auto seed, kube::Client::create(rest));

    HerdRun out;
    std::vector<std::string> names;
    for (int i = 0; i < size; ++i) names.push_back(fmt::format("bench-{}", i));
    const auto t0 = Clock::now();
    for (const auto& name : names) {
      json cluster = {{"apiVersion", "herd.io/v1alpha1"},
                      {"kind", "Cluster"},
                      {"metadata", {{"name", name}}},
                      {"spec",
                       {{"controlPlane",
                         {{"etcd", {{"replicas", 3}}},
                          {"apiServer", {{"replicas", o_.apiserver_replicas}}}}}}}};
      HERD_RETURN_IF_ERROR(seed->create(kube::clustersResource(), "", cluster).status());
      out.clusters[name];
    }
    size_t ready = 0;
    while (ready < names.size()) {
      if (Clock::now() > deadline)
        return Status::deadlineExceeded(fmt::format("{}/{} clusters Ready within {} s; see {}",
                                                    ready, size, o_.timeout_s, log));
      std::this_thread::sleep_for(kConditionPoll);
      auto list = seed->listAll(kube::clustersResource(), "");
      if (!list) continue;
      const double now = seconds(Clock::now() - t0);
      for (const auto& item : (*list)["items"]) {
        auto it = out.clusters.find(item["metadata"].value("name", ""));
        if (it == out.clusters.end()) continue;
        ClusterTimes& t = it->second;
        json conditions = item.value("status", json::object()).value("conditions", json::array());
        for (const auto& c : conditions) {
          if (c.value("status", "") != "True") continue;
          std::string type = c.value("type", "");
          std::optional<double>* slot = type == "PKIReady"         ? &t.pki
                                        : type == "EtcdReady"      ? &t.etcd
                                        : type == "APIServerReady" ? &t.apiserver
                                        : type == "Ready"          ? &t.ready
                                                                   : nullptr;
          if (slot != nullptr && !*slot) {
            *slot = now;
            if (slot == &t.ready) {
              ++ready;
              out.all_ready = now;
            }
          }
        }
      }
    }
    // A moment for the controller's last writes and the probes to settle.
    std::this_thread::sleep_for(2s);
    out.memory.herd_kib = rssKiB(up.pid());
    for (const auto& file : pidFiles(state + "/seed")) {
      if (auto pid = livePid(file.string())) {
        out.memory.seed_kib += rssKiB(*pid);
        ++out.memory.seed_processes;
      }
    }
    for (const auto& file : pidFiles(state + "/tenants")) {
      auto pid = livePid(file.string());
      if (!pid) continue;
      out.memory.tenants_kib += rssKiB(*pid);
      ++out.memory.tenant_processes;
      Member m;
      m.name = file.stem().string();
      m.cluster = file.parent_path().parent_path().filename().string();
      m.stage = stageOf(m.name);
      m.argv = procStrings(fmt::format("/proc/{}/cmdline", *pid));
      m.env = procStrings(fmt::format("/proc/{}/environ", *pid));
      m.cwd = file.parent_path().string();
      m.probe_url = probeUrlOf(m.stage, m.argv);
      out.members.push_back(std::move(m));
    }
    return out;
  }

  Result<HandRun> runByHand(const std::vector<Member>& members, const std::string& state) {
    std::map<std::string, std::vector<const Member*>> by_cluster;
    for (const auto& m : members) by_cluster[m.cluster].push_back(&m);
    // A fresh etcd cluster, as herd's was: the members bootstrap from --initial-cluster.
    for (const auto& m : members) {
      if (m.stage != Stage::kEtcd) continue;
      std::string data = flagValue(m.argv, "--data-dir");
      if (data.empty()) return Status::invalid(m.cluster + "/" + m.name + " has no --data-dir");
      HERD_RETURN_IF_ERROR(files::removeAll(data));
      HERD_RETURN_IF_ERROR(files::makeDirs(data, 0700));
    }
    HandRun out;
    std::mutex mu;
    std::vector<Status> errors;
    std::vector<Process> processes;  // kept until every cluster is up: they run side by side
    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(o_.timeout_s);
    auto startCluster = [&](const std::string& cluster, const std::vector<const Member*>& ms) {
      std::array<double, 3> took{};
      auto stage_start = Clock::now();
      for (Stage stage : kStages) {
        std::vector<const Member*> these;
        for (const Member* m : ms)
          if (m->stage == stage) these.push_back(m);
        for (const Member* m : these) {
          ProcessOptions po;
          po.env = m->env;
          po.cwd = m->cwd;
          po.stdout_path = po.stderr_path =
              fmt::format("{}-by-hand-{}-{}.log", state, cluster, m->name);
          auto p = Process::spawn(m->argv, po);
          std::lock_guard lock(mu);
          if (!p) {
            errors.push_back(p.status());
            return;
          }
          processes.push_back(std::move(*p));
        }
        for (const Member* m : these) {
          while (!probeOk(m->probe_url)) {
            if (Clock::now() > deadline) {
              std::lock_guard lock(mu);
              errors.push_back(Status::deadlineExceeded(
                  fmt::format("{}/{} never answered {}", cluster, m->name, m->probe_url)));
              return;
            }
            std::this_thread::sleep_for(kProbePoll);
          }
        }
        auto now = Clock::now();
        took[static_cast<size_t>(stage)] = seconds(now - stage_start);
        stage_start = now;
      }
      std::lock_guard lock(mu);
      out.clusters[cluster] = took;
      out.all_ready = std::max(out.all_ready, seconds(Clock::now() - t0));
    };
    std::vector<std::thread> threads;
    for (const auto& [cluster, ms] : by_cluster) threads.emplace_back(startCluster, cluster, ms);
    for (auto& t : threads) t.join();
    for (auto& p : processes) p.stop(10s);
    if (!errors.empty()) return errors.front();
    return out;
  }

  Options o_;
  std::string dir_;
};

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

double mib(uint64_t kib) {
  return static_cast<double>(kib) / 1024.0;
}

// One size's lines of the table, and whether its goals were met.
bool report(int size, const HerdRun& herd, const HandRun& hand) {
  std::vector<double> pki, etcd, api, rest, total;
  for (const auto& [name, t] : herd.clusters) {
    pki.push_back(t.pki.value_or(0));
    etcd.push_back(t.etcd.value_or(0) - t.pki.value_or(0));
    api.push_back(t.apiserver.value_or(0) - t.etcd.value_or(0));
    rest.push_back(t.ready.value_or(0) - t.apiserver.value_or(0));
    total.push_back(t.ready.value_or(0));
  }
  std::vector<double> h_etcd, h_api, h_rest, h_total;
  for (const auto& [name, took] : hand.clusters) {
    h_etcd.push_back(took[0]);
    h_api.push_back(took[1]);
    h_rest.push_back(took[2]);
    h_total.push_back(took[0] + took[1] + took[2]);
  }
  const double overhead = mean(h_total) > 0 ? mean(total) / mean(h_total) : 0;
  const double overhead_all = hand.all_ready > 0 ? herd.all_ready / hand.all_ready : 0;
  fmt::print("{:>8}  {:<8} {:>6.2f} {:>13.2f} {:>16.2f} {:>6.2f} {:>14.2f} {:>10.2f}\n", size,
             "herd", mean(pki), mean(etcd), mean(api), mean(rest), mean(total), herd.all_ready);
  fmt::print("{:>8}  {:<8} {:>6} {:>13.2f} {:>16.2f} {:>6.2f} {:>14.2f} {:>10.2f}\n", size,
             "by hand", "-", mean(h_etcd), mean(h_api), mean(h_rest), mean(h_total),
             hand.all_ready);
  fmt::print("{:>8}  {:<8} {:>6} {:>13.2f} {:>16.2f} {:>6.2f} {:>13.2f}x {:>9.2f}x\n", size,
             "ratio", "", mean(h_etcd) > 0 ? mean(etcd) / mean(h_etcd) : 0,
             mean(h_api) > 0 ? mean(api) / mean(h_api) : 0,
             mean(h_rest) > 0 ? mean(rest) / mean(h_rest) : 0, overhead, overhead_all);
  const Memory& m = herd.memory;
  const uint64_t all = m.herd_kib + m.seed_kib + m.tenants_kib;
  const double share = all > 0 ? 100.0 * static_cast<double>(m.herd_kib) / all : 0;
  fmt::print(
      "{:>8}  memory after Ready (RSS): herd {:.1f} MiB, seed {:.1f} MiB ({} processes), tenants "
      "{:.1f} MiB ({} processes); herd is {:.1f}% of the total\n",
      size, mib(m.herd_kib), mib(m.seed_kib), m.seed_processes, mib(m.tenants_kib),
      m.tenant_processes, share);
  const bool met = overhead_all <= 1.2 && share <= 5.0;
  fmt::print("{:>8}  goals: overhead {:.2f}x (<= 1.2x: {}), herd's memory {:.1f}% (<= 5%: {})\n",
             size, overhead_all, overhead_all <= 1.2 ? "met" : "MISSED", share,
             share <= 5.0 ? "met" : "MISSED");
  return met;
}

std::string defaultKubeBin() {
  if (const char* dir = std::getenv("HERD_KUBE_BIN"); dir != nullptr && *dir != '\0') return dir;
#ifdef HERD_STANDIN_DIR
  return HERD_STANDIN_DIR;
#else
  return "";
#endif
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.kube_bin = defaultKubeBin();
  CLI::App app{"create -> Ready under herd up, beside the same binaries started by hand"};
  app.add_option("--clusters", o.sizes, "Cluster counts to run, each at once (default 1,5)")
      ->delimiter(',');
  app.add_option("--kube-bin", o.kube_bin,
                 "kube-apiserver, kube-controller-manager and kube-scheduler (default "
                 "$HERD_KUBE_BIN, else the stand-ins)");
  app.add_option("--herd", o.herd, "The herd binary")->capture_default_str();
  app.add_option("--apiserver-replicas", o.apiserver_replicas, "Apiservers per cluster")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "Seconds each run may take")->capture_default_str();
  app.add_flag("--keep", o.keep, "Keep the state directories and logs");
  CLI11_PARSE(app, argc, argv);

  for (const char* binary : {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}) {
    if (o.kube_bin.empty() || ::access((o.kube_bin + "/" + binary).c_str(), X_OK) != 0) {
      fmt::print(stderr, "herd_provision_bench: no {} in \"{}\" (--kube-bin)\n", binary,
                 o.kube_bin);
      return kSkipped;
    }
  }
  if (!findExecutable("etcd")) {
    fmt::print(stderr, "herd_provision_bench: etcd is not installed\n");
    return kSkipped;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  auto dir = files::makeTempDir("herd-provision");
  if (!dir) {
    fmt::print(stderr, "herd_provision_bench: {}\n", dir.status().message());
    return 1;
  }
  fmt::print("provision: create -> Ready under herd up, beside the same binaries by hand\n");
  fmt::print(
      "kubernetes binaries: {}; each cluster 3 etcd members, {} apiservers, 2 "
      "controller-managers, 2 schedulers\n",
      o.kube_bin, o.apiserver_replicas);
  fmt::print("seconds; a phase is the mean over the clusters, 'all' until the last was Ready\n\n");
  fmt::print("{:>8}  {:<8} {:>6} {:>13} {:>16} {:>6} {:>14} {:>10}\n", "clusters", "run", "PKI",
             "etcd healthy", "apiserver ready", "rest", "create->Ready", "all");
  Bench bench(o, *dir);
  int failed = 0;
  bool all_met = true;
  for (int size : o.sizes) {
    auto result = bench.run(size);
    if (!result) {
      fmt::print(stderr, "herd_provision_bench: {} clusters: {}\n", size,
                 result.status().message());
      ++failed;
      continue;
    }
    all_met = report(size, result->first, result->second) && all_met;
  }
  if (o.keep || failed > 0) {
    fmt::print("\nstate and logs kept in {}\n", *dir);
  } else {
    (void)files::removeAll(*dir);
  }
  if (!all_met) fmt::print("\nsome goal was missed (see above)\n");
  return failed > 0 ? 1 : 0;
}
