#include "common/process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

extern char** environ;

namespace herd {
namespace {

int decodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<std::string> mergedEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string_view key = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& x : extra) {
      if (std::string_view(x).substr(0, x.find('=')) == key) overridden = true;
    }
    if (!overridden) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Closes every descriptor from `first` on. A descriptor that a library opened without
// close-on-exec (Boost.Asio's listeners and connections) would otherwise live on in every
// process herd starts, and hold herd's ports after herd itself is gone.
void closeFrom(int first) {
#ifdef SYS_close_range
  if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
#endif
  long limit = ::sysconf(_SC_OPEN_MAX);
  if (limit < 0 || limit > 65536) limit = 65536;
  for (int fd = first; fd < limit; ++fd) ::close(fd);
}

// Everything the child does between fork and exec must be async-signal-safe: no allocation.
[[noreturn]] void execChild(char** argv, char** envp, int in_fd, int out_fd, int err_fd,
                            const char* cwd) {
  ::setpgid(0, 0);
  // Undo what the parent may have set for itself: a child starts with default dispositions.
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (in_fd >= 0) ::dup2(in_fd, 0);
  if (out_fd >= 0) ::dup2(out_fd, 1);
  if (err_fd >= 0) ::dup2(err_fd, 2);
  closeFrom(3);
  if (cwd && *cwd && ::chdir(cwd) != 0) _exit(127);
  ::execve(argv[0], argv, envp);
  _exit(127);
}

Result<std::string> resolve(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  return findExecutable(name);
}

// What execve is given: argv with its program found on PATH, and the merged environment.
// Kept as strings here; the char* views are taken by the caller, from storage that outlives them.
struct ExecStrings {
  std::vector<std::string> args;
  std::vector<std::string> env;
};

Result<ExecStrings> execStrings(const std::vector<std::string>& argv,
                                const std::vector<std::string>& extra_env) {
  HERD_ASSIGN_OR_RETURN(std::string exe, resolve(argv[0]));
  ExecStrings exec{argv, mergedEnvironment(extra_env)};
  exec.args[0] = exe;
  return exec;
}

int openOutput(const std::string& path) {
  if (path.empty()) return ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

Result<std::string> findExecutable(std::string_view name) {
  const char* path_env = std::getenv("PATH");
  std::string path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  path += ":/usr/sbin:/sbin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + std::string(name);
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return Status::notFound(fmt::format("executable \"{}\" not found in PATH", name));
}

Result<Process> Process::spawn(const std::vector<std::string>& argv,
                               const ProcessOptions& options) {
  if (argv.empty()) return Status::invalid("spawn: empty command line");
  HERD_ASSIGN_OR_RETURN(ExecStrings exec, execStrings(argv, options.env));
  std::vector<char*> c_args = cStrings(exec.args);
  std::vector<char*> c_env = cStrings(exec.env);
  int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out_fd = openOutput(options.stdout_path);
  int err_fd = openOutput(options.stderr_path);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) {
    int err = errno;
    for (int fd : {in_fd, out_fd, err_fd})
      if (fd >= 0) ::close(fd);
    return Status::ioError("open output of " + argv[0], err);
  }
  pid_t pid = ::fork();
  if (pid == 0) execChild(c_args.data(), c_env.data(), in_fd, out_fd, err_fd, options.cwd.c_str());
  int err = errno;
  if (pid > 0) ::setpgid(pid, pid);  // also from this side, so that stop() can never miss the group
  for (int fd : {in_fd, out_fd, err_fd}) ::close(fd);
  if (pid < 0) return Status::ioError("fork for " + argv[0], err);
  return Process(pid);
}

Process::Process(Process&& other) noexcept : pid_(other.pid_), exit_code_(other.exit_code_) {
  other.pid_ = -1;
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !exit_code_) stop();
    pid_ = other.pid_;
    exit_code_ = other.exit_code_;
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0 && !exit_code_) stop();
}

bool Process::running() {
  if (pid_ <= 0 || exit_code_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = decodeWaitStatus(status);
    return false;
  }
  return r == 0;
}

