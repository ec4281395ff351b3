// bench/tunnel: herd's tunnel beside OpenSSH's own sshd doing the same remote forward, and
// beside no tunnel at all, in one run on loopback. The same stock `ssh -N -R` client, with the
// same cipher, carries the streams in both tunnels:
//
//   herd:    CONNECT node-1:10250 on herd's Unix egress socket -> herd tunnel -> ssh -> service
//   OpenSSH: TCP to the port sshd listens on for `-R PORT:...`  -> sshd        -> ssh -> service
//   direct:  TCP to the service
//
// The service (in this process, tests/support/tunnel) answers "bulk N" with N bytes and "echo" by
// echoing. Measures one stream moving --bytes (MB/s) and --round-trips sequential request/response
// exchanges of
// --message bytes on one stream (p50, p99, total); prints them side by side with the ratios
// herd/OpenSSH. sshd needs root (privilege separation); without it the column says n/a.
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/process.h"
#include "common/socket.h"
#include "free_port.h"
#include "tunnel_support.h"

namespace {

using namespace herd;
using namespace std::chrono_literals;
using herd::UniqueFd;
using Clock = std::chrono::steady_clock;

void die(const std::string& message) {
  fmt::print(stderr, "bench/tunnel: {}\n", message);
  std::exit(1);
}

struct Options {
  uint64_t bytes = 1ull << 30;
  int round_trips = 10000;
  size_t message = 64;
  // OpenSSH 9.2's first choice, and what both servers negotiate when nothing is forced.
  std::string cipher = "chacha20-poly1305@openssh.com";
  std::string herd = HERD_BINARY;
  // Each path is measured this many times, the paths taking turns, and the median of each
  // figure reported: on a shared machine the load changes between one path and the next.
  int repeat = 3;
};

uint64_t parseSize(const std::string& text) {
  size_t used = 0;
  uint64_t value = std::stoull(text, &used);
  std::string unit = text.substr(used);
  if (unit == "K" || unit == "KB") return value << 10;
  if (unit == "M" || unit == "MB") return value << 20;
  if (unit == "G" || unit == "GB") return value << 30;
  if (!unit.empty()) die("unknown size unit in " + text);
  return value;
}

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) die(arg + " needs a value");
      return std::string(argv[++i]);
    };
    if (arg == "--bytes") {
      o.bytes = parseSize(value());
    } else if (arg == "--round-trips") {
      o.round_trips = std::stoi(value());
    } else if (arg == "--message") {
      o.message = parseSize(value());
    } else if (arg == "--cipher") {
      o.cipher = value();
    } else if (arg == "--repeat") {
      o.repeat = std::stoi(value());
    } else if (arg == "--herd") {
      o.herd = value();
    } else {
      fmt::print(
          "usage: herd_bench_tunnel [--bytes 1G] [--round-trips 10000] [--message 64]\n"
          "                         [--cipher chacha20-poly1305@openssh.com] [--repeat 3]\n"
          "                         [--herd PATH]\n");
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  if (o.repeat < 1) die("--repeat must be at least 1");
  if (o.round_trips < 1 || o.message < 1 || o.message > (1 << 20)) die("bad sizes");
  return o;
}

void setNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool readExactly(int fd, char* out, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::recv(fd, out + got, size - got, 0);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

bool sendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

UniqueFd connectLoopback(int port) {
  auto fd = net::connectTcp(fmt::format("127.0.0.1:{}", port), 2s);
  if (!fd) return {};
  int flags = ::fcntl(fd->get(), F_GETFL);
  ::fcntl(fd->get(), F_SETFL, flags & ~O_NONBLOCK);
  setNoDelay(fd->get());
  return std::move(fd).value();
}

// CONNECT through herd's Unix egress socket; the stream after the 200, or invalid.
UniqueFd connectThroughHerd(const std::string& socket_path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socket_path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  std::string request = "CONNECT node-1:10250 HTTP/1.1\r\nHost: node-1:10250\r\n\r\n";
  if (!sendAll(fd.get(), request.data(), request.size())) return {};
  // Byte by byte, so that no byte of the stream is read as part of the head.
  std::string head;
  while (head.size() < 4096 && !head.ends_with("\r\n\r\n")) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return {};
    char c;
    if (::recv(fd.get(), &c, 1, 0) != 1) return {};
    head += c;
  }
  if (!head.starts_with("HTTP/1.1 200")) return {};
  return fd;
}

