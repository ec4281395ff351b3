// Pieces shared by the tunnel tests (tests/tunnel, tests/gateway) and bench/tunnel: SSH keys
// made by ssh-keygen, the node's stock `ssh -N -R` command line, and a service on loopback that
// each stream tells what to do. Free of GoogleTest, so the benchmark links it too. A
// ScriptedService owns its listener and its connection threads; it is not copyable.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace herd::tunnel::testing {

// An ed25519 key pair without a passphrase: `path` (private) and `path`.pub.
Status makeSshKey(const std::string& path, const std::string& comment);

// What varies between callers of the node's command; the rest is fixed by docs/tunnel.md.
struct SshClientOptions {
  std::string key;  // private key file
  std::string user;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string known_hosts;
  std::string forward;  // the -R argument
  int server_alive_seconds = 2;
  // More arguments before -i, e.g. {"-c", cipher}.
  std::vector<std::string> extra;
};

// `ssh -N -T` with batch mode, strict host key checking against `known_hosts`, failure on a
// refused forward, keepalives, and `-R forward`.
std::vector<std::string> sshClientCommand(const SshClientOptions& options);

// A service on 127.0.0.1 with a thread per connection. kScripted: a stream's first line says
// what to do: "bulk N" (send N bytes, close), "flood" (send until the reader stalls, then until
// shutdown) or "echo". kEcho: every stream is echoed from its first byte.
class ScriptedService {
 public:
  enum class Mode { kScripted, kEcho };

  explicit ScriptedService(Mode mode = Mode::kScripted);
  ~ScriptedService();
  ScriptedService(const ScriptedService&) = delete;
  ScriptedService& operator=(const ScriptedService&) = delete;

  int port() const { return port_; }
  // Connections accepted so far: whether anything reached this service at all.
  int accepted() const { return accepted_; }

 private:
  void acceptLoop();
  void serve(UniqueFd fd);
  void echo(int fd);

  const Mode mode_;
  UniqueFd listen_;
  int port_ = 0;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
  std::atomic<int> accepted_{0};
};

}  // namespace herd::tunnel::testing
