// A memo of reconcilePki() per Cluster, for the controller, which looks at every tenant's
// credentials on every reconcile. A set that reconcilePki found complete and valid (it kept
// every file as it was) is not parsed, matched and verified again while nothing it was judged
// on has changed: the files themselves (a SHA-256 over every path, mode and byte), what the
// Cluster puts into them (its name, every certificate's subject and SANs, the API server URLs),
// the options that judge them, and the clock, which cannot change a verdict before the
// result's valid_until. Anything else (a set to complete, renew or reject) is reconciled in
// full every time, so a cached answer is always one reconcilePki() would give.
//
// Holds digests and the last verdicts, never key material. Thread-safe; the controller owns
// one for all its workers.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "pki/tenant_pki.h"

namespace herd::pki {

class PkiCache {
 public:
  // reconcilePki(cluster, existing, options), or the same answer remembered.
  Result<PkiResult> reconcile(const api::Cluster& cluster, const PkiFiles& existing,
                              const PkiOptions& options);
  // Drops what is remembered of a Cluster (it is gone).
  void forget(const std::string& cluster);

  struct Stats {
    uint64_t hits = 0;    // answers remembered
    uint64_t misses = 0;  // full reconciles
  };
  Stats stats() const;
  size_t size() const;

 private:
  struct Entry {
    std::string files_digest;
    std::string inputs_digest;
    TimePoint valid_until;
    BootstrapToken token;
    std::vector<PkiChange> changes;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by Cluster name
  Stats stats_;
};

// The SHA-256 of a credential set: every path, mode and byte, in path order (hex).
std::string digestOf(const PkiFiles& files);

}  // namespace herd::pki
