// The tunnel's counters and gauges, declared once in one table and exported as Prometheus
// text ("herd_tunnel_<name>", counters with "_total") through a metrics::Registry whose
// collectors read these atomics at scrape time. Every refusal of untrusted input has a counter
// here, so an operator can tell garbage on the SSH port from a node with the wrong key. Shared by
// the SSH server, the registry and the CONNECT listeners; thread-safe (relaxed atomics).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace herd::metrics {
class Registry;
}

namespace herd::tunnel {

// X(name, kind, help): kind is counter or gauge.
#define HERD_TUNNEL_METRICS(X)                                                                \
  X(ssh_connections_accepted, counter, "TCP connections accepted on the SSH port")            \
  X(ssh_connections_over_limit, counter, "SSH connections closed at once: too many open")     \
  X(ssh_handshake_failures, counter, "SSH connections that failed before authentication")     \
  X(ssh_auth_failures, counter, "public-key attempts refused (unknown tenant or key)")        \
  X(ssh_auth_timeouts, counter, "connections closed for not authenticating in time")          \
  X(ssh_sessions_authenticated, counter, "SSH sessions that authenticated")                   \
  X(ssh_sessions_live, gauge, "authenticated SSH sessions currently open")                    \
  X(ssh_channel_opens_refused, counter, "channel opens from nodes (never allowed) refused")   \
  X(ssh_keepalive_timeouts, counter, "sessions closed because the node stopped answering")    \
  X(forwards_bound, counter, "remote forwards (node names) accepted")                         \
  X(forwards_refused, counter, "remote forwards refused: bad name, other tenant, live owner") \
  X(sessions_replaced, counter, "stale sessions replaced by a reconnecting node")             \
  X(registry_nodes, gauge, "node names with a live session in this replica")                  \
  X(connect_requests, counter, "CONNECT requests parsed")                                     \
  X(connect_bad_requests, counter, "connections that did not send a valid CONNECT")           \
  X(connect_tls_failures, counter, "TLS handshakes or client certificates refused")           \
  X(connect_unknown_node, counter, "CONNECTs to a node with no session (502)")                \
  X(connect_peer_forwards, counter, "CONNECTs served through a peer replica")                 \
  X(streams_opened, counter, "forwarded-tcpip channels opened to nodes")                      \
  X(streams_failed, counter, "forwarded-tcpip channels the node refused or never answered")   \
  X(streams_live, gauge, "streams currently open")                                            \
  X(bytes_to_nodes, counter, "payload bytes sent into forwarded channels")                    \
  X(bytes_from_nodes, counter, "payload bytes received from forwarded channels")

enum class Metric {
#define HERD_TUNNEL_METRIC_ENUM(name, kind, help) name,
  HERD_TUNNEL_METRICS(HERD_TUNNEL_METRIC_ENUM)
#undef HERD_TUNNEL_METRIC_ENUM
      kCount
};

class Metrics {
 public:
  Metrics();
  ~Metrics();

  void add(Metric m, uint64_t n = 1) { slot(m).fetch_add(n, std::memory_order_relaxed); }
  void sub(Metric m, uint64_t n = 1) { slot(m).fetch_sub(n, std::memory_order_relaxed); }
  uint64_t get(Metric m) const {
    return values_[static_cast<size_t>(m)].load(std::memory_order_relaxed);
  }
  // Prometheus text exposition format, one HELP/TYPE/value triple per metric.
  std::string prometheusText() const;

 private:
  std::atomic<uint64_t>& slot(Metric m) { return values_[static_cast<size_t>(m)]; }
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Metric::kCount)> values_{};
  std::unique_ptr<metrics::Registry> registry_;
};

}  // namespace herd::tunnel
