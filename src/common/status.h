// Status and Result<T>: herd's one error type.
//
// A Status is either OK or carries a Code and a message written for the person who will read
// it ("etcd replicas must be 1, 3 or 5", not "bad value"). Result<T> holds a T or a non-OK
// Status. Neither throws; both are cheap to move. Value types, not thread-safe to mutate
// concurrently, safe to copy across threads.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace herd {

enum class Code {
  kOk = 0,
  kInvalid,             // the input is malformed or fails validation
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // create of something that is there already
  kConflict,            // a concurrent change won (stale resourceVersion)
  kFailedPrecondition,  // the system is not in a state where this can be done
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // no or bad credentials
  kUnavailable,         // transient: retrying may succeed
  kDeadlineExceeded,    // ran out of time
  kGone,                // resource version too old, history compacted
  kResourceExhausted,   // too many requests: slow down and retry later
  kIo,                  // the operating system said no (file, socket, process)
  kInternal,            // a bug in herd
};

// Stable lower-case name of a code, used in logs and JSON output ("not_found").
std::string_view codeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  static Status invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
  static Status notFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status alreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status failedPrecondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Status permissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
  static Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status deadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
  static Status gone(std::string m) { return {Code::kGone, std::move(m)}; }
  static Status resourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
  static Status io(std::string m) { return {Code::kIo, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  // An I/O failure from errno, e.g. ioError("open /etc/herd.yaml", ENOENT).
  static Status ioError(std::string_view what, int err);

  bool isOk() const { return code_ == Code::kOk; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Adds context in front of the message: "read cluster.yaml: <message>".
  Status withContext(std::string_view context) const&;
  Status withContext(std::string_view context) &&;

  // "invalid: <message>", or "ok".
  std::string toString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design, like absl::StatusOr
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).isOk() && "Result constructed from an OK Status");
  }

  bool isOk() const { return v_.index() == 0; }
  explicit operator bool() const { return isOk(); }

  const Status& status() const {
    static const Status kOkStatus;
    return isOk() ? kOkStatus : std::get<Status>(v_);
  }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  T valueOr(T fallback) const& { return isOk() ? value() : std::move(fallback); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace herd

// Propagates a non-OK Status from an expression yielding Status.
#define HERD_RETURN_IF_ERROR(expr)                         \
  do {                                                     \
    if (::herd::Status s_ = (expr); !s_.isOk()) return s_; \
  } while (false)

#define HERD_CONCAT_INNER(a, b) a##b
#define HERD_CONCAT(a, b) HERD_CONCAT_INNER(a, b)
// HERD_ASSIGN_OR_RETURN(auto x, makeX()); returns the Status when makeX() failed.
#define HERD_ASSIGN_OR_RETURN(lhs, expr) \
  HERD_ASSIGN_OR_RETURN_IMPL(HERD_CONCAT(herd_result_, __LINE__), lhs, expr)
#define HERD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.isOk()) return tmp.status();            \
  lhs = std::move(tmp).value()
