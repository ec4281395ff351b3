// One event loop of the gateway's data path, on its own thread, directly on epoll, with its
// own SO_REUSEPORT listeners (the kernel spreads connections; no hand-off between threads),
// its own copy of the current route table, a buffer pool, and one sweep ten times a second
// that enforces every timeout of its connections (no timer per connection: idle connections
// cost their sockets, not a timer each).
//
// Why not Boost.Asio here (the health checker and the admin server use it, in files the data
// path does not include): its reactor retries a read speculatively before it waits, and only
// remembers that a socket is empty after EOF, so a keep-alive exchange costs one extra recv()
// that says EAGAIN per direction; a bare readiness wait instead re-arms the descriptor with an
// epoll_ctl() every time. What that cost, and what the loop below saved, is measured in
// docs/gateway.md, sections "Data path and limits" and "Benchmark". Here every socket is
// registered once, edge-triggered for reading and writing, and keeps two flags, readable and
// writable (nginx's "ready"): an event sets them, and a read that comes back short (the socket
// is empty; new bytes bring a new edge), EAGAIN, or a short write clears them.
//
// Each turn of the loop takes the events epoll reports, then does every read they allow (and
// those of what arrived meanwhile, see Worker::runScheduled), then every write (a burst per
// peer: a backend or client that shares a core with others wakes once for a burst of requests
// rather than once per request; HAProxy gets the same effect from running its receivers before
// its senders). How one connection moves its bytes is in connection.h.
//
// The gateway owns its workers. post() is thread-safe; listen() and port() are called before
// run() and after join(); everything else runs on the worker's own thread.
#pragma once

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "gateway/config.h"
#include "gateway/data_path.h"
#include "gateway/gateway.h"

namespace herd::gateway {

class Connection;
class GatewayStats;
class RouteTable;

// The socket address of an IP literal and port, or nothing when `address.ip` is not one.
std::optional<sockaddr_storage> socketAddress(const BackendAddress& address, socklen_t* length);

class Worker {
 public:
  Worker(GatewayStats& stats, size_t index);
  ~Worker();

  GatewayStats& stats() { return stats_; }
  const std::shared_ptr<const RouteTable>& table() const { return table_; }
  void setTable(std::shared_ptr<const RouteTable> table) { table_ = std::move(table); }
  Clock::time_point now() const { return now_; }

  Status listen(ListenerKind kind, const BackendAddress& address);
  int port(ListenerKind kind) const;
  // Opens a kTenantPort listener on `ip` for each of `ports` not open yet (retrying those that
  // failed before) and closes those no longer named; their connections live on and end
  // with the removed-route grace. A port that cannot be bound is logged and counted once
  // (until it binds or leaves the set) and skipped. Before run() from the controlling
  // thread, after it on the worker's own (post()). Does nothing once draining.
  void syncTenantPorts(const std::string& ip, const std::set<uint16_t>& ports);
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
  // Defined in connection.h, beside the flag it sets.
  inline void schedule(Connection* c);
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
  void releaseInFlight(Pipe& pipe) {
    returnBuffer(std::move(pipe.buffer));
    if (pipe.splice && pipe.spliced == 0 && splice_pipes_.size() < kMaxPooledSplicePipes) {
      splice_pipes_.push_back(std::move(*pipe.splice));
    }
    pipe.splice.reset();
  }

  void add(Connection* c);
  void remove(Connection* c);

 private:
  struct Listener {
    ListenerKind kind;
    uint16_t tenant_port = 0;  // kTenantPort: the port as configured
    UniqueFd fd;
    Watch watch;
    std::optional<Clock::time_point> paused_until;
  };
  // The pieces of the loop, called from worker.cc alone. The ones marked inline are defined
  // there as well: inline, the compiler may fold each into its one caller (the loop, or the
  // dispatch of an event) as it did when they had internal linkage, instead of keeping a call.
  inline void loop();
  inline void dispatch(const epoll_event& event);
  inline void runPosted();
  inline void accept(Listener& listener);
  inline void pause(Listener& listener);
  inline void resumeListeners();
  // Waits up to `timeout_ms` for events and dispatches them: how many, or -1 on failure.
  int poll(int timeout_ms);
  inline void runScheduled(bool look_again);
  inline void sweep();
  void reap();
  inline void closeAll();
  inline int waitTimeout(Clock::time_point next_sweep) const;

  GatewayStats& stats_;
  size_t index_;
  UniqueFd epoll_;
  UniqueFd wake_;
  Watch wake_watch_{Watch::Kind::kWake, nullptr};
  std::array<epoll_event, kMaxEvents> events_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::set<uint16_t> failed_tenant_ports_;  // reported once each
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

}  // namespace herd::gateway
