// herd's one test double for Kubernetes: an in-process HTTPS server that speaks the REST
// protocol of kube-apiserver v1.32 as recorded in ../shared/kubernetes (discovery, CRUD with
// resourceVersions and conflicts, patches, server-side apply, watch with bookmarks and 410
// Gone, finalizers, garbage collection, CRDs, Table output), strict wherever herd relies on it.
//
// Tests start it on 127.0.0.1:0 and point a client at url() with the admin credentials; the
// herd-fake-apiserver binary wraps it for kubectl and the local provider. Owns its listener,
// connection threads and controller thread; every public method is thread-safe; destruction
// stops everything (stop() first closes watches, then the listener and connections).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace herd::fake {

struct UserInfo {
  std::string name;
  std::vector<std::string> groups;
  std::string uid;  // as a --token-auth-file line gives it; shown by SelfSubjectReview
};

// Lets `user` (or "*") do `verb` (or "*") on `resource` (or "*", plural name) in `ns` (or "*",
// "" for cluster-scoped). Anything not allowed is a 403, except for system:masters.
struct AllowRule {
  std::string user;
  std::string verb;
  std::string resource;
  std::string ns = "*";
};

// Where the objects are kept when not in memory: an etcd cluster, as kube-apiserver's
// --etcd-* flags name it (PEM contents instead of file names).
struct FakeEtcdOptions {
  std::vector<std::string> servers;  // https://host:port; none: the objects stay in memory
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string prefix = "/registry";  // --etcd-prefix
  std::chrono::milliseconds healthcheck_timeout = std::chrono::seconds(2);
};

struct FakeApiServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Recorded discovery documents; defaults to the copy committed beside the sources.
  std::string data_dir;
  // Recorded OpenAPI documents (../shared/kubernetes/openapi); served when present.
  std::string openapi_dir;
  // When set: the CA and admin credentials are kept here (reused on restart) and, unless
  // they are in etcd, the objects are saved on stop and loaded on start.
  std::string state_dir;
  // With servers: the objects live in etcd (EtcdStorage), shared by every fake on it and kept
  // across restarts; without: in memory (MemoryStorage).
  FakeEtcdOptions etcd;
  std::map<std::string, UserInfo> tokens;  // bearer token -> user
  std::vector<AllowRule> allow;
  // Watch history kept, in events: a watch from an older resourceVersion gets 410 Gone.
  size_t history_limit = 10000;
  std::chrono::milliseconds bookmark_interval = std::chrono::seconds(60);
  // How long watches without timeoutSeconds stay open (kube-apiserver: 30-60 min).
  std::chrono::milliseconds max_watch = std::chrono::minutes(30);
  // A Terminating namespace is removed once it is empty and at least this old (the recording
  // shows about 5 s).
  int namespace_delete_seconds = 1;
  // Published in every namespace as ConfigMap kube-root-ca.crt; set by FakeApiServer.
  std::string root_ca_pem;

  // The credentials of a tenant's own PKI, for the kube-apiserver stand-in: its serving
  // certificate (PEM, the chain after the leaf) and key instead of the fake's own for
  // 127.0.0.1, and the CA bundle that client certificates are verified against instead of the
  // fake's CA (--client-ca-file). The fake's CA still signs adminKubeconfig() and
  // issueClientCert(), which this bundle then does not accept.
  std::string serving_cert_pem;
  std::string serving_key_pem;
  std::string client_ca_pem;
  // --anonymous-auth: false turns requests without credentials into 401s.
  bool anonymous_auth = true;
  // --enable-bootstrap-token-auth: "<id>.<secret>" bearer tokens authenticate as
  // system:bootstrap:<id> against Secret kube-system/bootstrap-token-<id>.
  bool bootstrap_token_auth = false;
};

class ApiServer;

class FakeApiServer {
 public:
  static Result<std::unique_ptr<FakeApiServer>> start(FakeApiServerOptions options = {});
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  uint16_t port() const;
  std::string url() const;  // https://127.0.0.1:<port>
  const std::string& caPem() const { return ca_cert_pem_; }
  const std::string& adminCertPem() const { return admin_cert_pem_; }
  const std::string& adminKeyPem() const { return admin_key_pem_; }
  // A client certificate for CN=user, O=groups, signed by the server's client CA.
  Result<std::pair<std::string, std::string>> issueClientCert(
      const std::string& user, const std::vector<std::string>& groups) const;
  // An admin kubeconfig (system:masters client certificate, embedded CA).
  std::string adminKubeconfig() const;

  // Fault injection.
  void dropWatches();  // ends every open watch now
  void failNextRequests(int count, int code, int retry_after_seconds = 1);  // 500 or 429
  void setLatency(std::chrono::milliseconds latency);
  // Compacts the history (and etcd, when the objects are there) up to `revision`, 0: the
  // current one; older rvs become 410 Gone.
  void compactHistory(uint64_t revision = 0);
  // The current resourceVersion (etcd revision).
  uint64_t resourceVersion() const;

  void stop();

 private:
  FakeApiServer() = default;
  FakeApiServerOptions options_;
  std::string ca_cert_pem_, ca_key_pem_, admin_cert_pem_, admin_key_pem_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<class HttpServer> http_;
};

}  // namespace herd::fake
