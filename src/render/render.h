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

// A spec as JSON with sorted keys (nlohmann::json orders object keys), and its text: two
// spaces of indent and a final newline, byte-identical for equal specs.
nlohmann::json toJsonValue(const ComponentSpec& spec);
std::string toJson(const ComponentSpec& spec);
std::string toJson(const std::vector<ComponentSpec>& specs);

}  // namespace herd::render
