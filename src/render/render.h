// The renderer of a tenant's control plane: a defaulted Cluster, the Platform and a Topology
// in, the component specs of etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// out, in that (dependency) order. Every flag comes from here and is a flag of the binary at
// the cluster's Kubernetes minor (api/versions.h); every certificate path is one of the mount
// table's (mounts.h); every address is the Topology's.
//
// Pure: the same input gives specs that compare equal and serialise (toJson) to the same
// bytes. Bad input (an unsupported version, a Cluster that was not defaulted, a Platform
// without its tunnel settings) is an Invalid Status that says what to fix. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/cluster.h"
#include "common/status.h"
#include "render/component_spec.h"
#include "render/topology.h"

namespace herd::render {

// Rendered files: the apiserver's egress selector configuration, and the CA with which it
// verifies the gateway's CONNECT listener.
inline constexpr std::string_view kEgressSelectorConfigPath =
    "/etc/kubernetes/egress-selector-configuration.yaml";
inline constexpr std::string_view kTunnelCaPath = "/etc/kubernetes/egress/tunnel-ca.crt";
// The apiserver's client certificate towards the CONNECT listener: issued by the tenant CA,
// CN = the tenant's name (the listener's rule). pki::layout paths, mounted per mounts.h.
inline constexpr std::string_view kEgressClientCert = "pki/apiserver-egress-client.crt";
inline constexpr std::string_view kEgressClientKey = "pki/apiserver-egress-client.key";
// etcd's data directory, on the member's own volume.
inline constexpr std::string_view kEtcdDataDir = "/var/lib/etcd";

Result<std::vector<ComponentSpec>> renderControlPlane(const api::Cluster& defaulted_cluster,
                                                      const Platform& platform,
                                                      const Topology& topology);
// With kubernetesTopology(defaulted_cluster).
Result<std::vector<ComponentSpec>> renderControlPlane(const api::Cluster& defaulted_cluster,
                                                      const Platform& platform);

// The EgressSelectorConfiguration (apiserver.k8s.io/v1beta1) of the tenant's apiservers: the
// `cluster` egress (apiserver -> kubelets) goes over HTTP CONNECT to the gateway's listener at
// Platform.tunnel_connect_address, with mutual TLS.
Result<std::string> renderEgressSelectorConfig(const Platform& platform);

// A spec as JSON. Object keys come out sorted (nlohmann::json keeps them in a std::map) and
// arrays in the spec's own order, so equal specs dump to the same bytes.
nlohmann::json toJson(const ComponentSpec& spec);
nlohmann::json toJson(const std::vector<ComponentSpec>& specs);
// toJson(specs) with two spaces of indent and a final newline: the golden files' format.
std::string toJsonText(const std::vector<ComponentSpec>& specs);

// The arguments of one member (`member`: "etcd-1"), with $(HERD_MEMBER) and the member's
// member_env variables expanded, as the local provider runs them. (Kubernetes expands
// $(HERD_MEMBER) itself from the pod's env.) A $(VAR) the member does not define, or a member
// that member_env lacks when it is set, is an Invalid Status.
Result<std::vector<std::string>> expandMemberArgs(const ComponentSpec& spec,
                                                  std::string_view member);

}  // namespace herd::render
