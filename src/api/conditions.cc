#include "api/conditions.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace herd::api {

bool setCondition(ClusterStatus& status, Condition condition, std::string_view now) {
  Condition* existing = findCondition(status, condition.type);
  if (existing == nullptr) {
    condition.lastTransitionTime = std::string(now);
    status.conditions.push_back(std::move(condition));
    return true;
  }
  if (existing->status == condition.status && !existing->lastTransitionTime.empty()) {
    condition.lastTransitionTime = existing->lastTransitionTime;
  } else {
    condition.lastTransitionTime = std::string(now);
  }
  if (*existing == condition) return false;
  *existing = std::move(condition);
  return true;
}

const Condition* findCondition(const ClusterStatus& status, std::string_view type) {
  auto it = std::find_if(status.conditions.begin(), status.conditions.end(),
                         [&](const Condition& c) { return c.type == type; });
  return it == status.conditions.end() ? nullptr : &*it;
}

Condition* findCondition(ClusterStatus& status, std::string_view type) {
  return const_cast<Condition*>(findCondition(std::as_const(status), type));
}

bool isConditionTrue(const ClusterStatus& status, std::string_view type) {
  const Condition* c = findCondition(status, type);
  return c != nullptr && c->status == condition::kTrue;
}

bool removeCondition(ClusterStatus& status, std::string_view type) {
  auto removed = std::erase_if(status.conditions, [&](const Condition& c) { return c.type == type; });
  return removed > 0;
}

std::string rfc3339Now() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace herd::api
