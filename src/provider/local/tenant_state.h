// The on-disk home of one tenant under the local provider, <root>/<cluster>/ (mode 0700):
//
//   pki/…, *.conf, tokens/…, ssh/…   the tenant's PKI set in kubeadm's layout, each file with
//                                    its own mode (private keys and tokens 0600)
//   ports.json                       the loopback ports allocated to it, kept for its life
//   <member>/                        one directory per process (files, data, log, pid file)
//
// Ports are allocated from a range on one loopback address, lowest free first, skipping ports
// any other tenant under the same root holds and ports something else is listening on now;
// once allocated a port is the tenant's until the tenant is removed, so a restart of herd
// brings every process back on the address its peers and certificates know.
//
// Not thread-safe: the local provider serialises calls (one reconcile per cluster, and a lock
// around port allocation, which reads every tenant's ports).
#pragma once

#include <map>
#include <string>

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

  // Deletes the tenant's directory and everything in it.
  Status remove() const;

 private:
  TenantState(std::string root, std::string dir) : root_(std::move(root)), dir_(std::move(dir)) {}
  Status loadPorts();

  std::string root_;
  std::string dir_;
  std::map<std::string, int> ports_;
};

}  // namespace herd::provider::local
