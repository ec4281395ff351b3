// Issuing a tenant's PKI: what each certificate says, read back both by herd and by the
// openssl command line, and that `openssl verify` accepts each leaf against its own CA only.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <set>

#include "api/defaults.h"
#include "api/naming.h"
#include "common/files.h"
#include "pki/certificate.h"
#include "pki/kubeconfig.h"
#include "pki_test_util.h"

namespace herd::pki {
namespace {

using testing::issueInto;
using testing::run;
using testing::testCluster;

Certificate certOf(const PkiResult& result, const CertEntry& entry) {
  std::string pem = result.files.at(layout::certPath(entry)).data;
  if (!entry.kubeconfig.empty()) pem = parseKubeconfig(pem)->client_cert_pem;
  auto cert = Certificate::fromPem(pem);
  EXPECT_TRUE(cert.isOk()) << entry.name;
  return std::move(cert).value();
}

// A leaf's certificate as a file: pki/<name>.crt, or extracted from its kubeconfig.
std::string leafFile(const std::string& dir, const CertEntry& entry, const std::string& scratch) {
  if (entry.kubeconfig.empty()) return dir + "/" + layout::certPath(entry);
  std::string path = scratch + "/" + std::string(entry.name) + ".crt";
  testing::extractKubeconfigCert(dir + "/" + std::string(entry.kubeconfig), path);
  return path;
}

TEST(IssuanceTest, SubjectsUsagesAndSansMatchTheTable) {
  api::Cluster cluster = testCluster("alpha");
  auto result = generatePki(cluster, {});
  ASSERT_TRUE(result.isOk()) << result.status().toString();
  for (const auto& entry : certificateTable()) {
    Certificate cert = certOf(*result, entry);
    EXPECT_EQ(cert.commonName(), commonNameFor(entry, &cluster)) << entry.name;
    std::vector<std::string> orgs;
    if (!entry.organization.empty()) orgs.emplace_back(entry.organization);
    EXPECT_EQ(cert.organizations(), orgs) << entry.name;
    EXPECT_EQ(cert.isCa(), entry.isCa()) << entry.name;
    EXPECT_EQ(cert.keyUsage(), entry.key_usage) << entry.name;
    EXPECT_EQ(cert.extKeyUsage(), entry.ext_key_usage) << entry.name;
    EXPECT_EQ(cert.sans(), sansFor(entry, cluster)) << entry.name;
  }
}

TEST(IssuanceTest, ApiServerSansCoverEveryWayToReachIt) {
  api::Cluster cluster = testCluster("alpha");
  auto result = generatePki(cluster, {});
  ASSERT_TRUE(result.isOk());
  SubjectAltNames sans = certOf(*result, *findCertEntry("apiserver")).sans();
  std::set<std::string> dns(sans.dns.begin(), sans.dns.end());
  for (auto name : {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local", "alpha.herd.localhost",
                    "kube-apiserver.herd-alpha", "kube-apiserver.herd-alpha.svc",
                    "kube-apiserver.herd-alpha.svc.cluster.local", "localhost"}) {
    EXPECT_TRUE(dns.count(name)) << name << " missing from " << sans.toString();
  }
  EXPECT_EQ(sans.ips, (std::vector<std::string>{"10.96.0.1", "127.0.0.1"}));

  SubjectAltNames etcd = certOf(*result, *findCertEntry("etcd/server")).sans();
  std::set<std::string> etcd_dns(etcd.dns.begin(), etcd.dns.end());
  for (auto name :
       {"etcd.alpha.herd.localhost", "etcd-0.etcd.herd-alpha.svc", "etcd-1.etcd.herd-alpha.svc",
        "etcd-2.etcd.herd-alpha.svc.cluster.local", "localhost"}) {
    EXPECT_TRUE(etcd_dns.count(name)) << name << " missing from " << etcd.toString();
  }
  EXPECT_FALSE(etcd_dns.count("etcd-3.etcd.herd-alpha.svc")) << "only the 3 default members";
}

TEST(IssuanceTest, CustomServiceCidrAndDomainReachTheSans) {
  api::Cluster cluster;
  cluster.metadata.name = "gamma";
  cluster.spec.network.serviceCIDR = "172.20.0.0/16";
  cluster.spec.network.dnsDomain = "corp.internal";
  cluster.spec.expose.hostname = "api.gamma.example.com";
  api::applyDefaults(cluster);
  auto result = generatePki(cluster, {});
  ASSERT_TRUE(result.isOk());
  SubjectAltNames sans = certOf(*result, *findCertEntry("apiserver")).sans();
  EXPECT_EQ(sans.ips.front(), "127.0.0.1");
  EXPECT_EQ(sans.ips.back(), "172.20.0.1");
  std::set<std::string> dns(sans.dns.begin(), sans.dns.end());
  EXPECT_TRUE(dns.count("kubernetes.default.svc.corp.internal"));
  EXPECT_TRUE(dns.count("api.gamma.example.com"));
  SubjectAltNames etcd = certOf(*result, *findCertEntry("etcd/server")).sans();
  EXPECT_TRUE(std::count(etcd.dns.begin(), etcd.dns.end(), "etcd.api.gamma.example.com"));
}

TEST(IssuanceTest, SerialsAreRandom128BitAndValidityIsKubeadms) {
  auto now = std::chrono::floor<std::chrono::seconds>(Clock::now());
  PkiOptions options;
  options.now = now;
  auto result = generatePki(testCluster("alpha"), options);
  ASSERT_TRUE(result.isOk());
  std::set<std::string> serials;
  for (const auto& entry : certificateTable()) {
    Certificate cert = certOf(*result, entry);
    EXPECT_EQ(cert.serialBits(), 127) << entry.name;  // 16 random bytes, top bit cleared, next set
    EXPECT_TRUE(serials.insert(cert.serialHex()).second) << "repeated serial";
    auto days = std::chrono::duration_cast<Days>(cert.notAfter() - now).count();
    EXPECT_EQ(days, entry.isCa() ? 3650 : 365) << entry.name;
    EXPECT_LE(cert.notBefore(), now);
  }
}

TEST(IssuanceTest, KeysMatchTheirCertificatesAndPrivateFilesAre0600) {
  auto result = generatePki(testCluster("alpha"), {});
  ASSERT_TRUE(result.isOk());
  for (const auto& entry : certificateTable()) {
    if (!entry.kubeconfig.empty()) continue;
    auto key = PrivateKey::fromPem(result->files.at(layout::keyPath(entry)).data);
    ASSERT_TRUE(key.isOk()) << entry.name;
    EXPECT_EQ(key->algorithm(), KeyAlgorithm::kEcdsaP256);
    EXPECT_TRUE(certOf(*result, entry).matchesKey(*key)) << entry.name;
    EXPECT_EQ(result->files.at(layout::keyPath(entry)).mode, 0600u);
    EXPECT_EQ(result->files.at(layout::certPath(entry)).mode, 0644u);
  }
  for (const auto& [path, file] : result->files) {
    bool secret = path.ends_with(".key") || path.ends_with(".conf") ||
                  path.ends_with("_ed25519_key") || path.starts_with("tokens/bootstrap-token");
    EXPECT_EQ(file.mode, secret ? 0600u : 0644u) << path;
  }
}

TEST(IssuanceTest, OpensslVerifyAcceptsOwnCaAndRejectsAnotherTenants) {
  herd::testing::TempDir alpha_dir, beta_dir, scratch;
  issueInto(testCluster("alpha"), alpha_dir.path());
  issueInto(testCluster("beta"), beta_dir.path());
  int leaves = 0;
  for (const auto& entry : certificateTable()) {
    if (entry.isCa()) continue;
    ++leaves;
    std::string leaf = leafFile(alpha_dir.path(), entry, scratch.path());
    const CertEntry& ca = *findCertEntry(entry.ca);
    std::string purpose = entry.ext_key_usage & kServerAuth ? "sslserver" : "sslclient";
    auto own = run({"openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile",
                    alpha_dir.path() + "/" + layout::certPath(ca), leaf});
    EXPECT_EQ(own.exit_code, 0) << entry.name << ": " << own.out << own.err;
    EXPECT_NE(own.out.find(": OK"), std::string::npos) << entry.name;
    auto foreign =
        run({"openssl", "verify", "-CAfile", beta_dir.path() + "/" + layout::certPath(ca), leaf});
    EXPECT_NE(foreign.exit_code, 0) << entry.name << " verified against beta's " << ca.name;
  }
  EXPECT_EQ(leaves, 12);
}

TEST(IssuanceTest, OpensslReadsBackSubjectUsagesAndSans) {
  herd::testing::TempDir dir;
  issueInto(testCluster("alpha"), dir.path());
  auto text =
      run({"openssl", "x509", "-noout", "-subject", "-ext",
           "keyUsage,extendedKeyUsage,subjectAltName", "-in", dir.file("pki/apiserver.crt")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("CN = kube-apiserver"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Digital Signature, Key Encipherment"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("TLS Web Server Authentication"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("DNS:alpha.herd.localhost"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("IP Address:10.96.0.1"), std::string::npos) << text.out;

  std::string admin = dir.file("admin.crt");
  testing::extractKubeconfigCert(dir.file("admin.conf"), admin);
  auto subject = run({"openssl", "x509", "-noout", "-subject", "-in", admin});
  EXPECT_NE(subject.out.find("O = kubeadm:cluster-admins, CN = kubernetes-admin"),
            std::string::npos)
      << subject.out;
  std::string herd_crt = dir.file("herd.crt");
  testing::extractKubeconfigCert(dir.file("herd.conf"), herd_crt);
  subject = run({"openssl", "x509", "-noout", "-subject", "-in", herd_crt});
  EXPECT_NE(subject.out.find("O = system:masters, CN = herd:controller"), std::string::npos)
      << subject.out;

  auto ca = run({"openssl", "x509", "-noout", "-subject", "-ext", "basicConstraints,keyUsage",
                 "-in", dir.file("pki/etcd/ca.crt")});
  EXPECT_NE(ca.out.find("CN = etcd-ca"), std::string::npos) << ca.out;
  EXPECT_NE(ca.out.find("CA:TRUE"), std::string::npos) << ca.out;
  EXPECT_NE(ca.out.find("Certificate Sign"), std::string::npos) << ca.out;
}

TEST(IssuanceTest, RsaKeySizesAreSelectable) {
  PkiOptions options;
  options.key_algorithm = KeyAlgorithm::kRsa2048;
  herd::testing::TempDir dir;
  issueInto(testCluster("alpha"), dir.path(), options);
  auto text = run({"openssl", "pkey", "-noout", "-text", "-in", dir.file("pki/apiserver.key")});
  EXPECT_NE(text.out.find("2048 bit"), std::string::npos) << text.out;
  auto verify =
      run({"openssl", "verify", "-CAfile", dir.file("pki/ca.crt"), dir.file("pki/apiserver.crt")});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  for (auto [algorithm, bits] :
       {std::pair{KeyAlgorithm::kRsa3072, 3072}, std::pair{KeyAlgorithm::kRsa4096, 4096}}) {
    auto key = PrivateKey::generate(algorithm);
    ASSERT_TRUE(key.isOk());
    EXPECT_EQ(key->algorithm(), algorithm);
    CertificateRequest req;
    req.common_name = "rsa-" + std::to_string(bits);
    req.is_ca = true;
    req.key_usage = kCertSign | kDigitalSignature;
    req.not_before = Clock::now();
    req.not_after = req.not_before + Days(1);
    auto cert = Certificate::issue(req, *key, nullptr, *key);
    ASSERT_TRUE(cert.isOk()) << cert.status().toString();
    std::string path = dir.file("rsa.crt");
    ASSERT_TRUE(files::writeAtomic(path, cert->toPem()).isOk());
    auto out = run({"openssl", "x509", "-noout", "-text", "-in", path});
    EXPECT_NE(out.out.find(std::to_string(bits) + " bit"), std::string::npos) << out.out;
  }
  EXPECT_FALSE(parseKeyAlgorithm("rsa-1024").isOk());
  EXPECT_FALSE(parseKeyAlgorithm("ed25519").isOk()) << "not for X.509";
}

}  // namespace
}  // namespace herd::pki
