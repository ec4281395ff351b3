// Re-running reconcilePki on existing material: keep what is valid, renew only what must be,
// never replace a CA, and clear errors for material that cannot be trusted.
#include <gtest/gtest.h>

#include <algorithm>

#include "api/defaults.h"
#include "pki/certificate.h"
#include "pki/kubeconfig.h"
#include "pki_test_util.h"

namespace herd::pki {
namespace {

using testing::testCluster;

std::map<std::string, PkiChange> byItem(const PkiResult& result) {
  std::map<std::string, PkiChange> out;
  for (const auto& c : result.changes) out[c.item] = c;
  return out;
}

Certificate certAt(const PkiFiles& files, const std::string& path) {
  std::string pem = files.at(path).data;
  if (path.ends_with(".conf")) pem = parseKubeconfig(pem)->client_cert_pem;
  return std::move(Certificate::fromPem(pem)).value();
}

class RotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.now = now_;
    auto first = generatePki(cluster_, options_);
    ASSERT_TRUE(first.isOk()) << first.status().toString();
    files_ = first->files;
  }
  Result<PkiResult> again(const api::Cluster& cluster, Clock::duration later = {}) {
    PkiOptions options = options_;
    options.now = now_ + later;
    return reconcilePki(cluster, files_, options);
  }

  TimePoint now_ = std::chrono::floor<std::chrono::seconds>(Clock::now());
  api::Cluster cluster_ = testCluster("alpha");
  PkiOptions options_;
  PkiFiles files_;
};

TEST_F(RotationTest, RerunKeepsEverythingByteForByte) {
  auto result = again(cluster_, std::chrono::hours(1));
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  EXPECT_EQ(result->files, files_);
  for (const auto& change : result->changes) {
    EXPECT_EQ(change.action, PkiAction::kKept) << change.item << ": " << change.reason;
  }
}

TEST_F(RotationTest, LeavesWithin30DaysOfExpiryAreRenewedBySameCaWithSameKey) {
  auto result = again(cluster_, Days(340));
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  auto changes = byItem(*result);
  for (const auto& entry : certificateTable()) {
    const PkiChange& change = changes.at(std::string(entry.name));
    if (entry.isCa()) {
      EXPECT_EQ(change.action, PkiAction::kKept) << entry.name;
      EXPECT_EQ(result->files.at(layout::certPath(entry)), files_.at(layout::certPath(entry)))
          << entry.name;
      continue;
    }
    EXPECT_EQ(change.action, PkiAction::kRenewed) << entry.name;
    EXPECT_NE(change.reason.find("expires in 25 days"), std::string::npos) << change.reason;
    Certificate renewed = certAt(result->files, layout::certPath(entry));
    Certificate old = certAt(files_, layout::certPath(entry));
    Certificate ca = certAt(result->files, layout::certPath(*findCertEntry(entry.ca)));
    EXPECT_TRUE(renewed.verifySignedBy(ca).isOk()) << entry.name;
    EXPECT_NE(renewed.serialHex(), old.serialHex());
    EXPECT_GT(renewed.notAfter(), old.notAfter());
    // Same key: components holding the key need only the new certificate.
    if (entry.kubeconfig.empty()) {
      EXPECT_EQ(result->files.at(layout::keyPath(entry)), files_.at(layout::keyPath(entry)))
          << entry.name;
    }
  }
  // 31 days before expiry: nothing to do yet.
  auto early = again(cluster_, Days(365 - 31));
  ASSERT_TRUE(early.isOk());
  EXPECT_EQ(early->files.at("pki/apiserver.crt"), files_.at("pki/apiserver.crt"));
}

TEST_F(RotationTest, ExpiredLeafIsRenewed) {
  auto result = again(cluster_, Days(400));
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  EXPECT_EQ(byItem(*result).at("apiserver").action, PkiAction::kRenewed);
  EXPECT_NE(byItem(*result).at("apiserver").reason.find("expired on"), std::string::npos);
}

TEST_F(RotationTest, SanChangeRenewsOnlyTheCertificatesThatCarryThem) {
  api::Cluster moved = cluster_;
  moved.spec.expose.hostname = "alpha.example.net";
  auto result = again(moved);
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  auto changes = byItem(*result);
  EXPECT_EQ(changes.at("apiserver").action, PkiAction::kRenewed);
  EXPECT_NE(changes.at("apiserver").reason.find("+DNS:alpha.example.net"), std::string::npos)
      << changes.at("apiserver").reason;
  EXPECT_NE(changes.at("apiserver").reason.find("-DNS:alpha.herd.localhost"), std::string::npos);
  EXPECT_EQ(changes.at("etcd/server").action, PkiAction::kRenewed);
  EXPECT_EQ(changes.at("admin").action, PkiAction::kUpdated)
      << "admin.conf points at the new hostname";
  EXPECT_EQ(changes.at("cluster-info").action, PkiAction::kUpdated);
  for (auto kept : {"ca", "etcd/ca", "front-proxy-ca", "etcd/peer", "apiserver-kubelet-client",
                    "front-proxy-client", "controller-manager", "scheduler", "herd", "sa",
                    "bootstrap-token", "ssh/host", "ssh/node"}) {
    EXPECT_EQ(changes.at(kept).action, PkiAction::kKept) << kept;
  }
  EXPECT_NE(result->files.at("admin.conf").data.find("https://alpha.example.net:443"),
            std::string::npos);
}

