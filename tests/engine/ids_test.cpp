#include "engine/ids.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "support/eventually.hpp"

namespace sierra {
namespace {

Uuid U(std::string_view s) {
  auto u = Uuid::parse(s);
  EXPECT_TRUE(u.has_value()) << s;
  return u.value_or(Uuid::nil());
}

uint64_t timestamp_ms(const Uuid& u) {
  uint64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | u.bytes[i];
  return ms;
}

// ---- Namespace and partition keys (PROTOCOL.md §2.2, §2.3) ----

TEST(IdsTest, PartitionKeyNamespaceIsV5OfDnsName) {
  const Uuid dns = U("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  EXPECT_EQ(uuid_v5(dns, "sierradb.tqwewe.com"), kPartitionKeyNamespace);
  EXPECT_EQ(kPartitionKeyNamespace.to_string(), "219bd637-e279-53e9-9e2b-eabe5d9120cc");
}

struct KeyVector {
  const char* stream;
  const char* key;
  PartitionHash hash;
  PartitionId partition;  // of 32
};

TEST(IdsTest, ProtocolPartitionVectors) {
  const KeyVector vectors[] = {
      {"user-123", "7e124fe8-fe28-5398-bb95-53973100148f", 61013, 21},
      {"my-stream", "fa3e31cd-2f38-5aee-bb91-8bc6fbf950a3", 60998, 6},
      {"test-stream", "f3a6a672-d89e-53bd-89ac-7dddd5c04a94", 9905, 17},
  };
  for (const auto& v : vectors) {
    const Uuid key = partition_key_for_stream(v.stream);
    EXPECT_EQ(key.to_string(), v.key) << v.stream;
    EXPECT_EQ(partition_hash(key), v.hash) << v.stream;
    EXPECT_EQ(partition_id_for_hash(partition_hash(key), 32), v.partition) << v.stream;
    EXPECT_EQ(partition_id_for_key(key, 32), v.partition) << v.stream;
  }
}

// partition_key_for_stream keeps recent keys in a per-thread cache: every answer must still be
// the v5 of exactly the id asked for, through hits, slot reuse by other ids (20 000 ids over 4096
// slots), ids that are prefixes of each other, the longest id and ids longer than a stream id.
TEST(IdsTest, PartitionKeyCacheAnswersExactlyTheV5OfTheId) {
  auto check_all = [] {
    std::vector<std::string> ids = {"a",
                                    "ab",
                                    "abc",
                                    std::string(64, 'x'),
                                    std::string(65, 'x'),
                                    std::string(200, 'y'),
                                    std::string("nul\0in", 6)};
    for (int i = 0; i < 20000; ++i) ids.push_back("s-" + std::to_string(i));
    for (int pass = 0; pass < 3; ++pass) {
      for (const auto& id : ids) {
        ASSERT_EQ(partition_key_for_stream(id), uuid_v5(kPartitionKeyNamespace, id))
            << "pass " << pass << " id size " << id.size();
      }
    }
    // A hot id asked for between misses keeps its key.
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(partition_key_for_stream("user-123").to_string(),
                "7e124fe8-fe28-5398-bb95-53973100148f");
      (void)partition_key_for_stream("other-" + std::to_string(i));
    }
  };
  check_all();
  std::thread other(check_all);  // a second thread starts with its own, empty cache
  other.join();
}

TEST(IdsTest, ExplicitKeyVector) {
  const Uuid key = U("550e8400-e29b-41d4-a716-446655440000");
  EXPECT_EQ(partition_hash(key), 40025);
  EXPECT_EQ(partition_id_for_key(key, 32), 25);
}

TEST(IdsTest, PartitionHashIsBits61To46) {
  Uuid u;
  u.bytes[8] = 0xFF;  // variant bits must be ignored
  u.bytes[9] = 0xFF;
  u.bytes[10] = 0xC0;
  EXPECT_EQ(partition_hash(u), 0xFFFF);
  u.bytes[10] = 0x3F;  // low 6 bits of byte 10 are not part of the hash
  EXPECT_EQ(partition_hash(u), 0xFFFC);
  u = Uuid{};
  u.bytes[10] = 0x40;
  EXPECT_EQ(partition_hash(u), 1);
  u = Uuid{};
  u.bytes[8] = 0x01;
  EXPECT_EQ(partition_hash(u), 1 << 10);
}

TEST(IdsTest, Buckets) {
  EXPECT_EQ(bucket_for_partition(21, 4), 1);
  EXPECT_EQ(bucket_for_partition(6, 4), 2);
  EXPECT_EQ(bucket_for_partition(17, 4), 1);
  EXPECT_EQ(bucket_for_partition(25, 4), 1);
  EXPECT_EQ(bucket_for_partition(1023, 1), 0);
  EXPECT_EQ(bucket_for_partition(490, 64), 42);
}

// ---- Event ids (STORAGE.md §5.3, §5.6, §8.1) ----

TEST(IdsTest, EventIdFromPartsVector) {
  const Uuid id = event_id_from_parts(0x019000000000ull, 0xABC, 0xBEEF, 0x123456789ABCull);
  EXPECT_EQ(id.to_string(), "01900000-0000-abc7-afbb-d23456789abc");
  EXPECT_EQ(partition_hash(id), 0xBEEF);
  EXPECT_TRUE(validate_event_id(id, 0xBEEF));
  EXPECT_FALSE(validate_event_id(id, 0xBEEE));
}

TEST(IdsTest, NewEventIdLayout) {
  for (int h : {0, 1, 0xBEEF, 0xFFFF, 61013}) {
    const Uuid id = new_event_id(static_cast<PartitionHash>(h));
    EXPECT_EQ(partition_hash(id), h);
    EXPECT_TRUE(validate_event_id(id, static_cast<PartitionHash>(h)));
    EXPECT_EQ(id.bytes[7] & 0x0F, 0x7);   // version nibble in the low nibble of byte 7
    EXPECT_EQ(id.bytes[8] & 0xC0, 0x80);  // variant 10
  }
}

TEST(IdsTest, EventIdTimestampsNonDecreasing) {
  const uint64_t before =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  Uuid prev = new_event_id(42);
  EXPECT_GE(timestamp_ms(prev), before);
  for (int i = 0; i < 1000; ++i) {
    const Uuid next = new_event_id(42);
    EXPECT_GE(timestamp_ms(next), timestamp_ms(prev));
    prev = next;
  }
}

TEST(IdsTest, SameHashAcrossMilliseconds) {
  const Uuid a = new_event_id(12345);
  // Poll (bounded) until the clock has moved to a later millisecond, instead of sleeping.
  Uuid b = a;
  ASSERT_TRUE(test_support::eventually(
      [&] {
        b = new_event_id(12345);
        return timestamp_ms(b) > timestamp_ms(a);
      },
      std::chrono::seconds(5), std::chrono::microseconds(200)))
      << "the millisecond clock did not advance";
  EXPECT_GT(timestamp_ms(b), timestamp_ms(a));
  EXPECT_EQ(partition_hash(a), 12345);
  EXPECT_EQ(partition_hash(b), 12345);
  EXPECT_NE(a, b);
}

TEST(IdsTest, TenThousandEventIdsUnique) {
  std::unordered_set<Uuid> seen;
  for (int i = 0; i < 10000; ++i) {
    EXPECT_TRUE(seen.insert(new_event_id(7)).second) << "duplicate at " << i;
  }
  EXPECT_EQ(seen.size(), 10000u);
}

double relative_stddev(const std::vector<int>& counts) {
  double mean = 0;
  for (int c : counts) mean += c;
  mean /= static_cast<double>(counts.size());
  double var = 0;
  for (int c : counts) var += (c - mean) * (c - mean);
  var /= static_cast<double>(counts.size());
  return std::sqrt(var) / mean;
}

TEST(IdsTest, EventIdHashDistributionOver64Buckets) {
  std::vector<int> counts(64, 0);
  for (int h = 0; h < 10000; ++h) {
    const Uuid id = new_event_id(static_cast<PartitionHash>(h));
    counts[partition_hash(id) % 64]++;
  }
  EXPECT_LT(relative_stddev(counts), 0.10);
}

TEST(IdsTest, PartitionKeyHashDistributionOver64Buckets) {
  std::vector<int> counts(64, 0);
  for (int i = 0; i < 10000; ++i) {
    const Uuid key = partition_key_for_stream("stream-" + std::to_string(i));
    counts[partition_hash(key) % 64]++;
  }
  EXPECT_LT(relative_stddev(counts), 0.10);
}

// ---- Transaction ids (STORAGE.md §2.6, §5.7) ----

TEST(IdsTest, TransactionIdSingleFlag) {
  for (int i = 0; i < 100; ++i) {
    const Uuid single = new_transaction_id(true);
    const Uuid multi = new_transaction_id(false);
    EXPECT_TRUE(transaction_id_is_single(single));
    EXPECT_FALSE(transaction_id_is_single(multi));
    EXPECT_EQ(single.bytes[6] >> 4, 4);  // still a v4 UUID
    EXPECT_EQ(multi.bytes[6] >> 4, 4);
    EXPECT_EQ(single.bytes[8] & 0xC0, 0x80);  // single: a valid RFC variant
    EXPECT_EQ(multi.bytes[8] & 0x80, 0x00);
    EXPECT_NE(single, multi);
  }
}

TEST(IdsTest, WithSingleFlagTogglesOnlyBit7OfByte8) {
  Uuid u = U("550e8400-e29b-41d4-a716-446655440000");
  const Uuid cleared = with_single_flag(u, false);
  EXPECT_EQ(cleared.to_string(), "550e8400-e29b-41d4-2716-446655440000");
  EXPECT_FALSE(transaction_id_is_single(cleared));
  const Uuid set = with_single_flag(cleared, true);
  EXPECT_EQ(set, u);
  EXPECT_TRUE(transaction_id_is_single(set));
  EXPECT_EQ(with_single_flag(set, true), set);
  // The flag bit (bit 63) is disjoint from the partition hash bits (61..46).
  EXPECT_EQ(partition_hash(cleared), partition_hash(u));
}

TEST(IdsTest, UuidV4IsRandomVersion4) {
  const Uuid a = uuid_v4();
  const Uuid b = uuid_v4();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.bytes[6] >> 4, 4);
  EXPECT_EQ(a.bytes[8] & 0xC0, 0x80);
  EXPECT_FALSE(a.is_nil());
}

TEST(IdsTest, UuidV4ManyAreDistinctAcrossThreads) {
  // Each thread has its own generator; ids from different threads must not collide.
  std::vector<std::vector<Uuid>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& out : per_thread) {
    threads.emplace_back([&out] {
      for (int i = 0; i < 20000; ++i) out.push_back(uuid_v4());
    });
  }
  for (auto& t : threads) t.join();
  std::set<Uuid> all;
  for (const auto& v : per_thread) {
    for (const Uuid& u : v) {
      EXPECT_EQ(u.bytes[6] >> 4, 4);
      EXPECT_EQ(u.bytes[8] & 0xC0, 0x80);
      all.insert(u);
    }
  }
  EXPECT_EQ(all.size(), 80000u);
}

