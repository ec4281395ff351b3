#include "api/quantity.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace herd::api {

Result<long double> parseQuantity(std::string_view text) {
  auto bad = [&] {
    return Status::invalid(
        fmt::format("quantities must match the regular expression "
                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"));
  };
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  int dots = 0, digits = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    (text[i] == '.' ? dots : digits)++;
    ++i;
  }
  if (digits == 0 || dots > 1) return bad();
  long double number = std::strtold(std::string(text.substr(0, i)).c_str(), nullptr);
  std::string_view suffix = text.substr(i);
  long double multiplier = 1;
  struct Suffix {
    std::string_view name;
    long double factor;
  };
  static constexpr Suffix kSuffixes[] = {
      {"", 1},
      {"n", 1e-9L},
      {"u", 1e-6L},
      {"m", 1e-3L},
      {"k", 1e3L},
      {"M", 1e6L},
      {"G", 1e9L},
      {"T", 1e12L},
      {"P", 1e15L},
      {"E", 1e18L},
      {"Ki", 1024.0L},
      {"Mi", 1048576.0L},
      {"Gi", 1073741824.0L},
      {"Ti", 1099511627776.0L},
      {"Pi", 1125899906842624.0L},
      {"Ei", 1152921504606846976.0L},
  };
  bool found = false;
  for (const auto& s : kSuffixes) {
    if (suffix == s.name) {
      multiplier = s.factor;
      found = true;
      break;
    }
  }
  if (!found) {
    // A decimal exponent: e or E, an optional sign, digits.
    if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return bad();
    size_t j = 1;
    if (suffix[j] == '+' || suffix[j] == '-') ++j;
    if (j == suffix.size()) return bad();
    for (size_t k = j; k < suffix.size(); ++k) {
      if (!std::isdigit(static_cast<unsigned char>(suffix[k]))) return bad();
    }
    int exp = std::atoi(std::string(suffix.substr(1)).c_str());
    multiplier = std::pow(10.0L, exp);
  }
  return number * multiplier;
}

}  // namespace herd::api
