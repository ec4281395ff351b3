// What one step of a reconcile found, and so what the work queue does with the Cluster next:
// done (forget its backoff), wait (look again after requeue_after: a rollout is under way) or
// error (back off, and say why in a condition and an event).
//
// A plain value; thread-safe to copy.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace herd::controller {

struct Outcome {
  enum class Kind { kDone, kWait, kError };
  Kind kind = Kind::kDone;
  // CamelCase, for conditions and events: "WaitingForRollout", "ProviderError".
  std::string reason;
  std::string message;
  std::chrono::milliseconds requeue_after{0};
  Status error;

  static Outcome done() { return {}; }
  static Outcome wait(std::string reason, std::string message,
                      std::chrono::milliseconds requeue_after) {
    return {Kind::kWait, std::move(reason), std::move(message), requeue_after, Status::ok()};
  }
  static Outcome failed(std::string reason, Status error) {
    std::string message = error.message();
    return {Kind::kError, std::move(reason), std::move(message), std::chrono::milliseconds(0),
            std::move(error)};
  }
  bool isDone() const { return kind == Kind::kDone; }
};

// "done", "wait" or "error": the result label of the reconcile metrics.
inline const char* outcomeName(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::kDone: return "done";
    case Outcome::Kind::kWait: return "wait";
    case Outcome::Kind::kError: return "error";
  }
  return "error";
}

}  // namespace herd::controller
