// Certificate: one X.509 certificate, issued by herd or read back from PEM, with the fields
// herd decides on (subject, SANs, usages, validity) exposed as plain values. Issuance signs
// with SHA-256 and a random 128-bit serial. Owns its OpenSSL handle (freed in the destructor);
// movable, not copyable; a const Certificate may be read from several threads.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "pki/key.h"

struct x509_st;

namespace herd::pki {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

// Key usage bits, as kubeadm sets them.
enum KeyUsage : unsigned {
  kDigitalSignature = 1u << 0,
  kKeyEncipherment = 1u << 1,
  kCertSign = 1u << 2,
};
// Extended key usage bits.
enum ExtKeyUsage : unsigned {
  kServerAuth = 1u << 0,
  kClientAuth = 1u << 1,
};

// Subject alternative names, each list sorted and without duplicates (see normalize()).
struct SubjectAltNames {
  std::vector<std::string> dns;
  std::vector<std::string> ips;
  void normalize();
  bool empty() const { return dns.empty() && ips.empty(); }
  // "DNS:a, IP:1.2.3.4" for messages.
  std::string toString() const;
  friend bool operator==(const SubjectAltNames&, const SubjectAltNames&) = default;
};

// What to put into a new certificate.
struct CertificateRequest {
  std::string common_name;
  std::vector<std::string> organizations;
  bool is_ca = false;
  unsigned key_usage = 0;
  unsigned ext_key_usage = 0;
  SubjectAltNames sans;
  TimePoint not_before;
  TimePoint not_after;
};

class Certificate {
 public:
  static Result<Certificate> fromPem(std::string_view pem);
  // Signs `request` for `subject_key` with `issuer`/`issuer_key`; self-signed when `issuer` is
  // null (then `issuer_key` must be `subject_key`).
  static Result<Certificate> issue(const CertificateRequest& request, const PrivateKey& subject_key,
                                   const Certificate* issuer, const PrivateKey& issuer_key);

  Certificate(Certificate&& other) noexcept;
  Certificate& operator=(Certificate&& other) noexcept;
  Certificate(const Certificate&) = delete;
  Certificate& operator=(const Certificate&) = delete;
  ~Certificate();

  std::string toPem() const;
  std::string commonName() const;
  std::vector<std::string> organizations() const;
  // "O=system:masters, CN=kubernetes-admin"
  std::string subjectText() const;
  std::string issuerText() const;
  SubjectAltNames sans() const;
  bool isCa() const;
  unsigned keyUsage() const;
  unsigned extKeyUsage() const;
  TimePoint notBefore() const;
  TimePoint notAfter() const;
  // Lower-case hex of the serial number.
  std::string serialHex() const;
  // The serial's length in bits (128 for herd's, give or take leading zero bits).
  int serialBits() const;

  // True when `key` is the private half of this certificate's public key.
  bool matchesKey(const PrivateKey& key) const;
  // OK when `ca` is named as this certificate's issuer and its key made the signature.
  Status verifySignedBy(const Certificate& ca) const;

  x509_st* get() const { return cert_; }

 private:
  explicit Certificate(x509_st* cert) : cert_(cert) {}
  x509_st* cert_ = nullptr;
};

// "2026-11-25T01:40:25Z"
std::string formatTime(TimePoint t);

}  // namespace herd::pki
