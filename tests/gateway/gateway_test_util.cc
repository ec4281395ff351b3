#include "gateway_test_util.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "api/defaults.h"
#include "common/files.h"
#include "pki/kubeconfig.h"
#include "pki/pki_store.h"
#include "pki/tenant_pki.h"

namespace herd::gateway::testing {
namespace {

void put16(std::string& b, size_t v) {
  b.push_back(static_cast<char>((v >> 8) & 0xff));
  b.push_back(static_cast<char>(v & 0xff));
}

}  // namespace

std::string clientHello(const std::string& sni) {
  std::string ext;
  if (!sni.empty()) {
    put16(ext, 0);
    put16(ext, sni.size() + 5);
    put16(ext, sni.size() + 3);
    ext.push_back(0);
    put16(ext, sni.size());
    ext += sni;
  }
  std::string body("\x03\x03", 2);
  body.append(32, 'r');
  body.push_back(0);
  put16(body, 2);
  body.append("\x13\x01", 2);
  body.append("\x01\x00", 2);
  put16(body, ext.size());
  body += ext;
  std::string hs(1, '\x01');
  hs.push_back(0);
  put16(hs, body.size());
  hs += body;
  std::string record("\x16\x03\x01", 3);
  put16(record, hs.size());
  return record + hs;
}

int connectLoopback(int port, std::chrono::milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::optional<std::string> readExactly(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
    if (r <= 0) return std::nullopt;
    got += static_cast<size_t>(r);
  }
  return out;
}

std::string readToEof(int fd) {
  std::string out;
  char buf[16384];
  while (true) {
    ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

bool echoRoundTrip(int port, const std::string& sni, const std::string& payload) {
  int fd = connectLoopback(port);
  if (fd < 0) return false;
  std::string sent = clientHello(sni) + payload;
  bool ok = sendAll(fd, sent);
  auto back = ok ? readExactly(fd, sent.size()) : std::nullopt;
  ::close(fd);
  return back && *back == sent;
}

HttpReply httpGet(int port, const std::string& path, const std::string& host) {
  HttpReply reply;
  int fd = connectLoopback(port);
  if (fd < 0) return reply;
  sendAll(fd, "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n");
  std::string text = readToEof(fd);
  ::close(fd);
  if (text.size() > 12 && text.starts_with("HTTP/1.")) reply.status = std::stoi(text.substr(9, 3));
  auto body = text.find("\r\n\r\n");
  if (body != std::string::npos) reply.body = text.substr(body + 4);
  return reply;
}

EchoServer::EchoServer(std::string greeting) : greeting_(std::move(greeting)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 512);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      connections_++;
      std::lock_guard lock(mutex_);
      fds_.insert(fd);
      ++serving_;
      std::thread([this, fd] { serve(fd); }).detach();
    }
  });
}

void EchoServer::serve(int fd) {
  if (!greeting_.empty()) sendAll(fd, greeting_);
  char buf[65536];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (!sendAll(fd, std::string_view(buf, static_cast<size_t>(n)))) break;
  }
  ::shutdown(fd, SHUT_WR);
  std::lock_guard lock(mutex_);
  fds_.erase(fd);
  ::close(fd);
  --serving_;
  idle_.notify_all();
}

void EchoServer::stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock lock(mutex_);
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  idle_.wait(lock, [this] { return serving_ == 0; });
}

EchoServer::~EchoServer() {
  stop();
}

GatewayProcess::~GatewayProcess() {
  if (process_ && process_->running()) process_->stop(std::chrono::seconds(5));
}

void GatewayProcess::writeConfig(const std::string& routes_yaml) {
  std::string text = "listeners:\n  tls: \"127.0.0.1:" + std::to_string(tls_port_) +
                     "\"\n  http: \"127.0.0.1:" + std::to_string(http_port_) +
                     "\"\n  admin: \"127.0.0.1:" + std::to_string(admin_port_) + "\"\n" +
                     routes_yaml;
  // Atomic, as an operator's tooling (or a ConfigMap mount) replaces the file.
  (void)files::writeAtomic(dir_.file("gateway.yaml"), text);
}

bool GatewayProcess::start(const std::string& routes_yaml,
                           const std::vector<std::string>& extra_args) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    tls_port_ = herd::testing::freeLoopbackPort();
    http_port_ = herd::testing::freeLoopbackPort();
    admin_port_ = herd::testing::freeLoopbackPort();
    writeConfig(routes_yaml);
    std::vector<std::string> argv{
        herd::testing::herdBinary(), "--log-level", "debug", "gateway", "--config",
        dir_.file("gateway.yaml")};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    ProcessOptions options;
    options.stdout_path = dir_.file("gateway.log");
    options.stderr_path = dir_.file("gateway.log");
    auto p = Process::spawn(argv, options);
    if (!p) return false;
    process_.emplace(std::move(*p));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline && process_->running()) {
      if (httpGet(admin_port_, "/readyz").status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    process_->stop(std::chrono::seconds(2));
    process_.reset();
  }
  return false;
}

