// Shared by the gateway's end-to-end tests: the herd gateway run as a real process from a
// config file, a plain TCP echo backend, a ClientHello builder for clients that only need to
// be routed (the echo backend returns the hello with the rest), and small socket helpers.
// Everything listens on 127.0.0.1; every process and thread is stopped by its destructor.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"
#include "support/test_env.h"

namespace herd::gateway::testing {

// A TLS record holding a minimal ClientHello for `sni` (no SNI when empty).
std::string clientHello(const std::string& sni);

// Connects to 127.0.0.1:port; -1 on failure. Receive and send timeouts are `timeout`.
int connectLoopback(int port, std::chrono::milliseconds timeout = std::chrono::seconds(5));
bool sendAll(int fd, std::string_view data);
// Reads exactly n bytes (or fails on EOF / timeout).
std::optional<std::string> readExactly(int fd, size_t n);
// Reads until EOF or timeout.
std::string readToEof(int fd);

// Sends hello(sni) + payload through the gateway and expects it echoed back in full.
bool echoRoundTrip(int port, const std::string& sni, const std::string& payload);

// GET path from 127.0.0.1:port over plain HTTP/1.0; the status code and the body.
struct HttpReply {
  int status = 0;
  std::string body;
};
HttpReply httpGet(int port, const std::string& path, const std::string& host = "127.0.0.1");

// Echoes every byte back, a thread per connection (detached and counted, so that tens of
// thousands of short connections do not pile up unjoined thread stacks).
// With `greeting` it first sends that string (to tell backends apart).
class EchoServer {
 public:
  explicit EchoServer(std::string greeting = {});
  ~EchoServer();
  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  void stop();

 private:
  void serve(int fd);
  std::string greeting_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::set<int> fds_;
  int serving_ = 0;
};

// `herd gateway --config <dir>/gateway.yaml` with the TLS, HTTP and admin ports picked here.
class GatewayProcess {
 public:
  explicit GatewayProcess(const herd::testing::TempDir& dir) : dir_(dir) {}
  ~GatewayProcess();
  // Writes the config: the listeners section is added in front of `routes_yaml`.
  void writeConfig(const std::string& routes_yaml);
  // Starts and waits for /readyz; false (with the log in `log()`) on failure.
  bool start(const std::string& routes_yaml, const std::vector<std::string>& extra_args = {});
  // SIGTERM; the exit code.
  int terminate(std::chrono::milliseconds grace = std::chrono::seconds(20));
  std::string metrics() const;
  // The value of one metric line ("herd_gateway_sni_unknown_total"), or -1.
  double metric(const std::string& name) const;
  std::string log() const;
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  int tlsPort() const { return tls_port_; }
  int httpPort() const { return http_port_; }
  int adminPort() const { return admin_port_; }

 private:
  const herd::testing::TempDir& dir_;
  std::optional<Process> process_;
  int tls_port_ = 0, http_port_ = 0, admin_port_ = 0;
};

// Resident set size of a process in KiB, from /proc.
long rssKib(pid_t pid);

// Polls until 127.0.0.1:port accepts a connection, at most `timeout`.
bool waitForPort(int port, std::chrono::milliseconds timeout);

// One tenant: its PKI in kubeadm's layout and an openssl s_server per API backend that
// demands a client certificate of the tenant's own CA and prints it back (-www).
struct Tenant {
  explicit Tenant(const std::string& tenant_name);
  bool startApiBackend();

  std::string name;
  herd::testing::TempDir dir;
  std::vector<Process> api_backends;
  std::vector<int> api_ports;
};

// Debian's nginx run from a private prefix, in the foreground, with `servers` (server blocks)
// inside its http block; start() waits until every port in `ports` accepts. Stopped by the
// destructor. available() is false when nginx is not installed.
class NginxProcess {
 public:
  explicit NginxProcess(const herd::testing::TempDir& dir) : dir_(dir) {}
  static bool available();
  // False (with nginx's error log in `log()`) when it did not come up.
  bool start(const std::string& servers, const std::vector<int>& ports);
  std::string log() const;

 private:
  const herd::testing::TempDir& dir_;
  std::optional<Process> process_;
};

// `openssl s_client` as tenant `as` to 127.0.0.1:port with this SNI, sending one HTTP/1.0
// GET. Its output says whether the backend saw the client's certificate ("Client
// certificate", printed by s_server -www) or the gateway closed the connection.
CommandResult opensslGet(const Tenant& as, const std::string& server_name, int port);

}  // namespace herd::gateway::testing
