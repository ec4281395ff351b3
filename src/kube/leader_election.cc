#include "kube/leader_election.h"

#include <fmt/format.h>

#include <ctime>

#include "common/log.h"

namespace herd::kube {

std::string microTimeNow() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
}

namespace {

std::unique_ptr<Client> leaseClient(const Client& base, const LeaderElectionConfig& config) {
  RestConfig rc = base.config();
  rc.timeout =
      std::max(std::chrono::milliseconds(100), std::min(rc.timeout, config.renew_deadline / 2));
  auto c = Client::create(
      rc, RetryPolicy{1, std::chrono::milliseconds(1), std::chrono::milliseconds(1)});
  return c ? std::move(*c) : nullptr;
}

}  // namespace

LeaderElector::LeaderElector(Client& client, LeaderElectionConfig config)
    : own_client_(leaseClient(client, config)),
      client_(own_client_ ? *own_client_ : client),
      config_(std::move(config)) {}

std::string LeaderElector::observedLeader() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_holder_;
}

bool LeaderElector::sleepUnlessStopped(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_.load(); });
}

void LeaderElector::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

bool LeaderElector::tryAcquireOrRenew() {
  auto now = std::chrono::steady_clock::now();
  std::string now_text = microTimeNow();
  int64_t duration_s =
      std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count();
  json spec = {{"holderIdentity", config_.identity},
               {"leaseDurationSeconds", duration_s},
               {"acquireTime", now_text},
               {"renewTime", now_text},
               {"leaseTransitions", 0}};
  auto current = client_.get(leasesResource(), config_.ns, config_.name);
  if (!current) {
    if (current.status().code() != Code::kNotFound) return false;
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.name}, {"namespace", config_.ns}}},
                  {"spec", spec}};
    auto created = client_.create(leasesResource(), config_.ns, lease);
    if (!created) return false;
    recordOwnWrite(std::move(*created), now_text, now);
    return true;
  }
  const json& old = current->value("spec", json::object());
  std::string holder = old.value("holderIdentity", "");
  std::string renew_time = old.value("renewTime", "");
  bool new_leader = false;
  bool expired = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (holder != observed_holder_ || renew_time != observed_renew_time_) {
      // The record changed: restart the expiry clock from now, by our own clock.
      observed_holder_ = holder;
      observed_renew_time_ = renew_time;
      observed_at_ = now;
      new_leader = !holder.empty() && holder != config_.identity;
    }
    observed_ = *current;
    int64_t held_for = old.value("leaseDurationSeconds", duration_s);
    expired = now >= observed_at_ + std::chrono::seconds(held_for);
  }
  if (new_leader && config_.on_new_leader) config_.on_new_leader(holder);  // outside the lock
  if (!holder.empty() && holder != config_.identity && !expired) return false;
  json lease = *current;
  if (holder == config_.identity) {
    spec["acquireTime"] = old.value("acquireTime", now_text);
    spec["leaseTransitions"] = old.value("leaseTransitions", 0);
  } else {
    spec["leaseTransitions"] = old.value("leaseTransitions", 0) + 1;
  }
  lease["spec"] = spec;
  auto updated =
      client_.update(leasesResource(), config_.ns, lease);  // 409 if someone else moved first
  if (!updated) return false;
  recordOwnWrite(std::move(*updated), now_text, now);
  return true;
}

void LeaderElector::recordOwnWrite(json lease, const std::string& renew_time,
                                   std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  observed_ = std::move(lease);
  observed_holder_ = config_.identity;
  observed_renew_time_ = renew_time;
  observed_at_ = now;
}

void LeaderElector::release() {
  json lease;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (observed_holder_ != config_.identity || observed_.is_null()) return;
    lease = observed_;
  }
  std::string now_text = microTimeNow();
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = now_text;
  lease["spec"]["acquireTime"] = now_text;
  if (auto s = client_.update(leasesResource(), config_.ns, lease); !s) {
    log::root().warn("could not release the leader lease",
                     {{"lease", config_.name}, {"error", s.status().message()}});
  }
}

void LeaderElector::run() {
  auto logger =
      log::root().with("lease", config_.ns + "/" + config_.name).with("identity", config_.identity);
  while (!stopping_) {
    // Campaign.
    while (!stopping_ && !tryAcquireOrRenew()) {
      if (!sleepUnlessStopped(config_.retry_period)) break;
    }
    if (stopping_) break;
    leading_ = true;
    logger.info("became leader");
    if (config_.on_started_leading) config_.on_started_leading();
    // Lead: renew every retry_period; give up when renewals fail for renew_deadline.
    auto last_renew = std::chrono::steady_clock::now();
    while (!stopping_) {
      if (!sleepUnlessStopped(config_.retry_period)) break;
      // The renewal counts from when it was sent: that is when the new renewTime starts.
      auto sent = std::chrono::steady_clock::now();
      if (tryAcquireOrRenew()) {
        last_renew = sent;
      } else if (std::chrono::steady_clock::now() - last_renew >= config_.renew_deadline) {
        logger.warn("lost the leader lease: could not renew within the deadline");
        break;
      }
    }
    leading_ = false;
    if (stopping_ && config_.release_on_cancel) release();
    if (config_.on_stopped_leading) config_.on_stopped_leading();
  }
}

}  // namespace herd::kube
