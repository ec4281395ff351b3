#include "provider/local/supervisor.h"

#include <curl/curl.h>
#include <dirent.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "common/log.h"
#include "common/process.h"

namespace herd::provider::local {
namespace {

using Clock = std::chrono::steady_clock;

// The fields of /proc/<pid>/stat that matter here: the state letter and the start time.
struct ProcStat {
  char state = '?';
  pid_t ppid = 0;
  uint64_t start_time = 0;
};

std::optional<ProcStat> readProcStat(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces or ')': skip past the last.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  ProcStat st;
  rest >> st.state >> st.ppid;
  std::string field;
  // Fields 5..21, then the start time (field 22).
  for (int i = 5; i <= 21 && rest >> field; ++i) {
  }
  if (!(rest >> st.start_time)) return std::nullopt;
  return st;
}

// Alive (not a zombie) and the same process that was recorded.
bool isSameLiveProcess(pid_t pid, uint64_t start_time) {
  auto st = readProcStat(pid);
  return st && st->state != 'Z' && st->state != 'X' && st->start_time == start_time;
}

// SIGTERM to the process group of a process herd did not fork (an adopted one may have
// children of its own), then SIGKILL after `grace`; nothing if it is no longer that process.
void terminate(pid_t pid, uint64_t start_time, std::chrono::milliseconds grace) {
  if (!isSameLiveProcess(pid, start_time)) return;
  if (::kill(-pid, SIGTERM) != 0) ::kill(pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (isSameLiveProcess(pid, start_time) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (isSameLiveProcess(pid, start_time)) {
    if (::kill(-pid, SIGKILL) != 0) ::kill(pid, SIGKILL);
  }
}

std::string describeExit(int code) {
  return code > 128 ? fmt::format("signal {}", code - 128) : fmt::format("exit code {}", code);
}

// While a process is not ready its readiness probe runs at least this often: on one machine
// a probe costs next to nothing, and whatever waits for it (the next step of a cluster's
// rollout) goes on within a fraction of a second rather than a whole probe period later.
constexpr std::chrono::milliseconds kUnreadyProbePeriod{200};

// One HTTP(S) GET; the kubelet counts 200-399 as success and does not verify certificates.
bool probeOnce(const HttpProbe& probe) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return false;
  std::string url = fmt::format("{}://{}:{}{}", probe.https ? "https" : "http", probe.host,
                                probe.port, probe.path);
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(probe.timeout.count()));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(
      c, CURLOPT_WRITEFUNCTION,
      +[](char*, size_t size, size_t count, void*) { return size * count; });
  if (curl_easy_perform(c) != CURLE_OK) return false;
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  return code >= 200 && code < 400;
}

// Copy-and-truncate rotation: the process keeps its O_APPEND descriptor and writes on at the
// start of the emptied file. Lines written between the copy and the truncate are lost, the
// price of not signalling every component to reopen its log.
void rotateIfLarge(const ProcessSpec& spec) {
  std::error_code ec;
  auto size = std::filesystem::file_size(spec.log_path, ec);
  if (ec || size <= spec.log_max_bytes) return;
  for (int i = spec.log_keep - 1; i >= 1; --i) {
    std::filesystem::rename(fmt::format("{}.{}", spec.log_path, i),
                            fmt::format("{}.{}", spec.log_path, i + 1), ec);
  }
  if (spec.log_keep >= 1) {
    std::filesystem::copy_file(spec.log_path, spec.log_path + ".1",
                               std::filesystem::copy_options::overwrite_existing, ec);
  }
  if (::truncate(spec.log_path.c_str(), 0) != 0) {
    log::root().warn("log rotation failed",
                     {{"file", spec.log_path}, {"error", std::strerror(errno)}});
  }
}

// A process running exactly `argv`, other than a zombie; 0 when there is none. A process
// that forks (a shell running a pipeline) has children with its command line until they exec:
// the one whose parent is not itself a match is the one herd started.
pid_t findByCommandLine(const std::vector<std::string>& argv) {
  std::unique_ptr<DIR, int (*)(DIR*)> proc(::opendir("/proc"), ::closedir);
  if (!proc) return 0;
  std::map<pid_t, pid_t> matches;  // pid -> parent
  while (dirent* e = ::readdir(proc.get())) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == ::getpid()) continue;
    if (processCommandLine(static_cast<pid_t>(pid)) != argv) continue;
    auto st = readProcStat(static_cast<pid_t>(pid));
    if (st && st->state != 'Z' && st->state != 'X') matches[static_cast<pid_t>(pid)] = st->ppid;
  }
  for (auto [pid, parent] : matches) {
    if (!matches.contains(parent)) return pid;
  }
  return 0;
}

}  // namespace

