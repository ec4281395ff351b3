// The mount table: which files of the tenant's PKI set each component receives. Declared once
// as data so that the rule "a CA's private key reaches only the component that signs with
// it" can be read off one screen and checked by a test over every rendered spec: ca.key goes
// to kube-controller-manager alone (it signs kubelet CSRs); no other CA key goes anywhere.
//
// Immutable data and pure functions; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "render/component_spec.h"

namespace herd::render {

struct PkiMount {
  Component component;
  std::string_view pki_file;  // a pki::layout path: "pki/etcd/server.crt", "scheduler.conf"
};

// Where the tenant's PKI files appear inside every component: kubeadm's /etc/kubernetes, so
// that paths read like a kubeadm node's and ecosystem tooling finds them.
inline constexpr std::string_view kKubernetesDir = "/etc/kubernetes";

std::span<const PkiMount> pkiMountTable();
// "/etc/kubernetes/<pki_file>".
std::string mountPath(std::string_view pki_file);
// Whether the table gives `pki_file` to `component`.
bool isMounted(Component component, std::string_view pki_file);

}  // namespace herd::render
