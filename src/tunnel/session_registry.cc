#include "tunnel/session_registry.h"

namespace herd::tunnel {

SessionRegistry::Claim SessionRegistry::claim(const std::string& tenant, const std::string& node,
                                              const std::shared_ptr<NodeSession>& session) {
  Key key{tenant, node};
  // Two rounds at most: a probe runs unlocked, so the owner may change meanwhile.
  for (int round = 0; round < 2; ++round) {
    std::shared_ptr<NodeSession> owner;
    {
      std::lock_guard lock(mu_);
      auto it = sessions_.find(key);
      if (it != sessions_.end()) owner = it->second.lock();
      if (!owner || owner.get() == session.get()) {
        if (it == sessions_.end()) metrics_.add(Metric::registry_nodes);
        sessions_[key] = session;
        return Claim::kBound;
      }
    }
    if (owner->probe(probe_timeout_)) return Claim::kHeldByLiveSession;
    {
      std::lock_guard lock(mu_);
      auto it = sessions_.find(key);
      if (it != sessions_.end() && it->second.lock() == owner) {
        it->second = session;
        metrics_.add(Metric::sessions_replaced);
        owner->evict();
        return Claim::kReplacedStale;
      }
    }
  }
  return Claim::kHeldByLiveSession;
}

void SessionRegistry::release(const std::string& tenant, const std::string& node,
                              const NodeSession* session) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(Key{tenant, node});
  if (it == sessions_.end()) return;
  auto owner = it->second.lock();
  if (owner && owner.get() != session) return;
  sessions_.erase(it);
  metrics_.sub(Metric::registry_nodes);
}

std::shared_ptr<NodeSession> SessionRegistry::find(const std::string& tenant,
                                                   const std::string& node) const {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(Key{tenant, node});
  return it == sessions_.end() ? nullptr : it->second.lock();
}

size_t SessionRegistry::size() const {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

}  // namespace herd::tunnel
