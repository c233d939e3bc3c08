// A record's place in a segment with the number it carries there: (position, byte offset of the
// record), the position being its partition sequence in a partition's list and its stream version
// in a stream's list. The indexes map keys to lists of these; iterators read the records at the
// offsets.
#pragma once

#include <cstdint>

namespace sierra {

struct SeqOffset {
  uint64_t position;  // partition sequence or stream version, by the list it is in
  uint64_t offset;
  bool operator==(const SeqOffset&) const = default;
};

}  // namespace sierra
