#include "engine/file.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "engine/fault_env.hpp"
#include "support/temp_dir.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;

class FileTest : public ::testing::Test {
 protected:
  test_support::TempDir tmp_{"sierra-file-test"};
  fs::path dir_ = tmp_.path();
};

std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 7 + 3);
  return v;
}

TEST_F(FileTest, WriteReadRoundTrip) {
  auto f = File::open(dir_ / "a", File::Mode::CreateNew);
  ASSERT_TRUE(f.has_value()) << f.error().to_string();
  EXPECT_TRUE(f->is_open());
  EXPECT_EQ(f->path(), dir_ / "a");
  const auto data = iota_bytes(10000);
  ASSERT_TRUE(f->pwrite_all(data.data(), data.size(), 100).has_value());
  ASSERT_TRUE(f->datasync().has_value());
  ASSERT_TRUE(f->sync().has_value());
  auto size = f->size();
  ASSERT_TRUE(size.has_value());
  EXPECT_EQ(*size, 10100u);

  std::vector<uint8_t> back(data.size());
  ASSERT_TRUE(f->pread_exact(back.data(), back.size(), 100).has_value());
  EXPECT_EQ(back, data);
  f->advise_willneed(0, 10100);

  // The hole before offset 100 reads as zeros.
  std::vector<uint8_t> hole(100, 0xAA);
  ASSERT_TRUE(f->pread_exact(hole.data(), hole.size(), 0).has_value());
  EXPECT_EQ(hole, std::vector<uint8_t>(100, 0));
  ASSERT_TRUE(f->close().has_value());
  EXPECT_FALSE(f->is_open());

  // Reopen read-only and read again.
  auto r = File::open(dir_ / "a", File::Mode::ReadOnly);
  ASSERT_TRUE(r.has_value());
  std::vector<uint8_t> again(data.size());
  ASSERT_TRUE(r->pread_exact(again.data(), again.size(), 100).has_value());
  EXPECT_EQ(again, data);
}

TEST_F(FileTest, ShortReadIsCorruptRecord) {
  auto f = File::open(dir_ / "short", File::Mode::CreateNew);
  ASSERT_TRUE(f.has_value());
  const auto data = iota_bytes(10);
  ASSERT_TRUE(f->pwrite_all(data.data(), data.size(), 0).has_value());
  std::vector<uint8_t> buf(20);
  auto st = f->pread_exact(buf.data(), buf.size(), 0);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Errc::CorruptRecord);
  EXPECT_NE(st.error().message.find("unexpected end of file reading"), std::string::npos);
  EXPECT_NE(st.error().message.find((dir_ / "short").string()), std::string::npos);

  auto some = f->pread_some(buf.data(), buf.size(), 4);
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(*some, 6u);
  EXPECT_EQ(buf[0], data[4]);
  auto at_eof = f->pread_some(buf.data(), buf.size(), 10);
  ASSERT_TRUE(at_eof.has_value());
  EXPECT_EQ(*at_eof, 0u);
}

TEST_F(FileTest, CreateNewFailsIfExists) {
  ASSERT_TRUE(File::open(dir_ / "x", File::Mode::CreateNew).has_value());
  auto again = File::open(dir_ / "x", File::Mode::CreateNew);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code, Errc::Io);
  EXPECT_EQ(again.error().sys_errno, EEXIST);
  EXPECT_NE(again.error().message.find((dir_ / "x").string()), std::string::npos);
}

TEST_F(FileTest, OpenMissingFails) {
  auto f = File::open(dir_ / "missing", File::Mode::ReadOnly);
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, Errc::Io);
  EXPECT_EQ(f.error().sys_errno, ENOENT);
}

TEST_F(FileTest, CreateTruncateEmptiesExistingFile) {
  {
    auto f = File::open(dir_ / "t", File::Mode::CreateNew);
    ASSERT_TRUE(f.has_value());
    ASSERT_TRUE(f->pwrite_all("hello", 5, 0).has_value());
  }
  auto f = File::open(dir_ / "t", File::Mode::CreateTruncate);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f->size(), 0u);
}

TEST_F(FileTest, TruncateShrinks) {
  auto f = File::open(dir_ / "t", File::Mode::CreateNew);
  ASSERT_TRUE(f.has_value());
  const auto data = iota_bytes(100);
  ASSERT_TRUE(f->pwrite_all(data.data(), data.size(), 0).has_value());
  ASSERT_TRUE(f->truncate(40).has_value());
  EXPECT_EQ(*f->size(), 40u);
}