int GatewayProcess::terminate(std::chrono::milliseconds grace) {
  if (!process_) return -1;
  (void)process_->signal(SIGTERM);
  auto code = process_->waitFor(grace);
  if (!code) return process_->stop(std::chrono::seconds(1));
  return *code;
}

std::string GatewayProcess::metrics() const {
  return httpGet(admin_port_, "/metrics").body;
}

double GatewayProcess::metric(const std::string& name) const {
  std::istringstream in(metrics());
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

std::string GatewayProcess::log() const {
  return files::read(dir_.file("gateway.log")).valueOr("");
}

long rssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

bool waitForPort(int port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = connectLoopback(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Tenant::Tenant(const std::string& tenant_name) : name(tenant_name) {
  api::Cluster cluster;
  cluster.metadata.name = name;
  api::applyDefaults(cluster);
  auto pki = pki::generatePki(cluster, {});
  EXPECT_TRUE(pki.isOk()) << pki.status().toString();
  if (pki) {
    EXPECT_TRUE(pki::writePkiDir(dir.path(), pki->files).isOk());
  }
  auto conf = files::read(dir.file("admin.conf"));
  auto parsed = pki::parseKubeconfig(conf.valueOr(""));
  EXPECT_TRUE(parsed.isOk());
  if (parsed) {
    (void)files::writeAtomic(dir.file("admin.crt"), parsed->client_cert_pem);
    (void)files::writeAtomic(dir.file("admin.key"), parsed->client_key_pem, 0600);
  }
}

bool Tenant::startApiBackend() {
  int port = herd::testing::freeLoopbackPort();
  ProcessOptions options;
  options.stdout_path = dir.file("s_server.log");
  options.stderr_path = dir.file("s_server.log");
  auto server = Process::spawn(
      {"openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
       dir.file("pki/apiserver.crt"), "-key", dir.file("pki/apiserver.key"), "-CAfile",
       dir.file("pki/ca.crt"), "-Verify", "1", "-verify_return_error", "-www", "-quiet"},
      options);
  if (!server || !waitForPort(port, std::chrono::seconds(10))) return false;
  api_backends.push_back(std::move(*server));
  api_ports.push_back(port);
  return true;
}

bool NginxProcess::available() {
  return findExecutable("nginx").isOk();
}

bool NginxProcess::start(const std::string& servers, const std::vector<int>& ports) {
  const std::string& d = dir_.path();
  // As root the workers would switch to an unprivileged user that cannot read the test's
  // private directory; the temporary paths default to /var/lib/nginx, which only root may use.
  std::string conf = std::string(::geteuid() == 0 ? "user root;\n" : "") +
                     "worker_processes 1;\ndaemon off;\npid " + d + "/nginx.pid;\nerror_log " + d +
                     "/nginx.err info;\nevents { worker_connections 128; }\nhttp {\n"
                     "  access_log off;\n  default_type text/plain;\n";
  for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    conf += "  " + std::string(temp) + "_temp_path " + d + "/" + temp + "_temp;\n";
  }
  conf += servers + "}\n";
  if (!files::writeAtomic(dir_.file("nginx.conf"), conf).isOk()) return false;
  ProcessOptions options;
  options.stdout_path = dir_.file("nginx.err");
  options.stderr_path = dir_.file("nginx.err");
  auto p = Process::spawn({"nginx", "-p", d, "-e", d + "/nginx.err", "-c", dir_.file("nginx.conf")},
                          options);
  if (!p) return false;
  process_.emplace(std::move(*p));
  for (int port : ports) {
    if (!waitForPort(port, std::chrono::seconds(10))) return false;
  }
  return process_->running();
}

std::string NginxProcess::log() const {
  return files::read(dir_.file("nginx.err")).valueOr("");
}

CommandResult opensslGet(const Tenant& as, const std::string& server_name, int port) {
  auto r = runCommand(
      {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port), "-servername",
       server_name, "-CAfile", as.dir.file("pki/ca.crt"), "-cert", as.dir.file("admin.crt"), "-key",
       as.dir.file("admin.key"), "-verify_return_error", "-ign_eof"},
      "GET / HTTP/1.0\r\n\r\n", std::chrono::seconds(30));
  EXPECT_TRUE(r.isOk());
  return r ? *r : CommandResult{};
}

}  // namespace herd::gateway::testing
