// The kube-apiserver stand-in: the fake apiserver (tests/support/fake_apiserver) behind the
// real kube-apiserver's command line, as herd renders it (render::renderControlPlane). It
// - parses the arguments against the recorded --help and refuses any flag the real binary
//   lacks (pflag's "unknown flag: --x", exit 1);
// - refuses what the real one refuses at start: no --etcd-servers, no service-account issuer
//   or keys, a --secure-port out of range, a file named by a flag that cannot be read;
// - serves the fake's REST API over HTTPS on --bind-address:--secure-port (loopback only:
//   anything else is refused) with --tls-cert-file/--tls-private-key-file, authenticating
//   client certificates against --client-ca-file (user = CN, groups = O), --token-auth-file
//   tokens, bootstrap tokens under --enable-bootstrap-token-auth, and anonymous requests
//   unless --anonymous-auth=false; /healthz, /livez and /readyz (and ?verbose) as recorded.
//
// Objects live in the tenant's etcd, as kube-apiserver keeps them: --etcd-servers with
// --etcd-cafile, --etcd-certfile and --etcd-keyfile, under --etcd-prefix (the fake's
// EtcdStorage: JSON values where the real server writes protobuf). Replicas on one etcd share
// one state, and a restarted stand-in finds its objects again. Like the real server it serves
// while etcd does not answer, but /livez, /readyz and /healthz report the etcd checks failing
// (500) until it does, and API requests fail; it compacts etcd every
// --etcd-compaction-interval (default 5m, 0: never) up to the revision of the previous round.
// Authorization is the fake's: system:masters, ClusterRoleBindings to cluster-admin and
// kube-apiserver's default roles for discovery and health; --authorization-mode=AlwaysAllow
// lets every authenticated user do everything. Nothing else of Node or RBAC is evaluated, so
// the stand-in does not allow what the real server denies, but may deny what RBAC allows.
// Stops at once on SIGTERM/SIGINT (the real one first waits --shutdown-delay-duration).
#include <fmt/format.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <iostream>
#include <sstream>

#include "command_line.h"
#include "common/files.h"
#include "fake_apiserver.h"
#include "standin.h"
#include "tls_identity.h"

namespace herd::standins {
namespace {

constexpr std::string_view kBinary = "kube-apiserver";
// kube-apiserver's own defaults.
constexpr std::string_view kDefaultBindAddress = "0.0.0.0";
constexpr int kDefaultSecurePort = 6443;

// The flags of kube-apiserver v1.32 that name a file it reads at start.
constexpr std::string_view kInputFileFlags[] = {
    "admission-control-config-file",
    "audit-policy-file",
    "audit-webhook-config-file",
    "authentication-config",
    "authentication-token-webhook-config-file",
    "authorization-config",
    "authorization-policy-file",
    "authorization-webhook-config-file",
    "client-ca-file",
    "egress-selector-config-file",
    "encryption-provider-config",
    "etcd-cafile",
    "etcd-certfile",
    "etcd-keyfile",
    "kubelet-certificate-authority",
    "kubelet-client-certificate",
    "kubelet-client-key",
    "oidc-ca-file",
    "peer-ca-file",
    "proxy-client-cert-file",
    "proxy-client-key-file",
    "requestheader-client-ca-file",
    "service-account-key-file",
    "service-account-signing-key-file",
    "tls-cert-file",
    "tls-private-key-file",
    "token-auth-file",
    "tracing-config-file",
};

// Go's utilerrors.NewAggregate: one error as it is, several as "[a, b]".
std::string aggregate(const std::vector<std::string>& errors) {
  if (errors.size() == 1) return errors.front();
  std::string out = "[";
  for (size_t i = 0; i < errors.size(); ++i) out += (i ? ", " : "") + errors[i];
  return out + "]";
}

// The first checks of the real Validate(), in its order, with its messages.
std::vector<std::string> validate(const CommandLine& line) {
  std::vector<std::string> errors;
  if (line.getOr("etcd-servers", "").empty()) errors.push_back("--etcd-servers must be specified");
  int port = std::stoi(line.getOr("secure-port", std::to_string(kDefaultSecurePort)));
  if (port < 1 || port > 65535) {
    errors.push_back(fmt::format(
        "--secure-port {} must be between 1 and 65535, inclusive. It cannot be turned off with 0",
        port));
  }
  bool issuer = !line.getOr("service-account-issuer", "").empty();
  bool signing_key = !line.getOr("service-account-signing-key-file", "").empty();
  // Without --service-account-key-file the signing key's public half verifies tokens.
  bool key = !line.getOr("service-account-key-file", "").empty() || signing_key;
  if (!issuer) errors.push_back("service-account-issuer is a required flag");
  if (!key) errors.push_back("service-account-key-file is a required flag");
  if (!issuer || !signing_key) {
    errors.push_back(
        "--service-account-signing-key-file and --service-account-issuer are "
        "required flags");
  }
  return errors;
}

// One CSV field list of a --token-auth-file line: token,user,uid[,"group1,group2"].
std::vector<std::string> csvFields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else {
      fields.back().push_back(c);
    }
  }
  return fields;
}

