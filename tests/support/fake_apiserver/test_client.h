// A small HTTPS client for the fake apiserver's own tests: one request per call on a fresh
// TLS connection, with a client certificate, a bearer token or no credentials. Speaks exactly
// HTTP/1.1 so that tests can see status lines, headers and chunked framing as curl did in the
// recordings. Not thread-safe per instance; make one per thread.
#pragma once

#include <chrono>
#include <functional>
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
  // Streamed reads only: the chunks as framed on the wire, and whether the server ended the
  // body itself (the zero-length chunk) rather than the reader stopping early.
  std::vector<std::string> chunks;
  bool ended = false;
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

  // A GET whose body is read as it arrives (watch): `on_line` sees each complete line without
  // its "\n" and returns false to stop reading; `on_headers`, if set, runs once the status
  // line and headers are in, which tells a test the server has set the watch up. Stops at
  // the end of the body or after `timeout` in all.
  Response stream(const std::string& target, const std::function<bool(const std::string&)>& on_line,
                  const std::function<void(int status)>& on_headers = nullptr,
                  const std::map<std::string, std::string>& headers = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

 private:
  int port_;
  Credentials creds_;
};

}  // namespace herd::fake::testing
