#include "tunnel_harness.h"

#include <execinfo.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace herd::tunnel::testing {

namespace {

// These tests run many threads against real peers; a crash would leave CTest with nothing
// but "SEGFAULT". Print the stack (addresses for addr2line) before dying of the signal.
void printStackAndDie(int signal_number) {
  void* frames[64];
  int n = ::backtrace(frames, 64);
  static const char kHeader[] = "\nfatal signal in a tunnel test; stack:\n";
  [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, kHeader, sizeof kHeader - 1);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}
[[maybe_unused]] const bool kStackPrinterInstalled = [] {
  ::signal(SIGSEGV, printStackAndDie);
  ::signal(SIGBUS, printStackAndDie);
  return true;
}();

std::string makeKey(const herd::testing::TempDir& dir, const std::string& name) {
  std::string path = dir.file(name);
  Status made = makeSshKey(path, name);
  EXPECT_TRUE(made.isOk()) << made.toString();
  return path;
}
}  // namespace

Keys::Keys(const herd::testing::TempDir& dir)
    : host(makeKey(dir, "host")),
      alpha(makeKey(dir, "alpha")),
      beta(makeKey(dir, "beta")),
      stranger(makeKey(dir, "stranger")) {}

std::string tunnelConfig(const Keys& keys, const std::string& unix_path,
                         const std::string& ssh_listen, const std::string& extra,
                         const TenantCaFiles& cas) {
  auto ca = [](const std::string& file) {
    return file.empty() ? std::string() : "  clientCaFile: " + file + "\n";
  };
  return fmt::format(R"(ssh:
  listen: "{}"
  hostKeyFile: {}
  keepaliveSeconds: 2
  authTimeoutSeconds: 3
  maxUnauthenticated: 16
tenants:
- name: alpha
  nodeKeyFiles: [{}.pub]
{}- name: beta
  nodeKeyFiles: [{}.pub]
  nodes: [beta-node]
{}connect:
- unix: {}
  tenant: alpha
{})",
                     ssh_listen, keys.host, keys.alpha, ca(cas.alpha), keys.beta, ca(cas.beta),
                     unix_path, extra);
}

std::vector<std::string> sshCommand(const std::vector<std::string>& prefix, const std::string& key,
                                    const std::string& user, const std::string& host, int port,
                                    const std::string& known_hosts, const std::string& bind,
                                    int target_port, int remote_port) {
  std::vector<std::string> argv = prefix;
  std::vector<std::string> ssh = sshClientCommand({
      .key = key,
      .user = user,
      .host = host,
      .port = port,
      .known_hosts = known_hosts,
      .forward = fmt::format("{}:{}:127.0.0.1:{}", bind, remote_port, target_port),
      .extra = {"-o", "ConnectTimeout=5"},
  });
  argv.insert(argv.end(), ssh.begin(), ssh.end());
  return argv;
}

UniqueFd connectThrough(const std::string& unix_path, const std::string& target,
                        std::string* response) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  unix_path.copy(addr.sun_path, sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  std::string request = fmt::format("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n\r\n", target);
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0) return {};
  // Read the response head byte by byte so no tunnelled byte is consumed.
  std::string head;
  while (head.size() < 4096 && !head.ends_with("\r\n\r\n")) {
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 15000) != 1) break;
    char c;
    if (::recv(fd.get(), &c, 1, 0) != 1) break;
    head += c;
  }
  if (head.starts_with("HTTP/1.1 200")) return fd;
  head += readAll(fd.get(), 4096, std::chrono::milliseconds(2000));
  if (response != nullptr) *response = head;
  return {};
}

std::string readAll(int fd, size_t limit, std::chrono::milliseconds timeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[65536];
  while (out.size() < limit) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, limit - out.size()), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

long residentKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return 0;
}

int openDescriptors() {
  int count = 0;
  for ([[maybe_unused]] auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

}  // namespace herd::tunnel::testing