Result<std::map<std::string, fake::UserInfo>> readTokenFile(const std::string& path) {
  HERD_ASSIGN_OR_RETURN(std::string text, files::read(path));
  std::map<std::string, fake::UserInfo> tokens;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto fields = csvFields(line);
    if (fields.size() < 3) {
      return Status::invalid(
          fmt::format("token file '{}' must have at least 3 columns (token, user name, user uid), "
                      "found {}",
                      path, fields.size()));
    }
    fake::UserInfo user{fields[1], {}, fields[2]};
    if (fields.size() > 3) {
      std::istringstream groups(fields[3]);
      for (std::string g; std::getline(groups, g, ',');) {
        if (!g.empty()) user.groups.push_back(g);
      }
    }
    tokens[fields[0]] = user;
  }
  return tokens;
}

std::vector<std::string> commaList(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The --etcd-* flags as the fake's options: the files' contents. An error message, or "".
std::string etcdOptions(const CommandLine& line, fake::FakeEtcdOptions& etcd) {
  etcd.servers = commaList(line.getOr("etcd-servers", ""));
  for (const auto& server : etcd.servers) {
    if (!server.starts_with("https://")) {
      return fmt::format(
          "stand-in: --etcd-servers {}: the stand-in speaks to etcd over TLS only (https://)",
          server);
    }
  }
  struct File {
    const char* flag;
    std::string* pem;
  };
  for (const File& f : {File{"etcd-cafile", &etcd.ca_pem}, File{"etcd-certfile", &etcd.cert_pem},
                        File{"etcd-keyfile", &etcd.key_pem}}) {
    std::string path = line.getOr(f.flag, "");
    if (path.empty()) continue;
    auto pem = files::read(path);
    if (!pem.isOk()) return pem.status().message();
    *f.pem = *pem;
  }
  etcd.prefix = line.getOr("etcd-prefix", "/registry");
  auto timeout = parseGoDuration(line.getOr("etcd-healthcheck-timeout", "2s"));
  if (!timeout.isOk()) return timeout.status().message();
  etcd.healthcheck_timeout = std::chrono::milliseconds(*timeout);
  return "";
}

// Waits for SIGTERM or SIGINT; meanwhile compacts every `compaction` (0: never) up to the
// revision seen one round before, as kube-apiserver's compactor keeps one interval of history.
void serveUntilStopped(fake::FakeApiServer& server, const sigset_t& signals,
                       std::chrono::milliseconds compaction) {
  if (compaction.count() <= 0) {
    int sig = 0;
    sigwait(&signals, &sig);
    return;
  }
  uint64_t previous = 0;
  while (true) {
    timespec wait{static_cast<time_t>(compaction.count() / 1000),
                  static_cast<long>(compaction.count() % 1000) * 1000000};
    if (sigtimedwait(&signals, nullptr, &wait) > 0) return;
    if (errno != EAGAIN) continue;  // EINTR
    if (previous > 0) server.compactHistory(previous);
    previous = server.resourceVersion();
  }
}

bool hasMode(const std::string& modes, std::string_view mode) {
  std::istringstream in(modes);
  for (std::string m; std::getline(in, m, ',');) {
    if (m == mode) return true;
  }
  return false;
}

}  // namespace

