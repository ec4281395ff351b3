// A work queue for reconcilers, with client-go's guarantees: a key is queued at most once
// however often it is added; a key being processed is never handed to a second worker, and
// if it was added meanwhile it is queued again when done(); failed keys come back after a
// per-item exponential backoff, and an overall token bucket caps the retry rate.
//
// Thread-safe: any number of producers and workers. shutDown() wakes every worker;
// shutDownWithDrain() also waits until the keys being processed are done.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

namespace herd::kube {

// How long a failing key waits: the larger of a per-key exponential backoff (base doubled on
// every failure up to max) and a token bucket shared by all keys. The bucket refills by the
// clock it is given (steady_clock unless a test passes its own). Thread-safe.
class RateLimiter {
 public:
  struct Options {
    std::chrono::milliseconds base{5};
    std::chrono::milliseconds max{std::chrono::seconds(1000)};
    double qps = 10;  // the bucket refills at this rate...
    int burst = 100;  // ...up to this many tokens (client-go's defaults)
  };
  // The current time, called once per when() under the limiter's lock.
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  RateLimiter() : RateLimiter(Options{}) {}
  explicit RateLimiter(Options options, Now now = std::chrono::steady_clock::now);

  // Records one more failure of `key` and returns how long it should wait.
  std::chrono::milliseconds when(const std::string& key);
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const;

 private:
  Options options_;
  Now now_;
  mutable std::mutex mu_;
  std::map<std::string, int> failures_;
  double tokens_;
  std::chrono::steady_clock::time_point last_refill_;
};

class WorkQueue {
 public:
  WorkQueue() = default;
  explicit WorkQueue(RateLimiter::Options limits) : limiter_(limits) {}
  ~WorkQueue() { shutDown(); }

  void add(const std::string& key);
  void addAfter(const std::string& key, std::chrono::milliseconds delay);
  // After a failure: back off per the rate limiter.
  void addRateLimited(const std::string& key);
  // After a success: reset the key's backoff.
  void forget(const std::string& key) { limiter_.forget(key); }
  int numRequeues(const std::string& key) const { return limiter_.numRequeues(key); }

  // The next key, blocking until there is one; nullopt once the queue is shut down.
  std::optional<std::string> get();
  // Like get(), but gives up after `timeout` (nullopt then too).
  std::optional<std::string> getFor(std::chrono::milliseconds timeout);
  void done(const std::string& key);

  void shutDown();
  void shutDownWithDrain();
  bool shuttingDown() const;
  // Keys waiting to be handed out (not counting delayed or in-process ones).
  size_t len() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Delayed {
    Clock::time_point at;
    std::string key;
    bool operator>(const Delayed& o) const { return at > o.at; }
  };
  void addLocked(const std::string& key);
  void promoteDueLocked(Clock::time_point now);
  std::optional<std::string> getUntil(std::optional<Clock::time_point> deadline);

  RateLimiter limiter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  std::set<std::string> dirty_;
  std::set<std::string> processing_;
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed_;
  std::map<std::string, Clock::time_point> waiting_;  // the live entry of each delayed key
  bool shutting_down_ = false;
};

}  // namespace herd::kube
