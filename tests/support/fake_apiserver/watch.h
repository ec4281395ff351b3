// Watches as kube-apiserver serves them: ?watch=1 streams the changes after a
// resourceVersion (or the current state first, for resourceVersion 0 and WatchList's
// sendInitialEvents), filtered by namespace, name and selectors, with bookmarks, Table events
// for kubectl get -w, and 410 "too old resource version" once the storage compacted the history
// they need.
//
// Owned by the ApiServer, which must outlive every stream it served. Each stream runs on its
// connection's thread and reads the store under the store's mutex, waking on changed().
// dropAllLocked() and stopLocked() (store mutex held, then changed() notified) end every
// stream.
#pragma once

#include <optional>
#include <vector>

#include "authn.h"
#include "fake_apiserver.h"
#include "http_types.h"
#include "selectors.h"
#include "store.h"

namespace herd::fake {

// What one watch selects, and how it presents each event's object.
struct WatchFilter {
  ResourceTypePtr type;
  std::string ns;
  std::vector<Requirement> labels;
  std::vector<Requirement> fields;
  // Set when the client asked for Tables (kubectl get -w): each event's object is then a
  // Table of one row, printed for this request.
  std::optional<HttpRequest> as_table;
};

class Watches {
 public:
  Watches(const FakeApiServerOptions& options, ObjectStore& store)
      : options_(options), store_(store) {}

  // A watch request on `t`: the stream, or the error of a bad request.
  HttpResponse serve(const HttpRequest& req, const Target& t, HttpResponse res);

  void dropAllLocked() { ++epoch_; }
  void stopLocked() { stopping_ = true; }

 private:
  friend class WatchStream;

  const FakeApiServerOptions& options_;
  ObjectStore& store_;
  // Both guarded by the store's mutex: a stream ends when either moves.
  bool stopping_ = false;
  uint64_t epoch_ = 0;
};

}  // namespace herd::fake
