#include "tunnel/tls_relay.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace herd::tunnel {
namespace {

using Clock = std::chrono::steady_clock;

// One TLS record's worth: what SSL_read hands out at most anyway.
constexpr size_t kTlsChunk = 16 * 1024;

// A handshake that fails with nothing queued is a peer that hung up.
std::string lastSslError() {
  if (ERR_peek_error() == 0) return "connection closed during handshake";
  return ossl::lastOpensslError();
}

Result<ossl::SslPtr> handshake(SSL_CTX* ctx, int fd, bool server,
                               std::chrono::milliseconds timeout) {
  ossl::SslPtr ssl(SSL_new(ctx));
  if (!ssl) return Status::internal("SSL_new failed");
  SSL_set_fd(ssl.get(), fd);
  auto deadline = Clock::now() + timeout;
  while (true) {
    int rc = server ? SSL_accept(ssl.get()) : SSL_connect(ssl.get());
    if (rc == 1) break;
    int err = SSL_get_error(ssl.get(), rc);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || left.count() <= 0) {
      return Status::unauthenticated(left.count() <= 0 ? "TLS handshake timed out"
                                                       : lastSslError());
    }
    pollfd p{fd, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return ssl;
}

}  // namespace

Result<ossl::SslCtxPtr> makeTlsContext(const TlsFiles& files, bool server) {
  ossl::SslCtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return Status::internal("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert_file.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), files.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_load_verify_locations(ctx.get(), files.ca_file.c_str(), nullptr) != 1) {
    return Status::invalid("TLS files " + files.cert_file + ", " + files.key_file + ", " +
                           files.ca_file + ": " + lastSslError());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

Result<std::unique_ptr<TlsSession>> TlsSession::accept(SSL_CTX* ctx, int fd,
                                                       std::chrono::milliseconds timeout) {
  HERD_ASSIGN_OR_RETURN(auto ssl, handshake(ctx, fd, /*server=*/true, timeout));
  return std::unique_ptr<TlsSession>(new TlsSession(std::move(ssl), fd));
}

Result<std::unique_ptr<TlsSession>> TlsSession::connect(SSL_CTX* ctx, int fd,
                                                        std::chrono::milliseconds timeout) {
  HERD_ASSIGN_OR_RETURN(auto ssl, handshake(ctx, fd, /*server=*/false, timeout));
  return std::unique_ptr<TlsSession>(new TlsSession(std::move(ssl), fd));
}

std::string TlsSession::peerCommonName() const {
  X509* cert = SSL_get0_peer_certificate(ssl_.get());
  if (cert == nullptr) return {};
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) < 0) {
    return {};
  }
  return cn;
}

long TlsSession::read(char* out, size_t size) {
  int n = SSL_read(ssl_.get(), out, static_cast<int>(size));
  if (n > 0) return n;
  int err = SSL_get_error(ssl_.get(), n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return -1;
  ERR_clear_error();
  return 0;
}

bool TlsSession::writeAll(std::string_view data, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!data.empty()) {
    int n = SSL_write(ssl_.get(), data.data(), static_cast<int>(data.size()));
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_.get(), n);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || left.count() <= 0) {
      ERR_clear_error();
      return false;
    }
    pollfd p{fd_, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  return true;
}

void TlsSession::relay(int plain_fd) {
  std::vector<char> to_plain;  // decrypted, not yet written to plain_fd
  size_t to_plain_off = 0;
  std::vector<char> to_tls;  // read from plain_fd, not yet accepted by SSL_write
  bool tls_eof = false;
  bool plain_eof = false;
  char chunk[kTlsChunk];
  while (!(tls_eof && plain_eof)) {
    short tls_events = 0;
    short plain_events = 0;
    bool progress = false;
    // TLS -> plain. Always try SSL_read before polling: it may hold decrypted bytes.
    if (!tls_eof && to_plain_off == to_plain.size()) {
      int n = SSL_read(ssl_.get(), chunk, sizeof chunk);
      if (n > 0) {
        to_plain.assign(chunk, chunk + n);
        to_plain_off = 0;
        progress = true;
      } else {
        int err = SSL_get_error(ssl_.get(), n);
        if (err == SSL_ERROR_WANT_READ) {
          tls_events |= POLLIN;
        } else if (err == SSL_ERROR_WANT_WRITE) {
          tls_events |= POLLOUT;
        } else {
          ERR_clear_error();
          tls_eof = true;
          ::shutdown(plain_fd, SHUT_WR);
          progress = true;
        }
      }
    }
    if (to_plain_off < to_plain.size()) {
      ssize_t n = ::send(plain_fd, to_plain.data() + to_plain_off, to_plain.size() - to_plain_off,
                         MSG_NOSIGNAL);
      if (n > 0) {
        to_plain_off += static_cast<size_t>(n);
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        plain_events |= POLLOUT;
      } else {
        return;
      }
    }
    // plain -> TLS.
    if (!plain_eof && to_tls.empty()) {
      ssize_t n = ::recv(plain_fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        to_tls.assign(chunk, chunk + n);
        progress = true;
      } else if (n == 0) {
        plain_eof = true;
        SSL_shutdown(ssl_.get());
        progress = true;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        plain_events |= POLLIN;
      } else {
        return;
      }
    }
    if (!to_tls.empty()) {
      int n = SSL_write(ssl_.get(), to_tls.data(), static_cast<int>(to_tls.size()));
      if (n > 0) {
        to_tls.erase(to_tls.begin(), to_tls.begin() + n);
        progress = true;
      } else {
        int err = SSL_get_error(ssl_.get(), n);
        if (err == SSL_ERROR_WANT_WRITE) {
          tls_events |= POLLOUT;
        } else if (err == SSL_ERROR_WANT_READ) {
          tls_events |= POLLIN;
        } else {
          ERR_clear_error();
          return;
        }
      }
    }
    if (progress) continue;
    pollfd fds[2] = {{fd_, tls_events, 0}, {plain_fd, plain_events, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if ((fds[0].revents | fds[1].revents) & POLLNVAL) return;
  }
}

}  // namespace herd::tunnel
