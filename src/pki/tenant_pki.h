// The whole credential set of one tenant: the certificate table issued by its own CAs, the
// service-account key pair, the kubeconfigs, a bootstrap token with its Secret and the signed
// cluster-info ConfigMap, and the SSH keys of its tunnel endpoint and nodes.
//
// reconcilePki() is level-based like the rest of herd: given the Cluster and whatever material
// exists (kubeadm's file layout as a path -> file map, which is also what the providers keep in
// Secrets), it keeps what is valid, creates what is missing and renews only what must be: a
// leaf within the renewal window, expired, or whose SANs, subject or usages no longer match,
// reissued by the same CA with the same key. It never replaces a CA: damaged, foreign or
// expired material is an error that names the file and what to do. Pure apart from key
// generation and the clock (both injectable through PkiOptions); thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/cluster.h"
#include "api/naming.h"
#include "common/status.h"
#include "pki/bootstrap_token.h"
#include "pki/cert_table.h"
#include "pki/key.h"

namespace herd::pki {

using Days = std::chrono::duration<int64_t, std::ratio<86400>>;
// kubeadm's validity periods: CAs outlive many leaf renewals, leaves are renewed yearly
// (or at every upgrade), and renewal starts 30 days ahead so a missed run is not an outage.
inline constexpr Days kDefaultCaValidity{3650};
inline constexpr Days kDefaultLeafValidity{365};
inline constexpr Days kDefaultRenewBefore{30};
// kubeadm's default token TTL: long enough to join a batch of nodes, short enough to leak.
inline constexpr std::chrono::hours kDefaultTokenTtl{24};
// A token with less than this left is replaced: a node could not finish joining with it.
inline constexpr std::chrono::hours kTokenMinimumLeft{1};
// Certificates start a little in the past so that a node whose clock lags accepts them.
inline constexpr std::chrono::minutes kClockSkewAllowance{5};

struct PkiOptions {
  KeyAlgorithm key_algorithm = KeyAlgorithm::kEcdsaP256;
  std::chrono::seconds ca_validity = kDefaultCaValidity;
  std::chrono::seconds leaf_validity = kDefaultLeafValidity;
  std::chrono::seconds renew_before = kDefaultRenewBefore;
  std::chrono::seconds token_ttl = kDefaultTokenTtl;
  int public_port = api::kPublicApiPort;
  std::optional<TimePoint> now;  // the current time; tests move it
};

// One file of the set. Private keys and tokens are 0600.
struct PkiFile {
  std::string data;
  unsigned mode = 0644;
  friend bool operator==(const PkiFile&, const PkiFile&) = default;
};
// Relative path ("pki/etcd/ca.crt", "admin.conf") -> file.
using PkiFiles = std::map<std::string, PkiFile>;

// The paths of the set, and those of one table entry.
namespace layout {
inline constexpr std::string_view kSaKey = "pki/sa.key";
inline constexpr std::string_view kSaPub = "pki/sa.pub";
inline constexpr std::string_view kTokenSecret = "tokens/bootstrap-token.yaml";
inline constexpr std::string_view kToken = "tokens/bootstrap-token";
inline constexpr std::string_view kClusterInfo = "tokens/cluster-info.yaml";
inline constexpr std::string_view kSshHostKey = "ssh/host_ed25519_key";
inline constexpr std::string_view kSshNodeKey = "ssh/node_ed25519_key";
inline constexpr std::string_view kSshAuthorizedKeys = "ssh/authorized_keys";
std::string certPath(const CertEntry& entry);  // pki/<name>.crt, or <kubeconfig>
std::string keyPath(const CertEntry& entry);   // pki/<name>.key, or <kubeconfig>
// Every path a complete set has.
std::vector<std::string> allPaths();
// The order a store writes a set in, when it cannot write it in one step: CA keys (0), then CA
// certificates (1), then the rest (2). Whatever a write cut short leaves, the next
// reconcilePki() completes it without replacing a CA.
int storeRank(std::string_view path);
}  // namespace layout

enum class PkiAction { kCreated, kKept, kRenewed, kUpdated };
std::string_view pkiActionName(PkiAction action);  // "created", "kept", ...

// What happened to one item: a table entry ("etcd/server"), "sa", "bootstrap-token",
// "cluster-info", "ssh/host", "ssh/node".
struct PkiChange {
  std::string item;
  PkiAction action = PkiAction::kKept;
  std::string reason;  // why it was created, renewed or updated; a warning when kept
};

struct PkiResult {
  PkiFiles files;                  // the complete set
  std::vector<PkiChange> changes;  // one per item, CAs first
  BootstrapToken token;
  // Until this instant the clock alone changes no verdict on `files`: no certificate enters
  // its renewal window (nor a CA its warning), the token keeps more than kTokenMinimumLeft.
  TimePoint valid_until = TimePoint::max();
};

Result<PkiResult> reconcilePki(const api::Cluster& cluster, const PkiFiles& existing,
                               const PkiOptions& options);
inline Result<PkiResult> generatePki(const api::Cluster& cluster, const PkiOptions& options) {
  return reconcilePki(cluster, {}, options);
}

// `herd pki check`: the state of every item. `cluster` (optional) adds the SAN comparison.
struct PkiCheckItem {
  std::string item;
  std::string path;
  std::string ca;  // issuing CA, empty for CAs and non-certificates
  std::optional<TimePoint> expires;
  std::string problem;  // empty when fine; an error a component would trip over
  std::string warning;  // renewal due, expiring CA: fine today, acted on by `generate`
};
std::vector<PkiCheckItem> checkPki(const PkiFiles& files, const api::Cluster* cluster,
                                   const PkiOptions& options);

}  // namespace herd::pki
