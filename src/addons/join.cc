#include "addons/join.h"

#include <fmt/format.h>

#include "addons/addons.h"
#include "api/naming.h"
#include "common/yaml.h"
#include "pki/bootstrap_token.h"

namespace herd::addons {
namespace {

using json = nlohmann::json;

constexpr std::string_view kRbac = "rbac.authorization.k8s.io";

json meta(const std::string& name, const std::string& ns) {
  json m = {{"name", name}, {"labels", {{std::string(kAddonLabel), std::string(kNodeJoin)}}}};
  if (!ns.empty()) m["namespace"] = ns;
  return m;
}

json group(std::string_view name) {
  return {{"apiGroup", kRbac}, {"kind", "Group"}, {"name", name}};
}

json binding(std::string_view kind, const std::string& name, const std::string& ns,
             std::string_view role_kind, const std::string& role, json subjects) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", kind},
          {"metadata", meta(name, ns)},
          {"roleRef", {{"apiGroup", kRbac}, {"kind", role_kind}, {"name", role}}},
          {"subjects", std::move(subjects)}};
}

json readRole(const std::string& name, const std::string& ns, const std::string& configmap) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "Role"},
          {"metadata", meta(name, ns)},
          {"rules", json::array({{{"apiGroups", {""}},
                                  {"resources", {"configmaps"}},
                                  {"resourceNames", {configmap}},
                                  {"verbs", {"get"}}}})}};
}

// One object stored in the PKI set as YAML, with herd's label added.
Result<json> storedObject(const pki::PkiFiles& files, std::string_view path) {
  auto it = files.find(std::string(path));
  if (it == files.end()) {
    return Status::notFound(fmt::format("{} is missing from the tenant's PKI set", path));
  }
  auto docs = parseDocuments(it->second.data);
  if (!docs.isOk()) return docs.status().withContext(path);
  if (docs->size() != 1 || !(*docs)[0].is_object()) {
    return Status::invalid(fmt::format("{}: expected one object", path));
  }
  json object = (*docs)[0];
  object["metadata"]["labels"][std::string(kAddonLabel)] = std::string(kNodeJoin);
  return object;
}

std::string minorOf(const std::string& version) {
  std::string v = version.starts_with("v") ? version.substr(1) : version;
  size_t second = v.find('.', v.find('.') + 1);
  return v.substr(0, second);
}

std::string clusterConfiguration(const api::Cluster& cluster) {
  std::string version = cluster.spec.version.value_or("");
  // kubeadm reads v1beta4 from 1.31 on; 1.30's kubeadm knows only v1beta3.
  std::string api_version =
      minorOf(version) == "1.30" ? "kubeadm.k8s.io/v1beta3" : "kubeadm.k8s.io/v1beta4";
  const auto& net = cluster.spec.network;
  return fmt::format(
      "apiVersion: {}\n"
      "kind: ClusterConfiguration\n"
      "clusterName: {}\n"
      "controlPlaneEndpoint: {}:{}\n"
      "kubernetesVersion: v{}\n"
      "certificatesDir: /etc/kubernetes/pki\n"
      "etcd:\n"
      "  external:\n"
      "    endpoints:\n"
      "    - https://{}:{}\n"
      "    caFile: /etc/kubernetes/pki/etcd/ca.crt\n"
      "    certFile: /etc/kubernetes/pki/apiserver-etcd-client.crt\n"
      "    keyFile: /etc/kubernetes/pki/apiserver-etcd-client.key\n"
      "networking:\n"
      "  dnsDomain: {}\n"
      "  podSubnet: {}\n"
      "  serviceSubnet: {}\n",
      api_version, cluster.metadata.name, api::apiHostname(cluster), api::kPublicApiPort,
      version.starts_with("v") ? version.substr(1) : version, api::etcdHostname(cluster),
      api::kPublicApiPort, net.dnsDomain.value_or(""), net.podCIDR.value_or(""),
      net.serviceCIDR.value_or(""));
}

