// The errors of the Kubernetes API: a non-2xx response and its Status body, turned into a
// herd Status whose code says what happened (NotFound, AlreadyExists, Conflict, Invalid,
// Gone, Unauthenticated, PermissionDenied, ResourceExhausted, Unavailable) and whose message
// is the server's. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "kube/transport.h"

namespace herd::kube {

struct StatusCause {
  std::string reason;
  std::string message;
  std::string field;
};

// A decoded metav1.Status failure.
struct ApiError {
  int code = 0;        // HTTP status
  std::string reason;  // NotFound, AlreadyExists, Conflict, Invalid, Expired, ...
  std::string message;
  std::vector<StatusCause> causes;
  std::optional<std::chrono::seconds> retry_after;
};

// Decodes a failed response; a body that is not a Status (e.g. "404 page not found") still
// yields an ApiError carrying the text.
ApiError parseApiError(const HttpResponse& response);
Status toStatus(const ApiError& error);

// Whether retrying the same request may succeed: 429, and 5xx other than 501.
bool isRetriable(const ApiError& error);

}  // namespace herd::kube
