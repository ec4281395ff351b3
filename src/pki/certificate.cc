#include "pki/certificate.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <utility>

#include "common/openssl_handles.h"

namespace herd::pki {
namespace {

// Random serials make each certificate unique without a counter to keep; 128 bits is what
// the CA/Browser Forum asks for (at least 64 bits of entropy) with a wide margin.
constexpr int kSerialBytes = 16;

Status opensslFailure(std::string_view what) {
  return Status::internal(std::string(what) + ": " + ossl::lastOpensslError());
}

Status addExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  ossl::X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return opensslFailure("adding certificate extension " + std::string(OBJ_nid2sn(nid)));
  }
  return Status::ok();
}

std::string keyUsageText(unsigned usage) {
  std::string out = "critical";
  if (usage & kDigitalSignature) out += ",digitalSignature";
  if (usage & kKeyEncipherment) out += ",keyEncipherment";
  if (usage & kCertSign) out += ",keyCertSign";
  return out;
}

std::string extKeyUsageText(unsigned usage) {
  std::string out;
  if (usage & kServerAuth) out += "serverAuth";
  if (usage & kClientAuth) out += std::string(out.empty() ? "" : ",") + "clientAuth";
  return out;
}

Status setSerial(X509* cert) {
  unsigned char bytes[kSerialBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return opensslFailure("random serial");
  bytes[0] &= 0x7f;  // DER integers are signed: keep the serial positive
  bytes[0] |= 0x40;  // and its length fixed, so it never starts with zero bytes
  ossl::BignumPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return opensslFailure("setting the serial number");
  }
  return Status::ok();
}

std::string nameText(const X509_NAME* name) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  return ossl::bioContents(bio.get());
}

std::vector<std::string> nameEntries(const X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
  }
  return out;
}

TimePoint fromAsn1Time(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return Clock::from_time_t(timegm(&tm));
}

std::string ipText(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {};
  int len = ASN1_STRING_length(ip);
  const unsigned char* data = ASN1_STRING_get0_data(ip);
  if (len == 4) inet_ntop(AF_INET, data, buf, sizeof(buf));
  if (len == 16) inet_ntop(AF_INET6, data, buf, sizeof(buf));
  return buf;
}

}  // namespace

void SubjectAltNames::normalize() {
  for (auto* list : {&dns, &ips}) {
    std::sort(list->begin(), list->end());
    list->erase(std::unique(list->begin(), list->end()), list->end());
  }
}

std::string SubjectAltNames::toString() const {
  std::string out;
  for (const auto& d : dns) out += (out.empty() ? "DNS:" : ", DNS:") + d;
  for (const auto& ip : ips) out += (out.empty() ? "IP:" : ", IP:") + ip;
  return out;
}

Result<Certificate> Certificate::fromPem(std::string_view pem) {
  ossl::BioPtr bio = ossl::memoryBio(pem);
  X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (cert == nullptr) {
    ossl::lastOpensslError();
    return Status::invalid("not a PEM certificate (corrupt or truncated)");
  }
  return Certificate(cert);
}

