#include "tunnel/connect_listener.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/socket.h"
#include "tunnel/connect_request.h"
#include "tunnel/http_reply.h"
#include "tunnel/peer_forwarder.h"
#include "tunnel/tls_relay.h"

namespace herd::tunnel {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// A client gets this long to finish TLS and send its CONNECT; kube-apiserver needs a few ms.
constexpr milliseconds kRequestTimeout{5000};
// Connections being set up or relayed by this listener at once (a thread each). Past it, new
// ones get a 503 rather than a thread.
constexpr int kMaxConnections = 4096;

}  // namespace

struct ConnectListener::Impl {
  ConnectListenerConfig listener;
  const TunnelConfig& config;
  SessionRegistry& registry;
  Metrics& metrics;
  PeerForwarder* peers;
  ossl::SslCtxPtr tls;
  UniqueFd listen_fd;
  UniqueFd stop_fd;
  std::string address;
  std::thread acceptor;

  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, int> connections;  // id -> client fd, to cut at shutdown
  uint64_t next_id = 1;

  Impl(const ConnectListenerConfig& l, const TunnelConfig& c, SessionRegistry& r, Metrics& m,
       PeerForwarder* p)
      : listener(l), config(c), registry(r), metrics(m), peers(p) {}

  void acceptLoop();
  void serve(uint64_t id, UniqueFd client);
  void servePlain(UniqueFd client, const std::string& tenant);
  void serveTls(UniqueFd client);
  void dispatch(const std::string& tenant, ConnectRequest request, std::string early,
                UniqueFd stream);
};

// Reads from `fd` until a whole CONNECT request (or garbage) is in; false on timeout/EOF.
// `read` abstracts plain and TLS sockets: it returns bytes read, 0 at EOF, -1 to wait.
template <typename ReadFn>
static bool readConnect(int fd, ReadFn read, std::string& buffer, ConnectParse& parse) {
  auto deadline = Clock::now() + kRequestTimeout;
  char chunk[4096];
  while (true) {
    parse = parseConnectRequest(buffer);
    if (parse.state != ParseState::kIncomplete) return true;
    long n = read(chunk, sizeof chunk);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
}

void ConnectListener::Impl::dispatch(const std::string& tenant, ConnectRequest request,
                                     std::string early, UniqueFd stream) {
  metrics.add(Metric::connect_requests);
  if (auto session = registry.find(tenant, request.host)) {
    StreamRequest s{std::move(stream), request.host, request.port, std::move(early)};
    if (session->submit(std::move(s))) return;
    // submit() only fails for a session that ended in the meantime; s.fd was not consumed
    // in that case, but it was moved from: answer on a fresh lookup below.
    stream = std::move(s.fd);
    early = std::move(s.early);
  }
  if (peers != nullptr && request.forwarded_tenant.empty() &&
      peers->forward(tenant, request, early, stream)) {
    metrics.add(Metric::connect_peer_forwards);
    return;
  }
  metrics.add(Metric::connect_unknown_node);
  net::writeAll(
      stream.get(),
      httpError(502, fmt::format("no tunnel to node {} of tenant {}: the node has no live "
                                 "`ssh -R {}:{}:...` session to this gateway",
                                 request.host, tenant, request.host, request.port)));
}

void ConnectListener::Impl::servePlain(UniqueFd client, const std::string& tenant) {
  int fd = client.get();
  std::string buffer;
  ConnectParse parse;
  auto read = [fd](char* out, size_t size) -> long {
    ssize_t n = ::recv(fd, out, size, 0);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -1 : 0;
    return n;
  };
  if (!readConnect(fd, read, buffer, parse)) {
    metrics.add(Metric::connect_bad_requests);
    return;
  }
  if (parse.state == ParseState::kInvalid) {
    metrics.add(Metric::connect_bad_requests);
    net::writeAll(fd, httpError(parse.http_status, parse.error));
    return;
  }
  std::string effective_tenant = tenant;
  if (!parse.request.forwarded_tenant.empty()) {
    // Only a peer listener (tenant "") may name the tenant; a tenant's socket may not.
    if (!tenant.empty()) {
      metrics.add(Metric::connect_bad_requests);
      net::writeAll(fd, httpError(403, "only gateway replicas may forward CONNECTs"));
      return;
    }
    effective_tenant = parse.request.forwarded_tenant;
  }
  std::string early = buffer.substr(parse.request.header_bytes);
  dispatch(effective_tenant, std::move(parse.request), std::move(early), std::move(client));
}

void ConnectListener::Impl::serveTls(UniqueFd client) {
  auto accepted = TlsSession::accept(tls.get(), client.get(), kRequestTimeout);
  if (!accepted) {
    metrics.add(Metric::connect_tls_failures);
    log::root().info("egress TLS handshake refused", {{"error", accepted.status().message()}});
    return;
  }
  std::unique_ptr<TlsSession> session = std::move(accepted).value();
  std::string tenant = session->peerCommonName();
  bool peer_listener = listener.kind == ConnectListenerConfig::Kind::kPeer;
  std::string buffer;
  ConnectParse parse;
  auto read = [&session](char* out, size_t size) -> long { return session->read(out, size); };
  if (!readConnect(client.get(), read, buffer, parse) || parse.state == ParseState::kInvalid) {
    metrics.add(Metric::connect_bad_requests);
    if (parse.state == ParseState::kInvalid) {
      session->writeAll(httpError(parse.http_status, parse.error));
    }
    return;
  }
  // Refusals come after the request is read: closing with unread bytes would reset the
  // connection, and the client would never see why.
  if (!peer_listener && config.findTenant(tenant) == nullptr) {
    metrics.add(Metric::connect_tls_failures);
    session->writeAll(httpError(403, "client certificate names no tenant of this gateway"));
    return;
  }
  if (!peer_listener && !listener.tenant.empty() && tenant != listener.tenant) {
    metrics.add(Metric::connect_tls_failures);
    session->writeAll(httpError(
        403, fmt::format("this listener serves tenant {} only; the client certificate names {}",
                         listener.tenant, tenant)));
    return;
  }
  if (peer_listener) {
    if (parse.request.forwarded_tenant.empty()) {
      metrics.add(Metric::connect_bad_requests);
      session->writeAll(httpError(400, "a peer CONNECT must name its tenant"));
      return;
    }
    tenant = parse.request.forwarded_tenant;
  } else if (!parse.request.forwarded_tenant.empty()) {
    metrics.add(Metric::connect_bad_requests);
    session->writeAll(httpError(403, "only gateway replicas may forward CONNECTs"));
    return;
  }
  // The session relays plain bytes; a socket pair joins it to this TLS connection.
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) return;
  UniqueFd inner(pair[0]);
  UniqueFd outer(pair[1]);
  std::string early = buffer.substr(parse.request.header_bytes);
  dispatch(tenant, std::move(parse.request), std::move(early), std::move(inner));
  session->relay(outer.get());
}