TEST(IdsTest, FormatToMatchesToStringAndParse) {
  const Uuid u = *Uuid::parse("550E8400-e29b-41d4-A716-446655440000");
  char buf[Uuid::kTextSize];
  u.format_to(buf);
  EXPECT_EQ(std::string_view(buf, sizeof buf), "550e8400-e29b-41d4-a716-446655440000");
  EXPECT_EQ(u.to_string(), "550e8400-e29b-41d4-a716-446655440000");
  for (int i = 0; i < 100; ++i) {
    const Uuid r = uuid_v4();
    EXPECT_EQ(Uuid::parse(r.to_string()), r);
  }
}

// ---- Stream ids (PROTOCOL.md §2.1) ----

TEST(IdsTest, StreamIdValid) {
  auto s = StreamId::make("user-123");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->str(), "user-123");
  EXPECT_EQ(s->view(), "user-123");
  EXPECT_TRUE(StreamId::make("a").has_value());
  EXPECT_EQ(StreamId::unchecked("x"), StreamId::make("x").value());
  EXPECT_LT(StreamId::unchecked("a"), StreamId::unchecked("b"));
}

TEST(IdsTest, StreamIdEmptyFails) {
  auto s = StreamId::make("");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::InvalidLength);
  EXPECT_EQ(s.error().message,
            "stream id must be between 1 and 64 characters in length, but got 0");
}

