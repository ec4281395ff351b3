// The gateway: its route source, its workers (worker.h, each with its connections,
// connection.h), the health checker (health_checker.h), the admin server and the tunnel, wired
// together; and how a new configuration reaches every worker.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include "common/log.h"
#include "gateway/admin_server.h"
#include "gateway/gateway.h"
#include "gateway/health_checker.h"
#include "gateway/route_table.h"
#include "gateway/stats.h"
#include "gateway/worker.h"
#include "tunnel/tunnel.h"

namespace herd::gateway {
namespace {

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

 private:
  std::shared_ptr<const RouteTable> currentTable() const;
  void applyConfig(const GatewayConfig& config);
  void warnAboutRestartOnlyChanges(const GatewayConfig& config);
  // The tenant ports of `table` that may be opened: those that collide with a running
  // listener are reported (once) and left out.
  std::set<uint16_t> tenantPortsOf(const RouteTable& table);

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
  // Tenant ports go on the TLS listener's address; the ports the fixed listeners really bound
  // (a configured port 0 becomes one) are never a tenant's.
  std::string tenant_port_ip_;
  std::set<uint16_t> fixed_ports_;
  std::set<uint16_t> refused_tenant_ports_;  // reported once each
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  bool started_ = false;
  bool stopped_ = false;
  // The control loop: health checks of the current table's backends.
  HealthChecker health_{stats_, [this] { return currentTable(); }};
};

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
    auto worker = std::make_unique<Worker>(stats_, i);
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
  tenant_port_ip_ = parseBackendAddress(config.tls_listen)->ip;  // validated by the parser
  for (auto kind : {ListenerKind::kTls, ListenerKind::kHttp, ListenerKind::kAdmin}) {
    if (int p = port(kind); p > 0) fixed_ports_.insert(static_cast<uint16_t>(p));
  }
  {
    std::set<uint16_t> tenant_ports = tenantPortsOf(*first_table);
    for (auto& w : workers_) w->syncTenantPorts(tenant_port_ip_, tenant_ports);
  }
  if (config.tunnel) {
    auto tunnel = tunnel::startTunnel(*config.tunnel);
    if (!tunnel) return tunnel.status().withContext("tunnel");
    tunnel_ = std::move(*tunnel);
  }

  for (auto& w : workers_) w->run();
  health_.start();
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
  // other, never a mix. Tenant ports follow in the same task: a new port's first connection
  // finds its route.
  std::set<uint16_t> tenant_ports = tenantPortsOf(**table);
  for (auto& w : workers_) {
    w->post([worker = w.get(), t = *table, ip = tenant_port_ip_, tenant_ports] {
      worker->setTable(t);
      worker->syncTenantPorts(ip, tenant_ports);
    });
  }
  bump(stats_.counters.config_reloads);
  log::root().info("routes updated",
                   {{"version", (*table)->version()}, {"tls_routes", (*table)->tlsRouteCount()}});
}

std::set<uint16_t> GatewayImpl::tenantPortsOf(const RouteTable& table) {
  std::set<uint16_t> out;
  for (const auto& [port, tenant] : table.tenantPorts()) {
    // The running listeners, not the configured ones: those change only with a restart.
    std::string conflict = tenantPortConflict(startup_config_, port);
    if (conflict.empty() && fixed_ports_.count(port)) {
      conflict = std::to_string(port) + " is bound by one of the gateway's listeners";
    }
    if (conflict.empty()) {
      refused_tenant_ports_.erase(port);
      out.insert(port);
    } else if (refused_tenant_ports_.insert(port).second) {
      bump(stats_.counters.tenant_port_errors);
      log::root().error("tenant port refused; the tenant keeps its SNI routes",
                        {{"tenant", tenant}, {"port", port}, {"error", conflict}});
    }
  }
  return out;
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
  health_.stop();
  // After the gateway's own connections: nodes keep their sessions (and kube-apiservers their
  // streams to kubelets) through the drain, then redial another replica.
  if (tunnel_) tunnel_->stop();
  admin_.reset();
}

std::shared_ptr<const RouteTable> GatewayImpl::currentTable() const {
  std::lock_guard lock(table_mutex_);
  return table_;
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
  std::string text = stats_.renderPrometheus(table->backends(), ready());
  if (tunnel_) text += tunnel_->metricsText();
  return text;
}

}  // namespace

std::unique_ptr<Gateway> makeGateway(std::unique_ptr<RouteSource> source) {
  return std::make_unique<GatewayImpl>(std::move(source));
}

}  // namespace herd::gateway
