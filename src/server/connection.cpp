#include "server/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

namespace sierra::server {

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
// A read buffer larger than this is released once it no longer holds a large frame.
constexpr std::size_t kKeepBufferBytes = 1024 * 1024;
// Longest command name quoted in the unknown-command error.
constexpr std::size_t kMaxQuotedName = 128;

resp::Limits parser_limits(const Config& config) {
  resp::Limits l;
  l.max_bulk_len = static_cast<std::size_t>(config.limits.max_bulk_bytes);
  l.max_array_len = config.limits.max_array_len;
  return l;
}

std::string upper_name(std::string_view name) {
  std::string up(name.substr(0, kMaxQuotedName));
  for (char& c : up) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return up;
}

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, ServerContext& ctx, uint64_t id)
    : Connection(ClientStream(std::move(socket)), ctx, id) {}

Connection::Connection(ClientStream stream, ServerContext& ctx, uint64_t id)
    : stream_(std::move(stream)),
      strand_(asio::make_strand(stream_.get_executor())),
      ctx_(ctx),
      id_(id),
      parser_(parser_limits(ctx.config)),
      max_pending_bytes_(static_cast<std::size_t>(ctx.config.limits.max_pending_reply_bytes)) {
  session_.id = id;
  asio::error_code ec;
  const auto peer = stream_.socket().remote_endpoint(ec);
  if (!ec) {
    session_.peer = peer.address().is_v6()
                        ? "[" + peer.address().to_string() + "]:" + std::to_string(peer.port())
                        : peer.address().to_string() + ":" + std::to_string(peer.port());
  }
}

Connection::~Connection() {
  // Normally close() ran; if the connection is destroyed with its executor (server teardown),
  // still tell the subscribers.
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(close_mu_);
    if (!callbacks_ran_) {
      callbacks_ran_ = true;
      callbacks.swap(close_callbacks_);
    }
  }
  for (auto& cb : callbacks) cb();
}

std::function<void()> Connection::track_read(std::function<void()> job) {
  auto self = shared_from_this();
  self->reads_in_flight_.fetch_add(1, std::memory_order_acq_rel);
  return [self = std::move(self), job = std::move(job)] {
    struct Returned {
      Connection* c;
      ~Returned() { c->read_returned(); }
    } returned{self.get()};
    // A connection closed in the meantime discards the reply: skip the work. (A client that
    // queued big scans and went away would otherwise keep the read pool busy for nothing, and
    // the replies of other connections waiting behind it.)
    if (self->closed()) return;
    job();
  };
}

std::shared_ptr<void> Connection::hold_read() {
  reads_in_flight_.fetch_add(1, std::memory_order_acq_rel);
  holds_.fetch_add(1, std::memory_order_acq_rel);
  struct Hold {
    std::shared_ptr<Connection> c;
    explicit Hold(std::shared_ptr<Connection> conn) : c(std::move(conn)) {}
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() {
      c->holds_.fetch_sub(1, std::memory_order_acq_rel);
      c->read_returned();
    }
  };
  return std::make_shared<Hold>(shared_from_this());
}

void Connection::read_returned() {
  // Parsing stopped at kMaxReadsInFlight resumes once the count drops below it, and an append
  // waiting for the reads before it once it drops to 0. (The job finished its reply before
  // returning, and that flush may have run before this count dropped.)
  const std::size_t before = reads_in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  if (before == kMaxReadsInFlight || before == 1) {
    asio::post(strand_, [self = shared_from_this()] { self->flush(); });
  }
}

bool Connection::must_wait(const CommandSpec* spec) {
  if (spec != nullptr && spec->appends()) {
    if (reads_in_flight_.load(std::memory_order_acquire) != 0) wait_ = Wait::Reads;
  } else if (appends_in_flight_.load(std::memory_order_acquire) != 0) {
    wait_ = Wait::Appends;
  }
  return wait_ != Wait::None;
}

bool Connection::reads_blocked() const {
  return reads_in_flight_.load(std::memory_order_acquire) >= kMaxReadsInFlight;
}

void Connection::start() {
  asio::dispatch(strand_, [self = shared_from_this()] { self->flush(); });
}

void Connection::refuse(std::string line) {
  asio::dispatch(strand_, [self = shared_from_this(), l = std::move(line)]() mutable {
    self->closing_ = true;
    self->staged_ = std::move(l);
    self->flush();
  });
}

void Connection::run_after(std::chrono::milliseconds delay, std::function<void()> job) {
  auto timer = std::make_shared<asio::steady_timer>(strand_, delay);
  timer->async_wait([timer, job = std::move(job)](const asio::error_code&) { job(); });
}

void Connection::push(std::string bytes) {
  asio::post(strand_, [self = shared_from_this(), b = std::move(bytes)]() mutable {
    if (self->closing_ || self->closed()) return;
    self->collect();
    // A push goes after every reply that is already complete (so the reply to ESUB precedes
    // the pushes of its subscription), and never inside a reply.
    for (auto it = self->replies_.rbegin(); it != self->replies_.rend(); ++it) {
      if (it->reply->done()) {
        it->after.append(b);
        self->flush();
        return;
      }
    }
    self->staged_.append(b);
    self->flush();
  });
}

