// The socket helpers live in common/socket.h. The gateway's data path still includes this name
// and calls tunnel::boundPort; this header goes once it includes common/socket.h instead.
#pragma once

#include "common/socket.h"

namespace herd::tunnel {

using net::boundPort;

}  // namespace herd::tunnel
