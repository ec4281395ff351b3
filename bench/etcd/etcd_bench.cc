// bench/etcd: herd's etcd client beside etcdctl, on the same 3-member TLS etcd cluster
// (Debian's etcd-server on loopback, certificates from herd's PKI), in one run.
//
// Measures put and range (one key) latency p50/p99 from one thread, throughput with
// --threads workers at once, and snapshot MB/s of a database preloaded with --snapshot-mb of
// values. Three ways per operation:
//   herd          one Client, pooled keep-alive TLS connections: what the controller does
//   herd, fresh   a new Client (and so a new TLS handshake) per operation
//   etcdctl       one etcdctl process per operation: process start, gRPC dial and TLS each
//                 time, which is what a shell script or an operator pays
// Ratios are etcdctl/herd for latency and herd/etcdctl for throughput and MB/s, so above 1
// means herd is ahead. Snapshot compares one streaming call against `etcdctl snapshot save`,
// where process start is noise and the gateway's base64 JSON framing is what shows: on a
// 2-core machine etcd 3.4 serves the gateway's snapshot stream about 2.5x slower than its
// gRPC one even to curl (40 MB: 0.95 s against etcdctl's 0.36 s), so herd's figure is bounded
// by etcd's side of the gateway, not by herd's parsing.
// Run: herd_bench_etcd [--ops N] [--etcdctl-ops M] [--threads T] [--snapshot-mb S]
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "api/defaults.h"
#include "common/files.h"
#include "common/process.h"
#include "etcd/client.h"
#include "free_port.h"
#include "pki/pki_store.h"
#include "pki/tenant_pki.h"
#include "support/etcd_cluster.h"

namespace herd::etcd {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::duration<double, std::milli>;

[[noreturn]] void die(const std::string& message) {
  fmt::print(stderr, "herd_bench_etcd: {}\n", message);
  std::exit(1);
}

struct Options {
  int ops = 500;
  int etcdctl_ops = 50;
  int threads = 4;
  int snapshot_mb = 32;
};

struct Latency {
  double p50 = 0;
  double p99 = 0;
};

Latency percentiles(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(i, samples.size() - 1)];
  };
  return samples.empty() ? Latency{} : Latency{at(0.50), at(0.99)};
}

// Runs `op(i)` `count` times in a row; the latency of each in ms.
std::vector<double> timeEach(int count, const std::function<void(int)>& op) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    op(i);
    out.push_back(Millis(Clock::now() - start).count());
  }
  return out;
}

// Operations per second with `threads` workers sharing `count` operations.
double throughput(int count, int threads, const std::function<void(int)>& op) {
  std::atomic<int> next{0};
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = next++; i < count; i = next++) op(i);
    });
  }
  for (auto& w : workers) w.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return count / seconds;
}

class Bench {
 public:
  Bench(Options options, std::string dir, testing::EtcdCluster& cluster)
      : options_(options), dir_(std::move(dir)), cluster_(cluster) {
    config_.endpoints = cluster_.clientUrls();
    config_.ca_pem = mustRead(dir_ + "/pki/etcd/ca.crt");
    config_.client_cert_pem = mustRead(dir_ + "/pki/apiserver-etcd-client.crt");
    config_.client_key_pem = mustRead(dir_ + "/pki/apiserver-etcd-client.key");
    config_.timeout = std::chrono::seconds(30);
    client_ = newClient();
  }

