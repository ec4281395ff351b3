// The data path of the gateway: one event loop per worker thread directly on epoll, each with
// its own SO_REUSEPORT listeners (the kernel spreads connections; no hand-off between
// threads), its own copy of the current route table, a buffer pool, and one sweep ten times a
// second that enforces every timeout of its connections (no timer per connection: idle
// connections cost their sockets, not a timer each).
//
// Why not Boost.Asio here (the control loop and the admin server use it): its reactor retries
// a read speculatively before it waits, and only remembers that a socket is empty after EOF,
// so a keep-alive exchange costs one extra recv() that says EAGAIN per direction; a bare
// readiness wait instead re-arms the descriptor with an epoll_ctl() every time. What that cost,
// and what the loop below saved, is measured in docs/gateway.md, sections "Data path and
// limits" and "Benchmark". Here every socket is registered once, edge-triggered for reading
// and writing, and keeps two flags, readable and writable (nginx's "ready"): an event sets
// them, and a read that comes back short (the socket is empty; new bytes bring a new edge),
// EAGAIN, or a short write clears them.
//
// Each turn of the loop takes the events epoll reports, then does every read they allow (and
// those of what arrived meanwhile, see Worker::loop), then every write (a burst per peer: a backend
// or client that shares a core with others wakes once for a burst of requests rather than once per
// request; HAProxy gets the same effect from running its receivers before its senders). A direction
// waits with nothing: when bytes come, they are read into its own small inbox (enough for a request
// or a short answer, so a keep-alive exchange never takes a pooled buffer), then into a pooled
// buffer while more is there, or, once a read fills a whole buffer (bulk: a large response, an etcd
// snapshot), with splice(2) through a kernel pipe, which spares the two copies through user space.
// A direction holds a pooled buffer or a kernel pipe only while it has bytes in flight. Reading
// stops while bytes wait to be written: that is the backpressure, in both directions.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio.hpp>
#include <cerrno>
#include <cstring>
#include <functional>
#include <latch>
#include <mutex>
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
#include "tunnel/socket_util.h"
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
// One buffer per direction with bytes in flight, so a fully busy connection holds two. This
// size moves a 64 KiB response in one read; smaller buffers measured worse on bulk transfers
// (see docs/gateway.md, section "Benchmark", the paragraph "What got herd here").
constexpr size_t kBufferSize = 64 * 1024;
// What a direction reads first: a keep-alive request or response of this size goes through
// without a pooled buffer.
constexpr size_t kInboxSize = 512;
// Buffers kept for reuse per worker (at most kMaxPooledBuffers * kBufferSize bytes held
// idle); beyond that they go back to the allocator.
constexpr size_t kMaxPooledBuffers = 512;
// A direction whose read fills a whole buffer is moving bulk data: it moves on with splice(2),
// socket to kernel pipe to socket, without copying into the gateway. A splice takes at most
// what a default pipe holds.
constexpr size_t kSpliceChunk = 64 * 1024;
// A splice that moves less than this ends bulk mode (the next full buffer starts it again):
// for short bursts its extra system calls cost more than the copies it saves.
constexpr size_t kSpliceMinimum = 16 * 1024;
// Empty kernel pipes kept for reuse per worker (two descriptors each).
constexpr size_t kMaxPooledSplicePipes = 64;
// Reads and writes done for one direction in a turn before the other connections' turn.
constexpr int kPumpBudget = 16;
// Connections a listener accepts per turn; the rest wait for the next one (level-triggered).
constexpr int kAcceptBatch = 64;
// How long a listener rests after the kernel refused a socket (EMFILE, ENFILE, ENOBUFS), so
// that a full descriptor table does not spin the worker.
constexpr std::chrono::milliseconds kAcceptBackoff{50};
constexpr int kMaxEvents = 256;

class Connection;
class GatewayImpl;

// What an epoll event refers to: data.ptr points at one of these.
struct Watch {
  enum class Kind : uint8_t { kWake, kListener, kClient, kBackend };
  Kind kind;
  void* owner = nullptr;
};

