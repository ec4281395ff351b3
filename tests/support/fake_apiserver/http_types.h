// The HTTP exchange as the fake apiserver's handler sees it, free of Boost.Beast so that only
// http_server.cc pays Beast's compile time.
//
// A request carries what the TLS layer learned about the peer (a verified client certificate's
// CN and O entries). A response is either a whole body or a ResponseStream that the server
// drains chunk by chunk (watch). Value types; a ResponseStream is used by one connection thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace herd::fake {

struct PeerCertificate {
  bool presented = false;
  // True only when the chain verified against the fake's CA: an unknown CA yields a 401, not a
  // failed handshake, as with kube-apiserver.
  bool verified = false;
  std::string common_name;
  std::vector<std::string> organizations;
};

struct HttpRequest {
  std::string method;
  std::string target;                             // path and query, as sent
  std::string path;                               // percent-decoded path
  std::multimap<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> headers;     // lower-case names
  std::string body;
  PeerCertificate peer;

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  std::optional<std::string> param(const std::string& name) const {
    auto it = query.find(name);
    if (it == query.end()) return std::nullopt;
    return it->second;
  }
};

// A streamed body: next() blocks until a chunk is ready and returns nullopt at the end.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual std::optional<std::string> next() = 0;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<ResponseStream> stream;

  void setHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
};

}  // namespace herd::fake