Result<Certificate> Certificate::issue(const CertificateRequest& request,
                                       const PrivateKey& subject_key, const Certificate* issuer,
                                       const PrivateKey& issuer_key) {
  ossl::X509Ptr cert(X509_new());
  if (!cert) return opensslFailure("allocating a certificate");
  Certificate result(cert.release());
  X509* x = result.cert_;
  X509_set_version(x, 2);  // X.509 v3, for extensions
  HERD_RETURN_IF_ERROR(setSerial(x));

  X509_NAME* subject = X509_get_subject_name(x);
  for (const auto& o : request.organizations) {
    X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(request.common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert_) : subject);
  if (ASN1_TIME_set(X509_getm_notBefore(x), Clock::to_time_t(request.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x), Clock::to_time_t(request.not_after)) == nullptr) {
    return opensslFailure("setting the validity period");
  }
  if (X509_set_pubkey(x, subject_key.get()) != 1) return opensslFailure("setting the public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer->cert_ : x, x, nullptr, nullptr, 0);
  HERD_RETURN_IF_ERROR(addExtension(x, &ctx, NID_basic_constraints,
                                    request.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE"));
  HERD_RETURN_IF_ERROR(addExtension(x, &ctx, NID_key_usage, keyUsageText(request.key_usage)));
  if (request.ext_key_usage != 0) {
    HERD_RETURN_IF_ERROR(
        addExtension(x, &ctx, NID_ext_key_usage, extKeyUsageText(request.ext_key_usage)));
  }
  HERD_RETURN_IF_ERROR(addExtension(x, &ctx, NID_subject_key_identifier, "hash"));
  if (issuer != nullptr) {
    HERD_RETURN_IF_ERROR(addExtension(x, &ctx, NID_authority_key_identifier, "keyid:always"));
  }
  if (!request.sans.empty()) {
    std::string text;
    for (const auto& d : request.sans.dns) text += (text.empty() ? "DNS:" : ",DNS:") + d;
    for (const auto& ip : request.sans.ips) text += (text.empty() ? "IP:" : ",IP:") + ip;
    HERD_RETURN_IF_ERROR(addExtension(x, &ctx, NID_subject_alt_name, text));
  }
  // Ed25519 signs without a separate digest; every other key signs SHA-256.
  const EVP_MD* md =
      EVP_PKEY_get_base_id(issuer_key.get()) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  if (X509_sign(x, issuer_key.get(), md) <= 0) return opensslFailure("signing the certificate");
  return result;
}

Certificate::Certificate(Certificate&& other) noexcept
    : cert_(std::exchange(other.cert_, nullptr)) {}

Certificate& Certificate::operator=(Certificate&& other) noexcept {
  if (this != &other) {
    X509_free(cert_);
    cert_ = std::exchange(other.cert_, nullptr);
  }
  return *this;
}

Certificate::~Certificate() {
  X509_free(cert_);
}

std::string Certificate::toPem() const {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert_);
  return ossl::bioContents(bio.get());
}

std::string Certificate::commonName() const {
  auto cns = nameEntries(X509_get_subject_name(cert_), NID_commonName);
  return cns.empty() ? std::string() : cns.front();
}

std::vector<std::string> Certificate::organizations() const {
  return nameEntries(X509_get_subject_name(cert_), NID_organizationName);
}

std::string Certificate::subjectText() const {
  return nameText(X509_get_subject_name(cert_));
}
std::string Certificate::issuerText() const {
  return nameText(X509_get_issuer_name(cert_));
}

SubjectAltNames Certificate::sans() const {
  SubjectAltNames out;
  ossl::GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert_, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* s = name->d.dNSName;
      out.dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (name->type == GEN_IPADD) {
      out.ips.push_back(ipText(name->d.iPAddress));
    }
  }
  out.normalize();
  return out;
}

bool Certificate::isCa() const {
  return X509_check_ca(cert_) >= 1;
}

unsigned Certificate::keyUsage() const {
  uint32_t ku = X509_get_key_usage(cert_);
  if (ku == UINT32_MAX) return 0;  // no extension at all
  unsigned out = 0;
  if (ku & KU_DIGITAL_SIGNATURE) out |= kDigitalSignature;
  if (ku & KU_KEY_ENCIPHERMENT) out |= kKeyEncipherment;
  if (ku & KU_KEY_CERT_SIGN) out |= kCertSign;
  return out;
}

unsigned Certificate::extKeyUsage() const {
  uint32_t xku = X509_get_extended_key_usage(cert_);
  if (xku == UINT32_MAX) return 0;
  unsigned out = 0;
  if (xku & XKU_SSL_SERVER) out |= kServerAuth;
  if (xku & XKU_SSL_CLIENT) out |= kClientAuth;
  return out;
}

TimePoint Certificate::notBefore() const {
  return fromAsn1Time(X509_get0_notBefore(cert_));
}
TimePoint Certificate::notAfter() const {
  return fromAsn1Time(X509_get0_notAfter(cert_));
}

std::string Certificate::serialHex() const {
  ossl::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_), nullptr));
  if (!bn) return {};
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex ? hex : "");
  OPENSSL_free(hex);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

int Certificate::serialBits() const {
  ossl::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_), nullptr));
  return bn ? BN_num_bits(bn.get()) : 0;
}

bool Certificate::matchesKey(const PrivateKey& key) const {
  return key.samePublicKey(X509_get0_pubkey(cert_));
}

Status Certificate::verifySignedBy(const Certificate& ca) const {
  if (X509_NAME_cmp(X509_get_issuer_name(cert_), X509_get_subject_name(ca.cert_)) != 0) {
    return Status::failedPrecondition("issued by \"" + issuerText() + "\", not by this CA (\"" +
                                      ca.subjectText() + "\")");
  }
  if (X509_verify(cert_, X509_get0_pubkey(ca.cert_)) != 1) {
    ossl::lastOpensslError();
    return Status::failedPrecondition(
        "the signature does not verify with this CA's key: it was issued by another CA of the same "
        "name (another tenant's?)");
  }
  return Status::ok();
}

std::string formatTime(TimePoint t) {
  std::time_t tt = Clock::to_time_t(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace herd::pki
