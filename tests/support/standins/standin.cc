// herd-standin: the test stand-in for kube-controller-manager and kube-scheduler, which cannot
// be installed on herd's CI machines. Run under the real binary's name (the build makes
// kube-standins/kube-controller-manager and kube-scheduler links to it), it takes that
// binary's real command line, refuses what the real binary would refuse (command_line.h), and
// does what herd observes of the real one:
// - holds the leader Lease on the tenant API (kube-system/<binary>, or the
//   --leader-elect-resource-* flags) with the --leader-elect-* durations, when --leader-elect;
// - serves /healthz, /livez and /readyz over HTTPS on --bind-address:--secure-port (defaults
//   10257 and 10259), with --tls-cert-file/--tls-private-key-file or a self-signed certificate
//   as the real binaries make one;
// - reads every file its flags name (kubeconfigs, certificates, keys) at start and exits 1
//   naming the one that is missing, as the real binaries fail at start.
// Stops on SIGTERM/SIGINT, releasing the Lease. Listens on loopback only.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "command_line.h"
#include "common/files.h"
#include "common/net.h"
#include "http_server.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/leader_election.h"
#include "tls_identity.h"

namespace herd::standins {
namespace {

struct Binary {
  std::string_view name;
  int default_port;
};
constexpr Binary kBinaries[] = {{"kube-controller-manager", 10257}, {"kube-scheduler", 10259}};

// The version the stand-ins report: the release their flags were recorded from.
constexpr std::string_view kVersion = "v1.32.0";

int fail(std::string_view binary, const std::string& message) {
  std::cerr << "Error: " << message << "\n";
  std::cerr << fmt::format("Run '{} --help' for usage.\n", binary);
  return 1;
}

bool namesAFile(const std::string& flag) {
  return flag.ends_with("-file") || flag == "kubeconfig" || flag.ends_with("-kubeconfig");
}

int run(const Binary& binary, const std::vector<std::string>& args) {
  std::string help_path =
      fmt::format("{}/kubernetes/flags/{}-help.txt", HERD_SHARED_DIR, binary.name);
  auto help = files::read(help_path);
  if (!help.isOk()) return fail(binary.name, "stand-in: " + help.status().message());
  auto line = parseCommandLine(args, parseHelp(*help));
  if (!line.isOk()) return fail(binary.name, line.status().message());
  if (line->help) {
    std::cout << *help;
    return 0;
  }
  if (line->version) {
    std::cout << "Kubernetes " << kVersion << "\n";
    return 0;
  }
  for (const auto& [flag, value] : line->values) {
    if (namesAFile(flag) && !value.empty() && !files::exists(value)) {
      return fail(binary.name,
                  fmt::format("--{}: open {}: no such file or directory", flag, value));
    }
  }
  std::string kubeconfig = line->getOr("kubeconfig", "");
  if (kubeconfig.empty()) {
    return fail(binary.name,
                "stand-in: --kubeconfig is required (in-cluster config is not supported)");
  }
  auto rest =
      kube::loadKubeconfig({.kubeconfig_path = kubeconfig, .context = "", .namespace_ = ""});
  if (!rest.isOk()) return fail(binary.name, "invalid kubeconfig: " + rest.status().message());
  auto client = kube::Client::create(*rest);
  if (!client.isOk()) return fail(binary.name, client.status().message());

  std::string bind = line->getOr("bind-address", "0.0.0.0");
  auto ip = net::IpAddress::parse(bind);
  bool loopback = ip.isOk() && (ip->isV4() ? ip->bytes()[0] == 127 : ip->toString() == "::1");
  if (!loopback) {
    return fail(
        binary.name,
        fmt::format(
            "stand-in: --bind-address={} is not a loopback address; the stand-ins listen on "
            "loopback only",
            bind));
  }
  int port = std::stoi(line->getOr("secure-port", std::to_string(binary.default_port)));
  fake::HttpServerConfig http;
  http.host = bind;
  http.port = static_cast<uint16_t>(port);
  // The server asks for client certificates (as the real ones do, for delegated authn);
  // without --client-ca-file it names its own CA, which no client holds.
  auto ca = fake::makeCa(fmt::format("{}-ca", binary.name));
  if (!ca.isOk()) return fail(binary.name, ca.status().message());
  http.client_ca_pem = ca->cert_pem;
  if (auto client_ca = line->get("client-ca-file")) {
    auto pem = files::read(*client_ca);
    if (!pem.isOk()) return fail(binary.name, "--client-ca-file: " + pem.status().message());
    http.client_ca_pem = *pem;
  }
  if (auto cert = line->get("tls-cert-file")) {
    auto c = files::read(*cert);
    auto k = files::read(line->getOr("tls-private-key-file", ""));
    if (!c.isOk() || !k.isOk()) {
      return fail(binary.name, "reading --tls-cert-file/--tls-private-key-file");
    }
    http.cert_pem = *c;
    http.key_pem = *k;
  } else {
    auto leaf = fake::issueLeaf(*ca, {.common_name = std::string(binary.name),
                                      .organizations = {},
                                      .dns_names = {"localhost"},
                                      .ips = {bind},
                                      .server = true});
    if (!leaf.isOk()) return fail(binary.name, leaf.status().message());
    http.cert_pem = leaf->cert_pem;
    http.key_pem = leaf->key_pem;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = fake::HttpServer::start(http, [](const fake::HttpRequest& req) {
    fake::HttpResponse res;
    if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz") {
      res.status = 200;
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.body = "ok";
    } else {
      res.status = 404;
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.body = "404 page not found\n";
    }
    return res;
  });
  if (!server.isOk()) return fail(binary.name, "serving: " + server.status().message());

  std::unique_ptr<kube::LeaderElector> elector;
  std::thread election;
  if (line->getOr("leader-elect", "true") != "false") {
    auto ms = [&](const std::string& flag, const std::string& fallback) {
      return std::chrono::milliseconds(parseGoDuration(line->getOr(flag, fallback)).valueOr(0));
    };
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    kube::LeaderElectionConfig config;
    config.ns = line->getOr("leader-elect-resource-namespace", "kube-system");
    config.name = line->getOr("leader-elect-resource-name", std::string(binary.name));
    config.identity = fmt::format("{}_{}", host, ::getpid());
    config.lease_duration = ms("leader-elect-lease-duration", "15s");
    config.renew_deadline = ms("leader-elect-renew-deadline", "10s");
    config.retry_period = ms("leader-elect-retry-period", "2s");
    config.on_started_leading = [name = binary.name] { std::cerr << name << ": became leader\n"; };
    elector = std::make_unique<kube::LeaderElector>(**client, config);
    election = std::thread([&] { elector->run(); });
  }
  std::cerr << fmt::format("{} (herd stand-in) serving https://{}:{}\n", binary.name, bind,
                           (*server)->port());
  int sig = 0;
  sigwait(&signals, &sig);
  if (elector) {
    elector->stop();
    election.join();
  }
  (*server)->stop();
  return 0;
}

}  // namespace
}  // namespace herd::standins

int main(int argc, char** argv) {
  std::string self = std::filesystem::path(argv[0]).filename().string();
  std::vector<std::string> args(argv + 1, argv + argc);
  // "herd-standin kube-scheduler ..." works as well as running it under that name.
  if (self == "herd-standin" && !args.empty()) {
    self = args.front();
    args.erase(args.begin());
  }
  for (const auto& binary : herd::standins::kBinaries) {
    if (self == binary.name) return herd::standins::run(binary, args);
  }
  std::cerr << "herd-standin: run it as kube-controller-manager or kube-scheduler\n";
  return 2;
}
