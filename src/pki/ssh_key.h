// SshKey: an Ed25519 key pair in OpenSSH's own formats: the "openssh-key-v1" private key file
// (what ssh-keygen writes and sshd's HostKey and ssh -i read) and the one-line public key used
// in authorized_keys and known_hosts. herd issues two per tenant: the host key of the tenant's
// tunnel endpoint and the client key its nodes log in with. Value type; thread-safe to read.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace herd::pki {

class SshKey {
 public:
  static Result<SshKey> generate(std::string comment);
  // Reads an unencrypted OpenSSH Ed25519 private key file.
  static Result<SshKey> fromOpenSsh(std::string_view text);

  // "-----BEGIN OPENSSH PRIVATE KEY-----" ... the file ssh-keygen would write.
  std::string privateKeyOpenSsh() const;
  // "ssh-ed25519 AAAA... comment"
  std::string publicKeyLine() const;
  const std::string& comment() const { return comment_; }
  // The raw 32-byte public key.
  const std::string& publicKey() const { return public_; }

 private:
  std::string seed_;    // 32-byte private seed
  std::string public_;  // 32-byte public key
  std::string comment_;
};

}  // namespace herd::pki