void ConnectListener::Impl::serve(uint64_t id, UniqueFd client) {
  if (listener.kind == ConnectListenerConfig::Kind::kUnix) {
    servePlain(std::move(client), listener.tenant);
  } else {
    serveTls(std::move(client));
  }
  std::lock_guard lock(mu);
  connections.erase(id);
  cv.notify_all();
}

void ConnectListener::Impl::acceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd.get(), POLLIN, 0}, {stop_fd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
    if (fds[1].revents != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    UniqueFd client(::accept4(listen_fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
        std::this_thread::sleep_for(milliseconds(50));
      }
      continue;
    }
    uint64_t id = 0;
    {
      std::lock_guard lock(mu);
      if (static_cast<int>(connections.size()) >= kMaxConnections) {
        net::writeAll(client.get(), httpError(503, "egress proxy is at its connection limit"),
                      milliseconds(100));
        continue;
      }
      id = next_id++;
      connections[id] = client.get();
    }
    std::thread([this, id, fd = client.release()] { serve(id, UniqueFd(fd)); }).detach();
  }
}

ConnectListener::ConnectListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConnectListener::~ConnectListener() {
  stop();
}

Result<std::unique_ptr<ConnectListener>> ConnectListener::start(
    const ConnectListenerConfig& listener, const TunnelConfig& config, SessionRegistry& registry,
    Metrics& metrics, PeerForwarder* peers) {
  auto impl = std::make_unique<Impl>(listener, config, registry, metrics, peers);
  if (listener.kind == ConnectListenerConfig::Kind::kUnix) {
    HERD_ASSIGN_OR_RETURN(impl->listen_fd, net::listenUnix(listener.address));
    impl->address = listener.address;
  } else {
    HERD_ASSIGN_OR_RETURN(impl->tls, makeTlsContext(listener.tls, /*server=*/true));
    HERD_ASSIGN_OR_RETURN(impl->listen_fd, net::listenTcp(listener.address));
    std::string host = listener.address.substr(0, listener.address.rfind(':'));
    impl->address = fmt::format("{}:{}", host, net::boundPort(impl->listen_fd.get()));
  }
  impl->stop_fd = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  Impl* raw = impl.get();
  impl->acceptor = std::thread([raw] { raw->acceptLoop(); });
  log::root().info("egress CONNECT listener ready", {{"address", impl->address}});
  return std::unique_ptr<ConnectListener>(new ConnectListener(std::move(impl)));
}

const std::string& ConnectListener::address() const {
  return impl_->address;
}

void ConnectListener::stop() {
  if (!impl_ || !impl_->acceptor.joinable()) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(impl_->stop_fd.get(), &one, sizeof one);
  impl_->acceptor.join();
  impl_->listen_fd.reset();
  if (impl_->listener.kind == ConnectListenerConfig::Kind::kUnix) {
    ::unlink(impl_->listener.address.c_str());
  }
  std::unique_lock lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, std::chrono::seconds(1),
                          [&] { return impl_->connections.empty(); })) {
    for (auto& [id, fd] : impl_->connections) ::shutdown(fd, SHUT_RDWR);
    impl_->cv.wait(lock, [&] { return impl_->connections.empty(); });
  }
}

}  // namespace herd::tunnel