TEST_F(FileTest, MoveTransfersOwnership) {
  auto f = File::open(dir_ / "m", File::Mode::CreateNew);
  ASSERT_TRUE(f.has_value());
  const int fd = f->fd();
  File moved = std::move(*f);
  EXPECT_FALSE(f->is_open());
  EXPECT_EQ(moved.fd(), fd);
  File assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.fd(), fd);
  EXPECT_FALSE(moved.is_open());
  EXPECT_TRUE(assigned.pwrite_all("abc", 3, 0).has_value());
}

TEST_F(FileTest, WriteFileAtomicallyLeavesNoTmp) {
  const auto data = iota_bytes(333);
  const fs::path p = dir_ / "meta.json";
  ASSERT_TRUE(write_file_atomically(p, data).has_value());
  EXPECT_TRUE(fs::exists(p));
  EXPECT_FALSE(fs::exists(dir_ / "meta.json.tmp"));
  EXPECT_EQ(fs::file_size(p), data.size());

  // Overwrite with different content.
  const std::vector<uint8_t> data2 = {1, 2, 3};
  ASSERT_TRUE(write_file_atomically(p, data2).has_value());
  auto f = File::open(p, File::Mode::ReadOnly);
  ASSERT_TRUE(f.has_value());
  std::vector<uint8_t> back(3);
  ASSERT_TRUE(f->pread_exact(back.data(), 3, 0).has_value());
  EXPECT_EQ(back, data2);
  EXPECT_EQ(*f->size(), 3u);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST_F(FileTest, SyncDirectory) {
  EXPECT_TRUE(sync_directory(dir_).has_value());
  auto st = sync_directory(dir_ / "nope");
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().sys_errno, ENOENT);
}

TEST_F(FileTest, FaultHookNoSpaceOnWrite) {
  auto env = std::make_shared<HookEnv>();
  auto f = File::open(dir_ / "faulty", File::Mode::CreateNew, env);
  ASSERT_TRUE(f.has_value());
  std::atomic<int> calls{0};
  env->set([&](HookEnv::Op op, const fs::path& path, uint64_t offset, size_t len) {
    ++calls;
    EXPECT_EQ(path, dir_ / "faulty");
    if (op == HookEnv::Op::Write) {
      EXPECT_EQ(offset, 0u);
      EXPECT_EQ(len, 5u);
      return ENOSPC;
    }
    return 0;
  });
  auto st = f->pwrite_all("hello", 5, 0);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().code, Errc::NoSpace);
  EXPECT_EQ(st.error().sys_errno, ENOSPC);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(env->injected(HookEnv::Op::Write), 1u);
  EXPECT_EQ(*f->size(), 0u);  // nothing written
  EXPECT_TRUE(f->datasync().has_value());

  // A file opened without an Env uses the real one: the hook never sees it.
  auto plain = File::open(dir_ / "plain", File::Mode::CreateNew);
  ASSERT_TRUE(plain.has_value());
  EXPECT_TRUE(plain->pwrite_all("hello", 5, 0).has_value());
  EXPECT_EQ(calls.load(), 2);  // only the datasync above

  env->clear();
  EXPECT_TRUE(f->pwrite_all("hello", 5, 0).has_value());
  EXPECT_EQ(*f->size(), 5u);
}

TEST_F(FileTest, FaultHookOnSyncAndTruncate) {
  auto env = std::make_shared<HookEnv>();
  auto f = File::open(dir_ / "faulty", File::Mode::CreateNew, env);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE(f->pwrite_all("hello", 5, 0).has_value());
  env->set([](HookEnv::Op op, const fs::path&, uint64_t, size_t) {
    return op == HookEnv::Op::Write ? 0 : EIO;
  });
  auto s1 = f->datasync();
  ASSERT_FALSE(s1.has_value());
  EXPECT_EQ(s1.error().code, Errc::Io);
  EXPECT_EQ(s1.error().sys_errno, EIO);
  EXPECT_FALSE(f->sync().has_value());
  auto t = f->truncate(1);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().sys_errno, EIO);
  EXPECT_EQ(*f->size(), 5u);  // truncate not performed

  // write_file_atomically reports the failure and cleans up its temporary file.
  const std::vector<uint8_t> data = {1, 2, 3};
  EXPECT_FALSE(write_file_atomically(dir_ / "atomic", data, env).has_value());
  EXPECT_GE(env->injected(HookEnv::Op::Sync), 3u);  // datasync, sync, and the temp file's sync
  EXPECT_EQ(env->injected(HookEnv::Op::Truncate), 1u);
  EXPECT_FALSE(fs::exists(dir_ / "atomic"));
  EXPECT_FALSE(fs::exists(dir_ / "atomic.tmp"));
}

}  // namespace
}  // namespace sierra
