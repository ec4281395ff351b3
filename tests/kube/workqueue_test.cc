#include "kube/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace herd::kube {
namespace {

using namespace std::chrono_literals;

// Time for the rate limiter that moves only when the test moves it.
class FakeClock {
 public:
  RateLimiter::Now now() {
    return [this] { return now_; };
  }
  void advance(std::chrono::nanoseconds by) { now_ += by; }

 private:
  std::chrono::steady_clock::time_point now_;
};

TEST(RateLimiterTest, PerItemBackoffDoublesUpToTheMax) {
  FakeClock clock;
  RateLimiter limiter(RateLimiter::Options{5ms, 100ms, 1, 1000}, clock.now());
  EXPECT_EQ(limiter.when("a"), 5ms);
  EXPECT_EQ(limiter.when("a"), 10ms);
  EXPECT_EQ(limiter.when("a"), 20ms);
  EXPECT_EQ(limiter.when("b"), 5ms);  // keys back off independently
  EXPECT_EQ(limiter.when("a"), 40ms);
  EXPECT_EQ(limiter.when("a"), 80ms);
  EXPECT_EQ(limiter.when("a"), 100ms);
  EXPECT_EQ(limiter.when("a"), 100ms);
  EXPECT_EQ(limiter.numRequeues("a"), 7);
  limiter.forget("a");
  EXPECT_EQ(limiter.numRequeues("a"), 0);
  EXPECT_EQ(limiter.when("a"), 5ms);
  // Time does not reset a key's backoff; only forget() does.
  clock.advance(1h);
  EXPECT_EQ(limiter.when("a"), 10ms);
}

TEST(RateLimiterTest, TokenBucketCapsTheOverallRate) {
  // 1 per second, burst 2: once the burst is spent, each failure waits a second longer.
  FakeClock clock;
  RateLimiter limiter(RateLimiter::Options{1ms, 1ms, 1, 2}, clock.now());
  EXPECT_EQ(limiter.when("a"), 1ms);
  EXPECT_EQ(limiter.when("b"), 1ms);
  EXPECT_EQ(limiter.when("c"), 1000ms);
  EXPECT_EQ(limiter.when("d"), 2000ms);
  // Half a second refills half a token.
  clock.advance(500ms);
  EXPECT_EQ(limiter.when("e"), 2500ms);
}

TEST(RateLimiterTest, TokenBucketRefillsAtQpsUpToTheBurst) {
  // 4 per second, burst 2; quarter seconds make whole tokens.
  FakeClock clock;
  RateLimiter limiter(RateLimiter::Options{1ms, 1ms, 4, 2}, clock.now());
  EXPECT_EQ(limiter.when("a"), 1ms);
  EXPECT_EQ(limiter.when("b"), 1ms);
  EXPECT_EQ(limiter.when("c"), 250ms);
  clock.advance(250ms);  // pays back c's token
  EXPECT_EQ(limiter.when("d"), 250ms);
  clock.advance(500ms);  // one token for d, one in hand
  EXPECT_EQ(limiter.when("e"), 1ms);
  EXPECT_EQ(limiter.when("f"), 250ms);
  // An idle hour refills the burst, no more.
  clock.advance(1h);
  EXPECT_EQ(limiter.when("g"), 1ms);
  EXPECT_EQ(limiter.when("h"), 1ms);
  EXPECT_EQ(limiter.when("i"), 250ms);
}

TEST(RateLimiterTest, WaitIsTheLongerOfBackoffAndBucket) {
  // 1 per second, burst 1: the bucket alone waits a second with no token in hand.
  FakeClock clock;
  RateLimiter limiter(RateLimiter::Options{100ms, 10s, 1, 1}, clock.now());
  EXPECT_EQ(limiter.when("a"), 100ms);   // a token in hand: a's backoff
  EXPECT_EQ(limiter.when("b"), 1000ms);  // none: the bucket, longer than b's 100 ms
  clock.advance(10s);                    // the bucket is full again
  EXPECT_EQ(limiter.when("a"), 200ms);
  EXPECT_EQ(limiter.when("a"), 1000ms);  // the bucket, longer than a's 400 ms
  clock.advance(10s);
  EXPECT_EQ(limiter.when("a"), 800ms);
  EXPECT_EQ(limiter.when("a"), 1600ms);  // a's backoff, longer than the bucket's second
}

TEST(WorkQueueTest, DeduplicatesQueuedKeys) {
  WorkQueue q;
  q.add("a");
  q.add("a");
  q.add("b");
  EXPECT_EQ(q.len(), 2u);
  EXPECT_EQ(q.get(), "a");
  EXPECT_EQ(q.get(), "b");
}

TEST(WorkQueueTest, KeyAddedWhileProcessingIsRequeuedOnDoneNotHandedOutTwice) {
  WorkQueue q;
  q.add("a");
  auto k = q.get();
  ASSERT_EQ(k, "a");
  q.add("a");
  EXPECT_EQ(q.len(), 0u);  // not available to a second worker yet
  EXPECT_EQ(q.getFor(20ms), std::nullopt);
  q.done("a");
  EXPECT_EQ(q.len(), 1u);
  EXPECT_EQ(q.get(), "a");
  q.done("a");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueueTest, AddAfterDelaysTheKey) {
  WorkQueue q;
  q.addAfter("later", 1s);
  EXPECT_EQ(q.getFor(20ms), std::nullopt);
  EXPECT_EQ(q.getFor(5s), "later");
}

TEST(WorkQueueTest, AddAfterKeepsOnlyTheEarliestTimePerKey) {
  WorkQueue q;
  q.addAfter("k", 1h);
  q.addAfter("k", 10ms);  // earlier: replaces
  q.addAfter("k", 1h);    // later: ignored
  EXPECT_EQ(q.getFor(5s), "k");
  q.done("k");
  EXPECT_EQ(q.getFor(50ms), std::nullopt);  // the superseded entries never come back
}

TEST(WorkQueueTest, KeysAddedDuringDrainAreStillProcessed) {
  WorkQueue q;
  q.add("a");
  auto k = q.get();
  ASSERT_EQ(k, "a");
  q.add("a");  // dirty while processing
  std::thread drainer([&] { q.shutDownWithDrain(); });
  std::this_thread::sleep_for(20ms);
  q.done("a");
  EXPECT_EQ(q.getFor(5s), "a");  // handed out again although the queue is shutting down
  q.done("a");
  drainer.join();
  EXPECT_EQ(q.get(), std::nullopt);
}

TEST(WorkQueueTest, RateLimitedAddComesBack) {
  WorkQueue q(RateLimiter::Options{10ms, 1s, 1000, 1000});
  q.addRateLimited("x");
  EXPECT_EQ(q.numRequeues("x"), 1);
  EXPECT_EQ(q.getFor(2s), "x");
  q.forget("x");
  EXPECT_EQ(q.numRequeues("x"), 0);
}

TEST(WorkQueueTest, ShutDownWakesWorkers) {
  WorkQueue q;
  std::atomic<int> exited{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 3; ++i) {
    workers.emplace_back([&] {
      while (auto k = q.get()) q.done(*k);
      exited++;
    });
  }
  q.add("a");
  q.shutDown();
  for (auto& t : workers) t.join();
  EXPECT_EQ(exited.load(), 3);
  q.add("ignored");
  EXPECT_EQ(q.len(), 0u);
}

TEST(WorkQueueTest, ShutDownWithDrainWaitsForKeysInProcess) {
  WorkQueue q;
  q.add("slow");
  auto k = q.get();
  ASSERT_TRUE(k);
  std::atomic<bool> finished{false};
  std::thread worker([&] {
    std::this_thread::sleep_for(50ms);
    finished = true;
    q.done(*k);
  });
  q.shutDownWithDrain();
  EXPECT_TRUE(finished.load());
  worker.join();
}

TEST(WorkQueueTest, ManyProducersAndWorkersProcessEveryKeyExactlyOnceAtATime) {
  WorkQueue q;
  std::mutex mu;
  std::set<std::string> in_flight;
  std::set<std::string> after_final_add;
  bool final_round = false;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto k = q.get()) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!in_flight.insert(*k).second) overlap = true;
          if (final_round) after_final_add.insert(*k);  // handed out after its final add
        }
        std::this_thread::yield();
        {
          std::lock_guard<std::mutex> lock(mu);
          in_flight.erase(*k);
        }
        processed++;
        q.done(*k);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) q.add("key-" + std::to_string(i % 50));
    });
  }
  for (auto& t : producers) t.join();
  // Every key added after this point must be processed after it: nothing is lost.
  {
    std::lock_guard<std::mutex> lock(mu);
    after_final_add.clear();
    final_round = true;
  }
  for (int i = 0; i < 50; ++i) q.add("key-" + std::to_string(i));
  auto all_seen = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return after_final_add.size() == 50;
  };
  for (int i = 0; i < 500 && !all_seen(); ++i) std::this_thread::sleep_for(10ms);
  q.shutDownWithDrain();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(after_final_add.size(), 50u);
  EXPECT_LE(processed.load(), 8050);
}

}  // namespace
}  // namespace herd::kube
