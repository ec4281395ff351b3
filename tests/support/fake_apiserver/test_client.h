// A small HTTPS client for the fake apiserver's own tests: one request per call on a fresh
// TLS connection, with a client certificate, a bearer token or no credentials. Speaks exactly
// HTTP/1.1 so that tests can see status lines, headers and chunked framing as curl did in the
// recordings. Not thread-safe per instance; make one per thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace herd::fake::testing {

struct Credentials {
  std::string ca_pem;
  std::string cert_pem;  // client certificate, optional
  std::string key_pem;
  std::string token;  // bearer token, optional
};

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names; repeated ones joined by "\n"
  std::string body;
  bool chunked = false;
  std::string error;  // transport failure, if any
  std::string header(const std::string& lower) const {
    auto it = headers.find(lower);
    return it == headers.end() ? "" : it->second;
  }
};

class Client {
 public:
  Client(int port, Credentials creds) : port_(port), creds_(std::move(creds)) {}
  Response request(const std::string& method, const std::string& target,
                   const std::string& body = "",
                   const std::map<std::string, std::string>& headers = {},
                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  Response get(const std::string& target) const { return request("GET", target); }

 private:
  int port_;
  Credentials creds_;
};

}  // namespace herd::fake::testing
