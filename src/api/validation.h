// Validation of Cluster objects: every problem, each with its Kubernetes-style field path.
// Meant for defaulted objects (applyDefaults first), as the controller sees them. Pure
// functions; thread-safe.
#pragma once

#include <string_view>

#include "api/cluster.h"
#include "api/field_errors.h"

namespace herd::api {

// A cluster name must leave room for what herd derives from it: the namespace herd-<name>,
// the first DNS label of its endpoint, label values (all at most 63 characters), and names of
// per-cluster objects in shared namespaces, <name>-<purpose> with purposes of up to 22
// characters (e.g. -admin-kubeconfig). 40 + 1 + 22 = 63.
inline constexpr size_t kMaxClusterNameLength = 40;

FieldErrors validateCluster(const Cluster& cluster);

// The reusable checks, with the apiserver's messages.
// RFC 1123 label: lower-case alphanumerics and '-', alphanumeric at both ends, at most 63.
bool isDns1123Label(std::string_view s);
// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
bool isDns1123Subdomain(std::string_view s);
// RFC 3339 date-time as Kubernetes writes it, e.g. 2026-11-25T01:40:25Z.
bool isRfc3339(std::string_view s);

}  // namespace herd::api
