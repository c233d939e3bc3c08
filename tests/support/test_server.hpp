// What the server tests start: a Config for a server on 127.0.0.1 with a port the OS chooses
// (no cluster, two read threads, one writer) over a data directory, the database such a server
// runs on (one writer thread, engine log lines dropped, commits announced to a hub), and a
// fixture with such a server and its hub (subscriptions, blocking reads, pub/sub channels).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "engine/database.hpp"
#include "server/config.hpp"
#include "server/server.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "support/temp_dir.hpp"

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

// A server with a SubscriptionHub over a fresh data directory (strict versioning off); the test
// calls start() (or its SetUp does).
class HubServerTest : public ::testing::Test {
 protected:
  explicit HubServerTest(std::string_view dir_prefix) : tmp_(dir_prefix) {}
  void TearDown() override { server_.reset(); }

  void start() {
    sierra::server::Config c = loopback_config(dir_);
    c.append.strict_versioning = false;
    hub_ = std::make_shared<sierra::server::SubscriptionHub>();
    auto db = open_test_database(c, hub_.get());
    ASSERT_TRUE(db.has_value()) << db.error().to_string();
    partitions_ = c.partition.count;
    auto s = sierra::server::Server::start(c, *db, hub_);
    ASSERT_TRUE(s.has_value()) << s.error();
    server_ = std::move(*s);
  }

  uint16_t port() const { return server_->port(); }

  TempDir tmp_;
  std::filesystem::path dir_ = tmp_.path();
  std::shared_ptr<sierra::server::SubscriptionHub> hub_;
  std::unique_ptr<sierra::server::Server> server_;
  uint16_t partitions_ = 32;
};

}  // namespace sierra::test_support
