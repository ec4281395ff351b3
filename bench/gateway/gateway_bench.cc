// bench/gateway: herd gateway beside HAProxy (mode tcp, req.ssl_sni) and nginx stream
// (ssl_preread), in one run, in front of the same TLS backend (nginx http), each proxy pinned
// to the same single core with one worker. wrk drives TLS with the SNI of the URL, from a
// private /etc/hosts (a mount namespace, so root is needed) on the other core.
//
// Measures: keep-alive requests/s, MB/s of 64 KiB responses, new TLS connections/s
// (Connection: close), p50/p99 latency, proxy CPU per 1,000 requests, per GiB of 64 KiB
// responses and per 1,000 new connections, RSS at N idle connections; prints each figure and
// the ratios herd/HAProxy and herd/nginx. It measures twice (memory once): with the whole
// core, where on a small machine the load generator and the backend are the bottleneck, and
// with each proxy held to the same share of that core by a CFS quota, where the proxy is.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "free_port.h"

namespace {

using namespace herd;
using namespace std::chrono_literals;

constexpr const char* kHost = "alpha.herd.localhost";

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool waitForPort(int port) {
  for (int i = 0; i < 200; ++i) {
    int fd = connectTo(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    std::this_thread::sleep_for(25ms);
  }
  return false;
}

// Ends the run. Thrown rather than exiting, so that ~Bench stops the proxies and removes their
// cgroups on the way out.
struct Fatal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void die(const std::string& message) {
  throw Fatal(message);
}

int freePort() {
  auto port = testing::findFreeLoopbackPort();
  if (!port) die(port.status().toString());
  return *port;
}

CommandResult mustRun(const std::vector<std::string>& argv, std::chrono::seconds timeout = 120s) {
  auto r = runCommand(argv, {}, timeout);
  if (!r) die(argv[0] + ": " + r.status().toString());
  if (r->exit_code != 0) die(argv[0] + " failed: " + r->err);
  return *r;
}

long rssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

std::vector<pid_t> withChildren(pid_t pid) {
  std::vector<pid_t> out{pid};
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t child;
  while (in >> child) out.push_back(child);
  return out;
}

struct WrkResult {
  double requests_per_s = 0, mb_per_s = 0, p50_ms = 0, p99_ms = 0;
  double requests = 0;
};

double parseLatencyMs(const std::string& text) {
  double v = std::stod(text);
  if (text.ends_with("us")) return v / 1000;
  if (text.ends_with("ms")) return v;
  if (text.ends_with("s")) return v * 1000;
  return v;
}

double parseBytes(const std::string& text) {
  double v = std::stod(text);
  if (text.ends_with("GB")) return v * 1024;
  if (text.ends_with("MB")) return v;
  if (text.ends_with("KB")) return v / 1024;
  return v / (1024 * 1024);
}

// cgroup files take one write each (writeAtomic's rename does not apply to them).
Status writeTo(const std::string& path, std::string_view value) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::ioError("open " + path, errno);
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return Status::ioError("write " + path, errno);
  }
  return Status::ok();
}

bool hasWord(const std::string& text, std::string_view word) {
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (w == word) return true;
  }
  return false;
}

// A cgroup of its own for one proxy, whose CPU time a CFS quota can cap: cgroup v2's cpu.max,
// or v1's cpu controller. The quota is refilled every 10 ms, so that a capped proxy is held
// back in short steps rather than stopped for most of a 100 ms period.
class CpuCap {
 public:
  static constexpr int kPeriodUs = 10000;
  // The kernel's smallest quota is 1 ms: a tenth of the period.
  static constexpr int kMinPercent = 10;

