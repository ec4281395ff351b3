#include "support/test_apiserver.h"

#include <fmt/format.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include "common/base64.h"
#include "common/files.h"
#include "fake_apiserver.h"

namespace herd::testing {
namespace {

using namespace std::chrono_literals;

Status openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runCommand(argv, {}, 60s);
  if (!r) return r.status();
  if (r->exit_code != 0) return Status::internal("openssl " + args[0] + " failed: " + r->err);
  return Status::ok();
}

std::string kubeconfigFor(const std::string& server, const std::string& ca, const std::string& cert,
                          const std::string& key) {
  return fmt::format(
      "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: test\n  cluster:\n  "
      "  server: {}\n"
      "    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    "
      "client-certificate-data: {}\n"
      "    client-key-data: {}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: "
      "admin\n",
      server, base64Encode(ca), base64Encode(cert), base64Encode(key));
}

}  // namespace

Result<std::unique_ptr<TestApiServer>> TestApiServer::start(const TestApiServerOptions& options) {
  std::unique_ptr<TestApiServer> s(new TestApiServer());
  s->dir_ = std::make_unique<TempDir>();
  const char* bin = std::getenv("HERD_KUBE_BIN");
  if (bin && *bin) {
    HERD_RETURN_IF_ERROR(s->startReal(bin));
  } else {
    fake::FakeApiServerOptions fo;
    fo.bookmark_interval = options.bookmark_interval;
    HERD_ASSIGN_OR_RETURN(s->fake_, fake::FakeApiServer::start(fo));
    s->description_ = "the fake apiserver";
    s->admin_.server = s->fake_->url();
    s->admin_.ca_pem = s->fake_->caPem();
    s->admin_.client_cert_pem = s->fake_->adminCertPem();
    s->admin_.client_key_pem = s->fake_->adminKeyPem();
    s->kubeconfig_path_ = s->dir_->write("admin.kubeconfig", s->fake_->adminKubeconfig());
  }
  std::cerr << "[ test api server ] using " << s->description_
            << (s->isFake() ? " (set HERD_KUBE_BIN to run against a real kube-apiserver)" : "")
            << "\n";
  return s;
}

TestApiServer::~TestApiServer() {
  // In reverse order of start: the controller manager and the apiserver before etcd.
  for (auto it = processes_.rbegin(); it != processes_.rend(); ++it) it->stop(5s);
}