TEST(IdsTest, StreamIdLengthLimitInBytes) {
  EXPECT_TRUE(StreamId::make(std::string(64, 'x')).has_value());
  auto s = StreamId::make(std::string(65, 'x'));
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().code, Errc::InvalidLength);
  EXPECT_EQ(s.error().message,
            "stream id must be between 1 and 64 characters in length, but got 65");

  // "é" is two bytes in UTF-8: 32 of them are 64 bytes (ok), 33 are 66 bytes (too long).
  std::string e32, e33;
  for (int i = 0; i < 32; ++i) e32 += "\xC3\xA9";
  e33 = e32 + "\xC3\xA9";
  EXPECT_TRUE(StreamId::make(e32).has_value());
  auto t = StreamId::make(e33);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().code, Errc::InvalidLength);
  EXPECT_EQ(t.error().message,
            "stream id must be between 1 and 64 characters in length, but got 66");
  // 22 three-byte characters = 66 bytes.
  std::string euro;
  for (int i = 0; i < 22; ++i) euro += "\xE2\x82\xAC";
  EXPECT_FALSE(StreamId::make(euro).has_value());
}

TEST(IdsTest, StreamIdNulByteFails) {
  using namespace std::string_view_literals;
  for (auto sv : {"a\0b"sv, "\0"sv, "abc\0"sv}) {
    auto s = StreamId::make(sv);
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().code, Errc::ContainsNullByte);
    EXPECT_EQ(s.error().message, "stream id cannot contain null bytes");
  }
}

