// Where a Kubernetes API server is and how to authenticate to it: kubeconfig files read the
// way kubectl reads them, and the in-cluster service-account configuration.
//
// loadKubeconfig() follows client-go's rules: an explicit --kubeconfig file alone, otherwise
// every file in $KUBECONFIG merged (for each cluster, user and context name and for
// current-context, the first file that sets it wins), otherwise ~/.kube/config. Relative
// certificate and token paths are resolved against the file that names them. Value types.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace herd::kube {

// Everything needed to open an authenticated connection, with credentials loaded.
struct RestConfig {
  std::string server;  // https://host:port, with an optional path prefix
  std::string ca_pem;  // CA bundle; empty means the system roots
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;  // SNI and the name checked in the server's certificate
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string bearer_token;
  // When set, the bearer token is read from this file and re-read when it changes
  // (projected service-account tokens rotate).
  std::string token_file;
  std::string namespace_ = "default";
  std::string user_agent = "herd";
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
};

// A kubeconfig as written, before credentials are loaded (kubectl's clientcmdapi.Config).
struct Kubeconfig {
  struct Cluster {
    std::string server;
    std::string certificate_authority;       // a file
    std::string certificate_authority_data;  // PEM, already base64-decoded
    bool insecure_skip_tls_verify = false;
    std::string tls_server_name;
  };
  struct User {
    std::string client_certificate;  // files
    std::string client_key;
    std::string client_certificate_data;  // PEM, decoded
    std::string client_key_data;
    std::string token;
    std::string token_file;
    bool has_exec = false;  // exec and auth-provider plugins are not supported
    bool has_auth_provider = false;
  };
  struct Context {
    std::string cluster;
    std::string user;
    std::string namespace_;
  };
  std::map<std::string, Cluster> clusters;
  std::map<std::string, User> users;
  std::map<std::string, Context> contexts;
  std::string current_context;
};

// Parses one kubeconfig document; relative paths are resolved against `base_dir`.
Result<Kubeconfig> parseKubeconfig(std::string_view text, const std::string& base_dir);
// Merges `later` into `into` with kubectl's rule: what `into` already has wins.
void mergeKubeconfig(Kubeconfig& into, const Kubeconfig& later);

struct LoadOptions {
  std::string kubeconfig_path;  // --kubeconfig
  std::string context;          // --context
  std::string namespace_;       // --namespace
};

// Loads the files as kubectl would and resolves the chosen context to a RestConfig.
Result<RestConfig> loadKubeconfig(const LoadOptions& options = {});
// Resolves one context of an already merged kubeconfig (empty: current-context).
Result<RestConfig> resolveContext(const Kubeconfig& config, const std::string& context);

// The configuration of a pod: KUBERNETES_SERVICE_HOST/PORT and the service-account token,
// CA and namespace under `sa_dir` (normally /var/run/secrets/kubernetes.io/serviceaccount).
Result<RestConfig> inClusterConfig(
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// The bearer token to send now: the file's current content when token_file is set (re-read
// at most once per `refresh`, as client-go does), else the static token.
class TokenSource {
 public:
  explicit TokenSource(const RestConfig& config,
                       std::chrono::milliseconds refresh = std::chrono::minutes(1));
  Result<std::string> token();

 private:
  std::string static_token_;
  std::string file_;
  std::chrono::milliseconds refresh_;
  std::string cached_;
  std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace herd::kube
