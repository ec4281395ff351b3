// The ordered resources of a Cluster, each one small step of the reconcile: the finalizer,
// the gateway port, the tenant's home, its credentials, the four control-plane components
// (in skew-safe order: etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and the
// tenant's default/kubernetes endpoints. The Reconciler walks them in this order and stops at
// the first that is not done.
//
// Stateless; thread-safe (every call works on its own Context).
#pragma once

#include <memory>
#include <vector>

#include "controller/resource.h"

namespace herd::controller {

std::vector<std::unique_ptr<Resource>> clusterResources();
// etcd: rolled out, its membership grown, shrunk and healed one member at a time, and its
// members' health in status (etcd_resource.cc).
std::unique_ptr<Resource> makeEtcdResource();
// The members' health figures move with every write to etcd (raftIndex) and with its size, so
// a status that held them fresh would be rewritten on every resync of a converged cluster.
// `fresh` (ordered as `written`, by name) keeps the figures of `written`, the status last
// written, unless something else about a member changed, a database size moved by a tenth
// or more, or a member's fresh raft index is kEtcdLagRefresh or more behind the highest one.
inline constexpr int64_t kEtcdLagRefresh = 1000;
void keepSettledEtcdFigures(const std::vector<api::EtcdMemberStatus>& written,
                            std::vector<api::EtcdMemberStatus>& fresh);
// Applies a component's rendered spec and reports it into `field` of status.components and
// `condition`: done once rolled out, else a wait.
Outcome rollOutComponent(Context& ctx, render::Component component, std::string_view condition,
                         std::optional<api::ComponentStatus> api::ComponentsStatus::*field);
// The addons and the join objects inside the tenant (tenant_objects.cc); last in the walk.
std::unique_ptr<Resource> makeTenantObjectsResource();
// The tenant's nodes and pods into status (tenant_objects.cc); after the addons.
std::unique_ptr<Resource> makeObserveResource();

}  // namespace herd::controller
