#include "common/ops_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "common/log.h"
#include "common/net.h"

namespace herd::ops {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A scraper that stalls must not pin a socket forever.
constexpr std::chrono::seconds kRequestTimeout{10};

class OpsSession : public std::enable_shared_from_this<OpsSession> {
 public:
  OpsSession(tcp::socket socket, const Handlers& handlers)
      : stream_(std::move(socket)), handlers_(handlers) {}

  void start() {
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (!ec) self->respond();
                     });
  }

 private:
  // The page registered at `path`, else the one of the longest prefix ending in '/' ("/"
  // itself matches only "/").
  const std::function<Page(const std::string&)>* pageFor(const std::string& path) const {
    if (auto it = handlers_.pages.find(path); it != handlers_.pages.end()) return &it->second;
    const std::function<Page(const std::string&)>* best = nullptr;
    size_t best_length = 0;
    for (const auto& [prefix, handler] : handlers_.pages) {
      if (prefix.size() < 2 || prefix.back() != '/' || prefix.size() <= best_length) continue;
      if (path.compare(0, prefix.size(), prefix) == 0) {
        best = &handler;
        best_length = prefix.size();
      }
    }
    return best;
  }

  void respond() {
    auto target = request_.target();
    auto path = target.substr(0, target.find('?'));
    response_.version(request_.version());
    response_.keep_alive(false);
    response_.set(http::field::content_type, "text/plain; charset=utf-8");
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.body() = "only GET\n";
    } else if (path == "/metrics") {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response_.body() = handlers_.metrics();
    } else if (path == "/healthz" || path == "/livez") {
      response_.result(http::status::ok);
      response_.body() = "ok\n";
    } else if (path == "/readyz") {
      bool ready = handlers_.ready();
      response_.result(ready ? http::status::ok : http::status::service_unavailable);
      response_.body() = ready ? "ok\n" : "not ready\n";
    } else if (const auto* page = pageFor(std::string(path))) {
      Page p = (*page)(std::string(path));
      response_.result(static_cast<http::status>(p.status));
      response_.set(http::field::content_type, p.content_type);
      response_.body() = std::move(p.body);
    } else {
      response_.result(http::status::not_found);
      response_.body() = "not found\n";
    }
    response_.prepare_payload();
    http::async_write(stream_, response_, [self = shared_from_this()](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  const Handlers& handlers_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

class ServerImpl : public Server {
 public:
  explicit ServerImpl(Handlers handlers)
      : handlers_(std::move(handlers)), acceptor_(context_) {}

  ~ServerImpl() override {
    asio::post(context_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      context_.stop();
    });
    if (thread_.joinable()) thread_.join();
  }

  Status listen(const std::string& listen) {
    auto address = net::parseHostPort(listen, {.port_zero = true});
    if (!address) return address.status().withContext("ops listener");
    boost::system::error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(address->host, ec), address->port);
    if (!ec) acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::io("ops listener " + listen + ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { context_.run(); });
    return Status::ok();
  }

  int port() const override { return port_; }

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<OpsSession>(std::move(socket), handlers_)->start();
      accept();
    });
  }

  Handlers handlers_;
  asio::io_context context_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace

Result<std::unique_ptr<Server>> startServer(const std::string& listen, Handlers handlers) {
  auto server = std::make_unique<ServerImpl>(std::move(handlers));
  HERD_RETURN_IF_ERROR(server->listen(listen));
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace herd::ops
