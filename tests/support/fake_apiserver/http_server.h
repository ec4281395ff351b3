// The fake apiserver's HTTPS listener: TLS 1.2+ with optional client certificates, HTTP/1.1
// with keep-alive, Content-Length for small bodies and chunked transfer for large ones and for
// streams, as kube-apiserver answers HTTP/1.1 clients.
//
// One thread per connection: the fake serves a handful of test clients, and blocking code is
// easy to stop (stop() shuts every socket down, which wakes every blocked read). The handler
// is called concurrently from connection threads and must be thread-safe. Owned by
// FakeApiServer; stop() is idempotent and joins every thread it started.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "http_types.h"

namespace herd::fake {

struct HttpServerConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  static Result<std::unique_ptr<HttpServer>> start(const HttpServerConfig& config, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  void stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::fake