std::optional<uint64_t> processStartTime(pid_t pid) {
  auto st = readProcStat(pid);
  if (!st) return std::nullopt;
  return st->start_time;
}

std::vector<std::string> processCommandLine(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::vector<std::string> argv;
  std::string arg;
  while (std::getline(in, arg, '\0')) argv.push_back(arg);
  return argv;
}

struct Managed {
  ProcessSpec spec;
  ProcessStatus status;
  std::optional<Process> child;  // started here
  uint64_t start_time = 0;       // of the running process, started or adopted
  Clock::time_point started_at{};
  std::optional<Clock::time_point> restart_at;  // set while waiting to restart
  int quick_exits = 0;                          // exits in a row before `stable_after`
  int readiness_failures = 0;
  int liveness_failures = 0;
  Clock::time_point next_readiness{};
  Clock::time_point next_liveness{};
  bool removed = false;
};

struct Supervisor::State {
  SupervisorOptions options;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<Managed>> procs;  // in the order added
  bool stopping = false;
  std::thread thread;

  // Exponential backoff: initial, doubling with each quick exit in a row, capped.
  void scheduleRestart(Managed& m) {
    auto delay = options.backoff_initial * (int64_t{1} << std::min(m.quick_exits, 20));
    m.restart_at = Clock::now() + std::min<Clock::duration>(options.backoff_max, delay);
    ++m.quick_exits;
  }

  bool running(Managed& m) {
    if (m.status.pid == 0) return false;
    if (m.child) {
      if (m.child->running()) return true;
      m.status.last_exit = describeExit(m.child->wait());
      m.child.reset();
    } else if (isSameLiveProcess(m.status.pid, m.start_time)) {
      return true;
    } else {
      m.status.last_exit = "gone";
    }
    log::root().warn(
        "process ended",
        {{"process", m.spec.name}, {"pid", m.status.pid}, {"how", m.status.last_exit}});
    m.status.pid = 0;
    m.status.ready = false;
    if (Clock::now() - m.started_at >= options.stable_after) m.quick_exits = 0;
    scheduleRestart(m);
    return false;
  }

  void start(Managed& m) {
    m.restart_at.reset();
    m.readiness_failures = m.liveness_failures = 0;
    m.status.ready = false;
    m.status.adopted = false;
    ProcessOptions po;
    po.env = m.spec.env;
    po.stdout_path = m.spec.log_path;
    po.stderr_path = m.spec.log_path;
    po.cwd = m.spec.cwd;
    m.started_at = Clock::now();
    auto p = Process::spawn(m.spec.argv, po);
    if (!p.isOk()) {
      m.status.last_exit = "not started: " + p.status().message();
      log::root().warn("process not started",
                       {{"process", m.spec.name}, {"error", p.status().message()}});
      scheduleRestart(m);
      return;
    }
    m.status.pid = p->pid();
    m.start_time = processStartTime(m.status.pid).value_or(0);
    m.child.emplace(std::move(*p));
    Status s = files::writeAtomic(m.spec.pid_path,
                                  fmt::format("{} {}\n", m.status.pid, m.start_time), 0600);
    if (!s.isOk())
      log::root().warn("pid file not written", {{"process", m.spec.name}, {"error", s.message()}});
  }