  static Result<std::unique_ptr<CpuCap>> create(const std::string& name) {
    std::string root;
    bool v2 = hasWord(files::read("/sys/fs/cgroup/cgroup.controllers").valueOr(""), "cpu");
    bool enabled_cpu = false;
    if (v2) {
      root = "/sys/fs/cgroup";
      if (!hasWord(files::read(root + "/cgroup.subtree_control").valueOr(""), "cpu")) {
        HERD_RETURN_IF_ERROR(writeTo(root + "/cgroup.subtree_control", "+cpu"));
        enabled_cpu = true;
      }
    } else if (files::exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) {
      root = "/sys/fs/cgroup/cpu";
    } else {
      return Status::notFound("no cgroup with the cpu controller under /sys/fs/cgroup");
    }
    std::string dir = fmt::format("{}/herd-bench-{}-{}", root, ::getpid(), name);
    if (::mkdir(dir.c_str(), 0755) != 0) return Status::ioError("mkdir " + dir, errno);
    return std::unique_ptr<CpuCap>(new CpuCap(root, dir, v2, enabled_cpu));
  }
  CpuCap(const CpuCap&) = delete;
  CpuCap& operator=(const CpuCap&) = delete;
  // The group's processes have ended by now, or release() took them out.
  ~CpuCap() {
    if (::rmdir(dir_.c_str()) != 0) {
      fmt::print(stderr, "bench/gateway: {}\n", Status::ioError("rmdir " + dir_, errno).toString());
    }
    if (enabled_cpu_) (void)writeTo(root_ + "/cgroup.subtree_control", "-cpu");
  }

  Status add(pid_t pid) {
    HERD_RETURN_IF_ERROR(writeTo(dir_ + "/cgroup.procs", std::to_string(pid)));
    pids_.push_back(pid);
    return Status::ok();
  }
  // Moves the group's (live) processes back to the root group, so that it can be removed.
  void release() {
    for (pid_t pid : pids_) (void)writeTo(root_ + "/cgroup.procs", std::to_string(pid));
    pids_.clear();
  }

  // percent of one core, at least kMinPercent; 0 lifts the cap.
  Status set(int percent) {
    int quota = kPeriodUs * percent / 100;
    if (v2_) {
      return writeTo(dir_ + "/cpu.max", percent > 0 ? fmt::format("{} {}", quota, kPeriodUs)
                                                    : fmt::format("max {}", kPeriodUs));
    }
    HERD_RETURN_IF_ERROR(writeTo(dir_ + "/cpu.cfs_period_us", std::to_string(kPeriodUs)));
    return writeTo(dir_ + "/cpu.cfs_quota_us", percent > 0 ? std::to_string(quota) : "-1");
  }

 private:
  CpuCap(std::string root, std::string dir, bool v2, bool enabled_cpu)
      : root_(std::move(root)), dir_(std::move(dir)), v2_(v2), enabled_cpu_(enabled_cpu) {}

  std::string root_, dir_;
  bool v2_;
  bool enabled_cpu_;  // this group turned the cpu controller on for the root's children
  std::vector<pid_t> pids_;
};

struct Proxy {
  std::string name;
  int port = 0;
  std::optional<Process> process;
  std::unique_ptr<CpuCap> cap;
  Status no_cap;  // why `cap` is empty
};

struct Options {
  int duration = 5;
  int connections = 32;
  int idle = 5000;
  // Rounds over all proxies, each round in a rotated order; every figure is the median of its
  // rounds, because load from outside shifts between one proxy's turn and the next.
  int repeat = 3;
  // Another herd binary (an earlier build) measured in the same run, for before/after.
  std::string baseline;
  // The share of the core, in percent, that every proxy gets in the second measurement; 0
  // skips it. A quarter of a core is below what each proxy uses when it has the whole core
  // here, for all three throughput figures, so the proxy is the bottleneck.
  int cpu_budget = 25;
  bool capped_only = false;  // skip the measurement with the whole core
};

class Bench {
 public:
  explicit Bench(Options o) : options_(o) {
    auto dir = files::makeTempDir("herd-bench-gateway");
    if (!dir) die(dir.status().toString());
    dir_ = *dir;
  }
  ~Bench() {
    for (auto& p : proxies_) {
      if (p.process) p.process->stop(2s);
    }
    if (backend_) backend_->stop(2s);
    (void)files::removeAll(dir_);
  }

