// The PKI-to-Secrets table and its two directions: every file of kubeadm's layout has exactly
// one place, under a valid data key; CA private keys sit alone; a set survives the round trip
// byte for byte and mode for mode; and what cannot be stored or read back is refused by name.
#include "provider/kubernetes/credentials.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "common/base64.h"
#include "pki/cert_table.h"
#include "provider/kubernetes/objects.h"
#include "provider/kubernetes/test_specs.h"
#include "support/openapi/openapi_schemas.h"

namespace herd::provider::kubernetes {
namespace {

using nlohmann::json;

TEST(CredentialTableTest, EveryLayoutPathHasExactlyOnePlace) {
  std::set<std::string> table_paths;
  for (const auto& f : credentialTable()) {
    EXPECT_TRUE(table_paths.insert(std::string(f.path)).second) << f.path << " listed twice";
  }
  std::set<std::string> layout;
  for (const auto& p : pki::layout::allPaths()) layout.insert(p);
  EXPECT_EQ(table_paths, layout);
}

TEST(CredentialTableTest, SecretNamesAndKeysAreValidAndUnique) {
  // Secret data keys (IsConfigMapKey) and object names (DNS-1123 subdomain).
  const std::regex key_re("[-._a-zA-Z0-9]+");
  const std::regex name_re("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& f : credentialTable()) {
    EXPECT_TRUE(std::regex_match(std::string(f.key), key_re)) << f.key;
    EXPECT_TRUE(std::regex_match(std::string(f.secret), name_re)) << f.secret;
    EXPECT_TRUE(seen.insert({std::string(f.secret), std::string(f.key)}).second)
        << f.secret << "/" << f.key << " twice";
  }
}

TEST(CredentialTableTest, EachCaPrivateKeyHasASecretOfItsOwn) {
  int cas = 0;
  for (const auto& entry : pki::certificateTable()) {
    if (!entry.isCa()) continue;
    ++cas;
    const CredentialFile* key = findCredentialFile(pki::layout::keyPath(entry));
    ASSERT_NE(key, nullptr) << entry.name;
    for (const auto& f : credentialTable()) {
      if (f.secret == key->secret) {
        EXPECT_EQ(f.path, key->path) << f.path << " shares a Secret with the key of " << entry.name;
      }
    }
  }
  EXPECT_EQ(cas, 3);  // cluster, front-proxy and etcd CAs
}

TEST(CredentialTableTest, AdminKubeconfigIsWhereTheCliLooks) {
  const CredentialFile* admin = findCredentialFile("admin.conf");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(admin->secret, kAdminKubeconfigSecret);
  EXPECT_EQ(admin->key, "admin.conf");
  EXPECT_EQ(findCredentialFile("pki/nope.crt"), nullptr);
}

TEST(CredentialSecretsTest, RoundTripKeepsBytesAndModes) {
  auto files = testdata::pkiFiles();
  files["pki/sa.pub"].mode = 0640;  // an odd mode survives too
  files["tokens/bootstrap-token"].data = std::string("\0\xff binary\n", 10);
  auto secrets = credentialSecrets(testdata::cluster(), files);
  ASSERT_TRUE(secrets.isOk()) << secrets.status().toString();
  auto back = filesFromSecrets(*secrets);
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(*back, files);
}

TEST(CredentialSecretsTest, ASubsetMakesOnlyTheSecretsItNeeds) {
  pki::PkiFiles files = {{"admin.conf", {"kubeconfig\n", 0600}},
                         {"pki/ca.key", {"key\n", 0600}},
                         {"pki/ca.crt", {"cert\n", 0644}}};
  auto secrets = credentialSecrets(testdata::cluster(), files);
  ASSERT_TRUE(secrets.isOk());
  std::vector<std::string> names;
  for (const auto& s : *secrets) names.push_back(s["metadata"]["name"]);
  // The CA's key first, then its certificate: a store cut short between them leaves what the
  // next reconcile completes (pki::layout::storeRank).
  EXPECT_EQ(names, (std::vector<std::string>{"ca-key", "ca-certs", "admin-kubeconfig"}));
  const json& admin = (*secrets)[2];
  EXPECT_EQ(admin["metadata"]["namespace"], "herd-alpha");
  EXPECT_EQ(admin["metadata"]["labels"]["herd.io/cluster"], "alpha");
  EXPECT_EQ(admin["metadata"]["labels"]["herd.io/component"], "credentials");
  EXPECT_EQ(admin["metadata"]["ownerReferences"][0]["kind"], "Cluster");
  EXPECT_EQ(admin["metadata"]["annotations"][std::string(kFileModesAnnotation)], "admin.conf=0600");
  EXPECT_EQ(admin["data"]["admin.conf"], base64Encode("kubeconfig\n"));
  EXPECT_EQ(admin["type"], "Opaque");
}

TEST(CredentialSecretsTest, EveryCaKeyIsStoredBeforeTheCaCertificatesAndTheRest) {
  auto secrets = credentialSecrets(testdata::cluster(), testdata::pkiFiles());
  ASSERT_TRUE(secrets.isOk()) << secrets.status().toString();
  std::vector<std::string> names;
  for (const auto& s : *secrets) names.push_back(s["metadata"]["name"]);
  ASSERT_GE(names.size(), 5u);
  std::set<std::string> first_three(names.begin(), names.begin() + 3);
  EXPECT_EQ(first_three, (std::set<std::string>{"ca-key", "etcd-ca-key", "front-proxy-ca-key"}));
  EXPECT_EQ(names[3], "ca-certs");
  EXPECT_TRUE(std::is_sorted(names.begin() + 4, names.end()));
}

TEST(CredentialSecretsTest, AFileWithoutAPlaceIsRefused) {
  pki::PkiFiles files = {{"pki/extra/thing.key", {"x", 0600}}};
  auto secrets = credentialSecrets(testdata::cluster(), files);
  ASSERT_FALSE(secrets.isOk());
  EXPECT_EQ(secrets.status().code(), Code::kInvalid);
  EXPECT_NE(secrets.status().message().find("pki/extra/thing.key"), std::string::npos);
}

TEST(CredentialSecretsTest, UnreadableSecretsAreRefusedByName) {
  auto secrets = *credentialSecrets(testdata::cluster(), testdata::pkiFiles());
  json bad_key = secrets[0];
  bad_key["data"]["stray"] = base64Encode("x");
  auto r = filesFromSecrets({bad_key});
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("stray"), std::string::npos) << r.status().message();

