// Printing objects as kubectl does for -o yaml and -o json. Internal to src/cli.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace herd::cli {

enum class OutputFormat { kYaml, kJson };

Result<OutputFormat> parseOutputFormat(const std::string& name);
void printObject(std::ostream& out, const nlohmann::json& object, OutputFormat format);

}  // namespace herd::cli
