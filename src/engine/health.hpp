// Faults the database keeps running with instead of stopping, for INFO and the log: closed
// segments still waiting for their index files (disk full: served from memory, retried), and
// quarantined closed segments (damaged data: reads that need it fail with a clear error).
#pragma once

#include <string>
#include <vector>

#include "engine/ids.hpp"

namespace sierra {

struct SegmentHealth {
  BucketId bucket = 0;
  SegmentId segment = 0;
  std::string reason;  // empty for index writes; what is damaged for quarantined segments
};

struct DatabaseHealth {
  std::vector<SegmentHealth> index_writes_waiting;
  std::vector<SegmentHealth> quarantined;
};

}  // namespace sierra