  void stopOne(Managed& m) {
    m.restart_at.reset();
    if (m.child) {
      m.child->stop(options.grace);
      m.child.reset();
    } else if (m.status.pid != 0) {
      terminate(m.status.pid, m.start_time, options.grace);
    }
    m.status.pid = 0;
    m.status.ready = false;
    ::unlink(m.spec.pid_path.c_str());
  }

  void monitor() {
    std::unique_lock lock(mu);
    while (!stopping) {
      auto now = Clock::now();
      std::vector<std::shared_ptr<Managed>> due_readiness, due_liveness;
      for (auto& m : procs) {
        if (!running(*m)) {
          if (m->restart_at && now >= *m->restart_at) {
            ++m->status.restarts;
            start(*m);
          }
          continue;
        }
        rotateIfLarge(m->spec);
        if (m->spec.readiness && now >= m->next_readiness) {
          m->next_readiness = now + (m->status.ready ? m->spec.readiness->period
                                                      : std::min<std::chrono::milliseconds>(
                                                            m->spec.readiness->period,
                                                            kUnreadyProbePeriod));
          due_readiness.push_back(m);
        }
        if (m->spec.liveness && now >= m->next_liveness) {
          m->next_liveness = now + m->spec.liveness->period;
          due_liveness.push_back(m);
        }
      }
      // Probes take up to their timeout: run them without the lock, so status() stays quick.
      lock.unlock();
      std::vector<bool> ready_results, live_results;
      for (auto& m : due_readiness) ready_results.push_back(probeOnce(*m->spec.readiness));
      for (auto& m : due_liveness) live_results.push_back(probeOnce(*m->spec.liveness));
      lock.lock();
      for (size_t i = 0; i < due_readiness.size(); ++i) {
        Managed& m = *due_readiness[i];
        if (m.removed || m.status.pid == 0) continue;
        if (ready_results[i]) {
          m.readiness_failures = 0;
          m.status.ready = true;
        } else if (++m.readiness_failures >= m.spec.readiness->failure_threshold) {
          m.status.ready = false;
        }
      }
      for (size_t i = 0; i < due_liveness.size(); ++i) {
        Managed& m = *due_liveness[i];
        if (m.removed || m.status.pid == 0) continue;
        if (live_results[i]) {
          m.liveness_failures = 0;
        } else if (++m.liveness_failures >= m.spec.liveness->failure_threshold) {
          log::root().warn(
              "liveness probe failed: restarting",
              {{"process", m.spec.name}, {"pid", m.status.pid}, {"failures", m.liveness_failures}});
          stopOne(m);
          m.status.last_exit = "liveness probe failed";
          ++m.status.restarts;
          start(m);
        }
      }
      cv.wait_for(lock, options.poll, [&] { return stopping; });
    }
  }
};

Supervisor::Supervisor(SupervisorOptions options) : state_(std::make_unique<State>()) {
  state_->options = options;
  state_->thread = std::thread([s = state_.get()] { s->monitor(); });
}

Supervisor::~Supervisor() {
  stopAll();
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  state_->thread.join();
}

