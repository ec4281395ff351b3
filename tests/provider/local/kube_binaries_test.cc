// The Kubernetes binaries, found or fetched: against a small HTTP server on loopback that
// plays dl.k8s.io (good file, redirect, bad checksum, truncated transfer, 404, nothing
// listening), checking what lands in the cache and what the user is told.
#include "provider/local/kube_binaries.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "support/test_env.h"

namespace herd::provider::local {
namespace {

std::string sha256Hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  std::string out;
  for (unsigned char b : md) out += fmt::format("{:02x}", b);
  return out;
}

// One canned answer: a status, headers and a body, of which only `send_bytes` are sent
// (the rest is promised by Content-Length and never comes: a truncated transfer).
struct Reply {
  int status = 200;
  std::string body;
  std::string location;  // for redirects
  std::optional<size_t> send_bytes;
};
Reply ok(std::string body) {
  Reply r;
  r.body = std::move(body);
  return r;
}
Reply redirect(std::string location) {
  Reply r;
  r.status = 302;
  r.location = std::move(location);
  return r;
}
Reply truncated(std::string body, size_t send_bytes) {
  Reply r = ok(std::move(body));
  r.send_bytes = send_bytes;
  return r;
}

// HTTP/1.1 on 127.0.0.1, one connection at a time, "Connection: close" after each reply.
class ReleaseServer {
 public:
  ReleaseServer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ReleaseServer() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  std::string base() const { return fmt::format("http://127.0.0.1:{}/release", port_); }
  void set(const std::string& path, Reply reply) {
    std::lock_guard lock(mu_);
    replies_[path] = std::move(reply);
  }
  // Publishes a binary and its checksum file the way dl.k8s.io lays them out.
  void publish(const std::string& tag, const std::string& name, const std::string& body,
               std::optional<std::string> checksum = std::nullopt) {
    std::string path = fmt::format("/release/{}/bin/linux/amd64/{}", tag, name);
    set(path, ok(body));
    set(path + ".sha256", ok(checksum.value_or(sha256Hex(body))));
  }
  int requests() const { return requests_.load(); }