  int run() {
    // Warm up both paths (page cache for etcdctl, connections for herd).
    herdPut(*client_, "/bench/warm", "x");
    etcdctl({"put", "/bench/warm", "x"});

    const std::string value(256, 'v');
    auto herd_put =
        percentiles(timeEach(options_.ops, [&](int i) { herdPut(*client_, key(i), value); }));
    auto fresh_put = percentiles(timeEach(options_.etcdctl_ops, [&](int i) {
      auto fresh = newClient();
      herdPut(*fresh, key(i), value);
    }));
    auto ctl_put = percentiles(timeEach(options_.etcdctl_ops, [&](int i) {
      etcdctl({"put", key(i), value});
    }));

    auto herd_get = percentiles(timeEach(options_.ops, [&](int i) { herdGet(*client_, key(i)); }));
    auto fresh_get = percentiles(timeEach(options_.etcdctl_ops, [&](int i) {
      auto fresh = newClient();
      herdGet(*fresh, key(i));
    }));
    auto ctl_get = percentiles(timeEach(options_.etcdctl_ops, [&](int i) {
      etcdctl({"get", key(i)});
    }));

    double herd_put_tput = throughput(options_.ops, options_.threads,
                                      [&](int i) { herdPut(*client_, key(i), value); });
    double ctl_put_tput = throughput(options_.etcdctl_ops, options_.threads, [&](int i) {
      etcdctl({"put", key(i), value});
    });
    double herd_get_tput =
        throughput(options_.ops, options_.threads, [&](int i) { herdGet(*client_, key(i)); });
    double ctl_get_tput = throughput(options_.etcdctl_ops, options_.threads, [&](int i) {
      etcdctl({"get", key(i)});
    });

    preload();
    auto [herd_mbs, herd_bytes] = herdSnapshot();
    auto [ctl_mbs, ctl_bytes] = etcdctlSnapshot();

    fmt::print("etcd {} members, TLS with client certificates, 127.0.0.1; values of {} bytes.\n",
               config_.endpoints.size(), value.size());
    fmt::print("Latency from one thread over {} ops (herd) / {} ops (fresh client, etcdctl).\n\n",
               options_.ops, options_.etcdctl_ops);
    fmt::print("{:<7} {:>10} {:>10} {:>13} {:>13} {:>12} {:>12} {:>14} {:>14}\n", "op", "herd p50",
               "herd p99", "fresh p50", "fresh p99", "etcdctl p50", "etcdctl p99", "etcdctl/herd",
               "etcdctl/fresh");
    auto row = [](const char* op, Latency herd, Latency fresh, Latency ctl) {
      fmt::print(
          "{:<7} {:>7.2f} ms {:>7.2f} ms {:>10.2f} ms {:>10.2f} ms {:>9.2f} ms {:>9.2f} ms "
          "{:>13.1f}x {:>13.1f}x\n",
          op, herd.p50, herd.p99, fresh.p50, fresh.p99, ctl.p50, ctl.p99, ctl.p50 / herd.p50,
          ctl.p50 / fresh.p50);
    };
    row("put", herd_put, fresh_put, ctl_put);
    row("range", herd_get, fresh_get, ctl_get);
    fmt::print("(ratios of p50)\n\nThroughput with {} workers:\n", options_.threads);
    fmt::print("{:<7} {:>14} {:>14} {:>14}\n", "op", "herd ops/s", "etcdctl ops/s", "herd/etcdctl");
    fmt::print("{:<7} {:>14.0f} {:>14.1f} {:>13.1f}x\n", "put", herd_put_tput, ctl_put_tput,
               herd_put_tput / ctl_put_tput);
    fmt::print("{:<7} {:>14.0f} {:>14.1f} {:>13.1f}x\n", "range", herd_get_tput, ctl_get_tput,
               herd_get_tput / ctl_get_tput);
    fmt::print("\nSnapshot of a {:.1f} MiB database (herd wrote {} bytes, etcdctl {}):\n",
               static_cast<double>(ctl_bytes) / (1 << 20), herd_bytes, ctl_bytes);
    fmt::print("{:>12} {:>14} {:>14}\n", "herd MB/s", "etcdctl MB/s", "herd/etcdctl");
    fmt::print("{:>12.1f} {:>14.1f} {:>13.2f}x\n", herd_mbs, ctl_mbs, herd_mbs / ctl_mbs);
    return 0;
  }

 private:
  static std::string mustRead(const std::string& path) {
    auto text = files::read(path);
    if (!text) die(text.status().toString());
    return *text;
  }
  static std::string key(int i) { return fmt::format("/bench/key-{:06d}", i); }

  std::unique_ptr<Client> newClient() {
    auto client = Client::create(config_);
    if (!client) die(client.status().toString());
    return std::move(*client);
  }
  static void herdPut(Client& client, const std::string& k, const std::string& v) {
    auto r = client.put({k, v, 0, false});
    if (!r) die("herd put: " + r.status().toString());
  }
  static void herdGet(Client& client, const std::string& k) {
    RangeRequest request;
    request.key = k;
    auto r = client.range(request);
    if (!r) die("herd range: " + r.status().toString());
    if (r->kvs.size() != 1) die("herd range: " + k + " is missing");
  }
  std::string etcdctl(const std::vector<std::string>& args) {
    auto r = cluster_.etcdctl(dir_ + "/pki/apiserver-etcd-client", args);
    if (r.exit_code != 0) die(fmt::format("etcdctl {}: {}", fmt::join(args, " "), r.err));
    return r.out;
  }