// A non-blocking socket of a connection and what is known of it since its last event.
struct Socket {
  UniqueFd fd;
  Watch watch;
  bool readable = false;
  bool writable = false;
  bool hung_up = false;  // the peer sent FIN (or the socket failed): read on to the EOF
};

// The kernel pipe a bulk direction splices through.
struct SplicePipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// The bytes travelling one way through a connection.
struct Pipe {
  Socket* from = nullptr;
  Socket* to = nullptr;
  std::unique_ptr<char[]> buffer;
  std::string initial;  // the inspected bytes (and a PROXY header) go first to the backend
  std::array<char, kInboxSize> inbox;
  const char* data = nullptr;  // what is being written: initial, inbox or buffer
  size_t length = 0;
  size_t offset = 0;
  uint64_t unflushed_bytes = 0;
  bool eof = false;
  bool done = false;
  bool bulk = false;                 // the last read filled a whole buffer: splice the next ones
  bool inbox_full = false;           // the inbox read filled it: read on into a pooled buffer
  std::optional<SplicePipe> splice;  // held while bytes sit in it or a bulk read is under way
  size_t spliced = 0;                // bytes in `splice` not yet written on

  bool pending() const { return spliced > 0 || offset < length; }
};

std::optional<sockaddr_storage> socketAddress(const BackendAddress& address, socklen_t* length) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, address.ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    *length = sizeof *v4;
    return storage;
  }
  if (::inet_pton(AF_INET6, address.ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    *length = sizeof *v6;
    return storage;
  }
  return std::nullopt;
}

// Per-thread state of one event loop.
class Worker {
 public:
  Worker(GatewayImpl& gateway, size_t index);
  ~Worker();

  GatewayImpl& gateway() { return gateway_; }
  const std::shared_ptr<const RouteTable>& table() const { return table_; }
  void setTable(std::shared_ptr<const RouteTable> table) { table_ = std::move(table); }
  Clock::time_point now() const { return now_; }

  Status listen(ListenerKind kind, const BackendAddress& address);
  int port(ListenerKind kind) const;
  void run();
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  // Runs `task` on the worker's thread, between two turns of its loop. Thread-safe.
  void post(std::function<void()> task);
  void closeListeners();
  void beginDrain(Clock::time_point deadline) {
    draining_ = true;
    drain_deadline_ = deadline;
  }
  void stop();

  // Registers a socket for every event, edge-triggered, for its whole life.
  bool watch(Socket& socket) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.ptr = &socket.watch;
    return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, socket.fd.get(), &event) == 0;
  }
  // The connection's directions get their turn in this turn of the loop (or the next one).
  void schedule(Connection* c);
  // Closed connections are freed once the turn is over (its events may still name them).
  void retire(Connection* c) { retired_.push_back(c); }

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

 private:
  struct Listener {
    ListenerKind kind;
    UniqueFd fd;
    Watch watch;
    std::optional<Clock::time_point> paused_until;
  };
  void loop();
  void dispatch(const epoll_event& event);
  void runPosted();
  void accept(Listener& listener);
  void pause(Listener& listener);
  void resumeListeners();
  // Waits up to `timeout_ms` for events and dispatches them: how many, or -1 on failure.
  int poll(int timeout_ms);
  void runScheduled(bool look_again);
  void sweep();
  void reap();
  void closeAll();
  int waitTimeout(Clock::time_point next_sweep) const;

  GatewayImpl& gateway_;
  size_t index_;
  UniqueFd epoll_;
  UniqueFd wake_;
  Watch wake_watch_{Watch::Kind::kWake, nullptr};
  std::array<epoll_event, kMaxEvents> events_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::shared_ptr<const RouteTable> table_;
  std::vector<Connection*> connections_;
  std::vector<Connection*> scheduled_;
  std::vector<Connection*> running_;
  std::vector<Connection*> retired_;
  std::vector<std::unique_ptr<char[]>> pool_;
  std::vector<SplicePipe> splice_pipes_;
  Clock::time_point now_ = Clock::now();
  bool draining_ = false;
  bool stopped_ = false;
  Clock::time_point drain_deadline_;
  std::thread thread_;
};

