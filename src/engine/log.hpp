// The engine's log levels and sink: the engine reports recovery and I/O trouble through a
// LogSink its embedder supplies (the server's config uses the same levels).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace sierra {

enum class LogLevel : uint8_t { Trace, Debug, Info, Warn, Error };
using LogSink = std::function<void(LogLevel, std::string_view)>;

}  // namespace sierra
