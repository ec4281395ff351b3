// The Kubernetes dashboard as its recommended.yaml (v2.7.0) installs it, in its own namespace:
// the dashboard with self-generated certificates and its metrics scraper, each with the RBAC
// it ships with and nothing more (no cluster-admin binding: users sign in with their own
// token). It is reached through the gateway by the tenant API's service proxy,
// https://<cluster>.<domain>/api/v1/namespaces/kubernetes-dashboard/services/https:kubernetes-dashboard:/proxy/,
// so it needs no route and no port of its own.
#include "addons/objects.h"

namespace herd::addons::detail {
namespace {
constexpr Addon kAddon = Addon::kDashboard;
constexpr std::string_view kNs = "kubernetes-dashboard";
}  // namespace

std::vector<json> dashboard(const Inputs& in) {
  std::vector<json> out;
  std::string ns(kNs);
  json labels = {{"k8s-app", "kubernetes-dashboard"}};
  json scraper_labels = {{"k8s-app", "dashboard-metrics-scraper"}};
  out.push_back(object("v1", "Namespace", meta(kAddon, ns, "")));
  json sa = serviceAccount(kAddon, "kubernetes-dashboard", ns);
  sa["metadata"]["labels"]["k8s-app"] = "kubernetes-dashboard";
  out.push_back(sa);
  for (const char* name : {"kubernetes-dashboard-certs", "kubernetes-dashboard-csrf",
                           "kubernetes-dashboard-key-holder"}) {
    json secret = object("v1", "Secret", meta(kAddon, name, ns, labels));
    secret["type"] = "Opaque";
    out.push_back(secret);
  }
  out.push_back(
      object("v1", "ConfigMap", meta(kAddon, "kubernetes-dashboard-settings", ns, labels)));

  json role = object("rbac.authorization.k8s.io/v1", "Role",
                     meta(kAddon, "kubernetes-dashboard", ns, labels));
  json secrets = rule({""}, {"secrets"}, {"get", "update", "delete"});
  secrets["resourceNames"] = {"kubernetes-dashboard-key-holder", "kubernetes-dashboard-certs",
                              "kubernetes-dashboard-csrf"};
  json settings = rule({""}, {"configmaps"}, {"get", "update"});
  settings["resourceNames"] = {"kubernetes-dashboard-settings"};
  json heapster = rule({""}, {"services"}, {"proxy"});
  heapster["resourceNames"] = {"heapster", "dashboard-metrics-scraper"};
  json heapster_proxy = rule({""}, {"services/proxy"}, {"get"});
  heapster_proxy["resourceNames"] = {"heapster", "http:heapster:", "https:heapster:",
                                     "dashboard-metrics-scraper", "http:dashboard-metrics-scraper"};
  role["rules"] = json::array({secrets, settings, heapster, heapster_proxy});
  out.push_back(role);
  json cluster_role = object("rbac.authorization.k8s.io/v1", "ClusterRole",
                             meta(kAddon, "kubernetes-dashboard", "", labels));
  cluster_role["rules"] =
      json::array({rule({"metrics.k8s.io"}, {"pods", "nodes"}, {"get", "list", "watch"})});
  out.push_back(cluster_role);
  json rb = object("rbac.authorization.k8s.io/v1", "RoleBinding",
                   meta(kAddon, "kubernetes-dashboard", ns, labels));
  rb["roleRef"] = {{"apiGroup", "rbac.authorization.k8s.io"},
                   {"kind", "Role"},
                   {"name", "kubernetes-dashboard"}};
  rb["subjects"] = json::array({saSubject("kubernetes-dashboard", ns)});
  out.push_back(rb);
  out.push_back(clusterRoleBinding(kAddon, "kubernetes-dashboard", "kubernetes-dashboard",
                                   json::array({saSubject("kubernetes-dashboard", ns)})));

  json svc = object("v1", "Service", meta(kAddon, "kubernetes-dashboard", ns, labels));
  svc["spec"] = {{"ports", json::array({{{"port", 443}, {"targetPort", 8443}}})},
                 {"selector", labels}};
  out.push_back(svc);
  json scraper_svc =
      object("v1", "Service", meta(kAddon, "dashboard-metrics-scraper", ns, scraper_labels));
  scraper_svc["spec"] = {{"ports", json::array({{{"port", 8000}, {"targetPort", 8000}}})},
                         {"selector", scraper_labels}};
  out.push_back(scraper_svc);

  json security = {{"allowPrivilegeEscalation", false},
                   {"readOnlyRootFilesystem", true},
                   {"runAsGroup", 2001},
                   {"runAsUser", 1001}};
  auto workload = [&](const std::string& name, const json& sel, json container, json volumes) {
    json d = object("apps/v1", "Deployment", meta(kAddon, name, ns, sel));
    d["spec"] = {
        {"replicas", 1},
        {"revisionHistoryLimit", 10},
        {"selector", {{"matchLabels", sel}}},
        {"template",
         {{"metadata", {{"labels", sel}}},
          {"spec",
           {{"containers", json::array({std::move(container)})},
            {"nodeSelector", {{"kubernetes.io/os", "linux"}}},
            {"securityContext", {{"seccompProfile", {{"type", "RuntimeDefault"}}}}},
            {"serviceAccountName", "kubernetes-dashboard"},
            {"volumes", std::move(volumes)}}}}},
    };
    return d;
  };
  json dash = {
      {"name", "kubernetes-dashboard"},
      {"image", image(in, "docker.io", "kubernetesui/dashboard", in.images.dashboard)},
      {"imagePullPolicy", "IfNotPresent"},
      {"args", {"--auto-generate-certificates", "--namespace=kubernetes-dashboard"}},
      {"ports", json::array({{{"containerPort", 8443}, {"protocol", "TCP"}}})},
      {"livenessProbe",
       {{"httpGet", {{"path", "/"}, {"port", 8443}, {"scheme", "HTTPS"}}},
        {"initialDelaySeconds", 30},
        {"timeoutSeconds", 30}}},
      {"securityContext", security},
      {"volumeMounts",
       json::array({{{"name", "kubernetes-dashboard-certs"}, {"mountPath", "/certs"}},
                    {{"name", "tmp-volume"}, {"mountPath", "/tmp"}}})},
  };
  out.push_back(workload("kubernetes-dashboard", labels, dash,
                         json::array({{{"name", "kubernetes-dashboard-certs"},
                                       {"secret", {{"secretName", "kubernetes-dashboard-certs"}}}},
                                      {{"name", "tmp-volume"}, {"emptyDir", json::object()}}})));
  json scraper = {
      {"name", "dashboard-metrics-scraper"},
      {"image", image(in, "docker.io", "kubernetesui/metrics-scraper", in.images.metrics_scraper)},
      {"imagePullPolicy", "IfNotPresent"},
      {"ports", json::array({{{"containerPort", 8000}, {"protocol", "TCP"}}})},
      {"livenessProbe",
       {{"httpGet", {{"path", "/"}, {"port", 8000}, {"scheme", "HTTP"}}},
        {"initialDelaySeconds", 30},
        {"timeoutSeconds", 30}}},
      {"securityContext", security},
      {"volumeMounts", json::array({{{"name", "tmp-volume"}, {"mountPath", "/tmp"}}})},
  };
  out.push_back(workload("dashboard-metrics-scraper", scraper_labels, scraper,
                         json::array({{{"name", "tmp-volume"}, {"emptyDir", json::object()}}})));
  return out;
}

}  // namespace herd::addons::detail
