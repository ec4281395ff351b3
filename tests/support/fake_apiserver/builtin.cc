#include "builtin.h"

#include <regex>

namespace herd::fake {
namespace {

using api::FieldErrors;
using api::FieldPath;

const std::regex kSubdomain("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
const std::regex kLabel("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
const std::regex kDns1035("[a-z]([-a-z0-9]*[a-z0-9])?");
const std::regex kConfigKey("[-._a-zA-Z0-9]+");

constexpr const char* kSubdomainMessage =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr const char* kLabelMessage =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
constexpr const char* kDns1035Message =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
constexpr const char* kConfigKeyMessage =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

void validateName(const ResourceType& type, const Json& meta, FieldErrors& errs) {
  std::string name = meta.value("name", "");
  FieldPath path("metadata.name");
  if (name.empty()) {
    if (meta.value("generateName", "").empty())
      errs.required(path, "name or generateName is required");
    return;
  }
  if (type.resource == "namespaces") {
    if (name.size() > 63) errs.invalid(path, name, "must be no more than 63 characters");
    if (!std::regex_match(name, kLabel)) errs.invalid(path, name, kLabelMessage);
  } else if (type.group == "rbac.authorization.k8s.io") {
    // RBAC names are path segments (path.IsValidPathSegmentName): "kubeadm:cluster-admins",
    // "system:node" are valid.
    if (name == "." || name == "..") errs.invalid(path, name, "may not be '" + name + "'");
    for (const char* bad : {"/", "%"}) {
      if (name.find(bad) != std::string::npos)
        errs.invalid(path, name, std::string("may not contain '") + bad + "'");
    }
  } else if (type.resource == "services") {
    if (name.size() > 63) errs.invalid(path, name, "must be no more than 63 characters");
    if (!std::regex_match(name, kDns1035)) errs.invalid(path, name, kDns1035Message);
  } else {
    if (name.size() > 253) errs.invalid(path, name, "must be no more than 253 characters");
    if (!std::regex_match(name, kSubdomain)) errs.invalid(path, name, kSubdomainMessage);
  }
}

void validateOwnerReferences(const Json& meta, FieldErrors& errs) {
  if (!meta.contains("ownerReferences") || !meta["ownerReferences"].is_array()) return;
  FieldPath path("metadata.ownerReferences");
  int controllers = 0;
  for (const auto& ref : meta["ownerReferences"]) {
    if (!ref.is_object()) continue;
    if (ref.value("apiVersion", "").empty())
      errs.invalid(path.child("apiVersion"), ref.value("apiVersion", ""),
                   "version must not be empty");
    if (ref.value("kind", "").empty())
      errs.invalid(path.child("kind"), ref.value("kind", ""), "kind must not be empty");
    if (ref.value("name", "").empty())
      errs.invalid(path.child("name"), ref.value("name", ""), "name must not be empty");
    if (ref.value("uid", "").empty())
      errs.invalid(path.child("uid"), ref.value("uid", ""), "uid must not be empty");
    if (ref.value("controller", false)) ++controllers;
  }
  if (controllers > 1)
    errs.invalid(path, meta["ownerReferences"],
                 "Only one reference can have Controller set to true");
}

void validateDataKeys(const Json& object, const char* field, FieldErrors& errs) {
  if (!object.contains(field) || !object[field].is_object()) return;
  for (const auto& [key, value] : object[field].items()) {
    if (key.size() > 253 || !std::regex_match(key, kConfigKey)) {
      errs.invalid(FieldPath(field).key(key), key, kConfigKeyMessage);
    }
  }
}

void validateDeployment(const Json& object, FieldErrors& errs) {
  const Json spec = object.value("spec", Json::object());
  if (spec.contains("replicas") && spec["replicas"].is_number_integer() &&
      spec["replicas"].get<long>() < 0) {
    errs.invalid(FieldPath("spec.replicas"), spec["replicas"],
                 "must be greater than or equal to 0");
  }
  Json selector = spec.value("selector", Json::object());
  Json labels = spec.value("template", Json::object())
                    .value("metadata", Json::object())
                    .value("labels", Json::object());
  if (selector.empty()) {
    errs.required(FieldPath("spec.selector"));
  } else {
    bool matches = true;
    const Json match_labels = selector.value("matchLabels", Json::object());
    for (const auto& [k, v] : match_labels.items()) {
      if (!labels.contains(k) || labels[k] != v) matches = false;
    }
    if (!matches) {
      // kube-apiserver prints the Go map (map[string]string{...}); the JSON form says the same.
      errs.invalid(FieldPath("spec.template.metadata.labels"), nlohmann::json::parse(labels.dump()),
                   "`selector` does not match template `labels`");
    }
  }
  Json containers = spec.value("template", Json::object())
                        .value("spec", Json::object())
                        .value("containers", Json::array());
  if (containers.empty()) errs.required(FieldPath("spec.template.spec.containers"));
}

void validateService(const Json& object, FieldErrors& errs) {
  const Json spec = object.value("spec", Json::object());
  const Json ports = spec.value("ports", Json::array());
  for (size_t i = 0; i < ports.size(); ++i) {
    const Json& p = ports[i];
    if (p.contains("port") && p["port"].is_number_integer()) {
      long port = p["port"].get<long>();
      if (port < 1 || port > 65535) {
        errs.invalid(FieldPath("spec.ports").index(i).child("port"), p["port"],
                     "must be between 1 and 65535, inclusive");
      }
    }
    if (p.contains("targetPort") && p["targetPort"].is_number_integer()) {
      long port = p["targetPort"].get<long>();
      if (port < 1 || port > 65535) {
        errs.invalid(FieldPath("spec.ports").index(i).child("targetPort"), p["targetPort"],
                     "must be between 1 and 65535, inclusive");
      }
    }
  }
  if (spec.contains("type")) {
    std::string t = spec.value("type", "");
    if (t != "ClusterIP" && t != "ExternalName" && t != "LoadBalancer" && t != "NodePort") {
      errs.notSupported(FieldPath("spec.type"), t,
                        {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"});
    }
  }
}

void validateLease(const Json& object, FieldErrors& errs) {
  const Json spec = object.value("spec", Json::object());
  if (spec.contains("leaseDurationSeconds") && spec["leaseDurationSeconds"].is_number_integer() &&
      spec["leaseDurationSeconds"].get<long>() <= 0) {
    errs.invalid(FieldPath("spec.leaseDurationSeconds"), spec["leaseDurationSeconds"],
                 "must be greater than 0");
  }
}

void defaultPodSpec(Json& spec) {
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (!c.is_object()) continue;
      if (c.contains("ports") && c["ports"].is_array()) {
        for (auto& p : c["ports"]) {
          if (p.is_object() && !p.contains("protocol")) p["protocol"] = "TCP";
        }
      }
      if (!c.contains("resources")) c["resources"] = Json::object();
      if (!c.contains("terminationMessagePath"))
        c["terminationMessagePath"] = "/dev/termination-log";
      if (!c.contains("terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
      if (!c.contains("imagePullPolicy")) {
        std::string image = c.value("image", "");
        bool latest = image.find(':') == std::string::npos ||
                      (image.size() >= 7 && image.compare(image.size() - 7, 7, ":latest") == 0);
        c["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
      }
    }
  }
  if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
  if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  if (!spec.contains("securityContext")) spec["securityContext"] = Json::object();
  if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
}

void defaultTemplate(Json& spec) {
  if (!spec.contains("template") || !spec["template"].is_object()) return;
  Json& tmpl = spec["template"];
  if (!tmpl.contains("metadata")) tmpl["metadata"] = Json::object();
  if (!tmpl["metadata"].contains("creationTimestamp")) {
    Json meta = {{"creationTimestamp", nullptr}};
    for (auto& [k, v] : tmpl["metadata"].items()) meta[k] = v;
    tmpl["metadata"] = meta;
  }
  if (tmpl.contains("spec") && tmpl["spec"].is_object()) defaultPodSpec(tmpl["spec"]);
}

}  // namespace

api::FieldErrors validateObject(const ResourceType& type, const Json& object) {
  FieldErrors errs;
  const Json meta = object.value("metadata", Json::object());
  validateName(type, meta, errs);
  validateOwnerReferences(meta, errs);
  if (type.custom) return errs;
  if (type.resource == "configmaps") {
    validateDataKeys(object, "data", errs);
    validateDataKeys(object, "binaryData", errs);
  } else if (type.resource == "secrets") {
    validateDataKeys(object, "data", errs);
    validateDataKeys(object, "stringData", errs);
  } else if (type.resource == "services") {
    validateService(object, errs);
  } else if (type.resource == "deployments" || type.resource == "statefulsets" ||
             type.resource == "replicasets" || type.resource == "daemonsets") {
    validateDeployment(object, errs);
  } else if (type.resource == "leases") {
    validateLease(object, errs);
  }
  return errs;
}

void applyBuiltinDefaults(const ResourceType& type, Json& object) {
  if (type.custom) return;
  if (type.resource == "namespaces") {
    Json& meta = object["metadata"];
    meta["labels"]["kubernetes.io/metadata.name"] = meta.value("name", "");
    if (!object.contains("spec")) object["spec"] = Json::object();
    if (!object["spec"].contains("finalizers"))
      object["spec"]["finalizers"] = Json::array({"kubernetes"});
    if (!object.contains("status")) object["status"] = Json::object();
    if (!object["status"].contains("phase")) object["status"]["phase"] = "Active";
    return;
  }
  if (!object.contains("spec") || !object["spec"].is_object()) return;
  Json& spec = object["spec"];
  if (type.resource == "deployments") {
    if (!spec.contains("replicas")) spec["replicas"] = 1;
    defaultTemplate(spec);
    if (!spec.contains("strategy")) {
      spec["strategy"] = {{"type", "RollingUpdate"},
                          {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}};
    }
    if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
    if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
    // DeploymentSpec's Go field order, whatever order the client sent.
    Json ordered = Json::object();
    for (const char* key : {"replicas", "selector", "template", "strategy", "minReadySeconds",
                            "revisionHistoryLimit", "paused", "progressDeadlineSeconds"}) {
      if (spec.contains(key)) ordered[key] = spec[key];
    }
    for (const auto& [k, v] : spec.items()) {
      if (!ordered.contains(k)) ordered[k] = v;
    }
    spec = std::move(ordered);
  } else if (type.resource == "statefulsets") {
    if (!spec.contains("replicas")) spec["replicas"] = 1;
    defaultTemplate(spec);
    if (!spec.contains("podManagementPolicy")) spec["podManagementPolicy"] = "OrderedReady";
    if (!spec.contains("updateStrategy")) {
      spec["updateStrategy"] = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}};
    }
    if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
    if (!spec.contains("persistentVolumeClaimRetentionPolicy")) {
      spec["persistentVolumeClaimRetentionPolicy"] = {{"whenDeleted", "Retain"},
                                                      {"whenScaled", "Retain"}};
    }
  } else if (type.resource == "pods") {
    defaultPodSpec(spec);
  } else if (type.resource == "services") {
    if (!spec.contains("type")) spec["type"] = "ClusterIP";
    if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (auto& p : spec["ports"]) {
        if (!p.is_object()) continue;
        if (!p.contains("protocol")) p["protocol"] = "TCP";
        if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
      }
    }
  }
}

bool usesGeneration(const ResourceType& type) {
  if (type.custom) return true;
  static const std::vector<std::string> kWithGeneration = {"deployments",
                                                           "statefulsets",
                                                           "daemonsets",
                                                           "replicasets",
                                                           "jobs",
                                                           "cronjobs",
                                                           "customresourcedefinitions",
                                                           "poddisruptionbudgets",
                                                           "horizontalpodautoscalers",
                                                           "networkpolicies",
                                                           "ingresses",
                                                           "replicationcontrollers",
                                                           "validatingwebhookconfigurations",
                                                           "mutatingwebhookconfigurations",
                                                           "flowschemas",
                                                           "prioritylevelconfigurations"};
  return std::find(kWithGeneration.begin(), kWithGeneration.end(), type.resource) !=
         kWithGeneration.end();
}

}  // namespace herd::fake
