// herd create cluster, herd validate, herd crd.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <ostream>

#include "api/codec.h"
#include "api/crd.h"
#include "api/defaults.h"
#include "api/manifests.h"
#include "api/validation.h"
#include "cli/app.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/seed.h"
#include "common/files.h"

namespace herd::cli {
namespace {

struct CreateOptions {
  std::string name;
  std::string version;
  int32_t etcd_replicas = 0;
  int32_t apiserver_replicas = 0;
  std::string service_cidr;
  std::string pod_cidr;
  std::string dns_domain;
  std::string dns_service_ip;
  std::string hostname;
  std::string base_domain = std::string(api::kDefaultBaseDomain);
  std::vector<std::string> enable_addons;
  std::vector<std::string> disable_addons;
  bool paused = false;
  bool dry_run = false;
  std::string output;
  SeedFlags seed;
};

const std::vector<std::string> kAddonNames = {"kube-proxy", "coredns", "metrics-server",
                                              "dashboard"};

api::AddonSpec& addonByName(api::AddonsSpec& addons, const std::string& name) {
  if (name == "kube-proxy") return addons.kubeProxy;
  if (name == "coredns") return addons.coreDNS;
  if (name == "metrics-server") return addons.metricsServer;
  return addons.dashboard;
}

api::Cluster clusterFromFlags(const CreateOptions& o) {
  api::Cluster c;
  c.metadata.name = o.name;
  auto set = [](auto& field, const auto& value, bool given) {
    if (given) field = value;
  };
  set(c.spec.version, o.version, !o.version.empty());
  set(c.spec.controlPlane.etcd.replicas, o.etcd_replicas, o.etcd_replicas != 0);
  set(c.spec.controlPlane.apiServer.replicas, o.apiserver_replicas, o.apiserver_replicas != 0);
  set(c.spec.network.serviceCIDR, o.service_cidr, !o.service_cidr.empty());
  set(c.spec.network.podCIDR, o.pod_cidr, !o.pod_cidr.empty());
  set(c.spec.network.dnsDomain, o.dns_domain, !o.dns_domain.empty());
  set(c.spec.network.dnsServiceIP, o.dns_service_ip, !o.dns_service_ip.empty());
  set(c.spec.expose.hostname, o.hostname, !o.hostname.empty());
  for (const auto& a : o.enable_addons) addonByName(c.spec.addons, a).enabled = true;
  for (const auto& a : o.disable_addons) addonByName(c.spec.addons, a).enabled = false;
  if (o.paused) c.spec.paused = true;
  return c;
}

void printErrors(std::ostream& err, const api::FieldErrors& errors, std::string_view indent) {
  for (const auto& e : errors) err << indent << e.toString() << "\n";
}

int runCreate(const CreateOptions& o, Streams io) {
  api::Cluster cluster = clusterFromFlags(o);
  api::applyDefaults(cluster, api::DefaultingContext{o.base_domain});
  api::FieldErrors errors = api::validateCluster(cluster);
  if (!errors.empty()) {
    io.err << fmt::format("herd: Cluster \"{}\" is invalid:\n", o.name);
    printErrors(io.err, errors, "  ");
    return kExitFailure;
  }
  if (o.dry_run) {
    printObject(io.out, api::encodeCluster(cluster),
                *parseOutputFormat(o.output.empty() ? "yaml" : o.output));
    return kExitOk;
  }
  // Send only what was asked for: the seed's schema and the controller supply the defaults,
  // so that platform settings such as the base domain come from the platform.
  auto client = connectSeed(o.seed);
  if (!client) {
    io.err << "herd: " << client.status().message() << "\n";
    return kExitFailure;
  }
  auto created = (*client)->create(clustersResource(), "", api::encodeCluster(clusterFromFlags(o)));
  if (!created) {
    io.err << "herd: " << explainSeedError(created.status()).message() << "\n";
    return kExitFailure;
  }
  if (o.output.empty()) {
    io.out << fmt::format("cluster.herd.io/{} created\n", o.name);
  } else {
    printObject(io.out, *created, *parseOutputFormat(o.output));
  }
  return kExitOk;
}

struct ValidateOptions {
  std::vector<std::string> files;
  std::string base_domain = std::string(api::kDefaultBaseDomain);
  std::string output;
};

// Validates every Cluster in every file. Text: one line per valid object, the errors of each
// invalid one indented beneath it. JSON: a list of {file, index, name, valid, errors}.
int runValidate(const ValidateOptions& o, Streams io) {
  bool all_valid = true;
  nlohmann::ordered_json report = nlohmann::ordered_json::array();
  for (const auto& file : o.files) {
    std::string label = file == "-" ? "<stdin>" : file;
    auto text = files::read(file);
    auto docs = text ? api::loadClusters(*text, api::DefaultingContext{o.base_domain})
                     : Result<std::vector<api::ManifestDocument>>(text.status());
    if (!docs || docs->empty()) {
      all_valid = false;
      std::string why = docs ? "no Cluster object found" : docs.status().message();
      if (o.output == "json") {
        report.push_back({{"file", label}, {"valid", false}, {"error", why}});
      } else {
        io.err << label << ": " << why << "\n";
      }
      continue;
    }
    for (auto& doc : *docs) {
      const api::FieldErrors& errors = doc.decoded.errors;
      const api::Cluster& cluster = doc.decoded.cluster;
      all_valid = all_valid && errors.empty();
      std::string what = fmt::format("Cluster \"{}\"", cluster.metadata.name);
      if (docs->size() > 1) what = fmt::format("document {}, {}", doc.index + 1, what);
      if (o.output == "json") {
        nlohmann::ordered_json errs = nlohmann::ordered_json::array();
        for (const auto& e : errors) {
          errs.push_back({{"field", e.field}, {"reason", e.reason()}, {"message", e.toString()}});
        }
        report.push_back({{"file", label},
                          {"index", doc.index},
                          {"name", cluster.metadata.name},
                          {"valid", errors.empty()},
                          {"errors", errs}});
      } else if (errors.empty()) {
        io.out << label << ": " << what << " is valid\n";
      } else {
        io.err << label << ": " << what << " is invalid:\n";
        printErrors(io.err, errors, "  ");
      }
    }
  }
  if (o.output == "json") io.out << report.dump(2) << "\n";
  return all_valid ? kExitOk : kExitFailure;
}

}  // namespace

void addCreateCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* create = app.add_subcommand("create", "Create a resource");
  create->require_subcommand(1);
  auto* cmd = create->add_subcommand("cluster", "Create a tenant cluster");
  auto o = std::make_shared<CreateOptions>();
  cmd->add_option("NAME", o->name, "Cluster name (a DNS label)")->required();
  cmd->add_option("--version", o->version,
                  "Kubernetes version, e.g. 1.32 (default: the newest supported)");
  cmd->add_option("--etcd-replicas", o->etcd_replicas, "etcd members: 1, 3 or 5 (default 3)");
  cmd->add_option("--apiserver-replicas", o->apiserver_replicas,
                  "kube-apiserver replicas (default 2)");
  cmd->add_option("--service-cidr", o->service_cidr,
                  "Service address range (default 10.96.0.0/12)");
  cmd->add_option("--pod-cidr", o->pod_cidr, "Pod address range (default 10.244.0.0/16)");
  cmd->add_option("--dns-domain", o->dns_domain, "Cluster DNS domain (default cluster.local)");
  cmd->add_option("--dns-service-ip", o->dns_service_ip,
                  "Cluster DNS Service address (default: 10th of the range)");
  cmd->add_option("--hostname", o->hostname, "Public API hostname (default NAME.BASE-DOMAIN)");
  cmd->add_option("--base-domain", o->base_domain, "Base domain of tenant endpoints")
      ->envname("HERD_BASE_DOMAIN");
  cmd->add_option("--enable-addon", o->enable_addons, "Enable an addon (repeatable)")
      ->check(CLI::IsMember(kAddonNames));
  cmd->add_option("--disable-addon", o->disable_addons, "Disable an addon (repeatable)")
      ->check(CLI::IsMember(kAddonNames));
  cmd->add_flag("--paused", o->paused, "Create the cluster paused: the controller leaves it alone");
  cmd->add_flag("--dry-run", o->dry_run,
                "Print the defaulted Cluster instead of creating it in the seed");
  addSeedFlags(cmd, o->seed);
  cmd->add_option("-o,--output", o->output, "Output format: yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}));
  cmd->callback([o, io, &exit_code] { exit_code = runCreate(*o, io); });
}

void addValidateCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "validate", "Check Cluster manifests and print every problem with its field path");
  auto o = std::make_shared<ValidateOptions>();
  cmd->add_option("-f,--filename", o->files,
                  "Manifest file, YAML or JSON ('-' for standard input); repeatable")
      ->required();
  cmd->add_option("--base-domain", o->base_domain, "Base domain of tenant endpoints")
      ->envname("HERD_BASE_DOMAIN");
  cmd->add_option("-o,--output", o->output, "Report format: json (default: text)")
      ->check(CLI::IsMember({"json"}));
  cmd->footer("Exit status: 0 when every Cluster is valid, 1 otherwise.");
  cmd->callback([o, io, &exit_code] { exit_code = runValidate(*o, io); });
}

void addCrdCommand(CLI::App& app, Streams io, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "crd", "Print the Cluster CustomResourceDefinition (herd crd | kubectl apply -f -)");
  cmd->callback([io, &exit_code] {
    io.out << api::clusterCrdYaml();
    exit_code = kExitOk;
  });
}

}  // namespace herd::cli
