// What the server tests start: a Config for a server on 127.0.0.1 with a port the OS chooses
// (no cluster, two read threads, one writer) over a data directory, and the database such a
// server runs on (one writer thread, engine log lines dropped, commits announced to a hub).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "engine/database.hpp"
#include "server/config.hpp"
#include "server/subscriptions/subscription_hub.hpp"

namespace sierra::test_support {

inline sierra::server::Config loopback_config(const std::filesystem::path& dir,
                                              uint64_t segment_bytes = 4 << 20) {
  sierra::server::Config c;
  c.dir = dir.string();
  c.network.client_address = "127.0.0.1:0";
  c.network.client_host = "127.0.0.1";
  c.network.client_port = 0;
  c.network.cluster_enabled = false;
  c.segment.size_bytes = segment_bytes;
  c.threads.read = 2;
  c.threads.write = 1;
  return c;
}

// `hub`: where commits are announced (subscriptions, blocking reads); null for none.
inline sierra::Result<std::shared_ptr<sierra::Database>> open_test_database(
    const sierra::server::Config& c, sierra::server::SubscriptionHub* hub = nullptr) {
  sierra::DatabaseBuilder b;
  b.partition_count(c.partition.count)
      .total_buckets(c.bucket.count)
      .segment_size(c.segment.size_bytes)
      .writer_threads(1)
      .log_sink([](sierra::LogLevel, std::string_view) {});
  if (hub != nullptr) b.on_commit(hub->listener());
  return b.open(c.dir);
}

}  // namespace sierra::test_support
