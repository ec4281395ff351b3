#include "provider/kubernetes/object_reader.h"

namespace herd::provider::kubernetes {

Result<std::optional<nlohmann::json>> ClientObjectReader::get(const kube::ResourceRef& resource,
                                                              const std::string& ns,
                                                              const std::string& name) {
  auto got = client_.get(resource, ns, name);
  if (got.isOk()) return std::optional<nlohmann::json>(std::move(*got));
  if (got.status().code() == Code::kNotFound) return std::optional<nlohmann::json>();
  return got.status();
}

Result<std::vector<nlohmann::json>> ClientObjectReader::list(const kube::ResourceRef& resource,
                                                             const std::string& ns,
                                                             const std::string& label_selector) {
  kube::ListOptions options;
  options.label_selector = label_selector;
  HERD_ASSIGN_OR_RETURN(auto listed, client_.listAll(resource, ns, options));
  std::vector<nlohmann::json> out;
  for (auto& item : listed.value("items", nlohmann::json::array())) out.push_back(std::move(item));
  return out;
}

}  // namespace herd::provider::kubernetes
