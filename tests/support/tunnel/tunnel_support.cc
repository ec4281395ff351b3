#include "tunnel_support.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "common/process.h"
#include "common/socket.h"

namespace herd::tunnel::testing {

using namespace std::chrono_literals;

Status makeSshKey(const std::string& path, const std::string& comment) {
  auto made =
      runCommand({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path});
  if (!made) return made.status();
  if (made->exit_code != 0) return Status::invalid("ssh-keygen failed: " + made->err);
  return Status::ok();
}

std::vector<std::string> sshClientCommand(const SshClientOptions& options) {
  std::vector<std::string> argv = {
      "ssh",
      "-N",
      "-T",
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "UserKnownHostsFile=" + options.known_hosts,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "ExitOnForwardFailure=yes",
      "-o",
      fmt::format("ServerAliveInterval={}", options.server_alive_seconds),
      "-o",
      "ServerAliveCountMax=3",
  };
  argv.insert(argv.end(), options.extra.begin(), options.extra.end());
  argv.insert(argv.end(), {"-i", options.key, "-p", std::to_string(options.port), "-R",
                           options.forward, options.user + "@" + options.host});
  return argv;
}

ScriptedService::ScriptedService(Mode mode) : mode_(mode) {
  auto listening = net::listenTcp("127.0.0.1:0");
  if (!listening) {
    fmt::print(stderr, "scripted service: {}\n", listening.status().toString());
    std::abort();
  }
  listen_ = std::move(listening).value();
  port_ = net::boundPort(listen_.get());
  acceptor_ = std::thread([this] { acceptLoop(); });
}

ScriptedService::~ScriptedService() {
  stopping_ = true;
  ::shutdown(listen_.get(), SHUT_RDWR);
  acceptor_.join();
  // A stream still open after 5 s is the caller's leak; its thread is left behind.
  for (int i = 0; i < 500 && active_ > 0; ++i) std::this_thread::sleep_for(10ms);
}

void ScriptedService::acceptLoop() {
  while (!stopping_) {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    ++active_;
    std::thread([this, fd] {
      serve(UniqueFd(fd));
      --active_;
    }).detach();
  }
}

void ScriptedService::serve(UniqueFd fd) {
  // Round trips of a few bytes are what the latency figures measure: no Nagle delay.
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (mode_ == Mode::kEcho) return echo(fd.get());
  std::string command;
  char c;
  while (command.size() < 64 && ::recv(fd.get(), &c, 1, 0) == 1 && c != '\n') command += c;
  // Large enough that a bulk transfer is not measured in system calls.
  static const std::string kBlock(256 * 1024, 'k');
  if (command.starts_with("bulk ")) {
    uint64_t left = std::stoull(command.substr(5));
    while (left > 0 && !stopping_) {
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, kBlock.size()));
      ssize_t n = ::send(fd.get(), kBlock.data(), chunk, MSG_NOSIGNAL);
      if (n <= 0) return;
      left -= static_cast<uint64_t>(n);
    }
  } else if (command == "flood") {
    // Blocks once the reader stops reading, which is the point; ends at shutdown.
    timeval tv{0, 200000};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    while (!stopping_) {
      ssize_t n = ::send(fd.get(), kBlock.data(), kBlock.size(), MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return;
    }
  } else if (command == "echo") {
    echo(fd.get());
  }
}

void ScriptedService::echo(int fd) {
  char buffer[65536];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) {
    for (ssize_t sent = 0; sent < n;) {
      ssize_t m = ::send(fd, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
      if (m <= 0) return;
      sent += m;
    }
  }
}

}  // namespace herd::tunnel::testing
