// Which CA may vouch for a tenant's name over mutual TLS. A CONNECT listener's handshake
// verifies the client certificate against the listener's whole bundle (clientCaFile), but
// every tenant holds its own CA's key (kube-controller-manager signs kubelet CSRs with it), so
// any tenant can sign any common name. A common name is therefore believed only when the
// certificate also verifies against the CA that tenant's config names, and nothing else: a
// store holding those CA certificates alone, checked by signature (all of herd's tenant CAs
// are called "kubernetes", as kubeadm's are, so a name proves nothing). Private to src/tunnel.
// A store is read-only once built and may be used by several threads at once.
#pragma once

#include <openssl/types.h>

#include <string>
#include <string_view>

#include "common/openssl_handles.h"
#include "common/status.h"

struct stack_st_X509;  // STACK_OF(X509), declared by x509.h

namespace herd::tunnel {

// A store trusting exactly the CA certificates in `pem` (one or more PEM blocks, so that a
// tenant can name its old and new CA while rotating). Each must be a CA certificate; a CA
// that is itself an intermediate is trusted as an anchor of its own.
Result<ossl::X509StorePtr> makeTenantCaStore(std::string_view pem);

// OK when `leaf`, with the intermediates the client sent (`untrusted`, may be null), chains
// to a certificate in `store` and may authenticate a TLS client; otherwise the reason.
Status verifyClientChain(X509_STORE* store, X509* leaf, stack_st_X509* untrusted);

// "CN=kubernetes" (RFC 2253 order, one line), for log lines.
std::string issuerText(X509* cert);

}  // namespace herd::tunnel
