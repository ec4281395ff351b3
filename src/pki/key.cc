#include "pki/key.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <utility>

#include "common/openssl_handles.h"

namespace herd::pki {
namespace {

struct AlgorithmName {
  KeyAlgorithm algorithm;
  std::string_view name;
};
constexpr AlgorithmName kAlgorithmNames[] = {
    {KeyAlgorithm::kEcdsaP256, "ecdsa-p256"}, {KeyAlgorithm::kRsa2048, "rsa-2048"},
    {KeyAlgorithm::kRsa3072, "rsa-3072"},     {KeyAlgorithm::kRsa4096, "rsa-4096"},
    {KeyAlgorithm::kEd25519, "ed25519"},
};

int rsaBits(KeyAlgorithm algorithm) {
  switch (algorithm) {
    case KeyAlgorithm::kRsa2048:
      return 2048;
    case KeyAlgorithm::kRsa3072:
      return 3072;
    case KeyAlgorithm::kRsa4096:
      return 4096;
    default:
      return 0;
  }
}

// Refuses encrypted PEM instead of prompting on the terminal for a passphrase.
int noPassphrase(char*, int, int, void*) {
  return -1;
}

}  // namespace

std::string_view keyAlgorithmName(KeyAlgorithm algorithm) {
  for (const auto& a : kAlgorithmNames) {
    if (a.algorithm == algorithm) return a.name;
  }
  return "unknown";
}

Result<KeyAlgorithm> parseKeyAlgorithm(std::string_view name, bool for_certificates) {
  for (const auto& a : kAlgorithmNames) {
    if (a.name == name && !(for_certificates && a.algorithm == KeyAlgorithm::kEd25519)) {
      return a.algorithm;
    }
  }
  return Status::invalid("unknown key algorithm \"" + std::string(name) +
                         "\": use ecdsa-p256, rsa-2048, rsa-3072 or rsa-4096");
}

Result<PrivateKey> PrivateKey::generate(KeyAlgorithm algorithm) {
  EVP_PKEY* key = nullptr;
  switch (algorithm) {
    case KeyAlgorithm::kEcdsaP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyAlgorithm::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
    default:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(rsaBits(algorithm)));
      break;
  }
  if (key == nullptr) {
    return Status::internal("generating a " + std::string(keyAlgorithmName(algorithm)) +
                            " key: " + ossl::lastOpensslError());
  }
  return PrivateKey(key);
}

Result<PrivateKey> PrivateKey::fromPem(std::string_view pem) {
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    return Status::invalid("the private key is encrypted; herd needs an unencrypted key");
  }
  ossl::BioPtr bio = ossl::memoryBio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr);
  if (key == nullptr) {
    ossl::lastOpensslError();
    return Status::invalid("not a PEM private key (corrupt or truncated)");
  }
  PrivateKey result(key);
  int id = EVP_PKEY_get_base_id(key);
  if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
    return Status::invalid("unsupported private key type (want ECDSA, RSA or Ed25519)");
  }
  return result;
}

PrivateKey::PrivateKey(PrivateKey&& other) noexcept : key_(std::exchange(other.key_, nullptr)) {}

PrivateKey& PrivateKey::operator=(PrivateKey&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(key_);
    key_ = std::exchange(other.key_, nullptr);
  }
  return *this;
}

PrivateKey::~PrivateKey() {
  EVP_PKEY_free(key_);
}

KeyAlgorithm PrivateKey::algorithm() const {
  switch (EVP_PKEY_get_base_id(key_)) {
    case EVP_PKEY_EC:
      return KeyAlgorithm::kEcdsaP256;
    case EVP_PKEY_ED25519:
      return KeyAlgorithm::kEd25519;
    default:
      break;
  }
  int bits = EVP_PKEY_get_bits(key_);
  if (bits >= 4096) return KeyAlgorithm::kRsa4096;
  if (bits >= 3072) return KeyAlgorithm::kRsa3072;
  return KeyAlgorithm::kRsa2048;
}

std::string PrivateKey::toPem() const {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (EVP_PKEY_get_base_id(key_) == EVP_PKEY_ED25519) {
    PEM_write_bio_PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PrivateKey_traditional(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr);
  }
  return ossl::bioContents(bio.get());
}

std::string PrivateKey::publicKeyPem() const {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_);
  return ossl::bioContents(bio.get());
}

bool PrivateKey::samePublicKey(evp_pkey_st* other) const {
  return other != nullptr && EVP_PKEY_eq(key_, other) == 1;
}

Result<bool> publicKeyPemMatches(std::string_view public_pem, const PrivateKey& key) {
  ossl::BioPtr bio = ossl::memoryBio(public_pem);
  ossl::PkeyPtr pub(PEM_read_bio_PUBKEY(bio.get(), nullptr, noPassphrase, nullptr));
  if (!pub) {
    ossl::lastOpensslError();
    return Status::invalid("not a PEM public key (corrupt or truncated)");
  }
  return key.samePublicKey(pub.get());
}

}  // namespace herd::pki