Status Supervisor::add(ProcessSpec spec) {
  if (spec.name.empty() || spec.argv.empty() || spec.pid_path.empty() || spec.log_path.empty()) {
    return Status::invalid("a supervised process needs a name, a command, a pid file and a log");
  }
  std::lock_guard lock(state_->mu);
  for (auto& m : state_->procs) {
    if (m->spec.name == spec.name) {
      return Status::alreadyExists(fmt::format("{} is supervised already", spec.name));
    }
  }
  auto m = std::make_shared<Managed>();
  m->spec = std::move(spec);
  m->status.name = m->spec.name;
  // The process recorded in the pid file, if it is still that process running this command.
  pid_t adopt = 0;
  if (auto text = files::read(m->spec.pid_path); text.isOk()) {
    std::istringstream in(*text);
    long pid = 0;
    uint64_t start = 0;
    if (in >> pid >> start && pid > 0 && isSameLiveProcess(static_cast<pid_t>(pid), start) &&
        processCommandLine(static_cast<pid_t>(pid)) == m->spec.argv) {
      adopt = static_cast<pid_t>(pid);
    }
  }
  // Else one started just before herd was killed, before its pid file was written.
  if (adopt == 0) adopt = findByCommandLine(m->spec.argv);
  if (adopt != 0) {
    m->status.pid = adopt;
    m->status.adopted = true;
    m->start_time = processStartTime(adopt).value_or(0);
    m->started_at = Clock::now();
    log::root().info("adopted a running process", {{"process", m->spec.name}, {"pid", adopt}});
    Status s =
        files::writeAtomic(m->spec.pid_path, fmt::format("{} {}\n", adopt, m->start_time), 0600);
    if (!s.isOk())
      log::root().warn("pid file not written", {{"process", m->spec.name}, {"error", s.message()}});
  } else {
    state_->start(*m);
  }
  state_->procs.push_back(std::move(m));
  state_->cv.notify_all();
  return Status::ok();
}

Status Supervisor::setEnv(const std::string& name, std::vector<std::string> env) {
  std::lock_guard lock(state_->mu);
  for (auto& m : state_->procs) {
    if (m->spec.name == name) {
      m->spec.env = std::move(env);
      return Status::ok();
    }
  }
  return Status::notFound(fmt::format("{} is not supervised", name));
}

Status Supervisor::remove(const std::string& name) {
  std::lock_guard lock(state_->mu);
  auto& procs = state_->procs;
  auto it = std::find_if(procs.begin(), procs.end(), [&](auto& m) { return m->spec.name == name; });
  if (it == procs.end()) return Status::notFound(fmt::format("{} is not supervised", name));
  (*it)->removed = true;
  state_->stopOne(**it);
  procs.erase(it);
  return Status::ok();
}

std::optional<ProcessStatus> Supervisor::status(const std::string& name) const {
  std::lock_guard lock(state_->mu);
  for (auto& m : state_->procs) {
    if (m->spec.name == name) return m->status;
  }
  return std::nullopt;
}

std::vector<ProcessStatus> Supervisor::statuses() const {
  std::lock_guard lock(state_->mu);
  std::vector<ProcessStatus> out;
  for (auto& m : state_->procs) out.push_back(m->status);
  return out;
}

void Supervisor::stopAll() {
  std::lock_guard lock(state_->mu);
  auto& procs = state_->procs;
  for (auto it = procs.rbegin(); it != procs.rend(); ++it) {
    (*it)->removed = true;
    state_->stopOne(**it);
  }
  procs.clear();
}

namespace {

// The pid and start time a pid file records; nullopt when it records none.
std::optional<std::pair<pid_t, uint64_t>> recordedProcess(const std::string& pid_path) {
  auto text = files::read(pid_path);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  long pid = 0;
  uint64_t start = 0;
  if (!(in >> pid >> start) || pid <= 0) return std::nullopt;
  return std::make_pair(static_cast<pid_t>(pid), start);
}

}  // namespace

bool recordedProcessRunning(const std::string& pid_path) {
  auto recorded = recordedProcess(pid_path);
  return recorded && isSameLiveProcess(recorded->first, recorded->second);
}

Status stopRecorded(const std::string& pid_path, std::chrono::milliseconds grace) {
  if (auto recorded = recordedProcess(pid_path))
    terminate(recorded->first, recorded->second, grace);
  if (::unlink(pid_path.c_str()) != 0 && errno != ENOENT) {
    return Status::io(fmt::format("remove {}: {}", pid_path, std::strerror(errno)));
  }
  return Status::ok();
}

}  // namespace herd::provider::local
