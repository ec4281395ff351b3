// kube-proxy as kubeadm installs it (ServiceAccount, node-proxier binding, the ConfigMap of
// its KubeProxyConfiguration and kubeconfig, the DaemonSet), with one difference: its
// kubeconfig names the tenant's dedicated gateway port, because nodes reach the control plane
// only through the gateway and kube-proxy sends no SNI.
#include <fmt/format.h>

#include "addons/objects.h"

namespace herd::addons::detail {
namespace {

constexpr Addon kAddon = Addon::kKubeProxy;
constexpr std::string_view kNs = "kube-system";

std::string proxyConfig(const Inputs& in) {
  // kubeproxy.config.k8s.io/v1alpha1, the fields kubeadm sets; the rest keep their defaults.
  return fmt::format(
      "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
      "kind: KubeProxyConfiguration\n"
      "bindAddress: 0.0.0.0\n"
      "clientConnection:\n"
      "  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\n"
      "clusterCIDR: {}\n"
      "mode: \"\"\n",
      in.cluster.spec.network.podCIDR.value_or(""));
}

std::string proxyKubeconfig(const Inputs& in) {
  // The service-account token and CA that the kubelet mounts into the pod.
  return fmt::format(
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- cluster:\n"
      "    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt\n"
      "    server: https://{}:{}\n"
      "  name: default\n"
      "contexts:\n"
      "- context:\n"
      "    cluster: default\n"
      "    namespace: default\n"
      "    user: default\n"
      "  name: default\n"
      "current-context: default\n"
      "users:\n"
      "- name: default\n"
      "  user:\n"
      "    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token\n",
      in.context.api_host.find(':') != std::string::npos ? "[" + in.context.api_host + "]"
                                                         : in.context.api_host,
      in.context.api_port);
}

}  // namespace

std::vector<json> kubeProxy(const Inputs& in) {
  std::vector<json> out;
  out.push_back(serviceAccount(kAddon, "kube-proxy", std::string(kNs)));
  out.push_back(clusterRoleBinding(kAddon, "kubeadm:node-proxier", "system:node-proxier",
                                   json::array({saSubject("kube-proxy", std::string(kNs))})));
  // kubeadm's Role and RoleBinding: joining nodes read the kube-proxy ConfigMap.
  json role =
      object("rbac.authorization.k8s.io/v1", "Role", meta(kAddon, "kube-proxy", std::string(kNs)));
  json get = rule({""}, {"configmaps"}, {"get"});
  get["resourceNames"] = {"kube-proxy"};
  role["rules"] = json::array({get});
  out.push_back(role);
  json rb = object("rbac.authorization.k8s.io/v1", "RoleBinding",
                   meta(kAddon, "kube-proxy", std::string(kNs)));
  rb["roleRef"] = {
      {"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "kube-proxy"}};
  rb["subjects"] = json::array({{{"apiGroup", "rbac.authorization.k8s.io"},
                                 {"kind", "Group"},
                                 {"name", "system:bootstrappers:kubeadm:default-node-token"}}});
  out.push_back(rb);

  json cm = object("v1", "ConfigMap",
                   meta(kAddon, "kube-proxy", std::string(kNs), {{"app", "kube-proxy"}}));
  cm["data"] = {{"config.conf", proxyConfig(in)}, {"kubeconfig.conf", proxyKubeconfig(in)}};
  out.push_back(cm);

  json labels = {{"k8s-app", "kube-proxy"}};
  json container = {
      {"name", "kube-proxy"},
      {"image", image(in, "registry.k8s.io", "kube-proxy", in.kube_version)},
      {"imagePullPolicy", "IfNotPresent"},
      {"command",
       {"/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
        "--hostname-override=$(NODE_NAME)"}},
      {"env", json::array({{{"name", "NODE_NAME"},
                            {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nodeName"}}}}}}})},
      {"securityContext", {{"privileged", true}}},
      {"volumeMounts",
       json::array({{{"name", "kube-proxy"}, {"mountPath", "/var/lib/kube-proxy"}},
                    {{"name", "xtables-lock"}, {"mountPath", "/run/xtables.lock"}},
                    {{"name", "lib-modules"}, {"mountPath", "/lib/modules"}, {"readOnly", true}}})},
  };
  json pod_spec = {
      {"containers", json::array({container})},
      {"hostNetwork", true},
      {"nodeSelector", {{"kubernetes.io/os", "linux"}}},
      {"priorityClassName", "system-node-critical"},
      {"serviceAccountName", "kube-proxy"},
      {"tolerations", json::array({{{"operator", "Exists"}}})},
      {"volumes",
       json::array({{{"name", "kube-proxy"}, {"configMap", {{"name", "kube-proxy"}}}},
                    {{"name", "xtables-lock"},
                     {"hostPath", {{"path", "/run/xtables.lock"}, {"type", "FileOrCreate"}}}},
                    {{"name", "lib-modules"}, {"hostPath", {{"path", "/lib/modules"}}}}})},
  };
  json ds = object("apps/v1", "DaemonSet", meta(kAddon, "kube-proxy", std::string(kNs), labels));
  ds["spec"] = {
      {"selector", {{"matchLabels", labels}}},
      {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod_spec}}},
      {"updateStrategy", {{"type", "RollingUpdate"}}},
  };
  out.push_back(ds);
  return out;
}

}  // namespace herd::addons::detail
