// SessionRegistry: (tenant, node address) -> the live session that bound that address with
// `ssh -R`. A node's reconnect replaces its stale session; another live session can never take
// a name away (the owner is probed first: if it answers, the newcomer is refused). Thread-safe;
// no lock is held while a session is probed.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "tunnel/metrics.h"
#include "tunnel/node_session.h"

namespace herd::tunnel {

class SessionRegistry {
 public:
  enum class Claim { kBound, kReplacedStale, kHeldByLiveSession };

  // `probe_timeout`: how long a current owner has to prove it is alive.
  SessionRegistry(Metrics& metrics, std::chrono::milliseconds probe_timeout)
      : metrics_(metrics), probe_timeout_(probe_timeout) {}

  // Binds `node` of `tenant` to `session`. When another session holds it, that session is
  // probed: live -> kHeldByLiveSession, silent -> it is evicted and the name moves over.
  Claim claim(const std::string& tenant, const std::string& node,
              const std::shared_ptr<NodeSession>& session);
  // Removes the binding if (and only if) `session` still holds it.
  void release(const std::string& tenant, const std::string& node, const NodeSession* session);
  std::shared_ptr<NodeSession> find(const std::string& tenant, const std::string& node) const;
  size_t size() const;

 private:
  using Key = std::pair<std::string, std::string>;
  Metrics& metrics_;
  std::chrono::milliseconds probe_timeout_;
  mutable std::mutex mu_;
  std::map<Key, std::weak_ptr<NodeSession>> sessions_;
};

}  // namespace herd::tunnel
