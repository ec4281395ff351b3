#include "addons/objects.h"

#include <fmt/format.h>

namespace herd::addons::detail {

std::string image(const Inputs& in, std::string_view default_registry, std::string_view repository,
                  std::string_view tag) {
  std::string_view registry = in.context.image_registry.empty()
                                  ? default_registry
                                  : std::string_view(in.context.image_registry);
  return fmt::format("{}/{}:{}", registry, repository, tag);
}

json meta(Addon addon, const std::string& name, const std::string& ns, json labels) {
  labels[std::string(kAddonLabel)] = std::string(addonName(addon));
  json m = {{"name", name}, {"labels", labels}};
  if (!ns.empty()) m["namespace"] = ns;
  return m;
}

json object(std::string_view api_version, std::string_view kind, json metadata) {
  return {{"apiVersion", api_version}, {"kind", kind}, {"metadata", std::move(metadata)}};
}

json serviceAccount(Addon addon, const std::string& name, const std::string& ns) {
  return object("v1", "ServiceAccount", meta(addon, name, ns));
}

json rule(std::vector<std::string> groups, std::vector<std::string> resources,
          std::vector<std::string> verbs) {
  return {{"apiGroups", groups}, {"resources", resources}, {"verbs", verbs}};
}

json clusterRoleBinding(Addon addon, const std::string& name, const std::string& role,
                        json subjects) {
  json b = object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", meta(addon, name, ""));
  b["roleRef"] = {
      {"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}};
  b["subjects"] = std::move(subjects);
  return b;
}

json saSubject(const std::string& name, const std::string& ns) {
  return {{"kind", "ServiceAccount"}, {"name", name}, {"namespace", ns}};
}

}  // namespace herd::addons::detail
