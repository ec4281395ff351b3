// TunnelConfig: everything the tunnel server needs, read once from YAML (the standalone
// `herd tunnel --config FILE`, or the `tunnel:` section the gateway hands over) and immutable
// afterwards. Parsing validates the whole document and reports every problem with its path,
// so a bad file fails at start-up, not at the first node. Value type; thread-safe to read.
//
//   ssh:
//     listen: 0.0.0.0:2222            # where nodes dial in
//     hostKeyFile: host_ed25519_key   # OpenSSH format; nodes pin its public half
//     keepaliveSeconds: 5             # the gateway probes idle nodes this often
//   tenants:
//   - name: alpha                     # the SSH user name nodes log in as
//     nodeKeyFiles: [alpha/ssh/node_ed25519_key.pub]
//     nodeKeys: ["ssh-ed25519 AAAA..."]
//     nodes: [node-1, 10.0.0.5]       # optional: the only names alpha's nodes may bind
//     clientCaFile: alpha/pki/ca.crt  # the only CA whose certificates may say CN=alpha
//     clientCas: ["-----BEGIN CERTIFICATE-----..."]   # the same, inline (both may be given)
//   connect:
//   - unix: /run/herd/alpha-egress.sock   # kube-apiserver of alpha, same pod or host
//     tenant: alpha
//   - tcp: 0.0.0.0:8131                   # mutual TLS: the client certificate's CN is the tenant
//     certFile: egress.crt
//     keyFile: egress.key
//     clientCaFile: tenants-ca.crt      # the handshake's bundle: every tenant's CA
//   peers:                                # other replicas (docs/tunnel.md)
//     listen: 0.0.0.0:8132
//     certFile: peer.crt
//     keyFile: peer.key
//     caFile: peer-ca.crt
//     addresses: [gateway-1.herd:8132, gateway-2.herd:8132]
//
// A TCP listener without `tenant:` serves every tenant, and every tenant then needs its own
// CA (clientCaFile or clientCas): each tenant holds its CA's key, so a common name is believed
// only from the CA of the tenant it names (tunnel/tenant_ca.h). A listener with `tenant:
// alpha` trusts its clientCaFile (alpha's CA alone) for alpha, or alpha's own CA when given.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace herd::tunnel {

struct TenantConfig {
  std::string name;
  // One-line OpenSSH public keys ("ssh-ed25519 AAAA... comment"), from nodeKeys and the
  // contents of nodeKeyFiles.
  std::vector<std::string> node_keys;
  // When not empty, the only addresses this tenant's nodes may bind with -R.
  std::vector<std::string> nodes;
  // PEM of the CA certificate(s) that may vouch for this tenant's name over TCP CONNECT
  // listeners: clientCas and the contents of clientCaFile, checked to be CA certificates.
  // Empty: the tenant is reachable only through its Unix socket or a TCP listener pinned to it.
  std::string client_ca_pem;
};

struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;  // verifies client (or peer) certificates
};

struct ConnectListenerConfig {
  // kPeer: another replica's forwarded CONNECTs (mutual TLS with the peer CA; the tenant
  // comes from the request). Built from PeerConfig, never written in the connect list.
  enum class Kind { kUnix, kTcp, kPeer };
  Kind kind = Kind::kUnix;
  std::string address;  // a socket path, or host:port
  // kUnix: every CONNECT on this socket is this tenant's. kTcp: when set, the only tenant
  // the listener serves, and the client certificate's CN must name it; when empty, every
  // tenant with a client CA, each believed only from its own.
  std::string tenant;
  TlsFiles tls;  // kTcp
};

struct PeerConfig {
  std::string listen;  // empty: this replica takes no forwarded CONNECTs
  TlsFiles tls;
  std::vector<std::string> addresses;  // the other replicas' peer listeners
};

struct TunnelConfig {
  std::string ssh_listen = "127.0.0.1:2222";
  std::string host_key_file;
  std::chrono::seconds keepalive{5};
  // A connection must finish key exchange and authentication within this.
  std::chrono::seconds auth_timeout{10};
  // Bounds on what strangers can make us hold: sessions (one thread each) and the share of
  // them still unauthenticated, so a flood of half-open connections cannot crowd out nodes.
  int max_sessions = 1024;
  int max_unauthenticated = 64;
  int max_streams_per_session = 4096;
  std::vector<TenantConfig> tenants;
  std::vector<ConnectListenerConfig> connect;
  PeerConfig peers;

  // Parses the YAML document; relative file names are taken from `base_dir`.
  static Result<TunnelConfig> parse(std::string_view yaml, const std::string& base_dir = ".");
  static Result<TunnelConfig> load(const std::string& path);

  const TenantConfig* findTenant(std::string_view name) const;
};

// Whether `address` may be bound by a node with -R: a DNS subdomain or an IP literal.
bool isValidNodeAddress(std::string_view address);

}  // namespace herd::tunnel