using Opener = std::function<UniqueFd()>;

// Whether a stream through `open` reaches the service, polled for up to 15 s.
bool waitForPath(const Opener& open) {
  auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline) {
    UniqueFd fd = open();
    if (fd.valid() && sendAll(fd.get(), "echo\nx", 6)) {
      pollfd p{fd.get(), POLLIN, 0};
      char c;
      if (::poll(&p, 1, 2000) == 1 && ::recv(fd.get(), &c, 1, 0) == 1) return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// CPU seconds (user + system) used so far by `root` and every process below it, read from
// /proc; 0 for no process. sshd serves a session in children of its listener.
double treeCpuSeconds(pid_t root) {
  if (root <= 0) return 0;
  std::map<pid_t, std::vector<pid_t>> children;
  std::map<pid_t, double> cpu;
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto stat = files::read(entry.path().string() + "/stat");
    if (!stat) continue;
    // Fields after the command name (which may hold spaces): state ppid ... utime(14) stime(15).
    std::istringstream in(stat->substr(stat->rfind(')') + 2));
    std::string state;
    pid_t ppid = 0;
    in >> state >> ppid;
    std::string skip;
    for (int field = 5; field < 14; ++field) in >> skip;
    double utime = 0, stime = 0;
    in >> utime >> stime;
    pid_t pid = std::stoi(name);
    children[ppid].push_back(pid);
    cpu[pid] = (utime + stime) / ticks;
  }
  double total = 0;
  std::vector<pid_t> todo{root};
  while (!todo.empty()) {
    pid_t pid = todo.back();
    todo.pop_back();
    total += cpu[pid];
    for (pid_t child : children[pid]) todo.push_back(child);
  }
  return total;
}

// The processes a path's CPU is charged to: the tunnel server, and the node's ssh client.
struct Processes {
  pid_t server = 0;
  pid_t node = 0;
};

struct Measured {
  bool ran = false;
  std::string error;  // why a run did not finish
  double mb_per_s = 0;
  double p50_us = 0, p99_us = 0, total_s = 0;
  // CPU seconds per GiB moved, and microseconds per round trip, of each side.
  double server_cpu_per_gib = 0, node_cpu_per_gib = 0;
  double server_cpu_per_rt_us = 0, node_cpu_per_rt_us = 0;
};

Measured measure(const Opener& open, const Options& options, Processes processes = {}) {
  Measured r;
  {
    UniqueFd fd = open();
    if (!fd.valid()) return r.error = "cannot open a stream", r;
    std::string command = fmt::format("bulk {}\n", options.bytes);
    auto start = Clock::now();
    if (!sendAll(fd.get(), command.data(), command.size())) return r.error = "send failed", r;
    std::vector<char> buffer(256 * 1024);
    double server_cpu = treeCpuSeconds(processes.server);
    double node_cpu = treeCpuSeconds(processes.node);
    uint64_t received = 0;
    while (received < options.bytes) {
      ssize_t n = ::recv(fd.get(), buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        r.error = fmt::format("the transfer ended after {} bytes ({})", received,
                              n == 0 ? "end of stream" : std::strerror(errno));
        return r;
      }
      received += static_cast<uint64_t>(n);
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    r.mb_per_s = static_cast<double>(received) / (1 << 20) / seconds;
    double gib = static_cast<double>(received) / (1 << 30);
    r.server_cpu_per_gib = (treeCpuSeconds(processes.server) - server_cpu) / gib;
    r.node_cpu_per_gib = (treeCpuSeconds(processes.node) - node_cpu) / gib;
  }
  {
    UniqueFd fd = open();
    if (!fd.valid() || !sendAll(fd.get(), "echo\n", 5)) return r.error = "cannot open a stream", r;
    std::string message(options.message, 'r');
    std::string reply(options.message, '\0');
    auto roundTrip = [&] {
      return sendAll(fd.get(), message.data(), message.size()) &&
             readExactly(fd.get(), reply.data(), reply.size());
    };
    // Warm the path (page faults, window growth) before timing it.
    for (int i = 0; i < std::min(options.round_trips, 200); ++i) {
      if (!roundTrip()) return r.error = "a round trip failed", r;
    }
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(options.round_trips));
    double server_cpu = treeCpuSeconds(processes.server);
    double node_cpu = treeCpuSeconds(processes.node);
    auto start = Clock::now();
    for (int i = 0; i < options.round_trips; ++i) {
      auto t0 = Clock::now();
      if (!roundTrip()) return r.error = "a round trip failed", r;
      samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    r.total_s = std::chrono::duration<double>(Clock::now() - start).count();
    double per_rt = 1e6 / options.round_trips;
    r.server_cpu_per_rt_us = (treeCpuSeconds(processes.server) - server_cpu) * per_rt;
    r.node_cpu_per_rt_us = (treeCpuSeconds(processes.node) - node_cpu) * per_rt;
    std::sort(samples.begin(), samples.end());
    auto percentile = [&](double q) {
      size_t index = static_cast<size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
      return samples[index];
    };
    r.p50_us = percentile(0.50);
    r.p99_us = percentile(0.99);
  }
  r.ran = true;
  return r;
}

// The median of each figure over `runs` (each figure on its own), or "did not run".
Measured median(std::vector<Measured> runs) {
  Measured m;
  if (runs.empty()) return m;
  auto pick = [&](double Measured::*field) {
    std::vector<double> values;
    for (const Measured& r : runs) values.push_back(r.*field);
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  };
  m.ran = true;
  m.mb_per_s = pick(&Measured::mb_per_s);
  m.p50_us = pick(&Measured::p50_us);
  m.p99_us = pick(&Measured::p99_us);
  m.total_s = pick(&Measured::total_s);
  m.server_cpu_per_gib = pick(&Measured::server_cpu_per_gib);
  m.node_cpu_per_gib = pick(&Measured::node_cpu_per_gib);
  m.server_cpu_per_rt_us = pick(&Measured::server_cpu_per_rt_us);
  m.node_cpu_per_rt_us = pick(&Measured::node_cpu_per_rt_us);
  return m;
}

class Bench {
 public:
  explicit Bench(Options options) : options_(std::move(options)) {
    auto dir = files::makeTempDir("herd-bench-tunnel");
    if (!dir) die(dir.status().toString());
    dir_ = *dir;
    for (const char* name : {"herd_host", "sshd_host", "node"}) {
      Status made = tunnel::testing::makeSshKey(dir_ + "/" + name, name);
      if (!made.isOk()) die(made.toString());
    }
  }
  ~Bench() {
    // Clients first, so that neither server sees a session end as an error worth logging.
    for (auto* p : {&herd_node_, &sshd_node_, &herd_, &sshd_}) {
      if (*p) (*p)->stop(2s);
    }
    (void)files::removeAll(dir_);
  }

  // herd tunnel in its own process, as in production, with alpha's egress on a Unix socket.
  Opener startHerd(int service_port) {
    std::string socket_path = dir_ + "/egress.sock";
    std::string config = fmt::format(R"(ssh:
  listen: "127.0.0.1:0"
  hostKeyFile: {0}/herd_host
tenants:
- name: alpha
  nodeKeyFiles: [{0}/node.pub]
connect:
- unix: {1}
  tenant: alpha
)",
                                     dir_, socket_path);
    (void)files::writeAtomic(dir_ + "/tunnel.yaml", config);
    herd_ = spawn({options_.herd, "tunnel", "--config", dir_ + "/tunnel.yaml"}, "herd");
    int ssh_port = 0;
    std::string host_key;
    auto deadline = Clock::now() + 15s;
    while (Clock::now() < deadline) {
      std::string out = files::read(dir_ + "/herd.out").valueOr("");
      if (out.find("ready\n") != std::string::npos) {
        size_t at = out.find("ssh port ");
        ssh_port = std::stoi(out.substr(at + 9));
        at = out.find("host key ");
        host_key = out.substr(at + 9, out.find('\n', at) - at - 9);
        break;
      }
      if (!herd_->running()) break;
      std::this_thread::sleep_for(50ms);
    }
    if (ssh_port == 0) die("herd tunnel did not start: " + logOf("herd"));
    (void)files::writeAtomic(dir_ + "/herd_known_hosts",
                             fmt::format("[127.0.0.1]:{} {}\n", ssh_port, host_key));
    herd_node_ = spawn(sshClient(ssh_port, "alpha", dir_ + "/herd_known_hosts",
                                 fmt::format("node-1:10250:127.0.0.1:{}", service_port)),
                       "herd_ssh");
    Opener open = [socket_path] { return connectThroughHerd(socket_path); };
    if (!waitForPath(open)) die("no stream through herd: " + logOf("herd_ssh") + logOf("herd"));
    return open;
  }

  Processes herdProcesses() const { return {herd_->pid(), herd_node_->pid()}; }
  Processes sshdProcesses() const {
    if (!sshd_) return {};
    return {sshd_->pid(), sshd_node_->pid()};
  }

  // OpenSSH's sshd with a config of its own; the node's -R makes sshd listen on forward_port.
  std::optional<Opener> startSshd(int service_port) {
    if (::geteuid() != 0) return std::nullopt;
    auto sshd = findExecutable("sshd");
    if (!sshd) return std::nullopt;
    int sshd_port = freePort();
    int forward_port = freePort();
    (void)files::makeDirs("/run/sshd");  // sshd's privilege-separation directory
    auto pub = files::read(dir_ + "/node.pub");
    (void)files::writeAtomic(dir_ + "/authorized_keys", pub.valueOr(""), 0600);
    std::string config = fmt::format(R"(ListenAddress 127.0.0.1:{1}
HostKey {0}/sshd_host
PidFile none
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AuthorizedKeysFile {0}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
GatewayPorts no
LogLevel ERROR
)",
                                     dir_, sshd_port);
    (void)files::writeAtomic(dir_ + "/sshd_config", config);
    sshd_ = spawn({*sshd, "-D", "-e", "-f", dir_ + "/sshd_config"}, "sshd");
    auto deadline = Clock::now() + 10s;
    while (!connectLoopback(sshd_port).valid()) {
      if (Clock::now() > deadline || !sshd_->running()) die("sshd did not start: " + logOf("sshd"));
      std::this_thread::sleep_for(50ms);
    }
    auto host_pub = files::read(dir_ + "/sshd_host.pub");
    (void)files::writeAtomic(dir_ + "/sshd_known_hosts",
                             fmt::format("[127.0.0.1]:{} {}", sshd_port, host_pub.valueOr("")));
    passwd* user = ::getpwuid(::geteuid());
    sshd_node_ = spawn(
        sshClient(sshd_port, user != nullptr ? user->pw_name : "root", dir_ + "/sshd_known_hosts",
                  fmt::format("{}:127.0.0.1:{}", forward_port, service_port)),
        "sshd_ssh");
    Opener open = [forward_port] { return connectLoopback(forward_port); };
    if (!waitForPath(open)) die("no stream through sshd: " + logOf("sshd_ssh") + logOf("sshd"));
    return open;
  }

  const Options& options() const { return options_; }

 private:
  // The node's command from docs/tunnel.md, with the cipher pinned.
  std::vector<std::string> sshClient(int port, const std::string& user,
                                     const std::string& known_hosts, const std::string& forward) {
    return tunnel::testing::sshClientCommand({
        .key = dir_ + "/node",
        .user = user,
        .port = port,
        .known_hosts = known_hosts,
        .forward = forward,
        .server_alive_seconds = 10,
        .extra = {"-o", "Compression=no", "-c", options_.cipher},
    });
  }

  std::optional<Process> spawn(const std::vector<std::string>& argv, const std::string& name) {
    ProcessOptions o;
    o.stdout_path = dir_ + "/" + name + ".out";
    o.stderr_path = dir_ + "/" + name + ".err";
    auto p = Process::spawn(argv, o);
    if (!p) die(argv[0] + ": " + p.status().toString());
    return std::move(p).value();
  }

  std::string logOf(const std::string& name) {
    return "\n" + files::read(dir_ + "/" + name + ".err").valueOr("");
  }

  static int freePort() {
    auto port = testing::findFreeLoopbackPort();
    if (!port) die(port.status().toString());
    return *port;
  }

  Options options_;
  std::string dir_;
  std::optional<Process> herd_, herd_node_, sshd_, sshd_node_;
};

