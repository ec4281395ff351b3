#include "kube/workqueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace herd::kube {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiterTest, PerItemBackoffDoublesUpToTheMax) {
  RateLimiter limiter(RateLimiter::Options{5ms, 100ms, 1e9, 1000000});
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
}

TEST(RateLimiterTest, TokenBucketCapsTheOverallRate) {
  // 10 per second, burst 2: the third immediate failure waits about 100 ms for a token.
  RateLimiter limiter(RateLimiter::Options{1ms, 1ms, 10, 2});
  EXPECT_EQ(limiter.when("a"), 1ms);
  EXPECT_EQ(limiter.when("b"), 1ms);
  auto third = limiter.when("c");
  EXPECT_GT(third, 50ms);
  EXPECT_LE(third, 100ms);
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
  q.addAfter("later", 50ms);
  EXPECT_EQ(q.getFor(5ms), std::nullopt);
  EXPECT_EQ(q.getFor(2s), "later");
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
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&] {
      while (auto k = q.get()) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!in_flight.insert(*k).second) overlap = true;
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
  while (q.len() > 0) std::this_thread::sleep_for(1ms);
  q.shutDownWithDrain();
  for (auto& t : workers) t.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_GE(processed.load(), 50);
  EXPECT_LE(processed.load(), 8000);
}

}  // namespace
}  // namespace herd::kube
