#include "kube/workqueue.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace herd::kube {

RateLimiter::RateLimiter(Options options, Now now)
    : options_(options), now_(std::move(now)), tokens_(options.burst), last_refill_(now_()) {}

std::chrono::milliseconds RateLimiter::when(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  int n = failures_[key]++;
  double exp = static_cast<double>(options_.base.count()) * std::pow(2.0, std::min(n, 40));
  auto per_item = std::chrono::milliseconds(
      static_cast<int64_t>(std::min(exp, static_cast<double>(options_.max.count()))));
  // Token bucket: take a token now, or wait for the refill that produces one.
  auto now = now_();
  double elapsed = std::chrono::duration<double>(now - last_refill_).count();
  tokens_ = std::min<double>(options_.burst, tokens_ + elapsed * options_.qps);
  last_refill_ = now;
  tokens_ -= 1;
  std::chrono::milliseconds bucket{0};
  if (tokens_ < 0)
    bucket =
        std::chrono::milliseconds(static_cast<int64_t>(std::ceil(-tokens_ / options_.qps * 1000)));
  return std::max(per_item, bucket);
}

void RateLimiter::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  failures_.erase(key);
}

int RateLimiter::numRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

void WorkQueue::addLocked(const std::string& key) {
  if (shutting_down_ || dirty_.count(key)) return;
  dirty_.insert(key);
  if (processing_.count(key)) return;  // requeued by done()
  queue_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  addLocked(key);
}

void WorkQueue::addAfter(const std::string& key, std::chrono::milliseconds delay) {
  if (delay.count() <= 0) return add(key);
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  auto at = Clock::now() + delay;
  // One pending time per key, the earliest: a hot key must not grow the heap.
  auto [it, inserted] = waiting_.try_emplace(key, at);
  if (!inserted) {
    if (it->second <= at) return;
    it->second = at;
  }
  delayed_.push({at, key});
  cv_.notify_all();  // a waiting worker may need an earlier wake-up
}

void WorkQueue::addRateLimited(const std::string& key) {
  addAfter(key, limiter_.when(key));
}

void WorkQueue::promoteDueLocked(Clock::time_point now) {
  while (!delayed_.empty() && delayed_.top().at <= now) {
    Delayed d = delayed_.top();
    delayed_.pop();
    auto it = waiting_.find(d.key);
    if (it == waiting_.end() || it->second != d.at) continue;  // superseded by an earlier time
    waiting_.erase(it);
    addLocked(d.key);
  }
}

std::optional<std::string> WorkQueue::getUntil(std::optional<Clock::time_point> deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    promoteDueLocked(Clock::now());
    if (!queue_.empty()) {
      std::string key = std::move(queue_.front());
      queue_.pop_front();
      dirty_.erase(key);
      processing_.insert(key);
      return key;
    }
    if (shutting_down_) return std::nullopt;
    auto wake = deadline;
    if (!delayed_.empty() && (!wake || delayed_.top().at < *wake)) wake = delayed_.top().at;
    if (wake) {
      if (cv_.wait_until(lock, *wake) == std::cv_status::timeout && deadline &&
          Clock::now() >= *deadline) {
        promoteDueLocked(Clock::now());
        if (queue_.empty()) return std::nullopt;
      }
    } else {
      cv_.wait(lock);
    }
  }
}

std::optional<std::string> WorkQueue::get() {
  return getUntil(std::nullopt);
}

std::optional<std::string> WorkQueue::getFor(std::chrono::milliseconds timeout) {
  return getUntil(Clock::now() + timeout);
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  processing_.erase(key);
  // Added while it was being processed: hand it out again, even while draining, as client-go does.
  if (dirty_.count(key)) queue_.push_back(key);
  cv_.notify_all();
}

void WorkQueue::shutDown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

void WorkQueue::shutDownWithDrain() {
  std::unique_lock<std::mutex> lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
  cv_.wait(lock, [this] { return processing_.empty(); });
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_;
}

size_t WorkQueue::len() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

}  // namespace herd::kube
