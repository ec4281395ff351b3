#include "kube/api_error.h"

#include <fmt/format.h>

#include <charconv>
#include <nlohmann/json.hpp>

namespace herd::kube {

ApiError parseApiError(const HttpResponse& response) {
  ApiError e;
  e.code = response.status;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.value("kind", "") == "Status") {
    e.reason = body.value("reason", "");
    e.message = body.value("message", "");
    if (auto d = body.find("details"); d != body.end() && d->is_object()) {
      if (auto c = d->find("causes"); c != d->end() && c->is_array()) {
        for (const auto& cause : *c) {
          if (!cause.is_object()) continue;
          e.causes.push_back(
              {cause.value("reason", ""), cause.value("message", ""), cause.value("field", "")});
        }
      }
      if (auto r = d->find("retryAfterSeconds"); r != d->end() && r->is_number_integer()) {
        e.retry_after = std::chrono::seconds(r->get<int64_t>());
      }
    }
  } else {
    // Not a Status (a proxy's page, "404 page not found"): keep enough to recognise it.
    constexpr size_t kMaxMessage = 1024;
    e.message = response.body.substr(0, kMaxMessage);
    while (!e.message.empty() && e.message.back() == '\n') e.message.pop_back();
    if (response.body.size() > kMaxMessage) e.message += "...";
  }
  if (e.message.empty()) e.message = fmt::format("the server answered HTTP {}", e.code);
  std::string header = response.header("Retry-After");
  int64_t secs = 0;
  if (!header.empty() &&
      std::from_chars(header.data(), header.data() + header.size(), secs).ec == std::errc()) {
    e.retry_after = std::chrono::seconds(secs);
  }
  return e;
}

Status toStatus(const ApiError& e) {
  const std::string& m = e.message;
  switch (e.code) {
    case 400:
      return e.reason == "Expired" ? Status::gone(m) : Status::invalid(m);
    case 401:
      return Status::unauthenticated(m);
    case 403:
      return Status::permissionDenied(m);
    case 404:
      return Status::notFound(m);
    case 409:
      return e.reason == "AlreadyExists" ? Status::alreadyExists(m) : Status::conflict(m);
    case 410:
      return Status::gone(m);
    case 415:
    case 422:
      return Status::invalid(m);
    case 429:
      return Status::resourceExhausted(m);
    case 504:
      return Status::deadlineExceeded(m);
    default:
      break;
  }
  if (e.code >= 500) return Status::unavailable(m);
  return Status::internal(fmt::format("unexpected HTTP {}: {}", e.code, m));
}

bool isRetriable(const ApiError& e) {
  return e.code == 429 || (e.code >= 500 && e.code != 501);
}

}  // namespace herd::kube
