#include "cli/output.h"

#include <ostream>

#include "api/codec.h"
#include "common/yaml.h"

namespace herd::cli {

Result<OutputFormat> parseOutputFormat(const std::string& name) {
  if (name == "yaml") return OutputFormat::kYaml;
  if (name == "json") return OutputFormat::kJson;
  return Status::invalid("unknown output format \"" + name + "\": use yaml or json");
}

void printObject(std::ostream& out, const nlohmann::json& object, OutputFormat format) {
  out << (format == OutputFormat::kYaml ? toYaml(object) : api::toJsonText(object));
}

}  // namespace herd::cli
