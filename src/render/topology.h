// Topology: how the components of one tenant's control plane find each other and where each
// listens. The renderer takes every address and port from it, so that one rendering serves
// any provider: kubernetesTopology() gives the in-seed Service DNS names and the well-known
// ports; a provider that runs every process on one loopback address builds its own Topology,
// with per-member ports written as $(VAR)s and their values in `member_env`.
//
// Plain values; pure functions; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "api/cluster.h"

namespace herd::render {

// One etcd member as its peers and clients reach it.
struct EtcdMemberAddress {
  std::string name;        // "etcd-0": its --name, and the key in --initial-cluster
  std::string client_url;  // "https://etcd-0.etcd.herd-demo.svc:2379"
  std::string peer_url;    // "https://etcd-0.etcd.herd-demo.svc:2380"
  friend bool operator==(const EtcdMemberAddress&, const EtcdMemberAddress&) = default;
};

// Values that go into arguments are strings, since they may be $(VAR)s that each member
// expands; the ports a provider probes or exposes are numbers.
struct Topology {
  // etcd
  std::vector<EtcdMemberAddress> etcd_members;  // every member, in order
  std::string etcd_listen_host = "0.0.0.0";     // where a member binds its listeners
  std::string etcd_advertise_host;              // this member's own name, with $(HERD_MEMBER)
  std::string etcd_client_port = "2379";        // this member's ports, in its arguments
  std::string etcd_peer_port = "2380";
  std::string etcd_metrics_port = "2381";
  int etcd_client_port_number = 2379;  // what Services and probes use
  int etcd_peer_port_number = 2380;
  int etcd_metrics_port_number = 2381;
  std::map<std::string, std::map<std::string, std::string>> etcd_member_env;

  // kube-apiserver
  std::string apiserver_bind_address = "0.0.0.0";
  std::string apiserver_port = "6443";
  int apiserver_port_number = 6443;
  std::map<std::string, std::map<std::string, std::string>> apiserver_member_env;

  // kube-controller-manager and kube-scheduler: their health and metrics listeners. They
  // reach the apiserver through the server URL inside their kubeconfigs (the PKI's).
  std::string controller_manager_bind_address = "0.0.0.0";
  int controller_manager_port = 10257;
  std::string scheduler_bind_address = "0.0.0.0";
  int scheduler_port = 10259;

  friend bool operator==(const Topology&, const Topology&) = default;
};

// kubeadm's ports, and the names the seed's DNS gives the tenant's Services: etcd members at
// etcd-<i>.etcd.herd-<name>.svc (the headless Service of their StatefulSet), every member
// listening on all of its pod's addresses. `cluster` must be defaulted.
Topology kubernetesTopology(const api::Cluster& cluster);

}  // namespace herd::render
