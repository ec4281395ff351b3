#include "common/process.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "common/files.h"
#include "support/test_env.h"

namespace herd {
namespace {

using namespace std::chrono_literals;

TEST(RunCommandTest, CapturesOutputsAndExitCode) {
  auto r = runCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunCommandTest, FeedsLargeInputWithoutDeadlock) {
  std::string input(4 << 20, 'x');  // larger than any pipe buffer, both directions
  auto r = runCommand({"cat"}, input);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out.size(), input.size());
}

TEST(RunCommandTest, TimesOutAndKillsTheChild) {
  auto r = runCommand({"sleep", "30"}, {}, 200ms);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded);
}

TEST(RunCommandTest, MissingExecutableIsNotFound) {
  auto r = runCommand({"herd-no-such-binary"});
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST(RunCommandTest, PassesExtraEnvironment) {
  ProcessOptions opts;
  opts.env = {"HERD_TEST_VAR=42"};
  auto r = runCommand({"sh", "-c", "echo $HERD_TEST_VAR"}, {}, 10s, opts);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->out, "42\n");
}

TEST(ProcessTest, StopTerminatesAndReportsSignal) {
  auto p = Process::spawn({"sleep", "30"});
  ASSERT_TRUE(p.isOk());
  EXPECT_TRUE(p->running());
  EXPECT_EQ(p->stop(2s), 128 + SIGTERM);
  EXPECT_FALSE(p->running());
}

TEST(ProcessTest, StopEscalatesToSigkill) {
  testing::TempDir dir;
  std::string ready = dir.file("ready");
  auto p = Process::spawn({"sh", "-c", "trap '' TERM; touch " + ready + "; sleep 30"});
  ASSERT_TRUE(p.isOk());
  for (int i = 0; i < 200 && !files::exists(ready); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(files::exists(ready));
  EXPECT_EQ(p->stop(200ms), 128 + SIGKILL);
}

TEST(ProcessTest, DestructorStopsTheChild) {
  pid_t pid;
  {
    auto p = Process::spawn({"sleep", "30"});
    ASSERT_TRUE(p.isOk());
    pid = p->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: no such process
}

TEST(ProcessTest, RedirectsOutputToFiles) {
  testing::TempDir dir;
  ProcessOptions opts;
  opts.stdout_path = dir.file("out.log");
  auto p = Process::spawn({"sh", "-c", "echo hello"}, opts);
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->wait(), 0);
  EXPECT_EQ(*files::read(opts.stdout_path), "hello\n");
}

// A busy child accrues CPU time; a process that is gone has none.
TEST(ProcessTest, CpuSecondsCountsAChildsWork) {
  auto busy = Process::spawn({"sh", "-c", "while :; do :; done"});
  ASSERT_TRUE(busy.isOk()) << busy.status().toString();
  EXPECT_TRUE(testing::eventually([&] { return cpuSeconds(busy->pid()) >= 0.2; }, 10s))
      << cpuSeconds(busy->pid()) << " CPU seconds";
  pid_t pid = busy->pid();
  busy->stop(2s);
  EXPECT_EQ(cpuSeconds(pid), 0);
}

}  // namespace
}  // namespace herd
