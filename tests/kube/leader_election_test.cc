// Two candidate processes contend for one Lease.
#include "kube/leader_election.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "common/files.h"
#include "support/test_apiserver.h"

namespace herd::kube {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kLeaseMs = 2000;
constexpr int kRetryMs = 200;

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = testing::TestApiServer::start();
    ASSERT_TRUE(s.isOk()) << s.status().toString();
    server_ = std::move(*s);
    auto c = Client::create(server_->adminConfig());
    ASSERT_TRUE(c.isOk());
    client_ = std::move(*c);
  }

  Result<Process> candidate(const std::string& identity) {
    ProcessOptions o;
    o.stdout_path = dir_.file(identity + ".out");
    o.stderr_path = dir_.file(identity + ".err");
    return Process::spawn({HERD_LEASE_CANDIDATE, server_->kubeconfigPath(), identity,
                           std::to_string(kLeaseMs), std::to_string(kRetryMs)},
                          o);
  }

  std::string output(const std::string& identity) {
    auto d = files::read(dir_.file(identity + ".out"));
    return d ? *d : "";
  }

  std::string holder() {
    auto lease = client_->get(leasesResource(), "default", "herd-controller");
    if (!lease) return "<none>";
    return (*lease)["spec"].value("holderIdentity", "");
  }

  // Waits up to `limit` for the Lease to name `who`; how long it took.
  std::optional<Clock::duration> waitForHolder(const std::string& who, Clock::duration limit) {
    auto t0 = Clock::now();
    while (Clock::now() - t0 < limit) {
      if (holder() == who) return Clock::now() - t0;
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  std::string leaderOf(const std::string& a, const std::string& b) {
    for (int i = 0; i < 500; ++i) {
      bool la = output(a).find("leading") != std::string::npos;
      bool lb = output(b).find("leading") != std::string::npos;
      if (la || lb) {
        EXPECT_FALSE(la && lb) << "both candidates lead";
        return la ? a : b;
      }
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "nobody became leader";
    return "";
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::TestApiServer> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(LeaderElectionTest, ExactlyOneLeadsAndAKilledLeaderIsReplacedWithinTheLease) {
  auto ra = candidate("a");
  auto rb = candidate("b");
  ASSERT_TRUE(ra.isOk() && rb.isOk());
  Process& a = *ra;
  Process& b = *rb;
  std::string leader = leaderOf("a", "b");
  ASSERT_FALSE(leader.empty());
  std::string follower = leader == "a" ? "b" : "a";
  ASSERT_TRUE(waitForHolder(leader, 5s));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(3 * kLeaseMs));  // the leader keeps renewing
  EXPECT_EQ(holder(), leader);
  EXPECT_EQ(output(follower).find("leading"), std::string::npos);

  ASSERT_TRUE((leader == "a" ? a : b).signal(SIGKILL).isOk());
  auto took = waitForHolder(follower, 20s);
  ASSERT_TRUE(took) << "the follower never took over";
  // It must wait out the lease it last saw renewed, and not much longer.
  EXPECT_LE(*took, std::chrono::milliseconds(kLeaseMs + 3 * kRetryMs + 1000));
  // The Lease names it before the process has printed that it leads: wait for the line.
  EXPECT_TRUE(testing::eventually(
      [&] { return output(follower).find("leading " + follower) != std::string::npos; }, 5s))
      << output(follower);
  auto lease = client_->get(leasesResource(), "default", "herd-controller");
  ASSERT_TRUE(lease.isOk());
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, CleanShutdownReleasesAtOnce) {
  auto ra = candidate("a");
  ASSERT_TRUE(ra.isOk()) << ra.status().toString();
  Process& a = *ra;
  ASSERT_TRUE(waitForHolder("a", 10s));
  auto rb = candidate("b");
  ASSERT_TRUE(rb.isOk()) << rb.status().toString();
  std::this_thread::sleep_for(std::chrono::milliseconds(kLeaseMs));
  EXPECT_EQ(holder(), "a");
  auto t0 = Clock::now();
  ASSERT_TRUE(a.signal(SIGTERM).isOk());
  EXPECT_EQ(a.waitFor(10s), 0);
  EXPECT_NE(output("a").find("stopped a"), std::string::npos);
  auto took = waitForHolder("b", 10s);
  ASSERT_TRUE(took);
  // Released, b needs only its next retry (plus the 1 s duration of the released record).
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(kLeaseMs));
}

TEST(MicroTimeTest, Format) {
  std::string t = microTimeNow();
  ASSERT_EQ(t.size(), 27u) << t;
  EXPECT_EQ(t[10], 'T');
  EXPECT_EQ(t[19], '.');
  EXPECT_EQ(t.back(), 'Z');
}

}  // namespace
}  // namespace herd::kube
