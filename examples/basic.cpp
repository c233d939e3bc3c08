// The snippet a C++ user copies: open a data directory, append to a stream with an expected
// version, read the stream back. Run: ./build/example_basic [dir]   (default ./data-example)
#include <chrono>
#include <cstdio>
#include <string>

#include "engine/database.hpp"

int main(int argc, char** argv) {
  using namespace sierra;
  const std::string dir = argc > 1 ? argv[1] : "./data-example";

  auto db = DatabaseBuilder().partition_count(32).total_buckets(4).open(dir);
  if (!db) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(), db.error().to_string().c_str());
    return 1;
  }

  const std::string stream = "user-123";
  const Uuid key = partition_key_for_stream(stream);            // default partition key
  const PartitionId partition = partition_id_for_key(key, 32);  // 21 for "user-123"

  // Append with an exact expected version so concurrent writers cannot interleave.
  auto latest = (*db)->get_stream_version(partition, stream);
  if (!latest) return 1;
  const ExpectedVersion expected =
      *latest ? ExpectedVersion::exact((*latest)->version) : ExpectedVersion::empty();
  NewEvent event;
  event.event_id = new_event_id(partition_hash(key));
  event.partition_key = key;
  event.stream_id = stream;
  event.expected_version = expected;
  event.event_name = "UserRegistered";
  event.timestamp_ns =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  event.payload = R"({"name":"Ada"})";

  auto tx = Transaction::make({event});
  if (!tx) {
    std::fprintf(stderr, "invalid transaction: %s\n", tx.error().to_string().c_str());
    return 1;
  }
  auto appended = (*db)->append_events(partition, std::move(*tx));
  if (!appended) {
    std::fprintf(stderr, "append: %s\n", appended.error().to_string().c_str());
    return 1;
  }
  std::printf("appended %s to %s: partition %u sequence %llu, stream version %llu\n",
              event.event_id.to_string().c_str(), stream.c_str(), partition,
              static_cast<unsigned long long>(appended->first_partition_sequence),
              static_cast<unsigned long long>(appended->stream_versions[0]));

  // Read the whole stream back (durable and visible as soon as the append returned).
  auto it = (*db)->read_stream(partition, stream, 0);
  if (!it) return 1;
  while (true) {
    auto ev = it->next();
    if (!ev) {
      std::fprintf(stderr, "read: %s\n", ev.error().to_string().c_str());
      return 1;
    }
    if (!*ev) break;
    std::printf("  %s@%llu %s %s\n", (*ev)->stream_id.c_str(),
                static_cast<unsigned long long>((*ev)->stream_version), (*ev)->event_name.c_str(),
                (*ev)->payload.c_str());
  }
  return 0;
}
