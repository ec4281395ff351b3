#include "controller/status_page.h"

#include <fmt/format.h>

#include <algorithm>
#include <string_view>

#include "kube/herd_resources.h"

namespace herd::controller {
namespace {

using nlohmann::json;

constexpr std::string_view kPrefix = "/status/";
constexpr size_t kEventsShown = 20;

const json& member(const json& object, std::string_view key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string text(const json& value) { return value.is_string() ? value.get<std::string>() : ""; }

json componentsOf(const json& cluster) {
  const json& spec = member(member(cluster, "spec"), "controlPlane");
  const json& status = member(member(cluster, "status"), "components");
  json out = json::array();
  for (auto [label, key] : {std::pair{"etcd", "etcd"}, {"kube-apiserver", "apiServer"},
                            {"kube-controller-manager", "controllerManager"},
                            {"kube-scheduler", "scheduler"}}) {
    const json& want = member(member(spec, key), "replicas");
    const json& have = member(status, key);
    const json& ready = member(have, "readyReplicas");
    out.push_back({{"name", label},
                   {"desired", want.is_number_integer() ? want : json(nullptr)},
                   {"ready", ready.is_number_integer() ? ready : json(0)},
                   {"message", text(member(have, "message"))}});
  }
  return out;
}

std::string conditionStatus(const json& cluster, std::string_view type) {
  const json& conditions = member(member(cluster, "status"), "conditions");
  if (!conditions.is_array()) return "Unknown";
  for (const auto& c : conditions)
    if (text(member(c, "type")) == type) return text(member(c, "status"));
  return "Unknown";
}

ops::Page jsonPage(int status, const json& body) {
  return {status, "application/json", body.dump()};
}

ops::Page errorPage(const Status& s) {
  int code = s.code() == Code::kNotFound ? 404 : 502;
  return jsonPage(code, {{"error", s.message()}});
}

ops::Page overviewData(kube::Client& seed) {
  auto list = seed.listAll(kube::clustersResource(), "");
  if (!list) return errorPage(list.status());
  json clusters = json::array();
  for (const auto& c : member(*list, "items")) clusters.push_back(clusterSummary(c));
  std::sort(clusters.begin(), clusters.end(),
            [](const json& a, const json& b) { return a["name"] < b["name"]; });
  return jsonPage(200, {{"clusters", std::move(clusters)}});
}

ops::Page clusterData(kube::Client& seed, const std::string& name) {
  auto cluster = seed.get(kube::clustersResource(), "", name);
  if (!cluster) return errorPage(cluster.status());
  json out = clusterSummary(*cluster);
  const json& status = member(*cluster, "status");
  out["conditions"] = member(status, "conditions").is_array() ? member(status, "conditions")
                                                              : json::array();
  out["addons"] = json::array();
  const json& addons_spec = member(member(*cluster, "spec"), "addons");
  for (const char* addon : {"kubeProxy", "coreDNS", "metricsServer", "dashboard"}) {
    const json& applied = member(member(status, "addons"), addon);
    out["addons"].push_back({{"name", addon},
                             {"enabled", member(member(addons_spec, addon), "enabled") == true},
                             {"objects", member(applied, "objects")},
                             {"message", text(member(applied, "message"))}});
  }
  out["gatewayPort"] = member(status, "gatewayPort");
  kube::ListOptions options;
  options.field_selector = fmt::format("involvedObject.kind={},involvedObject.name={}",
                                       kube::kClusterKind, name);
  auto events = seed.listAll(kube::coreEventsResource(), "default", options);
  json shown = json::array();
  if (events) {
    std::string uid = text(member(member(*cluster, "metadata"), "uid"));
    for (const auto& e : member(*events, "items")) {
      std::string about = text(member(member(e, "involvedObject"), "uid"));
      if (!uid.empty() && !about.empty() && about != uid) continue;  // an earlier namesake's
      shown.push_back({{"type", text(member(e, "type"))},
                       {"reason", text(member(e, "reason"))},
                       {"message", text(member(e, "message"))},
                       {"time", text(member(e, "lastTimestamp")).empty()
                                    ? text(member(e, "eventTime"))
                                    : text(member(e, "lastTimestamp"))}});
    }
    std::stable_sort(shown.begin(), shown.end(),
                     [](const json& a, const json& b) { return a["time"] < b["time"]; });
    if (shown.size() > kEventsShown)
      shown.erase(shown.begin(), shown.begin() + static_cast<long>(shown.size() - kEventsShown));
  } else {
    out["eventsError"] = events.status().message();
  }
  out["events"] = std::move(shown);
  return jsonPage(200, out);
}

constexpr std::string_view kHtml = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>herd</title>
<link rel="stylesheet" href="/status/app.css">
</head>
<body>
<header><a href="/status/">herd</a> <span id="where">clusters</span>
<span id="updated" class="muted"></span></header>
<main id="main"><p class="muted">loading…</p></main>
<script src="/status/app.js"></script>
</body>
</html>
)";

constexpr std::string_view kCss = R"(body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#1b1f24;color:#fff;padding:10px 16px;display:flex;gap:12px;align-items:baseline}
header a{color:#fff;font-weight:600;text-decoration:none}
main{padding:16px}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:18px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{font-weight:600;background:#eef0f3}
h2{font-size:15px;margin:18px 0 8px}
.muted{color:#6b7380}
header .muted{color:#aab}
.ok{color:#107c41;font-weight:600}
.bad{color:#b42318;font-weight:600}
.warn{color:#9a6700;font-weight:600}
.error{background:#fde8e8;padding:8px 12px}
)";

constexpr std::string_view kJs = R"JS('use strict';
// Fills the page from /status/api and refreshes it every two seconds. Values go in through
// textContent only.
const main = document.getElementById('main');
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function table(headers, rows) {
  const t = el('table'), head = el('tr');
  headers.forEach(h => head.appendChild(el('th', h)));
  t.appendChild(head);
  rows.forEach(r => {
    const tr = el('tr');
    r.forEach(c => { const td = el('td'); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); });
    t.appendChild(tr);
  });
  return t;
}
function state(s) { return el('span', s, s === 'True' || s === 'ready' ? 'ok' : (s === 'False' || s === 'not ready' ? 'bad' : 'warn')); }
function components(c) {
  return c.components.map(x => x.name.replace('kube-', '') + ' ' + x.ready + '/' + (x.desired === null ? '-' : x.desired)).join(', ');
}
function health(c) { return c.apiServerHealth === null ? 'unknown' : (c.apiServerHealth.ready ? 'ready' : 'not ready'); }
function overview(data) {
  main.replaceChildren();
  if (data.clusters.length === 0) { main.appendChild(el('p', 'No clusters yet: herd create cluster NAME', 'muted')); return; }
  main.appendChild(table(['Cluster', 'Phase', 'Ready', 'Version', 'Endpoint', 'Components (ready/desired)', 'API server', 'Nodes (ready/total)', 'Pods (running/total)'],
    data.clusters.map(c => {
      const a = el('a', c.name); a.href = '/status/clusters/' + encodeURIComponent(c.name);
      return [a, c.phase, state(c.ready), c.runningVersion || c.version, c.endpoint, components(c), state(health(c)),
              c.nodes.ready + '/' + c.nodes.total, c.pods.running + '/' + c.pods.total];
    })));
}
function detail(c) {
  main.replaceChildren();
  main.appendChild(table(['Phase', 'Ready', 'Version (spec / running)', 'Endpoint', 'Gateway port (no SNI)', 'Nodes (ready/total)', 'Pods (running/pending/failed/total)'],
    [[c.phase, state(c.ready), c.version + ' / ' + (c.runningVersion || '-'), c.endpoint, c.gatewayPort === null ? '-' : c.gatewayPort,
      c.nodes.ready + '/' + c.nodes.total, [c.pods.running, c.pods.pending, c.pods.failed, c.pods.total].join('/')]]));
  main.appendChild(el('h2', 'Components'));
  main.appendChild(table(['Component', 'Ready', 'Desired', 'Message'], c.components.map(x => [x.name, x.ready, x.desired === null ? '-' : x.desired, x.message])));
  main.appendChild(el('h2', 'API server health'));
  main.appendChild(table(['State', 'Failing checks'], [[state(health(c)), c.apiServerHealth && c.apiServerHealth.failing.length ? c.apiServerHealth.failing.join(', ') : '-']]));
  main.appendChild(el('h2', 'Conditions'));
  main.appendChild(table(['Type', 'Status', 'Reason', 'Message', 'Since'], c.conditions.map(x => [x.type, state(x.status), x.reason || '', x.message || '', x.lastTransitionTime || ''])));
  main.appendChild(el('h2', 'Addons'));
  main.appendChild(table(['Addon', 'Enabled', 'Objects', 'Status'], c.addons.map(x => [x.name, x.enabled ? 'yes' : 'no', x.objects === null ? '-' : x.objects, x.message || '-'])));
  main.appendChild(el('h2', 'Events'));
  if (c.eventsError) main.appendChild(el('p', c.eventsError, 'error'));
  main.appendChild(table(['Time', 'Type', 'Reason', 'Message'], c.events.slice().reverse().map(x => [x.time, el('span', x.type, x.type === 'Warning' ? 'warn' : ''), x.reason, x.message])));
}
const path = location.pathname;
const one = path.startsWith('/status/clusters/') ? decodeURIComponent(path.substring('/status/clusters/'.length)) : null;
if (one !== null) document.getElementById('where').textContent = one;
async function refresh() {
  try {
    const r = await fetch(one === null ? '/status/api/clusters' : '/status/api/clusters/' + encodeURIComponent(one), {cache: 'no-store'});
    const data = await r.json();
    if (!r.ok) { main.replaceChildren(el('p', data.error || ('HTTP ' + r.status), 'error')); }
    else if (one === null) overview(data); else detail(data);
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById('updated').textContent = 'cannot reach the controller: ' + e;
  }
}
refresh();
setInterval(refresh, 2000);
)JS";

}  // namespace

json clusterSummary(const json& cluster) {
  const json& meta = member(cluster, "metadata");
  const json& spec = member(cluster, "spec");
  const json& status = member(cluster, "status");
  auto counts = [&](std::string_view key, std::initializer_list<const char*> fields) {
    json out = json::object();
    for (const char* f : fields) {
      const json& v = member(member(status, key), f);
      out[f] = v.is_number_integer() ? v : json(0);
    }
    return out;
  };
  const json& health = member(status, "apiServerHealth");
  return {{"name", text(member(meta, "name"))},
          {"phase", text(member(status, "phase")).empty() ? "Pending"
                                                          : text(member(status, "phase"))},
          {"ready", conditionStatus(cluster, "Ready")},
          {"version", text(member(spec, "version"))},
          {"runningVersion", text(member(status, "version"))},
          {"endpoint", text(member(status, "endpoint"))},
          {"deleting", member(meta, "deletionTimestamp").is_string()},
          {"components", componentsOf(cluster)},
          {"apiServerHealth", health.is_object() ? health : json(nullptr)},
          {"nodes", counts("nodes", {"total", "ready"})},
          {"pods", counts("pods", {"total", "ready", "pending", "running", "succeeded", "failed"})}};
}

void addStatusPages(ops::Handlers& handlers, kube::Client& seed) {
  auto html = [](const std::string&) {
    return ops::Page{200, "text/html; charset=utf-8", std::string(kHtml)};
  };
  handlers.pages["/status/"] = html;
  handlers.pages["/status/clusters/"] = html;
  handlers.pages["/status/app.js"] = [](const std::string&) {
    return ops::Page{200, "text/javascript; charset=utf-8", std::string(kJs)};
  };
  handlers.pages["/status/app.css"] = [](const std::string&) {
    return ops::Page{200, "text/css; charset=utf-8", std::string(kCss)};
  };
  handlers.pages["/status/api/clusters"] = [&seed](const std::string&) {
    return overviewData(seed);
  };
  handlers.pages["/status/api/clusters/"] = [&seed](const std::string& path) {
    std::string name = path.substr(std::string(kPrefix).size() + std::string("api/clusters/").size());
    if (name.empty() || name.find('/') != std::string::npos)
      return jsonPage(404, {{"error", "no such cluster page: " + path}});
    return clusterData(seed, name);
  };
}

}  // namespace herd::controller
