#include "server/commands/command_introspection.hpp"

#include <string>
#include <string_view>
#include <vector>

#include "server/commands/arguments.hpp"
#include "server/commands/routing_key.hpp"

namespace sierra::server {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return out;
}

// A RESP3 set (`~`), an array in RESP2.
void set_header(resp::ReplyWriter& w, std::size_t n) {
  if (w.protocol() >= 3) {
    w.raw("~" + std::to_string(n) + "\r\n");
  } else {
    w.array(n);
  }
}

std::vector<std::string_view> flag_names(const CommandSpec& s) {
  std::vector<std::string_view> out;
  if (s.has(kWrite)) out.emplace_back("write");
  if (s.has(kRead)) out.emplace_back("readonly");
  if (s.has(kSubscription)) out.emplace_back("pubsub");
  if (s.has(kAdmin)) out.emplace_back("admin");
  if (s.has(kNoAuth)) out.emplace_back("no_auth");
  if (s.has(kFast)) out.emplace_back("fast");
  if (s.has(kLoading)) out.emplace_back("loading");
  if (s.has(kStale)) out.emplace_back("stale");
  return out;
}

std::vector<std::string_view> acl_categories(const CommandSpec& s) {
  std::vector<std::string_view> out;
  if (s.has(kWrite)) out.emplace_back("@write");
  if (s.has(kRead)) out.emplace_back("@read");
  if (s.has(kWrite) || s.has(kRead)) out.emplace_back("@stream");
  if (s.has(kSubscription)) out.emplace_back("@pubsub");
  if (s.has(kConnection)) out.emplace_back("@connection");
  if (s.has(kAdmin)) out.emplace_back("@admin");
  out.emplace_back(s.has(kFast) ? "@fast" : "@slow");
  return out;
}

void strings(resp::ReplyWriter& w, const std::vector<std::string_view>& items, bool as_set) {
  if (as_set) {
    set_header(w, items.size());
  } else {
    w.array(items.size());
  }
  for (std::string_view s : items) w.simple(s);
}

// The "flags" entry of a key spec: what the command does with its key.
void key_spec_flags(resp::ReplyWriter& w, const CommandSpec& spec) {
  w.bulk("flags");
  strings(w,
          spec.has(kWrite) ? std::vector<std::string_view>{"RW", "INSERT"}
                           : std::vector<std::string_view>{"RO", "ACCESS"},
          true);
}

// find_keys {type range, spec {lastkey, keystep 1, limit 0}}: one key (lastkey 0) or the rest of
// the arguments (lastkey -1).
void range_find_keys(resp::ReplyWriter& w, int64_t lastkey) {
  w.bulk("find_keys");
  w.map(2);
  w.bulk("type");
  w.bulk("range");
  w.bulk("spec");
  w.map(3);
  w.bulk("lastkey");
  w.integer(lastkey);
  w.bulk("keystep");
  w.integer(1);
  w.bulk("limit");
  w.integer(0);
}

// {flags, begin_search {type index, spec {index}}, find_keys {type range, spec ...}}
void index_key_spec(resp::ReplyWriter& w, const CommandSpec& spec, uint8_t index, bool list,
                    std::string_view notes) {
  w.map(notes.empty() ? 3 : 4);
  if (!notes.empty()) {
    w.bulk("notes");
    w.bulk(notes);
  }
  key_spec_flags(w, spec);
  w.bulk("begin_search");
  w.map(2);
  w.bulk("type");
  w.bulk("index");
  w.bulk("spec");
  w.map(1);
  w.bulk("index");
  w.integer(index);
  range_find_keys(w, list ? -1 : 0);
}

// The option that overrides the positional key: begin_search {type keyword, spec {keyword,
// startfrom}}, one key after it.
void keyword_key_spec(resp::ReplyWriter& w, const CommandSpec& spec) {
  w.map(4);
  w.bulk("notes");
  w.bulk("routes instead of the stream id when present");
  key_spec_flags(w, spec);
  w.bulk("begin_search");
  w.map(2);
  w.bulk("type");
  w.bulk("keyword");
  w.bulk("spec");
  w.map(2);
  w.bulk("keyword");
  w.bulk(spec.key.override_keyword);
  w.bulk("startfrom");
  w.integer(spec.key.options_from);
  range_find_keys(w, 0);
}

