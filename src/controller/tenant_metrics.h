// Prometheus series per tenant, labelled by cluster, read at scrape time from the Clusters'
// status as the controller last wrote it (what it saw inside each tenant: nodes, pods, the
// apiserver's readiness, etcd's members), so that a scrape costs no request to any tenant:
//
//   herd_cluster_ready{cluster}                          1 while the Ready condition is True
//   herd_cluster_apiserver_ready{cluster}                the tenant apiserver's own /readyz
//   herd_cluster_component_ready_replicas{cluster,component}
//   herd_cluster_nodes{cluster,state="total"|"ready"}
//   herd_cluster_pods{cluster,phase="Pending"|"Running"|"Succeeded"|"Failed"}
//   herd_cluster_etcd_db_size_bytes{cluster,member}      etcd's file, as the member reports it
//
// A cluster the controller has not observed yet has only herd_cluster_ready.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "common/metrics.h"

namespace herd::controller {

// Calls its argument once for every Cluster object known now; must be safe to call from the
// scrape thread at any time (it may visit nothing).
using ClusterVisitor = std::function<void(const std::function<void(const nlohmann::json&)>&)>;

Status registerTenantMetrics(metrics::Registry& registry, ClusterVisitor each);

}  // namespace herd::controller
