// The Cluster resource (herd.io/v1alpha1, kind Cluster, cluster-scoped): one object per tenant
// Kubernetes cluster, the single API through which tenants are created, changed and deleted.
//
// Plain value types. Fields that have defaults are std::optional so that "absent" and "zero"
// stay distinct until applyDefaults() fills them (see defaults.h); validate() (validation.h)
// then reports every problem with its field path. Each struct lists its JSON fields once in
// fields(); the codec (codec.h) and the CRD agreement test walk those lists, so a field exists
// in exactly one place. Not thread-safe to mutate concurrently; cheap to copy.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace herd::api {

inline constexpr std::string_view kGroup = "herd.io";
inline constexpr std::string_view kVersion = "v1alpha1";
inline constexpr std::string_view kApiVersion = "herd.io/v1alpha1";
inline constexpr std::string_view kKind = "Cluster";
inline constexpr std::string_view kPlural = "clusters";

// One JSON field of a struct: its wire name and the member that holds it.
template <typename T, typename M>
struct FieldDef {
  std::string_view name;
  M T::*member;
};
template <typename T, typename M>
constexpr FieldDef<T, M> field(std::string_view name, M T::*member) {
  return {name, member};
}

// A Kubernetes resource quantity ("500m", "2Gi", 1): kept as written, checked by validate().
struct Quantity {
  std::string text;
  friend bool operator==(const Quantity&, const Quantity&) = default;
};

// The metadata herd reads; the other ObjectMeta fields are carried through untouched.
struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resourceVersion;
  std::optional<int64_t> generation;
  std::string creationTimestamp;
  std::string deletionTimestamp;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  // generateName, ownerReferences, managedFields, ...: kept verbatim for round trips.
  nlohmann::json passthrough = nlohmann::json::object();

  static constexpr auto fields() {
    return std::make_tuple(
        field("name", &ObjectMeta::name), field("namespace", &ObjectMeta::namespace_),
        field("uid", &ObjectMeta::uid), field("resourceVersion", &ObjectMeta::resourceVersion),
        field("generation", &ObjectMeta::generation),
        field("creationTimestamp", &ObjectMeta::creationTimestamp),
        field("deletionTimestamp", &ObjectMeta::deletionTimestamp),
        field("labels", &ObjectMeta::labels), field("annotations", &ObjectMeta::annotations),
        field("finalizers", &ObjectMeta::finalizers));
  }
  bool operator==(const ObjectMeta&) const = default;
};

// requests and limits by resource name (cpu, memory), as in a Pod's container.
struct Resources {
  std::map<std::string, Quantity> requests;
  std::map<std::string, Quantity> limits;
  static constexpr auto fields() {
    return std::make_tuple(field("requests", &Resources::requests),
                           field("limits", &Resources::limits));
  }
  bool operator==(const Resources&) const = default;
};

// A stateless control-plane component: kube-apiserver, kube-controller-manager, kube-scheduler.
struct ComponentSpec {
  std::optional<int32_t> replicas;
  Resources resources;
  // Extra command-line flags, without the leading "--"; each must be a flag of the binary.
  std::map<std::string, std::string> extraArgs;
  static constexpr auto fields() {
    return std::make_tuple(field("replicas", &ComponentSpec::replicas),
                           field("resources", &ComponentSpec::resources),
                           field("extraArgs", &ComponentSpec::extraArgs));
  }
  bool operator==(const ComponentSpec&) const = default;
};

struct EtcdSpec {
  std::optional<int32_t> replicas;
  std::optional<Quantity> storageSize;
  Resources resources;
  std::map<std::string, std::string> extraArgs;
  static constexpr auto fields() {
    return std::make_tuple(
        field("replicas", &EtcdSpec::replicas), field("storageSize", &EtcdSpec::storageSize),
        field("resources", &EtcdSpec::resources), field("extraArgs", &EtcdSpec::extraArgs));
  }
  bool operator==(const EtcdSpec&) const = default;
};

