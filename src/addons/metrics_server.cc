// metrics-server as its components.yaml ships it: the aggregated API v1beta1.metrics.k8s.io
// served by one Deployment in kube-system, with the RBAC an aggregated API server needs
// (auth-delegator, the extension-apiserver-authentication reader) and read access to nodes
// and pods. The apiservers reach it through the egress selector and the node tunnels, like
// every other in-cluster service of a hosted control plane.
#include "addons/objects.h"

namespace herd::addons::detail {
namespace {
constexpr Addon kAddon = Addon::kMetricsServer;
constexpr std::string_view kNs = "kube-system";
}  // namespace

std::vector<json> metricsServer(const Inputs& in) {
  std::vector<json> out;
  std::string ns(kNs);
  json labels = {{"k8s-app", "metrics-server"}};
  out.push_back(serviceAccount(kAddon, "metrics-server", ns));

  json reader = object("rbac.authorization.k8s.io/v1", "ClusterRole",
                       meta(kAddon, "system:aggregated-metrics-reader", "",
                            {{"rbac.authorization.k8s.io/aggregate-to-admin", "true"},
                             {"rbac.authorization.k8s.io/aggregate-to-edit", "true"},
                             {"rbac.authorization.k8s.io/aggregate-to-view", "true"}}));
  reader["rules"] =
      json::array({rule({"metrics.k8s.io"}, {"pods", "nodes"}, {"get", "list", "watch"})});
  out.push_back(reader);
  json role = object("rbac.authorization.k8s.io/v1", "ClusterRole",
                     meta(kAddon, "system:metrics-server", ""));
  role["rules"] = json::array({rule({""}, {"nodes/metrics"}, {"get"}),
                               rule({""}, {"pods", "nodes"}, {"get", "list", "watch"})});
  out.push_back(role);
  json auth_reader = object("rbac.authorization.k8s.io/v1", "RoleBinding",
                            meta(kAddon, "metrics-server-auth-reader", ns));
  auth_reader["roleRef"] = {{"apiGroup", "rbac.authorization.k8s.io"},
                            {"kind", "Role"},
                            {"name", "extension-apiserver-authentication-reader"}};
  auth_reader["subjects"] = json::array({saSubject("metrics-server", ns)});
  out.push_back(auth_reader);
  out.push_back(clusterRoleBinding(kAddon, "metrics-server:system:auth-delegator",
                                   "system:auth-delegator",
                                   json::array({saSubject("metrics-server", ns)})));
  out.push_back(clusterRoleBinding(kAddon, "system:metrics-server", "system:metrics-server",
                                   json::array({saSubject("metrics-server", ns)})));

  json svc = object("v1", "Service", meta(kAddon, "metrics-server", ns, labels));
  svc["spec"] = {
      {"ports",
       json::array(
           {{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", "https"}}})},
      {"selector", labels}};
  out.push_back(svc);

  auto probe = [](const char* path) {
    return json{{"httpGet", {{"path", path}, {"port", "https"}, {"scheme", "HTTPS"}}},
                {"periodSeconds", 10},
                {"failureThreshold", 3}};
  };
  json container = {
      {"name", "metrics-server"},
      {"image",
       image(in, "registry.k8s.io", "metrics-server/metrics-server", in.images.metrics_server)},
      {"imagePullPolicy", "IfNotPresent"},
      {"args",
       {"--cert-dir=/tmp", "--secure-port=10250",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        "--kubelet-use-node-status-port", "--metric-resolution=15s"}},
      {"ports", json::array({{{"name", "https"}, {"containerPort", 10250}, {"protocol", "TCP"}}})},
      {"livenessProbe", probe("/livez")},
      {"readinessProbe",
       [&] {
         json p = probe("/readyz");
         p["initialDelaySeconds"] = 20;
         return p;
       }()},
      {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "200Mi"}}}}},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"capabilities", {{"drop", {"ALL"}}}},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"runAsUser", 1000},
        {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
      {"volumeMounts", json::array({{{"name", "tmp-dir"}, {"mountPath", "/tmp"}}})},
  };
  json deploy = object("apps/v1", "Deployment", meta(kAddon, "metrics-server", ns, labels));
  deploy["spec"] = {
      {"selector", {{"matchLabels", labels}}},
      {"strategy", {{"rollingUpdate", {{"maxUnavailable", 0}}}}},
      {"template",
       {{"metadata", {{"labels", labels}}},
        {"spec",
         {{"containers", json::array({container})},
          {"nodeSelector", {{"kubernetes.io/os", "linux"}}},
          {"priorityClassName", "system-cluster-critical"},
          {"serviceAccountName", "metrics-server"},
          {"volumes", json::array({{{"name", "tmp-dir"}, {"emptyDir", json::object()}}})}}}}},
  };
  out.push_back(deploy);

  json apiservice = object("apiregistration.k8s.io/v1", "APIService",
                           meta(kAddon, "v1beta1.metrics.k8s.io", "", labels));
  apiservice["spec"] = {
      {"group", "metrics.k8s.io"},     {"groupPriorityMinimum", 100},
      {"insecureSkipTLSVerify", true}, {"service", {{"name", "metrics-server"}, {"namespace", ns}}},
      {"version", "v1beta1"},          {"versionPriority", 100}};
  out.push_back(apiservice);
  return out;
}

}  // namespace herd::addons::detail