TEST(IdsTest, StreamIdHash) {
  std::unordered_set<StreamId> set;
  set.insert(StreamId::unchecked("a"));
  set.insert(StreamId::unchecked("a"));
  set.insert(StreamId::unchecked("b"));
  EXPECT_EQ(set.size(), 2u);
}

// ---- UUID text forms (PROTOCOL.md §3) ----

TEST(IdsTest, UuidParseForms) {
  const std::string expected = "550e8400-e29b-41d4-a716-446655440000";
  const char* forms[] = {
      "550e8400-e29b-41d4-a716-446655440000",
      "550E8400-E29B-41D4-A716-446655440000",
      "550e8400e29b41d4a716446655440000",
      "550E8400E29B41D4A716446655440000",
      "{550e8400-e29b-41d4-a716-446655440000}",
      "urn:uuid:550e8400-e29b-41d4-a716-446655440000",
      "URN:UUID:550E8400-e29b-41d4-a716-446655440000",
      "  550e8400-e29b-41d4-a716-446655440000\t\r\n",
      " {550e8400-e29b-41d4-a716-446655440000} ",
  };
  for (const char* f : forms) {
    auto u = Uuid::parse(f);
    ASSERT_TRUE(u.has_value()) << f;
    EXPECT_EQ(u->to_string(), expected) << f;
  }
}

TEST(IdsTest, UuidParseRejects) {
  const char* bad[] = {
      "",
      "   ",
      "550e8400-e29b-41d4-a716-44665544000",     // too short
      "550e8400-e29b-41d4-a716-4466554400000",   // too long
      "550e8400-e29b-41d4-a716-44665544000g",    // non-hex
      "550e8400e29b-41d4-a716-4466554400000",    // hyphen misplaced
      "550e8400-e29b-41d4-a716+446655440000",    // wrong separator
      "550e8400e29b41d4a71644665544000",         // 31 hex digits
      "{550e8400-e29b-41d4-a716-446655440000",   // unbalanced brace
      "(550e8400-e29b-41d4-a716-446655440000)",  // wrong brackets
      "urn:uid:550e8400-e29b-41d4-a716-446655440000",
      "urn:uuid:550e8400e29b41d4a716446655440000",
      "550e8400-e29b-41d4-a716-4466 5544000",
      "-550e8400-e29b-41d4-a716-44665544000",
  };
  for (const char* b : bad) EXPECT_FALSE(Uuid::parse(b).has_value()) << b;
}

TEST(IdsTest, UuidToStringAndNil) {
  EXPECT_TRUE(Uuid::nil().is_nil());
  EXPECT_EQ(Uuid::nil().to_string(), "00000000-0000-0000-0000-000000000000");
  EXPECT_FALSE(kPartitionKeyNamespace.is_nil());
  const Uuid u = U("F3A6A672-D89E-53BD-89AC-7DDDD5C04A94");
  EXPECT_EQ(u.to_string(), "f3a6a672-d89e-53bd-89ac-7dddd5c04a94");
  EXPECT_EQ(Uuid::parse(u.to_string()), u);
}

TEST(IdsTest, UuidOrderingIsByteOrder) {
  EXPECT_LT(U("00000000-0000-0000-0000-000000000001"), U("00000000-0000-0000-0000-000000000002"));
  EXPECT_LT(U("00000000-0000-0000-0000-0000000000ff"), U("01000000-0000-0000-0000-000000000000"));
  // Event ids sort by time.
  EXPECT_LT(event_id_from_parts(1, 0xFFF, 0xFFFF, 0), event_id_from_parts(2, 0, 0, 0));
}

TEST(IdsTest, UuidHashDiffers) {
  const UuidHash h;
  const Uuid a = U("550e8400-e29b-41d4-a716-446655440000");
  Uuid b = a;
  b.bytes[15] ^= 1;
  Uuid c = a;
  c.bytes[0] ^= 1;
  EXPECT_EQ(h(a), h(a));
  EXPECT_NE(h(a), h(b));
  EXPECT_NE(h(a), h(c));
  EXPECT_EQ(std::hash<Uuid>{}(a), h(a));
}

}  // namespace
}  // namespace sierra