struct ControlPlaneSpec {
  ComponentSpec apiServer;
  ComponentSpec controllerManager;
  ComponentSpec scheduler;
  EtcdSpec etcd;
  static constexpr auto fields() {
    return std::make_tuple(field("apiServer", &ControlPlaneSpec::apiServer),
                           field("controllerManager", &ControlPlaneSpec::controllerManager),
                           field("scheduler", &ControlPlaneSpec::scheduler),
                           field("etcd", &ControlPlaneSpec::etcd));
  }
  bool operator==(const ControlPlaneSpec&) const = default;
};

struct NetworkSpec {
  std::optional<std::string> serviceCIDR;
  std::optional<std::string> podCIDR;
  std::optional<std::string> dnsDomain;
  // The cluster DNS Service address; derived from serviceCIDR (its tenth address) when absent.
  std::optional<std::string> dnsServiceIP;
  static constexpr auto fields() {
    return std::make_tuple(field("serviceCIDR", &NetworkSpec::serviceCIDR),
                           field("podCIDR", &NetworkSpec::podCIDR),
                           field("dnsDomain", &NetworkSpec::dnsDomain),
                           field("dnsServiceIP", &NetworkSpec::dnsServiceIP));
  }
  bool operator==(const NetworkSpec&) const = default;
};

struct ExposeSpec {
  // The public name of the tenant API; defaults to <name>.<base-domain>.
  std::optional<std::string> hostname;
  static constexpr auto fields() {
    return std::make_tuple(field("hostname", &ExposeSpec::hostname));
  }
  bool operator==(const ExposeSpec&) const = default;
};

struct AddonSpec {
  std::optional<bool> enabled;
  static constexpr auto fields() { return std::make_tuple(field("enabled", &AddonSpec::enabled)); }
  bool operator==(const AddonSpec&) const = default;
};

struct AddonsSpec {
  AddonSpec kubeProxy;
  AddonSpec coreDNS;
  AddonSpec metricsServer;
  AddonSpec dashboard;
  static constexpr auto fields() {
    return std::make_tuple(field("kubeProxy", &AddonsSpec::kubeProxy),
                           field("coreDNS", &AddonsSpec::coreDNS),
                           field("metricsServer", &AddonsSpec::metricsServer),
                           field("dashboard", &AddonsSpec::dashboard));
  }
  bool operator==(const AddonsSpec&) const = default;
};

struct ClusterSpec {
  std::optional<std::string> version;
  ControlPlaneSpec controlPlane;
  NetworkSpec network;
  ExposeSpec expose;
  AddonsSpec addons;
  // A paused cluster is left alone by the controller: nothing is created, changed or deleted.
  std::optional<bool> paused;
  static constexpr auto fields() {
    return std::make_tuple(
        field("version", &ClusterSpec::version), field("controlPlane", &ClusterSpec::controlPlane),
        field("network", &ClusterSpec::network), field("expose", &ClusterSpec::expose),
        field("addons", &ClusterSpec::addons), field("paused", &ClusterSpec::paused));
  }
  bool operator==(const ClusterSpec&) const = default;
};

// A status condition with the fields and meaning of metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  // "True", "False" or "Unknown"
  std::string reason;
  std::string message;
  std::string lastTransitionTime;  // RFC 3339
  std::optional<int64_t> observedGeneration;
  static constexpr auto fields() {
    return std::make_tuple(field("type", &Condition::type), field("status", &Condition::status),
                           field("reason", &Condition::reason),
                           field("message", &Condition::message),
                           field("lastTransitionTime", &Condition::lastTransitionTime),
                           field("observedGeneration", &Condition::observedGeneration));
  }
  bool operator==(const Condition&) const = default;
};

