#include "api/cluster.h"

namespace herd::api {

std::string namespaceFor(std::string_view cluster_name) {
  return "herd-" + std::string(cluster_name);
}

}  // namespace herd::api
