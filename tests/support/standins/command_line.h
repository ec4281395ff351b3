// A control-plane binary's command line, parsed as the real binary (Go's pflag) parses it, and
// checked against that binary's recorded `--help` (../shared/kubernetes/flags): the stand-ins
// refuse every flag the real binary lacks and every value of the wrong type, so nothing passes
// with a stand-in that the real binary would refuse.
//
// pflag's rules: "--name=value" or "--name value" for typed flags; "--name" or "--name=true|
// false" for booleans (the help lists them without a type word); "-h"/"--help" prints the help.
// Types checked: bool, int/int32/int64, uint*, float*, duration (Go syntax: 300ms, 1m30s), ip.
// Pure; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace herd::standins {

struct FlagSpec {
  std::string name;
  std::string type;  // "" for bool, else the help's type word: "string", "int", "duration", ...
  // "version[=true]" in the help: the flag may stand alone and then means this value.
  std::optional<std::string> no_value_default;
};

// The flags of a recorded `--help` text.
std::map<std::string, FlagSpec> parseHelp(const std::string& help_text);

struct CommandLine {
  std::map<std::string, std::string> values;  // flag -> last value given ("true" for --bool)
  bool help = false;
  bool version = false;
  std::optional<std::string> get(const std::string& flag) const;
  std::string getOr(const std::string& flag, const std::string& fallback) const;
};

// Errors read as pflag's: "unknown flag: --foo", "invalid argument \"x\" for \"--secure-port\"
// flag: ...", "flag needs an argument: --kubeconfig".
Result<CommandLine> parseCommandLine(const std::vector<std::string>& args,
                                     const std::map<std::string, FlagSpec>& flags);

// Go's time.ParseDuration: "1h2m3.5s", "300ms", "0"; milliseconds.
Result<int64_t> parseGoDuration(const std::string& text);

}  // namespace herd::standins
