#include "api/conditions.h"

#include <gtest/gtest.h>

#include "api/validation.h"

namespace herd::api {
namespace {

Condition make(std::string_view type, std::string_view status, std::string_view reason,
               int64_t generation) {
  Condition c;
  c.type = std::string(type);
  c.status = std::string(status);
  c.reason = std::string(reason);
  c.observedGeneration = generation;
  return c;
}

TEST(ConditionsTest, NewConditionTakesNowAsTransitionTime) {
  ClusterStatus s;
  EXPECT_TRUE(setCondition(s, make(condition::kEtcdReady, condition::kFalse, "Waiting", 1),
                           "2026-01-01T00:00:00Z"));
  ASSERT_EQ(s.conditions.size(), 1u);
  EXPECT_EQ(s.conditions[0].lastTransitionTime, "2026-01-01T00:00:00Z");
  EXPECT_EQ(s.conditions[0].observedGeneration, 1);
}

TEST(ConditionsTest, SameStatusKeepsTransitionTimeButTakesNewReasonAndGeneration) {
  ClusterStatus s;
  ASSERT_TRUE(setCondition(s, make(condition::kEtcdReady, condition::kFalse, "Waiting", 1),
                           "2026-01-01T00:00:00Z"));
  EXPECT_TRUE(setCondition(s, make(condition::kEtcdReady, condition::kFalse, "RollingOut", 2),
                           "2026-01-01T00:05:00Z"));
  ASSERT_EQ(s.conditions.size(), 1u);
  EXPECT_EQ(s.conditions[0].lastTransitionTime, "2026-01-01T00:00:00Z");
  EXPECT_EQ(s.conditions[0].reason, "RollingOut");
  EXPECT_EQ(s.conditions[0].observedGeneration, 2);
}

TEST(ConditionsTest, IdenticalConditionIsNoChange) {
  ClusterStatus s;
  ASSERT_TRUE(setCondition(s, make(condition::kReady, condition::kTrue, "Ready", 3),
                           "2026-01-01T00:00:00Z"));
  ClusterStatus before = s;
  EXPECT_FALSE(setCondition(s, make(condition::kReady, condition::kTrue, "Ready", 3),
                            "2026-01-02T00:00:00Z"));
  EXPECT_EQ(s, before);
}

TEST(ConditionsTest, FlippedStatusMovesTransitionTime) {
  ClusterStatus s;
  ASSERT_TRUE(setCondition(s, make(condition::kReady, condition::kFalse, "Waiting", 1),
                           "2026-01-01T00:00:00Z"));
  ASSERT_TRUE(setCondition(s, make(condition::kPkiReady, condition::kTrue, "Issued", 1),
                           "2026-01-01T00:00:00Z"));
  EXPECT_TRUE(setCondition(s, make(condition::kReady, condition::kTrue, "Ready", 1),
                           "2026-01-01T00:09:00Z"));
  ASSERT_EQ(s.conditions.size(), 2u);
  EXPECT_EQ(s.conditions[0].type, "Ready");  // replaced in place: the order is stable
  EXPECT_EQ(s.conditions[0].lastTransitionTime, "2026-01-01T00:09:00Z");
  EXPECT_EQ(findCondition(s, condition::kPkiReady)->lastTransitionTime, "2026-01-01T00:00:00Z");
}

TEST(ConditionsTest, FindIsTrueAndRemove) {
  ClusterStatus s;
  EXPECT_EQ(findCondition(s, condition::kPaused), nullptr);
  EXPECT_FALSE(isConditionTrue(s, condition::kPaused));
  ASSERT_TRUE(setCondition(s, make(condition::kPaused, condition::kTrue, "Paused", 1), "t"));
  EXPECT_TRUE(isConditionTrue(s, condition::kPaused));
  EXPECT_TRUE(removeCondition(s, condition::kPaused));
  EXPECT_FALSE(removeCondition(s, condition::kPaused));
  EXPECT_TRUE(s.conditions.empty());
}

TEST(ConditionsTest, PhasesAreTheApiStrings) {
  EXPECT_EQ(phase::kProvisioning, "Provisioning");
  EXPECT_EQ(phase::kRunning, "Running");
  EXPECT_EQ(phase::kUpdating, "Updating");
  EXPECT_EQ(phase::kDeleting, "Deleting");
  EXPECT_EQ(phase::kFailed, "Failed");
  EXPECT_EQ(kCleanupFinalizer, "herd.io/cleanup");
}

TEST(ConditionsTest, NowIsRfc3339) { EXPECT_TRUE(isRfc3339(rfc3339Now())) << rfc3339Now(); }

}  // namespace
}  // namespace herd::api
