// The operations endpoint of herd's long-running commands (the gateway, the controller):
// GET /metrics (Prometheus text), /healthz and /livez (the process serves), /readyz (the
// `ready` handler), and any further read-only pages the owner adds (the controller's status
// page). It runs on its own listener and thread, so that a saturated data path or a busy
// worker pool does not hide its own metrics.
//
// Owns its thread and sockets; destroying it stops both. The handlers are called on the ops
// thread and must be thread-safe with respect to the rest of the process.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/status.h"

namespace herd::ops {

struct Page {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct Handlers {
  std::function<std::string()> metrics;
  std::function<bool()> ready;
  // Further GET pages. A path is served by the page registered under it exactly, else by the
  // page of the longest registered prefix that ends in '/' ("/clusters/" serves
  // "/clusters/demo"; "/" serves only "/"). The argument is the request's path, no query.
  std::map<std::string, std::function<Page(const std::string& path)>> pages;
};

class Server {
 public:
  virtual ~Server() = default;
  virtual int port() const = 0;
};

// `listen` is "ip:port" or "[v6]:port"; port 0 asks the kernel for a free one.
Result<std::unique_ptr<Server>> startServer(const std::string& listen, Handlers handlers);

}  // namespace herd::ops
