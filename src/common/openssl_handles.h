// RAII ownership of OpenSSL handles for the implementation files that call OpenSSL (public
// headers never include OpenSSL). Each alias is a std::unique_ptr whose deleter calls the
// matching *_free, so no handle outlives its scope on any error path. Only OpenSSL's forward
// declarations come with this header; the deleters are defined in the .cc. lastOpensslError()
// drains the thread's OpenSSL error queue into one readable line. Thread-safe as OpenSSL 3 is.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

// Declared by x509.h and x509v3.h, not by types.h: X509_EXTENSION and GENERAL_NAMES.
struct X509_extension_st;
struct stack_st_GENERAL_NAME;

namespace herd::ossl {

struct Free {
  void operator()(BIO* bio) const;
  void operator()(BIGNUM* bn) const;
  void operator()(EVP_PKEY* key) const;
  void operator()(X509* cert) const;
  void operator()(X509_extension_st* extension) const;
  void operator()(stack_st_GENERAL_NAME* names) const;
  void operator()(SSL* ssl) const;
  void operator()(SSL_CTX* ctx) const;
};
template <typename T>
using Handle = std::unique_ptr<T, Free>;

using BioPtr = Handle<BIO>;
using BignumPtr = Handle<BIGNUM>;
using PkeyPtr = Handle<EVP_PKEY>;
using X509Ptr = Handle<X509>;
using X509ExtPtr = Handle<X509_extension_st>;
using GeneralNamesPtr = Handle<stack_st_GENERAL_NAME>;
using SslPtr = Handle<SSL>;
using SslCtxPtr = Handle<SSL_CTX>;

// "error:... (reason); error:..." for everything queued on this thread, then clears the queue.
std::string lastOpensslError();

// A read-only memory BIO over `data` (valid while `data` is).
BioPtr memoryBio(std::string_view data);
// Everything written into a memory BIO, as a string.
std::string bioContents(BIO* bio);

}  // namespace herd::ossl
