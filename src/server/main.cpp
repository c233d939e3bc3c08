// sierradb: loads the configuration, opens the database, serves clients until SIGINT/SIGTERM,
// then stops gracefully; SIGHUP reloads the users from the configuration (docs/SECURITY.md). Exit
// codes: 0 normal stop, --help, --version; 1 start-up failure (database, listener); the
// configuration loader's code (2) for a bad configuration.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <asio.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "cluster/raft_shim.h"
#include "engine/check/command.hpp"
#include "engine/database.hpp"
#include "server/config.hpp"
#include "server/fd_limit.hpp"
#include "server/server.hpp"
#include "server/subscriptions/subscription_hub.hpp"
#include "server/tls/tls_context.hpp"

namespace {

using sierra::server::Config;

spdlog::level::level_enum spd_level(sierra::server::LogLevel level) {
  using L = sierra::server::LogLevel;
  switch (level) {
    case L::Trace:
      return spdlog::level::trace;
    case L::Debug:
      return spdlog::level::debug;
    case L::Info:
      return spdlog::level::info;
    case L::Warn:
      return spdlog::level::warn;
    case L::Error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

void engine_log(sierra::LogLevel level, std::string_view msg) {
  switch (level) {
    case sierra::LogLevel::Trace:
      spdlog::trace("engine: {}", msg);
      break;
    case sierra::LogLevel::Debug:
      spdlog::debug("engine: {}", msg);
      break;
    case sierra::LogLevel::Info:
      spdlog::info("engine: {}", msg);
      break;
    case sierra::LogLevel::Warn:
      spdlog::warn("engine: {}", msg);
      break;
    case sierra::LogLevel::Error:
      spdlog::error("engine: {}", msg);
      break;
  }
}

std::string human_bytes(uint64_t n) {
  if (n % sierra::server::kGiB == 0) return std::to_string(n / sierra::server::kGiB) + " GiB";
  if (n % sierra::server::kMiB == 0) return std::to_string(n / sierra::server::kMiB) + " MiB";
  if (n % sierra::server::kKiB == 0) return std::to_string(n / sierra::server::kKiB) + " KiB";
  return std::to_string(n) + " B";
}

int run(int argc, char** argv) {
  auto loaded = sierra::server::load_config(argc, argv, sierra::server::capture_environment());
  if (!loaded) {
    const auto& err = loaded.error();
    std::FILE* out = err.exit_code == 0 ? stdout : stderr;
    std::fprintf(out, "%s\n", err.message.c_str());
    return err.exit_code;
  }
  Config config = std::move(*loaded);
  if (config.tls.enabled()) {
    // Bad or missing certificate/key files are configuration errors: say so before anything.
    sierra::server::tls::TlsSettings settings{config.tls.cert_file, config.tls.key_file,
                                              std::nullopt, config.tls.require_client_cert};
    if (!config.tls.ca_file.empty()) settings.ca_file = config.tls.ca_file;
    if (auto ok = sierra::server::tls::make_server_context(settings); !ok) {
      std::fprintf(stderr, "config error: %s\n", ok.error().c_str());
      return 2;
    }
  }

  auto logger = spdlog::stdout_color_mt("sierradb");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  spdlog::set_level(spd_level(config.log.level));
  spdlog::flush_on(spdlog::level::info);

  for (const auto& w : config.warnings) spdlog::warn("config: {}", w);
  if (!config.config_file.empty()) spdlog::debug("config file: {}", config.config_file);
  spdlog::debug("config: {}", sierra::server::describe(config));

  std::signal(SIGPIPE, SIG_IGN);
  // Signals are watched from the start so that a signal during start-up (recovery) also stops
  // cleanly.
  asio::io_context signals_io;
  asio::signal_set signals(signals_io, SIGINT, SIGTERM);
  int received = 0;
  asio::signal_set hangup(signals_io, SIGHUP);
  signals.async_wait([&received, &hangup](const asio::error_code& ec, int sig) {
    if (!ec) received = sig;
    asio::error_code ignored;
    hangup.cancel(ignored);
  });
  sierra::server::Server* running = nullptr;  // set once the server is up
  std::function<void()> wait_hangup = [&] {
    hangup.async_wait([&](const asio::error_code& ec, int) {
      if (ec) return;
      if (running == nullptr) {
        spdlog::info("received SIGHUP before the server was up; ignored");
      } else if (auto fresh =
                     sierra::server::load_config(argc, argv, sierra::server::capture_environment());
                 !fresh) {
        spdlog::error("SIGHUP: {}; keeping the current users", fresh.error().message);
      } else if (auto ok = running->reload_auth(*fresh); !ok) {
        spdlog::error("SIGHUP: config error: {}; keeping the current users", ok.error());
      }
      wait_hangup();
    });
  };
  wait_hangup();

  // The replication library is linked statically and pinned (docs/CLUSTER.md): a build against
  // any other version must not run, since the driver follows 0.22.1's ownership rules.
  if (!raft_shim_version_ok()) {
    spdlog::error(
        "C-Raft {} is linked, but this build requires exactly 0.22.1 ({}): rebuild "
        "after `make deps`",
        raft_shim_version(), RAFT_SHIM_REQUIRED_VERSION);
    return 1;
  }
  spdlog::debug("C-Raft {} (required {})", raft_shim_version(), RAFT_SHIM_REQUIRED_VERSION);

  // Open the database (recovers every owned bucket).
  const auto open_started = std::chrono::steady_clock::now();
  auto hub = std::make_shared<sierra::server::SubscriptionHub>();
  sierra::DatabaseBuilder builder;
  builder.partition_count(config.partition.count)
      .total_buckets(config.bucket.count)
      .bucket_ids(
          std::vector<sierra::BucketId>(config.owned_buckets.begin(), config.owned_buckets.end()))
      .segment_size(config.segment.size_bytes)
      .writer_threads(config.threads.write)
      .flush_interval_duration(std::chrono::milliseconds(config.sync.interval_ms))
      .flush_interval_events(static_cast<uint32_t>(config.sync.max_batch_size))
      .log_sink(engine_log)
      .on_commit(hub->listener());
  sierra::server::raise_fd_limit();
  auto db = builder.open(config.dir);
  if (!db) {
    spdlog::error("cannot open database in {}: {}", config.dir, db.error().to_string());
    return 1;
  }
  {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - open_started)
                        .count();
    uint64_t events = 0;
    unsigned partitions = 0;
    for (uint16_t p = 0; p < config.partition.count; ++p) {
      if (!(*db)->owns_partition(p)) continue;
      auto seq = (*db)->get_partition_sequence(p);
      if (seq && *seq) {
        events += **seq + 1;
        ++partitions;
      }
    }
    spdlog::info("database recovered in {} ms: {} buckets, {} events in {} partitions", ms,
                 config.owned_buckets.size(), events, partitions);
  }

  auto server = sierra::server::Server::start(config, *db, hub);
  if (!server) {
    spdlog::error("{}", server.error());
    (*db)->close();
    return 1;
  }
  db->reset();  // owned by the server from now on
  running = server->get();

  spdlog::info(
      "sierradb {} ready to receive connections on {} (dir {}, {} partitions, {} buckets, "
      "segment size {}, node id {})",
      SIERRA_VERSION, (*server)->address(), config.dir, config.partition.count, config.bucket.count,
      human_bytes(config.segment.size_bytes), (*server)->context().peer_id);

  signals_io.run();  // until SIGINT / SIGTERM
  running = nullptr;
  spdlog::info("received {}, shutting down", received == SIGINT ? "SIGINT" : "SIGTERM");
  (*server)->stop();
  server->reset();
  spdlog::info("goodbye :)");
  spdlog::shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // `sierradb check <dir> [--repair]`: the offline verifier (engine/check/command.hpp).
  if (argc >= 2 && std::string_view(argv[1]) == "check") return sierra::run_check(argc, argv);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fatal: %s\n", e.what());
    return 1;
  }
}
