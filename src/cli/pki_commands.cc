// herd pki generate | check: a tenant's PKI in kubeadm's file layout.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <ostream>

#include "api/codec.h"
#include "api/defaults.h"
#include "api/validation.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "common/files.h"
#include "pki/pki_store.h"
#include "pki/tenant_pki.h"

namespace herd::cli {
namespace {

struct PkiGenerateOptions {
  std::string file;
  std::string out;
  std::string base_domain = std::string(api::kDefaultBaseDomain);
  std::string key_algorithm = "ecdsa-p256";
  int public_port = api::kPublicApiPort;
  int ca_days = static_cast<int>(pki::kDefaultCaValidity.count());
  int leaf_days = static_cast<int>(pki::kDefaultLeafValidity.count());
};

struct PkiCheckOptions {
  std::string dir;
  std::string file;
  std::string base_domain = std::string(api::kDefaultBaseDomain);
  std::string output;
};

// The one Cluster in `file`, defaulted and valid.
Result<api::Cluster> loadCluster(const std::string& file, const std::string& base_domain) {
  HERD_ASSIGN_OR_RETURN(std::string text, files::read(file));
  HERD_ASSIGN_OR_RETURN(auto docs, api::decodeManifests(text));
  if (docs.size() != 1) {
    return Status::invalid(
        fmt::format("{}: expected exactly one Cluster, found {}", file, docs.size()));
  }
  api::Cluster cluster = std::move(docs[0].decoded.cluster);
  api::FieldErrors errors = docs[0].decoded.errors;
  if (errors.empty()) {
    api::applyDefaults(cluster, api::DefaultingContext{base_domain});
    errors = api::validateCluster(cluster);
  }
  if (!errors.empty()) {
    std::string message =
        fmt::format("{}: Cluster \"{}\" is invalid:", file, cluster.metadata.name);
    for (const auto& e : errors) message += "\n  " + e.toString();
    return Status::invalid(message);
  }
  return cluster;
}

int runGenerate(const PkiGenerateOptions& o, Streams io) {
  auto cluster = loadCluster(o.file, o.base_domain);
  if (!cluster) {
    io.err << "herd: " << cluster.status().message() << "\n";
    return kExitFailure;
  }
  pki::PkiOptions options;
  auto algorithm = pki::parseKeyAlgorithm(o.key_algorithm);
  if (!algorithm) {
    io.err << "herd: " << algorithm.status().message() << "\n";
    return kExitUsage;
  }
  options.key_algorithm = *algorithm;
  options.public_port = o.public_port;
  options.ca_validity = pki::Days(o.ca_days);
  options.leaf_validity = pki::Days(o.leaf_days);

  auto existing = pki::readPkiDir(o.out);
  auto result = existing ? pki::reconcilePki(*cluster, *existing, options)
                         : Result<pki::PkiResult>(existing.status());
  if (!result) {
    io.err << "herd: " << o.out << ": " << result.status().message() << "\n";
    return kExitFailure;
  }
  auto written = pki::writePkiDir(o.out, result->files);
  if (!written) {
    io.err << "herd: writing " << o.out << ": " << written.status().message() << "\n";
    return kExitFailure;
  }
  for (const auto& change : result->changes) {
    io.out << fmt::format("{:<26} {:<8} {}\n", change.item, pki::pkiActionName(change.action),
                          change.reason);
  }
  io.out << fmt::format("{} file(s) written to {}\n", written->size(), o.out);
  return kExitOk;
}

int runCheck(const PkiCheckOptions& o, Streams io) {
  std::optional<api::Cluster> cluster;
  if (!o.file.empty()) {
    auto loaded = loadCluster(o.file, o.base_domain);
    if (!loaded) {
      io.err << "herd: " << loaded.status().message() << "\n";
      return kExitFailure;
    }
    cluster = std::move(*loaded);
  }
  if (!files::exists(o.dir)) {
    io.err << "herd: " << o.dir << ": no such directory\n";
    return kExitFailure;
  }
  auto existing = pki::readPkiDir(o.dir);
  if (!existing) {
    io.err << "herd: " << existing.status().message() << "\n";
    return kExitFailure;
  }
  const pki::TimePoint now = pki::Clock::now();
  auto items = pki::checkPki(*existing, cluster ? &*cluster : nullptr, pki::PkiOptions{});
  bool ok = true;
  nlohmann::ordered_json report = nlohmann::ordered_json::array();
  if (o.output != "json") {
    io.out << fmt::format("{:<26} {:<21} {:<9} {:<15} {}\n", "ITEM", "EXPIRES", "RESIDUAL", "CA",
                          "STATUS");
  }
  for (const auto& item : items) {
    ok = ok && item.problem.empty();
    std::string expires = item.expires ? pki::formatTime(*item.expires) : "-";
    std::string residual =
        item.expires
            ? fmt::format("{}d", std::chrono::duration_cast<pki::Days>(*item.expires - now).count())
            : "-";
    std::string status = !item.problem.empty()   ? "ERROR: " + item.problem
                         : !item.warning.empty() ? "WARNING: " + item.warning
                                                 : "ok";
    if (o.output == "json") {
      report.push_back(
          {{"item", item.item},
           {"path", item.path},
           {"ca", item.ca},
           {"expires", item.expires ? nlohmann::ordered_json(expires) : nlohmann::ordered_json()},
           {"problem", item.problem},
           {"warning", item.warning}});
    } else {
      io.out << fmt::format("{:<26} {:<21} {:<9} {:<15} {}\n", item.item, expires, residual,
                            item.ca.empty() ? "-" : item.ca, status);
    }
  }
  if (o.output == "json") io.out << report.dump(2) << "\n";
  return ok ? kExitOk : kExitFailure;
}

}  // namespace

void addPkiCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* pki_cmd =
      app.add_subcommand("pki", "Issue and check a tenant's certificates and credentials");
  pki_cmd->require_subcommand(1);

