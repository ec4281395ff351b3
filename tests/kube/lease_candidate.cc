// A leader-election candidate as a separate process, for tests that kill and stop leaders:
// prints "leading <identity>" and "stopped <identity>" lines as its state changes, and exits
// cleanly (releasing the Lease) on SIGTERM.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "kube/leader_election.h"

namespace {
std::atomic<bool> g_term{false};
void onTerm(int) {
  g_term = true;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: lease_candidate KUBECONFIG IDENTITY LEASE_MS RETRY_MS\n";
    return 2;
  }
  std::signal(SIGTERM, onTerm);
  std::signal(SIGPIPE, SIG_IGN);
  auto rc = herd::kube::loadKubeconfig({argv[1], "", ""});
  if (!rc) {
    std::cerr << rc.status().toString() << "\n";
    return 1;
  }
  auto client = herd::kube::Client::create(
      *rc,
      herd::kube::RetryPolicy{1, std::chrono::milliseconds(10), std::chrono::milliseconds(10)});
  if (!client) {
    std::cerr << client.status().toString() << "\n";
    return 1;
  }
  herd::kube::LeaderElectionConfig cfg;
  cfg.ns = "default";
  cfg.name = "herd-controller";
  cfg.identity = argv[2];
  cfg.lease_duration = std::chrono::milliseconds(std::stoi(argv[3]));
  cfg.retry_period = std::chrono::milliseconds(std::stoi(argv[4]));
  cfg.renew_deadline = cfg.lease_duration * 2 / 3;
  cfg.on_started_leading = [&] { std::cout << "leading " << cfg.identity << std::endl; };
  cfg.on_stopped_leading = [&] { std::cout << "stopped " << cfg.identity << std::endl; };
  herd::kube::LeaderElector elector(**client, cfg);
  std::thread watcher([&] {
    while (!g_term) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    elector.stop();
  });
  elector.run();
  g_term = true;
  watcher.join();
  return 0;
}
