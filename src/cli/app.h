// The herd command line: parses arguments, runs one subcommand, returns the exit status.
// Owns nothing beyond the call; writes to the streams it is given.
#pragma once

#include <iosfwd>

namespace herd::cli {

// Exit statuses, documented in the README.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // invalid input, or the operation failed
inline constexpr int kExitUsage = 2;    // bad command line

int run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace herd::cli