struct ComponentStatus {
  int32_t replicas = 0;
  int32_t readyReplicas = 0;
  std::string message;
  static constexpr auto fields() {
    return std::make_tuple(field("replicas", &ComponentStatus::replicas),
                           field("readyReplicas", &ComponentStatus::readyReplicas),
                           field("message", &ComponentStatus::message));
  }
  bool operator==(const ComponentStatus&) const = default;
};

struct ComponentsStatus {
  std::optional<ComponentStatus> etcd;
  std::optional<ComponentStatus> apiServer;
  std::optional<ComponentStatus> controllerManager;
  std::optional<ComponentStatus> scheduler;
  static constexpr auto fields() {
    return std::make_tuple(field("etcd", &ComponentsStatus::etcd),
                           field("apiServer", &ComponentsStatus::apiServer),
                           field("controllerManager", &ComponentsStatus::controllerManager),
                           field("scheduler", &ComponentsStatus::scheduler));
  }
  bool operator==(const ComponentsStatus&) const = default;
};

// One member of the tenant's etcd as herd manages it: the membership part is herd's record of
// what it added (so that a controller restarted in the middle of a change resumes from it),
// the rest is what the member said of itself at the last reconcile.
struct EtcdMemberStatus {
  std::string name;  // "etcd-1": its --name and the workload member it runs as
  // etcd's member ID in hex; empty for a member of the bootstrap that etcd has not listed yet.
  std::string id;
  // Added as a learner and not promoted yet: it takes no part in quorum.
  bool learner = false;
  // Added by herd and not started yet: it alone starts with --initial-cluster-state=existing.
  bool joining = false;
  bool reachable = false;
  bool leader = false;
  int64_t raftIndex = 0;
  int64_t dbSize = 0;       // bytes of its database file
  int64_t dbSizeInUse = 0;  // bytes of it in use; the rest is freed by a defragmentation
  std::vector<std::string> alarms;  // "NOSPACE", "CORRUPT"
  std::string message;              // why it is not reachable
  static constexpr auto fields() {
    return std::make_tuple(
        field("name", &EtcdMemberStatus::name), field("id", &EtcdMemberStatus::id),
        field("learner", &EtcdMemberStatus::learner), field("joining", &EtcdMemberStatus::joining),
        field("reachable", &EtcdMemberStatus::reachable), field("leader", &EtcdMemberStatus::leader),
        field("raftIndex", &EtcdMemberStatus::raftIndex), field("dbSize", &EtcdMemberStatus::dbSize),
        field("dbSizeInUse", &EtcdMemberStatus::dbSizeInUse),
        field("alarms", &EtcdMemberStatus::alarms), field("message", &EtcdMemberStatus::message));
  }
  bool operator==(const EtcdMemberStatus&) const = default;
};

struct EtcdStatus {
  // Every member of the tenant's etcd, ordered by name. Empty until the members of the first
  // start (--initial-cluster-state=new) have all joined.
  std::vector<EtcdMemberStatus> members;
  static constexpr auto fields() {
    return std::make_tuple(field("members", &EtcdStatus::members));
  }
  bool operator==(const EtcdStatus&) const = default;
};

// Counts read from inside the tenant cluster.
struct WorkloadCounts {
  int32_t total = 0;
  int32_t ready = 0;
  static constexpr auto fields() {
    return std::make_tuple(field("total", &WorkloadCounts::total),
                           field("ready", &WorkloadCounts::ready));
  }
  bool operator==(const WorkloadCounts&) const = default;
};

// The tenant's pods by phase (ready: the Ready condition is True).
struct PodCounts {
  int32_t total = 0;
  int32_t ready = 0;
  int32_t pending = 0;
  int32_t running = 0;
  int32_t succeeded = 0;
  int32_t failed = 0;
  static constexpr auto fields() {
    return std::make_tuple(field("total", &PodCounts::total), field("ready", &PodCounts::ready),
                           field("pending", &PodCounts::pending),
                           field("running", &PodCounts::running),
                           field("succeeded", &PodCounts::succeeded),
                           field("failed", &PodCounts::failed));
  }
  bool operator==(const PodCounts&) const = default;
};

