#include "kube/context.h"

#include <algorithm>

namespace herd::kube {

void CancelToken::cancel() {
  // The callbacks run under the lock: removeOnCancel() then waits for a running one to end,
  // which is what lets its owner free what it captured.
  std::lock_guard lock(mutex_);
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& [id, fn] : callbacks_) fn();
  callbacks_.clear();
  wake_.notify_all();
}

bool CancelToken::cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

bool CancelToken::waitUntil(Clock::time_point until) const {
  std::unique_lock lock(mutex_);
  return wake_.wait_until(lock, until, [this] { return cancelled_; });
}

uint64_t CancelToken::onCancel(std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  if (cancelled_) {
    fn();
    return 0;
  }
  uint64_t id = next_id_++;
  callbacks_.emplace(id, std::move(fn));
  return id;
}

void CancelToken::removeOnCancel(uint64_t id) {
  std::lock_guard lock(mutex_);
  callbacks_.erase(id);
}

std::optional<std::chrono::milliseconds> Context::remaining() const {
  if (!deadline) return std::nullopt;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

}  // namespace herd::kube