  json bad_data = secrets[0];
  bad_data["data"].begin().value() = "not base64!";
  EXPECT_FALSE(filesFromSecrets({bad_data}).isOk());

  json bad_modes = secrets[0];
  bad_modes["metadata"]["annotations"][std::string(kFileModesAnnotation)] = "admin.conf=0999";
  EXPECT_FALSE(filesFromSecrets({bad_modes}).isOk());
}

TEST(CredentialSecretsTest, WithoutModesFilesComeBackPrivateAndOtherSecretsAreIgnored) {
  auto secrets = *credentialSecrets(testdata::cluster(), {{"pki/ca.crt", {"cert\n", 0644}}});
  secrets[0]["metadata"]["annotations"].erase(std::string(kFileModesAnnotation));
  json foreign = {{"metadata", {{"name", "someone-elses"}}}, {"data", {{"x", "eA=="}}}};
  auto back = filesFromSecrets({secrets[0], foreign});
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(*back, (pki::PkiFiles{{"pki/ca.crt", {"cert\n", 0600}}}));
}

TEST(CredentialSecretsTest, SecretsMatchTheKubernetesSchema) {
  herd::testing::OpenApiSchemas schemas;
  if (!schemas.available()) GTEST_SKIP() << "../shared/kubernetes is not beside the repository";
  auto secrets = credentialSecrets(testdata::cluster(), testdata::pkiFiles());
  ASSERT_TRUE(secrets.isOk());
  for (const auto& s : *secrets) {
    auto errors = schemas.errors(s);
    EXPECT_TRUE(errors.empty()) << s["metadata"]["name"] << ": " << errors.front();
  }
}

}  // namespace
}  // namespace herd::provider::kubernetes
