#include "server/commands/engine_error.hpp"

#include <spdlog/spdlog.h>

#include <cstring>

namespace sierra::server {

std::string redact_paths(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const bool word_start = i == 0 || text[i - 1] == ' ' || text[i - 1] == '(' ||
                            text[i - 1] == '\'' || text[i - 1] == '"';
    if (text[i] == '/' && word_start) {
      size_t j = i;
      while (j < text.size() && text[j] != ' ' && text[j] != '\'' && text[j] != '"' &&
             text[j] != ')' && !(text[j] == ':' && (j + 1 == text.size() || text[j + 1] == ' '))) {
        ++j;
      }
      out += "<path>";
      i = j;
      continue;
    }
    out += text[i++];
  }
  return out;
}

std::string client_error_text(const Error& e, std::string_view during) {
  if (e.code == Errc::NoSpace || e.code == Errc::Io) {
    spdlog::warn("{} failed: {}", during, e.to_string());
    if (e.code == Errc::NoSpace) return "disk full";
    return e.sys_errno != 0 ? "I/O error (" + std::string(std::strerror(e.sys_errno)) + ")"
                            : std::string("I/O error");
  }
  std::string text = redact_paths(e.message);
  if (text != e.message) spdlog::warn("{} failed: {}", during, e.to_string());
  return text;
}

}  // namespace sierra::server
