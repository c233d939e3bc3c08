// MemDisk and MemLog: the ReplicatedLog contract in memory, with crashes, power losses and
// failing syncs and vote saves for the cluster tests.
#include "cluster/mem_log.hpp"

#include <algorithm>
#include <cerrno>

namespace sierra::test {
inline namespace mem_log {

namespace {

std::unexpected<Error> disk_error(Errc code, std::string what) {
  return std::unexpected(Error{code, std::move(what), 0, code == Errc::NoSpace ? ENOSPC : EIO});
}

}  // namespace

// ------------------------------------------------------------------------------------ MemDisk

void MemDisk::crash() {
  ++generation;
}

void MemDisk::power_loss() {
  written = durable;
  synced_prefix = durable.size();
  ++generation;
}

// ------------------------------------------------------------------------------------- MemLog

MemLog::MemLog(PassKey, MemDisk& disk, uint16_t partition_count)
    : disk_(disk), generation_(disk.generation), state_(partition_count) {}

MemLog::~MemLog() = default;

std::unique_ptr<MemLog> MemLog::open(MemDisk& disk, uint16_t partition_count) {
  auto log = std::make_unique<MemLog>(PassKey{}, disk, partition_count);
  const uint64_t upto = std::min<uint64_t>(disk.applied_index, disk.written.size());
  // Nothing is pending yet: the replay has no callbacks to run.
  ReplicatedState::Answers answers;
  for (uint64_t i = 1; i <= upto; ++i) {
    if (auto s = log->state_.apply(i, disk.written[i - 1], answers); !s) {
      log->open_error_ = s.error();
      break;
    }
  }
  return log;
}

Status MemLog::check_live() const {
  if (disk_.generation != generation_) {
    return make_error(Errc::Io, "the node crashed since this log was opened");
  }
  return {};
}

VoteState MemLog::vote_state() const {
  return disk_.vote;
}

Status MemLog::save_vote_state(VoteState state) {
  if (auto s = check_live(); !s) return s;
  if (disk_.fail_vote_saves > 0) {
    --disk_.fail_vote_saves;
    return disk_error(Errc::Io, "saving the vote state failed (injected)");
  }
  disk_.vote = state;
  ++disk_.vote_saves;
  return {};
}

uint64_t MemLog::last_index() const {
  return disk_.written.size();
}

uint64_t MemLog::durable_index() const {
  return disk_.synced_prefix;
}

Result<uint64_t> MemLog::term_at(uint64_t index) const {
  if (index == 0) return uint64_t{0};
  if (index > last_index()) {
    return make_error(Errc::InvalidArgument, "term_at(" + std::to_string(index) +
                                                 "): past the last index " +
                                                 std::to_string(last_index()));
  }
  return disk_.written[index - 1].term;
}

Result<std::vector<LogEntry>> MemLog::read_entries(uint64_t from, size_t max_count,
                                                   size_t max_bytes) const {
  if (from < 1 || from > last_index()) {
    return make_error(Errc::InvalidArgument, "read_entries from " + std::to_string(from) +
                                                 ": the log holds 1.." +
                                                 std::to_string(last_index()));
  }
  std::vector<LogEntry> out;
  size_t bytes = 0;
  for (uint64_t i = from; i <= last_index() && out.size() < max_count; ++i) {
    out.push_back(disk_.written[i - 1]);
    bytes += out.back().payload.size();
    if (bytes >= max_bytes) break;
  }
  return out;
}

Status MemLog::append(uint64_t first_index, std::span<const LogEntryRef> entries) {
  if (auto s = check_live(); !s) return s;
  if (first_index < 1 || first_index > last_index() + 1) {
    return make_error(Errc::InvalidArgument, "append at " + std::to_string(first_index) +
                                                 ": the last index is " +
                                                 std::to_string(last_index()));
  }
  if (first_index <= last_index() && first_index <= applied_index()) {
    return make_error(Errc::InvalidArgument, "append at " + std::to_string(first_index) +
                                                 " would remove applied entries (applied index " +
                                                 std::to_string(applied_index()) + ")");
  }
  for (size_t k = 0; k < entries.size(); ++k) {
    if (auto s = verify_log_entry(first_index + k, entries[k]); !s) return s;
  }
  disk_.written.resize(first_index - 1);
  disk_.synced_prefix = std::min<uint64_t>(disk_.synced_prefix, first_index - 1);
  for (const LogEntryRef& e : entries) {
    disk_.written.push_back(
        LogEntry{e.term, e.type, std::vector<uint8_t>(e.payload.begin(), e.payload.end())});
  }
  return {};
}

Status MemLog::sync() {
  if (auto s = check_live(); !s) return s;
  if (disk_.fail_syncs > 0) {
    --disk_.fail_syncs;
    return disk_error(disk_.sync_error, "fdatasync of the log failed (injected)");
  }
  disk_.durable = disk_.written;
  disk_.synced_prefix = disk_.written.size();
  disk_.applied_index = applied_index();
  ++disk_.syncs;
  return {};
}

uint64_t MemLog::applied_index() const {
  return state_.applied_index();
}

Status MemLog::apply(uint64_t index, const AppliedSink& sink) {
  if (auto s = check_live(); !s) return s;
  if (index > durable_index()) {
    return make_error(Errc::InvalidArgument, "apply(" + std::to_string(index) +
                                                 "): past the durable index " +
                                                 std::to_string(durable_index()));
  }
  ReplicatedState::Answers answers;
  Status status;
  while (state_.applied_index() < index) {
    const uint64_t next = state_.applied_index() + 1;
    if (auto s = state_.apply(next, disk_.written[next - 1], answers); !s) {
      status = s;
      break;
    }
  }
  // State is final: now the outside world may look (and re-enter).
  answers.run(sink);
  return status;
}

std::optional<Proposal> MemLog::propose(PartitionId pid, Transaction tx, uint64_t index,
                                        uint64_t term, AppendCallback done) {
  if (auto s = check_live(); !s) {
    if (done) done(std::unexpected(s.error()));
    return std::nullopt;
  }
  return state_.propose(pid, std::move(tx), index, term, std::move(done));
}

void MemLog::abandon_proposals(uint64_t from_index, const Error& why) {
  state_.abandon(from_index, why);
}

uint64_t MemLog::next_sequence(PartitionId pid) const {
  return state_.next_sequence(pid);
}

CurrentVersion MemLog::stream_version(PartitionId pid, const std::string& stream_id) const {
  return state_.stream_version(pid, stream_id);
}

}  // namespace mem_log
}  // namespace sierra::test