  void setUp() {
    mustRun({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", dir_ + "/tls.key", "-out", dir_ + "/tls.crt", "-days", "2",
             "-subj", std::string("/CN=") + kHost, "-addext",
             std::string("subjectAltName=DNS:") + kHost});
    (void)files::makeDirs(dir_ + "/www");
    (void)files::writeAtomic(dir_ + "/www/64k", std::string(64 * 1024, 'x'));
    (void)files::writeAtomic(dir_ + "/hosts", std::string("127.0.0.1 localhost ") + kHost + "\n");
    // The backend shares the load generator's core, so the proxies compete on equal terms.
    auto [bound_port, process] =
        startOnFreePort("backend nginx", [&](int port) -> std::vector<std::string> {
          std::string conf = fmt::format(R"(user root;
worker_processes 1;
daemon off;
pid {0}/backend.pid;
error_log {0}/backend.err warn;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  server {{
    listen 127.0.0.1:{1} ssl;
    ssl_certificate {0}/tls.crt;
    ssl_certificate_key {0}/tls.key;
    location = /small {{ return 200 "ok\n"; }}
    location = /64k {{ root {0}/www; }}
  }}
}}
)",
                                         dir_, port);
          (void)files::writeAtomic(dir_ + "/backend.conf", conf);
          return {"taskset", "-c",
                  "0",       "nginx",
                  "-p",      dir_,
                  "-e",      dir_ + "/backend.err",
                  "-c",      dir_ + "/backend.conf"};
        });
    backend_port_ = bound_port;
    backend_ = std::move(process);

    addHerd();
    addHaproxy();
    addNginx();
    if (!options_.baseline.empty()) addHerd("herd-base", options_.baseline);
  }

  void run() {
    fmt::print(
        "\nbench/gateway: {} s per figure, {} connections, proxies pinned to core 1 with "
        "one worker each; median of {} rounds\n",
        options_.duration, options_.connections, options_.repeat);
    if (!options_.capped_only) {
      auto whole = measure();
      fmt::print("\nWith the whole core\n\n");
      report(whole, /*with_memory=*/true);
    }
    if (options_.cpu_budget > 0) {
      Status capped;
      for (Proxy& p : proxies_) {
        capped = p.cap ? p.cap->set(options_.cpu_budget) : p.no_cap;
        if (!capped.isOk()) break;
      }
      if (!capped.isOk()) {
        fmt::print("\nWith {}% of the core: skipped ({})\n", options_.cpu_budget,
                   capped.toString());
      } else {
        auto budget = measure();
        fmt::print(
            "\nWith {}% of the core each (CFS quota), so that the proxy is the bottleneck\n\n",
            options_.cpu_budget);
        report(budget, /*with_memory=*/false);
      }
      for (Proxy& p : proxies_) {
        if (p.cap) (void)p.cap->set(0);
      }
    }
    fmt::print(
        "\nThroughput ratios above 1.0 favour herd; latency, CPU and memory ratios below 1.0 "
        "do.\n");
  }

 private:
  struct Row {
    WrkResult keepalive, large, fresh;
    double cpu_per_1000 = 0;
    double cpu_per_gb = 0;
    double cpu_per_1000_connections = 0;
  };
  // rounds[proxy][round]
  using Rounds = std::vector<std::vector<Row>>;

  // Every figure taken round by round, in the order printed.
  struct Figure {
    const char* name;
    double (*get)(const Row&);
    const char* format;
  };
  static constexpr Figure kFigures[] = {
      {"keep-alive requests/s", [](const Row& r) { return r.keepalive.requests_per_s; }, "{:.0f}"},
      {"64 KiB responses MB/s", [](const Row& r) { return r.large.mb_per_s; }, "{:.1f}"},
      {"new TLS connections/s", [](const Row& r) { return r.fresh.requests_per_s; }, "{:.0f}"},
      {"keep-alive p50 latency ms", [](const Row& r) { return r.keepalive.p50_ms; }, "{:.3f}"},
      {"keep-alive p99 latency ms", [](const Row& r) { return r.keepalive.p99_ms; }, "{:.3f}"},
      {"proxy CPU ms per 1,000 requests", [](const Row& r) { return r.cpu_per_1000; }, "{:.2f}"},
      {"proxy CPU ms per GiB of 64 KiB", [](const Row& r) { return r.cpu_per_gb; }, "{:.0f}"},
      {"proxy CPU ms per 1,000 new conns", [](const Row& r) { return r.cpu_per_1000_connections; },
       "{:.1f}"},
  };

  Rounds measure() {
    const size_t n = proxies_.size();
    Rounds rounds(n);
    for (int round = 0; round < options_.repeat; ++round) {
      for (size_t turn = 0; turn < n; ++turn) {
        size_t i = (turn + static_cast<size_t>(round)) % n;
        Proxy& p = proxies_[i];
        std::vector<pid_t> pids = withChildren(p.process->pid());
        // One wrk run, and the CPU seconds of the proxy's processes during it.
        auto run = [&](const std::string& path, bool close, double* cpu_seconds) {
          auto cpu = [&] {
            double total = 0;
            for (pid_t pid : pids) total += cpuSeconds(pid);
            return total;
          };
          double before = cpu();
          WrkResult result = wrk(p.port, path, close);
          *cpu_seconds = cpu() - before;
          return result;
        };
        auto msPerThousand = [](double seconds, double count) {
          return count > 0 ? seconds * 1000 * 1000 / count : 0;
        };
        Row row;
        double seconds = 0;
        row.keepalive = run("/small", false, &seconds);
        row.cpu_per_1000 = msPerThousand(seconds, row.keepalive.requests);
        row.large = run("/64k", false, &seconds);
        double gigabytes = row.large.mb_per_s * options_.duration / 1024;
        row.cpu_per_gb = gigabytes > 0 ? seconds * 1000 / gigabytes : 0;
        row.fresh = run("/small", true, &seconds);
        row.cpu_per_1000_connections = msPerThousand(seconds, row.fresh.requests);
        rounds[i].push_back(row);
      }
    }
    return rounds;
  }

  void report(const Rounds& rounds, bool with_memory) {
    const size_t n = proxies_.size();
    fmt::print("{:<36}", "figure");
    for (auto& p : proxies_) fmt::print("{:>14}", p.name);
    for (size_t i = 1; i < n; ++i) fmt::print("{:>16}", "herd/" + proxies_[i].name);
    fmt::print("\n");
    // values[i]: proxy i's figure, then the ratios of herd's to each other proxy's.
    auto line = [&](const std::string& figure, const std::vector<double>& values,
                    const char* format) {
      fmt::print("{:<36}", figure);
      for (double v : values) fmt::print("{:>14}", fmt::format(fmt::runtime(format), v));
      for (size_t i = 1; i < values.size(); ++i) {
        fmt::print("{:>16}", values[i] > 0 ? fmt::format("{:.2f}", values[0] / values[i]) : "-");
      }
      fmt::print("\n");
    };
    for (const Figure& f : kFigures) {
      std::vector<double> medians;
      for (size_t i = 0; i < n; ++i) {
        std::vector<double> values;
        for (const Row& r : rounds[i]) values.push_back(f.get(r));
        std::sort(values.begin(), values.end());
        medians.push_back(values[values.size() / 2]);
      }
      line(f.name, medians, f.format);
    }
    if (with_memory) {
      std::vector<double> rss;
      for (const Proxy& p : proxies_) rss.push_back(static_cast<double>(idleRss(p)));
      line(fmt::format("RSS KiB at {} idle connections", options_.idle), rss, "{:.0f}");
    }
    // The same ratios taken round by round, herd against each proxy measured next to it in
    // time, so that load from outside that drifts over the run shows as a spread rather than
    // hiding in a ratio of medians.
    if (options_.repeat > 1) {
      fmt::print("\nPer round, herd/other: median [lowest, highest] of {} rounds\n",
                 options_.repeat);
      fmt::print("{:<36}", "figure");
      for (size_t i = 1; i < n; ++i) fmt::print("{:>24}", "herd/" + proxies_[i].name);
      fmt::print("\n");
      for (const Figure& f : kFigures) {
        fmt::print("{:<36}", f.name);
        for (size_t i = 1; i < n; ++i) {
          std::vector<double> ratios;
          for (size_t r = 0; r < rounds[i].size(); ++r) {
            double other = f.get(rounds[i][r]);
            if (other > 0) ratios.push_back(f.get(rounds[0][r]) / other);
          }
          std::sort(ratios.begin(), ratios.end());
          fmt::print("{:>24}", ratios.empty() ? "-"
                                              : fmt::format("{:.2f} [{:.2f}, {:.2f}]",
                                                            ratios[ratios.size() / 2],
                                                            ratios.front(), ratios.back()));
        }
        fmt::print("\n");
      }
    }
  }

  Process spawn(const std::vector<std::string>& argv) {
    ProcessOptions o;
    o.stdout_path = dir_ + "/proxies.log";
    o.stderr_path = dir_ + "/proxies.log";
    auto p = Process::spawn(argv, o);
    if (!p) die(argv[0] + ": " + p.status().toString());
    return std::move(*p);
  }

  // Runs the command that `configure` writes for a port from freePort(). Another process may
  // take that port before the server binds it (tests run beside the smoke run), so a server
  // that does not come up is tried again on a fresh port.
  std::pair<int, Process> startOnFreePort(
      const std::string& name, const std::function<std::vector<std::string>(int)>& configure) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      int port = freePort();
      Process process = spawn(configure(port));
      if (waitForPort(port) && process.running()) return {port, std::move(process)};
      process.stop(2s);
    }
    die(name + " did not start: " + files::read(dir_ + "/proxies.log").valueOr(""));
  }

  void addProxy(const std::string& name,
                const std::function<std::vector<std::string>(int)>& configure) {
    auto [port, process] = startOnFreePort(name, [&](int p) {
      std::vector<std::string> pinned{"taskset", "-c", "1"};
      auto argv = configure(p);
      pinned.insert(pinned.end(), argv.begin(), argv.end());
      return pinned;
    });
    // Every process of the proxy (nginx's master and worker) joins its own cgroup, so that a
    // quota can hold it to a share of the core: the parent first, so that a child it forks
    // after the children are listed is born in the group.
    std::unique_ptr<CpuCap> cap;
    Status no_cap = [&]() -> Status {
      HERD_ASSIGN_OR_RETURN(cap, CpuCap::create(name));
      HERD_RETURN_IF_ERROR(cap->add(process.pid()));
      for (pid_t pid : withChildren(process.pid())) {
        if (pid != process.pid()) HERD_RETURN_IF_ERROR(cap->add(pid));
      }
      return Status::ok();
    }();
    if (!no_cap.isOk() && cap) {
      cap->release();
      cap.reset();
    }
    proxies_.push_back(Proxy{name, port, std::move(process), std::move(cap), no_cap});
  }

  void addHerd(const std::string& name = "herd", const std::string& binary = HERD_BINARY) {
    addProxy(name, [&](int port) -> std::vector<std::string> {
      int admin = freePort();
      while (admin == port) admin = freePort();
      std::string conf = fmt::format(
          "listeners: {{tls: \"127.0.0.1:{}\", admin: \"127.0.0.1:{}\"}}\nworkers: 1\n"
          "timeouts: {{handshake: 60s}}\ntenants:\n  - name: alpha\n    apiServers: "
          "[\"127.0.0.1:{}\"]\n",
          port, admin, backend_port_);
      std::string file = dir_ + "/" + name + ".yaml";
      (void)files::writeAtomic(file, conf);
      return {binary, "--log-level", "warn", "gateway", "--config", file};
    });
  }

  void addHaproxy() {
    addProxy("haproxy", [&](int port) -> std::vector<std::string> {
      std::string conf = fmt::format(R"(global
  nbthread 1
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend tls
  bind 127.0.0.1:{}
  tcp-request inspect-delay 60s
  tcp-request content accept if {{ req.ssl_hello_type 1 }}
  use_backend alpha if {{ req.ssl_sni -i {} }}
backend alpha
  server s1 127.0.0.1:{}
)",
                                     port, kHost, backend_port_);
      (void)files::writeAtomic(dir_ + "/haproxy.cfg", conf);
      return {"haproxy", "-db", "-f", dir_ + "/haproxy.cfg"};
    });
  }

  // With proxy_half_close on, nginx passes a FIN on and keeps the other direction open, as
  // herd and HAProxy do. Its default closes both at the first FIN: a read, a write and a
  // shutdown less per connection, and the other direction's last bytes lost.
  void addNginx() {
    addProxy("nginx", [&](int port) -> std::vector<std::string> {
      std::string conf = fmt::format(R"(load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid {0}/stream.pid;
error_log {0}/stream.err warn;
events {{ worker_connections 18000; }}
stream {{
  upstream alpha {{ server 127.0.0.1:{2}; }}
  map $ssl_preread_server_name $route {{ {3} alpha; }}
  server {{
    listen 127.0.0.1:{1};
    ssl_preread on;
    preread_timeout 60s;
    proxy_pass $route;
    proxy_half_close on;
  }}
}}
)",
                                     dir_, port, backend_port_, kHost);
      (void)files::writeAtomic(dir_ + "/stream.conf", conf);
      return {"nginx", "-p", dir_, "-e", dir_ + "/stream.err", "-c", dir_ + "/stream.conf"};
    });
  }

  WrkResult wrk(int port, const std::string& path, bool close) {
    std::string cmd = fmt::format(
        "mount --bind {}/hosts /etc/hosts && exec taskset -c 0 wrk -t1 -c{} -d{}s --latency {} "
        "https://{}:{}{}",
        dir_, options_.connections, options_.duration, close ? "-H 'Connection: close'" : "", kHost,
        port, path);
    auto r = mustRun({"unshare", "--mount", "sh", "-c", cmd},
                     std::chrono::seconds(options_.duration + 60));
    WrkResult out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string a, b;
      words >> a >> b;
      if (a == "Requests/sec:") out.requests_per_s = std::stod(b);
      if (a == "Transfer/sec:") out.mb_per_s = parseBytes(b);
      if (a == "50%") out.p50_ms = parseLatencyMs(b);
      if (a == "99%") out.p99_ms = parseLatencyMs(b);
      if (line.find("requests in") != std::string::npos) out.requests = std::stod(a);
    }
    if (r.out.find("Non-2xx") != std::string::npos || out.requests == 0) {
      die("wrk saw errors through port " + std::to_string(port) + ":\n" + r.out);
    }
    return out;
  }

  long idleRss(const Proxy& p) {
    std::vector<int> fds;
    for (int i = 0; i < options_.idle; ++i) {
      int fd = connectTo(p.port);
      if (fd < 0) break;
      fds.push_back(fd);
    }
    std::this_thread::sleep_for(500ms);
    long rss = 0;
    for (pid_t pid : withChildren(p.process->pid())) rss += rssKib(pid);
    for (int fd : fds) ::close(fd);
    std::this_thread::sleep_for(300ms);
    return rss;
  }

  Options options_;
  std::string dir_;
  int backend_port_ = 0;
  std::optional<Process> backend_;
  std::vector<Proxy> proxies_;
};

