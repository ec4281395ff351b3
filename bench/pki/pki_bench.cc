// bench/pki: how long one tenant's full PKI takes, herd against the openssl command line.
//
// Three ways to produce the same set (3 CAs, 11 leaf certificates, the service-account key
// pair, 2 Ed25519 SSH keys), each timed from nothing to the finished set, median per tenant:
//   herd in-process     reconcilePki() on an empty set: what the controller does per tenant
//   herd pki generate   the CLI, including process start and fsync'd writes of 34 files
//   openssl CLI         a shell script of openssl req/x509 and ssh-keygen commands, the way
//                       hand-written kubeadm-style PKI scripts do it
// Run: herd_bench_pki [--iterations N] [--openssl-iterations M] [--print-script]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "api/defaults.h"
#include "common/files.h"
#include "common/process.h"
#include "pki/cert_table.h"
#include "pki/tenant_pki.h"

namespace herd::pki {
namespace {

using Millis = std::chrono::duration<double, std::milli>;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

template <typename F>
double timeIt(F&& f) {
  auto start = std::chrono::steady_clock::now();
  f();
  return Millis(std::chrono::steady_clock::now() - start).count();
}

api::Cluster benchCluster() {
  api::Cluster cluster;
  cluster.metadata.name = "bench";
  api::applyDefaults(cluster);
  return cluster;
}

std::string newKeyArgs(KeyAlgorithm algorithm) {
  return algorithm == KeyAlgorithm::kEcdsaP256 ? "-newkey ec -pkeyopt ec_paramgen_curve:P-256"
                                               : "-newkey rsa:2048";
}

std::string usageText(const CertEntry& entry) {
  std::string ku = "critical";
  if (entry.key_usage & kDigitalSignature) ku += ",digitalSignature";
  if (entry.key_usage & kKeyEncipherment) ku += ",keyEncipherment";
  if (entry.key_usage & kCertSign) ku += ",keyCertSign";
  std::string eku;
  if (entry.ext_key_usage & kServerAuth) eku += "serverAuth";
  if (entry.ext_key_usage & kClientAuth) eku += std::string(eku.empty() ? "" : ",") + "clientAuth";
  return "keyUsage=" + ku + (eku.empty() ? "" : "\nextendedKeyUsage=" + eku);
}

// The openssl/ssh-keygen script that writes the same set under $1.
std::string opensslScript(const api::Cluster& cluster, KeyAlgorithm algorithm) {
  std::string s = "set -e\ncd \"$1\"\nmkdir -p pki/etcd ssh\n";
  for (const auto& entry : certificateTable()) {
    std::string name(entry.name);
    std::string subject = entry.organization.empty()
                              ? fmt::format("/CN={}", entry.common_name)
                              : fmt::format("/O={}/CN={}", entry.organization, entry.common_name);
    std::string ext = usageText(entry);
    if (entry.isCa()) {
      s += fmt::format(
          "openssl req -x509 -new {} -nodes -keyout pki/{n}.key -out pki/{n}.crt -subj '{}' -days "
          "3650 "
          "-addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,digitalSignature,"
          "keyEncipherment,keyCertSign' 2>/dev/null\n",
          newKeyArgs(algorithm), subject, fmt::arg("n", name));
      continue;
    }
    SubjectAltNames sans = sansFor(entry, cluster);
    std::string san;
    for (const auto& d : sans.dns) san += (san.empty() ? "DNS:" : ",DNS:") + d;
    for (const auto& ip : sans.ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
    s += fmt::format(
        "printf '%s\\n' 'basicConstraints=critical,CA:FALSE' '{}' {} > pki/{n}.ext\n",
        ext.substr(0, ext.find('\n')),
        (ext.find('\n') != std::string::npos ? "'" + ext.substr(ext.find('\n') + 1) + "'" : "") +
            (san.empty() ? "" : " 'subjectAltName=" + san + "'"),
        fmt::arg("n", name));
    s += fmt::format(
        "openssl req -new {} -nodes -keyout pki/{n}.key -out pki/{n}.csr -subj '{}' 2>/dev/null\n"
        "openssl x509 -req -in pki/{n}.csr -CA pki/{ca}.crt -CAkey pki/{ca}.key -set_serial "
        "0x$(openssl rand -hex "
        "16) -days 365 -sha256 -extfile pki/{n}.ext -out pki/{n}.crt 2>/dev/null\n",
        newKeyArgs(algorithm), subject, fmt::arg("n", name), fmt::arg("ca", entry.ca));
  }
  s += algorithm == KeyAlgorithm::kEcdsaP256
           ? "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pki/sa.key\n"
           : "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pki/sa.key\n";
  s += "openssl pkey -in pki/sa.key -pubout -out pki/sa.pub\n";
  s += "ssh-keygen -q -t ed25519 -N '' -C herd-host -f ssh/host_ed25519_key\n";
  s += "ssh-keygen -q -t ed25519 -N '' -C herd-node -f ssh/node_ed25519_key\n";
  return s;
}

struct Row {
  std::string label;
  double in_process = 0;
  double cli = 0;
  double openssl = 0;
};

int runBench(int iterations, int openssl_iterations) {
  const api::Cluster cluster = benchCluster();
  auto scratch = files::makeTempDir("herd-bench-pki");
  if (!scratch) {
    fmt::print(stderr, "{}\n", scratch.status().toString());
    return 1;
  }
  const std::string cluster_file = *scratch + "/cluster.yaml";
  (void)files::writeAtomic(
      cluster_file, "apiVersion: herd.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: bench\n");

  std::vector<Row> rows;
  int run_id = 0;
  for (auto [algorithm, label] : {std::pair{KeyAlgorithm::kEcdsaP256, "ECDSA P-256"},
                                  std::pair{KeyAlgorithm::kRsa2048, "RSA-2048"}}) {
    Row row{label};
    PkiOptions options;
    options.key_algorithm = algorithm;
    std::vector<double> samples;
    for (int i = 0; i < iterations; ++i) {
      samples.push_back(timeIt([&] {
        auto result = generatePki(cluster, options);
        if (!result) fmt::print(stderr, "herd: {}\n", result.status().toString()), std::exit(1);
      }));
    }
    row.in_process = median(samples);

    samples.clear();
    for (int i = 0; i < iterations; ++i) {
      std::string out = fmt::format("{}/herd-{}", *scratch, run_id++);
      samples.push_back(timeIt([&] {
        auto r = runCommand({HERD_BINARY, "pki", "generate", "-f", cluster_file, "--out", out,
                             "--key-algorithm", std::string(keyAlgorithmName(algorithm))});
        if (!r || r->exit_code != 0) fmt::print(stderr, "herd pki generate failed\n"), std::exit(1);
      }));
    }
    row.cli = median(samples);

    const std::string script_path =
        fmt::format("{}/openssl-{}.sh", *scratch, keyAlgorithmName(algorithm));
    (void)files::writeAtomic(script_path, opensslScript(cluster, algorithm), 0755);
    samples.clear();
    for (int i = 0; i < openssl_iterations; ++i) {
      std::string out = fmt::format("{}/openssl-{}", *scratch, run_id++);
      (void)files::makeDirs(out);
      samples.push_back(timeIt([&] {
        auto r = runCommand({"bash", script_path, out}, {}, std::chrono::minutes(5));
        if (!r || r->exit_code != 0) {
          fmt::print(stderr, "openssl script failed: {}\n", r ? r->err : r.status().toString());
          std::exit(1);
        }
      }));
      // The yardstick must really have produced a verifiable set.
      auto verify = runCommand(
          {"openssl", "verify", "-CAfile", out + "/pki/etcd/ca.crt", out + "/pki/etcd/peer.crt"});
      if (!verify || verify->exit_code != 0)
        fmt::print(stderr, "openssl set does not verify\n"), std::exit(1);
    }
    row.openssl = median(samples);
    rows.push_back(row);
  }
  (void)files::removeAll(*scratch);

  fmt::print(
      "Full PKI for one tenant: 3 CAs, 11 leaf certificates, sa key pair, 2 Ed25519 SSH keys\n");
  fmt::print(
      "(herd also writes 4 kubeconfigs, a bootstrap token and cluster-info). Median ms per "
      "tenant;\n");
  fmt::print("herd over {} run(s), openssl over {} run(s).\n\n", iterations, openssl_iterations);
  fmt::print("{:<12} {:>18} {:>19} {:>14} {:>20} {:>18}\n", "keys", "herd in-process",
             "herd pki generate", "openssl CLI", "openssl/in-process", "openssl/herd CLI");
  for (const auto& r : rows) {
    fmt::print("{:<12} {:>15.2f} ms {:>16.2f} ms {:>11.2f} ms {:>19.1f}x {:>17.1f}x\n", r.label,
               r.in_process, r.cli, r.openssl, r.openssl / r.in_process, r.openssl / r.cli);
  }
  fmt::print("\nGoal: under 50 ms per tenant with ECDSA (herd in-process): {}\n",
             rows[0].in_process < 50 ? "met" : "NOT met");
  return 0;
}

}  // namespace
}  // namespace herd::pki

int main(int argc, char** argv) {
  int iterations = 20;
  int openssl_iterations = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      iterations = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--print-script") == 0) {
      // The openssl yardstick as a script, to read or to run by hand: bash script.sh DIR
      fmt::print("{}", herd::pki::opensslScript(herd::pki::benchCluster(), herd::pki::KeyAlgorithm::kEcdsaP256));
      return 0;
    } else if (std::strcmp(argv[i], "--openssl-iterations") == 0 && i + 1 < argc) {
      openssl_iterations = std::max(1, std::atoi(argv[++i]));
    } else {
      fmt::print("usage: herd_bench_pki [--iterations N] [--openssl-iterations M] [--print-script]\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  return herd::pki::runBench(iterations, openssl_iterations);
}