class Connection {
 public:
  enum class Phase { kInspecting, kConnecting, kProxying, kClosed };

  Connection(Worker& worker, ListenerKind kind, UniqueFd fd);
  ~Connection();

  bool start();
  void onEvent(bool client, uint32_t events);
  // This turn's reads: one per direction whose source has bytes and which has none in flight.
  void readTurn();
  // This turn's writes, and the reads and writes that follow while both sides keep up. False
  // when the budget ran out with work left (the worker schedules the connection again).
  bool writeTurn();
  // Called by the worker's sweep; may close the connection.
  void sweep(Clock::time_point now);
  void close();
  Phase phase() const { return phase_; }
  size_t slot = 0;
  bool scheduled = false;

 private:
  void readHello();
  void inspect();
  void route(const Route* route, const std::string& host);
  void reject(std::string_view http_response);
  void connectBackend();
  void onConnectDone(int error);
  void startProxying();
  // Moves bytes one way until the source is empty, the destination full or the budget spent.
  // With `writes` false it stops before the first write. True when it stopped with work left
  // (the budget ran out, or bytes wait for the writes).
  bool pump(Pipe& pipe, bool writes, int budget);
  void finishPipe(Pipe& pipe);
  void fail(int error, bool writing = false);
  void flushStats();
  bool routeStillExists(const RouteTable& table) const;

  Worker& worker_;
  ListenerKind kind_;
  Socket client_;
  Socket backend_;
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
  size_t connect_attempts_ = 0;
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

Worker::Worker(GatewayImpl& gateway, size_t index)
    : gateway_(gateway),
      index_(index),
      epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = &wake_watch_;
  if (!epoll_.valid() || !wake_.valid() ||
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &event) != 0) {
    log::root().error("gateway worker cannot create its event loop",
                      {{"worker", index_}, {"error", std::strerror(errno)}});
  }
}

Worker::~Worker() {
  join();
  closeAll();
  reap();
}

Status Worker::listen(ListenerKind kind, const BackendAddress& address) {
  auto fail = [&](const char* what) {
    int error = errno;
    return Status::ioError("listen on " + address.key() + ": " + what, error);
  };
  if (!epoll_.valid() || !wake_.valid()) return Status::ioError("no event loop", errno);
  socklen_t length = 0;
  auto sockaddr = socketAddress(address, &length);
  if (!sockaddr) return Status::invalid("listen on " + address.key() + ": not an IP address");
  auto l = std::make_unique<Listener>();
  l->kind = kind;
  l->watch = {Watch::Kind::kListener, l.get()};
  l->fd.reset(::socket(sockaddr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!l->fd.valid()) return fail("socket");
  int one = 1;
  ::setsockopt(l->fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Every worker binds the same port; the kernel balances new connections between them.
  if (::setsockopt(l->fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return fail("SO_REUSEPORT");
  if (::bind(l->fd.get(), reinterpret_cast<const struct sockaddr*>(&*sockaddr), length) != 0)
    return fail("bind");
  if (::listen(l->fd.get(), SOMAXCONN) != 0) return fail("listen");
  // Level-triggered: a listener with more waiting than one turn accepts is reported again.
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = &l->watch;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, l->fd.get(), &event) != 0) return fail("epoll");
  listeners_.push_back(std::move(l));
  return Status::ok();
}

int Worker::port(ListenerKind kind) const {
  for (const auto& l : listeners_) {
    if (l->kind == kind && l->fd.valid()) return tunnel::boundPort(l->fd.get());
  }
  return 0;
}

void Worker::run() {
  thread_ = std::thread([this] { loop(); });
}

void Worker::post(std::function<void()> task) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(task));
  }
  uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof one);
}

void Worker::runPosted() {
  uint64_t count;
  [[maybe_unused]] auto read = ::read(wake_.get(), &count, sizeof count);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

int Worker::waitTimeout(Clock::time_point next_sweep) const {
  if (!scheduled_.empty()) return 0;
  Clock::time_point wake = next_sweep;
  for (const auto& l : listeners_) {
    if (l->paused_until) wake = std::min(wake, *l->paused_until);
  }
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, wait.count()));
}

