// Small file helpers with Status errors: whole-file reads, atomic writes with an explicit
// mode (private keys are written 0600 from the first byte), directory creation.
// Stateless free functions; thread-safe as the underlying system calls are.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace herd::files {

// Reads a whole file; "-" reads standard input.
Result<std::string> read(const std::string& path);

// Writes `data` to a temporary file beside `path` created with `mode`, fsyncs it and renames
// it over `path`, so readers see the old content or the new, never a torn file.
Status writeAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);

// Creates `path` and its missing parents with `mode` (like mkdir -p).
Status makeDirs(const std::string& path, mode_t mode = 0755);

bool exists(const std::string& path);

// A fresh private directory under $TMPDIR (or /tmp) named prefix-XXXXXX.
Result<std::string> makeTempDir(std::string_view prefix);
// Removes a file or a directory tree; missing is not an error.
Status removeAll(const std::string& path);

}  // namespace herd::files
