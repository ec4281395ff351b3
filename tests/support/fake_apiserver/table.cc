#include "table.h"

#include <algorithm>
#include <ctime>
#include <functional>
#include <string>

#include "objects.h"
#include "wire.h"

namespace herd::fake {
namespace {

std::string ageOf(const std::string& timestamp) {
  long long created = parseRfc3339(timestamp);
  if (created == 0) return "<unknown>";
  long long s = std::max<long long>(0, static_cast<long long>(std::time(nullptr)) - created);
  if (s < 120) return std::to_string(s) + "s";
  if (s < 600) return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (s < 3 * 3600) return std::to_string(s / 60) + "m";
  if (s < 8 * 3600)
    return std::to_string(s / 3600) + "h" + (s / 60 % 60 ? std::to_string(s / 60 % 60) + "m" : "");
  if (s < 48 * 3600) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

// kube-apiserver's built-in printers (pkg/printers/internalversion), as far as the recording
// shows them: the column definitions word for word, and each row's cells computed as the
// printer does. A printer prints every column, the wide ones (priority 1) included.
struct PrinterColumn {
  std::string name, type, format, description;
  int priority = 0;
  std::function<Json(const Json&)> cell;
};

constexpr const char* kNameDescription =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr const char* kAgeDescription =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

std::function<Json(const Json&)> atPath(std::string path) {
  return [path = std::move(path)](const Json& obj) { return evalJsonPath(obj, path); };
}

// A string field, "" when unset (Go's zero value), or `none` when the printer says "<none>".
std::function<Json(const Json&)> stringAt(std::string path, std::string none = "") {
  return [path = std::move(path), none = std::move(none)](const Json& obj) -> Json {
    Json v = evalJsonPath(obj, path);
    if (!v.is_string() || v.get<std::string>().empty()) return none;
    return v;
  };
}

Json ageCell(const Json& obj) {
  Json v = evalJsonPath(obj, ".metadata.creationTimestamp");
  return v.is_string() ? Json(ageOf(v.get<std::string>())) : Json("<unknown>");
}

long long intAt(const Json& obj, const std::string& path) {
  Json v = evalJsonPath(obj, path);
  return v.is_number_integer() ? v.get<long long>() : 0;
}

std::string joined(const Json& items, const char* key) {
  std::string out;
  for (const auto& item : items.is_array() ? items : Json::array()) {
    if (!out.empty()) out += ",";
    out += item.value(key, "");
  }
  return out;
}

// metav1.FormatLabelSelector: requirements sorted by key, "<none>" when empty.
std::string formatLabelSelector(const Json& selector) {
  if (!selector.is_object()) return "<none>";
  std::vector<std::pair<std::string, std::string>> parts;
  const Json match_labels = selector.value("matchLabels", Json::object());
  for (const auto& [key, value] : match_labels.items()) {
    parts.push_back({key, key + "=" + (value.is_string() ? value.get<std::string>() : "")});
  }
  for (const auto& e : selector.value("matchExpressions", Json::array())) {
    std::string key = e.value("key", "");
    std::string op = e.value("operator", "");
    std::vector<std::string> values;
    for (const auto& v : e.value("values", Json::array()))
      if (v.is_string()) values.push_back(v.get<std::string>());
    std::sort(values.begin(), values.end());
    std::string list;
    for (const auto& v : values) list += (list.empty() ? "" : ",") + v;
    if (op == "In")
      parts.push_back({key, key + " in (" + list + ")"});
    else if (op == "NotIn")
      parts.push_back({key, key + " notin (" + list + ")"});
    else if (op == "Exists")
      parts.push_back({key, key});
    else if (op == "DoesNotExist")
      parts.push_back({key, "!" + key});
  }
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [key, text] : parts) out += (out.empty() ? "" : ",") + text;
  return out.empty() ? "<none>" : out;
}

// printPod's STATUS column: the phase, overridden by the pod's reason, then by the first
// unfinished init container, then by the containers' waiting or terminated reasons.
std::string podStatus(const Json& pod) {
  const Json status = pod.value("status", Json::object());
  std::string reason = status.value("phase", "");
  if (!status.value("reason", "").empty()) reason = status.value("reason", "");
  auto exitReason = [](const Json& terminated) {
    if (!terminated.value("reason", "").empty()) return terminated.value("reason", "");
    if (terminated.value("signal", 0) != 0)
      return "Signal:" + std::to_string(terminated.value("signal", 0));
    return "ExitCode:" + std::to_string(terminated.value("exitCode", 0));
  };
  bool initializing = false;
  const Json init_statuses = status.value("initContainerStatuses", Json::array());
  size_t init_count =
      pod.value("spec", Json::object()).value("initContainers", Json::array()).size();
  for (size_t i = 0; i < init_statuses.size(); ++i) {
    const Json state = init_statuses[i].value("state", Json::object());
    if (state.contains("terminated") && state["terminated"].value("exitCode", 0) == 0) continue;
    if (state.contains("terminated")) {
      reason = "Init:" + exitReason(state["terminated"]);
    } else if (state.contains("waiting") && !state["waiting"].value("reason", "").empty() &&
               state["waiting"].value("reason", "") != "PodInitializing") {
      reason = "Init:" + state["waiting"].value("reason", "");
    } else {
      reason = "Init:" + std::to_string(i) + "/" + std::to_string(init_count);
    }
    initializing = true;
    break;
  }
  if (!initializing) {
    const Json statuses = status.value("containerStatuses", Json::array());
    bool running = false;
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      const Json state = it->value("state", Json::object());
      if (state.contains("waiting") && !state["waiting"].value("reason", "").empty()) {
        reason = state["waiting"].value("reason", "");
      } else if (state.contains("terminated")) {
        reason = exitReason(state["terminated"]);
      } else if (state.contains("running") && it->value("ready", false)) {
        running = true;
      }
    }
    if (reason == "Completed" && running) reason = "Running";
  }
  if (pod["metadata"].contains("deletionTimestamp")) {
    reason = status.value("reason", "") == "NodeLost" ? "Unknown" : "Terminating";
  }
  return reason;
}

Json podReady(const Json& pod) {
  long long ready = 0;
  for (const auto& c :
       pod.value("status", Json::object()).value("containerStatuses", Json::array()))
    if (c.value("ready", false) && c.value("state", Json::object()).contains("running")) ++ready;
  size_t total = pod.value("spec", Json::object()).value("containers", Json::array()).size();
  return std::to_string(ready) + "/" + std::to_string(total);
}

Json podRestarts(const Json& pod) {
  long long restarts = 0;
  for (const auto& c :
       pod.value("status", Json::object()).value("containerStatuses", Json::array()))
    restarts += c.value("restartCount", 0);
  return std::to_string(restarts);
}

Json podReadinessGates(const Json& pod) {
  const Json gates = pod.value("spec", Json::object()).value("readinessGates", Json::array());
  if (gates.empty()) return "<none>";
  size_t ready = 0;
  for (const auto& gate : gates) {
    for (const auto& c : pod.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == gate.value("conditionType", "") && c.value("status", "") == "True")
        ++ready;
    }
  }
  return std::to_string(ready) + "/" + std::to_string(gates.size());
}

