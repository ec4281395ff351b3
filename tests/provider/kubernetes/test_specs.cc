#include "provider/kubernetes/test_specs.h"

#include <algorithm>

namespace herd::provider::kubernetes::testdata {

namespace {

using render::Component;
using render::ComponentSpec;
using render::FileSpec;
using render::ProbeSpec;

constexpr unsigned kPrivate = 0600;

ProbeSpec probe(ProbeSpec::Scheme scheme, const std::string& path, int port, int failures) {
  ProbeSpec p;
  p.scheme = scheme;
  p.path = path;
  p.port = port;
  p.failure_threshold = failures;
  return p;
}

FileSpec pkiFile(const std::string& path, const std::string& pki_file, unsigned mode = 0644) {
  return {path, pki_file, "", mode};
}

void sortFiles(ComponentSpec& spec) {
  std::sort(spec.files.begin(), spec.files.end(),
            [](const FileSpec& a, const FileSpec& b) { return a.path < b.path; });
}

}  // namespace

api::Cluster cluster(const std::string& uid) {
  api::Cluster c;
  c.metadata.name = "alpha";
  c.metadata.uid = uid;
  c.spec.version = "1.32.4";
  return c;
}

ComponentSpec etcdSpec() {
  ComponentSpec s;
  s.component = Component::kEtcd;
  s.name = "etcd";
  s.binary = "etcd";
  s.image = "registry.k8s.io/etcd:3.5.16-0";
  s.version = "3.5.16";
  const std::string peer = "https://$(HERD_MEMBER).etcd.herd-alpha.svc:2380";
  s.args = {
      "--advertise-client-urls=https://$(HERD_MEMBER).etcd.herd-alpha.svc:2379",
      "--cert-file=/etc/etcd/pki/server.crt",
      "--client-cert-auth=true",
      "--data-dir=/var/lib/etcd",
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=etcd-0=https://etcd-0.etcd.herd-alpha.svc:2380,"
      "etcd-1=https://etcd-1.etcd.herd-alpha.svc:2380,"
      "etcd-2=https://etcd-2.etcd.herd-alpha.svc:2380",
      "--initial-cluster-state=new",
      "--initial-cluster-token=herd-alpha",
      "--key-file=/etc/etcd/pki/server.key",
      "--listen-client-urls=https://0.0.0.0:2379",
      "--listen-metrics-urls=http://0.0.0.0:2381",
      "--listen-peer-urls=https://0.0.0.0:2380",
      "--name=$(HERD_MEMBER)",
      "--peer-cert-file=/etc/etcd/pki/peer.crt",
      "--peer-client-cert-auth=true",
      "--peer-key-file=/etc/etcd/pki/peer.key",
      "--peer-trusted-ca-file=/etc/etcd/pki/ca.crt",
      "--trusted-ca-file=/etc/etcd/pki/ca.crt",
  };
  s.files = {pkiFile("/etc/etcd/pki/ca.crt", "pki/etcd/ca.crt"),
             pkiFile("/etc/etcd/pki/peer.crt", "pki/etcd/peer.crt"),
             pkiFile("/etc/etcd/pki/peer.key", "pki/etcd/peer.key", kPrivate),
             pkiFile("/etc/etcd/pki/server.crt", "pki/etcd/server.crt"),
             pkiFile("/etc/etcd/pki/server.key", "pki/etcd/server.key", kPrivate)};
  s.ports = {{"client", 2379, ""}, {"peer", 2380, ""}, {"metrics", 2381, ""}};
  s.readiness = probe(ProbeSpec::Scheme::kHttp, "/readyz", 2381, 3);
  s.liveness = probe(ProbeSpec::Scheme::kHttp, "/livez", 2381, 8);
  s.resources.requests = {{"cpu", {"100m"}}, {"memory", {"256Mi"}}};
  s.resources.limits = {{"memory", {"1Gi"}}};
  s.replicas = 3;
  s.volumes = {{"data", "/var/lib/etcd", "8Gi"}};
  return s;
}

ComponentSpec apiServerSpec() {
  ComponentSpec s;
  s.component = Component::kApiServer;
  s.name = "kube-apiserver";
  s.binary = "kube-apiserver";
  s.image = "registry.k8s.io/kube-apiserver:v1.32.4";
  s.version = "1.32.4";
  s.args = {
      "--allow-privileged=true",
      "--authorization-mode=Node,RBAC",
      "--client-ca-file=/etc/kubernetes/pki/ca.crt",
      "--egress-selector-config-file=/etc/kubernetes/egress-selector.yaml",
      "--enable-bootstrap-token-auth=true",
      "--endpoint-reconciler-type=none",
      "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
      "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
      "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
      "--etcd-servers=https://etcd-client.herd-alpha.svc:2379",
      "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
      "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
      "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
      "--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key",
      "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
      "--secure-port=6443",
      "--service-account-issuer=https://kube-apiserver.herd-alpha.svc:6443",
      "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
      "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
      "--service-cluster-ip-range=10.96.0.0/12",
      "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
      "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
  };
  s.files = {
      {"/etc/kubernetes/egress-selector.yaml", "",
       "apiVersion: apiserver.k8s.io/v1beta1\n"
       "kind: EgressSelectorConfiguration\n"
       "egressSelections:\n"
       "- name: cluster\n"
       "  connection:\n"
       "    proxyProtocol: HTTPConnect\n"
       "    transport:\n"
       "      tcp:\n"
       "        url: https://tunnel.herd-system.svc:8132\n"
       "        tlsConfig:\n"
       "          caBundle: /etc/kubernetes/pki/ca.crt\n"
       "          clientCert: /etc/kubernetes/pki/apiserver-kubelet-client.crt\n"
       "          clientKey: /etc/kubernetes/pki/apiserver-kubelet-client.key\n",
       0644},
      pkiFile("/etc/kubernetes/pki/apiserver-etcd-client.crt", "pki/apiserver-etcd-client.crt"),
      pkiFile("/etc/kubernetes/pki/apiserver-etcd-client.key", "pki/apiserver-etcd-client.key",
              kPrivate),
      pkiFile("/etc/kubernetes/pki/apiserver-kubelet-client.crt",
              "pki/apiserver-kubelet-client.crt"),
      pkiFile("/etc/kubernetes/pki/apiserver-kubelet-client.key",
              "pki/apiserver-kubelet-client.key", kPrivate),
      pkiFile("/etc/kubernetes/pki/apiserver.crt", "pki/apiserver.crt"),
      pkiFile("/etc/kubernetes/pki/apiserver.key", "pki/apiserver.key", kPrivate),
      pkiFile("/etc/kubernetes/pki/ca.crt", "pki/ca.crt"),
      pkiFile("/etc/kubernetes/pki/etcd/ca.crt", "pki/etcd/ca.crt"),
      pkiFile("/etc/kubernetes/pki/front-proxy-ca.crt", "pki/front-proxy-ca.crt"),
      pkiFile("/etc/kubernetes/pki/front-proxy-client.crt", "pki/front-proxy-client.crt"),
      pkiFile("/etc/kubernetes/pki/front-proxy-client.key", "pki/front-proxy-client.key", kPrivate),
      pkiFile("/etc/kubernetes/pki/sa.key", "pki/sa.key", kPrivate),
      pkiFile("/etc/kubernetes/pki/sa.pub", "pki/sa.pub"),
  };
  sortFiles(s);
  s.ports = {{"https", 6443, ""}};
  s.startup = probe(ProbeSpec::Scheme::kHttps, "/livez", 6443, 24);
  s.readiness = probe(ProbeSpec::Scheme::kHttps, "/readyz", 6443, 3);
  s.liveness = probe(ProbeSpec::Scheme::kHttps, "/livez", 6443, 8);
  s.resources.requests = {{"cpu", {"250m"}}, {"memory", {"512Mi"}}};
  s.replicas = 2;
  return s;
}

ComponentSpec controllerManagerSpec() {
  ComponentSpec s;
  s.component = Component::kControllerManager;
  s.name = "kube-controller-manager";
  s.binary = "kube-controller-manager";
  s.image = "registry.k8s.io/kube-controller-manager:v1.32.4";
  s.version = "1.32.4";
  s.args = {
      "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
      "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf",
      "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt",
      "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
      "--kubeconfig=/etc/kubernetes/controller-manager.conf",
      "--leader-elect=true",
      "--root-ca-file=/etc/kubernetes/pki/ca.crt",
      "--service-account-private-key-file=/etc/kubernetes/pki/sa.key",
      "--use-service-account-credentials=true",
  };
  s.files = {
      pkiFile("/etc/kubernetes/controller-manager.conf", "controller-manager.conf", kPrivate),
      pkiFile("/etc/kubernetes/pki/ca.crt", "pki/ca.crt"),
      pkiFile("/etc/kubernetes/pki/ca.key", "pki/ca.key", kPrivate),
      pkiFile("/etc/kubernetes/pki/sa.key", "pki/sa.key", kPrivate)};
  s.ports = {{"https", 10257, ""}};
  s.startup = probe(ProbeSpec::Scheme::kHttps, "/healthz", 10257, 24);
  s.liveness = probe(ProbeSpec::Scheme::kHttps, "/healthz", 10257, 8);
  s.resources.requests = {{"cpu", {"200m"}}};
  s.replicas = 2;
  return s;
}

ComponentSpec schedulerSpec() {
  ComponentSpec s;
  s.component = Component::kScheduler;
  s.name = "kube-scheduler";
  s.binary = "kube-scheduler";
  s.image = "registry.k8s.io/kube-scheduler:v1.32.4";
  s.version = "1.32.4";
  s.args = {
      "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
      "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf",
      "--kubeconfig=/etc/kubernetes/scheduler.conf",
      "--leader-elect=true",
  };
  s.files = {pkiFile("/etc/kubernetes/scheduler.conf", "scheduler.conf", kPrivate)};
  s.ports = {{"https", 10259, ""}};
  s.readiness = probe(ProbeSpec::Scheme::kHttps, "/readyz", 10259, 3);
  s.liveness = probe(ProbeSpec::Scheme::kHttps, "/livez", 10259, 8);
  s.resources.requests = {{"cpu", {"100m"}}};
  s.replicas = 1;
  return s;
}

std::vector<ComponentSpec> allSpecs() {
  return {etcdSpec(), apiServerSpec(), controllerManagerSpec(), schedulerSpec()};
}

pki::PkiFiles pkiFiles() {
  pki::PkiFiles files;
  for (const auto& path : pki::layout::allPaths()) {
    bool is_public =
        path.ends_with(".crt") || path.ends_with(".pub") || path == pki::layout::kClusterInfo;
    files[path] = {path + " of alpha\n", is_public ? 0644u : kPrivate};
  }
  return files;
}

}  // namespace herd::provider::kubernetes::testdata
