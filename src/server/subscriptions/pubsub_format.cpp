#include "server/subscriptions/pubsub_format.hpp"

#include <charconv>

#include "resp/reply_writer.hpp"
#include "server/commands/event_reply.hpp"

namespace sierra::server {

namespace {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void append_base64(std::string& out, std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out += '"';
  std::size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(s[i]) << 16) | (static_cast<uint8_t>(s[i + 1]) << 8) |
                       static_cast<uint8_t>(s[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == s.size()) {
    const uint32_t v = static_cast<uint8_t>(s[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == s.size()) {
    const uint32_t v = (static_cast<uint8_t>(s[i]) << 16) | (static_cast<uint8_t>(s[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  out += '"';
}

void append_number(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void key(std::string& out, std::string_view k) {
  if (out.size() > 1) out += ',';
  append_json_string(out, k);
  out += ':';
}

// Text fields as JSON strings when they are UTF-8, otherwise base64 under `<name>_base64`.
void bytes_field(std::string& out, std::string_view name, std::string_view bytes) {
  if (is_valid_utf8(bytes)) {
    key(out, name);
    append_json_string(out, bytes);
  } else {
    key(out, std::string(name) + "_base64");
    append_base64(out, bytes);
  }
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::optional<ChannelTarget> parse_channel(std::string_view channel, uint16_t partition_count) {
  ChannelTarget t;
  if (channel == kAllPartitionsChannel) {
    t.kind = ChannelTarget::Kind::AllPartitions;
    return t;
  }
  if (channel.starts_with(kStreamChannelPrefix)) {
    std::string_view id = channel.substr(kStreamChannelPrefix.size());
    if (id.empty()) return std::nullopt;
    t.kind = ChannelTarget::Kind::Stream;
    t.stream_id = std::string(id);
    return t;
  }
  if (channel.starts_with(kPartitionChannelPrefix)) {
    std::string_view num = channel.substr(kPartitionChannelPrefix.size());
    uint32_t p = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), p);
    if (num.empty() || ec != std::errc{} || end != num.data() + num.size() ||
        p >= partition_count) {
      return std::nullopt;
    }
    t.kind = ChannelTarget::Kind::Partition;
    t.partition = static_cast<PartitionId>(p);
    return t;
  }
  return std::nullopt;
}

std::string encode_pubsub_event(int protocol, std::string_view kind, std::string_view channel,
                                uint64_t count) {
  std::string out;
  resp::ReplyWriter w(out, protocol);
  w.push(3);
  w.bulk(kind);
  w.bulk(channel);
  w.integer(static_cast<int64_t>(count));
  return out;
}

std::string event_json(const EventRecord& e, std::string_view subscription_id, uint64_t cursor) {
  std::string out;
  out.reserve(256 + e.payload.size() + e.metadata.size() + e.stream_id.size());
  out += '{';
  key(out, "event_id");
  append_json_string(out, e.event_id.to_string());
  key(out, "partition_key");
  append_json_string(out, e.partition_key.to_string());
  key(out, "partition_id");
  append_number(out, e.partition_id);
  key(out, "transaction_id");
  append_json_string(out, e.tx.transaction_id.to_string());
  key(out, "partition_sequence");
  append_number(out, e.partition_sequence);
  key(out, "stream_version");
  append_number(out, e.stream_version);
  key(out, "timestamp");
  append_number(out, static_cast<uint64_t>(timestamp_ms(e.timestamp_ns)));
  bytes_field(out, "stream_id", e.stream_id);
  bytes_field(out, "event_name", e.event_name);
  bytes_field(out, "metadata", e.metadata);
  bytes_field(out, "payload", e.payload);
  key(out, "subscription_id");
  append_json_string(out, subscription_id);
  key(out, "cursor");
  append_number(out, cursor);
  out += '}';
  return out;
}

void encode_pubsub_message(std::string& out, int protocol, std::string_view channel,
                           std::string_view subscription_id, uint64_t cursor,
                           const EventRecord& e) {
  resp::ReplyWriter w(out, protocol);
  w.push(3);
  w.bulk("message");
  w.bulk(channel);
  w.bulk(event_json(e, subscription_id, cursor));
}

}  // namespace sierra::server
