// Flow control, hostile input and resource bounds, with the tunnel in this process, a real
// OpenSSH client on loopback and a scripted "kubelet" that each stream tells what to do:
// "bulk N" (send N bytes, close), "flood" (send until the reader stalls), "echo".
#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/files.h"
#include "common/socket.h"
#include "tunnel/config.h"
#include "tunnel/tunnel.h"
#include "tunnel_harness.h"

namespace herd::tunnel::testing {
namespace {

using namespace std::chrono_literals;
using herd::testing::TempDir;

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!findExecutable("ssh")) GTEST_SKIP() << "needs OpenSSH";
    keys_ = std::make_unique<Keys>(dir_);
    unix_path_ = dir_.file("egress.sock");
    auto config = TunnelConfig::parse(tunnelConfig(*keys_, unix_path_), dir_.path());
    ASSERT_TRUE(config.isOk()) << config.status().toString();
    auto tunnel = startTunnel(std::move(config).value());
    ASSERT_TRUE(tunnel.isOk()) << tunnel.status().toString();
    tunnel_ = std::move(tunnel).value();
    dir_.write("known_hosts",
               fmt::format("[127.0.0.1]:{} {}\n", tunnel_->sshPort(), tunnel_->hostKeyLine()));
    auto node =
        Process::spawn(sshCommand({}, keys_->alpha, "alpha", "127.0.0.1", tunnel_->sshPort(),
                                  dir_.file("known_hosts"), "node-1", kubelet_.port()),
                       outputTo("", dir_.file("ssh.err")));
    ASSERT_TRUE(node.isOk());
    node_.emplace(std::move(node).value());
    ASSERT_TRUE(eventually([&] { return tunnel_->liveNodes() == 1; }, 10s))
        << files::read(dir_.file("ssh.err")).valueOr("");
  }
  void TearDown() override {
    node_.reset();
    if (tunnel_) tunnel_->stop();
  }

  UniqueFd stream(const std::string& command) {
    UniqueFd fd = connectThrough(unix_path_, "node-1:10250");
    if (fd.valid()) net::writeAll(fd.get(), command + "\n");
    return fd;
  }

  uint64_t metric(const std::string& name) {
    std::string text = tunnel_->metricsText();
    size_t at = text.find("\nherd_tunnel_" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(text.find(' ', at + 1) + 1));
  }

  TempDir dir_;
  ScriptedService kubelet_;
  std::unique_ptr<Keys> keys_;
  std::string unix_path_;
  std::unique_ptr<Tunnel> tunnel_;
  std::optional<Process> node_;
};

TEST_F(FlowTest, StalledStreamDoesNotBlockAnotherOnTheSameNode) {
  UniqueFd stalled = stream("flood");
  ASSERT_TRUE(stalled.valid());
  std::this_thread::sleep_for(300ms);  // let the flood fill every buffer it can
  constexpr size_t kBytes = 100 * 1024 * 1024;
  auto start = std::chrono::steady_clock::now();
  UniqueFd bulk = stream(fmt::format("bulk {}", kBytes));
  ASSERT_TRUE(bulk.valid());
  size_t received = 0;
  char buffer[256 * 1024];
  while (received < kBytes) {
    pollfd p{bulk.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1) << "bulk stream stalled at " << received;
    ssize_t n = ::recv(bulk.get(), buffer, sizeof buffer, 0);
    ASSERT_GT(n, 0) << "bulk stream ended at " << received;
    received += static_cast<size_t>(n);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format("100 MB beside a stalled stream: {:.2f} s, {:.0f} MB/s\n", seconds,
                           100 / seconds);
  EXPECT_LT(seconds, 45);
  // The stalled stream is still open and still holds what it was sent: nothing was dropped.
  pollfd p{stalled.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 1);
}

// The node sends N bytes and closes while the client is not reading: the client still gets
// all N bytes, and only then the end of the stream (a half-close must never overtake data).
TEST_F(FlowTest, SlowReaderGetsEveryByteBeforeTheEnd) {
  for (size_t bytes : {size_t{1}, size_t{100000}, size_t{8} << 20}) {
    UniqueFd fd = stream(fmt::format("bulk {}", bytes));
    ASSERT_TRUE(fd.valid());
    std::this_thread::sleep_for(500ms);  // the kubelet finishes and closes meanwhile
    size_t received = 0;
    char buffer[64 * 1024];
    while (true) {
      pollfd p{fd.get(), POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 10000), 1) << "stalled at " << received << " of " << bytes;
      ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
      ASSERT_GE(n, 0) << std::strerror(errno);
      if (n == 0) break;
      received += static_cast<size_t>(n);
    }
    EXPECT_EQ(received, bytes);
  }
}