int runBench(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) die("missing value after " + a);
      return std::stoi(argv[++i]);
    };
    if (a == "--duration") {
      options.duration = next();
    } else if (a == "--connections") {
      options.connections = next();
    } else if (a == "--idle") {
      options.idle = next();
    } else if (a == "--repeat") {
      options.repeat = std::max(1, next());
    } else if (a == "--capped-only") {
      options.capped_only = true;
    } else if (a == "--cpu-budget") {
      options.cpu_budget = next();
      if (options.cpu_budget != 0 &&
          (options.cpu_budget < CpuCap::kMinPercent || options.cpu_budget > 100)) {
        die(fmt::format("--cpu-budget takes 0 (none) or {} to 100", CpuCap::kMinPercent));
      }
    } else if (a == "--baseline" && i + 1 < argc) {
      options.baseline = argv[++i];
    } else {
      fmt::print(
          "usage: herd_bench_gateway [--duration SECONDS=5] [--connections N=32] [--idle N=5000]\n"
          "                          [--repeat N=3] [--cpu-budget PERCENT=25] [--capped-only]\n"
          "                          [--baseline HERD_BINARY]\n"
          "Runs herd gateway, HAProxy and nginx stream side by side (needs root for a private\n"
          "/etc/hosts, and haproxy, nginx with the stream module, wrk, openssl, taskset).\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (options.capped_only && options.cpu_budget == 0) die("--capped-only needs a --cpu-budget");
  if (::geteuid() != 0) {
    fmt::print(
        "bench/gateway: skipped: needs root (wrk reads SNI names from a private /etc/hosts)\n");
    return 0;
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  signal(SIGPIPE, SIG_IGN);
  Bench bench(options);
  bench.setUp();
  bench.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return runBench(argc, argv);
  } catch (const Fatal& e) {
    fmt::print(stderr, "bench/gateway: {}\n", e.what());
    return 1;
  }
}
