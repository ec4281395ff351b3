#include "gateway/file_route_source.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/files.h"
#include "gateway/file_stamp.h"

namespace herd::gateway {

struct FileRouteSource::State {
  std::string path;
  std::chrono::milliseconds poll;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
};

FileRouteSource::FileRouteSource(std::string path, std::chrono::milliseconds poll)
    : state_(std::make_unique<State>()) {
  state_->path = std::move(path);
  state_->poll = poll;
}

FileRouteSource::~FileRouteSource() {
  stop();
}

Status FileRouteSource::start(UpdateCallback on_update, ErrorCallback on_error) {
  FileStamp stamp = stampOf(state_->path);
  auto first = loadGatewayConfig(state_->path);
  if (!first) return first.status();
  on_update(*first);
  state_->thread = std::thread([state = state_.get(), stamp, on_update = std::move(on_update),
                                on_error = std::move(on_error)]() mutable {
    std::unique_lock lock(state->mutex);
    while (!state->wake.wait_for(lock, state->poll, [&] { return state->stopping; })) {
      FileStamp now = stampOf(state->path);
      if (now == stamp || !now.present) continue;  // a missing file is mid-swap: keep routes
      stamp = now;
      lock.unlock();
      auto config = loadGatewayConfig(state->path);
      if (config) {
        on_update(*config);
      } else {
        on_error(config.status());
      }
      lock.lock();
    }
  });
  return Status::ok();
}

void FileRouteSource::stop() {
  if (!state_ || !state_->thread.joinable()) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  state_->thread.join();
}

}  // namespace herd::gateway