std::string cell(const Measured& r, double value, const char* format) {
  if (!r.ran) return "n/a";
  return fmt::format(fmt::runtime(format), value);
}

std::string ratio(const Measured& herd, const Measured& openssh, double h, double o) {
  if (!herd.ran || !openssh.ran || o == 0) return "n/a";
  return fmt::format("{:.2f}x", h / o);
}

std::string sizeText(uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) {
    return fmt::format("{} GiB", bytes >> 30);
  }
  if (bytes >= (1ull << 20)) return fmt::format("{} MiB", bytes >> 20);
  return fmt::format("{} B", bytes);
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parseOptions(argc, argv);
  tunnel::testing::ScriptedService service;
  Bench bench(options);
  Opener direct = [port = service.port()] { return connectLoopback(port); };
  Opener herd = bench.startHerd(service.port());
  std::optional<Opener> openssh = bench.startSshd(service.port());

  fmt::print(
      "bench/tunnel: one stream of {}, {} round trips of {} bytes; ssh cipher {}; median of {}\n",
      sizeText(options.bytes), options.round_trips, options.message, options.cipher,
      options.repeat);
  std::fflush(stdout);
  std::vector<Measured> direct_runs, herd_runs, openssh_runs;
  for (int i = 0; i < options.repeat; ++i) {
    direct_runs.push_back(measure(direct, options));
    // Alternate which tunnel goes first, so that neither always follows the other.
    for (int turn = 0; turn < 2; ++turn) {
      if ((turn + i) % 2 == 0) {
        herd_runs.push_back(measure(herd, options, bench.herdProcesses()));
        if (!herd_runs.back().ran)
          die("the herd path failed during the run: " + herd_runs.back().error);
      } else if (openssh) {
        openssh_runs.push_back(measure(*openssh, options, bench.sshdProcesses()));
        if (!openssh_runs.back().ran)
          die("the OpenSSH path failed during the run: " + openssh_runs.back().error);
      }
    }
  }
  Measured direct_result = median(direct_runs);
  Measured herd_result = median(herd_runs);
  Measured openssh_result = median(openssh_runs);

  const Measured& d = direct_result;
  const Measured& h = herd_result;
  const Measured& o = openssh_result;
  auto row = [](const std::string& name, const std::string& a, const std::string& b,
                const std::string& c, const std::string& r) {
    fmt::print("{:<28}{:>12}{:>14}{:>12}{:>16}\n", name, a, b, c, r);
  };
  fmt::print("\n");
  row("", "direct", "OpenSSH sshd", "herd", "herd/OpenSSH");
  row(fmt::format("transfer {} MB/s", sizeText(options.bytes)), cell(d, d.mb_per_s, "{:.0f}"),
      cell(o, o.mb_per_s, "{:.0f}"), cell(h, h.mb_per_s, "{:.0f}"),
      ratio(h, o, h.mb_per_s, o.mb_per_s));
  row("round trip p50 (us)", cell(d, d.p50_us, "{:.1f}"), cell(o, o.p50_us, "{:.1f}"),
      cell(h, h.p50_us, "{:.1f}"), ratio(h, o, h.p50_us, o.p50_us));
  row("round trip p99 (us)", cell(d, d.p99_us, "{:.1f}"), cell(o, o.p99_us, "{:.1f}"),
      cell(h, h.p99_us, "{:.1f}"), ratio(h, o, h.p99_us, o.p99_us));
  row(fmt::format("{} round trips (s)", options.round_trips), cell(d, d.total_s, "{:.3f}"),
      cell(o, o.total_s, "{:.3f}"), cell(h, h.total_s, "{:.3f}"),
      ratio(h, o, h.total_s, o.total_s));
  // CPU is per unit of work, so a faster path is not charged for doing more of it. The clock
  // ticks are 10 ms, hence the 1 GiB transfer and 10,000 round trips.
  row("server CPU s per GiB", "", cell(o, o.server_cpu_per_gib, "{:.2f}"),
      cell(h, h.server_cpu_per_gib, "{:.2f}"),
      ratio(h, o, h.server_cpu_per_gib, o.server_cpu_per_gib));
  row("node ssh CPU s per GiB", "", cell(o, o.node_cpu_per_gib, "{:.2f}"),
      cell(h, h.node_cpu_per_gib, "{:.2f}"), ratio(h, o, h.node_cpu_per_gib, o.node_cpu_per_gib));
  row("server CPU us per round trip", "", cell(o, o.server_cpu_per_rt_us, "{:.1f}"),
      cell(h, h.server_cpu_per_rt_us, "{:.1f}"),
      ratio(h, o, h.server_cpu_per_rt_us, o.server_cpu_per_rt_us));
  fmt::print(
      "\nthroughput: herd/OpenSSH above 1.0 is better; latency and CPU: below 1.0 is better.\n");
  if (!openssh) fmt::print("OpenSSH sshd column: n/a (needs root and /usr/sbin/sshd)\n");
  return 0;
}
