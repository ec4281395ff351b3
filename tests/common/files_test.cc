#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "support/test_env.h"

namespace herd {
namespace {

TEST(FilesTest, WriteAtomicThenReadBack) {
  testing::TempDir dir;
  std::string path = dir.file("a.txt");
  ASSERT_TRUE(files::writeAtomic(path, "hello\n", 0644).isOk());
  EXPECT_EQ(*files::read(path), "hello\n");
  ASSERT_TRUE(files::writeAtomic(path, "replaced", 0644).isOk());
  EXPECT_EQ(*files::read(path), "replaced");
}

TEST(FilesTest, WriteAtomicAppliesModeExactly) {
  testing::TempDir dir;
  std::string path = dir.file("key.pem");
  ASSERT_TRUE(files::writeAtomic(path, "secret", 0600).isOk());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FilesTest, ReadMissingFileIsAnIoErrorNamingThePath) {
  auto r = files::read("/nonexistent/herd.yaml");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kIo);
  EXPECT_EQ(r.status().message(), "open /nonexistent/herd.yaml: No such file or directory");
}

TEST(FilesTest, WriteIntoMissingDirectoryFails) {
  EXPECT_EQ(files::writeAtomic("/nonexistent/dir/x", "x").code(), Code::kIo);
}

TEST(FilesTest, MakeDirsCreatesParentsAndIsIdempotent) {
  testing::TempDir dir;
  std::string deep = dir.file("a/b/c");
  ASSERT_TRUE(files::makeDirs(deep, 0700).isOk());
  ASSERT_TRUE(files::makeDirs(deep, 0700).isOk());
  EXPECT_TRUE(files::exists(deep));
  ASSERT_TRUE(files::removeAll(dir.file("a")).isOk());
  EXPECT_FALSE(files::exists(deep));
}

}  // namespace
}  // namespace herd
