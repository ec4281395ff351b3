#include "pki/ssh_key.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>

#include <cstdint>

#include "common/base64.h"
#include "common/openssl_handles.h"
#include "pki/key.h"

namespace herd::pki {
namespace {

// The private key file format is OpenSSH's PROTOCOL.key: a magic string, then SSH wire
// strings (uint32 length + bytes).
constexpr std::string_view kMagic{"openssh-key-v1\0", 15};
constexpr std::string_view kKeyType = "ssh-ed25519";
constexpr std::string_view kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr std::string_view kEnd = "-----END OPENSSH PRIVATE KEY-----";
// OpenSSH pads the private section to the cipher block size; "none" uses 8.
constexpr size_t kBlockSize = 8;
// ssh-keygen wraps the base64 body at 70 columns.
constexpr size_t kLineWidth = 70;
constexpr size_t kEd25519Bytes = 32;

void putU32(std::string& out, uint32_t v) {
  for (int shift : {24, 16, 8, 0}) out += static_cast<char>((v >> shift) & 0xff);
}

void putString(std::string& out, std::string_view s) {
  putU32(out, static_cast<uint32_t>(s.size()));
  out += s;
}

std::string publicBlob(const std::string& pub) {
  std::string blob;
  putString(blob, kKeyType);
  putString(blob, pub);
  return blob;
}

// Reads SSH wire values from a buffer; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool u32(uint32_t& v) {
    if (data_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i)
      v = (v << 8) | static_cast<unsigned char>(data_[static_cast<size_t>(i)]);
    data_.remove_prefix(4);
    return true;
  }
  bool string(std::string_view& s) {
    uint32_t len = 0;
    if (!u32(len) || data_.size() < len) return false;
    s = data_.substr(0, len);
    data_.remove_prefix(len);
    return true;
  }
  std::string_view rest() const { return data_; }

 private:
  std::string_view data_;
};

Status corrupt(std::string_view why) {
  return Status::invalid("not an OpenSSH Ed25519 private key: " + std::string(why));
}

}  // namespace

Result<SshKey> SshKey::generate(std::string comment) {
  HERD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::generate(KeyAlgorithm::kEd25519));
  SshKey out;
  out.seed_.resize(kEd25519Bytes);
  out.public_.resize(kEd25519Bytes);
  size_t seed_len = kEd25519Bytes;
  size_t pub_len = kEd25519Bytes;
  if (EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(out.seed_.data()),
                                   &seed_len) != 1 ||
      EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(out.public_.data()),
                                  &pub_len) != 1) {
    return Status::internal("reading the Ed25519 key: " + ossl::lastOpensslError());
  }
  out.comment_ = std::move(comment);
  return out;
}

Result<SshKey> SshKey::fromOpenSsh(std::string_view text) {
  size_t begin = text.find(kBegin);
  size_t end = text.find(kEnd);
  if (begin == std::string_view::npos || end == std::string_view::npos || end < begin) {
    return corrupt("missing the BEGIN/END OPENSSH PRIVATE KEY lines");
  }
  auto body = base64Decode(text.substr(begin + kBegin.size(), end - begin - kBegin.size()));
  if (!body) return corrupt("the body is not base64");
  std::string_view data = *body;
  if (data.substr(0, kMagic.size()) != kMagic) return corrupt("wrong magic");
  Reader r(data.substr(kMagic.size()));
  std::string_view cipher, kdf, kdf_options, pub_blob, private_section;
  uint32_t count = 0;
  if (!r.string(cipher) || !r.string(kdf) || !r.string(kdf_options) || !r.u32(count) ||
      !r.string(pub_blob) || !r.string(private_section)) {
    return corrupt("truncated");
  }
  if (cipher != "none")
    return Status::invalid("the SSH private key is encrypted; herd needs an unencrypted key");
  if (count != 1) return corrupt("expected exactly one key");
  Reader p(private_section);
  uint32_t check1 = 0, check2 = 0;
  std::string_view type, pub, priv, comment;
  if (!p.u32(check1) || !p.u32(check2) || !p.string(type) || !p.string(pub) || !p.string(priv) ||
      !p.string(comment)) {
    return corrupt("truncated private section");
  }
  if (check1 != check2) return corrupt("check bytes differ");
  if (type != kKeyType)
    return Status::invalid("SSH key type is " + std::string(type) + ", herd uses ssh-ed25519");
  if (pub.size() != kEd25519Bytes || priv.size() != 2 * kEd25519Bytes ||
      priv.substr(kEd25519Bytes) != pub) {
    return corrupt("inconsistent key material");
  }
  SshKey out;
  out.seed_ = std::string(priv.substr(0, kEd25519Bytes));
  out.public_ = std::string(pub);
  out.comment_ = std::string(comment);
  // The public key must be the one the seed derives, or the file was tampered with.
  ossl::PkeyPtr key(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(out.seed_.data()),
      out.seed_.size()));
  unsigned char derived[kEd25519Bytes];
  size_t len = sizeof(derived);
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), derived, &len) != 1 ||
      std::string_view(reinterpret_cast<char*>(derived), len) != out.public_) {
    ossl::lastOpensslError();
    return corrupt("the public key does not belong to the private key");
  }
  if (publicBlob(out.public_) != pub_blob)
    return corrupt("the outer public key differs from the inner one");
  return out;
}

std::string SshKey::privateKeyOpenSsh() const {
  // The check bytes only detect a wrong passphrase; with no cipher they need not be random,
  // and deriving them from the key keeps the file byte-identical from run to run.
  uint32_t check = 0;
  for (size_t i = 0; i < 4; ++i) check = (check << 8) | static_cast<unsigned char>(public_[i]);
  std::string priv;
  putU32(priv, check);
  putU32(priv, check);
  putString(priv, kKeyType);
  putString(priv, public_);
  putString(priv, seed_ + public_);
  putString(priv, comment_);
  for (char pad = 1; priv.size() % kBlockSize != 0; ++pad) priv += pad;

  std::string data(kMagic);
  putString(data, "none");
  putString(data, "none");
  putString(data, "");
  putU32(data, 1);
  putString(data, publicBlob(public_));
  putString(data, priv);

  std::string body = base64Encode(data);
  std::string out(kBegin);
  out += '\n';
  for (size_t i = 0; i < body.size(); i += kLineWidth) {
    out += body.substr(i, kLineWidth);
    out += '\n';
  }
  out += kEnd;
  out += '\n';
  return out;
}

std::string SshKey::publicKeyLine() const {
  std::string line = std::string(kKeyType) + " " + base64Encode(publicBlob(public_));
  if (!comment_.empty()) line += " " + comment_;
  return line;
}

}  // namespace herd::pki
