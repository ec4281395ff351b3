// Kubernetes resource quantities ("100m", "1.5Gi", "2e3"): parsing with the grammar of
// k8s.io/apimachinery/pkg/api/resource, so that what herd accepts the apiserver accepts too.
#pragma once

#include <string_view>

#include "common/status.h"

namespace herd::api {

// The value in base units (cores, bytes), e.g. 0.1 for "100m" and 1073741824 for "1Gi".
Result<long double> parseQuantity(std::string_view text);

}  // namespace herd::api