Result<kube::RestConfig> TestApiServer::userConfig(const std::string& user,
                                                   const std::vector<std::string>& groups) const {
  kube::RestConfig rc = admin_;
  if (fake_) {
    HERD_ASSIGN_OR_RETURN(auto pair, fake_->issueClientCert(user, groups));
    rc.client_cert_pem = pair.first;
    rc.client_key_pem = pair.second;
    return rc;
  }
  std::string subject = "/CN=" + user;
  for (const auto& g : groups) subject += "/O=" + g;
  std::string key = dir_->file(user + ".key"), csr = dir_->file(user + ".csr"),
              crt = dir_->file(user + ".crt");
  HERD_RETURN_IF_ERROR(
      openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", key, "-subj", subject, "-out", csr}));
  HERD_RETURN_IF_ERROR(openssl({"x509", "-req", "-in", csr, "-CA", ca_cert_path_, "-CAkey",
                                ca_key_path_, "-CAcreateserial", "-days", "1", "-out", crt}));
  HERD_ASSIGN_OR_RETURN(rc.client_cert_pem, files::read(crt));
  HERD_ASSIGN_OR_RETURN(rc.client_key_pem, files::read(key));
  return rc;
}

Status TestApiServer::startReal(const std::string& bin_dir) {
  std::string apiserver = bin_dir + "/kube-apiserver";
  if (!files::exists(apiserver))
    return Status::notFound("HERD_KUBE_BIN has no kube-apiserver: " + apiserver);
  description_ = "kube-apiserver from $HERD_KUBE_BIN (" + bin_dir + ")";
  const std::string& d = dir_->path();
  ca_cert_path_ = d + "/ca.crt";
  ca_key_path_ = d + "/ca.key";
  // A CA, a serving certificate for 127.0.0.1, an admin client certificate, SA keys.
  HERD_RETURN_IF_ERROR(openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key_path_,
                                "-out", ca_cert_path_, "-days", "1", "-subj", "/CN=test-ca"}));
  HERD_RETURN_IF_ERROR(
      files::writeAtomic(d + "/san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"));
  HERD_RETURN_IF_ERROR(openssl({"req", "-new", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:P-256", "-nodes", "-keyout", d + "/server.key",
                                "-subj", "/CN=kube-apiserver", "-out", d + "/server.csr"}));
  HERD_RETURN_IF_ERROR(openssl({"x509", "-req", "-in", d + "/server.csr", "-CA", ca_cert_path_,
                                "-CAkey", ca_key_path_, "-CAcreateserial", "-days", "1", "-extfile",
                                d + "/san.ext", "-out", d + "/server.crt"}));
  HERD_RETURN_IF_ERROR(openssl(
      {"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", d + "/sa.key"}));
  HERD_RETURN_IF_ERROR(openssl({"pkey", "-in", d + "/sa.key", "-pubout", "-out", d + "/sa.pub"}));

  int etcd_client = freeLoopbackPort(), etcd_peer = freeLoopbackPort(), secure = freeLoopbackPort();
  std::string etcd_url = fmt::format("http://127.0.0.1:{}", etcd_client);
  ProcessOptions etcd_opts;
  etcd_opts.stderr_path = d + "/etcd.log";
  HERD_ASSIGN_OR_RETURN(
      Process etcd,
      Process::spawn(
          {"etcd", "--data-dir", d + "/etcd", "--listen-client-urls", etcd_url,
           "--advertise-client-urls", etcd_url, "--listen-peer-urls",
           fmt::format("http://127.0.0.1:{}", etcd_peer), "--initial-advertise-peer-urls",
           fmt::format("http://127.0.0.1:{}", etcd_peer), "--initial-cluster",
           fmt::format("default=http://127.0.0.1:{}", etcd_peer)},
          etcd_opts));
  processes_.push_back(std::move(etcd));
  ProcessOptions api_opts;
  api_opts.stderr_path = d + "/kube-apiserver.log";
  HERD_ASSIGN_OR_RETURN(Process api, Process::spawn({apiserver,
                                                     "--etcd-servers",
                                                     etcd_url,
                                                     "--bind-address",
                                                     "127.0.0.1",
                                                     "--advertise-address",
                                                     "127.0.0.1",
                                                     "--secure-port",
                                                     std::to_string(secure),
                                                     "--tls-cert-file",
                                                     d + "/server.crt",
                                                     "--tls-private-key-file",
                                                     d + "/server.key",
                                                     "--client-ca-file",
                                                     ca_cert_path_,
                                                     "--service-account-issuer",
                                                     "https://kubernetes.default.svc.cluster.local",
                                                     "--service-account-key-file",
                                                     d + "/sa.pub",
                                                     "--service-account-signing-key-file",
                                                     d + "/sa.key",
                                                     "--service-cluster-ip-range",
                                                     "10.0.0.0/24",
                                                     "--authorization-mode",
                                                     "Node,RBAC",
                                                     "--endpoint-reconciler-type",
                                                     "none"},
                                                    api_opts));
  processes_.push_back(std::move(api));
  admin_.server = fmt::format("https://127.0.0.1:{}", secure);
  HERD_ASSIGN_OR_RETURN(admin_.ca_pem, files::read(ca_cert_path_));
  HERD_ASSIGN_OR_RETURN(kube::RestConfig admin, userConfig("herd-test-admin", {"system:masters"}));
  admin_ = admin;
  kubeconfig_path_ = dir_->write(
      "admin.kubeconfig",
      kubeconfigFor(admin_.server, admin_.ca_pem, admin_.client_cert_pem, admin_.client_key_pem));
  // Ready when /readyz answers ok (etcd up, post-start hooks done), within a minute.
  for (int i = 0; i < 600; ++i) {
    auto r = runCommand({"kubectl", "--kubeconfig", kubeconfig_path_, "get", "--raw", "/readyz"},
                        {}, 10s);
    if (r && r->exit_code == 0 && r->out.find("ok") != std::string::npos) return Status::ok();
    if (!processes_.back().running()) break;
    std::this_thread::sleep_for(100ms);
  }
  return Status::unavailable("kube-apiserver did not become ready; see " + d +
                             "/kube-apiserver.log");
}

}  // namespace herd::testing
