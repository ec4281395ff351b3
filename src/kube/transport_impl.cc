// The Beast/OpenSSL Transport. Every connection owns a private io_context and runs its
// asynchronous operations to completion on the calling thread with a deadline: synchronous
// calls for the caller, real timeouts and cancellation underneath.
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <strings.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <deque>
#include <mutex>

#include "common/net.h"
#include "kube/transport.h"

namespace herd::kube {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using Clock = std::chrono::steady_clock;

// Large enough for a list of a hundred thousand objects, small enough that parsing it (several
// times its size in memory) cannot be made to exhaust a controller by a rogue server.
constexpr uint64_t kMaxBodyBytes = uint64_t{256} << 20;
constexpr size_t kMaxLineBytes = size_t{64} << 20;  // one watch event
constexpr size_t kMaxIdleConnections = 16;

// The https:// port when a server URL names none.
constexpr uint16_t kDefaultHttpsPort = 443;

struct Endpoint {
  std::string host;
  uint16_t port = kDefaultHttpsPort;
  std::string prefix;
};

Result<Endpoint> parseServer(const std::string& url) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else {
    return Status::invalid(
        fmt::format("server \"{}\": only https:// API servers are supported", url));
  }
  Endpoint ep;
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) ep.prefix = std::string(rest.substr(slash));
  while (!ep.prefix.empty() && ep.prefix.back() == '/') ep.prefix.pop_back();
  auto parsed = net::parseHostPort(authority, {.port_optional = true});
  if (!parsed) return parsed.status().withContext(fmt::format("server \"{}\"", url));
  ep.host = std::move(parsed->host);
  if (parsed->port != 0) ep.port = parsed->port;
  return ep;
}

bool isIpAddress(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

Status fromError(const boost::system::error_code& ec, std::string_view what) {
  // Too large is the server's answer, not a broken line: retrying would not help.
  if (ec == http::error::body_limit)
    return Status::invalid(fmt::format("{}: the response body exceeds 256 MiB", what));
  if (ec == asio::error::operation_aborted)
    return Status::unavailable(fmt::format("{}: cancelled", what));
  return Status::unavailable(fmt::format("{}: {}", what, ec.message()));
}

class Connection {
 public:
  explicit Connection(ssl::context& ctx) : stream_(ioc_, ctx) {}

  Status connect(const Endpoint& ep, const std::string& verify_name, bool verify,
                 Clock::time_point deadline) {
    asio::ip::tcp::resolver resolver(ioc_);
    asio::ip::tcp::resolver::results_type results;
    HERD_RETURN_IF_ERROR(run(deadline, "resolve " + ep.host, [&](auto done) {
      resolver.async_resolve(ep.host, std::to_string(ep.port), [&results, done](auto e, auto r) {
        results = r;
        done(e);
      });
    }));
    boost::system::error_code ec;
    HERD_RETURN_IF_ERROR(
        run(deadline, "connect to " + net::formatHostPort(ep.host, ep.port), [&](auto done) {
          beast::get_lowest_layer(stream_).async_connect(results,
                                                         [done](auto e, auto) { done(e); });
        }));
    beast::get_lowest_layer(stream_).socket().set_option(asio::ip::tcp::no_delay(true), ec);
    SSL* native = stream_.native_handle();
    // SNI carries names only; an IP address is verified against the certificate's IP SANs.
    if (!isIpAddress(verify_name)) {
      // SSL_set_tlsext_host_name, spelled out: the macro's C cast trips -Wold-style-cast.
      SSL_ctrl(native, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(verify_name.c_str()));
    }
    if (verify) stream_.set_verify_callback(ssl::host_name_verification(verify_name));
    return run(deadline, "TLS handshake with " + net::formatHostPort(ep.host, ep.port),
               [&](auto done) {
                 stream_.async_handshake(ssl::stream_base::client, [done](auto e) { done(e); });
               });
  }

  // Runs one asynchronous operation, started by `start(done)`, until it completes or the
  // deadline passes (then the socket is closed and the operation fails).
  template <typename Start>
  Status run(Clock::time_point deadline, const std::string& what, Start&& start) {
    boost::system::error_code result;
    bool finished = false;
    start([&](boost::system::error_code e) {
      result = e;
      finished = true;
    });
    ioc_.restart();
    ioc_.run_until(deadline);
    if (!finished) {
      close();
      ioc_.restart();
      ioc_.run();  // let the aborted handler run before its captures go out of scope
      broken_ = true;
      if (cancelled_) return Status::unavailable(what + ": cancelled");
      return Status::deadlineExceeded(what + ": timed out");
    }
    if (result) {
      broken_ = true;
      if (cancelled_) return Status::unavailable(what + ": cancelled");
      return fromError(result, what);
    }
    return Status::ok();
  }

  // An idle connection must have nothing to read: readable means the server closed it (EOF)
  // or sent something unsolicited, and either way it must not carry another request.
  bool idleAndOpen() {
    auto& sock = beast::get_lowest_layer(stream_).socket();
    if (broken_ || !sock.is_open() || hasBufferedBytes()) return false;
    pollfd pfd{sock.native_handle(), POLLIN, 0};
    return ::poll(&pfd, 1, 0) == 0;
  }

  void close() {
    boost::system::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).socket().close(ec);
  }

  // Safe from any thread: aborts whatever the owner thread is waiting on.
  void cancel() {
    cancelled_ = true;
    asio::post(ioc_, [this] { close(); });
  }

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buffer_; }
  bool hasBufferedBytes() const { return buffer_.size() != 0; }
  bool broken() const { return broken_; }
  void markBroken() { broken_ = true; }

 private:
  asio::io_context ioc_{1};
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  bool broken_ = false;
  std::atomic<bool> cancelled_{false};
};

