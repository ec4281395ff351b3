#include "pki/tenant_pki.h"

#include <fmt/format.h>

#include <algorithm>

#include "api/naming.h"
#include "common/yaml.h"
#include "pki/kubeconfig.h"
#include "pki/ssh_key.h"

namespace herd::pki {

namespace layout {

std::string certPath(const CertEntry& entry) {
  return entry.kubeconfig.empty() ? fmt::format("pki/{}.crt", entry.name)
                                  : std::string(entry.kubeconfig);
}

std::string keyPath(const CertEntry& entry) {
  return entry.kubeconfig.empty() ? fmt::format("pki/{}.key", entry.name)
                                  : std::string(entry.kubeconfig);
}

std::vector<std::string> allPaths() {
  std::vector<std::string> paths;
  for (const auto& entry : certificateTable()) {
    paths.push_back(certPath(entry));
    paths.push_back(keyPath(entry));
  }
  for (auto p : {kSaKey, kSaPub, kTokenSecret, kToken, kClusterInfo, kSshHostKey, kSshNodeKey,
                 kSshAuthorizedKeys}) {
    paths.emplace_back(p);
  }
  paths.push_back(std::string(kSshHostKey) + ".pub");
  paths.push_back(std::string(kSshNodeKey) + ".pub");
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

int storeRank(std::string_view path) {
  for (const auto& entry : certificateTable()) {
    if (!entry.isCa()) continue;
    if (path == keyPath(entry)) return 0;
    if (path == certPath(entry)) return 1;
  }
  return 2;
}

}  // namespace layout

namespace {

constexpr unsigned kPrivateMode = 0600;
constexpr unsigned kPublicMode = 0644;

struct Issued {
  Certificate cert;
  PrivateKey key;
  std::string cert_pem;
  std::string key_pem;
};

// What is on file for one table entry, before any judgement.
struct Found {
  std::optional<std::string> cert_pem;
  std::optional<std::string> key_pem;
  bool any() const { return cert_pem || key_pem; }
};

Result<Found> findPems(const CertEntry& entry, const PkiFiles& files) {
  Found found;
  if (!entry.kubeconfig.empty()) {
    auto it = files.find(std::string(entry.kubeconfig));
    if (it == files.end()) return found;
    auto parsed = parseKubeconfig(it->second.data);
    if (!parsed) return parsed.status().withContext(std::string(entry.kubeconfig));
    found.cert_pem = parsed->client_cert_pem;
    found.key_pem = parsed->client_key_pem;
    return found;
  }
  if (auto it = files.find(layout::certPath(entry)); it != files.end())
    found.cert_pem = it->second.data;
  if (auto it = files.find(layout::keyPath(entry)); it != files.end())
    found.key_pem = it->second.data;
  return found;
}

int64_t daysBetween(TimePoint from, TimePoint to) {
  return std::chrono::duration_cast<Days>(to - from).count();
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Names in `want` that `have` lacks, and the reverse, for a readable "SANs changed" reason.
std::string sanDiff(const SubjectAltNames& have, const SubjectAltNames& want) {
  std::vector<std::string> added, removed;
  auto diff = [](const std::vector<std::string>& a, const std::vector<std::string>& b,
                 std::vector<std::string>& out, std::string_view prefix) {
    for (const auto& x : a) {
      if (!std::binary_search(b.begin(), b.end(), x)) out.push_back(std::string(prefix) + x);
    }
  };
  diff(want.dns, have.dns, added, "DNS:");
  diff(want.ips, have.ips, added, "IP:");
  diff(have.dns, want.dns, removed, "DNS:");
  diff(have.ips, want.ips, removed, "IP:");
  std::string out = "SANs changed";
  if (!added.empty()) out += " (+" + joined(added) + ")";
  if (!removed.empty()) out += " (-" + joined(removed) + ")";
  return out;
}

// The verdict on one table entry's existing material.
struct Inspection {
  enum class State { kMissing, kUsable, kBroken } state = State::kMissing;
  Status error;                            // when kBroken
  std::vector<std::string> renew_reasons;  // when kUsable: why a leaf must be reissued
  std::string warning;                     // when kUsable: e.g. a CA close to expiry
  std::optional<Issued> material;          // when kUsable
  std::optional<PrivateKey> orphan_key;    // a key whose certificate is missing
};

Inspection broken(Status status) {
  Inspection out;
  out.state = Inspection::State::kBroken;
  out.error = std::move(status);
  return out;
}

// Judges one entry. `ca` is its issuer's material (null for CAs, or when the issuer itself is
// unusable); `cluster` null skips the SAN comparison.
Inspection inspect(const CertEntry& entry, const PkiFiles& files, const Issued* ca,
                   const api::Cluster* cluster, const PkiOptions& options, TimePoint now) {
  const std::string cert_path = layout::certPath(entry);
  const std::string key_path = layout::keyPath(entry);
  auto found = findPems(entry, files);
  if (!found) return broken(found.status());
  Inspection out;
  if (!found->any()) return out;

  // A CA's certificate without its key cannot sign again, and a new key would orphan every
  // credential it issued. Its key without the certificate is what a write cut short leaves
  // (keys are stored first, see layout::storeRank): the certificate is issued again from it.
  if (entry.isCa() && found->cert_pem && !found->key_pem) {
    return broken(Status::failedPrecondition(
        fmt::format("{} is missing while its other half exists. herd never replaces a CA on its "
                    "own: every credential it "
                    "issued would stop working. Restore {} from a backup, or remove the CA's files "
                    "deliberately to start over",
                    key_path, key_path)));
  }
  std::optional<PrivateKey> key;
  if (found->key_pem) {
    auto parsed = PrivateKey::fromPem(*found->key_pem);
    if (!parsed) return broken(parsed.status().withContext(key_path));
    key = std::move(*parsed);
  }
  if (!found->cert_pem) {
    out.state = Inspection::State::kMissing;
    out.orphan_key = std::move(key);
    return out;
  }
  auto cert = Certificate::fromPem(*found->cert_pem);
  if (!cert) return broken(cert.status().withContext(cert_path));
  if (!key) {
    // A leaf without its key cannot be used; reissue it with a new one.
    out.state = Inspection::State::kMissing;
    return out;
  }
  if (!cert->matchesKey(*key)) {
    return broken(Status::failedPrecondition(fmt::format(
        "{}: the private key in {} does not belong to this certificate", cert_path, key_path)));
  }

  if (entry.isCa()) {
    if (!cert->isCa())
      return broken(Status::failedPrecondition(cert_path + ": not a CA certificate"));
    if (cert->verifySignedBy(*cert).isOk() == false) {
      return broken(Status::failedPrecondition(cert_path + ": not a self-signed CA"));
    }
    if (cert->notAfter() <= now) {
      return broken(Status::failedPrecondition(
          fmt::format("{}: the CA expired on {}. Every certificate it issued is invalid; herd does "
                      "not replace a CA by itself. "
                      "Rotate it deliberately (remove the tenant's PKI and reissue, then restart "
                      "every component and node)",
                      cert_path, formatTime(cert->notAfter()))));
    }
    if (cert->notAfter() - now < options.renew_before) {
      out.warning = fmt::format("CA expires in {} days ({}): plan its rotation",
                                daysBetween(now, cert->notAfter()), formatTime(cert->notAfter()));
    }
  } else {
    if (ca != nullptr) {
      if (Status s = cert->verifySignedBy(ca->cert); !s.isOk()) {
        return broken(Status::failedPrecondition(
            fmt::format("{}: not issued by this tenant's {} (foreign CA): {}", cert_path, entry.ca,
                        s.message())));
      }
    }
    if (cert->notAfter() <= now) {
      out.renew_reasons.push_back("expired on " + formatTime(cert->notAfter()));
    } else if (cert->notAfter() - now < options.renew_before) {
      out.renew_reasons.push_back(
          fmt::format("expires in {} days", daysBetween(now, cert->notAfter())));
    }
    if (cluster != nullptr) {
      SubjectAltNames want = sansFor(entry, *cluster);
      SubjectAltNames have = cert->sans();
      if (have != want) out.renew_reasons.push_back(sanDiff(have, want));
    }
    std::vector<std::string> orgs;
    if (!entry.organization.empty()) orgs.emplace_back(entry.organization);
    bool cn_matches = cluster != nullptr ? cert->commonName() == commonNameFor(entry, cluster)
                                         : entry.common_name == kClusterNameSubject ||
                                               cert->commonName() == entry.common_name;
    if (!cn_matches || cert->organizations() != orgs) {
      out.renew_reasons.push_back("subject changed (was " + cert->subjectText() + ")");
    }
    if (cert->keyUsage() != entry.key_usage || cert->extKeyUsage() != entry.ext_key_usage ||
        cert->isCa()) {
      out.renew_reasons.push_back("key usages changed");
    }
  }
  out.state = Inspection::State::kUsable;
  out.material = Issued{std::move(*cert), std::move(*key), *found->cert_pem, *found->key_pem};
  return out;
}

class Reconciler {
 public:
  Reconciler(const api::Cluster& cluster, const PkiFiles& existing, const PkiOptions& options)
      : cluster_(cluster),
        existing_(existing),
        options_(options),
        now_(options.now.value_or(Clock::now())) {}

  Result<PkiResult> run() {
    for (const auto& entry : certificateTable()) HERD_RETURN_IF_ERROR(reconcileCertificate(entry));
    HERD_RETURN_IF_ERROR(reconcileServiceAccountKey());
    HERD_RETURN_IF_ERROR(reconcileToken());
    HERD_RETURN_IF_ERROR(
        reconcileSshKey("ssh/host", layout::kSshHostKey, "herd-host@" + cluster_.metadata.name));
    HERD_RETURN_IF_ERROR(
        reconcileSshKey("ssh/node", layout::kSshNodeKey, "herd-node@" + cluster_.metadata.name));
    // Nodes may only open tunnels: no shell, no agent or X11 forwarding, no pty.
    put(std::string(layout::kSshAuthorizedKeys),
        "restrict,port-forwarding " + node_key_line_ + "\n", kPublicMode);
    return std::move(result_);
  }

 private:
  const std::string* existingData(const std::string& path) const {
    auto it = existing_.find(path);
    return it == existing_.end() ? nullptr : &it->second.data;
  }

  void put(const std::string& path, std::string data, unsigned mode) {
    result_.files[path] = PkiFile{std::move(data), mode};
  }

  // The verdicts on the files change at `when` at the latest.
  void validAtMostUntil(TimePoint when) { result_.valid_until = std::min(result_.valid_until, when); }

  void record(std::string item, PkiAction action, std::string reason = {}) {
    result_.changes.push_back(PkiChange{std::move(item), action, std::move(reason)});
  }

  CertificateRequest requestFor(const CertEntry& entry, const Issued* ca) const {
    CertificateRequest req;
    req.common_name = commonNameFor(entry, &cluster_);
    if (!entry.organization.empty()) req.organizations.emplace_back(entry.organization);
    req.is_ca = entry.isCa();
    req.key_usage = entry.key_usage;
    req.ext_key_usage = entry.ext_key_usage;
    req.sans = sansFor(entry, cluster_);
    req.not_before = now_ - kClockSkewAllowance;
    req.not_after = now_ + (entry.isCa() ? options_.ca_validity : options_.leaf_validity);
    // A leaf cannot outlive its CA: clients would reject it from that day on anyway.
    if (ca != nullptr) req.not_after = std::min(req.not_after, ca->cert.notAfter());
    return req;
  }

  Status issue(const CertEntry& entry, std::optional<PrivateKey> reuse_key) {
    const Issued* ca = entry.isCa() ? nullptr : &issued_.at(std::string(entry.ca));
    std::optional<PrivateKey> key = std::move(reuse_key);
    if (!key) {
      HERD_ASSIGN_OR_RETURN(PrivateKey fresh, PrivateKey::generate(options_.key_algorithm));
      key = std::move(fresh);
    }
    CertificateRequest req = requestFor(entry, ca);
    HERD_ASSIGN_OR_RETURN(Certificate cert, Certificate::issue(req, *key, ca ? &ca->cert : nullptr,
                                                               ca ? ca->key : *key));
    std::string cert_pem = cert.toPem();
    std::string key_pem = key->toPem();
    issued_.insert_or_assign(std::string(entry.name),
                             Issued{std::move(cert), std::move(*key), cert_pem, key_pem});
    return Status::ok();
  }

  bool anyLeafOf(const CertEntry& ca) const {
    for (const auto& entry : certificateTable()) {
      if (entry.ca != ca.name) continue;
      auto found = findPems(entry, existing_);
      if (!found || found->cert_pem) return true;
    }
    return false;
  }

  Status reconcileCertificate(const CertEntry& entry) {
    const Issued* ca = entry.isCa() ? nullptr : &issued_.at(std::string(entry.ca));
    Inspection seen = inspect(entry, existing_, ca, &cluster_, options_, now_);
    PkiAction action = PkiAction::kKept;
    std::string reason;
    switch (seen.state) {
      case Inspection::State::kBroken:
        return seen.error;
      case Inspection::State::kMissing:
        if (entry.isCa() && !seen.orphan_key && anyLeafOf(entry)) {
          return Status::failedPrecondition(
              fmt::format("{} is missing but certificates it issued exist. herd will not create a "
                          "new CA over them: restore "
                          "{} and its key, or remove the whole PKI deliberately to start over",
                          layout::certPath(entry), layout::certPath(entry)));
        }
        action = existingData(layout::certPath(entry)) ? PkiAction::kRenewed : PkiAction::kCreated;
        reason = action == PkiAction::kCreated ? "missing" : "private key missing";
        if (seen.orphan_key) {
          action = PkiAction::kCreated;
          reason = "certificate missing: issued again with the stored key";
        }
        HERD_RETURN_IF_ERROR(issue(entry, std::move(seen.orphan_key)));
        break;
      case Inspection::State::kUsable:
        if (!seen.renew_reasons.empty()) {
          action = PkiAction::kRenewed;
          reason = joined(seen.renew_reasons);
          HERD_RETURN_IF_ERROR(issue(entry, std::move(seen.material->key)));
        } else {
          reason = seen.warning;
          issued_.emplace(std::string(entry.name), std::move(*seen.material));
        }
        break;
    }
    const Issued& mine = issued_.at(std::string(entry.name));
    validAtMostUntil(mine.cert.notAfter() - options_.renew_before);
    if (entry.kubeconfig.empty()) {
      put(layout::certPath(entry), mine.cert_pem, kPublicMode);
      put(layout::keyPath(entry), mine.key_pem, kPrivateMode);
    } else {
      const Issued& issuer = issued_.at(std::string(entry.ca));
      // The tenant owner connects from outside, through the gateway; the control-plane
      // components and herd itself run in the seed, next to the in-seed Service.
      std::string server = entry.name == "admin"
                               ? api::publicApiServerUrl(cluster_, options_.public_port)
                               : api::internalApiServerUrl(cluster_);
      std::string text = renderKubeconfig(
          KubeconfigParams{cluster_.metadata.name, server, issuer.cert_pem,
                           commonNameFor(entry, &cluster_), mine.cert_pem, mine.key_pem});
      const std::string* old = existingData(std::string(entry.kubeconfig));
      if (action == PkiAction::kKept && old != nullptr && *old != text) {
        action = PkiAction::kUpdated;
        reason = "kubeconfig rewritten (server or CA changed)";
      }
      put(std::string(entry.kubeconfig), std::move(text), kPrivateMode);
    }
    record(std::string(entry.name), action, std::move(reason));
    return Status::ok();
  }

  Status reconcileServiceAccountKey() {
    const std::string key_path(layout::kSaKey), pub_path(layout::kSaPub);
    const std::string* key_pem = existingData(key_path);
    const std::string* pub_pem = existingData(pub_path);
    if (key_pem == nullptr) {
      if (pub_pem != nullptr) {
        return Status::failedPrecondition(
            key_path + " is missing while " + pub_path +
            " exists: without it no service-account token can be issued, and a new key would "
            "invalidate every "
            "existing one. Restore it, or remove both files deliberately");
      }
      HERD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::generate(options_.key_algorithm));
      put(key_path, key.toPem(), kPrivateMode);
      put(pub_path, key.publicKeyPem(), kPublicMode);
      record("sa", PkiAction::kCreated, "missing");
      return Status::ok();
    }
    auto key = PrivateKey::fromPem(*key_pem);
    if (!key) return key.status().withContext(key_path);
    put(key_path, *key_pem, kPrivateMode);
    if (pub_pem == nullptr) {
      put(pub_path, key->publicKeyPem(), kPublicMode);
      record("sa", PkiAction::kUpdated, pub_path + " rewritten from the private key");
      return Status::ok();
    }
    auto matches = publicKeyPemMatches(*pub_pem, *key);
    if (!matches) return matches.status().withContext(pub_path);
    if (!*matches) {
      return Status::failedPrecondition(pub_path + ": the public key does not belong to " +
                                        key_path);
    }
    put(pub_path, *pub_pem, kPublicMode);
    record("sa", PkiAction::kKept);
    return Status::ok();
  }

  Status reconcileToken() {
    std::optional<BootstrapToken> token;
    std::string reason = "missing";
    if (const std::string* text = existingData(std::string(layout::kTokenSecret))) {
      auto docs = parseDocuments(*text);
      if (!docs || docs->size() != 1) {
        return Status::invalid(std::string(layout::kTokenSecret) +
                               ": not a bootstrap token Secret");
      }
      auto parsed = tokenFromSecret(docs->front());
      if (!parsed) return parsed.status().withContext(layout::kTokenSecret);
      if (parsed->expires - now_ >= kTokenMinimumLeft) {
        token = *parsed;
      } else {
        reason = parsed->expires <= now_ ? "expired on " + formatTime(parsed->expires)
                                         : "expires within the hour";
      }
    }
    PkiAction action = PkiAction::kKept;
    if (!token) {
      auto ttl = std::chrono::duration_cast<Clock::duration>(options_.token_ttl);
      HERD_ASSIGN_OR_RETURN(
          token, BootstrapToken::generate(std::chrono::floor<std::chrono::seconds>(now_ + ttl)));
      action = existingData(std::string(layout::kTokenSecret)) ? PkiAction::kRenewed
                                                               : PkiAction::kCreated;
    } else {
      reason.clear();
    }
    put(std::string(layout::kTokenSecret), toYaml(bootstrapTokenSecret(*token)), kPrivateMode);
    put(std::string(layout::kToken), token->toString() + "\n", kPrivateMode);
    record("bootstrap-token", action, reason);
    validAtMostUntil(token->expires - kTokenMinimumLeft);

    // cluster-info follows the CA, the public endpoint and the token; rebuilt every time.
    std::string kubeconfig = renderClusterInfoKubeconfig(
        api::publicApiServerUrl(cluster_, options_.public_port), issued_.at("ca").cert_pem);
    std::string text = toYaml(clusterInfoConfigMap(kubeconfig, *token));
    const std::string* old = existingData(std::string(layout::kClusterInfo));
    PkiAction info_action = old == nullptr ? PkiAction::kCreated
                            : *old == text ? PkiAction::kKept
                                           : PkiAction::kUpdated;
    record("cluster-info", info_action, info_action == PkiAction::kUpdated ? "re-signed" : "");
    put(std::string(layout::kClusterInfo), std::move(text), kPublicMode);
    result_.token = *token;
    return Status::ok();
  }

  Status reconcileSshKey(const std::string& item, std::string_view path_view, std::string comment) {
    const std::string path(path_view);
    std::optional<SshKey> key;
    PkiAction action = PkiAction::kKept;
    if (const std::string* text = existingData(path)) {
      auto parsed = SshKey::fromOpenSsh(*text);
      if (!parsed) return parsed.status().withContext(path);
      key = std::move(*parsed);
      put(path, *text, kPrivateMode);
    } else {
      HERD_ASSIGN_OR_RETURN(key, SshKey::generate(std::move(comment)));
      put(path, key->privateKeyOpenSsh(), kPrivateMode);
      action = PkiAction::kCreated;
    }
    std::string line = key->publicKeyLine();
    const std::string pub_path = path + ".pub";
    const std::string* old_pub = existingData(pub_path);
    if (action == PkiAction::kKept && (old_pub == nullptr || *old_pub != line + "\n")) {
      action = PkiAction::kUpdated;
    }
    put(pub_path, line + "\n", kPublicMode);
    if (item == "ssh/node") node_key_line_ = line;
    record(item, action,
           action == PkiAction::kCreated   ? "missing"
           : action == PkiAction::kUpdated ? "public key rewritten"
                                           : "");
    return Status::ok();
  }

  const api::Cluster& cluster_;
  const PkiFiles& existing_;
  const PkiOptions& options_;
  const TimePoint now_;
  std::map<std::string, Issued> issued_;
  std::string node_key_line_;
  PkiResult result_;
};

}  // namespace

std::string_view pkiActionName(PkiAction action) {
  switch (action) {
    case PkiAction::kCreated:
      return "created";
    case PkiAction::kKept:
      return "kept";
    case PkiAction::kRenewed:
      return "renewed";
    case PkiAction::kUpdated:
      return "updated";
  }
  return "unknown";
}

Result<PkiResult> reconcilePki(const api::Cluster& cluster, const PkiFiles& existing,
                               const PkiOptions& options) {
  if (cluster.metadata.name.empty() || !cluster.spec.network.serviceCIDR ||
      !cluster.spec.expose.hostname) {
    return Status::invalid(
        "the Cluster must be named and defaulted (applyDefaults) before its PKI is issued");
  }
  return Reconciler(cluster, existing, options).run();
}

std::vector<PkiCheckItem> checkPki(const PkiFiles& files, const api::Cluster* cluster,
                                   const PkiOptions& options) {
  const TimePoint now = options.now.value_or(Clock::now());
  std::vector<PkiCheckItem> items;
  std::map<std::string, Issued> usable;
  for (const auto& entry : certificateTable()) {
    PkiCheckItem item{
        std::string(entry.name), layout::certPath(entry), std::string(entry.ca), {}, {}, {}};
    const Issued* ca = nullptr;
    if (!entry.isCa()) {
      auto it = usable.find(std::string(entry.ca));
      if (it == usable.end()) {
        item.problem =
            "cannot be checked: its CA " + std::string(entry.ca) + " is missing or broken";
      } else {
        ca = &it->second;
      }
    }
    Inspection seen = inspect(entry, files, ca, cluster, options, now);
    switch (seen.state) {
      case Inspection::State::kMissing:
        item.problem = "missing";
        break;
      case Inspection::State::kBroken:
        item.problem = seen.error.message();
        break;
      case Inspection::State::kUsable:
        item.expires = seen.material->cert.notAfter();
        if (item.expires <= now) item.problem = "expired on " + formatTime(*item.expires);
        item.warning = seen.renew_reasons.empty() ? seen.warning
                                                  : "renewal due: " + joined(seen.renew_reasons);
        if (ca != nullptr || entry.isCa())
          usable.emplace(std::string(entry.name), std::move(*seen.material));
        break;
    }
    items.push_back(std::move(item));
  }

  PkiCheckItem sa{"sa", std::string(layout::kSaKey), "", {}, {}, {}};
  auto key_it = files.find(std::string(layout::kSaKey));
  auto pub_it = files.find(std::string(layout::kSaPub));
  if (key_it == files.end() || pub_it == files.end()) {
    sa.problem = "missing";
  } else if (auto key = PrivateKey::fromPem(key_it->second.data); !key) {
    sa.problem = key.status().message();
  } else if (auto match = publicKeyPemMatches(pub_it->second.data, *key); !match || !*match) {
    sa.problem = match ? "sa.pub does not belong to sa.key" : match.status().message();
  }
  items.push_back(std::move(sa));

  PkiCheckItem token{"bootstrap-token", std::string(layout::kTokenSecret), "", {}, {}, {}};
  if (auto it = files.find(std::string(layout::kTokenSecret)); it == files.end()) {
    token.problem = "missing";
  } else if (auto docs = parseDocuments(it->second.data); !docs || docs->size() != 1) {
    token.problem = "not a bootstrap token Secret";
  } else if (auto parsed = tokenFromSecret(docs->front()); !parsed) {
    token.problem = parsed.status().message();
  } else {
    token.expires = parsed->expires;
    if (parsed->expires <= now) token.warning = "expired: `herd pki generate` issues a new one";
  }
  items.push_back(std::move(token));

  for (auto [item, path] :
       {std::pair{"ssh/host", layout::kSshHostKey}, std::pair{"ssh/node", layout::kSshNodeKey}}) {
    PkiCheckItem ssh{item, std::string(path), "", {}, {}, {}};
    if (auto it = files.find(std::string(path)); it == files.end()) {
      ssh.problem = "missing";
    } else if (auto key = SshKey::fromOpenSsh(it->second.data); !key) {
      ssh.problem = key.status().message();
    }
    items.push_back(std::move(ssh));
  }
  return items;
}

}  // namespace herd::pki
