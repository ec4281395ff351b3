// The YAML reader's former name: the reader is common/yaml.h. gateway/config.cc,
// tunnel/config.cc and the fake apiserver still include this and call api::parseDocuments;
// once they include common/yaml.h, this file goes.
#pragma once

#include "common/yaml.h"

namespace herd::api {

using herd::parseDocuments;
using herd::resolvePlainScalar;
using herd::toYaml;

}  // namespace herd::api