void write_arg_doc(resp::ReplyWriter& w, const ArgDoc& a) {
  const bool has_flags = a.optional || a.multiple;
  w.map(2 + (a.token.empty() ? 0 : 1) + (has_flags ? 1 : 0) + (a.arguments.empty() ? 0 : 1));
  w.bulk("name");
  w.bulk(a.name);
  w.bulk("type");
  w.bulk(a.type);
  if (!a.token.empty()) {
    w.bulk("token");
    w.bulk(a.token);
  }
  if (has_flags) {
    std::vector<std::string_view> flags;
    if (a.optional) flags.emplace_back("optional");
    if (a.multiple) flags.emplace_back("multiple");
    w.bulk("flags");
    strings(w, flags, true);
  }
  if (!a.arguments.empty()) {
    w.bulk("arguments");
    w.array(a.arguments.size());
    for (const ArgDoc& part : a.arguments) write_arg_doc(w, part);
  }
}

}  // namespace

void write_command_info(resp::ReplyWriter& w, const CommandSpec& spec) {
  const KeySpec& k = spec.key;
  w.array(10);
  w.bulk(lower(spec.name));
  w.integer(spec.arity);
  strings(w, flag_names(spec), true);
  // Legacy first key, last key, step.
  w.integer(k.index);
  w.integer(k.index == 0 ? 0 : (k.stream_list ? -1 : k.index));
  w.integer(k.index == 0 ? 0 : 1);
  strings(w, acl_categories(spec), true);
  set_header(w, 0);  // tips
  const std::size_t specs =
      k.index == 0 ? 0 : (k.override_keyword.empty() || k.stream_list ? 1 : 2);
  w.array(specs);
  if (specs > 0) index_key_spec(w, spec, k.index, k.stream_list, k.notes);
  if (specs > 1) keyword_key_spec(w, spec);
  w.array(0);  // subcommands
}

void write_command_docs(resp::ReplyWriter& w, const CommandSpec& spec) {
  w.map(spec.arguments.empty() ? 3 : 4);
  w.bulk("summary");
  w.bulk(spec.summary);
  w.bulk("since");
  w.bulk(spec.since);
  w.bulk("group");
  w.bulk(spec.group);
  if (!spec.arguments.empty()) {
    w.bulk("arguments");
    w.array(spec.arguments.size());
    for (const ArgDoc& a : spec.arguments) write_arg_doc(w, a);
  }
}

void cmd_command(CommandContext& c) {
  const Args args = c.args;
  auto w = c.reply->writer();
  const auto all = all_commands();
  if (args.size() == 1) {
    w.array(all.size());
    for (const CommandSpec& s : all) write_command_info(w, s);
    c.reply->finish();
    return;
  }
  const std::string_view sub = args[1];
  if (keyword_is(sub, "COUNT") && args.size() == 2) {
    w.integer(static_cast<int64_t>(all.size()));
  } else if (keyword_is(sub, "LIST") && args.size() == 2) {
    w.array(all.size());
    for (const CommandSpec& s : all) w.bulk(lower(s.name));
  } else if (keyword_is(sub, "INFO")) {
    if (args.size() == 2) {
      w.array(all.size());
      for (const CommandSpec& s : all) write_command_info(w, s);
    } else {
      w.array(args.size() - 2);
      for (std::size_t i = 2; i < args.size(); ++i) {
        if (const CommandSpec* s = find_command(args[i])) {
          write_command_info(w, *s);
        } else {
          w.null();
        }
      }
    }
  } else if (keyword_is(sub, "DOCS")) {
    std::vector<const CommandSpec*> found;
    if (args.size() == 2) {
      for (const CommandSpec& s : all) found.push_back(&s);
    } else {
      for (std::size_t i = 2; i < args.size(); ++i) {
        if (const CommandSpec* s = find_command(args[i])) found.push_back(s);
      }
    }
    w.map(found.size());
    for (const CommandSpec* s : found) {
      w.bulk(lower(s->name));
      write_command_docs(w, *s);
    }
  } else if (keyword_is(sub, "GETKEYS") && args.size() >= 3) {
    const CommandSpec* s = find_command(args[2]);
    if (s == nullptr) return reply_error(c.reply, "ERR", "Invalid command specified");
    const auto key = routing_key(*s, args.subspan(2));
    if (!key) {
      return reply_error(c.reply, "ERR", "The command has no key arguments");
    }
    w.array(1);
    w.bulk(key->value);
  } else {
    w.array(0);
  }
  c.reply->finish();
}

}  // namespace sierra::server
