// The controller's status page: every tenant cluster at a glance (phase, version, endpoint,
// the health of each component, nodes and pods), and one page per cluster with its
// conditions, addons and recent Events. Read-only; served on the controller's operations
// listener (ops::Server) when asked for (`herd controller --status-page`, always in herd up).
//
// Pages (all GET):
//   /status/                       the overview (HTML; the script fills it and refreshes it)
//   /status/clusters/<name>        one cluster (HTML)
//   /status/app.js, /status/app.css
//   /status/api/clusters           the overview's data (JSON)
//   /status/api/clusters/<name>    one cluster's data, with its conditions and Events (JSON)
// The HTML, CSS and JavaScript are compiled into herd: no build step, no CDN. The script
// writes every value through textContent, so a name or message cannot inject markup.
//
// Every data request reads the seed (one list of Clusters; one get and one list of Events for a
// cluster page): the page is for people, refreshed every two seconds by each open view, not
// for scraping (that is /metrics). Thread-safe as far as the seed client is.
#pragma once

#include <nlohmann/json.hpp>

#include "common/ops_server.h"
#include "kube/client.h"

namespace herd::controller {

// What the overview shows of one Cluster object (the seed's JSON as it is).
nlohmann::json clusterSummary(const nlohmann::json& cluster);

// Registers the pages above in `handlers`; `seed` must outlive the server.
void addStatusPages(ops::Handlers& handlers, kube::Client& seed);

}  // namespace herd::controller
