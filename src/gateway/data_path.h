// What the gateway's worker loop (worker.h) and its connections (connection.h) share: the
// sizes and batches of the data path, what an epoll event points at, and the two halves of a
// connection, its sockets and the bytes travelling one way through it.
//
// Internal to the gateway's data path. Plain data, owned by one connection on one worker's
// thread; nothing here is thread-safe. It includes no Asio (see worker.h for why).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/unique_fd.h"

namespace herd::gateway {

using Clock = std::chrono::steady_clock;

// The granularity of every timeout. Timeouts are seconds long; 100 ms of slack is noise, and
// a sweep over a worker's connections ten times a second costs next to nothing.
constexpr std::chrono::milliseconds kSweepInterval{100};
// One buffer per direction with bytes in flight, so a fully busy connection holds two. This
// size moves a 64 KiB response in one read; smaller buffers measured worse on bulk transfers
// (see docs/gateway.md, section "Benchmark", the paragraph "What got herd here").
constexpr size_t kBufferSize = 64 * 1024;
// What a direction reads first: a keep-alive request or response of this size goes through
// without a pooled buffer.
constexpr size_t kInboxSize = 512;
// Buffers kept for reuse per worker (at most kMaxPooledBuffers * kBufferSize bytes held
// idle); beyond that they go back to the allocator.
constexpr size_t kMaxPooledBuffers = 512;
// A direction whose read fills a whole buffer is moving bulk data: it moves on with splice(2),
// socket to kernel pipe to socket, without copying into the gateway. A splice takes at most
// what a default pipe holds.
constexpr size_t kSpliceChunk = 64 * 1024;
// A splice that moves less than this ends bulk mode (the next full buffer starts it again):
// for short bursts its extra system calls cost more than the copies it saves.
constexpr size_t kSpliceMinimum = 16 * 1024;
// Empty kernel pipes kept for reuse per worker (two descriptors each).
constexpr size_t kMaxPooledSplicePipes = 64;
// Reads and writes done for one direction in a turn before the other connections' turn.
constexpr int kPumpBudget = 16;
// Connections a listener accepts per turn; the rest wait for the next one (level-triggered).
constexpr int kAcceptBatch = 64;
// How long a listener rests after the kernel refused a socket (EMFILE, ENFILE, ENOBUFS), so
// that a full descriptor table does not spin the worker.
constexpr std::chrono::milliseconds kAcceptBackoff{50};
constexpr int kMaxEvents = 256;

// What an epoll event refers to: data.ptr points at one of these.
struct Watch {
  enum class Kind : uint8_t { kWake, kListener, kClient, kBackend };
  Kind kind;
  void* owner = nullptr;
};

// A non-blocking socket of a connection and what is known of it since its last event.
struct Socket {
  UniqueFd fd;
  Watch watch;
  bool readable = false;
  bool writable = false;
  bool hung_up = false;  // the peer sent FIN (or the socket failed): read on to the EOF
};

// The kernel pipe a bulk direction splices through.
struct SplicePipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

// The bytes travelling one way through a connection.
struct Pipe {
  Socket* from = nullptr;
  Socket* to = nullptr;
  std::unique_ptr<char[]> buffer;
  std::string initial;  // the inspected bytes (and a PROXY header) go first to the backend
  std::array<char, kInboxSize> inbox;
  const char* data = nullptr;  // what is being written: initial, inbox or buffer
  size_t length = 0;
  size_t offset = 0;
  uint64_t unflushed_bytes = 0;
  bool eof = false;
  bool done = false;
  bool bulk = false;                 // the last read filled a whole buffer: splice the next ones
  bool inbox_full = false;           // the inbox read filled it: read on into a pooled buffer
  std::optional<SplicePipe> splice;  // held while bytes sit in it or a bulk read is under way
  size_t spliced = 0;                // bytes in `splice` not yet written on

  bool pending() const { return spliced > 0 || offset < length; }
};

}  // namespace herd::gateway