// The tenant apiserver's readiness as it reports it itself (/readyz?verbose).
struct ApiServerHealth {
  bool ready = false;
  std::vector<std::string> failing;  // the checks that fail, e.g. "etcd"
  static constexpr auto fields() {
    return std::make_tuple(field("ready", &ApiServerHealth::ready),
                           field("failing", &ApiServerHealth::failing));
  }
  bool operator==(const ApiServerHealth&) const = default;
};

// What herd applied of one addon inside the tenant.
struct AddonStatus {
  bool enabled = false;
  int32_t objects = 0;  // objects applied (0 when disabled)
  std::string message;
  static constexpr auto fields() {
    return std::make_tuple(field("enabled", &AddonStatus::enabled),
                           field("objects", &AddonStatus::objects),
                           field("message", &AddonStatus::message));
  }
  bool operator==(const AddonStatus&) const = default;
};

struct AddonsStatus {
  std::optional<AddonStatus> kubeProxy;
  std::optional<AddonStatus> coreDNS;
  std::optional<AddonStatus> metricsServer;
  std::optional<AddonStatus> dashboard;
  static constexpr auto fields() {
    return std::make_tuple(field("kubeProxy", &AddonsStatus::kubeProxy),
                           field("coreDNS", &AddonsStatus::coreDNS),
                           field("metricsServer", &AddonsStatus::metricsServer),
                           field("dashboard", &AddonsStatus::dashboard));
  }
  bool operator==(const AddonsStatus&) const = default;
};

struct ClusterStatus {
  std::string phase;
  std::vector<Condition> conditions;
  std::optional<int64_t> observedGeneration;
  std::string endpoint;
  std::string version;
  std::string namespace_;
  std::string kubeconfigSecret;
  std::optional<ComponentsStatus> components;
  std::optional<WorkloadCounts> nodes;
  std::optional<PodCounts> pods;
  std::optional<ApiServerHealth> apiServerHealth;
  // The tenant's dedicated gateway port, routed without SNI (in-cluster clients dial the
  // kubernetes Service's IP and send none). Allocated by the controller, kept for life.
  std::optional<int32_t> gatewayPort;
  std::optional<AddonsStatus> addons;
  std::optional<EtcdStatus> etcd;
  static constexpr auto fields() {
    return std::make_tuple(
        field("phase", &ClusterStatus::phase), field("conditions", &ClusterStatus::conditions),
        field("observedGeneration", &ClusterStatus::observedGeneration),
        field("endpoint", &ClusterStatus::endpoint), field("version", &ClusterStatus::version),
        field("namespace", &ClusterStatus::namespace_),
        field("kubeconfigSecret", &ClusterStatus::kubeconfigSecret),
        field("components", &ClusterStatus::components), field("nodes", &ClusterStatus::nodes),
        field("pods", &ClusterStatus::pods),
        field("apiServerHealth", &ClusterStatus::apiServerHealth),
        field("gatewayPort", &ClusterStatus::gatewayPort),
        field("addons", &ClusterStatus::addons), field("etcd", &ClusterStatus::etcd));
  }
  bool operator==(const ClusterStatus&) const = default;
};

// The lifecycle phases reported in status.phase.
inline constexpr std::string_view kPhases[] = {"Pending",  "Provisioning", "Running", "Updating",
                                               "Degraded", "Deleting",     "Failed"};

struct Cluster {
  ObjectMeta metadata;
  ClusterSpec spec;
  std::optional<ClusterStatus> status;
  static constexpr auto fields() {
    return std::make_tuple(field("metadata", &Cluster::metadata), field("spec", &Cluster::spec),
                           field("status", &Cluster::status));
  }
  bool operator==(const Cluster&) const = default;
};

// Names derived from a cluster's name.
std::string namespaceFor(std::string_view cluster_name);  // "herd-<name>"

}  // namespace herd::api
