// SlotPair: two alternating slot files; layout in slot_pair.hpp and docs/FORMAT.md.
#include "engine/slot_pair.hpp"

#include <bit>
#include <cstring>

#include "engine/crc32c.hpp"

namespace sierra {

namespace {

constexpr uint16_t kSlotVersion = 1;
constexpr size_t kSlotPrefix = 16;  // magic, version, size, generation

template <class T>
void put(uint8_t* p, T v) {
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) v = std::byteswap(v);
  std::memcpy(p, &v, sizeof(T));
}

template <class T>
T get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) v = std::byteswap(v);
  return v;
}

size_t slot_size(size_t payload_size) {
  return kSlotPrefix + payload_size + 4;
}

struct Slot {
  uint64_t generation = 0;
  std::vector<uint8_t> payload;
};

// The slot in `bytes`, if valid.
std::optional<Slot> parse(std::span<const uint8_t> bytes, uint32_t magic, size_t payload_size) {
  if (bytes.size() < slot_size(payload_size)) return std::nullopt;
  const uint8_t* p = bytes.data();
  if (get<uint32_t>(p) != magic || get<uint16_t>(p + 4) != kSlotVersion ||
      get<uint16_t>(p + 6) != payload_size) {
    return std::nullopt;
  }
  const size_t crc_at = kSlotPrefix + payload_size;
  if (get<uint32_t>(p + crc_at) != crc32c::value(p, crc_at)) return std::nullopt;
  Slot s;
  s.generation = get<uint64_t>(p + 8);
  if (s.generation == 0) return std::nullopt;
  s.payload.assign(p + kSlotPrefix, p + crc_at);
  return s;
}

}  // namespace

Result<SlotPair> SlotPair::open(const std::filesystem::path& dir, const std::string& name,
                                uint32_t magic, size_t payload_size, Saves saves,
                                std::shared_ptr<Env> env) {
  if (payload_size == 0 || payload_size > 1024) {
    return make_error(Errc::InvalidArgument, "slot payload size must be 1..1024 bytes");
  }
  SlotPair pair;
  pair.dir_ = dir;
  pair.magic_ = magic;
  pair.payload_size_ = payload_size;
  bool created = false;
  bool held_bytes[2] = {false, false};
  std::optional<Slot> slots[2];
  for (int i = 0; i < 2; ++i) {
    const auto path = dir / (name + "." + std::to_string(i));
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    auto f = File::open(path, exists ? File::Mode::ReadWrite : File::Mode::CreateNew, env);
    if (!f) return std::unexpected(std::move(f.error()));
    created = created || !exists;
    pair.files_[i] = std::move(*f);
    if (!exists) continue;
    std::vector<uint8_t> bytes(slot_size(payload_size));
    auto n = pair.files_[i].pread_some(bytes.data(), bytes.size(), 0);
    if (!n) return std::unexpected(std::move(n.error()));
    bytes.resize(*n);
    held_bytes[i] = *n > 0;
    slots[i] = parse(bytes, magic, payload_size);
  }
  if (created) {
    if (auto s = sync_directory(dir, *env); !s) return std::unexpected(std::move(s.error()));
  }
  if (!slots[0] && !slots[1] && held_bytes[0] && held_bytes[1] && saves == Saves::Durable) {
    return make_error(Errc::CorruptRecord, "neither " + (dir / (name + ".0")).string() + " nor " +
                                               name + ".1 holds a valid slot");
  }
  for (auto& s : slots) {
    if (s && s->generation > pair.generation_) {
      pair.generation_ = s->generation;
      pair.current_ = std::move(s->payload);
    }
  }
  return pair;
}

Status SlotPair::save(std::span<const uint8_t> payload, bool durable) {
  if (payload.size() != payload_size_) {
    return make_error(Errc::InvalidArgument, "slot payload of " + std::to_string(payload.size()) +
                                                 " bytes, expected " +
                                                 std::to_string(payload_size_));
  }
  const uint64_t generation = generation_ + 1;
  std::vector<uint8_t> bytes(slot_size(payload_size_));
  uint8_t* p = bytes.data();
  put<uint32_t>(p, magic_);
  put<uint16_t>(p + 4, kSlotVersion);
  put<uint16_t>(p + 6, static_cast<uint16_t>(payload_size_));
  put<uint64_t>(p + 8, generation);
  std::memcpy(p + kSlotPrefix, payload.data(), payload_size_);
  const size_t crc_at = kSlotPrefix + payload_size_;
  put<uint32_t>(p + crc_at, crc32c::value(p, crc_at));
  File& f = files_[generation % 2];
  if (auto s = f.pwrite_all(bytes.data(), bytes.size(), 0); !s) return s;
  if (durable) {
    if (auto s = f.datasync(); !s) return s;
  }
  generation_ = generation;
  current_.emplace(payload.begin(), payload.end());
  return {};
}

}  // namespace sierra
