// bench/informer: how fast herd's informer fills its cache and decodes a watch stream,
// beside kubectl consuming the same data from the same server in the same run.
//
//   herd_bench_informer [--objects N] [--events N]
//
// Against the fake apiserver (its own process, 127.0.0.1). Prints one table:
//   list N objects into the cache: wall time and peak RSS growth (herd) vs `kubectl get -o json`
//   decode M watch events replayed by the server: events/s (herd) vs `kubectl get --watch -o json`
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "common/files.h"
#include "common/process.h"
#include "kube/informer.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace herd;

// Peak resident set of this process so far, in KiB.
long peakRssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// Runs a command to completion; its wall time and peak RSS (KiB, from wait4's rusage).
struct Run {
  double seconds = 0;
  long max_rss_kb = 0;
  std::string out;
};

Run timed(const std::vector<std::string>& argv, const std::string& out_path) {
  ProcessOptions o;
  o.stdout_path = out_path;
  auto t0 = Clock::now();
  auto p = Process::spawn(argv, o);
  if (!p) {
    fmt::print(stderr, "cannot run {}: {}\n", argv[0], p.status().message());
    std::exit(1);
  }
  int status = 0;
  rusage ru{};
  ::wait4(p->pid(), &status, 0, &ru);
  Run r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.max_rss_kb = ru.ru_maxrss;
  return r;
}

