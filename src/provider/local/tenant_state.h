// The on-disk home of one tenant under the local provider, <root>/<cluster>/ (mode 0700):
//
//   pki/…, *.conf, tokens/…, ssh/…   the tenant's PKI set in kubeadm's layout, each file with
//                                    its own mode (private keys and tokens 0600)
//   ports.json                       the loopback ports allocated to it, kept for its life
//   <member>/                        one directory per process (files, data, log, pid file)
//
// Ports are allocated from a range on one loopback address, skipping ports any other tenant
// under the same root holds and ports something else is listening on now. The search starts
// at an offset that the root's path picks, so that two herds on one machine (two state
// directories) seldom reach for the same ports. Once allocated a port is the tenant's until
// the tenant is removed, so a restart of herd brings every process back on the address its
// peers know; unless another program took it meanwhile (releaseTakenPorts).
//
// Not thread-safe: the local provider serialises calls (one reconcile per cluster, and a lock
// around port allocation, which reads every tenant's ports).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "pki/tenant_pki.h"

namespace herd::provider::local {

struct PortRange {
  int first = 20000;
  int last = 29999;
};

class TenantState {
 public:
  // Opens (creating with 0700 when missing) <root>/<cluster>.
  static Result<TenantState> open(const std::string& root, const std::string& cluster);

  const std::string& dir() const { return dir_; }
  // <dir>/<member>, created 0700.
  Result<std::string> memberDir(const std::string& member) const;

  // The stored PKI set; empty when none is stored yet.
  Result<pki::PkiFiles> loadCredentials() const;
  // Writes every file whose bytes or mode differ; leaves the others untouched.
  Status storeCredentials(const pki::PkiFiles& files) const;

  // The port allocated under `name` ("etcd-0.client"), allocating it on first use.
  Result<int> port(const std::string& name, const std::string& address, PortRange range);
  const std::map<std::string, int>& ports() const { return ports_; }

  // Ports of this tenant that another program listens on now, which it took while herd was
  // down: without this the tenant's traffic (the gateway's, the probes') would reach that
  // program. `ours(member)` says whether one of the tenant's own processes runs, which holds
  // its port rightly. Such a port is given up, so the next port() call allocates a fresh one;
  // except an etcd peer port, which the cluster's membership records: that one is kept, and
  // listed in `kept` for the caller to report.
  struct TakenPorts {
    std::vector<std::pair<std::string, int>> released;
    std::vector<std::pair<std::string, int>> kept;
  };
  Result<TakenPorts> releaseTakenPorts(const std::string& address,
                                       const std::function<bool(const std::string&)>& ours);

  // Deletes the tenant's directory and everything in it.
  Status remove() const;

 private:
  TenantState(std::string root, std::string dir) : root_(std::move(root)), dir_(std::move(dir)) {}
  Status loadPorts();
  Status savePorts() const;

  std::string root_;
  std::string dir_;
  std::map<std::string, int> ports_;
};

}  // namespace herd::provider::local
