// Client commands forwarded between nodes (issue 16, routing): a node that does not lead a
// bucket sends the command's arguments to the leader in a Forward frame, and the leader's reply
// (the RESP bytes its client would have got) comes back in a ForwardReply frame, matched by a
// request id. Every request is answered exactly once: with the reply; with Busy (not sent: too
// many in flight, or the peer's queue is full, so a retry elsewhere is safe); or with
// OutcomeUnknown when it was sent but no reply came (timeout, or the connection to the peer went
// down): the command may have run, and an append retried with the same event ids is safe.
//
//   Forward payload:      u64 request id, u32 bucket, u32 argc, argc x {u32 length, bytes}
//   ForwardReply payload: u64 request id, the reply bytes
//
// Threading: one io_context run by one thread; every call and callback on it.
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

class Forwarder {
 public:
  // Sends one frame to a peer; false if it was not queued (Transport::send).
  using Send = std::function<bool(uint64_t to, FrameKind kind, std::span<const uint8_t> payload)>;
  // Runs a forwarded command on this node; `reply` must be called once, with the reply bytes.
  using Reply = std::function<void(std::vector<uint8_t> bytes)>;
  using Handler = std::function<void(uint64_t from, uint32_t bucket, std::vector<std::string> args,
                                     Reply reply)>;
  using Done = std::function<void(Result<std::vector<uint8_t>>)>;

  struct Options {
    unsigned timeout_ms = 5000;
    size_t max_in_flight = 10000;
  };
  struct Stats {
    uint64_t forwarded = 0;
    uint64_t replied = 0;
    uint64_t timed_out = 0;
    uint64_t peer_down = 0;
    uint64_t refused_busy = 0;
    uint64_t served = 0;        // forwarded commands run here
    uint64_t malformed = 0;     // frames that did not parse (dropped)
    uint64_t late_replies = 0;  // replies after their request was answered otherwise
  };

  static std::unique_ptr<Forwarder> make(asio::io_context& io, Options options, Send send,
                                         Handler handler);
  ~Forwarder();

  // Forwards `args` (a command, its name first) for `bucket` to node `to`.
  void forward(uint64_t to, uint32_t bucket, std::vector<std::string> args, Done done);
  // Forward and ForwardReply frames from the transport (others are ignored).
  void on_frame(uint64_t from, const Frame& frame);
  // The connection to `peer` went down: its requests in flight get OutcomeUnknown now.
  void on_peer_down(uint64_t peer);
  size_t in_flight() const;
  const Stats& stats() const;
  // Answers every request in flight with OutcomeUnknown and stops (replies from the handler
  // after this are dropped). Idempotent.
  void stop();

  class Impl;
  struct PassKey {
    explicit PassKey() = default;
  };
  Forwarder(PassKey, std::shared_ptr<Impl> impl);

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sierra::cluster