// Counts a pattern in a file that another process is still appending to, reading only what
// is new at each poll (a pattern split across two reads is kept by carrying a tail).
class GrowingFileCounter {
 public:
  GrowingFileCounter(std::string path, std::string needle)
      : path_(std::move(path)), needle_(std::move(needle)) {}
  size_t poll() {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return count_;
    in.seekg(static_cast<std::streamoff>(offset_));
    std::string fresh((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    offset_ += fresh.size();
    std::string window = tail_ + fresh;
    for (size_t at = window.find(needle_); at != std::string::npos;
         at = window.find(needle_, at + 1))
      ++count_;
    tail_ = window.size() >= needle_.size() ? window.substr(window.size() - (needle_.size() - 1))
                                            : window;
    return count_;
  }

 private:
  std::string path_, needle_, tail_;
  size_t offset_ = 0, count_ = 0;
};

size_t countOccurrences(const std::string& path, std::string_view needle) {
  auto data = files::read(path);
  if (!data) return 0;
  size_t n = 0;
  for (size_t at = data->find(needle); at != std::string::npos; at = data->find(needle, at + 1))
    ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"herd informer benchmark: herd beside kubectl on the same fake apiserver"};
  int objects = 10000;
  int events = 20000;
  app.add_option("--objects", objects, "ConfigMaps to list into the cache");
  app.add_option("--events", events, "watch events to decode");
  CLI11_PARSE(app, argc, argv);

  auto dir = files::makeTempDir("herd-bench-informer");
  if (!dir) {
    fmt::print(stderr, "{}\n", dir.status().message());
    return 1;
  }
  // The fake runs in a process of its own, so that this process's memory is the informer's.
  std::string kubeconfig = *dir + "/admin.kubeconfig";
  ProcessOptions server_out;
  server_out.stderr_path = *dir + "/fake-apiserver.log";
  auto server =
      Process::spawn({HERD_FAKE_APISERVER_BINARY, "--listen", "127.0.0.1:0", "--kubeconfig-out",
                      kubeconfig, "--watch-history", std::to_string(events + objects + 1000)},
                     server_out);
  for (int i = 0; i < 300 && server && !files::exists(kubeconfig); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto rc = kube::loadKubeconfig({kubeconfig, "", ""});
  if (!server || !rc) {
    fmt::print(stderr, "the fake apiserver did not start: {}\n",
               server ? rc.status().message() : server.status().message());
    return 1;
  }
  auto client = kube::Client::create(*rc);
  if (!client) return 1;
  kube::Client& c = **client;
  std::string ns = "bench";
  (void)c.create(kube::namespacesResource(), "",
                 {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});

  fmt::print("creating {} ConfigMaps...\n", objects);
  for (int i = 0; i < objects; ++i) {
    kube::json cm = {
        {"apiVersion", "v1"},
        {"kind", "ConfigMap"},
        {"metadata", {{"name", fmt::format("cm-{:05}", i)}, {"labels", {{"app", "bench"}}}}},
        {"data", {{"payload", std::string(200, 'x')}, {"index", std::to_string(i)}}}};
    if (auto r = c.create(kube::configMapsResource(), ns, cm); !r) {
      fmt::print(stderr, "create: {}\n", r.status().message());
      return 1;
    }
  }

  // 1. List into the cache.
  long rss_before = peakRssKb();
  auto t0 = Clock::now();
  kube::InformerOptions io;
  io.resource = kube::configMapsResource();
  io.ns = ns;
  io.label_selector = "app=bench";
  kube::Informer informer(c, io);
  informer.start();
  informer.waitForSync(std::chrono::minutes(5));
  double herd_list_s = std::chrono::duration<double>(Clock::now() - t0).count();
  long herd_rss_kb = peakRssKb() - rss_before;
  size_t cached = informer.size();
  informer.stop();
  Run kubectl_list = timed({"kubectl", "--kubeconfig", kubeconfig, "get", "configmaps", "-n", ns,
                            "-l", "app=bench", "-o", "json", "--chunk-size=500"},
                           *dir + "/list.json");
  size_t kubectl_items = countOccurrences(*dir + "/list.json", "\"kind\": \"ConfigMap\"");

  // 2. Watch decoding, on one live stream: kubectl (`get --watch -o json`, after its initial
  // list) and a herd Watch both follow the namespace while writer threads make `events`
  // changes as fast as the server takes them.
  std::string watch_out = *dir + "/watch.json";
  ProcessOptions ko;
  ko.stdout_path = watch_out;
  auto kubectl = Process::spawn({"kubectl", "--kubeconfig", kubeconfig, "get", "configmaps", "-n",
                                 ns, "-l", "app=bench", "--watch", "-o", "json"},
                                ko);
  GrowingFileCounter kubectl_seen(watch_out, "\"kind\": \"ConfigMap\"");
  for (int i = 0; i < 1200 && kubectl_seen.poll() < static_cast<size_t>(objects); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  size_t kubectl_base = kubectl_seen.poll();
  kube::WatchOptions wo;
  kube::ListOptions now;
  now.limit = 1;
  auto current = c.list(kube::configMapsResource(), ns, now);
  if (!current) return 1;
  wo.resource_version = (*current)["metadata"].value("resourceVersion", "");
  wo.label_selector = "app=bench";
  wo.allow_bookmarks = false;
  auto w = c.watch(kube::configMapsResource(), ns, wo);
  if (!w) {
    fmt::print(stderr, "watch: {}\n", w.status().message());
    return 1;
  }
  auto t0w = Clock::now();
  std::atomic<int> decoded{0};
  std::atomic<double> herd_done_s{0};
  std::thread consumer([&] {
    while (decoded < events) {
      auto e = (*w)->next(std::chrono::seconds(60));
      if (!e || !*e) break;
      ++decoded;
    }
    herd_done_s = std::chrono::duration<double>(Clock::now() - t0w).count();
  });
  constexpr int kWriters = 4;
  std::vector<std::thread> writers;
  std::atomic<bool> write_failed{false};
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      auto wc = kube::Client::create(*rc);
      for (int i = t; i < events && wc; i += kWriters) {
        std::string name = fmt::format("cm-{:05}", i % objects);
        auto r = (*wc)->patch(kube::configMapsResource(), ns, name, kube::PatchType::kMerge,
                              fmt::format(R"({{"data":{{"rev":"{}"}}}})", i));
        if (!r) write_failed = true;
      }
    });
  }
  for (auto& t : writers) t.join();
  double write_s = std::chrono::duration<double>(Clock::now() - t0w).count();
  consumer.join();
  double herd_watch_s = herd_done_s.load();
  // kubectl gets as long as herd took, ten times over, to print every event.
  double kubectl_watch_s = 0;
  size_t kubectl_events = 0;
  double limit = std::max(10.0, herd_watch_s * 10);
  while ((kubectl_watch_s = std::chrono::duration<double>(Clock::now() - t0w).count()) < limit) {
    kubectl_events = kubectl_seen.poll() - kubectl_base;
    if (kubectl_events >= static_cast<size_t>(events)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The burst: deleting the namespace makes the server emit one DELETED event per object at
  // once, so both consumers are limited by how fast they take a stream, not by a writer.
  size_t burst_base = kubectl_seen.poll();
  std::atomic<int> burst_seen{0};
  Clock::time_point herd_first{}, herd_last{};
  std::thread burst_consumer([&] {
    while (burst_seen < objects) {
      auto e = (*w)->next(std::chrono::seconds(120));
      if (!e || !*e) break;
      if ((*e)->type != kube::WatchEvent::Type::kDeleted) continue;
      if (burst_seen++ == 0) herd_first = Clock::now();
    }
    herd_last = Clock::now();
  });
  (void)c.remove(kube::namespacesResource(), "", ns);
  Clock::time_point k_first{}, k_last{};
  auto b0 = Clock::now();
  size_t burst_kubectl = 0;
  while (std::chrono::duration<double>(Clock::now() - b0).count() < 600) {
    burst_kubectl = kubectl_seen.poll() - burst_base;
    if (burst_kubectl > 0 && k_first == Clock::time_point{}) k_first = Clock::now();
    if (burst_kubectl >= static_cast<size_t>(objects)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  k_last = Clock::now();
  burst_consumer.join();
  double herd_burst_eps =
      burst_seen / std::max(1e-6, std::chrono::duration<double>(herd_last - herd_first).count());
  double kubectl_burst_eps =
      static_cast<double>(burst_kubectl) /
      std::max(1e-6, std::chrono::duration<double>(k_last - k_first).count());

  if (kubectl) kubectl->stop();
  (*w)->stop();
  if (write_failed) fmt::print(stderr, "some writes failed\n");
  fmt::print("writers finished {} changes in {:.2f} s ({:.0f}/s)\n", events, write_s,
             events / write_s);

  // 3. Pure decoding cost: the same event lines parsed from memory.
  std::vector<std::string> lines;
  for (int i = 0; i < events; ++i) {
    kube::json obj = {{"apiVersion", "v1"},
                      {"kind", "ConfigMap"},
                      {"metadata",
                       {{"name", fmt::format("cm-{:05}", i)},
                        {"namespace", ns},
                        {"resourceVersion", std::to_string(100000 + i)},
                        {"labels", {{"app", "bench"}}}}},
                      {"data", {{"payload", std::string(200, 'x')}, {"rev", std::to_string(i)}}}};
    lines.push_back(kube::json({{"type", "MODIFIED"}, {"object", obj}}).dump());
  }
  auto d0 = Clock::now();
  size_t parsed = 0;
  for (const auto& l : lines) parsed += kube::parseWatchEvent(l).isOk() ? 1 : 0;
  double parse_s = std::chrono::duration<double>(Clock::now() - d0).count();

  double herd_eps = decoded / herd_watch_s;
  double kubectl_eps = static_cast<double>(kubectl_events) / kubectl_watch_s;
  fmt::print(
      "\nbench/informer: {} ConfigMaps, {} watch events, fake apiserver on 127.0.0.1 (one run)\n",
      objects, events);
  fmt::print("{:<44} {:>14} {:>14} {:>10}\n", "", "herd", "kubectl", "herd/kubectl");
  fmt::print("{:<44} {:>14.3f} {:>14.3f} {:>10.2f}\n", "list into cache, seconds (lower is better)",
             herd_list_s, kubectl_list.seconds, herd_list_s / kubectl_list.seconds);
  fmt::print("{:<44} {:>14.1f} {:>14.1f} {:>10.2f}\n",
             "list, peak RSS MiB (herd: growth; kubectl: total)", herd_rss_kb / 1024.0,
             kubectl_list.max_rss_kb / 1024.0,
             static_cast<double>(herd_rss_kb) / std::max(1L, kubectl_list.max_rss_kb));
  fmt::print("{:<44} {:>14} {:>14}\n", "objects received", cached, kubectl_items);
  fmt::print("{:<44} {:>14.0f} {:>14.0f} {:>10.2f}\n", "watch burst (namespace deletion), events/s",
             herd_burst_eps, kubectl_burst_eps, herd_burst_eps / std::max(1.0, kubectl_burst_eps));
  fmt::print("{:<44} {:>14} {:>14}\n", "burst events received", burst_seen.load(), burst_kubectl);
  fmt::print("{:<44} {:>14.0f} {:>14.0f} {:>10.2f}\n",
             "watch of live writes, events/s (writer-bound)", herd_eps, kubectl_eps,
             herd_eps / std::max(1.0, kubectl_eps));
  fmt::print("{:<44} {:>14} {:>14}\n", "live events received", decoded.load(), kubectl_events);
  fmt::print("{:<44} {:>14.0f} {:>14}\n", "event parsing alone, events/s (in memory)",
             parsed / parse_s, "-");
  (void)files::removeAll(*dir);
  bool complete = cached == static_cast<size_t>(objects) && decoded == events &&
                  parsed == lines.size() && burst_seen == objects;
  return complete ? 0 : 1;
}