int runKubeApiServer(const std::vector<std::string>& args) {
  auto help = recordedHelp(kBinary);
  if (!help.isOk()) return failStart(kBinary, "stand-in: " + help.status().message());
  auto line = parseCommandLine(args, parseHelp(*help));
  if (!line.isOk()) return failStart(kBinary, line.status().message());
  if (line->help) {
    std::cout << *help;
    return 0;
  }
  if (line->version) {
    std::cout << "Kubernetes " << kVersion << "\n";
    return 0;
  }
  if (auto errors = validate(*line); !errors.empty()) {
    return failStart(kBinary, aggregate(errors));
  }
  for (std::string_view flag : kInputFileFlags) {
    std::string path = line->getOr(std::string(flag), "");
    if (path.empty()) continue;
    if (std::string why = unreadable(path); !why.empty()) return failStart(kBinary, why);
  }

  std::string bind = line->getOr("bind-address", std::string(kDefaultBindAddress));
  if (!isLoopback(bind)) {
    return failStart(kBinary,
                     fmt::format("stand-in: --bind-address={} is not a loopback address; the "
                                 "kube-apiserver stand-in listens on loopback only",
                                 bind));
  }
  fake::FakeApiServerOptions options;
  options.host = bind;
  options.port = static_cast<uint16_t>(
      std::stoi(line->getOr("secure-port", std::to_string(kDefaultSecurePort))));
  std::string cert = line->getOr("tls-cert-file", "");
  std::string key = line->getOr("tls-private-key-file", "");
  if (cert.empty() || key.empty()) {
    // The real one would make a self-signed pair in --cert-dir; herd always gives its own.
    return failStart(kBinary,
                     "stand-in: --tls-cert-file and --tls-private-key-file are required (the "
                     "stand-in makes no self-signed serving certificate)");
  }
  auto cert_pem = files::read(cert);
  auto key_pem = files::read(key);
  if (!cert_pem.isOk()) return failStart(kBinary, cert_pem.status().message());
  if (!key_pem.isOk()) return failStart(kBinary, key_pem.status().message());
  options.serving_cert_pem = *cert_pem;
  options.serving_key_pem = *key_pem;
  if (auto client_ca = line->get("client-ca-file"); client_ca && !client_ca->empty()) {
    auto pem = files::read(*client_ca);
    if (!pem.isOk()) return failStart(kBinary, "unable to load client CA file: " + *client_ca);
    options.client_ca_pem = *pem;
    options.root_ca_pem = *pem;
  } else {
    // No client CA: no certificate authenticates. A CA nobody holds stands for none.
    auto nobody = fake::makeCa("kube-apiserver-stand-in-no-client-ca");
    if (!nobody.isOk()) return failStart(kBinary, nobody.status().message());
    options.client_ca_pem = nobody->cert_pem;
  }
  if (auto token_file = line->get("token-auth-file"); token_file && !token_file->empty()) {
    auto tokens = readTokenFile(*token_file);
    if (!tokens.isOk()) return failStart(kBinary, tokens.status().message());
    options.tokens = *tokens;
  }
  if (std::string error = etcdOptions(*line, options.etcd); !error.empty()) {
    return failStart(kBinary, error);
  }
  auto compaction = parseGoDuration(line->getOr("etcd-compaction-interval", "5m"));
  if (!compaction.isOk()) return failStart(kBinary, compaction.status().message());
  options.anonymous_auth = line->getOr("anonymous-auth", "true") != "false";
  options.bootstrap_token_auth = line->getOr("enable-bootstrap-token-auth", "false") != "false";
  if (hasMode(line->getOr("authorization-mode", ""), "AlwaysAllow")) {
    options.allow.push_back({"*", "*", "*", "*"});
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = fake::FakeApiServer::start(options);
  if (!server.isOk()) return failStart(kBinary, server.status().message());
  std::cerr << fmt::format("kube-apiserver (herd stand-in, objects in etcd at {}{}) serving {}\n",
                           line->getOr("etcd-servers", ""), options.etcd.prefix, (*server)->url());
  serveUntilStopped(**server, signals, std::chrono::milliseconds(*compaction));
  (*server)->stop();
  return 0;
}

}  // namespace herd::standins