std::string kubeletConfiguration(const api::Cluster& cluster) {
  // kubeadm's defaults: webhook authentication and authorization against the API, the CA
  // for client certificates, client certificate rotation, and the cluster's DNS.
  return fmt::format(
      "apiVersion: kubelet.config.k8s.io/v1beta1\n"
      "kind: KubeletConfiguration\n"
      "authentication:\n"
      "  anonymous:\n"
      "    enabled: false\n"
      "  webhook:\n"
      "    cacheTTL: 0s\n"
      "    enabled: true\n"
      "  x509:\n"
      "    clientCAFile: /etc/kubernetes/pki/ca.crt\n"
      "authorization:\n"
      "  mode: Webhook\n"
      "  webhook:\n"
      "    cacheAuthorizedTTL: 0s\n"
      "    cacheUnauthorizedTTL: 0s\n"
      "cgroupDriver: systemd\n"
      "clusterDNS:\n"
      "- {}\n"
      "clusterDomain: {}\n"
      "rotateCertificates: true\n"
      "staticPodPath: /etc/kubernetes/manifests\n",
      cluster.spec.network.dnsServiceIP.value_or(""), cluster.spec.network.dnsDomain.value_or(""));
}

}  // namespace

Result<std::vector<json>> buildJoinObjects(const api::Cluster& cluster,
                                           const pki::PkiFiles& files) {
  std::vector<json> out;
  auto secret = storedObject(files, pki::layout::kTokenSecret);
  if (!secret.isOk()) return secret.status();
  auto info = storedObject(files, pki::layout::kClusterInfo);
  if (!info.isOk()) return info.status();
  out.push_back(*secret);
  out.push_back(*info);
  json token_group = json::array({group(pki::kBootstrapTokenGroup)});
  json nodes_and_token = json::array({group(pki::kBootstrapTokenGroup), group("system:nodes")});
  // Anyone may read cluster-info: it is public, and signed with the token for trust.
  out.push_back(readRole("kubeadm:bootstrap-signer-clusterinfo", "kube-public", "cluster-info"));
  out.push_back(binding(
      "RoleBinding", "kubeadm:bootstrap-signer-clusterinfo", "kube-public", "Role",
      "kubeadm:bootstrap-signer-clusterinfo",
      json::array({{{"apiGroup", kRbac}, {"kind", "User"}, {"name", "system:anonymous"}}})));
  out.push_back(binding("ClusterRoleBinding", "kubeadm:kubelet-bootstrap", "", "ClusterRole",
                        "system:node-bootstrapper", token_group));
  out.push_back(
      binding("ClusterRoleBinding", "kubeadm:node-autoapprove-bootstrap", "", "ClusterRole",
              "system:certificates.k8s.io:certificatesigningrequests:nodeclient", token_group));
  out.push_back(binding("ClusterRoleBinding", "kubeadm:node-autoapprove-certificate-rotation", "",
                        "ClusterRole",
                        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                        json::array({group("system:nodes")})));
  out.push_back(
      {{"apiVersion", "rbac.authorization.k8s.io/v1"},
       {"kind", "ClusterRole"},
       {"metadata", meta("kubeadm:get-nodes", "")},
       {"rules",
        json::array({{{"apiGroups", {""}}, {"resources", {"nodes"}}, {"verbs", {"get"}}}})}});
  out.push_back(binding("ClusterRoleBinding", "kubeadm:get-nodes", "", "ClusterRole",
                        "kubeadm:get-nodes", token_group));
  out.push_back(readRole("kubeadm:nodes-kubeadm-config", "kube-system", "kubeadm-config"));
  out.push_back(binding("RoleBinding", "kubeadm:nodes-kubeadm-config", "kube-system", "Role",
                        "kubeadm:nodes-kubeadm-config", nodes_and_token));
  out.push_back(readRole("kubeadm:kubelet-config", "kube-system", "kubelet-config"));
  out.push_back(binding("RoleBinding", "kubeadm:kubelet-config", "kube-system", "Role",
                        "kubeadm:kubelet-config", nodes_and_token));
  out.push_back({{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", meta("kubeadm-config", "kube-system")},
                 {"data", {{"ClusterConfiguration", clusterConfiguration(cluster)}}}});
  out.push_back({{"apiVersion", "v1"},
                 {"kind", "ConfigMap"},
                 {"metadata", meta("kubelet-config", "kube-system")},
                 {"data", {{"kubelet", kubeletConfiguration(cluster)}}}});
  return out;
}

}  // namespace herd::addons
