#include "tls_identity.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/openssl_handles.h"

namespace herd::fake {
namespace {

using ossl::BignumPtr;
using ossl::BioPtr;
using ossl::PkeyPtr;
using ossl::X509ExtPtr;
using ossl::X509Ptr;

// Validity of everything the fake issues: tests and `herd up` rehearsals run far shorter.
constexpr long kValiditySeconds = 365L * 24 * 3600;

PkeyPtr newKey() {
  return PkeyPtr(EVP_EC_gen("P-256"));
}

Result<std::string> certPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return Status::internal("encode certificate");
  return ossl::bioContents(bio.get());
}

Result<std::string> keyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Status::internal("encode private key");
  }
  return ossl::bioContents(bio.get());
}

Status addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Status::internal("add certificate extension " + value);
  }
  return Status::ok();
}

Status setSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::internal("random serial");
  bytes[0] &= 0x7f;  // a positive INTEGER
  BignumPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn) return Status::internal("serial");
  ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert));
  return serial != nullptr ? Status::ok() : Status::internal("serial");
}

X509Ptr newCert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& orgs) {
  X509Ptr cert(X509_new());
  if (!cert) return nullptr;
  X509_set_version(cert.get(), 2);
  if (!setSerial(cert.get()).isOk()) return nullptr;
  // Backdated a little so that a client with a slightly slow clock still accepts it.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& org : orgs) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(org.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

}  // namespace

Result<KeyPair> makeCa(const std::string& common_name) {
  PkeyPtr key = newKey();
  if (!key) return Status::internal("generate CA key");
  X509Ptr cert = newCert(key.get(), common_name, {});
  if (!cert) return Status::internal("create CA certificate");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  HERD_RETURN_IF_ERROR(
      addExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE"));
  HERD_RETURN_IF_ERROR(addExtension(cert.get(), cert.get(), NID_key_usage,
                                    "critical,keyCertSign,cRLSign,digitalSignature"));
  HERD_RETURN_IF_ERROR(addExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return Status::internal("sign CA");
  HERD_ASSIGN_OR_RETURN(std::string cert_pem, certPem(cert.get()));
  HERD_ASSIGN_OR_RETURN(std::string key_pem, keyPem(key.get()));
  return KeyPair{std::move(cert_pem), std::move(key_pem)};
}

Result<KeyPair> issueLeaf(const KeyPair& ca, const LeafRequest& request) {
  BioPtr cert_bio = ossl::memoryBio(ca.cert_pem);
  BioPtr key_bio = ossl::memoryBio(ca.key_pem);
  if (!cert_bio || !key_bio) return Status::internal("read CA");
  X509Ptr ca_cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  PkeyPtr ca_key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!ca_cert || !ca_key) return Status::invalid("CA certificate or key is not PEM");

  PkeyPtr key = newKey();
  if (!key) return Status::internal("generate key");
  X509Ptr cert = newCert(key.get(), request.common_name, request.organizations);
  if (!cert) return Status::internal("create certificate");
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  HERD_RETURN_IF_ERROR(
      addExtension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  HERD_RETURN_IF_ERROR(addExtension(cert.get(), ca_cert.get(), NID_key_usage,
                                    "critical,digitalSignature,keyEncipherment"));
  HERD_RETURN_IF_ERROR(addExtension(cert.get(), ca_cert.get(), NID_ext_key_usage,
                                    request.server ? "serverAuth" : "clientAuth"));
  HERD_RETURN_IF_ERROR(
      addExtension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"));
  std::string sans;
  for (const auto& dns : request.dns_names) sans += (sans.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : request.ips) sans += (sans.empty() ? "IP:" : ",IP:") + ip;
  if (!sans.empty()) {
    HERD_RETURN_IF_ERROR(addExtension(cert.get(), ca_cert.get(), NID_subject_alt_name, sans));
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0)
    return Status::internal("sign certificate");
  HERD_ASSIGN_OR_RETURN(std::string cert_pem, certPem(cert.get()));
  HERD_ASSIGN_OR_RETURN(std::string key_pem, keyPem(key.get()));
  return KeyPair{std::move(cert_pem), std::move(key_pem)};
}

}  // namespace herd::fake
