// CoreDNS as the cluster DNS, named kube-dns as kubeadm installs it (the Service name is what
// kubelets and tools expect): RBAC, the Corefile, a Deployment of two replicas spread across
// nodes, and the Service at the cluster's DNS address.
#include <fmt/format.h>

#include "addons/objects.h"

namespace herd::addons::detail {
namespace {

constexpr Addon kAddon = Addon::kCoreDns;
constexpr std::string_view kNs = "kube-system";
// Two replicas, as kubeadm: one node going away does not take DNS with it.
constexpr int kReplicas = 2;

std::string corefile(const Inputs& in) {
  // kubeadm's Corefile: cluster names from the API, everything else forwarded to the node's
  // resolvers, a 30 s cache, health on :8080 and readiness on :8181 for the probes.
  return fmt::format(
      ".:53 {{\n"
      "    errors\n"
      "    health {{\n"
      "       lameduck 5s\n"
      "    }}\n"
      "    ready\n"
      "    kubernetes {} in-addr.arpa ip6.arpa {{\n"
      "       pods insecure\n"
      "       fallthrough in-addr.arpa ip6.arpa\n"
      "       ttl 30\n"
      "    }}\n"
      "    prometheus :9153\n"
      "    forward . /etc/resolv.conf {{\n"
      "       max_concurrent 1000\n"
      "    }}\n"
      "    cache 30\n"
      "    loop\n"
      "    reload\n"
      "    loadbalance\n"
      "}}\n",
      in.cluster.spec.network.dnsDomain.value_or("cluster.local"));
}

}  // namespace

std::vector<json> coreDns(const Inputs& in) {
  std::vector<json> out;
  std::string ns(kNs);
  out.push_back(serviceAccount(kAddon, "coredns", ns));
  json role =
      object("rbac.authorization.k8s.io/v1", "ClusterRole", meta(kAddon, "system:coredns", ""));
  role["rules"] =
      json::array({rule({""}, {"endpoints", "services", "pods", "namespaces"}, {"list", "watch"}),
                   rule({"discovery.k8s.io"}, {"endpointslices"}, {"list", "watch"})});
  out.push_back(role);
  out.push_back(clusterRoleBinding(kAddon, "system:coredns", "system:coredns",
                                   json::array({saSubject("coredns", ns)})));
  json cm = object("v1", "ConfigMap", meta(kAddon, "coredns", ns));
  cm["data"] = {{"Corefile", corefile(in)}};
  out.push_back(cm);

  json labels = {{"k8s-app", "kube-dns"}};
  json container = {
      {"name", "coredns"},
      {"image", image(in, "registry.k8s.io", "coredns/coredns", in.images.coredns)},
      {"imagePullPolicy", "IfNotPresent"},
      {"args", {"-conf", "/etc/coredns/Corefile"}},
      {"ports", json::array({{{"name", "dns"}, {"containerPort", 53}, {"protocol", "UDP"}},
                             {{"name", "dns-tcp"}, {"containerPort", 53}, {"protocol", "TCP"}},
                             {{"name", "metrics"}, {"containerPort", 9153}, {"protocol", "TCP"}}})},
      {"livenessProbe",
       {{"httpGet", {{"path", "/health"}, {"port", 8080}, {"scheme", "HTTP"}}},
        {"initialDelaySeconds", 60},
        {"timeoutSeconds", 5},
        {"successThreshold", 1},
        {"failureThreshold", 5}}},
      {"readinessProbe", {{"httpGet", {{"path", "/ready"}, {"port", 8181}, {"scheme", "HTTP"}}}}},
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", "70Mi"}}}, {"limits", {{"memory", "170Mi"}}}}},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"capabilities", {{"add", {"NET_BIND_SERVICE"}}, {"drop", {"ALL"}}}},
        {"readOnlyRootFilesystem", true}}},
      {"volumeMounts",
       json::array(
           {{{"name", "config-volume"}, {"mountPath", "/etc/coredns"}, {"readOnly", true}}})},
  };
  json pod_spec = {
      {"affinity",
       {{"podAntiAffinity",
         {{"preferredDuringSchedulingIgnoredDuringExecution",
           json::array({{{"weight", 100},
                         {"podAffinityTerm",
                          {{"labelSelector",
                            {{"matchExpressions", json::array({{{"key", "k8s-app"},
                                                                {"operator", "In"},
                                                                {"values", {"kube-dns"}}}})}}},
                           {"topologyKey", "kubernetes.io/hostname"}}}}})}}}}},
      {"containers", json::array({container})},
      {"dnsPolicy", "Default"},
      {"nodeSelector", {{"kubernetes.io/os", "linux"}}},
      {"priorityClassName", "system-cluster-critical"},
      {"serviceAccountName", "coredns"},
      {"tolerations", json::array({{{"key", "CriticalAddonsOnly"}, {"operator", "Exists"}}})},
      {"volumes",
       json::array({{{"name", "config-volume"},
                     {"configMap",
                      {{"name", "coredns"},
                       {"items", json::array({{{"key", "Corefile"}, {"path", "Corefile"}}})}}}}})},
  };
  json deploy = object("apps/v1", "Deployment", meta(kAddon, "coredns", ns, labels));
  deploy["spec"] = {
      {"replicas", kReplicas},
      {"selector", {{"matchLabels", labels}}},
      {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", 1}}}}},
      {"template", {{"metadata", {{"labels", labels}}}, {"spec", pod_spec}}},
  };
  out.push_back(deploy);

  json svc_labels = {{"k8s-app", "kube-dns"},
                     {"kubernetes.io/cluster-service", "true"},
                     {"kubernetes.io/name", "CoreDNS"}};
  json svc = object("v1", "Service", meta(kAddon, "kube-dns", ns, svc_labels));
  svc["metadata"]["annotations"] = {{"prometheus.io/port", "9153"},
                                    {"prometheus.io/scrape", "true"}};
  svc["spec"] = {
      {"clusterIP", *in.cluster.spec.network.dnsServiceIP},
      {"ports",
       json::array(
           {{{"name", "dns"}, {"port", 53}, {"protocol", "UDP"}, {"targetPort", 53}},
            {{"name", "dns-tcp"}, {"port", 53}, {"protocol", "TCP"}, {"targetPort", 53}},
            {{"name", "metrics"}, {"port", 9153}, {"protocol", "TCP"}, {"targetPort", 9153}}})},
      {"selector", labels},
  };
  out.push_back(svc);
  return out;
}

}  // namespace herd::addons::detail
