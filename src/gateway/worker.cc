// The worker loop of the gateway's data path (worker.h): its listeners, its epoll loop, its
// schedule of connections and its sweep.
#include "gateway/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.h"
#include "common/net.h"
#include "common/socket.h"
#include "gateway/connection.h"
#include "gateway/route_table.h"
#include "gateway/stats.h"

namespace herd::gateway {

std::optional<sockaddr_storage> socketAddress(const BackendAddress& address, socklen_t* length) {
  auto ip = net::IpAddress::parse(address.ip);
  if (!ip) return std::nullopt;
  sockaddr_storage storage{};
  if (ip->isV4()) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(address.port);
    std::memcpy(&v4->sin_addr, ip->bytes().data(), 4);
    *length = sizeof *v4;
  } else {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(address.port);
    std::memcpy(&v6->sin6_addr, ip->bytes().data(), 16);
    *length = sizeof *v6;
  }
  return storage;
}

Worker::Worker(GatewayStats& stats, size_t index)
    : stats_(stats),
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
  if (draining_ || stopped_) return Status::failedPrecondition("the worker is draining");
  auto l = std::make_unique<Listener>();
  l->kind = kind;
  if (kind == ListenerKind::kTenantPort) l->tenant_port = address.port;
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
    if (l->kind == kind && l->fd.valid()) return net::boundPort(l->fd.get());
  }
  return 0;
}

void Worker::syncTenantPorts(const std::string& ip, const std::set<uint16_t>& ports) {
  if (draining_ || stopped_) return;
  std::set<uint16_t> open;
  for (auto& l : listeners_) {
    if (l->kind != ListenerKind::kTenantPort || !l->fd.valid()) continue;
    if (ports.count(l->tenant_port)) {
      open.insert(l->tenant_port);
    } else {
      // Freed by reap(), after the turn: this turn's events may still name it.
      l->fd.reset();
      l->paused_until.reset();
      log::root().info("tenant port closed", {{"worker", index_}, {"port", l->tenant_port}});
    }
  }
  std::erase_if(failed_tenant_ports_, [&](uint16_t p) { return !ports.count(p); });
  for (uint16_t port : ports) {
    if (open.count(port)) continue;
    Status s = listen(ListenerKind::kTenantPort, BackendAddress{ip, port});
    if (s.isOk()) {
      failed_tenant_ports_.erase(port);
      log::root().info("tenant port open", {{"worker", index_}, {"port", port}});
    } else if (failed_tenant_ports_.insert(port).second) {
      bump(stats_.counters.tenant_port_errors);
      log::root().error("tenant port cannot be opened; skipped",
                        {{"worker", index_}, {"port", port}, {"error", s.toString()}});
    }
  }
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

// Every read this turn's events allow, then every write: each peer gets its bytes in one
// burst (see worker.h). A connection whose budget ran out stays scheduled, and the
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
  auto& stats = stats_;
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
    auto* c = new Connection(*this, listener.kind, UniqueFd(fd), listener.tenant_port);
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
  // Closed tenant ports go for good (the fixed listeners stay, closed, until the worker ends).
  std::erase_if(listeners_, [](const auto& l) {
    return l->kind == ListenerKind::kTenantPort && !l->fd.valid();
  });
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

void Worker::sweep() {
  bool drain_over = draining_ && now_ >= drain_deadline_;
  // Closing only retires a connection (freed after the turn), so the list holds still.
  for (Connection* c : connections_) {
    if (drain_over && c->phase() != Connection::Phase::kClosed) {
      bump(stats_.counters.drain_closed);
      c->close();
      continue;
    }
    c->sweep(now_);
  }
}

}  // namespace herd::gateway
