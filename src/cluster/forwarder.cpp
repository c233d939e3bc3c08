// Forwarder: request/reply of forwarded client commands over the transport (forwarder.hpp).
#include "cluster/forwarder.hpp"

#include <asio.hpp>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <utility>

namespace sierra::cluster {

namespace {

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  const size_t at = out.size();
  out.resize(at + 4);
  std::memcpy(out.data() + at, &v, 4);
}
void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  const size_t at = out.size();
  out.resize(at + 8);
  std::memcpy(out.data() + at, &v, 8);
}

// Reads fixed-size fields off the front of a payload.
struct Cursor {
  std::span<const uint8_t> rest;
  template <class T>
  bool get(T& v) {
    if (rest.size() < sizeof(T)) return false;
    std::memcpy(&v, rest.data(), sizeof(T));
    rest = rest.subspan(sizeof(T));
    return true;
  }
};

std::unexpected<Error> error(Errc code, std::string message) {
  return std::unexpected(Error{code, std::move(message), 0, 0});
}

}  // namespace

class Forwarder::Impl : public std::enable_shared_from_this<Forwarder::Impl> {
 public:
  struct Pending {
    uint64_t to = 0;
    Done done;
    std::unique_ptr<asio::steady_timer> timer;
  };

  Impl(asio::io_context& io, Options o, Send send, Handler handler)
      : io_(io), opts_(o), send_(std::move(send)), handler_(std::move(handler)) {}

  void forward(uint64_t to, uint32_t bucket, std::vector<std::string> args, Done done) {
    if (stopped_) {
      done(error(Errc::ShuttingDown, "the node is stopping: not forwarded"));
      return;
    }
    if (pending_.size() >= opts_.max_in_flight) {
      ++stats_.refused_busy;
      done(error(Errc::Busy, "too many commands forwarded and not answered: not forwarded"));
      return;
    }
    const uint64_t id = next_id_++;
    std::vector<uint8_t> payload;
    put_u64(payload, id);
    put_u32(payload, bucket);
    put_u32(payload, static_cast<uint32_t>(args.size()));
    for (const std::string& a : args) {
      put_u32(payload, static_cast<uint32_t>(a.size()));
      payload.insert(payload.end(), a.begin(), a.end());
    }
    if (!send_ || !send_(to, FrameKind::Forward, payload)) {
      ++stats_.refused_busy;
      done(error(Errc::Busy,
                 "node " + std::to_string(to) + " cannot be reached now: not forwarded"));
      return;
    }
    ++stats_.forwarded;
    Pending p;
    p.to = to;
    p.done = std::move(done);
    p.timer = std::make_unique<asio::steady_timer>(io_);
    p.timer->expires_after(std::chrono::milliseconds(opts_.timeout_ms));
    p.timer->async_wait([self = shared_from_this(), id](std::error_code ec) {
      if (ec) return;
      self->finish(id,
                   error(Errc::OutcomeUnknown, "no reply from the leader within " +
                                                   std::to_string(self->opts_.timeout_ms) +
                                                   " ms: the command may or may not have run"),
                   &self->stats_.timed_out);
    });
    pending_.emplace(id, std::move(p));
  }

  void on_frame(uint64_t from, const Frame& f) {
    if (stopped_) return;
    if (f.kind == FrameKind::ForwardReply) {
      Cursor c{f.payload};
      uint64_t id = 0;
      if (!c.get(id)) {
        ++stats_.malformed;
        return;
      }
      auto it = pending_.find(id);
      if (it == pending_.end() || it->second.to != from) {
        ++stats_.late_replies;
        return;
      }
      finish(id, std::vector<uint8_t>(c.rest.begin(), c.rest.end()), &stats_.replied);
      return;
    }
    if (f.kind != FrameKind::Forward) return;
    Cursor c{f.payload};
    uint64_t id = 0;
    uint32_t bucket = 0, argc = 0;
    if (!c.get(id) || !c.get(bucket) || !c.get(argc) || argc > c.rest.size() / 4) {
      ++stats_.malformed;
      return;
    }
    std::vector<std::string> args;
    args.reserve(argc);
    for (uint32_t i = 0; i < argc; ++i) {
      uint32_t len = 0;
      if (!c.get(len) || len > c.rest.size()) {
        ++stats_.malformed;
        return;
      }
      args.emplace_back(reinterpret_cast<const char*>(c.rest.data()), len);
      c.rest = c.rest.subspan(len);
    }
    if (!c.rest.empty()) {
      ++stats_.malformed;
      return;
    }
    ++stats_.served;
    if (!handler_) return;
    handler_(from, bucket, std::move(args),
             [weak = weak_from_this(), from, id](std::vector<uint8_t> bytes) {
               auto self = weak.lock();
               if (!self || self->stopped_) return;
               std::vector<uint8_t> payload;
               put_u64(payload, id);
               payload.insert(payload.end(), bytes.begin(), bytes.end());
               // Lost if it cannot be queued: the requester's timeout answers OutcomeUnknown.
               if (self->send_) self->send_(from, FrameKind::ForwardReply, payload);
             });
  }

  void on_peer_down(uint64_t peer) {
    std::vector<uint64_t> ids;
    for (const auto& [id, p] : pending_)
      if (p.to == peer) ids.push_back(id);
    for (uint64_t id : ids) {
      finish(id,
             error(Errc::OutcomeUnknown, "the connection to node " + std::to_string(peer) +
                                             " was lost: the command may or may not have run"),
             &stats_.peer_down);
    }
  }

  void stop() {
    if (stopped_) return;
    std::vector<uint64_t> ids;
    for (const auto& [id, p] : pending_) ids.push_back(id);
    for (uint64_t id : ids) {
      finish(id,
             error(Errc::OutcomeUnknown,
                   "the node is stopping: the command may or may not "
                   "have run"),
             nullptr);
    }
    stopped_ = true;
  }

  size_t in_flight() const { return pending_.size(); }
  Stats stats_;

 private:
  void finish(uint64_t id, Result<std::vector<uint8_t>> result, uint64_t* counter) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    p.timer->cancel();
    if (counter) ++*counter;
    p.done(std::move(result));
  }

  asio::io_context& io_;
  Options opts_;
  Send send_;
  Handler handler_;
  std::map<uint64_t, Pending> pending_;
  uint64_t next_id_ = 1;
  bool stopped_ = false;
};

std::unique_ptr<Forwarder> Forwarder::make(asio::io_context& io, Options options, Send send,
                                           Handler handler) {
  return std::make_unique<Forwarder>(
      PassKey{}, std::make_shared<Impl>(io, options, std::move(send), std::move(handler)));
}

Forwarder::Forwarder(PassKey, std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Forwarder::~Forwarder() {
  if (impl_) impl_->stop();
}
void Forwarder::forward(uint64_t to, uint32_t bucket, std::vector<std::string> args, Done done) {
  impl_->forward(to, bucket, std::move(args), std::move(done));
}
void Forwarder::on_frame(uint64_t from, const Frame& frame) {
  impl_->on_frame(from, frame);
}
void Forwarder::on_peer_down(uint64_t peer) {
  impl_->on_peer_down(peer);
}
size_t Forwarder::in_flight() const {
  return impl_->in_flight();
}
const Forwarder::Stats& Forwarder::stats() const {
  return impl_->stats_;
}
void Forwarder::stop() {
  impl_->stop();
}

}  // namespace sierra::cluster
