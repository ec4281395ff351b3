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
  // 1 per second, burst 2: the third immediate failure waits most of a second for a token
  // (however long this thread is preempted, well under half a second on any CI machine).
  RateLimiter limiter(RateLimiter::Options{1ms, 1ms, 1, 2});
  EXPECT_EQ(limiter.when("a"), 1ms);
  EXPECT_EQ(limiter.when("b"), 1ms);
  auto third = limiter.when("c");
  EXPECT_GT(third, 500ms);
  EXPECT_LE(third, 1000ms);
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
