#include "http_server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <list>
#include <mutex>
#include <thread>

namespace herd::fake {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using TlsStream = ssl::stream<tcp::socket>;

// Largest request body accepted: kube-apiserver's limit is 3 MiB for most writes; a little
// more here so that a test can send an oversized object and see the server's answer.
constexpr uint64_t kMaxBodyBytes = 8 * 1024 * 1024;
// Bodies above this go out chunked, as kube-apiserver's Go HTTP server does (it buffers
// about 2 KB before deciding; the recorded Content-Length maximum is 1914 bytes).
constexpr size_t kChunkedThreshold = 2048;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = hexValue(in[i + 1]);
      int lo = hexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

void splitTarget(HttpRequest& req) {
  std::string_view target = req.target;
  size_t q = target.find('?');
  req.path = percentDecode(target.substr(0, q), false);
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    std::string key = percentDecode(pair.substr(0, eq), true);
    std::string value =
        eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1), true);
    if (!key.empty()) req.query.emplace(std::move(key), std::move(value));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
}

std::string nameEntry(X509_NAME_ENTRY* entry) {
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(entry);
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

PeerCertificate peerOf(SSL* ssl) {
  PeerCertificate peer;
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return peer;
  peer.presented = true;
  peer.verified = SSL_get_verify_result(ssl) == X509_V_OK;
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
    X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    if (nid == NID_commonName) peer.common_name = nameEntry(entry);
    if (nid == NID_organizationName) peer.organizations.push_back(nameEntry(entry));
  }
  X509_free(cert);
  return peer;
}

}  // namespace

class HttpServer::Impl {
 public:
  Impl(Handler handler) : handler_(std::move(handler)) {}

  Status listen(const HttpServerConfig& config) {
    boost::system::error_code ec;
    ctx_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    ctx_.use_certificate_chain(net::buffer(config.cert_pem), ec);
    if (!ec) ctx_.use_private_key(net::buffer(config.key_pem), ssl::context::pem, ec);
    if (!ec) ctx_.add_certificate_authority(net::buffer(config.client_ca_pem), ec);
    if (ec) return Status::invalid("TLS configuration: " + ec.message());
    // Ask for a client certificate but accept the handshake whatever comes: authentication
    // happens per request, so an unknown CA gets a 401 Status as from kube-apiserver.
    ctx_.set_verify_mode(ssl::verify_peer);
    ctx_.set_verify_callback([](bool, ssl::verify_context&) { return true; });

    tcp::endpoint endpoint(net::ip::make_address(config.host, ec), config.port);
    if (ec) return Status::invalid("listen address " + config.host + ": " + ec.message());
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
      return Status::io("listen on " + config.host + ":" + std::to_string(config.port) + ": " +
                        ec.message());
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { acceptLoop(); });
    return Status::ok();
  }

  void stop() {
    if (stopping_.exchange(true)) return;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<Connection> conns;
    {
      std::lock_guard lock(mu_);
      for (auto& c : conns_) ::shutdown(c.fd, SHUT_RDWR);
      conns.swap(conns_);
    }
    for (auto& c : conns) c.thread.join();
    boost::system::error_code ec;
    acceptor_.close(ec);
  }

  uint16_t port_ = 0;

 private:
  struct Connection {
    int fd = -1;
    std::shared_ptr<std::atomic<bool>> done;
    std::thread thread;
  };

  void acceptLoop() {
    while (!stopping_) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_) break;
      if (ec) {
        // EMFILE and friends: back off instead of spinning.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      std::lock_guard lock(mu_);
      reapFinished();
      if (stopping_) break;
      Connection conn;
      conn.fd = socket.native_handle();
      conn.done = std::make_shared<std::atomic<bool>>(false);
      auto done = conn.done;
      conn.thread = std::thread([this, s = std::move(socket), done]() mutable {
        serve(std::move(s));
        done->store(true);
      });
      conns_.push_back(std::move(conn));
    }
  }

  void reapFinished() {
    for (auto it = conns_.begin(); it != conns_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void serve(tcp::socket socket) {
    TlsStream stream(std::move(socket), ctx_);
    boost::system::error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;
    PeerCertificate peer = peerOf(stream.native_handle());
    boost::beast::flat_buffer buffer;
    while (!stopping_) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxBodyBytes);
      http::read(stream, buffer, parser, ec);
      if (ec) break;
      auto& raw = parser.get();
      HttpRequest req;
      req.method = std::string(raw.method_string());
      req.target = std::string(raw.target());
      for (const auto& field : raw) {
        std::string name(field.name_string());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto [it, inserted] = req.headers.emplace(name, std::string(field.value()));
        if (!inserted) it->second += ", " + std::string(field.value());
      }
      req.body = std::move(raw.body());
      req.peer = peer;
      splitTarget(req);
      bool keep_alive = raw.keep_alive();

      HttpResponse res = handler_(req);
      if (!write(stream, res, keep_alive)) break;
      if (!keep_alive) break;
    }
    stream.next_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream.next_layer().close(ec);
  }

  bool write(TlsStream& stream, HttpResponse& res, bool keep_alive) {
    boost::system::error_code ec;
    if (res.stream) {
      http::response<http::empty_body> head{static_cast<http::status>(res.status), 11};
      for (auto& [name, value] : res.headers) head.insert(name, value);
      head.keep_alive(keep_alive);
      head.chunked(true);
      http::response_serializer<http::empty_body> serializer{head};
      http::write_header(stream, serializer, ec);
      if (ec) return false;
      while (auto chunk = res.stream->next()) {
        net::write(stream, http::make_chunk(net::buffer(*chunk)), ec);
        if (ec) return false;
      }
      net::write(stream, http::make_chunk_last(), ec);
      return !ec;
    }
    http::response<http::string_body> out{static_cast<http::status>(res.status), 11};
    for (auto& [name, value] : res.headers) out.insert(name, value);
    out.keep_alive(keep_alive);
    bool chunked = res.body.size() > kChunkedThreshold;
    out.body() = std::move(res.body);
    if (chunked) {
      out.chunked(true);
    } else {
      out.content_length(out.body().size());
    }
    http::write(stream, out, ec);
    return !ec;
  }

  Handler handler_;
  net::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_server};
  tcp::acceptor acceptor_{ioc_};
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::list<Connection> conns_;
};

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerConfig& config,
                                                      Handler handler) {
  auto impl = std::make_unique<Impl>(std::move(handler));
  HERD_RETURN_IF_ERROR(impl->listen(config));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() {
  stop();
}
uint16_t HttpServer::port() const {
  return impl_->port_;
}
void HttpServer::stop() {
  impl_->stop();
}

}  // namespace herd::fake
