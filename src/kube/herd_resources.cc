#include "kube/herd_resources.h"

namespace herd::kube {

ResourceRef clustersResource() {
  return {std::string(kClusterGroup), std::string(kClusterVersion), std::string(kClusterPlural),
          false, std::string(kClusterKind)};
}

ResourceRef endpointSlicesResource() {
  return {"discovery.k8s.io", "v1", "endpointslices", true, "EndpointSlice"};
}
ResourceRef endpointsResource() {
  return {"", "v1", "endpoints", true, "Endpoints"};
}
// events.k8s.io/v1 is the current Event API; core v1 events are the same objects, older shape.
ResourceRef eventsResource() {
  return {"events.k8s.io", "v1", "events", true, "Event"};
}
ResourceRef coreEventsResource() {
  return {"", "v1", "events", true, "Event"};
}
ResourceRef servicesResource() {
  return {"", "v1", "services", true, "Service"};
}
ResourceRef deploymentsResource() {
  return {"apps", "v1", "deployments", true, "Deployment"};
}
ResourceRef statefulSetsResource() {
  return {"apps", "v1", "statefulsets", true, "StatefulSet"};
}
ResourceRef podDisruptionBudgetsResource() {
  return {"policy", "v1", "poddisruptionbudgets", true, "PodDisruptionBudget"};
}
ResourceRef networkPoliciesResource() {
  return {"networking.k8s.io", "v1", "networkpolicies", true, "NetworkPolicy"};
}

}  // namespace herd::kube
