// The parts of kube-controller-manager that herd depends on, run on one thread of the fake:
// the garbage collector (ownerReferences: background, foreground and orphan propagation), the
// namespace controller (a Terminating namespace is emptied, then removed) and the
// root-ca-cert-publisher (ConfigMap kube-root-ca.crt in every namespace); and kube-apiserver's
// own system-namespaces controller (default, kube-system, kube-public, kube-node-lease).
//
// Several servers may share one storage (etcd) and all run these: every write is conditional
// on the revision it was computed from, so that two servers doing the same work write it once
// (the other's create is AlreadyExists, its update a Conflict) and a conflict is looked at
// again after the change that caused it.
//
// Owned by the ApiServer. Each pass runs with the store's mutex held; the thread wakes on
// every change and at least every kTick. stop() is idempotent and joins the thread.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "fake_apiserver.h"
#include "store.h"

namespace herd::fake {

class Controller {
 public:
  Controller(const FakeApiServerOptions& options, Registry& registry, ObjectStore& store)
      : options_(options), registry_(registry), store_(store) {}
  ~Controller() { stop(); }

  void start();
  void stop();

  // Publishes kube-root-ca.crt in namespaces that lack it. With the store's mutex held.
  void publishRootCaLocked();
  // Creates the namespaces every cluster has, once the storage has been read, until they all
  // exist. With the store's mutex held.
  void ensureSystemNamespacesLocked();

 private:
  // How often the controller looks at the store when nothing wakes it earlier.
  static constexpr auto kTick = std::chrono::milliseconds(50);

  void run();
  void collectGarbageLocked();
  // Whether the changes after `since` can have left work for the garbage collector; keeps
  // live_uids_ up to date with them.
  bool changesNeedPassLocked(uint64_t since);
  void finishNamespacesLocked();

  const FakeApiServerOptions& options_;
  Registry& registry_;
  ObjectStore& store_;
  bool stopping_ = false;  // guarded by the store's mutex
  // Whether the system namespaces are known to exist; guarded by the store's mutex.
  bool namespaces_ensured_ = false;
  // The store's revision when the garbage collector last looked, and the uids stored then;
  // on the controller's thread.
  std::optional<uint64_t> collected_at_;
  std::set<std::string> live_uids_;
  // The store's revision when the root-ca-cert-publisher last looked; under the store's mutex.
  std::optional<uint64_t> published_at_;
  std::thread thread_;
};

}  // namespace herd::fake