  // Fills the database with --snapshot-mb of distinct 512 KiB values, once.
  void preload() {
    const std::string big(512 * 1024, 's');
    for (int i = 0; i < options_.snapshot_mb * 2; ++i) {
      herdPut(*client_, fmt::format("/bench/big-{:05d}", i), big);
    }
  }

  static int64_t fileSize(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  }

  std::pair<double, int64_t> herdSnapshot() {
    const std::string path = dir_ + "/herd.snapshot";
    auto start = Clock::now();
    auto written = client_->snapshot(path, config_.endpoints[0]);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!written) die("herd snapshot: " + written.status().toString());
    return {static_cast<double>(*written) / 1e6 / seconds, *written};
  }

  std::pair<double, int64_t> etcdctlSnapshot() {
    const std::string path = dir_ + "/etcdctl.snapshot";
    std::vector<std::string> argv{cluster_.options().etcdctl,
                                  "--endpoints=" + config_.endpoints[0],
                                  "--cacert=" + dir_ + "/pki/etcd/ca.crt",
                                  "--cert=" + dir_ + "/pki/apiserver-etcd-client.crt",
                                  "--key=" + dir_ + "/pki/apiserver-etcd-client.key",
                                  "snapshot",
                                  "save",
                                  path};
    ProcessOptions options;
    options.env = {"ETCDCTL_API=3"};
    auto start = Clock::now();
    auto r = runCommand(argv, {}, std::chrono::minutes(5), options);
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!r || r->exit_code != 0)
      die("etcdctl snapshot save: " + (r ? r->err : r.status().toString()));
    int64_t size = fileSize(path);
    return {static_cast<double>(size) / 1e6 / seconds, size};
  }

  Options options_;
  std::string dir_;
  testing::EtcdCluster& cluster_;
  ClientConfig config_;
  std::unique_ptr<Client> client_;
};

int runBench(const Options& options) {
  auto etcd = findExecutable("etcd");
  auto etcdctl = findExecutable("etcdctl");
  if (!etcd || !etcdctl)
    die("etcd and etcdctl must be installed (Debian: etcd-server, etcd-client)");
  auto dir = files::makeTempDir("herd-bench-etcd");
  if (!dir) die(dir.status().toString());

  api::Cluster tenant;
  tenant.metadata.name = "bench";
  api::applyDefaults(tenant);
  auto pki = pki::generatePki(tenant, {});
  if (!pki) die(pki.status().toString());
  if (auto written = pki::writePkiDir(*dir, pki->files); !written) {
    die(written.status().toString());
  }

  testing::EtcdCluster::Options cluster_options;
  cluster_options.etcd = *etcd;
  cluster_options.etcdctl = *etcdctl;
  cluster_options.dir = *dir;
  cluster_options.token = "herd-bench-etcd";
  cluster_options.free_port = [] {
    auto port = testing::findFreeLoopbackPort();
    if (!port) die(port.status().toString());
    return *port;
  };
  int rc = 0;
  {
    testing::EtcdCluster cluster(std::move(cluster_options));
    if (!cluster.start()) die("etcd did not become healthy; logs under " + *dir);
    rc = Bench(options, *dir, cluster).run();
  }
  (void)files::removeAll(*dir);
  return rc;
}

}  // namespace
}  // namespace herd::etcd

int main(int argc, char** argv) {
  herd::etcd::Options options;
  auto number = [&](int& i) { return i + 1 < argc ? std::max(1, std::atoi(argv[++i])) : 0; };
  for (int i = 1; i < argc; ++i) {
    int* target = nullptr;
    if (std::strcmp(argv[i], "--ops") == 0) target = &options.ops;
    if (std::strcmp(argv[i], "--etcdctl-ops") == 0) target = &options.etcdctl_ops;
    if (std::strcmp(argv[i], "--threads") == 0) target = &options.threads;
    if (std::strcmp(argv[i], "--snapshot-mb") == 0) target = &options.snapshot_mb;
    int value = target ? number(i) : 0;
    if (!target || value == 0) {
      fmt::print(
          "usage: herd_bench_etcd [--ops N] [--etcdctl-ops M] [--threads T] [--snapshot-mb S]\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
    *target = value;
  }
  return herd::etcd::runBench(options);
}
