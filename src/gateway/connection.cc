// The connection state machine of the gateway's data path (connection.h): inspect, route,
// connect, proxy, and the sweep's timeouts.
#include "gateway/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>

#include "common/log.h"
#include "gateway/client_hello.h"
#include "gateway/http_host.h"
#include "gateway/proxy_protocol.h"
#include "gateway/stats.h"

namespace herd::gateway {
namespace {

ProxyAddresses proxyAddresses(int fd) {
  ProxyAddresses addresses;
  sockaddr_storage peer{}, local{};
  socklen_t peer_length = sizeof peer, local_length = sizeof local;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length) != 0)
    return addresses;
  addresses.ipv6 = peer.ss_family == AF_INET6;
  if (addresses.ipv6) {
    const auto* p = reinterpret_cast<const sockaddr_in6*>(&peer);
    std::memcpy(addresses.source.data(), &p->sin6_addr, 16);
    addresses.source_port = ntohs(p->sin6_port);
    if (local.ss_family == AF_INET6) {
      const auto* l = reinterpret_cast<const sockaddr_in6*>(&local);
      std::memcpy(addresses.destination.data(), &l->sin6_addr, 16);
      addresses.destination_port = ntohs(l->sin6_port);
    }
  } else {
    const auto* p = reinterpret_cast<const sockaddr_in*>(&peer);
    const auto* l = reinterpret_cast<const sockaddr_in*>(&local);
    std::memcpy(addresses.source.data(), &p->sin_addr, 4);
    std::memcpy(addresses.destination.data(), &l->sin_addr, 4);
    addresses.source_port = ntohs(p->sin_port);
    addresses.destination_port = ntohs(l->sin_port);
  }
  return addresses;
}

}  // namespace

Connection::Connection(Worker& worker, ListenerKind kind, UniqueFd fd, uint16_t tenant_port)
    : worker_(worker), kind_(kind), tenant_port_(tenant_port) {
  client_.fd = std::move(fd);
  client_.watch = {Watch::Kind::kClient, this};
  backend_.watch = {Watch::Kind::kBackend, this};
  accepted_ = Clock::now();
  last_activity_ = accepted_;
  worker_.stats().active_connections.fetch_add(1, std::memory_order_relaxed);
  worker_.add(this);
}

Connection::~Connection() {
  close();
  flushStats();
  if (stats_) {
    stats_->active.fetch_sub(1, std::memory_order_relaxed);
    if (failed_) bump(stats_->errors);
  }
  if (tenant_) tenant_->active.fetch_sub(1, std::memory_order_relaxed);
  if (backend_state_) backend_state_->active.fetch_sub(1, std::memory_order_relaxed);
  worker_.releaseInFlight(upstream_);
  worker_.releaseInFlight(downstream_);
  worker_.stats().active_connections.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove(this);
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  // Closing a descriptor also takes it out of epoll (no other process holds it: every
  // descriptor is close-on-exec and the gateway does not fork).
  client_.fd.reset();
  backend_.fd.reset();
  worker_.retire(this);
}

