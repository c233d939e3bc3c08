#include "engine/transaction_digest.hpp"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <array>
#include <cstring>

namespace sierra {

namespace {

// Incremental XXH3-128 over length-prefixed fields, so that field boundaries are part of what
// is hashed ("ab" + "c" differs from "a" + "bc").
class Hasher {
 public:
  Hasher() { XXH3_128bits_reset(&state_); }
  void uuid(const Uuid& u) { XXH3_128bits_update(&state_, u.bytes.data(), u.bytes.size()); }
  void count(uint64_t n) {
    std::array<uint8_t, 8> le{};
    std::memcpy(le.data(), &n, sizeof n);
    XXH3_128bits_update(&state_, le.data(), le.size());
  }
  void bytes(std::string_view s) {
    count(s.size());
    XXH3_128bits_update(&state_, s.data(), s.size());
  }
  void event(const Uuid& id, const Uuid& key, std::string_view stream, std::string_view name,
             std::string_view metadata, std::string_view payload) {
    uuid(id);
    uuid(key);
    bytes(stream);
    bytes(name);
    bytes(metadata);
    bytes(payload);
  }
  TransactionDigest finish() {
    const XXH128_hash_t h = XXH3_128bits_digest(&state_);
    return TransactionDigest{h.low64, h.high64};
  }

 private:
  XXH3_state_t state_{};
};

}  // namespace

TransactionDigest transaction_digest(std::span<const NewEvent> events) {
  Hasher h;
  h.count(events.size());
  for (const NewEvent& e : events) {
    h.event(e.event_id, e.partition_key, e.stream_id, e.event_name, e.metadata, e.payload);
  }
  return h.finish();
}

TransactionDigest transaction_digest(std::span<const EventRecord> events) {
  Hasher h;
  h.count(events.size());
  for (const EventRecord& e : events) {
    h.event(e.event_id, e.partition_key, e.stream_id, e.event_name, e.metadata, e.payload);
  }
  return h.finish();
}

}  // namespace sierra
