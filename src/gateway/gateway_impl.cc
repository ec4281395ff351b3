// The data path of the gateway on Boost.Asio: one io_context per worker thread, each with its
// own SO_REUSEPORT acceptors (the kernel spreads connections; no hand-off between threads),
// its own copy of the current route table, a buffer pool and one sweep timer that enforces
// every timeout of its connections (no timer per connection: ten thousand idle connections
// cost ten thousand sockets, not ten thousand timers).
//
// Bytes are moved in the reactor style: a direction waits for bytes with a read into its own
// small inbox (enough for a request or a short answer, so a keep-alive exchange never takes a
// pooled buffer). What the reads of one turn of the loop brought is written once they all
// have completed, a burst per peer (Worker::flush). A direction then reads on while more is
// there, into a pooled buffer, or, once a read fills a whole buffer (bulk: a large response,
// an etcd snapshot), with splice(2) through a kernel pipe, which spares the two copies through
// user space; it writes as much as the peer takes, and waits to write the rest when it takes
// no more. Waits go through Asio's own read and write operations, not bare readiness waits,
// because Asio re-arms a descriptor in epoll (an epoll_ctl) for every bare wait; its read
// operation instead tries the read at once and queues only when the socket is empty. A
// direction holds a pooled buffer or a kernel pipe only while it has bytes in flight: an idle
// connection holds its two 512-byte inboxes and nothing more. Reading stops while a write is
// pending: that is the backpressure, in both directions.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <array>
#include <boost/asio.hpp>
#include <condition_variable>
#include <latch>
#include <list>
#include <optional>
#include <thread>
#include <tuple>

#include "common/log.h"
#include "common/unique_fd.h"
#include "gateway/admin_server.h"
#include "gateway/client_hello.h"
#include "gateway/gateway.h"
#include "gateway/http_host.h"
#include "gateway/proxy_protocol.h"
#include "gateway/route_table.h"
#include "gateway/stats.h"
#include "tunnel/tunnel.h"

namespace herd::gateway {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

// The granularity of every timeout. Timeouts are seconds long; 100 ms of slack is noise, and
// a sweep over a worker's connections ten times a second costs next to nothing.
constexpr std::chrono::milliseconds kSweepInterval{100};
// One buffer per direction with bytes in flight: a 64 KiB response moves in one read, and a
// fully busy connection holds at most 128 KiB.
constexpr size_t kBufferSize = 64 * 1024;
// What a waiting direction reads first: a keep-alive request or response of this size goes
// through without a pooled buffer and without a second read.
constexpr size_t kInboxSize = 512;
// Buffers kept for reuse per worker; beyond that they go back to the allocator.
constexpr size_t kMaxPooledBuffers = 512;  // 32 MiB
// A direction whose read fills a whole buffer is moving bulk data: it moves on with splice(2),
// socket to kernel pipe to socket, without copying into the gateway. A splice takes at most
// what a default pipe holds.
constexpr size_t kSpliceChunk = 64 * 1024;
// A splice that moves less than this ends bulk mode (the next full buffer starts it again):
// for short bursts its extra system calls cost more than the copies it saves.
constexpr size_t kSpliceMinimum = 16 * 1024;
// Empty kernel pipes kept for reuse per worker (two descriptors each).
constexpr size_t kMaxPooledSplicePipes = 64;
// Reads and writes done for one direction before yielding to the other connections.
constexpr int kPumpBudget = 16;
// How long the accept loop rests after the kernel refused a socket (EMFILE, ENFILE, ENOBUFS),
// so that a full descriptor table does not spin the worker.
constexpr std::chrono::milliseconds kAcceptBackoff{50};

class Connection;
class GatewayImpl;
struct Pipe;

// The kernel pipe a bulk direction splices through.
struct SplicePipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// Per-thread state of one event loop.
class Worker {
 public:
  Worker(GatewayImpl& gateway, size_t index)
      : gateway_(gateway), index_(index), context_(1), sweep_(context_) {}

  asio::io_context& context() { return context_; }
  GatewayImpl& gateway() { return gateway_; }
  size_t index() const { return index_; }
  const std::shared_ptr<const RouteTable>& table() const { return table_; }
  void setTable(std::shared_ptr<const RouteTable> table) { table_ = std::move(table); }
  Clock::time_point now() const { return now_; }

  Status listen(ListenerKind kind, const tcp::endpoint& endpoint);
  int port(ListenerKind kind) const;
  void run();
  void closeListeners();
  void beginDrain(Clock::time_point deadline) {
    draining_ = true;
    drain_deadline_ = deadline;
  }
  void closeAll();

