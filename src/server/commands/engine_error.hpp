// What a client is told about an engine failure that is not its own fault: the condition in a
// stable form ("disk full", "I/O error", the damaged bucket and segment), never a file path of
// the server. The whole error, path included, goes to the server log.
#pragma once

#include <string>
#include <string_view>

#include "engine/error.hpp"

namespace sierra::server {

// Logs `e` (as a warning, with `during`: "append", "read") and returns the text for the reply.
std::string client_error_text(const Error& e, std::string_view during);

// `text` with every absolute path replaced by "<path>" (a '/' that starts a word, up to the
// next space, quote or ':' followed by a space).
std::string redact_paths(std::string_view text);

}  // namespace sierra::server