int Worker::poll(int timeout_ms) {
  int n = ::epoll_wait(epoll_.get(), events_.data(), kMaxEvents, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -1;
  now_ = Clock::now();
  for (int i = 0; i < n; ++i) dispatch(events_[static_cast<size_t>(i)]);
  return n;
}

void Worker::loop() {
  Clock::time_point next_sweep = Clock::now() + kSweepInterval;
  while (!stopped_) {
    int n = poll(waitTimeout(next_sweep));
    if (n < 0) {
      log::root().error("gateway worker event loop failed",
                        {{"worker", index_}, {"error", std::strerror(errno)}});
      break;
    }
    runScheduled(n > 0);
    if (now_ >= next_sweep) {
      sweep();
      next_sweep = now_ + kSweepInterval;
    }
    resumeListeners();
    reap();
  }
  closeListeners();
  closeAll();
  reap();
}

void Worker::dispatch(const epoll_event& event) {
  auto* watch = static_cast<Watch*>(event.data.ptr);
  switch (watch->kind) {
    case Watch::Kind::kWake:
      return runPosted();
    case Watch::Kind::kListener:
      return accept(*static_cast<Listener*>(watch->owner));
    case Watch::Kind::kClient:
    case Watch::Kind::kBackend:
      return static_cast<Connection*>(watch->owner)
          ->onEvent(watch->kind == Watch::Kind::kClient, event.events);
  }
}

void Worker::schedule(Connection* c) {
  if (c->scheduled) return;
  c->scheduled = true;
  scheduled_.push_back(c);
}

// Every read this turn's events allow, then every write: each peer gets its bytes in one
// burst (see the top of this file). A connection whose budget ran out stays scheduled, and the
// next wait for events does not block.
//
// With `look_again`, between the reads and the writes one more look for events, without
// waiting: the reads of what came in meanwhile join this turn's, the writes go out in fuller
// bursts, and the loop does not fall asleep between two events microseconds apart (on a
// virtual machine every wake-up also resumes a halted CPU). Fewer wake-ups cost less than the
// extra look; what it gives in requests/s, tail latency and CPU is in docs/gateway.md,
// section "Benchmark", the paragraph "What got herd here".
void Worker::runScheduled(bool look_again) {
  running_.swap(scheduled_);
  for (Connection* c : running_) c->readTurn();
  // Connections already running stay marked scheduled, so only new ones are added.
  if (look_again && poll(0) > 0) {
    for (Connection* c : scheduled_) c->readTurn();
    running_.insert(running_.end(), scheduled_.begin(), scheduled_.end());
    scheduled_.clear();
  }
  for (Connection* c : running_) {
    c->scheduled = false;
    if (!c->writeTurn()) schedule(c);
  }
  running_.clear();
}

void Worker::accept(Listener& listener) {
  if (!listener.fd.valid() || listener.paused_until) return;
  auto& stats = gateway_.stats();
  for (int i = 0; i < kAcceptBatch; ++i) {
    int fd = ::accept4(listener.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      // Out of descriptors or buffers: rest, so the connections that hold them can finish.
      return pause(listener);
    }
    bump(stats.counters.connections_accepted);
    // This worker's table: a reloaded limit applies to the next connection accepted.
    if (stats.active_connections.load(std::memory_order_relaxed) >=
        table_->config().limits.max_connections) {
      bump(stats.counters.rejected_global_limit);
      ::close(fd);
      continue;
    }
    auto* c = new Connection(*this, listener.kind, UniqueFd(fd));
    if (!c->start()) c->close();
  }
}

void Worker::pause(Listener& listener) {
  listener.paused_until = Clock::now() + kAcceptBackoff;
  epoll_event event{};
  event.data.ptr = &listener.watch;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listener.fd.get(), &event);
}

