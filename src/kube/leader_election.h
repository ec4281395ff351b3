// Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics: a candidate
// takes the Lease only when it is free or its holder has not renewed it for
// lease_duration (by the candidate's own clock, since the last change it observed); the
// leader renews every retry_period and steps down when it cannot renew within
// renew_deadline; on a clean stop it releases the Lease at once (holder cleared, duration
// 1 s) so that another candidate takes over without waiting. Only the resourceVersion of the
// Lease guards a takeover, exactly as on a real server.
//
// run() blocks its thread until stop() (thread-safe, any thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "kube/client.h"

namespace herd::kube {

struct LeaderElectionConfig {
  std::string ns;
  std::string name;
  std::string identity;  // unique per candidate, e.g. <hostname>_<random>
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_deadline{std::chrono::seconds(10)};
  std::chrono::milliseconds retry_period{std::chrono::seconds(2)};
  bool release_on_cancel = true;
  // Called on the election thread: start the leader's work on threads of its own and return,
  // or renewals stop while it runs.
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  std::function<void(const std::string& identity)> on_new_leader;
};

class LeaderElector {
 public:
  LeaderElector(Client& client, LeaderElectionConfig config);
  // Campaigns, leads, and campaigns again after losing the lease, until stop().
  void run();
  void stop();
  bool isLeader() const { return leading_.load(); }
  // The holder last seen on the Lease ("" when free).
  std::string observedLeader() const;

  // One attempt to acquire or renew; true when this candidate holds the Lease afterwards.
  bool tryAcquireOrRenew();

 private:
  bool sleepUnlessStopped(std::chrono::milliseconds d);
  void release();
  // Remembers the Lease as this candidate just wrote it.
  void recordOwnWrite(json lease, const std::string& renew_time,
                      std::chrono::steady_clock::time_point now);

  // Lease requests go through a client of their own: one attempt each, with a timeout short
  // enough that a cut-off leader notices within renew_deadline (the caller's client may retry
  // for longer than the lease lasts). Falls back to the caller's client if it cannot be made.
  std::unique_ptr<Client> own_client_;
  Client& client_;
  LeaderElectionConfig config_;
  std::atomic<bool> leading_{false};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // What was last read from the Lease and when it last changed, by our clock.
  json observed_;
  std::string observed_holder_;
  std::string observed_renew_time_;
  std::chrono::steady_clock::time_point observed_at_{};
};

// Kubernetes MicroTime: RFC 3339 in UTC with microseconds, e.g. 2026-11-25T01:41:24.133418Z.
std::string microTimeNow();

}  // namespace herd::kube
