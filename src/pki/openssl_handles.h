// RAII ownership of OpenSSL handles, for src/pki's implementation files only (public headers
// never include OpenSSL). Each alias is a std::unique_ptr whose deleter is the matching
// *_free, so no handle outlives its scope on any error path. lastOpensslError() drains the
// thread's OpenSSL error queue into one readable line. Thread-safe as OpenSSL 3 is.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

namespace herd::pki::ossl {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

inline void freeGeneralNames(GENERAL_NAMES* names) {
  GENERAL_NAMES_free(names);
}
inline void freeExtKeyUsage(EXTENDED_KEY_USAGE* eku) {
  EXTENDED_KEY_USAGE_free(eku);
}

using PkeyPtr = Handle<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using X509Ptr = Handle<X509, X509_free>;
using X509ExtPtr = Handle<X509_EXTENSION, X509_EXTENSION_free>;
using BioPtr = Handle<BIO, BIO_free_all>;
using BignumPtr = Handle<BIGNUM, BN_free>;
using Asn1IntegerPtr = Handle<ASN1_INTEGER, ASN1_INTEGER_free>;
using GeneralNamesPtr = Handle<GENERAL_NAMES, freeGeneralNames>;
using ExtKeyUsagePtr = Handle<EXTENDED_KEY_USAGE, freeExtKeyUsage>;
using MdCtxPtr = Handle<EVP_MD_CTX, EVP_MD_CTX_free>;

// "error:... (reason); error:..." for everything queued on this thread, then clears the queue.
std::string lastOpensslError();

// A read-only memory BIO over `data` (valid while `data` is).
BioPtr memoryBio(std::string_view data);
// Everything written into a memory BIO, as a string.
std::string bioContents(BIO* bio);

}  // namespace herd::pki::ossl