http::request<http::string_body> makeBeastRequest(const HttpRequest& req,
                                                  const std::string& host_header,
                                                  const std::string& prefix,
                                                  const std::string& user_agent,
                                                  const std::string& token) {
  http::request<http::string_body> r;
  r.method_string(req.method);
  r.target(prefix + req.target);
  r.version(11);
  r.set(http::field::host, host_header);
  r.set(http::field::user_agent, user_agent);
  bool has_accept = false;
  for (const auto& [k, v] : req.headers) {
    if (strcasecmp(k.c_str(), "Accept") == 0) has_accept = true;
    r.set(k, v);
  }
  if (!has_accept) r.set(http::field::accept, "application/json");
  if (!token.empty()) r.set(http::field::authorization, "Bearer " + token);
  r.body() = req.body;
  r.prepare_payload();
  return r;
}

template <typename Fields>
Headers copyHeaders(const Fields& fields) {
  Headers out;
  for (const auto& f : fields)
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

class BeastStream final : public ResponseStream {
 public:
  BeastStream(std::unique_ptr<Connection> conn,
              std::unique_ptr<http::response_parser<http::buffer_body>> parser)
      : conn_(std::move(conn)), parser_(std::move(parser)) {
    status_ = static_cast<int>(parser_->get().result_int());
    headers_ = copyHeaders(parser_->get());
  }
  ~BeastStream() override { conn_->close(); }

  int status() const override { return status_; }
  const Headers& headers() const override { return headers_; }

  Result<std::optional<std::string>> readLine(std::chrono::milliseconds idle_timeout) override {
    for (;;) {
      size_t nl = pending_.find('\n', scanned_);
      if (nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        scanned_ = 0;
        return std::optional<std::string>(std::move(line));
      }
      scanned_ = pending_.size();
      if (pending_.size() > kMaxLineBytes) return Status::invalid("stream line exceeds 64 MiB");
      if (parser_->is_done()) {
        if (pending_.empty()) return std::optional<std::string>();
        std::string last = std::move(pending_);  // a final line without its newline
        pending_.clear();
        return std::optional<std::string>(std::move(last));
      }
      char buf[16384];
      parser_->get().body().data = buf;
      parser_->get().body().size = sizeof buf;
      boost::system::error_code read_ec;
      Status s = conn_->run(Clock::now() + idle_timeout, "read stream", [&](auto done) {
        http::async_read_some(
            conn_->stream(), conn_->buffer(), *parser_, [&read_ec, done](auto e, size_t) {
              read_ec = e;
              done(e == http::error::need_buffer ? boost::system::error_code() : e);
            });
      });
      if (!s) return s;
      size_t got = sizeof buf - parser_->get().body().size;
      pending_.append(buf, got);
    }
  }

  void cancel() override { conn_->cancel(); }

 private:
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  int status_ = 0;
  Headers headers_;
  std::string pending_;
  size_t scanned_ = 0;
};

class BeastTransport final : public Transport {
 public:
  BeastTransport(RestConfig config, Endpoint ep)
      : config_(std::move(config)),
        ep_(std::move(ep)),
        ctx_(ssl::context::tls_client),
        tokens_(config_) {
    verify_name_ = config_.tls_server_name.empty() ? ep_.host : config_.tls_server_name;
    host_header_ = net::formatHostPort(ep_.host, ep_.port);
  }

  Status init() {
    boost::system::error_code ec;
    ctx_.set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                     ssl::context::no_tlsv1_1);
    if (config_.insecure_skip_tls_verify) {
      ctx_.set_verify_mode(ssl::verify_none);
    } else {
      ctx_.set_verify_mode(ssl::verify_peer);
      if (config_.ca_pem.empty()) {
        ctx_.set_default_verify_paths(ec);
      } else {
        ctx_.add_certificate_authority(asio::buffer(config_.ca_pem), ec);
      }
      if (ec) return Status::invalid("the certificate authority is not valid PEM: " + ec.message());
    }
    if (!config_.client_cert_pem.empty()) {
      ctx_.use_certificate_chain(asio::buffer(config_.client_cert_pem), ec);
      if (ec) return Status::invalid("the client certificate is not valid PEM: " + ec.message());
      ctx_.use_private_key(asio::buffer(config_.client_key_pem), ssl::context::pem, ec);
      if (ec)
        return Status::invalid(
            "the client key is not valid PEM or does not match the certificate: " + ec.message());
    }
    return Status::ok();
  }

  Result<HttpResponse> roundTrip(const HttpRequest& request,
                                 std::chrono::milliseconds timeout) override {
    auto deadline = Clock::now() + timeout;
    HERD_ASSIGN_OR_RETURN(std::string token, currentToken());
    auto beast_req = makeBeastRequest(request, host_header_, ep_.prefix, config_.user_agent, token);
    for (int attempt = 0;; ++attempt) {
      bool reused = false;
      HERD_ASSIGN_OR_RETURN(auto conn, acquire(deadline, reused));
      bool got_bytes = false;
      auto r = exchange(*conn, beast_req, deadline, got_bytes);
      // A pooled connection the server closed while it sat idle fails before any byte of a
      // response. That is not the request's fault, but a write may still have been applied,
      // so only reads are sent again (writes were protected by the liveness check in acquire).
      bool idempotent = request.method == "GET" || request.method == "HEAD";
      if (!r && reused && idempotent && !got_bytes && attempt == 0 &&
          r.status().code() == Code::kUnavailable)
        continue;
      if (r && !conn->broken()) release(std::move(conn));
      return r;
    }
  }

  Result<std::unique_ptr<ResponseStream>> openStream(const HttpRequest& request,
                                                     std::chrono::milliseconds timeout) override {
    auto deadline = Clock::now() + timeout;
    HERD_ASSIGN_OR_RETURN(std::string token, currentToken());
    auto beast_req = makeBeastRequest(request, host_header_, ep_.prefix, config_.user_agent, token);
    auto conn = std::make_unique<Connection>(ctx_);
    HERD_RETURN_IF_ERROR(
        conn->connect(ep_, verify_name_, !config_.insecure_skip_tls_verify, deadline));
    HERD_RETURN_IF_ERROR(
        conn->run(deadline, "send " + request.method + " " + request.target, [&](auto done) {
          http::async_write(conn->stream(), beast_req, [done](auto e, size_t) { done(e); });
        }));
    auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->body_limit(boost::none);
    HERD_RETURN_IF_ERROR(conn->run(deadline, "read response headers", [&](auto done) {
      http::async_read_header(conn->stream(), conn->buffer(), *parser,
                              [done](auto e, size_t) { done(e); });
    }));
    return std::unique_ptr<ResponseStream>(new BeastStream(std::move(conn), std::move(parser)));
  }

  const std::string& pathPrefix() const override { return ep_.prefix; }

 private:
  Result<std::string> currentToken() {
    std::lock_guard<std::mutex> lock(token_mu_);
    return tokens_.token();
  }

  Result<std::unique_ptr<Connection>> acquire(Clock::time_point deadline, bool& reused) {
    for (;;) {
      std::unique_ptr<Connection> conn;
      {
        std::lock_guard<std::mutex> lock(pool_mu_);
        if (idle_.empty()) break;
        conn = std::move(idle_.back());
        idle_.pop_back();
      }
      if (!conn->idleAndOpen()) continue;  // closed by the server while pooled: drop it
      reused = true;
      return conn;
    }
    auto conn = std::make_unique<Connection>(ctx_);
    HERD_RETURN_IF_ERROR(
        conn->connect(ep_, verify_name_, !config_.insecure_skip_tls_verify, deadline));
    return conn;
  }

  void release(std::unique_ptr<Connection> conn) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(conn));
  }

  Result<HttpResponse> exchange(Connection& conn, http::request<http::string_body>& req,
                                Clock::time_point deadline, bool& got_bytes) {
    std::string what = std::string(req.method_string()) + " " + std::string(req.target());
    HERD_RETURN_IF_ERROR(conn.run(deadline, "send " + what, [&](auto done) {
      http::async_write(conn.stream(), req, [done](auto e, size_t) { done(e); });
    }));
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    size_t before = conn.buffer().size();
    Status s = conn.run(deadline, "read response to " + what, [&](auto done) {
      http::async_read(conn.stream(), conn.buffer(), parser, [done](auto e, size_t) { done(e); });
    });
    got_bytes = parser.got_some() || conn.buffer().size() != before;
    if (!s) return s;
    auto& res = parser.get();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.headers = copyHeaders(res);
    out.body = std::move(res.body());
    if (!res.keep_alive()) conn.markBroken();
    return out;
  }

  RestConfig config_;
  Endpoint ep_;
  ssl::context ctx_;
  std::string verify_name_;
  std::string host_header_;
  std::mutex token_mu_;
  TokenSource tokens_;
  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  }
  return {};
}

Result<std::unique_ptr<Transport>> makeTransport(const RestConfig& config) {
  HERD_ASSIGN_OR_RETURN(Endpoint ep, parseServer(config.server));
  auto t = std::make_unique<BeastTransport>(config, std::move(ep));
  HERD_RETURN_IF_ERROR(t->init());
  return std::unique_ptr<Transport>(std::move(t));
}

}  // namespace herd::kube
