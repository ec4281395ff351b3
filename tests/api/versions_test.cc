#include "api/versions.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "api/manifests.h"
#include "common/process.h"
#include "support/test_env.h"

namespace herd::api {
namespace {

TEST(VersionsTest, TableIsOrderedAndTheNewestIsTheDefault) {
  auto releases = supportedReleases();
  ASSERT_FALSE(releases.empty());
  for (size_t i = 1; i < releases.size(); ++i) {
    int prev = std::stoi(std::string(releases[i - 1].minor.substr(2)));
    int cur = std::stoi(std::string(releases[i].minor.substr(2)));
    EXPECT_EQ(cur, prev + 1) << "minor releases are consecutive, oldest first";
  }
  EXPECT_EQ(releases.back().minor, "1.36");
  for (const auto& r : releases) {
    EXPECT_TRUE(r.patch.starts_with(std::string(r.minor) + ".")) << r.minor << ": " << r.patch;
    EXPECT_TRUE(r.etcd_image_tag.starts_with(std::string(r.etcd) + "-")) << r.minor;
  }
}

TEST(VersionsTest, TheDefaultIsTheReleaseWhoseFlagsAreRecorded) {
  EXPECT_EQ(defaultRelease().minor, "1.32");
  EXPECT_EQ(defaultRelease().minor, kRecordedFlagsMinor);
}

TEST(VersionsTest, FindReleaseAcceptsMinorAndPatch) {
  EXPECT_EQ(findRelease("1.32"), &defaultRelease());
  EXPECT_EQ(findRelease("1.32.7"), &defaultRelease());
  EXPECT_NE(findRelease("1.30"), nullptr);
  ASSERT_NE(findRelease("1.35.1"), nullptr);
  EXPECT_EQ(findRelease("1.35.1")->minor, "1.35");
  for (const char* bad : {"1.29", "1.37", "1", "", "1.32.", "1.32.x", "v1.32", "1.320"}) {
    EXPECT_EQ(findRelease(bad), nullptr) << bad;
  }
}

TEST(FlagsTest, KnownFlagsComeFromTheRecordedHelp) {
  EXPECT_TRUE(isKnownFlag(Binary::kKubeApiserver, "audit-log-path"));
  EXPECT_TRUE(isKnownFlag(Binary::kKubeApiserver, "v"));
  EXPECT_FALSE(isKnownFlag(Binary::kKubeApiserver, "leader-elect"));
  EXPECT_TRUE(isKnownFlag(Binary::kKubeControllerManager, "leader-elect"));
  EXPECT_TRUE(isKnownFlag(Binary::kKubeScheduler, "leader-elect"));
  EXPECT_TRUE(isKnownFlag(Binary::kEtcd, "snapshot-count"));
  EXPECT_FALSE(isKnownFlag(Binary::kEtcd, "audit-log-path"));
}

TEST(FlagsTest, ANewerMinorKnowsTheRecordedFlagsMinusItsRemovals) {
  // --cloud-config left kube-apiserver in 1.33; kube-controller-manager keeps its own.
  EXPECT_EQ(flagRemovedIn(Binary::kKubeApiserver, "cloud-config", "1.33"), "Kubernetes 1.33");
  EXPECT_EQ(flagRemovedIn(Binary::kKubeApiserver, "cloud-config", "1.35.2"), "Kubernetes 1.33");
  EXPECT_EQ(flagRemovedIn(Binary::kKubeApiserver, "cloud-config", "1.32"), "");
  EXPECT_EQ(flagRemovedIn(Binary::kKubeControllerManager, "cloud-config", "1.35"), "");
  EXPECT_FALSE(isKnownFlag(Binary::kKubeApiserver, "cloud-config", "1.34"));
  EXPECT_TRUE(isKnownFlag(Binary::kKubeControllerManager, "cloud-config", "1.34"));
  for (const auto& r : supportedReleases()) {
    EXPECT_TRUE(isKnownFlag(Binary::kKubeApiserver, "etcd-servers", r.minor)) << r.minor;
    EXPECT_FALSE(isKnownFlag(Binary::kKubeApiserver, "leader-elect", r.minor)) << r.minor;
    // Every removal names a flag of the recorded --help or one already gone from it, of a
    // minor newer than the recorded one.
    if (!r.removed_flags.empty()) {
      EXPECT_GT(std::stoi(std::string(r.minor.substr(2))),
                std::stoi(std::string(kRecordedFlagsMinor.substr(2))));
    }
  }
  EXPECT_FALSE(isKnownFlag(Binary::kKubeApiserver, "etcd-servers", "1.99"));
  EXPECT_FALSE(isKnownFlag(Binary::kKubeApiserver, "etcd-servers", "garbage"));
}

TEST(FlagsTest, EtcdFlagsFollowThePinnedEtcdRelease) {
  // etcd 3.6 (pinned from 1.34 on) dropped the v2 API and the v2 proxy; 3.5 kept them.
  for (const char* flag :
       {"enable-v2", "experimental-enable-v2v3", "proxy", "proxy-read-timeout"}) {
    EXPECT_TRUE(isKnownFlag(Binary::kEtcd, flag)) << flag << " is in the recorded 3.4 --help";
    EXPECT_TRUE(isKnownFlag(Binary::kEtcd, flag, "1.33")) << flag;
    EXPECT_FALSE(isKnownFlag(Binary::kEtcd, flag, "1.34")) << flag;
    EXPECT_EQ(flagRemovedIn(Binary::kEtcd, flag, "1.36.0"), "etcd 3.6") << flag;
  }
  EXPECT_TRUE(isKnownFlag(Binary::kEtcd, "listen-metrics-urls", "1.36"));
  EXPECT_EQ(flagRemovedIn(Binary::kEtcd, "enable-v2", "1.30"), "");
  // The Kubernetes removals are per binary: --cloud-config of the apiserver is not etcd's.
  EXPECT_EQ(flagRemovedIn(Binary::kEtcd, "cloud-config", "1.36"), "");
}

TEST(FlagsTest, ExtraArgsAreCheckedAgainstTheClustersVersion) {
  auto load = [](const std::string& version) {
    return loadOneCluster(
        "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: demo\nspec:\n"
        "  version: \"" +
        version +
        "\"\n  controlPlane:\n    etcd:\n      extraArgs:\n"
        "        enable-v2: \"false\"\n");
  };
  EXPECT_TRUE(load("1.33").isOk()) << load("1.33").status().message();
  auto newer = load("1.34");
  ASSERT_FALSE(newer.isOk());
  EXPECT_NE(newer.status().message().find(
                "spec.controlPlane.etcd.extraArgs[enable-v2]: Invalid value: \"enable-v2\": etcd "
                "dropped this flag in etcd 3.6"),
            std::string::npos)
      << newer.status().message();
}

TEST(FlagsTest, ManagedTablesAreSortedAndEveryEntryIsARealFlag) {
  // isManagedFlag binary-searches the table; a managed flag the binary lacks would be a typo.
  for (Binary b : kAllBinaries) {
    auto flags = managedFlags(b);
    ASSERT_FALSE(flags.empty()) << binaryName(b);
    EXPECT_TRUE(std::is_sorted(flags.begin(), flags.end())) << binaryName(b);
    for (auto f : flags) {
      EXPECT_TRUE(isManagedFlag(b, f)) << f;
      EXPECT_TRUE(isKnownFlag(b, f)) << binaryName(b) << ": " << f;
    }
  }
  EXPECT_TRUE(isManagedFlag(Binary::kKubeApiserver, "etcd-servers"));
  EXPECT_FALSE(isManagedFlag(Binary::kKubeApiserver, "audit-log-path"));
}

TEST(FlagsTest, GeneratedTableMatchesTheRecordedHelp) {
  if (testing::sharedDir().empty()) GTEST_SKIP() << "../shared is not beside the repository";
  auto r = runCommand({testing::sourceDir() + "/scripts/gen-flag-tables", testing::sharedDir()});
  ASSERT_TRUE(r.isOk());
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, testing::readFileOrDie(testing::sourceDir() + "/src/api/flag_tables.inc"))
      << "run scripts/gen-flag-tables > src/api/flag_tables.inc";
}

}  // namespace
}  // namespace herd::api
