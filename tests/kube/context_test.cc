// CancelToken and Context on their own: waking sleepers, callbacks, the deadline arithmetic.
#include "kube/context.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace herd::kube {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(CancelTokenTest, CancelWakesASleeperEarly) {
  CancelToken token;
  EXPECT_FALSE(token.cancelled());
  std::thread canceller([&] {
    std::this_thread::sleep_for(100ms);
    token.cancel();
  });
  auto start = Clock::now();
  EXPECT_TRUE(token.waitUntil(start + 60s));
  EXPECT_LT(Clock::now() - start, 30s);
  canceller.join();
  EXPECT_TRUE(token.cancelled());
  token.cancel();                                    // a second cancel is harmless
  EXPECT_TRUE(token.waitUntil(Clock::now() + 60s));  // and returns at once from now on
}

TEST(CancelTokenTest, AnUncancelledWaitRunsToItsEnd) {
  CancelToken token;
  auto start = Clock::now();
  EXPECT_FALSE(token.waitUntil(start + 50ms));
  EXPECT_GE(Clock::now() - start, 50ms);
}

TEST(CancelTokenTest, CallbacksRunOnceAndRemovedOnesNever) {
  CancelToken token;
  int kept = 0, removed = 0;
  token.onCancel([&] { ++kept; });
  uint64_t id = token.onCancel([&] { ++removed; });
  token.removeOnCancel(id);
  token.cancel();
  token.cancel();
  EXPECT_EQ(kept, 1);
  EXPECT_EQ(removed, 0);
  int late = 0;
  token.onCancel([&] { ++late; });  // registered after the cancel: runs at once
  EXPECT_EQ(late, 1);
}

TEST(ContextTest, RemainingCountsDownToZero) {
  Context none;
  EXPECT_FALSE(none.remaining().has_value());
  EXPECT_FALSE(none.cancelled());
  Context past{Clock::now() - 1s, nullptr};
  EXPECT_EQ(past.remaining()->count(), 0);
  auto c = Context::withTimeout(60s, std::make_shared<CancelToken>());
  EXPECT_GT(*c.remaining(), 30s);
  EXPECT_LE(*c.remaining(), 60s);
  c.cancel->cancel();
  EXPECT_TRUE(c.cancelled());
}

}  // namespace
}  // namespace herd::kube
