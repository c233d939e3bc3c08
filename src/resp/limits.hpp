// Frame-size limits shared by the RESP parsers; exceeding any of them is a protocol error.
#pragma once

#include <cstddef>

namespace sierra::resp {

struct Limits {
  std::size_t max_bulk_len = std::size_t{512} << 20;   // one bulk/blob/verbatim string
  std::size_t max_array_len = 1048576;                 // elements of one array (pairs of a map)
  std::size_t max_inline_len = std::size_t{64} << 10;  // inline command / simple-string line
  std::size_t max_depth = 128;                         // reply nesting (ReplyReader only)
};

}  // namespace sierra::resp
