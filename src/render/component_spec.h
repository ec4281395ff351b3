// A component spec: everything one control-plane component of a tenant needs in order to run,
// said once and independent of where it runs. The renderer (render.h) builds the specs of a
// Cluster; a provider (provider/provider.h) turns them into seed workloads (kubernetes) or
// supervised processes (local). Same spec, same flags, same certificates on both.
//
// Plain values, cheap to copy, compared with ==. Rendering is pure: the same Cluster and
// Platform give specs that compare equal and serialise byte-identically.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"

namespace herd::render {

enum class Component { kEtcd, kApiServer, kControllerManager, kScheduler };
// "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler".
std::string_view componentName(Component component);

// The settings of the platform that runs the tenants; they come from herd's own flags.
struct Platform {
  std::string base_domain = "herd.localhost";
  // Where nodes and in-cluster clients reach the gateway: an IP address (it becomes the
  // tenant's default/kubernetes endpoint), and its public SNI-routed TLS port.
  std::string gateway_address = "127.0.0.1";
  int gateway_tls_port = 443;
  // The gateway's CONNECT listener (host:port) that the apiservers' egress selector dials,
  // with mutual TLS, to reach kubelets through the nodes' SSH tunnels.
  std::string tunnel_connect_address;
  std::string image_registry = "registry.k8s.io";
  std::string storage_class;  // empty: the seed's default StorageClass
  // PEM: the CA that issued the CONNECT listener's serving certificate. The apiservers'
  // egress selector verifies the listener with it (it is the gateway's, not a tenant's).
  std::string tunnel_ca_bundle;
  friend bool operator==(const Platform&, const Platform&) = default;
};

// The environment variable that names the member a replica runs as ("etcd-1"). Arguments may
// refer to it as $(HERD_MEMBER), which Kubernetes expands in a container's args and the local
// provider expands itself, so one spec serves every member of a StatefulSet.
inline constexpr std::string_view kMemberEnv = "HERD_MEMBER";

// One file the component reads, at an absolute path inside its filesystem. Its bytes are either
// a file of the tenant's PKI set (pki_file: a pki::layout path such as "pki/ca.crt" or
// "controller-manager.conf") or rendered here (content: config files). Exactly one is set.
struct FileSpec {
  std::string path;
  std::string pki_file;
  std::string content;
  unsigned mode = 0644;
  friend bool operator==(const FileSpec&, const FileSpec&) = default;
};

struct PortSpec {
  std::string name;  // an IANA_SVC_NAME: "client", "peer", "https", "metrics"
  int port = 0;      // TCP
  // When set, members listen on different ports: this member_env variable holds each one's
  // (the local provider's case); `port` is then the first member's.
  std::string port_env;
  friend bool operator==(const PortSpec&, const PortSpec&) = default;
};

struct ProbeSpec {
  enum class Scheme { kHttp, kHttps };
  Scheme scheme = Scheme::kHttps;
  std::string path;  // "/readyz"
  int port = 0;
  int initial_delay_seconds = 0;
  int period_seconds = 10;
  int timeout_seconds = 5;
  int failure_threshold = 3;
  // Last, so that existing aggregate initialisers keep their meaning.
  std::string port_env;  // as PortSpec::port_env: each member's port, from member_env
  friend bool operator==(const ProbeSpec&, const ProbeSpec&) = default;
};

// Storage that outlives a restart: one volume per replica (etcd's data directory).
struct VolumeSpec {
  std::string name;        // "data"
  std::string mount_path;  // "/var/lib/etcd"
  std::string size;        // a quantity: "8Gi"
  friend bool operator==(const VolumeSpec&, const VolumeSpec&) = default;
};

struct ComponentSpec {
  Component component = Component::kEtcd;
  std::string name;    // the workload's name in the tenant namespace: "etcd", "kube-apiserver"
  std::string binary;  // the program: "etcd", "kube-apiserver", ...
  std::string image;   // "<registry>/kube-apiserver:v1.32.4"
  std::string version;
  std::vector<std::string> args;  // "--flag=value", sorted by flag, each a flag of `binary`
  std::vector<FileSpec> files;    // sorted by path
  std::map<std::string, std::string> env;
  std::vector<PortSpec> ports;
  std::optional<ProbeSpec> startup;
  std::optional<ProbeSpec> readiness;
  std::optional<ProbeSpec> liveness;
  api::Resources resources;
  int32_t replicas = 1;
  std::vector<VolumeSpec> volumes;
  // Per member ("etcd-1" -> {"HERD_CLIENT_PORT": "20003"}): variables that args refer to as
  // $(VAR) beside $(HERD_MEMBER), for a provider whose members differ in more than their name
  // (the local one: every member on one address, each with its own ports). Empty when the
  // members differ only in $(HERD_MEMBER), as in the kubernetes provider.
  // render::expandMemberArgs (render.h) gives one member's arguments with both expanded.
  std::map<std::string, std::map<std::string, std::string>> member_env;
  // Per member ("etcd-1" -> {"ETCD_INITIAL_CLUSTER": "...", ...}): settings, in the
  // environment, that a member reads only when it starts on an empty data directory (etcd's
  // --initial-cluster and --initial-cluster-state). They differ between the members that
  // bootstrap a cluster together, the one joining it now, and the others, which are given
  // settings that refuse to start on lost data rather than rejoin under their old identity.
  // A member that has data ignores them, so a change of them alone is no reason to restart
  // it; they are the environment rather than arguments so that a provider can change what a
  // member would restart with without changing its command line.
  std::map<std::string, std::map<std::string, std::string>> bootstrap_env;
  friend bool operator==(const ComponentSpec&, const ComponentSpec&) = default;
};

}  // namespace herd::render
