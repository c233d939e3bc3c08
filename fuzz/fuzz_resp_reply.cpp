// libFuzzer target: sierra::resp::ReplyReader (RESP2/RESP3 replies, used by clients and tests).
//
// The stream is read (a) all at once and (b) in chunks; both must yield the same values and the
// same error outcome, consumed never exceeds the buffer, and nothing crashes.
#include <cmath>
#include <string>
#include <vector>

#include "fuzz_util.hpp"
#include "resp/reply_reader.hpp"

using sierra::resp::Limits;
using sierra::resp::ReadStatus;
using sierra::resp::ReplyReader;
using sierra::resp::RespValue;

namespace {

// Text form that compares NaN doubles equal (RespValue::operator== would not).
void dump(const RespValue& v, std::string& out) {
  out += std::to_string(static_cast<int>(v.type));
  out += '|';
  out += std::to_string(v.str.size());
  out += ':';
  out += v.str;
  out += '|';
  out += std::to_string(v.integer);
  out += v.boolean ? 't' : 'f';
  out += v.format;
  out += '[';
  for (const auto& c : v.children) dump(c, out);
  out += ']';
}

struct Outcome {
  std::vector<std::string> values;
  bool error = false;
};

bool drain(ReplyReader& r, std::string& buf, Outcome& out) {
  while (true) {
    auto res = r.parse(buf);
    FUZZ_CHECK(res.consumed <= buf.size());
    if (res.status == ReadStatus::Error) {
      FUZZ_CHECK(!r.error().empty());
      out.error = true;
      return false;
    }
    buf.erase(0, res.consumed);
    if (res.status == ReadStatus::Value) {
      FUZZ_CHECK(res.consumed > 0);
      std::string d;
      dump(r.take(), d);
      out.values.push_back(std::move(d));
      continue;
    }
    if (res.consumed == 0) return true;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes in(data, size);
  const uint8_t mode = in.u8();
  Limits limits;
  if (mode & 1) {
    limits.max_bulk_len = 1 + in.u8();
    limits.max_array_len = 1 + (in.u8() & 31);
    limits.max_inline_len = 1 + in.u8();
    limits.max_depth = 1 + (in.u8() & 15);
  }
  const uint8_t chunk_seed = in.u8();
  const std::string stream = in.rest();

  Outcome whole;
  {
    ReplyReader r(limits);
    std::string buf = stream;
    drain(r, buf, whole);
  }
  Outcome chunked;
  {
    ReplyReader r(limits);
    std::string buf;
    size_t pos = 0;
    uint32_t rng = chunk_seed * 2654435761u + 7;
    bool ok = true;
    while (ok && pos < stream.size()) {
      rng = rng * 1103515245u + 12345u;
      size_t n = 1 + ((rng >> 16) % ((mode & 2) ? 3 : 48));
      n = std::min(n, stream.size() - pos);
      std::string moved = buf;
      moved.append(stream, pos, n);
      buf.swap(moved);
      pos += n;
      ok = drain(r, buf, chunked);
    }
  }
  FUZZ_CHECK(whole.values == chunked.values);
  FUZZ_CHECK(whole.error == chunked.error);
  return 0;
}
