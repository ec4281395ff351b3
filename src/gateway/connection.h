// One client connection through the gateway, from accept to close: it reads and inspects the
// first bytes (a ClientHello, or an HTTP request head), routes them, connects to a backend
// (trying the next one when a connect fails), then proxies both ways until both directions
// have ended, and its worker's sweep enforces its timeouts.
//
// A direction waits with nothing: when bytes come, they are read into its own small inbox
// (enough for a request or a short answer, so a keep-alive exchange never takes a pooled
// buffer), then into a pooled buffer while more is there, or, once a read fills a whole buffer
// (bulk: a large response, an etcd snapshot), with splice(2) through a kernel pipe, which
// spares the two copies through user space. A direction holds a pooled buffer or a kernel pipe
// only while it has bytes in flight. Reading stops while bytes wait to be written: that is the
// backpressure, in both directions.
//
// Owned by its worker (worker.h): created on accept, freed by the worker once closed. Lives on
// the worker's thread; not thread-safe. The few calls the loop makes for every event and every
// turn are inline here, so that the loop's file compiles them in as before.
#pragma once

#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"
#include "gateway/config.h"
#include "gateway/data_path.h"
#include "gateway/gateway.h"
#include "gateway/route_table.h"
#include "gateway/worker.h"

namespace herd::gateway {

class Connection {
 public:
  enum class Phase { kInspecting, kConnecting, kProxying, kClosed };

  // `tenant_port`: the port of a kTenantPort listener, whose tenant the connection goes to.
  Connection(Worker& worker, ListenerKind kind, UniqueFd fd, uint16_t tenant_port = 0);
  ~Connection();

  bool start();
  void onEvent(bool client, uint32_t events) {
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
        if (!client && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) onConnectReported();
        return;
      case Phase::kProxying:
        worker_.schedule(this);
        return;
      case Phase::kClosed:
        return;
    }
  }
  // This turn's reads: one per direction whose source has bytes and which has none in flight.
  void readTurn() {
    if (phase_ != Phase::kProxying) return;
    pump(upstream_, false, 1);
    if (phase_ == Phase::kProxying) pump(downstream_, false, 1);
  }
  // This turn's writes, and the reads and writes that follow while both sides keep up. False
  // when the budget ran out with work left (the worker schedules the connection again).
  bool writeTurn() {
    if (phase_ != Phase::kProxying) return true;
    bool more = pump(upstream_, true, kPumpBudget);
    if (phase_ != Phase::kProxying) return true;
    more |= pump(downstream_, true, kPumpBudget);
    return phase_ != Phase::kProxying || !more;
  }
  // Called by the worker's sweep; may close the connection.
  void sweep(Clock::time_point now);
  void close();
  Phase phase() const { return phase_; }
  size_t slot = 0;
  bool scheduled = false;

 private:
  // Called from connection.cc alone. The ones marked inline are defined there as well, so that
  // the compiler may fold each into its caller as it did when they had internal linkage.
  void readHello();
  inline void inspect();
  void route(const Route* route, const std::string& host);
  inline void reject(std::string_view http_response);
  void connectBackend();
  // The backend socket reported the end of its connect: takes its outcome from SO_ERROR.
  void onConnectReported();
  void onConnectDone(int error);
  inline void startProxying();
  // Moves bytes one way until the source is empty, the destination full or the budget spent.
  // With `writes` false it stops before the first write. True when it stopped with work left
  // (the budget ran out, or bytes wait for the writes).
  bool pump(Pipe& pipe, bool writes, int budget);
  inline void finishPipe(Pipe& pipe);
  inline void fail(int error, bool writing = false);
  void flushStats();
  inline bool routeStillExists(const RouteTable& table) const;

  Worker& worker_;
  ListenerKind kind_;
  uint16_t tenant_port_ = 0;
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

inline void Worker::schedule(Connection* c) {
  if (c->scheduled) return;
  c->scheduled = true;
  scheduled_.push_back(c);
}

}  // namespace herd::gateway
