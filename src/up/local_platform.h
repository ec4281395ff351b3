// The whole of herd on one machine (`herd up`): a seed API, the controller with the local
// provider, and the gateway, every listener on one loopback address.
//
// The seed is itself a control plane rendered by herd: a Cluster "seed" (one etcd, one
// kube-apiserver, one kube-controller-manager) run by a local provider of its own, from the
// same Kubernetes binaries as the tenants, with its own PKI. Its admin kubeconfig, pointed at
// loopback, is written to <state>/kubeconfig; the Cluster CRD is installed into it.
//
// Tenants: a second local provider (<state>/tenants), publishing each tenant's etcd and
// kube-apiserver members into the seed as EndpointSlices; the controller reconciles the
// seed's Clusters onto it; the gateway follows the seed and routes by SNI on the TLS port and
// by each tenant's dedicated port.
//
// State persists under the state directory: stop() stops every process and keeps the state,
// and the next start() brings the seed and every cluster back (PKI kept, ports kept).
//
// start() and stop() from one thread. The progress callback is called on that thread and,
// once started, never.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "kube/client.h"
#include "provider/local/kube_binaries.h"

namespace herd::up {

struct UpOptions {
  std::string state_dir;  // see defaultStateDir()
  std::string address = "127.0.0.1";
  int gateway_port = 8443;  // the SNI-routed TLS port; 0: any free one
  std::string base_domain = "herd.localhost";
  provider::local::BinaryOptions binaries;
  std::function<void(std::string_view line)> progress;
  // How long the seed may take to come up.
  std::chrono::seconds seed_timeout{120};
};

// $XDG_STATE_HOME/herd, else ~/.local/state/herd.
std::string defaultStateDir();
// <state>/kubeconfig: the seed's admin kubeconfig that `herd up` writes.
std::string seedKubeconfigPath(const std::string& state_dir);

class LocalPlatform {
 public:
  static Result<std::unique_ptr<LocalPlatform>> start(UpOptions options);
  virtual ~LocalPlatform() = default;

  virtual kube::Client& seed() = 0;
  virtual const std::string& kubeconfigPath() const = 0;
  virtual int gatewayTlsPort() const = 0;
  // Stops the controller, the gateway and every process; the state stays.
  virtual void stop() = 0;
};

// `herd down`: stops a running `herd up` (SIGTERM to the pid it recorded, then waits) and any
// process a killed one left; with `wipe`, removes the state directory too.
Status down(const std::string& state_dir, bool wipe, std::chrono::seconds timeout);

}  // namespace herd::up