void Connection::on_close(std::function<void()> cb) {
  {
    std::lock_guard lock(close_mu_);
    if (!callbacks_ran_) {
      close_callbacks_.push_back(std::move(cb));
      return;
    }
  }
  cb();
}

void Connection::shutdown() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->closed()) return;
    self->closing_ = true;
    self->flush();
  });
}

void Connection::force_close() {
  asio::post(strand_, [self = shared_from_this()] { self->close(); });
}

// ------------------------------------------------------------------------------------ input

void Connection::do_read() {
  if (reading_ || read_eof_ || closing_ || closed()) return;
  // Room for the next read. For a large frame, grow towards what the parser wants, at most
  // doubling per read: memory stays proportional to the bytes actually received (a client that
  // declares a huge bulk and sends nothing does not get a huge buffer).
  std::size_t need = kReadChunk;
  if (want_ > in_len_) {
    need = std::clamp(want_ - in_len_, kReadChunk, std::max(in_len_, kReadChunk));
  }
  if (in_buf_.size() < in_len_ + need) {
    in_buf_.resize(in_len_ + need);
  } else if (in_buf_.size() > kKeepBufferBytes && in_len_ + need <= kKeepBufferBytes) {
    in_buf_.resize(std::max(in_len_ + need, kReadChunk));
    in_buf_.shrink_to_fit();
  }
  reading_ = true;
  stream_.async_read_some(
      asio::buffer(in_buf_.data() + in_len_, in_buf_.size() - in_len_),
      asio::bind_executor(strand_,
                          [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                            self->on_read(ec, n);
                          }));
}

void Connection::on_read(const asio::error_code& ec, std::size_t n) {
  reading_ = false;
  if (closed()) return;
  if (ec) {
    if (ec == asio::error::eof && holds_.load(std::memory_order_acquire) != 0) {
      // A blocked read (BLOCK) may wait forever: as Redis, a client that goes away while
      // blocked is dropped at once, which cancels its wait.
      close();
    } else if (ec == asio::error::eof) {
      // Close on EOF, even with a partial frame buffered; requests already received still get
      // their replies (the client may have only half-closed).
      read_eof_ = true;
      closing_ = true;
      flush();
    } else {
      if (ec != asio::error::operation_aborted) {
        spdlog::debug("connection {}: read error: {}", id_, ec.message());
      }
      close();
    }
    return;
  }
  ctx_.stats.net_input_bytes.fetch_add(n, std::memory_order_relaxed);
  in_len_ += n;
  if (closing_) {
    in_len_ = 0;  // stopping: ignore new requests
  } else {
    process_input();
  }
  flush();
}

void Connection::process_input() {
  in_process_ = true;
  unparsed_input_ = false;
  wait_ = Wait::None;
  std::size_t off = 0;
  std::size_t count = 0;
  want_ = 0;
  while (!closing_) {
    if (replies_.size() >= kMaxOutstandingRequests || reads_blocked() ||
        staged_.size() + writing_.size() >= max_pending_bytes_ ||
        ((++count & 255) == 0 && (collect(), over_limits()))) {
      unparsed_input_ = off < in_len_;
      break;
    }
    resp::ParseResult r = parser_.parse(std::string_view(in_buf_.data() + off, in_len_ - off));
    if (r.status == resp::ParseStatus::Command) {
      const auto args = parser_.args();
      const CommandSpec* spec = args.empty() ? nullptr : find_command(args[0]);
      if (must_wait(spec)) {
        // Left in the buffer and parsed again once the commands it waits for have finished
        // (the parser keeps no state after a command).
        unparsed_input_ = true;
        break;
      }
      dispatch(args, spec);
      off += r.consumed;
    } else if (r.status == resp::ParseStatus::NeedMore) {
      off += r.consumed;
      if (r.want != 0) want_ = r.want;
      break;
    } else {
      spdlog::debug("connection {}: {}", id_, parser_.error());
      enqueue_error(parser_.error());
      closing_ = true;
      break;
    }
  }
  in_process_ = false;
  if (closed()) return;
  if (closing_) {
    in_len_ = 0;
    return;
  }
  if (off > 0) {
    std::memmove(in_buf_.data(), in_buf_.data() + off, in_len_ - off);
    in_len_ -= off;
  }
}

