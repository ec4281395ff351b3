// The local provider's supervisor with real processes (sh, sleep): restart with backoff,
// readiness and liveness probes, log rotation, adoption after herd's death (and refusing a
// reused pid), and stop with a grace period.
#include "provider/local/supervisor.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "common/files.h"
#include "common/process.h"
#include "support/test_env.h"

namespace herd::provider::local {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Waits up to `limit` for `pred`; a bound, never a measurement.
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

// A command line unique to one test run that does not fork (as etcd does not): GNU sleep
// takes fractional seconds. Every test uses its own, because the supervisor adopts a running
// process by its exact command line, and tests run in parallel (a real component's command
// line names its tenant's own files, so it is unique in the same way).
std::vector<std::string> uniqueSleep() {
  std::random_device r;
  return {"/bin/sleep", fmt::format("300.{:06}", r() % 1000000)};
}

int countProcessesRunning(const std::vector<std::string>& argv) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    if (processCommandLine(pid) != argv) continue;
    std::ifstream stat(fmt::format("/proc/{}/stat", pid));
    std::string line;
    std::getline(stat, line);
    if (line.find(") Z") == std::string::npos) ++n;
  }
  return n;
}

// An HTTP endpoint on loopback whose answer the test switches between 200 and 500.
class Health {
 public:
  Health() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        char buf[2048];
        (void)::read(c, buf, sizeof buf);
        std::string reply = healthy_ ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                                     : "HTTP/1.1 500 No\r\nContent-Length: 2\r\n\r\nno";
        (void)::write(c, reply.data(), reply.size());
        ::close(c);
      }
    });
  }
  ~Health() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  void set(bool healthy) { healthy_ = healthy; }

 private:
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false}, healthy_{true};
  std::thread thread_;
};

class SupervisorTest : public ::testing::Test {
 protected:
  ProcessSpec spec(const std::string& name, std::vector<std::string> argv) const {
    ProcessSpec s;
    s.name = name;
    s.argv = std::move(argv);
    s.log_path = dir_.file(name + ".log");
    s.pid_path = dir_.file(name + ".pid");
    return s;
  }
  SupervisorOptions fast() const {
    SupervisorOptions o;
    o.backoff_initial = 100ms;
    o.backoff_max = 400ms;
    o.grace = 2s;
    o.poll = 20ms;
    return o;
  }
  herd::testing::TempDir dir_;
};

TEST_F(SupervisorTest, AnExitedProcessIsRestartedWithADoublingBackoff) {
  Supervisor sup(fast());
  // Each start appends its time (ns since the epoch) to the log.
  auto s = spec("crasher", {"/bin/sh", "-c", "date +%s%N; exit 3 # " + uniqueSleep()[1]});
  ASSERT_TRUE(sup.add(s).isOk());
  ASSERT_TRUE(eventually([&] { return sup.status("crasher")->restarts >= 5; }));
  EXPECT_EQ(sup.status("crasher")->last_exit, "exit code 3");
  sup.stopAll();
  std::ifstream log(s.log_path);
  std::vector<int64_t> starts;
  for (std::string line; std::getline(log, line);) starts.push_back(std::stoll(line));
  ASSERT_GE(starts.size(), 5u);
  // Lower bounds only (a loaded machine is slower, never faster): 100, 200, 400, 400 ms.
  const int64_t want_ms[] = {100, 200, 400, 400};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_GE((starts[i + 1] - starts[i]) / 1'000'000, want_ms[i] - 5) << "gap " << i;
  }
}

TEST_F(SupervisorTest, ReadinessFollowsTheProbe) {
  Health health;
  Supervisor sup(fast());
  auto s = spec("server", uniqueSleep());
  s.readiness = HttpProbe{.https = false,
                          .host = "127.0.0.1",
                          .port = health.port(),
                          .path = "/readyz",
                          .period = 50ms,
                          .timeout = 1s,
                          .failure_threshold = 2};
  ASSERT_TRUE(sup.add(s).isOk());
  ASSERT_TRUE(eventually([&] { return sup.status("server")->ready; }));
  health.set(false);
  ASSERT_TRUE(eventually([&] { return !sup.status("server")->ready; }));
  EXPECT_EQ(sup.status("server")->restarts, 0) << "readiness never restarts";
  health.set(true);
  EXPECT_TRUE(eventually([&] { return sup.status("server")->ready; }));
}

TEST_F(SupervisorTest, AFailingLivenessProbeRestartsTheProcess) {
  Health health;
  health.set(false);
  Supervisor sup(fast());
  auto s = spec("stuck", uniqueSleep());
  s.liveness = HttpProbe{.https = false,
                         .host = "127.0.0.1",
                         .port = health.port(),
                         .path = "/livez",
                         .period = 50ms,
                         .timeout = 1s,
                         .failure_threshold = 3};
  ASSERT_TRUE(sup.add(s).isOk());
  pid_t first = sup.status("stuck")->pid;
  ASSERT_TRUE(eventually([&] { return sup.status("stuck")->restarts >= 1; }));
  EXPECT_NE(sup.status("stuck")->pid, first);
  EXPECT_EQ(sup.status("stuck")->last_exit, "liveness probe failed");
  EXPECT_FALSE(processStartTime(first).has_value() && processCommandLine(first) == s.argv)
      << "the stuck process is gone, not left beside its replacement";
}

