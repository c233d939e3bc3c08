// A record's place in a segment with the number it carries there: (partition sequence or stream
// version, byte offset of the record). The indexes map keys to lists of these; iterators read the
// records at the offsets.
#pragma once

#include <cstdint>

namespace sierra {

struct SeqOffset {
  uint64_t sequence;
  uint64_t offset;
  bool operator==(const SeqOffset&) const = default;
};

}  // namespace sierra