// A client that reads, but slowly (kubectl logs -f to a slow link), while the node floods:
// what the gateway holds for the stream stays within one SSH window and one relay buffer.
// Every small drain must not reopen the window over bytes still waiting in the gateway.
TEST_F(FlowTest, SlowReaderHoldsBoundedMemory) {
  UniqueFd slow = stream("flood");
  ASSERT_TRUE(slow.valid());
  std::this_thread::sleep_for(300ms);
  long rss_before = residentKib();
  size_t received = 0;
  char buffer[4096];
  auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    ssize_t n = ::recv(slow.get(), buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) received += static_cast<size_t>(n);
    std::this_thread::sleep_for(2ms);
  }
  long grown_kib = residentKib() - rss_before;
  std::cout << fmt::format("slow reader: {} KiB read in 5 s, resident memory grew {} KiB\n",
                           received / 1024, grown_kib);
  EXPECT_GT(received, 1u << 20);  // it did read: this is slow, not stalled
  EXPECT_LT(grown_kib, 8 * 1024);
}

TEST_F(FlowTest, HostileInputLeavesTheGatewayUpAndBounded) {
  long rss_before = residentKib();
  // Garbage on the SSH port, and connections that never speak (held open, then dropped).
  std::vector<UniqueFd> half_open;
  for (int i = 0; i < 40; ++i) {
    auto fd = net::connectTcp(fmt::format("127.0.0.1:{}", tunnel_->sshPort()), 2s);
    ASSERT_TRUE(fd.isOk());
    if (i % 2 == 0) net::writeAll(fd->get(), std::string(4096, static_cast<char>('\x7f' - i)));
    half_open.push_back(std::move(fd).value());
  }
  EXPECT_TRUE(eventually([&] { return metric("ssh_connections_over_limit_total") > 0; }, 5s));
  half_open.clear();
  // A flood of channel opens from one authenticated connection (-L forwards into the gateway).
  int local_port = herd::testing::freeLoopbackPort();
  auto flooder =
      Process::spawn({"ssh", "-N", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o",
                      "UserKnownHostsFile=" + dir_.file("known_hosts"), "-i", keys_->alpha, "-p",
                      std::to_string(tunnel_->sshPort()), "-L",
                      fmt::format("127.0.0.1:{}:127.0.0.1:22", local_port), "-R",
                      fmt::format("node-2:10250:127.0.0.1:{}", kubelet_.port()), "alpha@127.0.0.1"},
                     outputTo("", dir_.file("flood.err")));
  ASSERT_TRUE(flooder.isOk());
  ASSERT_TRUE(eventually([&] { return tunnel_->liveNodes() == 2; }, 10s));
  for (int i = 0; i < 100; ++i) {
    auto fd = net::connectTcp(fmt::format("127.0.0.1:{}", local_port), 1s);
    if (!fd) break;
  }
  EXPECT_TRUE(eventually([&] { return !flooder->running(); }, 10s)) << "flooder not cut off";
  EXPECT_GE(metric("ssh_channel_opens_refused_total"), 64u);
  EXPECT_GT(metric("ssh_handshake_failures_total"), 0u);
  // The real node's tunnel works throughout.
  UniqueFd echo = stream("echo");
  ASSERT_TRUE(echo.valid());
  net::writeAll(echo.get(), "ping");
  EXPECT_EQ(readAll(echo.get(), 4, 5s), "ping");
  EXPECT_LT(residentKib() - rss_before, 64 * 1024);
}

TEST_F(FlowTest, ManyStreamsLeaveNoDescriptorsOrMemoryBehind) {
  // 100,000 streams, 8 at a time (about 30 s on two cores); each opens a channel, round-trips a
  // byte and closes.
  constexpr int kStreams = 100000;
  constexpr int kWorkers = 8;
  auto oneStream = [&] {
    UniqueFd fd = stream("echo");
    if (!fd.valid()) return false;
    net::writeAll(fd.get(), "x");
    return readAll(fd.get(), 1, 5s) == "x";
  };
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(oneStream());  // warm up allocators and caches
  eventually([&] { return metric("streams_live") == 0; }, 5s);
  int fds_before = openDescriptors();
  long rss_before = residentKib();
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  auto start = std::chrono::steady_clock::now();
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (next++ < kStreams) {
        if (!oneStream()) ++failures;
      }
    });
  }
  for (auto& t : workers) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << fmt::format("{} streams in {:.1f} s\n", kStreams, seconds);
  EXPECT_EQ(failures, 0);
  EXPECT_TRUE(eventually([&] { return metric("streams_live") == 0; }, 5s));
  EXPECT_TRUE(eventually([&] { return openDescriptors() <= fds_before + 4; }, 5s))
      << openDescriptors() << " descriptors, " << fds_before << " before";
  EXPECT_LT(residentKib() - rss_before, 32 * 1024);
}

}  // namespace
}  // namespace herd::tunnel::testing
