// libFuzzer target: sierra::resp::RequestParser.
//
// The input's first bytes choose the limits and the chunking; the rest is the client byte stream.
// The stream is parsed (a) all at once and (b) fed in chunks, with the buffer moved between
// NeedMore calls as the parser's contract allows. Checked: never crash, consumed <= buffer size,
// argument views inside the buffer (array frames) or parser-owned storage (inline), `want` is
// only reported when the buffer is too short, and both feeds yield the same commands and error.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.hpp"
#include "resp/request_parser.hpp"

using sierra::resp::Limits;
using sierra::resp::ParseStatus;
using sierra::resp::RequestParser;

namespace {

struct Outcome {
  std::vector<std::vector<std::string>> commands;
  bool error = false;
  std::string error_text;
};

void record_command(const RequestParser& p, std::string_view buf, size_t consumed, Outcome& out) {
  FUZZ_CHECK(consumed > 0);
  FUZZ_CHECK(consumed <= buf.size());
  std::vector<std::string> cmd;
  const char* lo = buf.data();
  const char* hi = buf.data() + consumed;
  for (std::string_view a : p.args()) {
    const bool in_buffer = a.data() >= lo && a.data() <= hi;
    if (in_buffer) FUZZ_CHECK(a.size() <= static_cast<size_t>(hi - a.data()));
    FUZZ_CHECK(a.size() <= p.limits().max_bulk_len || a.size() <= p.limits().max_inline_len);
    cmd.emplace_back(a);  // touches every byte: ASan flags views into freed storage
  }
  out.commands.push_back(std::move(cmd));
}

// Parses everything buffered; returns false on error.
bool drain(RequestParser& p, std::string& buf, Outcome& out) {
  while (true) {
    auto r = p.parse(buf);
    FUZZ_CHECK(r.consumed <= buf.size());
    switch (r.status) {
      case ParseStatus::Command:
        record_command(p, buf, r.consumed, out);
        buf.erase(0, r.consumed);
        continue;
      case ParseStatus::Error:
        FUZZ_CHECK(r.consumed == 0);
        FUZZ_CHECK(!p.error().empty());
        out.error = true;
        out.error_text = std::string(p.error());
        return false;
      case ParseStatus::NeedMore:
        buf.erase(0, r.consumed);
        if (r.want != 0) FUZZ_CHECK(r.want > buf.size());
        if (r.consumed == 0) return true;
        continue;
    }
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
  }
  const uint8_t chunk_seed = in.u8();
  const std::string stream = in.rest();

  Outcome whole;
  {
    RequestParser p(limits);
    std::string buf = stream;
    drain(p, buf, whole);
  }

  Outcome chunked;
  {
    RequestParser p(limits);
    std::string buf;
    size_t pos = 0;
    uint32_t rng = chunk_seed * 2654435761u + 1;
    bool ok = true;
    while (ok && pos < stream.size()) {
      rng = rng * 1103515245u + 12345u;
      size_t n = 1 + ((rng >> 16) % ((mode & 2) ? 4 : 64));
      n = std::min(n, stream.size() - pos);
      // Move the unconsumed bytes to a new allocation (allowed between NeedMore calls).
      std::string moved;
      moved.reserve(buf.size() + n + (rng & 15));
      moved.append(buf);
      moved.append(stream, pos, n);
      buf.swap(moved);
      moved.assign(moved.size(), '\xAA');  // scribble over the old buffer
      pos += n;
      ok = drain(p, buf, chunked);
    }
  }

  // Same commands, same error (the whole-buffer run sees everything the chunked run saw).
  FUZZ_CHECK(whole.commands == chunked.commands);
  FUZZ_CHECK(whole.error == chunked.error);
  return 0;
}
