// Test harness for the tunnel: SSH keys made by ssh-keygen, a tunnel config, a stock OpenSSH
// client doing `ssh -N -R`, optionally inside a network namespace, and a CONNECT client for
// the egress socket. Everything it starts it stops; every namespace it creates it deletes.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/unique_fd.h"
#include "support/test_env.h"
#include "tunnel_support.h"

namespace herd::tunnel::testing {

// Keys for tenants "alpha" and "beta", the gateway host key, and a stranger's key.
struct Keys {
  explicit Keys(const herd::testing::TempDir& dir);
  std::string host;   // private key file
  std::string alpha;  // alpha's node key (private; .pub beside it)
  std::string beta;
  std::string stranger;
};

// The CA files that may vouch for each tenant over TCP (tenants[].clientCaFile); empty: none.
struct TenantCaFiles {
  std::string alpha;
  std::string beta;
};

// A tunnel config (YAML) for alpha and beta (which may bind only beta-node), with alpha's
// egress on `unix_path`; `extra` is appended after that listener.
std::string tunnelConfig(const Keys& keys, const std::string& unix_path,
                         const std::string& ssh_listen = "127.0.0.1:0",
                         const std::string& extra = "", const TenantCaFiles& cas = {});

// `ssh -N -R <bind>:<port>:127.0.0.1:<target_port>` as documented in docs/tunnel.md.
// `prefix` runs it elsewhere (e.g. {"ip", "netns", "exec", "ns"}).
std::vector<std::string> sshCommand(const std::vector<std::string>& prefix, const std::string& key,
                                    const std::string& user, const std::string& host, int port,
                                    const std::string& known_hosts, const std::string& bind,
                                    int target_port, int remote_port = 10250);

// CONNECT host:port over the Unix socket. Returns the socket after a 200 (the status line and
// headers consumed); otherwise an invalid fd and the response in `response`.
UniqueFd connectThrough(const std::string& unix_path, const std::string& target,
                        std::string* response = nullptr);

using herd::testing::eventually;

// Reads until EOF or `limit` bytes, waiting at most `timeout`.
std::string readAll(int fd, size_t limit, std::chrono::milliseconds timeout);

long residentKib();

// Output files for a child process ("" leaves that stream at /dev/null).
inline ProcessOptions outputTo(std::string out, std::string err) {
  ProcessOptions options;
  options.stdout_path = std::move(out);
  options.stderr_path = std::move(err);
  return options;
}

inline std::vector<std::string> concat(std::vector<std::string> a,
                                       const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
int openDescriptors();

}  // namespace herd::tunnel::testing
