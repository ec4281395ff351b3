// TLS for the egress listener and the replica-to-replica link: contexts that demand and
// verify the other side's certificate (mutual TLS), and a TlsSession that finishes a handshake
// within a deadline, reads a CONNECT and then relays between the TLS connection and a plain
// socket with bounded buffers. Private to src/tunnel. A session belongs to one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/openssl_handles.h"
#include "common/status.h"
#include "tunnel/config.h"

namespace herd::tunnel {

// Certificate, key and the CA that the peer's certificate must chain to. TLS 1.2 or newer.
Result<ossl::SslCtxPtr> makeTlsContext(const TlsFiles& files, bool server);

class TlsSession {
 public:
  static Result<std::unique_ptr<TlsSession>> accept(SSL_CTX* ctx, int fd,
                                                    std::chrono::milliseconds timeout);
  static Result<std::unique_ptr<TlsSession>> connect(SSL_CTX* ctx, int fd,
                                                     std::chrono::milliseconds timeout);
  // Owns its SSL (freed with the session), not the socket. Move-only.
  TlsSession(TlsSession&&) noexcept = default;
  TlsSession& operator=(TlsSession&&) noexcept = default;
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // The verified peer certificate's subject CN.
  std::string peerCommonName() const;
  // Bytes read (> 0), 0 at EOF or error, -1 when the socket must be waited on.
  long read(char* out, size_t size);
  bool writeAll(std::string_view data, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Relays until both directions are closed (or either fails), then returns.
  void relay(int plain_fd);

 private:
  TlsSession(ossl::SslPtr ssl, int fd) : ssl_(std::move(ssl)), fd_(fd) {}
  ossl::SslPtr ssl_;
  int fd_;
};

}  // namespace herd::tunnel