 private:
  void serve() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      answer(fd);
      ::close(fd);
    }
  }
  void answer(int fd) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    ++requests_;
    size_t sp1 = request.find(' ');
    size_t sp2 = request.find(' ', sp1 + 1);
    std::string path = request.substr(sp1 + 1, sp2 - sp1 - 1);
    Reply reply = ok("404 page not found\n");
    reply.status = 404;
    {
      std::lock_guard lock(mu_);
      if (auto it = replies_.find(path); it != replies_.end()) reply = it->second;
    }
    std::string head = fmt::format("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                                   reply.status, reply.body.size());
    if (!reply.location.empty()) head += "Location: " + reply.location + "\r\n";
    std::string out =
        head + "\r\n" + reply.body.substr(0, reply.send_bytes.value_or(std::string::npos));
    for (size_t off = 0; off < out.size();) {
      ssize_t w = ::write(fd, out.data() + off, out.size() - off);
      if (w <= 0) return;
      off += static_cast<size_t>(w);
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::map<std::string, Reply> replies_;
  std::thread thread_;
};

// Every file below `dir`, recursively, as paths relative to it.
std::vector<std::string> filesBelow(const std::string& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(std::filesystem::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class KubeBinariesTest : public ::testing::Test {
 protected:
  BinaryOptions options() const {
    BinaryOptions o;
    o.cache_dir = dir_.file("cache");
    o.download_base = server_.base();
    o.arch = "amd64";
    return o;
  }
  ReleaseServer server_;
  herd::testing::TempDir dir_;
};

// A binary large enough to arrive in many writes, so progress and hashing see pieces.
std::string fakeBinary(char seed) {
  std::string s(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>(seed + i * 31);
  return s;
}

TEST_F(KubeBinariesTest, DownloadIsVerifiedInstalledIntoTheCacheAndThenReused) {
  std::string apiserver = fakeBinary('a');
  server_.publish("v1.32.4", "kube-apiserver", apiserver);
  // The published form is "<digest>  <file name>\n" on some mirrors; only the digest counts.
  server_.publish("v1.32.4", "kube-scheduler", "scheduler bytes",
                  sha256Hex("scheduler bytes") + "  kube-scheduler\n");
  auto o = options();
  uint64_t last_done = 0, last_total = 0;
  o.progress = [&](const std::string& name, uint64_t done, uint64_t total) {
    if (name == "kube-apiserver") last_done = done, last_total = total;
  };
  auto got = ensureBinaries("1.32.4", {"kube-apiserver", "kube-scheduler"}, o);
  ASSERT_TRUE(got.isOk()) << got.status().message();
  std::string path = (*got)["kube-apiserver"];
  EXPECT_EQ(path, o.cache_dir + "/v1.32.4/kube-apiserver");
  EXPECT_EQ(herd::testing::readFileOrDie(path), apiserver);
  EXPECT_EQ(herd::testing::readFileOrDie((*got)["kube-scheduler"]), "scheduler bytes");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  EXPECT_EQ(last_done, apiserver.size());
  EXPECT_EQ(last_total, apiserver.size());
  EXPECT_EQ(filesBelow(o.cache_dir),
            (std::vector<std::string>{"v1.32.4/kube-apiserver", "v1.32.4/kube-scheduler"}));

  int requests = server_.requests();
  auto again = ensureBinaries("v1.32.4", {"kube-apiserver", "kube-scheduler"}, o);
  ASSERT_TRUE(again.isOk()) << again.status().message();
  EXPECT_EQ(*again, *got);
  EXPECT_EQ(server_.requests(), requests) << "a cached binary is not fetched again";
}

TEST_F(KubeBinariesTest, RedirectsAreFollowedAsDlK8sIoSendsThemToItsCdn) {
  std::string body = fakeBinary('r');
  server_.set("/release/v1.31.2/bin/linux/amd64/kube-scheduler", redirect("/cdn/kube-scheduler"));
  server_.set("/release/v1.31.2/bin/linux/amd64/kube-scheduler.sha256",
              redirect("/cdn/kube-scheduler.sha256"));
  server_.set("/cdn/kube-scheduler", ok(body));
  server_.set("/cdn/kube-scheduler.sha256", ok(sha256Hex(body)));
  auto got = ensureBinaries("v1.31.2", {"kube-scheduler"}, options());
  ASSERT_TRUE(got.isOk()) << got.status().message();
  EXPECT_EQ(herd::testing::readFileOrDie((*got)["kube-scheduler"]), body);
}

TEST_F(KubeBinariesTest, ChecksumMismatchIsRefusedAndLeavesNothing) {
  server_.publish("v1.32.4", "kube-apiserver", fakeBinary('b'), sha256Hex("something else"));
  auto got = ensureBinaries("v1.32.4", {"kube-apiserver"}, options());
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kInvalid);
  EXPECT_NE(got.status().message().find("checksum mismatch"), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find(sha256Hex("something else")), std::string::npos);
  EXPECT_EQ(filesBelow(options().cache_dir), std::vector<std::string>{});
}

TEST_F(KubeBinariesTest, TruncatedTransferIsRefusedAndLeavesNothing) {
  std::string body = fakeBinary('t');
  std::string path = "/release/v1.32.4/bin/linux/amd64/kube-controller-manager";
  server_.set(path, truncated(body, body.size() / 2));
  server_.set(path + ".sha256", ok(sha256Hex(body)));
  auto got = ensureBinaries("v1.32.4", {"kube-controller-manager"}, options());
  ASSERT_FALSE(got.isOk());
  EXPECT_NE(got.status().message().find("before the whole file arrived"), std::string::npos)
      << got.status().message();
  EXPECT_EQ(filesBelow(options().cache_dir), std::vector<std::string>{});
}

TEST_F(KubeBinariesTest, NotFoundSaysWhatIsMissingAndTheTwoWaysToProvideIt) {
  auto got = ensureBinaries("v1.99.0", {"kube-apiserver"}, options());
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kNotFound);
  const std::string& m = got.status().message();
  EXPECT_NE(m.find("kube-apiserver v1.99.0"), std::string::npos) << m;
  EXPECT_NE(m.find("HTTP 404"), std::string::npos) << m;
  EXPECT_NE(m.find("--kube-bin DIR"), std::string::npos) << m;
  EXPECT_NE(m.find(options().cache_dir + "/v1.99.0"), std::string::npos) << m;
  EXPECT_EQ(filesBelow(options().cache_dir), std::vector<std::string>{});
}

TEST_F(KubeBinariesTest, OfflineSaysWhatIsMissingAndTheTwoWaysToProvideIt) {
  auto o = options();
  // A port nothing listens on: the listening socket of a server that has gone.
  int dead_port = 0;
  {
    ReleaseServer gone;
    dead_port = std::stoi(gone.base().substr(gone.base().rfind(':') + 1));
  }
  o.download_base = fmt::format("http://127.0.0.1:{}/release", dead_port);
  auto got = ensureBinaries("v1.32.4", {"kube-apiserver"}, o);
  ASSERT_FALSE(got.isOk());
  EXPECT_EQ(got.status().code(), Code::kUnavailable);
  const std::string& m = got.status().message();
  EXPECT_NE(m.find("kube-apiserver v1.32.4 is not available"), std::string::npos) << m;
  EXPECT_NE(m.find("HERD_KUBE_BIN"), std::string::npos) << m;

  o.allow_download = false;
  auto off = ensureBinaries("v1.32.4", {"kube-apiserver"}, o);
  ASSERT_FALSE(off.isOk());
  EXPECT_EQ(off.status().code(), Code::kNotFound);
  EXPECT_NE(off.status().message().find("downloads are off"), std::string::npos);
}

TEST_F(KubeBinariesTest, ANamedDirectoryIsTheOnlySource) {
  std::string bin = dir_.file("bin");
  ASSERT_TRUE(std::filesystem::create_directory(bin));
  std::string apiserver = dir_.write("bin/kube-apiserver", "#!/bin/sh\n");
  ::chmod(apiserver.c_str(), 0755);
  dir_.write("bin/kube-scheduler", "not executable");
  server_.publish("v1.32.4", "kube-scheduler", "would be downloaded");
  auto o = options();
  o.kube_bin_dir = bin;
  auto one = ensureBinaries("v1.32.4", {"kube-apiserver"}, o);
  ASSERT_TRUE(one.isOk()) << one.status().message();
  EXPECT_EQ((*one)["kube-apiserver"], apiserver);
  auto two = ensureBinaries("v1.32.4", {"kube-scheduler"}, o);
  ASSERT_FALSE(two.isOk());
  EXPECT_EQ(two.status().code(), Code::kNotFound);
  EXPECT_NE(two.status().message().find(bin + "/kube-scheduler is not an executable file"),
            std::string::npos)
      << two.status().message();
  EXPECT_EQ(server_.requests(), 0) << "a named directory is never topped up from the network";
}

TEST_F(KubeBinariesTest, VersionsAndNamesThatCouldEscapeTheCacheAreRefused) {
  for (std::string v : {"../../etc", "1.32", "v1.32.4/../../x", "", "latest"}) {
    auto got = ensureBinaries(v, {"kube-apiserver"}, options());
    ASSERT_FALSE(got.isOk()) << v;
    EXPECT_EQ(got.status().code(), Code::kInvalid) << v;
  }
  for (std::string name : {"../kube-apiserver", ".hidden", ""}) {
    auto got = ensureBinaries("v1.32.4", {name}, options());
    ASSERT_FALSE(got.isOk()) << name;
    EXPECT_EQ(got.status().code(), Code::kInvalid) << name;
  }
  EXPECT_EQ(server_.requests(), 0);
}

TEST_F(KubeBinariesTest, EtcdComesFromTheNamedDirectoryElseThePath) {
  std::string bin = dir_.file("bin");
  std::string path_dir = dir_.file("path");
  ASSERT_TRUE(std::filesystem::create_directory(bin));
  ASSERT_TRUE(std::filesystem::create_directory(path_dir));
  BinaryOptions o = options();
  o.kube_bin_dir = bin;
  o.path = path_dir;
  auto none = findEtcd(o);
  ASSERT_FALSE(none.isOk());
  EXPECT_NE(none.status().message().find("etcd-server"), std::string::npos);
  std::string on_path = dir_.write("path/etcd", "#!/bin/sh\n");
  ::chmod(on_path.c_str(), 0755);
  EXPECT_EQ(findEtcd(o).valueOr(""), on_path);
  std::string named = dir_.write("bin/etcd", "#!/bin/sh\n");
  ::chmod(named.c_str(), 0755);
  EXPECT_EQ(findEtcd(o).valueOr(""), named);
}

}  // namespace
}  // namespace herd::provider::local
