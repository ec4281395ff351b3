#include "common/openssl_handles.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace herd::ossl {

void Free::operator()(BIO* bio) const {
  BIO_free_all(bio);
}
void Free::operator()(BIGNUM* bn) const {
  BN_free(bn);
}
void Free::operator()(EVP_PKEY* key) const {
  EVP_PKEY_free(key);
}
void Free::operator()(X509* cert) const {
  X509_free(cert);
}
void Free::operator()(X509_EXTENSION* extension) const {
  X509_EXTENSION_free(extension);
}
void Free::operator()(GENERAL_NAMES* names) const {
  GENERAL_NAMES_free(names);
}
void Free::operator()(SSL* ssl) const {
  SSL_free(ssl);
}
void Free::operator()(SSL_CTX* ctx) const {
  SSL_CTX_free(ctx);
}

std::string lastOpensslError() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

BioPtr memoryBio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

}  // namespace herd::ossl
