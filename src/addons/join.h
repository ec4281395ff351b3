// What `kubeadm join` expects to find in a tenant cluster, built from the tenant's PKI set:
// the bootstrap token Secret and the signed cluster-info ConfigMap (both made by src/pki), the
// RBAC that lets a joining node read them, create its CSR and have it approved (and renewed),
// and the kubeadm-config and kubelet-config ConfigMaps that `kubeadm join` reads. The
// objects follow kubeadm's own (its bootstrap-token and upload-config phases), with etcd
// marked external: the tenant's etcd runs in the seed.
//
// Pure; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "api/cluster.h"
#include "common/status.h"
#include "pki/tenant_pki.h"

namespace herd::addons {

// The label value (under herd.io/addon) of the join objects, which are never pruned.
inline constexpr std::string_view kNodeJoin = "node-join";

// The objects for a defaulted Cluster; fails naming the PKI file that is missing or damaged.
Result<std::vector<nlohmann::json>> buildJoinObjects(const api::Cluster& cluster,
                                                     const pki::PkiFiles& files);

}  // namespace herd::addons