Json podIp(const Json& pod) {
  const Json ips = pod.value("status", Json::object()).value("podIPs", Json::array());
  if (!ips.empty() && !ips[0].value("ip", "").empty()) return ips[0]["ip"];
  return stringAt(".status.podIP", "<none>")(pod);
}

Json dataCount(const Json& obj) {
  return obj.value("data", Json::object()).size() + obj.value("binaryData", Json::object()).size();
}

std::vector<PrinterColumn> builtinColumns(const ResourceType& type) {
  const std::string& r = type.resource;
  std::vector<PrinterColumn> columns;
  if (r == "namespaces") {
    columns = {{"Status", "string", "", "The status of the namespace", 0, atPath(".status.phase")}};
  } else if (r == "configmaps") {
    columns = {{"Data", "string", "",
                "Data contains the configuration data. Each key must consist of alphanumeric "
                "characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the "
                "BinaryData field. The keys stored in Data must not overlap with the keys in the "
                "BinaryData field, this is enforced during validation process.",
                0, dataCount}};
  } else if (r == "secrets") {
    // Not in the recording; kept as the fake printed it before.
    columns = {{"Type", "string", "", "The type of the secret", 0, atPath(".type")},
               {"Data", "string", "", "Number of data entries", 0, [](const Json& obj) -> Json {
                  return obj.value("data", Json::object()).size() +
                         obj.value("stringData", Json::object()).size();
                }}};
  } else if (r == "leases") {
    columns = {{"Holder", "string", "",
                "holderIdentity contains the identity of the holder of a current lease. If "
                "Coordinated Leader Election is used, the holder identity must be equal to the "
                "elected LeaseCandidate.metadata.name field.",
                0, stringAt(".spec.holderIdentity")}};
  } else if (r == "deployments") {
    columns = {
        {"Ready", "string", "", "Number of the pod with ready state", 0,
         [](const Json& d) -> Json {
           return std::to_string(intAt(d, ".status.readyReplicas")) + "/" +
                  std::to_string(intAt(d, ".spec.replicas"));
         }},
        {"Up-to-date", "string", "",
         "Total number of non-terminated pods targeted by this deployment that have the desired "
         "template spec.",
         0, [](const Json& d) -> Json { return intAt(d, ".status.updatedReplicas"); }},
        {"Available", "string", "",
         "Total number of available pods (ready for at least minReadySeconds) targeted by this "
         "deployment.",
         0, [](const Json& d) -> Json { return intAt(d, ".status.availableReplicas"); }},
        {"Age", "string", "", kAgeDescription, 0, ageCell},
        {"Containers", "string", "", "Names of each container in the template.", 1,
         [](const Json& d) -> Json {
           return joined(evalJsonPath(d, ".spec.template.spec.containers"), "name");
         }},
        {"Images", "string", "", "Images referenced by each container in the template.", 1,
         [](const Json& d) -> Json {
           return joined(evalJsonPath(d, ".spec.template.spec.containers"), "image");
         }},
        {"Selector", "string", "",
         "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be "
         "the ones affected by this deployment.",
         1,
         [](const Json& d) -> Json {
           return formatLabelSelector(evalJsonPath(d, ".spec.selector"));
         }},
    };
    return columns;
  } else if (r == "pods") {
    columns = {
        {"Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.",
         0, podReady},
        {"Status", "string", "", "The aggregate status of the containers in this pod.", 0,
         [](const Json& pod) -> Json { return podStatus(pod); }},
        {"Restarts", "string", "",
         "The number of times the containers in this pod have been restarted and when the last "
         "container in this pod has restarted.",
         0, podRestarts},
        {"Age", "string", "", kAgeDescription, 0, ageCell},
        {"IP", "string", "",
         "podIP address allocated to the pod. Routable at least within the cluster. Empty if not "
         "yet allocated.",
         1, podIp},
        {"Node", "string", "",
         "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
         "candidate for scheduling by the scheduler defined in schedulerName. Once this field is "
         "set, the kubelet for this node becomes responsible for the lifecycle of this pod. This "
         "field should not be used to express a desire for the pod to be scheduled on a specific "
         "node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
         1, stringAt(".spec.nodeName", "<none>")},
        {"Nominated Node", "string", "",
         "nominatedNodeName is set only when this pod preempts other pods on the node, but it "
         "cannot be scheduled right away as preemption victims receive their graceful "
         "termination periods. This field does not guarantee that the pod will be scheduled on "
         "this node. Scheduler may decide to place the pod elsewhere if other nodes become "
         "available sooner. Scheduler may also decide to give the resources on this node to a "
         "higher priority pod that is created after preemption. As a result, this field may be "
         "different than PodSpec.nodeName when the pod is scheduled.",
         1, stringAt(".status.nominatedNodeName", "<none>")},
        {"Readiness Gates", "string", "",
         "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
         "when all its containers are ready AND all conditions specified in the readiness gates "
         "have status equal to \"True\" More info: "
         "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
         1, podReadinessGates},
    };
    return columns;
  }
  columns.push_back({"Age", "string", "", kAgeDescription, 0, ageCell});
  return columns;
}

