// herd-workload-simulator: the workload simulator (workload_simulator.h) as a process of its
// own, for benchmarks that must not count its memory as the controller's. Plays the seed's
// StatefulSet and Deployment controllers against --kubeconfig until SIGTERM or SIGINT.
#include <signal.h>

#include <iostream>

#include "kube/client.h"
#include "kube/config.h"
#include "workload_simulator.h"

int main(int argc, char** argv) {
  if (argc != 3 || std::string(argv[1]) != "--kubeconfig") {
    std::cerr << "usage: herd-workload-simulator --kubeconfig FILE\n";
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto config =
      herd::kube::loadKubeconfig({.kubeconfig_path = argv[2], .context = "", .namespace_ = ""});
  if (!config.isOk()) {
    std::cerr << "herd-workload-simulator: " << config.status().toString() << "\n";
    return 1;
  }
  auto client = herd::kube::Client::create(*config);
  if (!client.isOk()) {
    std::cerr << "herd-workload-simulator: " << client.status().toString() << "\n";
    return 1;
  }
  herd::testing::WorkloadSimulator simulator(**client);
  if (auto s = simulator.start(); !s.isOk()) {
    std::cerr << "herd-workload-simulator: " << s.toString() << "\n";
    return 1;
  }
  std::cout << "simulating" << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  simulator.stop();
  std::cerr << "herd-workload-simulator: " << simulator.writes() << " status writes\n";
  return 0;
}