TEST_F(RotationTest, MoreEtcdMembersRenewTheEtcdServingCertificates) {
  api::Cluster bigger = cluster_;
  bigger.spec.controlPlane.etcd.replicas = 5;
  auto result = again(bigger);
  ASSERT_TRUE(result.isOk());
  auto changes = byItem(*result);
  EXPECT_EQ(changes.at("etcd/server").action, PkiAction::kRenewed);
  EXPECT_EQ(changes.at("etcd/peer").action, PkiAction::kRenewed);
  EXPECT_EQ(changes.at("apiserver").action, PkiAction::kKept);
  auto sans = certAt(result->files, "pki/etcd/peer.crt").sans();
  EXPECT_TRUE(std::count(sans.dns.begin(), sans.dns.end(), "etcd-4.etcd.herd-alpha.svc"));
}

TEST_F(RotationTest, CaIsNeverRegeneratedNorRenewedQuietly) {
  // Close to the CA's end (10 years less 20 days): the leaves are renewed, the CA is kept
  // with a warning, and its leaves are capped at its own expiry.
  auto result = again(cluster_, Days(3650 - 20));
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  auto changes = byItem(*result);
  EXPECT_EQ(changes.at("ca").action, PkiAction::kKept);
  EXPECT_NE(changes.at("ca").reason.find("CA expires in"), std::string::npos)
      << changes.at("ca").reason;
  EXPECT_EQ(result->files.at("pki/ca.key"), files_.at("pki/ca.key"));
  EXPECT_LE(certAt(result->files, "pki/apiserver.crt").notAfter(),
            certAt(files_, "pki/ca.crt").notAfter());
}

TEST_F(RotationTest, ExpiredCaIsAClearError) {
  auto result = again(cluster_, Days(3651));
  ASSERT_FALSE(result.isOk());
  EXPECT_NE(result.status().message().find("pki/ca.crt: the CA expired on"), std::string::npos)
      << result.status().message();
}

TEST_F(RotationTest, CorruptPemIsAClearError) {
  files_["pki/apiserver.crt"].data =
      "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n";
  auto result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().message(),
            "pki/apiserver.crt: not a PEM certificate (corrupt or truncated)");

  files_ = generatePki(cluster_, options_)->files;
  files_["pki/etcd/peer.key"].data.resize(files_["pki/etcd/peer.key"].data.size() / 2);
  result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().message(),
            "pki/etcd/peer.key: not a PEM private key (corrupt or truncated)");

  files_ = generatePki(cluster_, options_)->files;
  files_["admin.conf"].data = "apiVersion: v1\nkind: Config\n";
  result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_NE(result.status().message().find("admin.conf"), std::string::npos)
      << result.status().message();
}

TEST_F(RotationTest, MismatchedKeyIsAClearError) {
  files_["pki/apiserver.key"] = files_["pki/apiserver-kubelet-client.key"];
  auto result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().message(),
            "pki/apiserver.crt: the private key in pki/apiserver.key does not belong to this "
            "certificate");
  EXPECT_EQ(result.status().code(), Code::kFailedPrecondition);
}

TEST_F(RotationTest, ForeignCaIsAClearError) {
  auto other = generatePki(testCluster("beta"), options_);
  ASSERT_TRUE(other.isOk());
  files_["pki/etcd/server.crt"] = other->files.at("pki/etcd/server.crt");
  files_["pki/etcd/server.key"] = other->files.at("pki/etcd/server.key");
  auto result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_NE(result.status().message().find(
                "pki/etcd/server.crt: not issued by this tenant's etcd/ca (foreign CA)"),
            std::string::npos)
      << result.status().message();
}

TEST_F(RotationTest, MissingCaHalfOrCaUnderExistingLeavesIsAnError) {
  PkiFiles saved = files_;
  files_.erase("pki/ca.key");
  auto result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_NE(result.status().message().find("pki/ca.key is missing"), std::string::npos)
      << result.status().message();

  files_ = saved;
  files_.erase("pki/etcd/ca.crt");
  files_.erase("pki/etcd/ca.key");
  result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_NE(
      result.status().message().find("pki/etcd/ca.crt is missing but certificates it issued exist"),
      std::string::npos)
      << result.status().message();
}