TEST_F(SupervisorTest, LogsAreRotatedAndBounded) {
  Supervisor sup(fast());
  auto s = spec("chatty", {"/bin/sh", "-c",
                           "while :; do echo 0123456789012345678901234567890123456789; done # " +
                               uniqueSleep()[1]});
  s.log_max_bytes = 16 * 1024;
  s.log_keep = 2;
  ASSERT_TRUE(sup.add(s).isOk());
  ASSERT_TRUE(eventually([&] { return files::exists(s.log_path + ".2"); }));
  sup.stopAll();
  EXPECT_FALSE(files::exists(s.log_path + ".3"));
  auto rotated = files::read(s.log_path + ".1");
  ASSERT_TRUE(rotated.isOk());
  EXPECT_NE(rotated->find("0123456789"), std::string::npos);
}

TEST_F(SupervisorTest, AProcessLeftByAKilledHerdIsAdoptedNotStartedTwice) {
  std::vector<std::string> argv = uniqueSleep();
  auto s = spec("etcd-0", argv);
  // What a herd killed outright leaves: the process and its pid file.
  auto orphan = Process::spawn(argv);
  ASSERT_TRUE(orphan.isOk());
  ASSERT_TRUE(eventually([&] { return processCommandLine(orphan->pid()) == argv; }));
  auto start = processStartTime(orphan->pid());
  ASSERT_TRUE(start.has_value());
  ASSERT_TRUE(files::writeAtomic(s.pid_path, fmt::format("{} {}\n", orphan->pid(), *start)).isOk());

  Supervisor sup(fast());
  ASSERT_TRUE(sup.add(s).isOk());
  auto st = sup.status("etcd-0");
  EXPECT_TRUE(st->adopted);
  EXPECT_EQ(st->pid, orphan->pid());
  EXPECT_EQ(countProcessesRunning(argv), 1);
  ASSERT_TRUE(sup.remove("etcd-0").isOk());
  EXPECT_TRUE(orphan->waitFor(5s).has_value()) << "remove() stops an adopted process too";
  EXPECT_FALSE(files::exists(s.pid_path));
}

TEST_F(SupervisorTest, AProcessStartedJustBeforeItsPidFileIsAdoptedByItsCommandLine) {
  std::vector<std::string> argv = uniqueSleep();
  auto orphan = Process::spawn(argv);
  ASSERT_TRUE(orphan.isOk());
  ASSERT_TRUE(eventually([&] { return processCommandLine(orphan->pid()) == argv; }));
  Supervisor sup(fast());
  ASSERT_TRUE(sup.add(spec("etcd-1", argv)).isOk());
  EXPECT_TRUE(sup.status("etcd-1")->adopted);
  EXPECT_EQ(sup.status("etcd-1")->pid, orphan->pid());
  EXPECT_EQ(countProcessesRunning(argv), 1);
}

TEST_F(SupervisorTest, AReusedPidIsNeverMistakenForTheRecordedProcess) {
  std::vector<std::string> argv = uniqueSleep();
  // The pid file names a live process (this test) that is not the component: once with the
  // right start time but another command line, once with another start time.
  auto own_start = processStartTime(::getpid());
  ASSERT_TRUE(own_start.has_value());
  for (uint64_t recorded : {*own_start, *own_start + 1}) {
    auto s = spec("etcd-2", argv);
    ASSERT_TRUE(
        files::writeAtomic(s.pid_path, fmt::format("{} {}\n", ::getpid(), recorded)).isOk());
    Supervisor sup(fast());
    ASSERT_TRUE(sup.add(s).isOk());
    auto st = sup.status("etcd-2");
    EXPECT_FALSE(st->adopted);
    EXPECT_NE(st->pid, ::getpid());
    EXPECT_TRUE(eventually([&] { return countProcessesRunning(argv) == 1; }));
    auto text = files::read(s.pid_path);
    ASSERT_TRUE(text.isOk());
    EXPECT_EQ(text->substr(0, text->find(' ')), std::to_string(st->pid));
  }
  EXPECT_TRUE(eventually([&] { return countProcessesRunning(argv) == 0; }))
      << "each supervisor stopped its process on destruction";
}

TEST_F(SupervisorTest, StopSendsTermThenKillAfterTheGrace) {
  auto o = fast();
  o.grace = 300ms;
  Supervisor sup(o);
  std::string armed = dir_.file("armed");
  std::vector<std::string> argv{
      "/bin/sh", "-c",
      "trap '' TERM; touch " + armed + "; while :; do sleep 0.05; done # " + uniqueSleep()[1]};
  ASSERT_TRUE(sup.add(spec("stubborn", argv)).isOk());
  // Only once the trap is set does SIGTERM go unheeded.
  ASSERT_TRUE(eventually([&] { return files::exists(armed); }));
  auto begin = Clock::now();
  ASSERT_TRUE(sup.remove("stubborn").isOk());
  EXPECT_GE(Clock::now() - begin, 300ms) << "a process ignoring SIGTERM gets its grace period";
  EXPECT_TRUE(eventually([&] { return countProcessesRunning(argv) == 0; }));
  EXPECT_FALSE(sup.status("stubborn").has_value());
}

TEST_F(SupervisorTest, BadSpecsAreRefused) {
  Supervisor sup(fast());
  EXPECT_EQ(sup.add(ProcessSpec{}).code(), Code::kInvalid);
  auto s = spec("twice", uniqueSleep());
  ASSERT_TRUE(sup.add(s).isOk());
  EXPECT_EQ(sup.add(s).code(), Code::kAlreadyExists);
  EXPECT_EQ(sup.remove("nobody").code(), Code::kNotFound);
  // A binary that does not exist is reported and retried with backoff, not a crash.
  ASSERT_TRUE(sup.add(spec("missing", {"/nonexistent/etcd"})).isOk());
  EXPECT_TRUE(eventually([&] { return sup.status("missing")->restarts >= 2; }));
}

}  // namespace
}  // namespace herd::provider::local
