// The command table: every command the server knows, looked up case-insensitively.
#include <array>
#include <string_view>

#include "server/commands/basic_commands.hpp"
#include "server/commands/command.hpp"
#include "server/commands/data_commands.hpp"
#include "server/commands/subscription_commands.hpp"

namespace sierra::server {

namespace {

constexpr std::array kCommands = {
    CommandSpec{"PING", cmd_ping},
    CommandSpec{"ECHO", cmd_echo},
    CommandSpec{"HELLO", cmd_hello},
    CommandSpec{"INFO", cmd_info},
    CommandSpec{"CLIENT", cmd_client},
    CommandSpec{"SELECT", cmd_select},
    CommandSpec{"COMMAND", cmd_command},
    CommandSpec{"QUIT", cmd_quit},
    CommandSpec{"EAPPEND", cmd_eappend, /*appends=*/true},
    CommandSpec{"EMAPPEND", cmd_emappend, /*appends=*/true},
    CommandSpec{"EGET", cmd_eget},
    CommandSpec{"ESCAN", cmd_escan},
    CommandSpec{"ESVER", cmd_esver},
    CommandSpec{"EPSCAN", cmd_epscan},
    CommandSpec{"EPSEQ", cmd_epseq},
    CommandSpec{"ESUB", cmd_esub},
    CommandSpec{"EPSUB", cmd_epsub},
    CommandSpec{"EACK", cmd_eack},
    CommandSpec{"EUNSUB", cmd_eunsub},
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

}  // namespace sierra::server
