// A small fixed-size record kept durable in two alternating files (`<name>.0`, `<name>.1`):
// each save overwrites the older copy, so a write torn by a crash leaves the newer intact copy
// readable. BucketLog keeps its term/vote and its applied index this way (docs/FORMAT.md
// "Slot files").
//
// Each file holds one slot: u32 magic, u16 version (1), u16 payload size, u64 generation, the
// payload, u32 CRC-32C of everything before it. The valid slot with the higher generation wins.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/env.hpp"
#include "engine/error.hpp"
#include "engine/file.hpp"

namespace sierra {

class SlotPair {
 public:
  // How the owner saves: every save durable, or some without a sync (then a power loss can
  // tear both copies, and nothing saved is what is left).
  enum class Saves { Durable, Lazy };

  // Opens <dir>/<name>.0 and .1, creating the missing ones (and syncing `dir`). `magic` tells
  // this pair's files from others'. A slot of another size or magic is invalid. When both files
  // hold bytes and neither is valid: with Saves::Durable, CorruptRecord (a torn write can damage
  // only one); with Saves::Lazy, current() is empty.
  static Result<SlotPair> open(const std::filesystem::path& dir, const std::string& name,
                               uint32_t magic, size_t payload_size, Saves saves,
                               std::shared_ptr<Env> env);

  // The newest valid payload; nullopt when nothing was ever saved.
  const std::optional<std::vector<uint8_t>>& current() const { return current_; }
  uint64_t generation() const { return generation_; }

  // Writes `payload` (payload_size bytes) over the older slot; with `durable`, fdatasyncs it
  // before returning. On failure current() is unchanged.
  Status save(std::span<const uint8_t> payload, bool durable);

 private:
  SlotPair() = default;

  std::filesystem::path dir_;
  uint32_t magic_ = 0;
  size_t payload_size_ = 0;
  File files_[2];
  std::optional<std::vector<uint8_t>> current_;
  uint64_t generation_ = 0;  // of current_ (0: none)
};

}  // namespace sierra
