// Topology: how the components of one tenant's control plane find each other and where each
// listens. The renderer takes every address and port from it, so that one rendering serves
// any provider.
//
// kubernetesTopology() is the in-seed case: etcd members at the stable names of their
// StatefulSet's headless Service, the apiservers behind their Service on 6443, every
// component bound to all of its pod's addresses, the same ports for every member, so that
// members differ only in $(HERD_MEMBER).
//
// A provider that runs every process on one loopback address (the local one) gives each
// member its own ports instead: it sets a ListenPort's `env` ("HERD_CLIENT_PORT"), lists the
// value per member in the component's member_env ({"etcd-1": {"HERD_CLIENT_PORT": "20003"}}),
// and writes the members' own URLs in etcd_members. The rendered arguments then say
// $(HERD_CLIENT_PORT) and the spec carries member_env; the provider expands both per member
// with render::expandMemberArgs.
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

// A port a component listens on: the same `port` for every member, or, when `env` is set,
// each member's own, read from that member_env variable (`port` is then the first member's).
struct ListenPort {
  int port = 0;
  std::string env;
  // As it goes into an argument: "2379", or "$(HERD_CLIENT_PORT)".
  std::string arg() const;
  friend bool operator==(const ListenPort&, const ListenPort&) = default;
};

// Member name -> variable -> value (component_spec.h, ComponentSpec::member_env).
using MemberEnv = std::map<std::string, std::map<std::string, std::string>>;

struct Topology {
  // etcd
  std::vector<EtcdMemberAddress> etcd_members;  // every member, in order
  std::string etcd_listen_host = "0.0.0.0";     // where a member binds its listeners
  // The name this member advertises, with $(HERD_MEMBER) or a member_env $(VAR) in it.
  std::string etcd_advertise_host;
  ListenPort etcd_client{2379, ""};
  ListenPort etcd_peer{2380, ""};
  // Plain HTTP, /health and /metrics only: what probes use (kubeadm's 2381).
  ListenPort etcd_metrics{2381, ""};
  MemberEnv etcd_member_env;

  // kube-apiserver
  std::string apiserver_bind_address = "0.0.0.0";
  ListenPort apiserver_port{6443, ""};
  MemberEnv apiserver_member_env;

  // kube-controller-manager and kube-scheduler: their health and metrics listeners (the
  // upstream defaults). They reach the apiserver through the server URL inside their
  // kubeconfigs, which the PKI writes.
  std::string controller_manager_bind_address = "0.0.0.0";
  ListenPort controller_manager_port{10257, ""};
  MemberEnv controller_manager_member_env;
  std::string scheduler_bind_address = "0.0.0.0";
  ListenPort scheduler_port{10259, ""};
  MemberEnv scheduler_member_env;

  friend bool operator==(const Topology&, const Topology&) = default;
};

// How many etcd members run now (the workload's replicas): the bootstrap's
// spec.controlPlane.etcd.replicas until status.etcd records the membership, then up to the
// highest member recorded, so that a member being replaced keeps its place and the members
// beyond it keep theirs.
int32_t etcdMembersToRun(const api::Cluster& cluster);
// How many etcd members a topology lists: those that run and those the spec asks for.
int32_t etcdTopologySize(const api::Cluster& cluster);

// The in-seed topology of a defaulted `cluster`: etcd members etcd-<i>.etcd.herd-<name>.svc
// (api/naming.h) on 2379 (client) and 2380 (peer), kube-apiserver on 6443.
Topology kubernetesTopology(const api::Cluster& cluster);

}  // namespace herd::render
