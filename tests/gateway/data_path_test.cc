// The byte path under bulk load. Whatever way the gateway moves a direction (copies through
// its buffers for short bursts, splice(2) through a kernel pipe for bulk), every byte must
// arrive once and in order, a client that stops reading must stop the backend (and not fill
// the gateway's memory), small messages after a bulk burst must not wait behind it, and a
// half-close must follow the last byte.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <random>
#include <sstream>
#include <thread>

#include "gateway_test_util.h"

namespace herd::gateway {
namespace {

using namespace std::chrono_literals;

class GatewayDataPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(gateway_.start("tenants:\n  - name: alpha\n    apiServers: [\"127.0.0.1:" +
                               std::to_string(echo_.port()) + "\"]\n"))
        << gateway_.log();
  }

  // A connection routed to the echo backend, its hello already echoed back.
  int open() {
    int fd = testing::connectLoopback(gateway_.tlsPort(), 20s);
    std::string hello = testing::clientHello("alpha.herd.localhost");
    EXPECT_TRUE(testing::sendAll(fd, hello));
    EXPECT_EQ(testing::readExactly(fd, hello.size()).value_or(""), hello);
    return fd;
  }

  // The sum of a metric family over all its label sets.
  double family(const std::string& name) {
    std::istringstream in(gateway_.metrics());
    std::string line;
    double sum = 0;
    while (std::getline(in, line)) {
      if (line.starts_with(name + "{")) sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  static std::string randomBytes(size_t n, uint32_t seed) {
    std::mt19937 generator(seed);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(generator());
    return out;
  }

  testing::EchoServer echo_;
  herd::testing::TempDir dir_;
  testing::GatewayProcess gateway_{dir_};
};

TEST_F(GatewayDataPathTest, BulkArrivesIntactThroughBackpressureAndTheHalfCloseFollowsIt) {
  int fd = open();
  const std::string payload = randomBytes(48 * 1024 * 1024, 7);
  long rss_before = testing::rssKib(gateway_.pid());
  // Writes of every size from one byte to 256 KiB, then the half-close.
  std::thread writer([&] {
    std::mt19937 sizes(11);
    for (size_t at = 0; at < payload.size();) {
      size_t n = std::min<size_t>(payload.size() - at, 1 + sizes() % (256 * 1024));
      if (!testing::sendAll(fd, std::string_view(payload).substr(at, n))) return;
      at += n;
    }
    ::shutdown(fd, SHUT_WR);
  });
  // The client does not read for a while: the echo backend blocks on its writes, the gateway
  // stops reading from it and then from the client, and the writer blocks. Bounded memory.
  std::this_thread::sleep_for(700ms);
  long rss_stalled = testing::rssKib(gateway_.pid());
  std::string received;
  received.reserve(payload.size());
  char buffer[200 * 1024];
  while (true) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    received.append(buffer, static_cast<size_t>(n));
  }
  writer.join();
  ::close(fd);
  ASSERT_EQ(received.size(), payload.size());
  EXPECT_TRUE(received == payload) << "the bytes arrived changed or out of order";
  EXPECT_LT(rss_stalled - rss_before, 16 * 1024) << "KiB held for a client that does not read";
  EXPECT_GE(family("herd_gateway_route_received_bytes_total"), payload.size());
  EXPECT_GE(family("herd_gateway_route_sent_bytes_total"), payload.size());
}

TEST_F(GatewayDataPathTest, SmallMessagesAfterBulkBurstsAreNotHeldBack) {
  int fd = open();
  for (int round = 0; round < 5; ++round) {
    // A burst large enough to switch both directions to bulk mode...
    std::string burst = randomBytes(4 * 1024 * 1024, static_cast<uint32_t>(round));
    std::thread writer([&] { testing::sendAll(fd, burst); });
    EXPECT_EQ(testing::readExactly(fd, burst.size()).value_or("") == burst, true)
        << "round " << round;
    writer.join();
    // ...then round trips of a few bytes, each of which must come back on its own.
    for (int i = 0; i < 50; ++i) {
      std::string ping = "ping " + std::to_string(round) + "." + std::to_string(i);
      ASSERT_TRUE(testing::sendAll(fd, ping));
      ASSERT_EQ(testing::readExactly(fd, ping.size()).value_or(""), ping)
          << "round " << round << " message " << i;
    }
  }
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(testing::readToEof(fd), "");
  ::close(fd);
  EXPECT_TRUE(herd::testing::eventually(
      [&] { return gateway_.metric("herd_gateway_active_connections") == 0; }, 5s))
      << gateway_.metric("herd_gateway_active_connections") << " connections still open";
}

// The gateway takes a read that comes back short for an empty socket and waits for the next
// event; sizes at the edges of its inbox and of its buffers must still arrive whole, and an end
// that arrives together with the last bytes must not be missed.
TEST_F(GatewayDataPathTest, SizesAtTheBufferEdgesAndAnEndRightBehindTheLastByte) {
  int fd = open();
  uint32_t seed = 100;
  for (size_t size :
       {1, 511, 512, 513, 1024, 16 * 1024, 65535, 65536, 65537, 66048, 131072, 131073, 512, 1}) {
    std::string message = randomBytes(size, seed++);
    std::thread writer([&] { testing::sendAll(fd, message); });
    EXPECT_TRUE(testing::readExactly(fd, size).value_or("") == message) << size << " bytes";
    writer.join();
  }
  // The last request and the end of the client's stream, sent back to back.
  ASSERT_TRUE(testing::sendAll(fd, "last"));
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(testing::readToEof(fd), "last");
  ::close(fd);
  // Many short connections that say one thing and end at once.
  for (int i = 0; i < 200; ++i) {
    int c = open();
    std::string word = "bye " + std::to_string(i);
    ASSERT_TRUE(testing::sendAll(c, word));
    ::shutdown(c, SHUT_WR);
    ASSERT_EQ(testing::readToEof(c), word) << "connection " << i;
    ::close(c);
  }
}

}  // namespace
}  // namespace herd::gateway