std::vector<PrinterColumn> customColumns(const ResourceType& type) {
  std::vector<PrinterColumn> columns;
  if (type.printer_columns.empty()) {
    columns.push_back(
        {"Age", "date", "",
         "Custom resource definition column (in JSONPath format): .metadata.creationTimestamp", 0,
         ageCell});
  }
  for (const auto& c : type.printer_columns) {
    std::string path = c.value("jsonPath", "");
    std::string description = c.value("description", "");
    if (description.empty())
      description = "Custom resource definition column (in JSONPath format): " + path;
    std::string column_type = c.value("type", "string");
    auto cell = [path, column_type](const Json& obj) -> Json {
      Json v = evalJsonPath(obj, path);
      if ((column_type == "date" || path == ".metadata.creationTimestamp") && v.is_string())
        return ageOf(v.get<std::string>());
      return v;
    };
    columns.push_back({c.value("name", ""), column_type, c.value("format", ""), description,
                       c.value("priority", 0), cell});
  }
  return columns;
}

}  // namespace

Json tableOf(const HttpRequest& req, const ResourceType& type, const std::vector<Json>& items,
             const Json& list_meta) {
  std::vector<PrinterColumn> columns = {
      {"Name", "string", "name", kNameDescription, 0, atPath(".metadata.name")}};
  for (auto& c : type.custom ? customColumns(type) : builtinColumns(type))
    columns.push_back(std::move(c));
  Json defs = Json::array();
  for (const auto& c : columns) {
    defs.push_back({{"name", c.name},
                    {"type", c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});
  }
  std::string accept = req.header("accept");
  bool v1beta1 = accept.find("as=Table;v=v1beta1") != std::string::npos &&
                 accept.find("as=Table;v=v1;") == std::string::npos;
  std::string meta_version = v1beta1 ? "meta.k8s.io/v1beta1" : "meta.k8s.io/v1";
  std::string include = req.param("includeObject").value_or("Metadata");
  Json rows = Json::array();
  for (const auto& obj : items) {
    Json cells = Json::array();
    for (const auto& c : columns) cells.push_back(c.cell(obj));
    Json row = {{"cells", cells}};
    if (include == "Object") {
      row["object"] = forOutput(type, obj);
    } else if (include == "None") {
      // RawExtension without an object still serializes: "object": null.
      row["object"] = nullptr;
    } else {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", meta_version},
                       {"metadata", orderedMeta(obj["metadata"])}};
    }
    rows.push_back(row);
  }
  return {{"kind", "Table"},
          {"apiVersion", meta_version},
          {"metadata", list_meta},
          {"columnDefinitions", defs},
          {"rows", rows}};
}

}  // namespace herd::fake
