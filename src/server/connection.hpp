// One client connection: reads requests (pipelined), dispatches them to the command handlers,
// and writes their replies in request order, batched, with backpressure; subscription pushes are
// written between complete replies.
#pragma once

#include <asio.hpp>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "resp/request_parser.hpp"
#include "server/commands/command.hpp"
#include "server/tls/client_stream.hpp"

namespace sierra::server {

class Connection final : public ClientLink, public std::enable_shared_from_this<Connection> {
 public:
  // Stop reading while more than this many requests await their replies.
  static constexpr std::size_t kMaxOutstandingRequests = 10000;
  // Stop parsing while this many reads of the connection run (or wait) on the read pool. A
  // read's reply can be large (ESCAN/EPSCAN COUNT 10000 of big events) and only counts against
  // limits.max_pending_reply_bytes once finished, so without this cap a client that pipelines
  // big reads and never reads its replies makes the server build every one of them in memory.
  // Memory per connection stays below max_pending_reply_bytes + this many replies. More would
  // not run faster: the read pool has threads.read (at most 32) threads for all connections.
  static constexpr std::size_t kMaxReadsInFlight = 16;

  // Every handler of the connection runs on a strand made from the socket's executor.
  Connection(asio::ip::tcp::socket socket, ServerContext& ctx, uint64_t id);
  // Over a TLS stream (its handshake done) or a plain socket.
  Connection(ClientStream stream, ServerContext& ctx, uint64_t id);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts the read loop (call once, after construction, from any thread).
  void start();
  // Instead of start(): writes `line` (a complete RESP error) and closes, reading nothing
  // (protected mode's refusal).
  void refuse(std::string line);

  // Thread-safe. Queues pre-encoded push bytes (encoded for session().protocol); they are
  // written after the replies that are already complete and never inside a reply. Dropped once
  // the connection is closing.
  void push(std::string bytes) override;

  // Thread-safe. `cb` runs once when the connection closes (on the connection's strand), or at
  // once if it has already closed. Used to drop subscriptions.
  void on_close(std::function<void()> cb) override;

  // Thread-safe. Graceful stop: no new requests are read; the connection closes once its
  // outstanding replies are written.
  void shutdown();
  // Thread-safe. Closes at once, dropping unwritten replies.
  void force_close();

  uint64_t id() const { return id_; }
  // The client's address (for protected mode).
  asio::ip::address peer_address(asio::error_code& ec) {
    return stream_.socket().remote_endpoint(ec).address();
  }
  uint64_t client_id() const override { return id_; }
  // Owned by the strand: read or change it only from a command handler of this connection.
  Session& session() { return session_; }
  // Bytes of replies and pushes queued but not yet written to the socket (approximate).
  std::size_t pending_bytes() const override {
    return pending_bytes_.load(std::memory_order_relaxed);
  }
  bool closed() const override { return closed_.load(std::memory_order_acquire); }

  // Counts `job` as one of this connection's reads in flight until it returns (see
  // kMaxReadsInFlight); the job is skipped if the connection closed meanwhile.
  std::function<void()> track_read(std::function<void()> job) override;
  std::shared_ptr<void> hold_read() override;
  std::shared_ptr<ClientLink> share() override { return shared_from_this(); }
  void run_after(std::chrono::milliseconds delay, std::function<void()> job) override;

 private:
  using Strand = asio::strand<asio::any_io_executor>;
  struct Entry {
    ReplyPtr reply;
    std::string after;  // pushes to write right after this reply
  };

  void do_read();
  void on_read(const asio::error_code& ec, std::size_t n);
  // Parses and dispatches every complete command buffered (until backpressure or closing).
  void process_input();
  // `spec` is find_command(args[0]), looked up once by process_input (nullptr: unknown).
  void dispatch(std::span<const std::string_view> args, const CommandSpec* spec);
  void enqueue_error(std::string_view message);
  // Moves every leading finished reply (and the pushes after it) to staged_.
  void collect();
  // Writes what is staged (one write at a time), closes once closing and drained, otherwise
  // handles buffered input and resumes reading unless over the limits.
  void flush();
  void on_write(const asio::error_code& ec, std::size_t n);
  std::size_t blocked_reply_bytes() const;
  bool over_limits() const;
  bool reads_blocked() const;
  // True if the parsed command must wait for the commands before it (see appends_in_flight_).
  bool must_wait(const CommandSpec* spec);
  // Called by a tracked read job when it returns (any thread).
  void read_returned();
  void close();
  // Called by a Reply's on_finish from any thread.
  void reply_finished();

  ClientStream stream_;
  Strand strand_;
  ServerContext& ctx_;
  uint64_t id_;
  Session session_;
  resp::RequestParser parser_;
  std::size_t max_pending_bytes_;

  // Input: bytes [0, in_len_) of in_buf_ are unconsumed input (passed again to the parser).
  std::string in_buf_;
  std::size_t in_len_ = 0;
  std::size_t want_ = 0;         // the parser needs this many buffered bytes to progress
  bool unparsed_input_ = false;  // backpressure stopped parsing with input left
  bool reading_ = false;         // a read is in progress
  bool read_eof_ = false;        // no more input will be read
  bool in_process_ = false;      // inside process_input (replies finished inline wait for it)
  // Parsing stopped at a command that waits for the appends / the reads before it.
  enum class Wait : uint8_t { None, Appends, Reads } wait_ = Wait::None;

  std::deque<Entry> replies_;  // outstanding requests, in order
  std::string staged_;         // complete replies and pushes ready to write, in order
  std::string writing_;        // bytes of the write in progress
  bool write_in_progress_ = false;
  bool closing_ = false;  // no more requests; close once everything queued is written
  std::atomic<bool> closed_{false};
  std::atomic<bool> flush_posted_{false};  // a flush from reply_finished is queued on the strand
  std::atomic<std::size_t> pending_bytes_{0};
  std::atomic<std::size_t> reads_in_flight_{0};
  std::atomic<std::size_t> holds_{0};  // blocked reads (hold_read) not finished
  // Appends (EAPPEND, EMAPPEND) dispatched and not finished. They complete later, on the
  // engine's writer threads, and reads on the read pool, so pipelined commands keep their order
  // where it shows (PROTOCOL §1.6: each command sees the effects of the ones before it, and none
  // of the ones after it): a command after an append waits for it (ESCAN right after EAPPEND
  // returns the new event), and an append after a read waits for the read (which must not see
  // it). Appends do not wait for appends (the engine applies a partition's appends in the order
  // they were queued), nor reads for reads.
  std::atomic<std::size_t> appends_in_flight_{0};

  std::mutex close_mu_;
  std::vector<std::function<void()>> close_callbacks_;
  bool callbacks_ran_ = false;
};

}  // namespace sierra::server
