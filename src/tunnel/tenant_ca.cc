#include "tunnel/tenant_ca.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace herd::tunnel {
namespace {

std::string nameText(const X509_NAME* name) {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  return ossl::bioContents(bio.get());
}

}  // namespace

Result<ossl::X509StorePtr> makeTenantCaStore(std::string_view pem) {
  ossl::X509StorePtr store(X509_STORE_new());
  if (!store) return Status::internal("X509_STORE_new failed");
  // herd's tenant CAs are self-signed roots, but an operator's may hang below a root that
  // other tenants share. Without this flag such a CA would count only with that root in the
  // store, and the root would then vouch for every tenant below it.
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  ERR_clear_error();  // the end of the loop below is read off the error queue
  ossl::BioPtr bio = ossl::memoryBio(pem);
  int count = 0;
  while (true) {
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) break;
    ++count;
    if (X509_check_ca(cert.get()) == 0) {
      return Status::invalid(fmt::format("certificate {} ({}) is not a CA certificate", count,
                                         nameText(X509_get_subject_name(cert.get()))));
    }
    if (X509_STORE_add_cert(store.get(), cert.get()) != 1) {
      return Status::invalid(fmt::format("certificate {}: {}", count, ossl::lastOpensslError()));
    }
  }
  // The loop ends at the first block that is not a certificate: the end of the text is
  // PEM_R_NO_START_LINE, anything else is a damaged block.
  unsigned long last = ERR_peek_last_error();
  bool at_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (last != 0 && !at_end) {
    return Status::invalid(
        fmt::format("certificate {} is corrupt: {}", count + 1, ossl::lastOpensslError()));
  }
  ERR_clear_error();
  if (count == 0) return Status::invalid("holds no PEM certificate");
  return store;
}

Status verifyClientChain(X509_STORE* store, X509* leaf, stack_st_X509* untrusted) {
  if (leaf == nullptr) return Status::unauthenticated("no client certificate");
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store, leaf, untrusted) != 1) {
    return Status::internal("X509_STORE_CTX_init failed: " + ossl::lastOpensslError());
  }
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) == 1) return Status::ok();
  int error = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  return Status::unauthenticated(X509_verify_cert_error_string(error));
}

std::string issuerText(X509* cert) {
  return cert == nullptr ? std::string() : nameText(X509_get_issuer_name(cert));
}

}  // namespace herd::tunnel
