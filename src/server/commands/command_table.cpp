// The command table: every command the server knows, with its arity, flags, routing key and
// documentation, looked up case-insensitively.
#include <array>
#include <span>
#include <string_view>

#include "server/commands/append_commands.hpp"
#include "server/commands/auth_commands.hpp"
#include "server/commands/basic_commands.hpp"
#include "server/commands/command.hpp"
#include "server/commands/command_introspection.hpp"
#include "server/commands/read_commands.hpp"
#include "server/commands/subscription_commands.hpp"

namespace sierra::server {

namespace {

// ------------------------------------------------------------------------ argument documentation

constexpr std::array<ArgDoc, 1> kPingArgs = {{{"message", "string", "", true}}};
constexpr std::array<ArgDoc, 1> kEchoArgs = {{{"message", "string"}}};
constexpr std::array<ArgDoc, 2> kHelloAuthArgs = {{
    {"username", "string"},
    {"password", "string"},
}};
constexpr std::array<ArgDoc, 3> kHelloArgs = {{
    {"protover", "integer", "", true},
    {"auth", "block", "AUTH", true, false, kHelloAuthArgs},
    {"clientname", "string", "SETNAME", true},
}};
constexpr std::array<ArgDoc, 1> kInfoArgs = {{{"section", "string", "", true, true}}};
constexpr std::array<ArgDoc, 2> kClientArgs = {{
    {"subcommand", "string"},
    {"arg", "string", "", true, true},
}};
constexpr std::array<ArgDoc, 2> kAuthArgs = {{
    {"username", "string", "", true},
    {"password", "string"},
}};
constexpr std::array<ArgDoc, 1> kAclArgs = {{{"subcommand", "string"}}};
constexpr std::array<ArgDoc, 1> kSelectArgs = {{{"index", "integer"}}};
constexpr std::array<ArgDoc, 2> kCommandArgs = {{
    {"subcommand", "string", "", true},
    {"command-name", "string", "", true, true},
}};
constexpr std::array<ArgDoc, 8> kEappendArgs = {{
    {"stream_id", "key"},
    {"event_name", "string"},
    {"event_id", "string", "EVENT_ID", true},
    {"partition_key", "string", "PARTITION_KEY", true},
    {"expected_version", "string", "EXPECTED_VERSION", true},
    {"timestamp", "integer", "TIMESTAMP", true},
    {"payload", "string", "PAYLOAD", true},
    {"metadata", "string", "METADATA", true},
}};
constexpr std::array<ArgDoc, 7> kEmappendEventArgs = {{
    {"stream_id", "string"},
    {"event_name", "string"},
    {"event_id", "string", "EVENT_ID", true},
    {"expected_version", "string", "EXPECTED_VERSION", true},
    {"timestamp", "integer", "TIMESTAMP", true},
    {"payload", "string", "PAYLOAD", true},
    {"metadata", "string", "METADATA", true},
}};
constexpr std::array<ArgDoc, 2> kEmappendArgs = {{
    {"partition_key", "key"},
    {"event", "block", "", false, true, kEmappendEventArgs},
}};
constexpr std::array<ArgDoc, 1> kEgetArgs = {{{"event_id", "key"}}};
constexpr std::array<ArgDoc, 6> kEscanArgs = {{
    {"stream_id", "key"},
    {"start_version", "string"},
    {"end_version", "string"},
    {"partition_key", "string", "PARTITION_KEY", true},
    {"count", "integer", "COUNT", true},
    {"milliseconds", "integer", "BLOCK", true},
}};
constexpr std::array<ArgDoc, 2> kEsverArgs = {{
    {"stream_id", "key"},
    {"partition_key", "string", "PARTITION_KEY", true},
}};
constexpr std::array<ArgDoc, 5> kEpscanArgs = {{
    {"partition", "key"},
    {"start_sequence", "string"},
    {"end_sequence", "string"},
    {"count", "integer", "COUNT", true},
    {"milliseconds", "integer", "BLOCK", true},
}};
constexpr std::array<ArgDoc, 2> kEpreadFromArgs = {{
    {"partition", "string"},
    {"start_sequence", "string"},
}};
constexpr std::array<ArgDoc, 4> kEpreadArgs = {{
    {"count", "integer", "COUNT", true},
    {"milliseconds", "integer", "BLOCK", true},
    {"from", "pure-token", "FROM"},
    {"partition_start", "block", "", false, true, kEpreadFromArgs},
}};
constexpr std::array<ArgDoc, 1> kEpseqArgs = {{{"partition", "key"}}};
constexpr std::array<ArgDoc, 2> kEsubStreamArgs = {{
    {"stream_id", "key"},
    {"partition_key", "string", "PARTITION_KEY", true},
}};
constexpr std::array<ArgDoc, 3> kEsubArgs = {{
    {"stream", "block", "", false, true, kEsubStreamArgs},
    {"from", "string", "FROM", true},
    {"window", "integer", "WINDOW", true},
}};
constexpr std::array<ArgDoc, 3> kEpsubArgs = {{
    {"partitions", "key"},
    {"from", "string", "FROM", true},
    {"window", "integer", "WINDOW", true},
}};
constexpr std::array<ArgDoc, 2> kEackArgs = {{
    {"subscription_id", "string"},
    {"cursor", "integer"},
}};
constexpr std::array<ArgDoc, 1> kEunsubArgs = {{{"subscription_id", "string"}}};
constexpr std::array<ArgDoc, 1> kSubscribeArgs = {{{"channel", "string", "", false, true}}};
constexpr std::array<ArgDoc, 1> kUnsubscribeArgs = {{{"channel", "string", "", true, true}}};

// -------------------------------------------------------------------------------- key specs

constexpr KeySpec kStreamKey{
    KeyKind::StreamId, 1, "PARTITION_KEY", KeyKind::PartitionKey, 0, false, ""};
constexpr KeySpec with_options_from(KeySpec k, uint8_t from) {
  k.options_from = from;
  return k;
}

constexpr uint32_t kConn = kConnection | kLoading | kStale;

constexpr std::array kCommands = {
    CommandSpec{"PING",
                cmd_ping,
                -1,
                kConn | kFast | kNoAuth,
                {},
                ArityReply::Standard,
                "Returns PONG, or the message.",
                "0.1.0",
                "connection",
                kPingArgs},
    CommandSpec{"ECHO",
                cmd_echo,
                2,
                kConnection | kFast,
                {},
                ArityReply::Standard,
                "Returns the message.",
                "0.1.0",
                "connection",
                kEchoArgs},
    CommandSpec{"HELLO",
                cmd_hello,
                -1,
                kConn | kFast | kNoAuth,
                {},
                ArityReply::Standard,
                "Selects the protocol (2 or 3), names the connection and describes the server.",
                "0.1.0",
                "connection",
                kHelloArgs},
    CommandSpec{"INFO",
                cmd_info,
                -1,
                kAdmin | kLoading | kStale,
                {},
                ArityReply::Standard,
                "Server information and statistics (sections: server, clients, storage, stats; "
                "INFO CACHE).",
                "0.1.0",
                "server",
                kInfoArgs},
    CommandSpec{"CLIENT",
                cmd_client,
                -2,
                kConn,
                {},
                ArityReply::Standard,
                "Connection commands: SETINFO, SETNAME, GETNAME, ID, INFO.",
                "0.1.0",
                "connection",
                kClientArgs},
    CommandSpec{"SELECT",
                cmd_select,
                2,
                kConn | kFast,
                {},
                ArityReply::Standard,
                "Accepts database 0 only.",
                "0.1.0",
                "connection",
                kSelectArgs},
    CommandSpec{"COMMAND",
                cmd_command,
                -1,
                kConn,
                {},
                ArityReply::Standard,
                "Describes the commands: COMMAND [COUNT | LIST | INFO name... | DOCS name...].",
                "0.1.0",
                "server",
                kCommandArgs},
    CommandSpec{"QUIT",
                cmd_quit,
                -1,
                kConn | kFast | kNoAuth,
                {},
                ArityReply::Standard,
                "Closes the connection after the reply.",
                "0.1.0",
                "connection",
                {}},
    CommandSpec{"AUTH",
                cmd_auth,
                -2,
                kConn | kFast | kNoAuth,
                {},
                ArityReply::Standard,
                "Logs the connection in: AUTH [username] password.",
                "0.1.0",
                "connection",
                kAuthArgs},
    CommandSpec{"ACL",
                cmd_acl,
                -2,
                kConn,
                {},
                ArityReply::Standard,
                "Users: ACL WHOAMI (the current user), ACL LIST (admin: every user, passwords as "
                "hashes).",
                "0.1.0",
                "server",
                kAclArgs},
    CommandSpec{"EAPPEND", cmd_eappend, -3, kWrite | kAppends, with_options_from(kStreamKey, 3),
                ArityReply::Grammar, "Appends one event to a stream.", "0.1.0", "stream",
                kEappendArgs},
    CommandSpec{"EMAPPEND", cmd_emappend, -4, kWrite | kAppends, KeySpec{KeyKind::PartitionKey, 1},
                ArityReply::Grammar,
                "Appends events to one or more streams of one partition, atomically.", "0.1.0",
                "stream", kEmappendArgs},
    CommandSpec{"EGET", cmd_eget, 2, kRead | kFast, KeySpec{KeyKind::EventId, 1},
                ArityReply::Grammar, "Returns one event by its id.", "0.1.0", "stream", kEgetArgs},
    CommandSpec{"ESCAN", cmd_escan, -4, kRead, with_options_from(kStreamKey, 4),
                ArityReply::Grammar, "Returns a page of a stream's events by version.", "0.1.0",
                "stream", kEscanArgs},
    CommandSpec{"ESVER", cmd_esver, -2, kRead | kFast, with_options_from(kStreamKey, 2),
                ArityReply::Grammar, "Returns a stream's current version.", "0.1.0", "stream",
                kEsverArgs},
    CommandSpec{"EPSCAN", cmd_epscan, -4, kRead, KeySpec{KeyKind::PartitionSelector, 1},
                ArityReply::Grammar, "Returns a page of a partition's events by sequence.", "0.1.0",
                "stream", kEpscanArgs},
    CommandSpec{"EPREAD", cmd_epread, -4, kRead, KeySpec{}, ArityReply::Grammar,
                "Returns the events of several partitions from a sequence each, optionally "
                "blocking until there are some.",
                "0.2.0", "stream", kEpreadArgs},
    CommandSpec{"EPSEQ", cmd_epseq, 2, kRead | kFast, KeySpec{KeyKind::PartitionSelector, 1},
                ArityReply::Grammar, "Returns a partition's current sequence.", "0.1.0", "stream",
                kEpseqArgs},
    CommandSpec{"ESUB", cmd_esub, -2, kSubscription | kRead,
                KeySpec{KeyKind::StreamId, 1, "PARTITION_KEY", KeyKind::PartitionKey, 0, true,
                        "stream ids until FROM or WINDOW, each optionally followed by "
                        "PARTITION_KEY <uuid>; the first routes"},
                ArityReply::Grammar, "Subscribes to streams.", "0.1.0", "pubsub", kEsubArgs},
    CommandSpec{"EPSUB", cmd_epsub, -2, kSubscription | kRead,
                KeySpec{KeyKind::PartitionSelector, 1, "", KeyKind::PartitionKey, 0, false,
                        "a partition id, a partition key, *, a range a-b or a comma list"},
                ArityReply::Grammar, "Subscribes to partitions.", "0.1.0", "pubsub", kEpsubArgs},
    CommandSpec{"EACK",
                cmd_eack,
                3,
                kSubscription | kFast,
                {},
                ArityReply::Grammar,
                "Acknowledges a subscription's messages up to a cursor.",
                "0.1.0",
                "pubsub",
                kEackArgs},
    CommandSpec{"EUNSUB",
                cmd_eunsub,
                2,
                kSubscription | kFast,
                {},
                ArityReply::Grammar,
                "Cancels a subscription.",
                "0.1.0",
                "pubsub",
                kEunsubArgs},
    CommandSpec{"SUBSCRIBE",
                cmd_subscribe,
                -2,
                kSubscription | kRead,
                {},
                ArityReply::Standard,
                "Subscribes to sierradb:stream:<id>, sierradb:partition:<n> or "
                "sierradb:partitions; events arrive as Redis pub/sub messages (JSON).",
                "0.2.0",
                "pubsub",
                kSubscribeArgs},
    CommandSpec{"UNSUBSCRIBE",
                cmd_unsubscribe,
                -1,
                kSubscription | kFast,
                {},
                ArityReply::Standard,
                "Ends SUBSCRIBE subscriptions.",
                "0.2.0",
                "pubsub",
                kUnsubscribeArgs},
};

constexpr char upper(char c) {
  return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals_upper(std::string_view name, std::string_view upper_name) {
  if (name.size() != upper_name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (upper(name[i]) != upper_name[i]) return false;
  }
  return true;
}

}  // namespace

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (iequals_upper(name, spec.name)) return &spec;
  }
  return nullptr;
}

std::span<const CommandSpec> all_commands() {
  return kCommands;
}

}  // namespace sierra::server