bool Connection::start() {
  int one = 1;
  ::setsockopt(client_.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // The registration reports at once what the client has already sent.
  if (!worker_.watch(client_)) return false;
  if (kind_ == ListenerKind::kTenantPort) {
    // The port says whose connection this is; the bytes are not looked at, so a ClientHello
    // naming another tenant still goes to this one (whose certificates it will then fail).
    const Route* found = worker_.table()->findPort(tenant_port_);
    if (!found) {
      bump(worker_.stats().counters.tenant_port_no_route);
      close();
      return true;
    }
    route(found, "");
  }
  return true;
}

void Connection::onConnectReported() {
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(backend_.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  onConnectDone(error);
}

void Connection::readHello() {
  const auto& limits = worker_.table()->config().limits;
  size_t cap =
      kind_ == ListenerKind::kTls ? limits.max_client_hello_bytes : limits.max_http_head_bytes;
  while (phase_ == Phase::kInspecting && client_.readable) {
    char chunk[4096];
    size_t want = std::min(sizeof chunk, cap - std::min(cap, peeked_.size()));
    if (want == 0) want = 1;  // a full buffer must still be inspected to say "too large"
    ssize_t n = ::recv(client_.fd.get(), chunk, want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      client_.readable = false;
      return;
    }
    if (n <= 0) return close();  // the client went away before saying anything
    if (static_cast<size_t>(n) < want && !client_.hung_up) client_.readable = false;
    peeked_.append(chunk, static_cast<size_t>(n));
    inspect();
  }
}

void Connection::inspect() {
  auto& stats = worker_.stats();
  auto& counters = stats.counters;
  const RouteTable& table = *worker_.table();
  const auto& limits = table.config().limits;
  if (kind_ == ListenerKind::kTls) {
    auto hello = inspectClientHello(
        std::span(reinterpret_cast<const uint8_t*>(peeked_.data()), peeked_.size()),
        limits.max_client_hello_bytes);
    switch (hello.outcome) {
      case HelloOutcome::kNeedMore:
        return;
      case HelloOutcome::kNotTls:
        bump(counters.hello_not_tls);
        return reject({});
      case HelloOutcome::kSslV2:
        bump(counters.hello_sslv2);
        return reject({});
      case HelloOutcome::kMalformed:
        bump(counters.hello_malformed);
        return reject({});
      case HelloOutcome::kInvalidSni:
        bump(counters.hello_invalid_sni);
        return reject({});
      case HelloOutcome::kTooLarge:
        bump(counters.hello_too_large);
        return reject({});
      case HelloOutcome::kOk:
        break;
    }
    stats.peek.observe(Clock::now() - accepted_);
    const Route* found = nullptr;
    if (hello.sni.empty()) {
      bump(counters.sni_missing);
    } else {
      found = table.findTls(hello.sni);
      if (!found) bump(counters.sni_unknown);
    }
    if (!found && table.defaultRoute()) {
      bump(counters.default_route_used);
      found = table.defaultRoute();
    }
    if (!found) {
      log::root().debug("no route for server name", {{"sni", hello.sni}});
      return reject({});
    }
    return route(found, hello.sni);
  }

  auto head = inspectHttpHead(peeked_, limits.max_http_head_bytes);
  switch (head.outcome) {
    case HttpHeadOutcome::kNeedMore:
      return;
    case HttpHeadOutcome::kMalformed:
      bump(counters.http_head_malformed);
      return reject("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    case HttpHeadOutcome::kTooLarge:
      bump(counters.http_head_too_large);
      return reject(
          "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
          "Connection: close\r\n\r\n");
    case HttpHeadOutcome::kOk:
      break;
  }
  stats.peek.observe(Clock::now() - accepted_);
  const Route* found = table.findHttp(head.host);
  if (!found) {
    bump(counters.http_host_unknown);
    return reject("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  }
  route(found, head.host);
}

void Connection::reject(std::string_view http_response) {
  if (!http_response.empty()) {
    // Best effort and non-blocking: a client that does not read its 4xx loses it.
    [[maybe_unused]] auto sent = ::send(client_.fd.get(), http_response.data(),
                                        http_response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  close();
}

void Connection::route(const Route* route, const std::string& host) {
  // Share ownership of the Route with the table so the pointer outlives a table swap.
  route_keepalive_ = std::shared_ptr<const Route>(worker_.table(), route);
  route_ = route;
  host_ = host;
  route_name_ = route->name;
  route_kind_ = route->kind;
  proxy_protocol_ = route->proxy_protocol;
  checked_version_ = worker_.table()->version();
  stats_ = route->stats;
  bump(stats_->connections);
  stats_->active.fetch_add(1, std::memory_order_relaxed);
  if (route->tenant && route->max_connections > 0) {
    int64_t before = route->tenant->active.fetch_add(1, std::memory_order_relaxed);
    tenant_ = route->tenant;  // counted: released in the destructor
    if (before >= route->max_connections) {
      bump(worker_.stats().counters.rejected_tenant_limit);
      failed_ = true;
      return reject(kind_ == ListenerKind::kHttp
                        ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n"
                        : "");
    }
  }
  phase_ = Phase::kConnecting;
  connectBackend();
}

void Connection::connectBackend() {
  size_t index = 0;
  // Each backend once at most (`tried_` remembers only the first 64 of a route).
  auto backend =
      connect_attempts_++ < route_->backends.size() ? route_->pick(tried_, &index) : nullptr;
  if (!backend) {
    bump(worker_.stats().counters.no_healthy_backend);
    failed_ = true;
    return reject(kind_ == ListenerKind::kHttp
                      ? "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                      : "");
  }
  if (index < 64) tried_ |= uint64_t{1} << index;
  backend_state_ = std::move(backend);
  backend_state_->active.fetch_add(1, std::memory_order_relaxed);
  connect_deadline_ = Clock::now() + worker_.table()->config().timeouts.connect;
  socklen_t length = 0;
  auto address = socketAddress(backend_state_->address, &length);
  if (!address) return onConnectDone(EINVAL);
  backend_ = Socket{};
  backend_.watch = {Watch::Kind::kBackend, this};
  backend_.fd.reset(::socket(address->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!backend_.fd.valid()) return onConnectDone(errno);
  int one = 1;
  ::setsockopt(backend_.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(backend_.fd.get(), reinterpret_cast<const sockaddr*>(&*address), length) != 0 &&
      errno != EINPROGRESS)
    return onConnectDone(errno);
  // Connected or not yet: the registration reports writable once the handshake is over.
  if (!worker_.watch(backend_)) return onConnectDone(errno);
}

void Connection::onConnectDone(int error) {
  if (phase_ != Phase::kConnecting) return;
  if (error != 0) {
    // Passive health: this backend failed a real client; the active check brings it back.
    // Unless the gateway itself is out of descriptors, buffers or local ports.
    bool local = error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM ||
                 error == EADDRNOTAVAIL || error == EAGAIN;
    bump(worker_.stats().counters.backend_connect_failures);
    if (!local) backend_state_->healthy.store(false, std::memory_order_relaxed);
    log::root().warn("backend connect failed", {{"route", route_name_},
                                                {"backend", backend_state_->key},
                                                {"error", std::strerror(error)}});
    backend_state_->active.fetch_sub(1, std::memory_order_relaxed);
    backend_state_.reset();
    backend_.fd.reset();
    // Nothing has been sent yet, so another backend can take the connection unnoticed.
    return connectBackend();
  }
  startProxying();
}

void Connection::startProxying() {
  phase_ = Phase::kProxying;
  last_activity_ = worker_.now();
  // The route was needed to pick a backend; keeping it would pin an old table.
  route_ = nullptr;
  route_keepalive_.reset();
  if (proxy_protocol_)
    upstream_.initial = buildProxyV2Header(proxyAddresses(client_.fd.get()), host_);
  upstream_.initial += peeked_;
  peeked_.clear();
  peeked_.shrink_to_fit();
  upstream_.from = &client_;
  upstream_.to = &backend_;
  downstream_.from = &backend_;
  downstream_.to = &client_;
  // The inspected bytes are the first thing the backend must see.
  upstream_.data = upstream_.initial.data();
  upstream_.length = upstream_.initial.size();
  worker_.schedule(this);
}

bool Connection::pump(Pipe& pipe, bool writes, int budget) {
  if (pipe.done) return false;
  // Bytes in flight wait for the writes.
  if (!writes && pipe.pending()) return true;
  for (; budget > 0; --budget) {
    if (pipe.spliced > 0) {
      if (!pipe.to->writable) return false;
      ssize_t n = ::splice(pipe.splice->read_end.get(), nullptr, pipe.to->fd.get(), nullptr,
                           pipe.spliced, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        pipe.to->writable = false;
        return false;
      }
      if (n <= 0) return fail(errno, true), false;
      pipe.spliced -= static_cast<size_t>(n);
      pipe.unflushed_bytes += static_cast<uint64_t>(n);
      // The socket took less than there was: its buffer is full.
      if (pipe.spliced > 0) pipe.to->writable = false;
      continue;
    }
    if (pipe.offset < pipe.length) {
      if (!pipe.to->writable) return false;
      ssize_t n = ::send(pipe.to->fd.get(), pipe.data + pipe.offset, pipe.length - pipe.offset,
                         MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pipe.to->writable = false;
        return false;
      }
      if (n < 0) return fail(errno, true), false;
      pipe.offset += static_cast<size_t>(n);
      pipe.unflushed_bytes += static_cast<uint64_t>(n);
      if (pipe.offset < pipe.length) pipe.to->writable = false;
      continue;
    }
    if (!pipe.initial.empty()) {
      pipe.initial.clear();
      pipe.initial.shrink_to_fit();
    }
    if (pipe.eof) return finishPipe(pipe), false;
    if (!pipe.from->readable) {
      // Idle: give the buffer and the (empty) kernel pipe back and wait for an event.
      worker_.releaseInFlight(pipe);
      return false;
    }
    if (pipe.bulk && !pipe.splice) pipe.splice = worker_.takeSplicePipe();
    if (pipe.bulk && pipe.splice) {
      // Only ever into an empty pipe, so EAGAIN means the socket is empty. A splice that
      // comes back short proves nothing (a pipe holds at most 16 segments): read on.
      ssize_t n = ::splice(pipe.from->fd.get(), nullptr, pipe.splice->write_end.get(), nullptr,
                           kSpliceChunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        pipe.from->readable = false;
        continue;
      }
      if (n < 0) return fail(errno), false;
      if (n == 0) {
        pipe.eof = true;
        continue;
      }
      pipe.spliced = static_cast<size_t>(n);
      pipe.bulk = pipe.spliced >= kSpliceMinimum;
      last_activity_ = worker_.now();
      continue;
    }
    pipe.bulk = false;  // no pipe to be had: copy
    // The inbox first; a read that fills it goes on into a pooled buffer.
    char* into = pipe.inbox.data();
    size_t want = pipe.inbox.size();
    if (pipe.inbox_full || pipe.buffer) {
      if (!pipe.buffer) pipe.buffer = worker_.takeBuffer();
      into = pipe.buffer.get();
      want = kBufferSize;
    }
    ssize_t n = ::recv(pipe.from->fd.get(), into, want, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pipe.from->readable = false;
      pipe.inbox_full = false;
      continue;
    }
    if (n < 0) return fail(errno), false;
    if (n == 0) {
      pipe.eof = true;
      continue;
    }
    size_t got = static_cast<size_t>(n);
    // Short: the socket is empty (new bytes bring a new edge), unless its end is already
    // known to be there, which only another read can tell.
    if (got < want && !pipe.from->hung_up) pipe.from->readable = false;
    pipe.data = into;
    pipe.length = got;
    pipe.offset = 0;
    pipe.inbox_full = into == pipe.inbox.data() && got == want;
    pipe.bulk = into != pipe.inbox.data() && got == want;
    last_activity_ = worker_.now();
  }
  return true;
}

void Connection::fail(int error, bool writing) {
  // Either way the connection ends: there is no one to half-close to. A peer that resets is
  // not counted as an error of the route; a write that fails is.
  failed_ = writing || error != ECONNRESET;
  close();
}

void Connection::finishPipe(Pipe& pipe) {
  // Half-close: pass the end of this direction on and keep the other one running (a client
  // may send its last request and still read the answer).
  pipe.done = true;
  worker_.releaseInFlight(pipe);
  ::shutdown(pipe.to->fd.get(), SHUT_WR);
  if (upstream_.done && downstream_.done) close();
}

void Connection::flushStats() {
  if (!stats_) return;
  if (upstream_.unflushed_bytes) {
    bump(stats_->bytes_from_clients, upstream_.unflushed_bytes);
    upstream_.unflushed_bytes = 0;
  }
  if (downstream_.unflushed_bytes) {
    bump(stats_->bytes_to_clients, downstream_.unflushed_bytes);
    downstream_.unflushed_bytes = 0;
  }
}

bool Connection::routeStillExists(const RouteTable& table) const {
  const Route* now = nullptr;
  if (kind_ == ListenerKind::kTenantPort) {
    // The port moved to another tenant, or went: the same grace as a removed SNI route.
    now = table.findPort(tenant_port_);
    return now && now->name == route_name_;
  }
  switch (route_kind_) {
    case RouteKind::kHttp:
      now = table.findHttp(host_);
      break;
    case RouteKind::kDefault:
      now = table.defaultRoute();
      break;
    default:
      now = table.findTls(host_);
  }
  return now && now->name == route_name_;
}

void Connection::sweep(Clock::time_point now) {
  auto& counters = worker_.stats().counters;
  const auto& table = *worker_.table();
  const auto& timeouts = table.config().timeouts;
  switch (phase_) {
    case Phase::kClosed:
      return;
    case Phase::kInspecting:
      if (now - accepted_ >= timeouts.handshake) {
        bump(counters.handshake_timeouts);
        close();
      }
      return;
    case Phase::kConnecting:
      if (now >= connect_deadline_) {
        // The next backend, if any, gets the connection.
        onConnectDone(ETIMEDOUT);
        if (phase_ != Phase::kConnecting) return;
      }
      break;
    case Phase::kProxying:
      flushStats();
      if (now - last_activity_ >= timeouts.idle) {
        bump(counters.idle_timeouts);
        return close();
      }
      break;
  }
  if (table.version() != checked_version_) {
    checked_version_ = table.version();
    if (routeStillExists(table)) {
      route_removed_at_.reset();
    } else if (!route_removed_at_) {
      route_removed_at_ = now;
    }
  }
  if (route_removed_at_ && now - *route_removed_at_ >= timeouts.removed_route_grace) {
    bump(counters.removed_route_closed);
    close();
  }
}

}  // namespace herd::gateway
