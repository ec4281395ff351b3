#include "api/validation.h"

#include <fmt/format.h>

#include <regex>
#include <set>

#include "api/quantity.h"
#include "api/versions.h"
#include "common/net.h"

namespace herd::api {
namespace {

constexpr std::string_view kDns1123LabelMessage =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
constexpr std::string_view kDns1123SubdomainMessage =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr std::string_view kResourceNames[] = {"cpu", "memory", "ephemeral-storage"};
constexpr std::string_view kConditionStatuses[] = {"True", "False", "Unknown"};

void validateName(const ObjectMeta& meta, FieldErrors& errs) {
  FieldPath p = FieldPath("metadata").child("name");
  if (meta.name.empty()) {
    errs.required(p, "name is required");
    return;
  }
  if (!isDns1123Label(meta.name)) errs.invalid(p, meta.name, std::string(kDns1123LabelMessage));
  if (meta.name.size() > kMaxClusterNameLength) {
    errs.invalid(
        p, meta.name,
        fmt::format(
            "must be no more than {} characters, to leave room for the names herd derives from "
            "it (namespace {})",
            kMaxClusterNameLength, namespaceFor(meta.name)));
  }
  if (!meta.namespace_.empty()) {
    errs.forbidden(FieldPath("metadata").child("namespace"),
                   "Cluster is cluster-scoped: remove metadata.namespace");
  }
}

void validateReplicas(const std::optional<int32_t>& replicas, const FieldPath& p,
                      FieldErrors& errs) {
  if (!replicas) {
    errs.required(p);
  } else if (*replicas < 1) {
    errs.invalid(p, *replicas, "must be greater than or equal to 1");
  }
}

void validateQuantity(const Quantity& q, const FieldPath& p, FieldErrors& errs,
                      std::optional<long double>* out) {
  auto v = parseQuantity(q.text);
  if (!v) {
    errs.invalid(p, q.text, v.status().message());
  } else if (*v < 0) {
    errs.invalid(p, q.text, "must be greater than or equal to 0");
  } else if (out) {
    *out = *v;
  }
}

void validateResources(const Resources& r, const FieldPath& p, FieldErrors& errs) {
  std::vector<std::string_view> supported(std::begin(kResourceNames), std::end(kResourceNames));
  std::map<std::string, long double> limits;
  auto check = [&](const std::map<std::string, Quantity>& list, const FieldPath& lp,
                   bool is_limit) {
    for (const auto& [name, q] : list) {
      if (std::find(supported.begin(), supported.end(), name) == supported.end()) {
        errs.notSupported(lp.key(name), name, supported);
        continue;
      }
      std::optional<long double> value;
      validateQuantity(q, lp.key(name), errs, &value);
      if (!value) continue;
      if (is_limit) {
        limits[name] = *value;
      } else if (auto it = limits.find(name); it != limits.end() && *value > it->second) {
        errs.invalid(lp.key(name), q.text,
                     fmt::format("must be less than or equal to {} limit of {}", name,
                                 r.limits.at(name).text));
      }
    }
  };
  check(r.limits, p.child("limits"), true);
  check(r.requests, p.child("requests"), false);
}

// `version` is the cluster's spec.version; an unsupported one is reported on its own, and the
// flags are then checked against the recorded --help alone.
void validateExtraArgs(const std::map<std::string, std::string>& args, Binary binary,
                       const std::optional<std::string>& version, const FieldPath& p,
                       FieldErrors& errs) {
  bool versioned = version && findRelease(*version) != nullptr;
  for (const auto& [flag, value] : args) {
    FieldPath fp = p.key(flag);
    std::string removed_in = versioned ? flagRemovedIn(binary, flag, *version) : "";
    if (flag.starts_with("-")) {
      errs.invalid(fp, flag, "write the flag without its leading dashes");
    } else if (!removed_in.empty()) {
      errs.invalid(fp, flag,
                   fmt::format("{} dropped this flag in {}", binaryName(binary), removed_in));
    } else if (!isKnownFlag(binary, flag)) {
      errs.invalid(fp, flag, fmt::format("not a flag of {}", binaryName(binary)));
    } else if (isManagedFlag(binary, flag)) {
      errs.forbidden(fp, fmt::format("herd sets --{} itself; it cannot be overridden", flag));
    }
  }
}

void validateControlPlane(const ControlPlaneSpec& cp, const std::optional<std::string>& version,
                          const FieldPath& p, FieldErrors& errs) {
  struct Stateless {
    const ComponentSpec& spec;
    std::string_view field;
    Binary binary;
  };
  for (const Stateless& c :
       {Stateless{cp.apiServer, "apiServer", Binary::kKubeApiserver},
        Stateless{cp.controllerManager, "controllerManager", Binary::kKubeControllerManager},
        Stateless{cp.scheduler, "scheduler", Binary::kKubeScheduler}}) {
    FieldPath cpath = p.child(c.field);
    validateReplicas(c.spec.replicas, cpath.child("replicas"), errs);
    validateResources(c.spec.resources, cpath.child("resources"), errs);
    validateExtraArgs(c.spec.extraArgs, c.binary, version, cpath.child("extraArgs"), errs);
  }
  FieldPath ep = p.child("etcd");
  const EtcdSpec& etcd = cp.etcd;
  if (!etcd.replicas) {
    errs.required(ep.child("replicas"));
  } else if (*etcd.replicas != 1 && *etcd.replicas != 3 && *etcd.replicas != 5) {
    errs.invalid(ep.child("replicas"), *etcd.replicas, "must be 1, 3 or 5");
  }
  if (!etcd.storageSize) {
    errs.required(ep.child("storageSize"));
  } else {
    std::optional<long double> size;
    validateQuantity(*etcd.storageSize, ep.child("storageSize"), errs, &size);
    if (size && *size <= 0)
      errs.invalid(ep.child("storageSize"), etcd.storageSize->text, "must be greater than 0");
  }
  validateResources(etcd.resources, ep.child("resources"), errs);
  validateExtraArgs(etcd.extraArgs, Binary::kEtcd, version, ep.child("extraArgs"), errs);
}

std::optional<net::Cidr> validateCidr(const std::optional<std::string>& text, const FieldPath& p,
                                      FieldErrors& errs) {
  if (!text) {
    errs.required(p);
    return std::nullopt;
  }
  auto cidr = net::Cidr::parse(*text);
  if (!cidr) {
    errs.invalid(p, *text, "must be a valid CIDR, e.g. 10.96.0.0/12");
    return std::nullopt;
  }
  if (!cidr->isCanonical()) {
    errs.invalid(p, *text,
                 fmt::format("must be a network address with no host bits set; did you mean {}?",
                             cidr->network().toString()));
    return std::nullopt;
  }
  return *cidr;
}

void validateNetwork(const NetworkSpec& net, const FieldPath& p, FieldErrors& errs) {
  auto services = validateCidr(net.serviceCIDR, p.child("serviceCIDR"), errs);
  auto pods = validateCidr(net.podCIDR, p.child("podCIDR"), errs);
  if (services) {
    // kube-apiserver refuses service ranges wider than 20 host bits (a /12 for IPv4, /108 for
    // IPv6); the range must also hold the kubernetes Service (.1) and the DNS Service (.10).
    int host_bits = services->hostBits();
    if (host_bits > 20) {
      errs.invalid(
          p.child("serviceCIDR"), *net.serviceCIDR,
          fmt::format(
              "must be no wider than /{} (kube-apiserver allows at most 2^20 service addresses)",
              services->address().bits() - 20));
      services.reset();
    } else if (host_bits < 4) {
      errs.invalid(
          p.child("serviceCIDR"), *net.serviceCIDR,
          fmt::format(
              "must be at least a /{}: it must hold the kubernetes and DNS Service addresses",
              services->address().bits() - 4));
      services.reset();
    }
  }
  if (services && pods) {
    if (services->family() != pods->family()) {
      errs.invalid(p.child("podCIDR"), *net.podCIDR,
                   fmt::format("must be of the same IP family as spec.network.serviceCIDR ({})",
                               *net.serviceCIDR));
    } else if (services->overlaps(*pods)) {
      errs.invalid(
          p.child("podCIDR"), *net.podCIDR,
          fmt::format("must not overlap with spec.network.serviceCIDR ({})", *net.serviceCIDR));
    }
  }
  if (!net.dnsDomain) {
    errs.required(p.child("dnsDomain"));
  } else if (!isDns1123Subdomain(*net.dnsDomain)) {
    errs.invalid(p.child("dnsDomain"), *net.dnsDomain, std::string(kDns1123SubdomainMessage));
  }
  FieldPath dp = p.child("dnsServiceIP");
  if (!net.dnsServiceIP) {
    if (services) errs.required(dp);
    return;
  }
  auto ip = net::IpAddress::parse(*net.dnsServiceIP);
  if (!ip) {
    errs.invalid(dp, *net.dnsServiceIP, "must be a valid IP address");
  } else if (services) {
    auto first = services->nth(1);
    if (!services->contains(*ip)) {
      errs.invalid(dp, *net.dnsServiceIP,
                   fmt::format("must be inside spec.network.serviceCIDR ({})", *net.serviceCIDR));
    } else if (*ip == services->network().address()) {
      errs.invalid(dp, *net.dnsServiceIP,
                   "must not be the network address of spec.network.serviceCIDR");
    } else if (first && *ip == *first) {
      errs.invalid(
          dp, *net.dnsServiceIP,
          fmt::format("must not be {}: the first service address belongs to the kubernetes Service",
                      first->toString()));
    } else if (ip->isV4() && *ip == *services->nth((uint64_t{1} << services->hostBits()) - 1)) {
      errs.invalid(dp, *net.dnsServiceIP,
                   "must not be the broadcast address of spec.network.serviceCIDR");
    }
  }
}

void validateStatus(const ClusterStatus& status, const FieldPath& p, FieldErrors& errs) {
  if (!status.phase.empty()) {
    std::vector<std::string_view> phases(std::begin(kPhases), std::end(kPhases));
    if (std::find(phases.begin(), phases.end(), status.phase) == phases.end()) {
      errs.notSupported(p.child("phase"), status.phase, phases);
    }
  }
  static const std::regex kReason("[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?");
  std::set<std::string> seen;
  for (size_t i = 0; i < status.conditions.size(); ++i) {
    const Condition& c = status.conditions[i];
    FieldPath cp = p.child("conditions").index(i);
    if (c.type.empty()) errs.required(cp.child("type"));
    if (!c.type.empty() && !seen.insert(c.type).second) errs.duplicate(cp.child("type"), c.type);
    std::vector<std::string_view> statuses(std::begin(kConditionStatuses),
                                           std::end(kConditionStatuses));
    if (std::find(statuses.begin(), statuses.end(), c.status) == statuses.end()) {
      errs.notSupported(cp.child("status"), c.status, statuses);
    }
    // Bounded before the regex: std::regex recurses per character.
    if (!c.reason.empty() && (c.reason.size() > 1024 || !std::regex_match(c.reason, kReason))) {
      errs.invalid(cp.child("reason"), c.reason, "must be a CamelCase word, e.g. EtcdReady");
    }
    if (!c.lastTransitionTime.empty() && !isRfc3339(c.lastTransitionTime)) {
      errs.invalid(cp.child("lastTransitionTime"), c.lastTransitionTime,
                   "must be an RFC 3339 date-time");
    }
  }
}

}  // namespace

bool isDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool isDns1123Subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (!isDns1123Label(s.substr(
            start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool isRfc3339(std::string_view s) {
  static const std::regex kRfc3339(
      R"([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))");
  return s.size() <= 64 && std::regex_match(std::string(s), kRfc3339);
}

FieldErrors validateCluster(const Cluster& cluster) {
  FieldErrors errs;
  validateName(cluster.metadata, errs);
  FieldPath spec("spec");
  const ClusterSpec& s = cluster.spec;
  if (!s.version) {
    errs.required(spec.child("version"));
  } else if (!findRelease(*s.version)) {
    errs.notSupported(spec.child("version"), *s.version, supportedMinors());
  }
  validateControlPlane(s.controlPlane, s.version, spec.child("controlPlane"), errs);
  validateNetwork(s.network, spec.child("network"), errs);
  if (s.expose.hostname && !isDns1123Subdomain(*s.expose.hostname)) {
    errs.invalid(spec.child("expose").child("hostname"), *s.expose.hostname,
                 std::string(kDns1123SubdomainMessage));
  }
  if (cluster.status) validateStatus(*cluster.status, FieldPath("status"), errs);
  return errs;
}

}  // namespace herd::api
