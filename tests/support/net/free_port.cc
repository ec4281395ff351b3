#include "free_port.h"

#include "common/socket.h"

namespace herd::testing {

Result<int> findFreeLoopbackPort() {
  HERD_ASSIGN_OR_RETURN(UniqueFd fd, net::listenTcp("127.0.0.1:0", /*backlog=*/1));
  int port = net::boundPort(fd.get());
  if (port == 0) return Status::io("no port for a socket bound to 127.0.0.1:0");
  return port;
}

}  // namespace herd::testing
