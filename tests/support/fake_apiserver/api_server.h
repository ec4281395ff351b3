// The REST semantics of the fake apiserver, independent of the transport: authentication and
// authorization, discovery and OpenAPI, storage with resourceVersions, watch, patches,
// server-side apply, finalizers, garbage collection, namespaces, CRDs and Table output.
//
// ApiServer authenticates, injects faults and routes; the parts it routes to live beside it:
// discovery.h (non-resource paths), resource_handler.h (the verbs), watch.h, controller.h
// (garbage collector, namespace deletion), table.h, with the objects in store.h over the
// Storage interface of storage.h (memory_storage.h, or etcd_storage.h when the options name
// etcd servers).
//
// One mutex, the store's, guards everything (a fake serves a handful of clients; simplicity
// wins over throughput); watches and the controller wait on a condition variable beside it.
// handle() is thread-safe; stop() ends watches and the controller and is idempotent.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "fake_apiserver.h"
#include "http_types.h"

namespace herd::fake {

class ApiServer {
 public:
  static Result<std::unique_ptr<ApiServer>> create(const FakeApiServerOptions& options);
  ~ApiServer();

  HttpResponse handle(const HttpRequest& request);

  void dropWatches();
  void failNextRequests(int count, int code, int retry_after_seconds);
  void setLatency(std::chrono::milliseconds latency);
  void compactHistory(uint64_t revision);  // 0: the current revision
  uint64_t resourceVersion() const;

  // Everything stored, for --state-dir; restore() replaces the store.
  std::string snapshot() const;
  Status restore(const std::string& snapshot);

  void stop();

  class Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace herd::fake