void Worker::resumeListeners() {
  for (auto& l : listeners_) {
    if (!l->paused_until || now_ < *l->paused_until || !l->fd.valid()) continue;
    l->paused_until.reset();
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &l->watch;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, l->fd.get(), &event);
  }
}

void Worker::closeListeners() {
  for (auto& l : listeners_) {
    l->fd.reset();
    l->paused_until.reset();  // a closed listener has nothing to resume
  }
}

void Worker::stop() {
  closeListeners();
  stopped_ = true;
}

void Worker::closeAll() {
  for (size_t i = connections_.size(); i-- > 0;) connections_[i]->close();
}

void Worker::reap() {
  if (retired_.empty()) return;
  // A retired connection may still sit in the schedule of the next turn.
  std::erase_if(scheduled_, [](Connection* c) { return c->phase() == Connection::Phase::kClosed; });
  std::vector<Connection*> retired;
  retired.swap(retired_);
  for (Connection* c : retired) delete c;
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

void Worker::sweep() {
  bool drain_over = draining_ && now_ >= drain_deadline_;
  // Closing only retires a connection (freed after the turn), so the list holds still.
  for (Connection* c : connections_) {
    if (drain_over && c->phase() != Connection::Phase::kClosed) {
      bump(gateway_.stats().counters.drain_closed);
      c->close();
      continue;
    }
    c->sweep(now_);
  }
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(Worker& worker, ListenerKind kind, UniqueFd fd)
    : worker_(worker), kind_(kind) {
  client_.fd = std::move(fd);
  client_.watch = {Watch::Kind::kClient, this};
  backend_.watch = {Watch::Kind::kBackend, this};
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
  return worker_.watch(client_);
}

void Connection::onEvent(bool client, uint32_t events) {
  if (phase_ == Phase::kClosed) return;
  Socket& socket = client ? client_ : backend_;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) socket.readable = true;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) socket.hung_up = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) socket.writable = true;
  switch (phase_) {
    case Phase::kInspecting:
      if (client && client_.readable) readHello();
      return;
    case Phase::kConnecting:
      if (!client && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int error = 0;
        socklen_t length = sizeof error;
        if (::getsockopt(backend_.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0)
          error = errno;
        onConnectDone(error);
      }
      return;
    case Phase::kProxying:
      worker_.schedule(this);
      return;
    case Phase::kClosed:
      return;
  }
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
  // Each backend once at most (`tried_` remembers only the first 64 of a route).
  auto backend =
      connect_attempts_++ < route_->backends.size() ? route_->pick(tried_, &index) : nullptr;
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
    bump(worker_.gateway().stats().counters.backend_connect_failures);
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

void Connection::readTurn() {
  if (phase_ != Phase::kProxying) return;
  pump(upstream_, false, 1);
  if (phase_ == Phase::kProxying) pump(downstream_, false, 1);
}

bool Connection::writeTurn() {
  if (phase_ != Phase::kProxying) return true;
  bool more = pump(upstream_, true, kPumpBudget);
  if (phase_ != Phase::kProxying) return true;
  more |= pump(downstream_, true, kPumpBudget);
  return phase_ != Phase::kProxying || !more;
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

// ---------------------------------------------------------------------------------------------
// GatewayImpl

Status GatewayImpl::start() {
  // Connections write to sockets whose readers may vanish (splice(2) has no MSG_NOSIGNAL):
  // that is an error to handle, not a reason for the whole process to die.
  ::signal(SIGPIPE, SIG_IGN);
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
      // Port 0 asks the kernel for one; the other workers must then join that same port.
      if (i > 0 && address->port == 0)
        address->port = static_cast<uint16_t>(workers_[0]->port(kind));
      HERD_RETURN_IF_ERROR(worker->listen(kind, *address));
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
    w->post([worker = w.get(), t = *table] { worker->setTable(t); });
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
    w->post([worker = w.get(), deadline, &closed] {
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
    w->post([worker = w.get()] { worker->stop(); });
  }
  // Each loop closes its connections once it has stopped.
  for (auto& w : workers_) w->join();
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