  std::unique_ptr<char[]> takeBuffer() {
    if (pool_.empty()) return std::make_unique<char[]>(kBufferSize);
    auto b = std::move(pool_.back());
    pool_.pop_back();
    return b;
  }
  void returnBuffer(std::unique_ptr<char[]> b) {
    if (b && pool_.size() < kMaxPooledBuffers) pool_.push_back(std::move(b));
  }
  // Nothing when the kernel gives no pipe (out of descriptors): the caller copies instead.
  std::optional<SplicePipe> takeSplicePipe() {
    if (!splice_pipes_.empty()) {
      SplicePipe p = std::move(splice_pipes_.back());
      splice_pipes_.pop_back();
      return p;
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return std::nullopt;
    return SplicePipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
  // Takes back what a direction holds only while bytes are in flight: its pooled buffer and
  // its kernel pipe (closed, never reused, when it still holds bytes).
  void releaseInFlight(Pipe& pipe);

  void add(Connection* c);
  void remove(Connection* c);
  // Queues a direction whose read completed; its bytes are written once every completion of
  // this turn of the loop has been read (see flush()).
  void deferPump(std::shared_ptr<Connection> connection, Pipe* pipe);

 private:
  struct Listener {
    ListenerKind kind;
    tcp::acceptor acceptor;
    asio::steady_timer backoff;
  };
  void accept(Listener& listener);
  void sweep();
  void flush();

  GatewayImpl& gateway_;
  size_t index_;
  asio::io_context context_;
  asio::steady_timer sweep_;
  std::list<Listener> listeners_;
  std::shared_ptr<const RouteTable> table_;
  std::vector<Connection*> connections_;
  std::vector<std::unique_ptr<char[]>> pool_;
  std::vector<SplicePipe> splice_pipes_;
  std::vector<std::pair<std::shared_ptr<Connection>, Pipe*>> deferred_;
  std::vector<std::pair<std::shared_ptr<Connection>, Pipe*>> flushing_;
  bool flush_posted_ = false;
  Clock::time_point now_ = Clock::now();
  bool draining_ = false;
  bool stopped_ = false;
  Clock::time_point drain_deadline_;
  std::thread thread_;
  friend class GatewayImpl;
};

// The bytes travelling one way through a connection.
struct Pipe {
  tcp::socket* from = nullptr;
  tcp::socket* to = nullptr;
  std::unique_ptr<char[]> buffer;
  std::string initial;  // the inspected bytes (and a PROXY header) go first to the backend
  std::array<char, kInboxSize> inbox;
  const char* data = nullptr;  // what is being written: initial, inbox or buffer
  size_t length = 0;
  size_t offset = 0;
  uint64_t unflushed_bytes = 0;
  bool eof = false;
  bool done = false;
  bool to_client = false;
  bool drained = false;  // the read that filled `data` came back short: the socket is empty
  bool bulk = false;     // the last read filled a whole buffer: splice the next ones
  std::optional<SplicePipe> splice;  // held while bytes sit in it or a bulk read is under way
  size_t spliced = 0;                // bytes in `splice` not yet written on
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  friend class Worker;
  enum class Phase { kInspecting, kConnecting, kProxying, kClosed };

  Connection(Worker& worker, ListenerKind kind, tcp::socket socket);
  ~Connection();

  void start();
  // Called by the worker's sweep; may close the connection.
  void sweep(Clock::time_point now);
  void close();
  Phase phase() const { return phase_; }
  size_t slot = 0;

 private:
  void waitForHello();
  void onClientReadable(const error_code& ec);
  void inspect();
  void route(const Route* route, const std::string& host);
  void reject(std::string_view http_response);
  void connectBackend();
  void onConnected(const error_code& ec);
  void startProxying();
  // Moves bytes one way until the source is empty or the destination full. `drained`: the
  // last read returned less than it asked for, so go straight to the wait.
  void pump(Pipe& pipe, bool drained = false);
  void waitToRead(Pipe& pipe);
  void waitToWrite(Pipe& pipe);
  void waitUntilWritable(Pipe& pipe);
  void finishPipe(Pipe& pipe);
  void flushStats();
  bool routeStillExists(const RouteTable& table) const;

  Worker& worker_;
  ListenerKind kind_;
  tcp::socket client_;
  tcp::socket backend_;
  Phase phase_ = Phase::kInspecting;
  Clock::time_point accepted_;
  Clock::time_point last_activity_;
  Clock::time_point connect_deadline_;
  std::string peeked_;
  std::string host_;
  std::string route_name_;
  RouteKind route_kind_ = RouteKind::kApiServer;
  bool proxy_protocol_ = false;
  std::shared_ptr<const Route> route_keepalive_;
  std::shared_ptr<RouteStats> stats_;
  std::shared_ptr<TenantState> tenant_;
  std::shared_ptr<BackendState> backend_state_;
  const Route* route_ = nullptr;  // valid while route_keepalive_ holds the table's route
  uint64_t tried_ = 0;
  uint64_t checked_version_ = 0;
  std::optional<Clock::time_point> route_removed_at_;
  Pipe upstream_;    // client -> backend
  Pipe downstream_;  // backend -> client
  bool failed_ = false;
};

class GatewayImpl : public Gateway {
 public:
  explicit GatewayImpl(std::unique_ptr<RouteSource> source)
      : source_(std::move(source)), registry_(stats_) {}
  ~GatewayImpl() override { stop(); }

  Status start() override;
  void drain() override;
  void stop() override;
  int port(ListenerKind kind) const override;
  bool ready() const override { return ready_.load() && !draining_.load(); }
  std::string metricsText() const override;

  GatewayStats& stats() { return stats_; }
  void runHealthChecks();

 private:
  void applyConfig(const GatewayConfig& config);
  void warnAboutRestartOnlyChanges(const GatewayConfig& config);

  std::unique_ptr<RouteSource> source_;
  GatewayStats stats_;
  RouteRegistry registry_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminServer> admin_;
  // The SSH tunnel server and CONNECT egress, when the configuration has a tunnel section.
  std::unique_ptr<tunnel::Tunnel> tunnel_;
  mutable std::mutex table_mutex_;
  // Updates that arrive while start() is still building the workers wait here (the latest
  // one only) and are applied once they all run.
  std::mutex apply_mutex_;
  bool have_first_config_ = false;
  bool workers_built_ = false;
  std::optional<GatewayConfig> held_config_;
  std::shared_ptr<const RouteTable> table_;
  GatewayConfig startup_config_;
  // The restart-only fields that differ from the running ones, as last warned about.
  std::string restart_pending_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  bool started_ = false;
  bool stopped_ = false;
  // The control loop: health checks.
  asio::io_context control_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> control_work_;
  asio::steady_timer health_timer_{control_};
  std::thread control_thread_;
};

// ---------------------------------------------------------------------------------------------
// Worker

Status Worker::listen(ListenerKind kind, const tcp::endpoint& endpoint) {
  auto& l = listeners_.emplace_back(
      Listener{kind, tcp::acceptor(context_), asio::steady_timer(context_)});
  error_code ec;
  l.acceptor.open(endpoint.protocol(), ec);
  if (!ec) l.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    // Every worker binds the same port; the kernel balances new connections between them.
    int one = 1;
    if (::setsockopt(l.acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) l.acceptor.bind(endpoint, ec);
  if (!ec) l.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) l.acceptor.non_blocking(true, ec);
  if (ec)
    return Status::io("listen on " + endpoint.address().to_string() + ":" +
                      std::to_string(endpoint.port()) + ": " + ec.message());
  return Status::ok();
}

int Worker::port(ListenerKind kind) const {
  for (const auto& l : listeners_) {
    error_code ec;
    if (l.kind == kind && l.acceptor.is_open()) return l.acceptor.local_endpoint(ec).port();
  }
  return 0;
}

void Worker::run() {
  for (auto& l : listeners_) accept(l);
  sweep();
  thread_ = std::thread([this] { context_.run(); });
}

void Worker::accept(Listener& listener) {
  listener.acceptor.async_accept(context_, [this, &listener](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !listener.acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors or buffers: rest, so the connections that hold them can finish.
      listener.backoff.expires_after(kAcceptBackoff);
      listener.backoff.async_wait([this, &listener](error_code wait_ec) {
        if (!wait_ec) accept(listener);
      });
      return;
    }
    auto& stats = gateway_.stats();
    bump(stats.counters.connections_accepted);
    // This worker's table: a reloaded limit applies to the next connection accepted.
    if (stats.active_connections.load(std::memory_order_relaxed) >=
        table_->config().limits.max_connections) {
      bump(stats.counters.rejected_global_limit);
      socket.close(ec);
    } else {
      std::make_shared<Connection>(*this, listener.kind, std::move(socket))->start();
    }
    accept(listener);
  });
}

void Worker::closeListeners() {
  for (auto& l : listeners_) {
    error_code ec;
    l.acceptor.close(ec);
    l.backoff.cancel();
  }
}

void Worker::closeAll() {
  for (size_t i = connections_.size(); i-- > 0;) {
    if (i < connections_.size()) connections_[i]->close();
  }
}

void Worker::add(Connection* c) {
  c->slot = connections_.size();
  connections_.push_back(c);
}

void Worker::remove(Connection* c) {
  size_t slot = c->slot;
  if (slot >= connections_.size() || connections_[slot] != c) return;
  connections_[slot] = connections_.back();
  connections_[slot]->slot = slot;
  connections_.pop_back();
}

void Worker::releaseInFlight(Pipe& pipe) {
  returnBuffer(std::move(pipe.buffer));
  if (pipe.splice && pipe.spliced == 0 && splice_pipes_.size() < kMaxPooledSplicePipes) {
    splice_pipes_.push_back(std::move(*pipe.splice));
  }
  pipe.splice.reset();
}

void Worker::deferPump(std::shared_ptr<Connection> connection, Pipe* pipe) {
  deferred_.emplace_back(std::move(connection), pipe);
  if (flush_posted_) return;
  flush_posted_ = true;
  // A posted handler runs after every completion already queued, so the reads of this turn
  // all happen before the first write.
  asio::post(context_, [this] { flush(); });
}

// Writes what this turn's reads brought, all at once: each peer gets its bytes in one burst,
// so a backend or client that shares a core with others wakes once for a burst of requests
// rather than once per request (HAProxy gets the same effect from running its senders after
// its receivers). Measured with bench/gateway: fewer preemptions of the backend per request.
void Worker::flush() {
  flush_posted_ = false;
  flushing_.swap(deferred_);
  for (auto& [connection, pipe] : flushing_) connection->pump(*pipe, pipe->drained);
  flushing_.clear();
}

void Worker::sweep() {
  if (stopped_) return;
  now_ = Clock::now();
  bool drain_over = draining_ && now_ >= drain_deadline_;
  // Backwards, because closing swaps the last connection (already visited) into the slot.
  for (size_t i = connections_.size(); i-- > 0;) {
    if (i >= connections_.size()) continue;
    Connection* c = connections_[i];
    if (drain_over && c->phase() != Connection::Phase::kClosed) {
      bump(gateway_.stats().counters.drain_closed);
      c->close();
      continue;
    }
    c->sweep(now_);
  }
  sweep_.expires_after(kSweepInterval);
  sweep_.async_wait([this](error_code ec) {
    if (!ec) sweep();
  });
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(Worker& worker, ListenerKind kind, tcp::socket socket)
    : worker_(worker), kind_(kind), client_(std::move(socket)), backend_(worker.context()) {
  accepted_ = Clock::now();
  last_activity_ = accepted_;
  worker_.gateway().stats().active_connections.fetch_add(1, std::memory_order_relaxed);
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
  worker_.gateway().stats().active_connections.fetch_sub(1, std::memory_order_relaxed);
  worker_.remove(this);
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  error_code ec;
  client_.close(ec);
  backend_.close(ec);
}

void Connection::start() {
  error_code ec;
  client_.set_option(tcp::no_delay(true), ec);
  client_.non_blocking(true, ec);
  waitForHello();
}

void Connection::waitForHello() {
  // Wait for readability without a buffer: an idle connection costs no memory for bytes.
  client_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
    self->onClientReadable(ec);
  });
}

void Connection::onClientReadable(const error_code& ec) {
  if (ec || phase_ != Phase::kInspecting) return;
  const auto& limits = worker_.table()->config().limits;
  size_t cap =
      kind_ == ListenerKind::kTls ? limits.max_client_hello_bytes : limits.max_http_head_bytes;
  char chunk[4096];
  size_t want = std::min(sizeof chunk, cap - std::min(cap, peeked_.size()));
  if (want == 0) want = 1;  // a full buffer must still be inspected to say "too large"
  error_code read_ec;
  size_t n = client_.read_some(asio::buffer(chunk, want), read_ec);
  if (read_ec == asio::error::would_block) return waitForHello();
  if (read_ec || n == 0) return close();  // the client went away before saying anything
  peeked_.append(chunk, n);
  inspect();
}

void Connection::inspect() {
  auto& stats = worker_.gateway().stats();
  auto& counters = stats.counters;
  const RouteTable& table = *worker_.table();
  const auto& limits = table.config().limits;
  if (kind_ == ListenerKind::kTls) {
    auto hello = inspectClientHello(
        std::span(reinterpret_cast<const uint8_t*>(peeked_.data()), peeked_.size()),
        limits.max_client_hello_bytes);
    switch (hello.outcome) {
      case HelloOutcome::kNeedMore:
        return waitForHello();
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
      return waitForHello();
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
    error_code ec;
    client_.write_some(asio::buffer(http_response.data(), http_response.size()), ec);
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
      bump(worker_.gateway().stats().counters.rejected_tenant_limit);
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
  auto backend = route_->pick(tried_, &index);
  if (!backend) {
    bump(worker_.gateway().stats().counters.no_healthy_backend);
    failed_ = true;
    return reject(kind_ == ListenerKind::kHttp
                      ? "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                      : "");
  }
  if (index < 64) tried_ |= uint64_t{1} << index;
  backend_state_ = std::move(backend);
  backend_state_->active.fetch_add(1, std::memory_order_relaxed);
  error_code ec;
  auto address = asio::ip::make_address(backend_state_->address.ip, ec);
  tcp::endpoint endpoint(address, backend_state_->address.port);
  connect_deadline_ = Clock::now() + worker_.table()->config().timeouts.connect;
  backend_.async_connect(endpoint, [self = shared_from_this()](const error_code& connect_ec) {
    self->onConnected(connect_ec);
  });
}

void Connection::onConnected(const error_code& ec) {
  if (phase_ != Phase::kConnecting) return;
  if (ec) {
    // Passive health: this backend failed a real client; the active check brings it back.
    bump(worker_.gateway().stats().counters.backend_connect_failures);
    backend_state_->healthy.store(false, std::memory_order_relaxed);
    log::root().warn(
        "backend connect failed",
        {{"route", route_name_}, {"backend", backend_state_->key}, {"error", ec.message()}});
    backend_state_->active.fetch_sub(1, std::memory_order_relaxed);
    backend_state_.reset();
    error_code ignored;
    backend_.close(ignored);
    backend_ = tcp::socket(worker_.context());
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
  error_code ec;
  backend_.set_option(tcp::no_delay(true), ec);
  backend_.non_blocking(true, ec);
  if (proxy_protocol_) {
    ProxyAddresses addresses;
    auto peer = client_.remote_endpoint(ec);
    auto local = client_.local_endpoint(ec);
    if (!ec) {
      addresses.ipv6 = peer.address().is_v6();
      if (addresses.ipv6) {
        addresses.source = peer.address().to_v6().to_bytes();
        addresses.destination = local.address().is_v6() ? local.address().to_v6().to_bytes()
                                                        : std::array<uint8_t, 16>{};
      } else {
        auto s = peer.address().to_v4().to_bytes();
        auto d = local.address().to_v4().to_bytes();
        std::copy(s.begin(), s.end(), addresses.source.begin());
        std::copy(d.begin(), d.end(), addresses.destination.begin());
      }
      addresses.source_port = peer.port();
      addresses.destination_port = local.port();
      upstream_.initial = buildProxyV2Header(addresses, host_);
    }
  }
  upstream_.initial += peeked_;
  peeked_.clear();
  peeked_.shrink_to_fit();
  upstream_.from = &client_;
  upstream_.to = &backend_;
  downstream_.from = &backend_;
  downstream_.to = &client_;
  downstream_.to_client = true;
  // The inspected bytes are the first thing the backend must see.
  upstream_.data = upstream_.initial.data();
  upstream_.length = upstream_.initial.size();
  pump(upstream_);
  if (phase_ == Phase::kProxying) pump(downstream_);
}

void Connection::pump(Pipe& pipe, bool drained) {
  if (phase_ != Phase::kProxying || pipe.done) return;
  for (int budget = kPumpBudget; budget > 0; --budget) {
    if (pipe.spliced > 0) {
      ssize_t n = ::splice(pipe.splice->read_end.get(), nullptr, pipe.to->native_handle(), nullptr,
                           pipe.spliced, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return waitUntilWritable(pipe);
      if (n <= 0) {
        failed_ = true;
        return close();
      }
      pipe.spliced -= static_cast<size_t>(n);
      pipe.unflushed_bytes += static_cast<uint64_t>(n);
      continue;
    }
    if (pipe.offset < pipe.length) {
      error_code ec;
      size_t n =
          pipe.to->write_some(asio::buffer(pipe.data + pipe.offset, pipe.length - pipe.offset), ec);
      if (ec == asio::error::would_block) return waitToWrite(pipe);
      if (ec) {
        failed_ = true;
        return close();
      }
      pipe.offset += n;
      pipe.unflushed_bytes += n;
      continue;
    }
    if (!pipe.initial.empty()) {
      pipe.initial.clear();
      pipe.initial.shrink_to_fit();
    }
    if (pipe.eof) return finishPipe(pipe);
    // A short read emptied the socket: the wait's read operation tries the socket again
    // itself before it queues, so reading here too would only be a second EAGAIN.
    if (drained) return waitToRead(pipe);
    if (pipe.bulk && !pipe.splice) pipe.splice = worker_.takeSplicePipe();
    if (pipe.bulk && pipe.splice) {
      // Only ever into an empty pipe, so EAGAIN means the socket is empty. A splice that
      // comes back short proves nothing (a pipe holds at most 16 segments): read on.
      ssize_t n = ::splice(pipe.from->native_handle(), nullptr, pipe.splice->write_end.get(),
                           nullptr, kSpliceChunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return waitToRead(pipe);
      if (n < 0) {
        failed_ = errno != ECONNRESET;
        return close();
      }
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
    if (!pipe.buffer) pipe.buffer = worker_.takeBuffer();
    error_code ec;
    size_t n = pipe.from->read_some(asio::buffer(pipe.buffer.get(), kBufferSize), ec);
    if (ec == asio::error::would_block) return waitToRead(pipe);
    if (ec == asio::error::eof) {
      pipe.eof = true;
      continue;
    }
    if (ec) {
      // A reset from either side ends both: there is no one to half-close to.
      failed_ = ec != asio::error::connection_reset;
      return close();
    }
    pipe.data = pipe.buffer.get();
    pipe.length = n;
    pipe.offset = 0;
    drained = n < kBufferSize;
    pipe.bulk = !drained;
    last_activity_ = worker_.now();
  }
  // Budget spent: let the loop serve other connections, then continue.
  asio::post(worker_.context(), [self = shared_from_this(), &pipe] { self->pump(pipe); });
}

void Connection::waitToRead(Pipe& pipe) {
  // Idle: give the buffer and the (empty) kernel pipe back and wait with the inbox alone.
  worker_.releaseInFlight(pipe);
  pipe.from->async_read_some(
      asio::buffer(pipe.inbox), [self = shared_from_this(), &pipe](const error_code& ec, size_t n) {
        if (ec == asio::error::operation_aborted || self->phase_ != Phase::kProxying) return;
        if (ec == asio::error::eof) {
          pipe.eof = true;
          return self->pump(pipe);
        }
        if (ec) {
          self->failed_ = ec != asio::error::connection_reset;
          return self->close();
        }
        pipe.data = pipe.inbox.data();
        pipe.length = n;
        pipe.offset = 0;
        pipe.drained = n < pipe.inbox.size();
        self->last_activity_ = self->worker_.now();
        self->worker_.deferPump(self, &pipe);
      });
}

void Connection::waitToWrite(Pipe& pipe) {
  pipe.to->async_write_some(
      asio::buffer(pipe.data + pipe.offset, pipe.length - pipe.offset),
      [self = shared_from_this(), &pipe](const error_code& ec, size_t n) {
        if (ec == asio::error::operation_aborted || self->phase_ != Phase::kProxying) return;
        if (ec) {
          self->failed_ = true;
          return self->close();
        }
        pipe.offset += n;
        pipe.unflushed_bytes += n;
        self->pump(pipe);
      });
}

// For spliced bytes, which have no user-space buffer to hand to an asynchronous write.
void Connection::waitUntilWritable(Pipe& pipe) {
  pipe.to->async_wait(
      tcp::socket::wait_write, [self = shared_from_this(), &pipe](const error_code& ec) {
        if (ec == asio::error::operation_aborted || self->phase_ != Phase::kProxying) return;
        if (ec) {
          self->failed_ = true;
          return self->close();
        }
        self->pump(pipe);
      });
}

void Connection::finishPipe(Pipe& pipe) {
  // Half-close: pass the end of this direction on and keep the other one running (a client
  // may send its last request and still read the answer).
  pipe.done = true;
  worker_.releaseInFlight(pipe);
  error_code ec;
  pipe.to->shutdown(tcp::socket::shutdown_send, ec);
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
  auto& counters = worker_.gateway().stats().counters;
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
        // Cancelling makes the pending connect fail, which tries the next backend.
        error_code ec;
        backend_.cancel(ec);
        connect_deadline_ = now + timeouts.connect;
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

// ---------------------------------------------------------------------------------------------
// GatewayImpl

Status GatewayImpl::start() {
  // The source delivers the first configuration before start() returns, and every later one
  // from its own thread, which outlives this frame: only that first call, made while this frame
  // lives, may touch `first_error`; the flag that tells them apart is a member.
  Status first_error;
  HERD_RETURN_IF_ERROR(source_->start(
      [this, &first_error](const GatewayConfig& config) {
        std::lock_guard lock(apply_mutex_);
        if (!have_first_config_) {
          have_first_config_ = true;
          startup_config_ = config;
          auto table = registry_.build(config);
          if (!table) {
            first_error = table.status();
            return;
          }
          std::lock_guard table_lock(table_mutex_);
          table_ = *table;
          return;
        }
        if (!workers_built_) {
          held_config_ = config;
          return;
        }
        applyConfig(config);
      },
      [this](const Status& error) {
        bump(stats_.counters.config_reload_errors);
        log::root().error("gateway configuration rejected; the previous routes stay",
                          {{"error", error.toString()}});
      }));
  if (!first_error.isOk()) {
    source_->stop();
    return first_error;
  }
  started_ = true;
  const GatewayConfig& config = startup_config_;
  size_t workers = config.workers > 0 ? static_cast<size_t>(config.workers)
                                      : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::pair<ListenerKind, std::string>> listeners{
      {ListenerKind::kTls, config.tls_listen}};
  if (!config.http_listen.empty()) listeners.emplace_back(ListenerKind::kHttp, config.http_listen);
  std::shared_ptr<const RouteTable> first_table;
  {
    std::lock_guard lock(table_mutex_);
    first_table = table_;
  }
  for (size_t i = 0; i < workers; ++i) {
    auto worker = std::make_unique<Worker>(*this, i);
    worker->setTable(first_table);
    for (auto& [kind, text] : listeners) {
      auto address = parseBackendAddress(text);
      if (!address) return address.status();
      error_code ec;
      tcp::endpoint endpoint(asio::ip::make_address(address->ip, ec), address->port);
      // Port 0 asks the kernel for one; the other workers must then join that same port.
      if (i > 0 && endpoint.port() == 0)
        endpoint.port(static_cast<uint16_t>(workers_[0]->port(kind)));
      HERD_RETURN_IF_ERROR(worker->listen(kind, endpoint));
    }
    workers_.push_back(std::move(worker));
  }
  auto admin_address = parseBackendAddress(config.admin_listen);
  if (!admin_address) return admin_address.status();
  auto admin = startAdminServer(*admin_address,
                                {[this] { return metricsText(); }, [this] { return ready(); }});
  if (!admin) return admin.status();
  admin_ = std::move(*admin);
  if (config.tunnel) {
    auto tunnel = tunnel::startTunnel(*config.tunnel);
    if (!tunnel) return tunnel.status().withContext("tunnel");
    tunnel_ = std::move(*tunnel);
  }

  for (auto& w : workers_) w->run();
  control_work_.emplace(control_.get_executor());
  runHealthChecks();
  control_thread_ = std::thread([this] { control_.run(); });
  {
    std::lock_guard lock(apply_mutex_);
    workers_built_ = true;
    if (held_config_) applyConfig(*held_config_);
    held_config_.reset();
  }
  ready_ = true;
  log::root().info("gateway serving", {{"tls", port(ListenerKind::kTls)},
                                       {"http", port(ListenerKind::kHttp)},
                                       {"admin", port(ListenerKind::kAdmin)},
                                       {"workers", workers},
                                       {"routes", first_table->tlsRouteCount()}});
  return Status::ok();
}

// Listeners, workers and the tunnel are bound once: a change to them is named in a warning
// (once per distinct change, not on every route update), and the rest of the configuration
// applies all the same.
void GatewayImpl::warnAboutRestartOnlyChanges(const GatewayConfig& config) {
  const GatewayConfig& running = startup_config_;
  std::vector<std::tuple<std::string, std::string, std::string>> changed;
  for (auto [field, now, wanted] :
       {std::tuple{"listeners.tls", running.tls_listen, config.tls_listen},
        {"listeners.http", running.http_listen, config.http_listen},
        {"listeners.admin", running.admin_listen, config.admin_listen},
        {"workers", std::to_string(running.workers), std::to_string(config.workers)},
        {"tunnel", running.tunnel_section, config.tunnel_section}}) {
    if (now != wanted) changed.emplace_back(field, now, wanted);
  }
  std::string summary;
  for (const auto& [field, now, wanted] : changed) summary += field + "=" + wanted + "\n";
  if (summary == restart_pending_) return;
  restart_pending_ = summary;
  for (const auto& [field, now, wanted] : changed) {
    bool tunnel = field == "tunnel";  // its JSON says little in a log line
    log::root().warn(
        "configuration change needs a restart; the rest is applied",
        {{"field", field}, {"running", tunnel ? "" : now}, {"configured", tunnel ? "" : wanted}});
  }
}

void GatewayImpl::applyConfig(const GatewayConfig& config) {
  warnAboutRestartOnlyChanges(config);
  auto table = registry_.build(config);
  if (!table) {
    bump(stats_.counters.config_reload_errors);
    log::root().error("gateway configuration rejected; the previous routes stay",
                      {{"error", table.status().toString()}});
    return;
  }
  {
    std::lock_guard lock(table_mutex_);
    table_ = *table;
  }
  // Each worker swaps its pointer between two events, so a connection sees one table or the
  // other, never a mix.
  for (auto& w : workers_) {
    asio::post(w->context(), [worker = w.get(), t = *table] { worker->setTable(t); });
  }
  bump(stats_.counters.config_reloads);
  log::root().info("routes updated",
                   {{"version", (*table)->version()}, {"tls_routes", (*table)->tlsRouteCount()}});
}

// One TCP connect per backend per interval, all in parallel, each bounded by the timeout.
void GatewayImpl::runHealthChecks() {
  std::shared_ptr<const RouteTable> table;
  {
    std::lock_guard lock(table_mutex_);
    table = table_;
  }
  const auto& health = table->config().health;
  for (const auto& backend : table->backends()) {
    struct Probe {
      explicit Probe(asio::io_context& context) : socket(context), timer(context) {}
      tcp::socket socket;
      asio::steady_timer timer;
    };
    auto probe = std::make_shared<Probe>(control_);
    error_code ec;
    tcp::endpoint endpoint(asio::ip::make_address(backend->address.ip, ec), backend->address.port);
    probe->timer.expires_after(health.timeout);
    probe->timer.async_wait([probe](error_code timer_ec) {
      if (!timer_ec) probe->socket.cancel(timer_ec);
    });
    probe->socket.async_connect(endpoint, [this, probe, backend](error_code connect_ec) {
      probe->timer.cancel();
      bool was = backend->healthy.exchange(!connect_ec, std::memory_order_relaxed);
      if (connect_ec) bump(stats_.counters.health_check_failures);
      if (was != !connect_ec) {
        log::root().info(connect_ec ? "backend unhealthy" : "backend healthy",
                         {{"backend", backend->key}, {"error", connect_ec.message()}});
      }
      error_code ignored;
      probe->socket.close(ignored);
    });
  }
  health_timer_.expires_after(health.interval);
  health_timer_.async_wait([this](error_code ec) {
    if (!ec) runHealthChecks();
  });
}

void GatewayImpl::drain() {
  if (!started_ || stopped_) return;
  Millis grace;
  {
    std::lock_guard lock(table_mutex_);
    grace = table_->config().timeouts.drain;
  }
  auto deadline = Clock::now() + grace;
  log::root().info("draining", {{"connections", stats_.active_connections.load()},
                                {"timeout_ms", grace.count()}});
  // Wait until every worker has closed its listeners, so that once /readyz fails no new
  // connection is accepted (each listener lives on its worker's thread).
  std::latch closed(static_cast<std::ptrdiff_t>(workers_.size()));
  for (auto& w : workers_) {
    asio::post(w->context(), [worker = w.get(), deadline, &closed] {
      worker->closeListeners();
      worker->beginDrain(deadline);
      closed.count_down();
    });
  }
  closed.wait();
  draining_ = true;
  // The sweeps close what is left at the deadline; wait for the count to reach zero.
  while (stats_.active_connections.load() > 0 && Clock::now() < deadline + kSweepInterval * 3) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  log::root().info("drained", {{"connections_left", stats_.active_connections.load()}});
  stop();
}

void GatewayImpl::stop() {
  if (stopped_) return;
  stopped_ = true;
  ready_ = false;
  if (source_) source_->stop();
  if (!started_) return;
  for (auto& w : workers_) {
    asio::post(w->context(), [worker = w.get()] {
      worker->closeListeners();
      worker->stopped_ = true;
      worker->closeAll();
      worker->sweep_.cancel();
    });
  }
  // The loops run until the closed connections' handlers have released them.
  for (auto& w : workers_) {
    if (w->thread_.joinable()) w->thread_.join();
  }
  asio::post(control_, [this] {
    health_timer_.cancel();
    control_work_.reset();
  });
  if (control_thread_.joinable()) control_thread_.join();
  // After the gateway's own connections: nodes keep their sessions (and kube-apiservers their
  // streams to kubelets) through the drain, then redial another replica.
  if (tunnel_) tunnel_->stop();
  admin_.reset();
}

int GatewayImpl::port(ListenerKind kind) const {
  if (kind == ListenerKind::kAdmin) return admin_ ? admin_->port() : 0;
  return workers_.empty() ? 0 : workers_[0]->port(kind);
}

std::string GatewayImpl::metricsText() const {
  std::shared_ptr<const RouteTable> table;
  {
    std::lock_guard lock(table_mutex_);
    table = table_;
  }
  std::string extra;
  extra +=
      "# HELP herd_gateway_backend_healthy Whether the backend passes its health check.\n"
      "# TYPE herd_gateway_backend_healthy gauge\n";
  for (const auto& b : table->backends()) {
    extra += "herd_gateway_backend_healthy{backend=\"" + b->key + "\"} " +
             (b->healthy.load() ? "1" : "0") + "\n";
  }
  extra +=
      "# HELP herd_gateway_backend_active_connections Connections open to the backend.\n"
      "# TYPE herd_gateway_backend_active_connections gauge\n";
  for (const auto& b : table->backends()) {
    extra += "herd_gateway_backend_active_connections{backend=\"" + b->key + "\"} " +
             std::to_string(b->active.load()) + "\n";
  }
  extra += std::string("# HELP herd_gateway_ready Whether /readyz answers 200.\n") +
           "# TYPE herd_gateway_ready gauge\nherd_gateway_ready " + (ready() ? "1" : "0") + "\n";
  std::string text = stats_.renderPrometheus(extra);
  if (tunnel_) text += tunnel_->metricsText();
  return text;
}

}  // namespace

std::unique_ptr<Gateway> makeGateway(std::unique_ptr<RouteSource> source) {
  return std::make_unique<GatewayImpl>(std::move(source));
}

}  // namespace herd::gateway
