// Certificates for the fake apiserver: a self-signed CA made at start, the serving certificate
// for 127.0.0.1/localhost, and client certificates (CN = user, O = groups) as kube-apiserver's
// --client-ca-file authenticator reads them.
//
// Everything is PEM text so that callers never hold an OpenSSL handle; the handles used while
// building live in RAII wrappers inside the .cc. Value types; the functions are thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace herd::fake {

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// A new CA (EC P-256, 1 year), subject CN=<common_name>.
Result<KeyPair> makeCa(const std::string& common_name);

// A leaf signed by `ca`. `dns_names` and `ips` become subjectAltNames (server certificates);
// `organizations` become O= entries (client certificates carry groups there).
struct LeafRequest {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;
  std::vector<std::string> ips;
  bool server = false;
};
Result<KeyPair> issueLeaf(const KeyPair& ca, const LeafRequest& request);

}  // namespace herd::fake
