// The resources herd reads and writes in the seed, each named once: the Cluster custom resource
// and the built-in kinds the controller, the providers and the gateway manage. Everything that
// reaches these resources (the CLI, the gateway's route source, the controller) takes its
// ResourceRef from here, so a group or version changes in one place.
//
// The Cluster's group, version and plural are literals here rather than api::kGroup and
// friends: herd_kube must not depend on herd_api. tests/kube/herd_resources_test.cc links both
// and holds them equal. Plain values; thread-safe.
#pragma once

#include <string_view>

#include "kube/client.h"

namespace herd::kube {

// The Cluster custom resource (herd.io/v1alpha1, cluster-scoped).
inline constexpr std::string_view kClusterGroup = "herd.io";
inline constexpr std::string_view kClusterVersion = "v1alpha1";
inline constexpr std::string_view kClusterPlural = "clusters";
inline constexpr std::string_view kClusterKind = "Cluster";

ResourceRef clustersResource();

// Built-in resources, at the versions Kubernetes 1.32 serves as preferred.
ResourceRef endpointSlicesResource();
ResourceRef endpointsResource();
ResourceRef eventsResource();
// Core v1 Events: the shape herd records and reads (involvedObject, lastTimestamp, count), as
// client-go's recorder writes them and kubectl describe selects them by involvedObject.*.
ResourceRef coreEventsResource();
ResourceRef servicesResource();
ResourceRef deploymentsResource();
ResourceRef statefulSetsResource();
ResourceRef podDisruptionBudgetsResource();
ResourceRef networkPoliciesResource();

}  // namespace herd::kube
