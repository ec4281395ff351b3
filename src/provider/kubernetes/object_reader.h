// How the kubernetes provider reads seed objects. The default reads with GET and LIST through
// a kube::Client; with a thousand tenants a cache (an informer on objects labelled
// herd.io/cluster) implements the same interface and turns every read into a map lookup,
// leaving only writes on the wire. Implementations must be thread-safe.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "kube/client.h"

namespace herd::provider::kubernetes {

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // The object, or nullopt when it does not exist.
  virtual Result<std::optional<nlohmann::json>> get(const kube::ResourceRef& resource,
                                                    const std::string& ns,
                                                    const std::string& name) = 0;
  // Every object of `resource` in `ns` matching `label_selector`.
  virtual Result<std::vector<nlohmann::json>> list(const kube::ResourceRef& resource,
                                                   const std::string& ns,
                                                   const std::string& label_selector) = 0;
};

// Reads straight from the API server. Does not own the client.
class ClientObjectReader : public ObjectReader {
 public:
  explicit ClientObjectReader(kube::Client& client) : client_(client) {}
  Result<std::optional<nlohmann::json>> get(const kube::ResourceRef& resource,
                                            const std::string& ns,
                                            const std::string& name) override;
  Result<std::vector<nlohmann::json>> list(const kube::ResourceRef& resource,
                                           const std::string& ns,
                                           const std::string& label_selector) override;

 private:
  kube::Client& client_;
};

}  // namespace herd::provider::kubernetes
