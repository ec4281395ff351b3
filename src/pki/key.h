// PrivateKey: one asymmetric private key (ECDSA P-256, RSA 2048/3072/4096 or Ed25519) as herd
// issues and reads them. It owns its OpenSSL key through a pointer freed in the destructor,
// so public headers stay free of OpenSSL. Movable, not copyable; a const PrivateKey may be
// used from several threads at once.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

struct evp_pkey_st;

namespace herd::pki {

enum class KeyAlgorithm { kEcdsaP256, kRsa2048, kRsa3072, kRsa4096, kEd25519 };

// "ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519".
std::string_view keyAlgorithmName(KeyAlgorithm algorithm);
// The inverse of keyAlgorithmName(); only the algorithms usable for X.509 certificates when
// `for_certificates` is set (Ed25519 is for SSH: Go's TLS stack and kubeadm do not take it).
Result<KeyAlgorithm> parseKeyAlgorithm(std::string_view name, bool for_certificates = true);

class PrivateKey {
 public:
  static Result<PrivateKey> generate(KeyAlgorithm algorithm);
  // PEM in PKCS#8 ("PRIVATE KEY") or the traditional forms ("EC PRIVATE KEY", "RSA PRIVATE
  // KEY"); encrypted keys are refused, as no component could read them.
  static Result<PrivateKey> fromPem(std::string_view pem);
  // Takes ownership of an OpenSSL key (internal to src/pki).
  static PrivateKey adopt(evp_pkey_st* key) { return PrivateKey(key); }

  PrivateKey(PrivateKey&& other) noexcept;
  PrivateKey& operator=(PrivateKey&& other) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
  ~PrivateKey();

  KeyAlgorithm algorithm() const;
  // kubeadm's encoding: "EC PRIVATE KEY" / "RSA PRIVATE KEY"; PKCS#8 for Ed25519.
  std::string toPem() const;
  // "PUBLIC KEY" (SubjectPublicKeyInfo), as sa.pub is written.
  std::string publicKeyPem() const;
  // True when both hold the same key pair (compares the public halves).
  bool samePublicKey(evp_pkey_st* other) const;

  evp_pkey_st* get() const { return key_; }

 private:
  explicit PrivateKey(evp_pkey_st* key) : key_(key) {}
  evp_pkey_st* key_ = nullptr;
};

// A public key read from "PUBLIC KEY" PEM; true when it is the public half of `key`.
Result<bool> publicKeyPemMatches(std::string_view public_pem, const PrivateKey& key);

}  // namespace herd::pki