  auto* gen = pki_cmd->add_subcommand("generate",
                                      "Write a tenant's PKI in kubeadm's layout; re-running keeps "
                                      "what is valid, renews what must be");
  auto g = std::make_shared<PkiGenerateOptions>();
  gen->add_option("-f,--filename", g->file,
                  "Cluster manifest (YAML or JSON, '-' for standard input)")
      ->required();
  gen->add_option("--out", g->out, "Directory to write (created 0700 if missing)")->required();
  gen->add_option("--base-domain", g->base_domain, "Base domain of tenant endpoints")
      ->envname("HERD_BASE_DOMAIN");
  gen->add_option("--key-algorithm", g->key_algorithm,
                  "ecdsa-p256 (default), rsa-2048, rsa-3072 or rsa-4096")
      ->check(CLI::IsMember({"ecdsa-p256", "rsa-2048", "rsa-3072", "rsa-4096"}));
  gen->add_option("--public-port", g->public_port,
                  "Port of the public endpoint in admin.conf (default 443)")
      ->check(CLI::Range(1, 65535));
  gen->add_option("--ca-days", g->ca_days, "Validity of new CAs in days (default 3650)")
      ->check(CLI::PositiveNumber);
  gen->add_option("--leaf-days", g->leaf_days,
                  "Validity of new leaf certificates in days (default 365)")
      ->check(CLI::PositiveNumber);
  gen->callback([g, io, &exit_code] { exit_code = runGenerate(*g, io); });

  auto* check = pki_cmd->add_subcommand("check", "Report expiry and problems of a PKI directory");
  auto c = std::make_shared<PkiCheckOptions>();
  check->add_option("DIR", c->dir, "Directory written by 'herd pki generate'")->required();
  check->add_option("-f,--filename", c->file,
                    "Cluster manifest: also check that the SANs match it");
  check->add_option("--base-domain", c->base_domain, "Base domain of tenant endpoints")
      ->envname("HERD_BASE_DOMAIN");
  check->add_option("-o,--output", c->output, "Report format: json (default: a table)")
      ->check(CLI::IsMember({"json"}));
  check->footer("Exit status: 0 when nothing is wrong (warnings allowed), 1 otherwise.");
  check->callback([c, io, &exit_code] { exit_code = runCheck(*c, io); });
}

}  // namespace herd::cli
