// The certificate table itself: order, references, names.
#include "pki/cert_table.h"

#include <gtest/gtest.h>

#include <set>

namespace herd::pki {
namespace {

TEST(CertTableTest, CasComeBeforeTheLeavesTheyIssue) {
  std::set<std::string_view> seen_cas;
  for (const auto& entry : certificateTable()) {
    if (entry.isCa()) {
      seen_cas.insert(entry.name);
    } else {
      EXPECT_TRUE(seen_cas.count(entry.ca))
          << entry.name << " is listed before its CA " << entry.ca;
    }
  }
}

TEST(CertTableTest, EveryCaReferenceResolvesToACa) {
  for (const auto& entry : certificateTable()) {
    if (entry.isCa()) continue;
    const CertEntry* ca = findCertEntry(entry.ca);
    ASSERT_NE(ca, nullptr) << entry.name << " names an unknown CA " << entry.ca;
    EXPECT_TRUE(ca->isCa()) << entry.name << " is issued by " << entry.ca << ", which is not a CA";
  }
}

TEST(CertTableTest, NamesAndKubeconfigsAreUnique) {
  std::set<std::string_view> names, kubeconfigs;
  for (const auto& entry : certificateTable()) {
    EXPECT_TRUE(names.insert(entry.name).second) << "duplicate " << entry.name;
    if (!entry.kubeconfig.empty()) {
      EXPECT_TRUE(kubeconfigs.insert(entry.kubeconfig).second) << "duplicate " << entry.kubeconfig;
    }
  }
}

TEST(CertTableTest, HasKubeadmLayoutAndHerdsOwnEntries) {
  for (auto name :
       {"ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca", "front-proxy-client",
        "etcd/ca", "etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client",
        "admin", "controller-manager", "scheduler", "herd"}) {
    EXPECT_NE(findCertEntry(name), nullptr) << name;
  }
}

TEST(CertTableTest, UsagesFitTheRole) {
  for (const auto& entry : certificateTable()) {
    if (entry.isCa()) {
      EXPECT_TRUE(entry.key_usage & kCertSign) << entry.name;
      EXPECT_EQ(entry.ext_key_usage, 0u) << entry.name;
      EXPECT_EQ(entry.sans, SanRule::kNone) << entry.name;
      continue;
    }
    EXPECT_FALSE(entry.key_usage & kCertSign) << entry.name;
    EXPECT_NE(entry.ext_key_usage, 0u) << entry.name;
    // A serving certificate without names would be useless; a client one needs none.
    EXPECT_EQ((entry.ext_key_usage & kServerAuth) != 0, entry.sans != SanRule::kNone) << entry.name;
    EXPECT_FALSE(entry.common_name.empty()) << entry.name;
    // Kubeconfig credentials are issued by the cluster CA the apiserver trusts for clients.
    if (!entry.kubeconfig.empty()) {
      EXPECT_EQ(entry.ca, "ca") << entry.name;
    }
  }
}

}  // namespace
}  // namespace herd::pki
