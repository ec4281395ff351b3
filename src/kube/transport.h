// HTTP to one Kubernetes API server: the Transport interface, and makeTransport(), which
// returns the implementation (HTTPS with Boost.Beast and OpenSSL, keep-alive pool).
//
// A Transport is thread-safe: many threads may send requests at once, each on its own pooled
// connection. A ResponseStream (watch) belongs to one reader thread; cancel() may be called
// from any thread and makes the reader's next or current read return Cancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kube/config.h"

namespace herd::kube {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, e.g. /api/v1/namespaces?limit=500
  Headers headers;     // beyond Host, User-Agent, Authorization and Content-Length
  std::string body;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
  // The first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

// The body of a streaming response, read as it arrives.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual int status() const = 0;
  virtual const Headers& headers() const = 0;
  // The next line of the body without its "\n"; nullopt at the clean end of the body.
  // Fails with DeadlineExceeded when nothing arrives within `idle_timeout`, Unavailable when
  // the connection breaks, and Unavailable ("cancelled") after cancel().
  virtual Result<std::optional<std::string>> readLine(std::chrono::milliseconds idle_timeout) = 0;
  virtual void cancel() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual Result<HttpResponse> roundTrip(const HttpRequest& request,
                                         std::chrono::milliseconds timeout) = 0;
  // Sends the request and returns once the response headers are in.
  virtual Result<std::unique_ptr<ResponseStream>> openStream(const HttpRequest& request,
                                                             std::chrono::milliseconds timeout) = 0;
  // The path prefix of the server URL ("" or e.g. "/k8s"), to put before every API path.
  virtual const std::string& pathPrefix() const = 0;
};

Result<std::unique_ptr<Transport>> makeTransport(const RestConfig& config);

}  // namespace herd::kube
