#include "gateway/health_checker.h"

#include <boost/asio.hpp>
#include <optional>
#include <thread>
#include <utility>

#include "common/log.h"
#include "gateway/route_table.h"
#include "gateway/stats.h"

namespace herd::gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct HealthChecker::ControlLoop {
  ControlLoop(GatewayStats& gateway_stats, std::function<std::shared_ptr<const RouteTable>()> table)
      : stats(gateway_stats), current_table(std::move(table)) {}

  // One TCP connect per backend per interval, all in parallel, each bounded by the timeout.
  void runChecks() {
    std::shared_ptr<const RouteTable> table = current_table();
    const auto& health = table->config().health;
    for (const auto& backend : table->backends()) {
      struct Probe {
        explicit Probe(asio::io_context& context) : socket(context), timer(context) {}
        tcp::socket socket;
        asio::steady_timer timer;
      };
      auto probe = std::make_shared<Probe>(context);
      error_code ec;
      tcp::endpoint endpoint(asio::ip::make_address(backend->address.ip, ec),
                             backend->address.port);
      probe->timer.expires_after(health.timeout);
      probe->timer.async_wait([probe](error_code timer_ec) {
        if (!timer_ec) probe->socket.cancel(timer_ec);
      });
      probe->socket.async_connect(endpoint, [this, probe, backend](error_code connect_ec) {
        probe->timer.cancel();
        bool was = backend->healthy.exchange(!connect_ec, std::memory_order_relaxed);
        if (connect_ec) bump(stats.counters.health_check_failures);
        if (was != !connect_ec) {
          log::root().info(connect_ec ? "backend unhealthy" : "backend healthy",
                           {{"backend", backend->key}, {"error", connect_ec.message()}});
        }
        error_code ignored;
        probe->socket.close(ignored);
      });
    }
    timer.expires_after(health.interval);
    timer.async_wait([this](error_code ec) {
      if (!ec) runChecks();
    });
  }

  GatewayStats& stats;
  std::function<std::shared_ptr<const RouteTable>()> current_table;
  asio::io_context context{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::steady_timer timer{context};
  std::thread thread;
};

HealthChecker::HealthChecker(GatewayStats& stats,
                             std::function<std::shared_ptr<const RouteTable>()> current_table)
    : loop_(std::make_unique<ControlLoop>(stats, std::move(current_table))) {}

HealthChecker::~HealthChecker() {
  stop();
}

void HealthChecker::start() {
  loop_->work.emplace(loop_->context.get_executor());
  loop_->runChecks();
  loop_->thread = std::thread([loop = loop_.get()] { loop->context.run(); });
}

void HealthChecker::stop() {
  asio::post(loop_->context, [loop = loop_.get()] {
    loop->timer.cancel();
    loop->work.reset();
  });
  if (loop_->thread.joinable()) loop_->thread.join();
}

}  // namespace herd::gateway
