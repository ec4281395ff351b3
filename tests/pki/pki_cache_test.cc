// The PKI cache answers exactly what reconcilePki would: remembered only for a complete, valid
// set, and only while the files, the Cluster's names and the clock leave the verdict unchanged.
#include "pki/pki_cache.h"

#include <gtest/gtest.h>

#include "pki_test_util.h"

namespace herd::pki {
namespace {

using testing::testCluster;

class PkiCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.now = now_;
    auto first = generatePki(cluster_, options_);
    ASSERT_TRUE(first.isOk()) << first.status().toString();
    files_ = first->files;
  }
  PkiOptions at(Clock::duration later) const {
    PkiOptions options = options_;
    options.now = now_ + later;
    return options;
  }
  void expectSameAsReconcilePki(const Result<PkiResult>& cached, const api::Cluster& cluster,
                                const PkiFiles& files, const PkiOptions& options) {
    auto direct = reconcilePki(cluster, files, options);
    ASSERT_EQ(cached.isOk(), direct.isOk()) << cached.status().toString();
    if (!direct) {
      EXPECT_EQ(cached.status().message(), direct.status().message());
      return;
    }
    ASSERT_EQ(cached->changes.size(), direct->changes.size());
    for (size_t i = 0; i < direct->changes.size(); ++i) {
      EXPECT_EQ(cached->changes[i].item, direct->changes[i].item);
      EXPECT_EQ(cached->changes[i].action, direct->changes[i].action) << direct->changes[i].item;
      // A new token is random: the same one only when both kept it.
      if (direct->changes[i].item == "bootstrap-token" &&
          direct->changes[i].action == PkiAction::kKept) {
        EXPECT_EQ(cached->token.toString(), direct->token.toString());
      }
    }
    // Renewals draw new serials: compare which files changed, not their bytes.
    for (const auto& [path, file] : direct->files) {
      ASSERT_TRUE(cached->files.contains(path)) << path;
      EXPECT_EQ(cached->files.at(path) == files.at(path), file == files.at(path)) << path;
    }
  }

  TimePoint now_ = std::chrono::floor<std::chrono::seconds>(Clock::now());
  api::Cluster cluster_ = testCluster("alpha");
  PkiOptions options_;
  PkiFiles files_;
  PkiCache cache_;
};

TEST_F(PkiCacheTest, AnUnchangedValidSetIsJudgedOnce) {
  for (int i = 0; i < 3; ++i) {
    auto result = cache_.reconcile(cluster_, files_, at(std::chrono::minutes(i)));
    ASSERT_TRUE(result.isOk()) << result.status().toString();
    EXPECT_EQ(result->files, files_);
    expectSameAsReconcilePki(result, cluster_, files_, at(std::chrono::minutes(i)));
  }
  EXPECT_EQ(cache_.stats().misses, 1u);
  EXPECT_EQ(cache_.stats().hits, 2u);
  EXPECT_EQ(cache_.size(), 1u);
}

TEST_F(PkiCacheTest, ValidUntilIsTheFirstVerdictTheClockCanChange) {
  auto result = cache_.reconcile(cluster_, files_, options_);
  ASSERT_TRUE(result.isOk());
  // The 24 h token is the first to run short (an hour before it expires); every certificate
  // comes due months later.
  EXPECT_EQ(result->valid_until, result->token.expires - kTokenMinimumLeft);
  auto before = cache_.reconcile(cluster_, files_, at(std::chrono::hours(22)));
  ASSERT_TRUE(before.isOk());
  EXPECT_EQ(cache_.stats().hits, 1u);
  // Past it the set is judged again, and the short token replaced as reconcilePki would.
  auto after = cache_.reconcile(cluster_, files_, at(std::chrono::hours(23) + std::chrono::minutes(30)));
  ASSERT_TRUE(after.isOk());
  EXPECT_EQ(cache_.stats().misses, 2u);
  EXPECT_NE(after->token.toString(), result->token.toString());
  expectSameAsReconcilePki(after, cluster_, files_,
                           at(std::chrono::hours(23) + std::chrono::minutes(30)));
}

TEST_F(PkiCacheTest, AChangedFileIsJudgedAgain) {
  ASSERT_TRUE(cache_.reconcile(cluster_, files_, options_).isOk());
  PkiFiles damaged = files_;
  damaged.at("pki/apiserver.crt").data = files_.at("pki/front-proxy-client.crt").data;
  auto result = cache_.reconcile(cluster_, damaged, options_);
  EXPECT_EQ(cache_.stats().misses, 2u);
  expectSameAsReconcilePki(result, cluster_, damaged, options_);

  PkiFiles corrupt = files_;
  corrupt.at("pki/etcd/ca.crt").data = "not a certificate";
  auto error = cache_.reconcile(cluster_, corrupt, options_);
  EXPECT_FALSE(error.isOk());
  expectSameAsReconcilePki(error, cluster_, corrupt, options_);

  PkiFiles mode = files_;
  mode.at("pki/ca.key").mode = 0644;
  auto remoded = cache_.reconcile(cluster_, mode, options_);
  EXPECT_EQ(cache_.stats().misses, 4u);
  ASSERT_TRUE(remoded.isOk());
  EXPECT_EQ(remoded->files.at("pki/ca.key").mode, 0600u);
}

TEST_F(PkiCacheTest, AChangedClusterIsJudgedAgain) {
  ASSERT_TRUE(cache_.reconcile(cluster_, files_, options_).isOk());
  api::Cluster moved = cluster_;
  moved.spec.expose.hostname = "alpha.example.net";
  auto result = cache_.reconcile(moved, files_, options_);
  EXPECT_EQ(cache_.stats().misses, 2u);
  expectSameAsReconcilePki(result, moved, files_, options_);
  ASSERT_TRUE(result.isOk());
  EXPECT_NE(result->files.at("pki/apiserver.crt"), files_.at("pki/apiserver.crt"));
}

TEST_F(PkiCacheTest, ASetToCompleteIsNeverRemembered) {
  PkiFiles partial = files_;
  partial.erase("pki/front-proxy-client.crt");
  for (int i = 0; i < 2; ++i) {
    auto result = cache_.reconcile(cluster_, partial, options_);
    ASSERT_TRUE(result.isOk()) << result.status().toString();
    EXPECT_TRUE(result->files.contains("pki/front-proxy-client.crt"));
  }
  EXPECT_EQ(cache_.stats().misses, 2u);
  EXPECT_EQ(cache_.size(), 0u);
}

TEST_F(PkiCacheTest, ForgetAndOtherClustersAreApart) {
  ASSERT_TRUE(cache_.reconcile(cluster_, files_, options_).isOk());
  api::Cluster other = testCluster("beta");
  // beta holding alpha's files: the SANs and names differ, so it is judged on its own.
  auto result = cache_.reconcile(other, files_, options_);
  EXPECT_EQ(cache_.stats().misses, 2u);
  expectSameAsReconcilePki(result, other, files_, options_);
  cache_.forget("alpha");
  ASSERT_TRUE(cache_.reconcile(cluster_, files_, options_).isOk());
  EXPECT_EQ(cache_.stats().misses, 3u);
}

}  // namespace
}  // namespace herd::pki
