#include "render/mounts.h"

#include <fmt/format.h>

namespace herd::render {
namespace {

using enum Component;

constexpr PkiMount kMounts[] = {
    // etcd: its CA's certificate (to verify peers and clients) and its two identities.
    {kEtcd, "pki/etcd/ca.crt"},
    {kEtcd, "pki/etcd/server.crt"},
    {kEtcd, "pki/etcd/server.key"},
    {kEtcd, "pki/etcd/peer.crt"},
    {kEtcd, "pki/etcd/peer.key"},
    // kube-apiserver: serving, clients it verifies (cluster CA, front-proxy CA), its client
    // identities towards kubelets, extension apiservers, etcd and the gateway's CONNECT
    // listener (egress), and the service-account key pair (it signs tokens with sa.key,
    // which is no CA key).
    {kApiServer, "pki/ca.crt"},
    {kApiServer, "pki/apiserver.crt"},
    {kApiServer, "pki/apiserver.key"},
    {kApiServer, "pki/apiserver-kubelet-client.crt"},
    {kApiServer, "pki/apiserver-kubelet-client.key"},
    {kApiServer, "pki/front-proxy-ca.crt"},
    {kApiServer, "pki/front-proxy-client.crt"},
    {kApiServer, "pki/front-proxy-client.key"},
    {kApiServer, "pki/etcd/ca.crt"},
    {kApiServer, "pki/apiserver-etcd-client.crt"},
    {kApiServer, "pki/apiserver-etcd-client.key"},
    {kApiServer, "pki/apiserver-egress-client.crt"},
    {kApiServer, "pki/apiserver-egress-client.key"},
    {kApiServer, "pki/sa.pub"},
    {kApiServer, "pki/sa.key"},
    // kube-controller-manager: the one signer. ca.key signs the kubelets' CSRs; sa.key signs
    // the tokens of the service-account controller.
    {kControllerManager, "controller-manager.conf"},
    {kControllerManager, "pki/ca.crt"},
    {kControllerManager, "pki/ca.key"},
    {kControllerManager, "pki/front-proxy-ca.crt"},
    {kControllerManager, "pki/sa.key"},
    // kube-scheduler: its kubeconfig only.
    {kScheduler, "scheduler.conf"},
};

}  // namespace

std::span<const PkiMount> pkiMountTable() {
  return kMounts;
}

std::string mountPath(std::string_view pki_file) {
  return fmt::format("{}/{}", kKubernetesDir, pki_file);
}

bool isMounted(Component component, std::string_view pki_file) {
  for (const PkiMount& m : kMounts) {
    if (m.component == component && m.pki_file == pki_file) return true;
  }
  return false;
}

}  // namespace herd::render
