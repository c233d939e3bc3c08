// The node-to-node transport (CLUSTER §2, issue 16): one TCP connection per peer pair carries
// every bucket group's frames (cluster/frame.hpp). The node with the lower id dials, the higher
// one accepts; both open with a Hello frame (node id, cluster id), and a connection whose Hello
// is wrong is closed. A dialer whose connection drops reconnects with exponential backoff and
// jitter. Each peer has a bounded send queue: a slow or absent peer costs at most
// Options::max_queued_bytes, and frames over it are dropped and counted (Raft retransmits).
// Test-only fault injection (drop or delay frames to or from a peer) exists in every build but is
// refused unless Options::allow_fault_injection is set (the server's explicit test flag).
//
// Threading: the io_context given to start() must be run by exactly one thread; every method
// is called on that thread (post() to it from others), and callbacks run on it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "cluster/frame.hpp"
#include "engine/error.hpp"

namespace asio {
class io_context;
}

namespace sierra::cluster {

class Transport {
 public:
  struct Peer {
    uint64_t id = 0;   // > 0, not this node's
    std::string host;  // an address to dial (a literal IP or a resolvable name)
    uint16_t port = 0;
  };
  struct Options {
    uint64_t node_id = 0;     // > 0
    uint64_t cluster_id = 0;  // both ends of a connection must agree
    std::string listen_host = "127.0.0.1";
    uint16_t listen_port = 0;  // 0: an ephemeral port (port() tells which)
    std::vector<Peer> peers;
    size_t max_queued_bytes = 64u << 20;  // per peer
    uint32_t max_frame_payload = kDefaultMaxFramePayload;
    unsigned reconnect_min_ms = 50;
    unsigned reconnect_max_ms = 2000;
    unsigned hello_timeout_ms = 5000;  // an accepted connection must say Hello within this
    bool allow_fault_injection = false;
  };
  // A verified frame from peer `from` (Hello frames are the transport's own and not passed on).
  using OnFrame = std::function<void(uint64_t from, Frame frame)>;
  // The connection to `peer` came up (true) or went down (false).
  using OnPeerState = std::function<void(uint64_t peer, bool up)>;

  struct PeerStats {
    bool connected = false;
    uint64_t connects = 0;  // handshakes completed
    uint64_t frames_sent = 0;
    uint64_t frames_received = 0;
    uint64_t bytes_sent = 0;
    uint64_t dropped_queue_full = 0;
    uint64_t dropped_by_fault = 0;
    size_t queued_bytes = 0;
  };

  enum class Direction : uint8_t { Outgoing, Incoming, Both };
  struct Fault {
    double drop = 0.0;      // probability a frame is dropped
    unsigned delay_ms = 0;  // every frame held this long first (outgoing only)
  };

  // Listens and starts dialing the peers with a higher id. InvalidArgument for a bad option
  // (node id 0, a peer with this node's id or twice); Io when the address cannot be bound.
  static Result<std::unique_ptr<Transport>> start(asio::io_context& io, Options options,
                                                  OnFrame on_frame, OnPeerState on_state = {});
  ~Transport();  // stop()
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  uint16_t port() const;
  // Queues a frame for `to`; false if it was dropped (unknown peer, queue full, fault, stopped).
  bool send(uint64_t to, uint32_t group, FrameKind kind, std::span<const uint8_t> payload);
  PeerStats stats(uint64_t peer) const;
  // Test-only (refused with InvalidArgument unless Options::allow_fault_injection): applies
  // `fault` to frames to and/or from `peer`; Fault{} clears it.
  Status set_fault(uint64_t peer, Direction direction, Fault fault);
  // Closes the listener and every connection; queued frames are dropped. Idempotent.
  void stop();

  class Impl;
  struct PassKey {
    explicit PassKey() = default;
  };
  Transport(PassKey, std::shared_ptr<Impl> impl);

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sierra::cluster
