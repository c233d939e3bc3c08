// Helpers of the tests that run nodes over loopback TCP on one io_context (tests/cluster): run
// the io_context until a condition holds (bounded in time), and pick distinct free ports.
#pragma once

#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace sierra::test_support {

// Runs `io` until `done()` or the deadline; true if done.
inline bool run_until(asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  return true;
}

// `n` distinct free loopback ports (all held while they are picked, then released: the tests
// start and restart nodes on them).
inline std::vector<uint16_t> free_ports(size_t n) {
  asio::io_context io;
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> held;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    held.push_back(std::make_unique<asio::ip::tcp::acceptor>(
        io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)));
    ports.push_back(held.back()->local_endpoint().port());
  }
  return ports;
}

}  // namespace sierra::test_support
