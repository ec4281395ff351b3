#include "pki/pki_cache.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <memory>

#include "api/naming.h"

namespace herd::pki {
namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
  void add(std::string_view part) {
    uint64_t size = part.size();
    EVP_DigestUpdate(ctx_.get(), &size, sizeof size);
    EVP_DigestUpdate(ctx_.get(), part.data(), part.size());
  }
  void add(int64_t value) { add(std::string_view(fmt::format("{}", value))); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &length);
    std::string out;
    out.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) out += fmt::format("{:02x}", md[i]);
    return out;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

// Everything of the Cluster and the options that reconcilePki's verdict on a complete set
// depends on. (What only matters when something is issued, like validity periods and the key
// algorithm, cannot change a set that needs nothing issued.)
std::string inputsDigest(const api::Cluster& cluster, const PkiOptions& options) {
  Sha256 h;
  h.add(cluster.metadata.name);
  for (const auto& entry : certificateTable()) {
    h.add(entry.name);
    h.add(commonNameFor(entry, &cluster));
    SubjectAltNames sans = sansFor(entry, cluster);
    h.add(static_cast<int64_t>(sans.dns.size()));
    for (const auto& dns : sans.dns) h.add(dns);
    h.add(static_cast<int64_t>(sans.ips.size()));
    for (const auto& ip : sans.ips) h.add(ip);
  }
  h.add(api::publicApiServerUrl(cluster, options.public_port));
  h.add(api::internalApiServerUrl(cluster));
  h.add(static_cast<int64_t>(options.renew_before.count()));
  return h.hex();
}

}  // namespace

std::string digestOf(const PkiFiles& files) {
  Sha256 h;
  for (const auto& [path, file] : files) {
    h.add(path);
    h.add(static_cast<int64_t>(file.mode));
    h.add(file.data);
  }
  return h.hex();
}

Result<PkiResult> PkiCache::reconcile(const api::Cluster& cluster, const PkiFiles& existing,
                                      const PkiOptions& options) {
  // An undefaulted Cluster has no SANs to compare: reconcilePki says what is wrong.
  if (cluster.metadata.name.empty() || !cluster.spec.network.serviceCIDR ||
      !cluster.spec.expose.hostname) {
    return reconcilePki(cluster, existing, options);
  }
  const TimePoint now = options.now.value_or(Clock::now());
  const std::string files_digest = digestOf(existing);
  const std::string inputs_digest = inputsDigest(cluster, options);
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(cluster.metadata.name);
    // The verdicts only move one way as time passes (a certificate comes due, a token runs
    // short), so a clock set back keeps them too.
    if (it != entries_.end() && it->second.files_digest == files_digest &&
        it->second.inputs_digest == inputs_digest && now < it->second.valid_until) {
      ++stats_.hits;
      return PkiResult{existing, it->second.changes, it->second.token, it->second.valid_until};
    }
    ++stats_.misses;
  }
  PkiOptions judged = options;
  judged.now = now;
  auto result = reconcilePki(cluster, existing, judged);
  if (!result) return result;
  std::lock_guard lock(mu_);
  bool kept = result->files == existing;
  for (const auto& change : result->changes) kept = kept && change.action == PkiAction::kKept;
  if (kept) {
    entries_.insert_or_assign(cluster.metadata.name,
                              Entry{files_digest, inputs_digest, result->valid_until,
                                    result->token, result->changes});
  } else {
    entries_.erase(cluster.metadata.name);
  }
  return result;
}

void PkiCache::forget(const std::string& cluster) {
  std::lock_guard lock(mu_);
  entries_.erase(cluster);
}

PkiCache::Stats PkiCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

size_t PkiCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace herd::pki