TEST_F(RotationTest, ACaCertificateLostBesideItsKeyIsIssuedAgainWithThatKey) {
  const Certificate old_ca = certAt(files_, "pki/ca.crt");
  files_.erase("pki/ca.crt");
  auto result = again(cluster_);
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  auto changes = byItem(*result);
  EXPECT_EQ(changes.at("ca").action, PkiAction::kCreated);
  EXPECT_NE(changes.at("ca").reason.find("stored key"), std::string::npos)
      << changes.at("ca").reason;
  EXPECT_EQ(result->files.at("pki/ca.key"), files_.at("pki/ca.key"));
  const Certificate new_ca = certAt(result->files, "pki/ca.crt");
  // What the lost certificate's key signed still verifies: the apiserver's serving
  // certificate is kept, not reissued.
  EXPECT_TRUE(certAt(files_, "pki/apiserver.crt").verifySignedBy(new_ca).isOk());
  EXPECT_TRUE(certAt(files_, "pki/apiserver.crt").verifySignedBy(old_ca).isOk());
  EXPECT_EQ(result->files.at("pki/apiserver.crt"), files_.at("pki/apiserver.crt"));
}

// A store that writes one item at a time (a Secret, a file) in layout::storeRank's order and
// is killed after any of them leaves a set that reconcilePki completes, keeping every CA key.
TEST_F(RotationTest, AStoreCutShortAnywhereIsCompletedWithTheSameCas) {
  std::vector<std::string> order;
  for (const auto& [path, file] : files_) order.push_back(path);
  std::stable_sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
    return layout::storeRank(a) < layout::storeRank(b);
  });
  for (size_t stored = 0; stored <= order.size(); ++stored) {
    SCOPED_TRACE(stored == 0 ? std::string("nothing stored")
                             : "stored up to " + order[stored - 1]);
    PkiFiles partial;
    for (size_t i = 0; i < stored; ++i) partial[order[i]] = files_.at(order[i]);
    auto result = reconcilePki(cluster_, partial, options_);
    ASSERT_TRUE(result.isOk()) << result.status().toString();
    for (const auto& entry : certificateTable()) {
      if (!entry.isCa()) continue;
      const std::string key = layout::keyPath(entry);
      if (partial.contains(key)) {
        EXPECT_EQ(result->files.at(key), partial.at(key)) << key;
      }
      const Certificate ca = certAt(result->files, layout::certPath(entry));
      for (const auto& leaf : certificateTable()) {
        if (leaf.ca != entry.name) continue;
        EXPECT_TRUE(certAt(result->files, layout::certPath(leaf)).verifySignedBy(ca).isOk())
            << leaf.name;
      }
    }
  }
}

TEST_F(RotationTest, MissingLeafIsReissuedAndTheRestKept) {
  files_.erase("pki/front-proxy-client.crt");
  files_.erase("pki/front-proxy-client.key");
  files_.erase("scheduler.conf");
  auto result = again(cluster_);
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  auto changes = byItem(*result);
  EXPECT_EQ(changes.at("front-proxy-client").action, PkiAction::kCreated);
  EXPECT_EQ(changes.at("scheduler").action, PkiAction::kCreated);
  EXPECT_EQ(changes.at("apiserver").action, PkiAction::kKept);
  EXPECT_TRUE(certAt(result->files, "pki/front-proxy-client.crt")
                  .verifySignedBy(certAt(result->files, "pki/front-proxy-ca.crt"))
                  .isOk());
}

TEST_F(RotationTest, ExpiredTokenIsReplacedAndClusterInfoResigned) {
  auto result = again(cluster_, std::chrono::hours(25));
  ASSERT_TRUE(result.isOk());
  auto changes = byItem(*result);
  EXPECT_EQ(changes.at("bootstrap-token").action, PkiAction::kRenewed);
  EXPECT_EQ(changes.at("cluster-info").action, PkiAction::kUpdated);
  EXPECT_NE(result->files.at(std::string(layout::kToken)), files_.at(std::string(layout::kToken)));
  EXPECT_EQ(changes.at("apiserver").action, PkiAction::kKept);
}

TEST_F(RotationTest, ServiceAccountKeyMismatchIsAnError) {
  auto other = generatePki(testCluster("beta"), options_);
  files_["pki/sa.pub"] = other->files.at("pki/sa.pub");
  auto result = again(cluster_);
  ASSERT_FALSE(result.isOk());
  EXPECT_EQ(result.status().message(), "pki/sa.pub: the public key does not belong to pki/sa.key");
}

TEST_F(RotationTest, CheckReportsProblemsAndDueRenewals) {
  auto clean = checkPki(files_, &cluster_, options_);
  for (const auto& item : clean) {
    EXPECT_TRUE(item.problem.empty()) << item.item << ": " << item.problem;
    EXPECT_TRUE(item.warning.empty()) << item.item << ": " << item.warning;
  }
  files_["pki/apiserver.key"] = files_["pki/front-proxy-client.key"];
  PkiOptions later = options_;
  later.now = now_ + Days(350);
  auto items = checkPki(files_, &cluster_, later);
  std::map<std::string, PkiCheckItem> by;
  for (auto& i : items) by[i.item] = i;
  EXPECT_NE(by.at("apiserver").problem.find("does not belong"), std::string::npos);
  EXPECT_NE(by.at("etcd/server").warning.find("renewal due: expires in 15 days"), std::string::npos)
      << by.at("etcd/server").warning;
  EXPECT_TRUE(by.at("ca").problem.empty());
}

}  // namespace
}  // namespace herd::pki