Status Process::signal(int sig) {
  if (pid_ <= 0 || exit_code_) return Status::failedPrecondition("process has exited");
  // The whole process group: a child's own children (sh -c, wrappers) go with it.
  if (::kill(-pid_, sig) != 0 && ::kill(pid_, sig) != 0) {
    return Status::ioError(fmt::format("kill {}", pid_), errno);
  }
  return Status::ok();
}

int Process::wait() {
  if (exit_code_) return *exit_code_;
  if (pid_ <= 0) return -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  exit_code_ = decodeWaitStatus(status);
  return *exit_code_;
}

std::optional<int> Process::waitFor(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Polling keeps this free of SIGCHLD handlers, which a library must not install.
  auto step = std::chrono::milliseconds(1);
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(50));
  }
  return exit_code_;
}

int Process::stop(std::chrono::milliseconds grace) {
  if (!running()) return exit_code_.value_or(-1);
  (void)signal(SIGTERM);
  if (auto code = waitFor(grace)) return *code;
  (void)signal(SIGKILL);
  return wait();
}

Result<CommandResult> runCommand(const std::vector<std::string>& argv, std::string_view input,
                                 std::chrono::milliseconds timeout, const ProcessOptions& options) {
  if (argv.empty()) return Status::invalid("run: empty command line");
  HERD_ASSIGN_OR_RETURN(ExecStrings exec, execStrings(argv, options.env));
  std::vector<char*> c_args = cStrings(exec.args);
  std::vector<char*> c_env = cStrings(exec.env);

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
    return Status::ioError("pipe", err);
  }
  pid_t pid = ::fork();
  if (pid == 0)
    execChild(c_args.data(), c_env.data(), in_pipe[0], out_pipe[1], err_pipe[1],
              options.cwd.c_str());
  int fork_err = errno;
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    for (int fd : {in_pipe[1], out_pipe[0], err_pipe[0]}) ::close(fd);
    return Status::ioError("fork for " + argv[0], fork_err);
  }
  Process child = Process::adopt(pid);  // stops the child on every early return below

  int in_fd = in_pipe[1];
  ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (input.empty()) {
    ::close(in_fd);
    in_fd = -1;
  }
  CommandResult result;
  int out_fd = out_pipe[0], err_fd = err_pipe[0];
  auto deadline = std::chrono::steady_clock::now() + timeout;
  ::signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill us
  while (out_fd >= 0 || err_fd >= 0 || in_fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      for (int fd : {in_fd, out_fd, err_fd})
        if (fd >= 0) ::close(fd);
      return Status::deadlineExceeded(
          fmt::format("{} did not finish within {} ms", argv[0], timeout.count()));
    }
    pollfd fds[3];
    int n = 0;
    if (in_fd >= 0) fds[n++] = {in_fd, POLLOUT, 0};
    if (out_fd >= 0) fds[n++] = {out_fd, POLLIN, 0};
    if (err_fd >= 0) fds[n++] = {err_fd, POLLIN, 0};
    int r = ::poll(fds, static_cast<nfds_t>(n),
                   static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) {
      int err = errno;
      for (int fd : {in_fd, out_fd, err_fd}) {
        if (fd >= 0) ::close(fd);
      }
      return Status::ioError("poll", err);
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in_fd) {
        ssize_t w = ::write(in_fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
          ::close(in_fd);
          in_fd = -1;
        }
        continue;
      }
      char buf[16384];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (fds[i].fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        ::close(fds[i].fd);
        (fds[i].fd == out_fd ? out_fd : err_fd) = -1;
      }
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  auto code = child.waitFor(std::max(left, std::chrono::milliseconds(1)));
  if (!code)
    return Status::deadlineExceeded(
        fmt::format("{} did not exit within {} ms", argv[0], timeout.count()));
  result.exit_code = *code;
  return result;
}

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  auto name_end = stat.rfind(')');
  if (name_end == std::string::npos) return 0;
  // The fields after the command name (which may hold spaces): state(3) ... utime(14) stime(15).
  std::istringstream fields(stat.substr(name_end + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace herd
