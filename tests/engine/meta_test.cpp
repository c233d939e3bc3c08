// meta.json: reading, validation, creation, and the errors of load_or_create_meta.
#include "engine/meta.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "engine/database_test_util.hpp"

namespace sierra {
namespace {

namespace fs = std::filesystem;

constexpr Meta kWanted{8, 2, 64 * 1024};

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string meta_json(int64_t version, int64_t partitions, int64_t buckets, int64_t segment) {
  return "{\"version\": " + std::to_string(version) +
         ", \"partition_count\": " + std::to_string(partitions) +
         ", \"total_buckets\": " + std::to_string(buckets) +
         ", \"segment_size\": " + std::to_string(segment) + "}";
}

class MetaTest : public ::testing::Test {
 protected:
  fs::path meta_path() const { return dir_.path() / "meta.json"; }
  dbtest::TempDir dir_{"sierra-meta"};
};

TEST_F(MetaTest, MissingFileIsCreatedAndReadsBack) {
  auto absent = read_meta(dir_.path());
  ASSERT_TRUE(absent) << absent.error().to_string();
  EXPECT_FALSE(absent->has_value());

  ASSERT_TRUE(load_or_create_meta(dir_.path(), kWanted));
  ASSERT_TRUE(fs::is_regular_file(meta_path()));
  auto stored = read_meta(dir_.path());
  ASSERT_TRUE(stored && stored->has_value());
  EXPECT_EQ((*stored)->version, kMetaFormatVersion);
  EXPECT_EQ((*stored)->partition_count, 8);
  EXPECT_EQ((*stored)->total_buckets, 2);
  EXPECT_EQ((*stored)->segment_size, 64 * 1024);
  EXPECT_TRUE(meta_problems(**stored).empty());
  auto meta = valid_meta(**stored);
  ASSERT_TRUE(meta);
  EXPECT_EQ(meta->partition_count, 8);
  EXPECT_EQ(meta->total_buckets, 2);
  EXPECT_EQ(meta->segment_size, 64u * 1024);
}

TEST_F(MetaTest, GoodFileIsAcceptedAndLeftAlone) {
  const std::string text = meta_json(1, 8, 2, 64 * 1024);
  write_text(meta_path(), text);
  ASSERT_TRUE(load_or_create_meta(dir_.path(), kWanted));
  std::ifstream in(meta_path());
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, text);
}

TEST_F(MetaTest, WrongVersionIsUnsupported) {
  write_text(meta_path(), meta_json(2, 8, 2, 64 * 1024));
  auto st = load_or_create_meta(dir_.path(), kWanted);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::UnsupportedVersion);
  auto stored = read_meta(dir_.path());
  ASSERT_TRUE(stored && stored->has_value());
  const auto problems = meta_problems(**stored);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "unsupported or missing version 2");
  EXPECT_FALSE(valid_meta(**stored));
}

TEST_F(MetaTest, CountMismatchNamesTheField) {
  struct Case {
    Meta wanted;
    const char* field;
  };
  for (const Case& c :
       {Case{{16, 2, 64 * 1024}, "partition_count"}, Case{{8, 4, 64 * 1024}, "total_buckets"},
        Case{{8, 2, 128 * 1024}, "segment_size"}}) {
    write_text(meta_path(), meta_json(1, 8, 2, 64 * 1024));
    auto st = load_or_create_meta(dir_.path(), c.wanted);
    ASSERT_FALSE(st) << c.field;
    EXPECT_EQ(st.error().code, Errc::ConfigMismatch) << c.field;
    EXPECT_NE(st.error().message.find(c.field), std::string::npos) << st.error().message;
  }
}

TEST_F(MetaTest, CorruptJsonIsCorruptHeader) {
  for (const char* text : {"{\"version\": 1, \"partition_count\":", "[1, 2, 3]", ""}) {
    write_text(meta_path(), text);
    auto stored = read_meta(dir_.path());
    ASSERT_FALSE(stored) << text;
    EXPECT_EQ(stored.error().code, Errc::CorruptHeader) << text;
    auto st = load_or_create_meta(dir_.path(), kWanted);
    ASSERT_FALSE(st) << text;
    EXPECT_EQ(st.error().code, Errc::CorruptHeader) << text;
  }
}

TEST_F(MetaTest, InvalidFieldsAreEachReported) {
  write_text(meta_path(), "{\"version\": 1, \"partition_count\": 0, \"total_buckets\": \"x\"}");
  auto stored = read_meta(dir_.path());
  ASSERT_TRUE(stored && stored->has_value());
  EXPECT_EQ((*stored)->total_buckets, -1);
  const auto problems = meta_problems(**stored);
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_EQ(problems[0], "invalid partition_count 0");
  EXPECT_EQ(problems[1], "invalid total_buckets -1");
  EXPECT_EQ(problems[2], "invalid segment_size -1");
  EXPECT_FALSE(valid_meta(**stored));
}

}  // namespace
}  // namespace sierra