void Connection::dispatch(std::span<const std::string_view> args, const CommandSpec* spec) {
  ctx_.stats.commands_processed.fetch_add(1, std::memory_order_relaxed);
  auto reply = std::make_shared<Reply>(session_.protocol);
  // The reply keeps the connection alive until it is finished (possibly on another thread).
  const bool append = spec != nullptr && spec->appends();
  if (append) appends_in_flight_.fetch_add(1, std::memory_order_acq_rel);
  reply->set_on_finish([self = shared_from_this(), append] {
    if (append) self->appends_in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    self->reply_finished();
  });
  replies_.push_back(Entry{reply, {}});
  if (args.empty()) {
    reply_error(reply, "ERR", "empty command");
    return;
  }
  if (spec == nullptr) {
    reply_error(reply, "INVALIDARG", "unknown command '" + upper_name(args[0]) + "'");
    return;
  }
  CommandContext c{ctx_, session_, args, std::move(reply), this};
  try {
    run_command(*spec, c);
  } catch (const std::exception& e) {
    // A handler must not throw; the reply's state is unknown, so the connection cannot go on.
    spdlog::error("connection {}: command {} failed: {}", id_, upper_name(args[0]), e.what());
    closing_ = true;
    close();
  } catch (...) {
    spdlog::error("connection {}: command {} failed", id_, upper_name(args[0]));
    closing_ = true;
    close();
  }
  if (session_.close_after_reply) closing_ = true;  // QUIT
}

void Connection::enqueue_error(std::string_view message) {
  auto reply = std::make_shared<Reply>(session_.protocol);
  replies_.push_back(Entry{reply, {}});
  reply_error(reply, "ERR", message);
}

// ------------------------------------------------------------------------------------ output

void Connection::reply_finished() {
  if (strand_.running_in_this_thread()) {
    // Finished inline by its handler: process_input's caller flushes once for the whole batch.
    if (in_process_) return;
    flush();
    return;
  }
  // One pending flush per connection is enough: a group commit finishes hundreds of replies of
  // one pipelining connection at once, and one flush collects them all. The exchange in the
  // handler (acq_rel) pairs with this one, so a reply finished before the handler cleared the
  // flag is visible to that handler's collect().
  if (flush_posted_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(strand_, [self = shared_from_this()] {
    self->flush_posted_.exchange(false, std::memory_order_acq_rel);
    self->flush();
  });
}

void Connection::collect() {
  while (!replies_.empty() && replies_.front().reply->done()) {
    Entry& e = replies_.front();
    std::string& b = e.reply->bytes();
    if (!b.empty() && b.front() == '-') {
      ctx_.stats.command_errors.fetch_add(1, std::memory_order_relaxed);
    }
    if (staged_.empty()) {
      staged_.swap(b);
    } else {
      staged_.append(b);
    }
    staged_.append(e.after);
    replies_.pop_front();
  }
}

std::size_t Connection::blocked_reply_bytes() const {
  std::size_t total = 0;
  for (const Entry& e : replies_) {
    if (e.reply->done()) total += e.reply->bytes().size() + e.after.size();
  }
  return total;
}

bool Connection::over_limits() const {
  if (replies_.size() >= kMaxOutstandingRequests) return true;
  std::size_t bytes = staged_.size() + writing_.size();
  if (bytes >= max_pending_bytes_) return true;
  // Replies finished behind one that is still running count too.
  return bytes + blocked_reply_bytes() >= max_pending_bytes_;
}

void Connection::flush() {
  if (closed()) return;
  for (;;) {
    collect();
    if (!write_in_progress_ && !staged_.empty()) {
      writing_.swap(staged_);
      staged_.clear();
      write_in_progress_ = true;
      stream_.async_write(
          asio::buffer(writing_),
          asio::bind_executor(
              strand_, [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                self->on_write(ec, n);
              }));
    }
    if (closing_) {
      if (replies_.empty() && staged_.empty() && !write_in_progress_) {
        close();
        return;
      }
      break;
    }
    if (reading_ || read_eof_ || over_limits()) break;
    if (unparsed_input_) {
      // Backpressure left complete requests in the buffer: handle them before reading more
      // (once enough reads have returned, or the commands it waits for have finished: they
      // flush again).
      if (reads_blocked() ||
          (wait_ == Wait::Appends && appends_in_flight_.load(std::memory_order_acquire) != 0) ||
          (wait_ == Wait::Reads && reads_in_flight_.load(std::memory_order_acquire) != 0)) {
        break;
      }
      process_input();
      if (closed()) return;
      continue;
    }
    do_read();
    break;
  }
  pending_bytes_.store(staged_.size() + writing_.size(), std::memory_order_relaxed);
}

void Connection::on_write(const asio::error_code& ec, std::size_t n) {
  write_in_progress_ = false;
  if (closed()) return;
  if (ec) {
    if (ec != asio::error::operation_aborted) {
      spdlog::debug("connection {}: write error: {}", id_, ec.message());
    }
    close();
    return;
  }
  ctx_.stats.net_output_bytes.fetch_add(n, std::memory_order_relaxed);
  if (writing_.capacity() > kKeepBufferBytes) {
    std::string().swap(writing_);
  } else {
    writing_.clear();
  }
  flush();
}

void Connection::close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  closing_ = true;
  stream_.close();
  replies_.clear();
  staged_.clear();
  in_len_ = 0;
  pending_bytes_.store(0, std::memory_order_relaxed);
  std::vector<std::function<void()>> callbacks;
  {
    std::lock_guard lock(close_mu_);
    callbacks_ran_ = true;
    callbacks.swap(close_callbacks_);
  }
  for (auto& cb : callbacks) cb();
}

}  // namespace sierra::server
