// The process's open-files limit: raising the soft limit to the hard one (once, before the
// database opens its segment files) and what that leaves for clients. The one place the server
// calls setrlimit; the engine library never changes process-wide state.
#pragma once

#include <cstdint>
#include <optional>

namespace sierra::server {

// Raises RLIMIT_NOFILE's soft limit to the hard limit. Returns the soft limit in force
// afterwards, or nullopt when it is unlimited or cannot be read.
std::optional<uint64_t> raise_fd_limit();

}  // namespace sierra::server
