// UniqueFd moved to common/unique_fd.h; this name stays for code written against the tunnel's
// headers before the move.
#pragma once

#include "common/unique_fd.h"

namespace herd::tunnel {

using ::herd::UniqueFd;

}  // namespace herd::tunnel
