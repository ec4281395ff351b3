// What bounds a caller's use of the Kubernetes client: a deadline and a cancellation token.
//
// A controller's reconcile has a budget, and a process that shuts down must not sit out a
// server's Retry-After of half a minute. So every wait inside kube::Client (a retry's
// backoff, a Retry-After, the request itself, a watch's next event) is bounded by the
// Context's deadline and ends early on cancel(): Client::withContext() gives a view of a
// client that obeys one (client.h).
//
// A CancelToken is shared (std::shared_ptr) by whoever may cancel and whoever waits; it is
// thread-safe, and cancel() cannot be undone. A Context is a value.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace herd::kube {

class CancelToken {
 public:
  using Clock = std::chrono::steady_clock;

  // Wakes every waiter and runs every registered callback, once; later calls do nothing.
  void cancel();
  bool cancelled() const;
  // Sleeps until `until` or cancel(), whichever comes first: true when cancelled.
  bool waitUntil(Clock::time_point until) const;
  // `fn` runs on the cancelling thread when cancel() is called (at once, here, when it already
  // was). It must be quick and must not touch this token. The returned id removes it; after
  // removeOnCancel() returns, `fn` is not running and never will, so its captures may go.
  uint64_t onCancel(std::function<void()> fn);
  void removeOnCancel(uint64_t id);

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
  bool cancelled_ = false;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::function<void()>> callbacks_;
};

struct Context {
  using Clock = std::chrono::steady_clock;

  // No deadline: waits are bounded only by the client's RetryPolicy and request timeout.
  std::optional<Clock::time_point> deadline;
  // Null: never cancelled.
  std::shared_ptr<CancelToken> cancel;

  static Context withTimeout(Clock::duration timeout, std::shared_ptr<CancelToken> cancel = {}) {
    return {Clock::now() + timeout, std::move(cancel)};
  }
  bool cancelled() const { return cancel && cancel->cancelled(); }
  // The time left before the deadline (zero once it passed); nullopt without a deadline.
  std::optional<std::chrono::milliseconds> remaining() const;
};

}  // namespace herd::kube
