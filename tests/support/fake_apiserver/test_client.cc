#include "test_client.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace herd::fake::testing {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

// One TLS connection to the fake, set up with the client's credentials.
struct Connection {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::unique_ptr<ssl::stream<tcp::socket>> stream;

  std::string open(int port, const Credentials& creds, std::chrono::milliseconds timeout) {
    boost::system::error_code ec;
    ctx.add_certificate_authority(net::buffer(creds.ca_pem), ec);
    if (!creds.cert_pem.empty()) {
      ctx.use_certificate_chain(net::buffer(creds.cert_pem), ec);
      ctx.use_private_key(net::buffer(creds.key_pem), ssl::context::pem, ec);
    }
    ctx.set_verify_mode(ssl::verify_peer);
    stream = std::make_unique<ssl::stream<tcp::socket>>(ioc, ctx);
    stream->next_layer().connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
    if (ec) return "connect: " + ec.message();
    // Bounded reads: a test never hangs on a silent server.
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(stream->next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    stream->handshake(ssl::stream_base::client, ec);
    if (ec) return "handshake: " + ec.message();
    return "";
  }

  std::string send(int port, const Credentials& creds, const std::string& method,
                   const std::string& target, const std::string& body,
                   const std::map<std::string, std::string>& headers) {
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    req.set(http::field::user_agent, "curl/7.88.1");
    req.set(http::field::accept, "application/json");
    if (!creds.token.empty()) req.set(http::field::authorization, "Bearer " + creds.token);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      if (headers.find("Content-Type") == headers.end())
        req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    boost::system::error_code ec;
    http::write(*stream, req, ec);
    return ec ? "write: " + ec.message() : "";
  }

  void close() {
    boost::system::error_code ec;
    stream->next_layer().shutdown(tcp::socket::shutdown_both, ec);
  }
};

void copyHead(const http::response<http::string_body>& res, Response& out) {
  out.status = res.result_int();
  out.chunked = res.chunked();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& slot = out.headers[name];
    slot += (slot.empty() ? "" : "\n") + std::string(f.value());
  }
}

}  // namespace

Response Client::request(const std::string& method, const std::string& target,
                         const std::string& body, const std::map<std::string, std::string>& headers,
                         std::chrono::milliseconds timeout) const {
  Response out;
  Connection conn;
  out.error = conn.open(port_, creds_, timeout);
  if (out.error.empty()) out.error = conn.send(port_, creds_, method, target, body, headers);
  if (!out.error.empty()) return out;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  boost::system::error_code ec;
  http::read(*conn.stream, buffer, parser, ec);
  if (ec && ec != http::error::end_of_stream) out.error = "read: " + ec.message();
  copyHead(parser.get(), out);
  out.body = parser.get().body();
  conn.close();
  return out;
}

Response Client::stream(const std::string& target,
                        const std::function<bool(const std::string&)>& on_line,
                        const std::function<void(int status)>& on_headers,
                        const std::map<std::string, std::string>& headers,
                        std::chrono::milliseconds timeout) const {
  Response out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Connection conn;
  out.error = conn.open(port_, creds_, timeout);
  if (out.error.empty()) out.error = conn.send(port_, creds_, "GET", target, "", headers);
  if (!out.error.empty()) return out;
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  boost::system::error_code ec;
  http::read_header(*conn.stream, buffer, parser, ec);
  if (ec) {
    out.error = "read header: " + ec.message();
    return out;
  }
  copyHead(parser.get(), out);
  if (on_headers) on_headers(out.status);

  bool stop = false;
  std::string chunk, pending;
  auto on_chunk_body = [&](std::uint64_t remain, boost::beast::string_view data,
                           boost::system::error_code&) -> std::size_t {
    chunk.append(data.data(), data.size());
    out.body.append(data.data(), data.size());
    if (remain == data.size()) out.chunks.push_back(std::exchange(chunk, std::string()));
    pending.append(data.data(), data.size());
    for (size_t nl = pending.find('\n'); nl != std::string::npos && !stop;
         nl = pending.find('\n')) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!on_line(line)) stop = true;
    }
    return data.size();
  };
  parser.on_chunk_body(on_chunk_body);
  while (!stop && !parser.is_done() && std::chrono::steady_clock::now() < deadline) {
    http::read_some(*conn.stream, buffer, parser, ec);
    if (ec) {
      if (ec != http::error::end_of_stream) out.error = "read: " + ec.message();
      break;
    }
  }
  out.ended = parser.is_done();
  if (!parser.get().chunked()) out.body = parser.get().body();
  conn.close();
  return out;
}

}  // namespace herd::fake::testing
