#include "cluster/sim/sim_disk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>

namespace sierra::test::sim {

namespace fs = std::filesystem;

namespace {

std::optional<uint64_t> size_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

std::string parent_of(const std::string& path) {
  return fs::path(path).parent_path().string();
}

// Reads [offset, offset + n) of `fd` (short at the end of the file).
std::vector<uint8_t> read_at(int fd, uint64_t offset, uint64_t n) {
  std::vector<uint8_t> out(n);
  uint64_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out.data() + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<uint64_t>(r);
  }
  out.resize(done);
  return out;
}

void write_at(int fd, uint64_t offset, const std::vector<uint8_t>& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
}

}  // namespace

SimDisk::SimDisk(fs::path root) : root_(fs::absolute(std::move(root)).lexically_normal()) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  stash_dir_ = root_.parent_path() / (root_.filename().string() + ".simdisk-stash");
}

SimDisk::~SimDisk() {
  forget_stash();
}

std::string SimDisk::key(const fs::path& p) {
  return p.lexically_normal().string();
}

SimDisk::FileState& SimDisk::state(const std::string& path) {
  auto it = files_.find(path);
  if (it != files_.end()) return it->second;
  FileState f;
  f.size = f.durable_size = size_of(path).value_or(0);
  return files_.emplace(path, std::move(f)).first->second;
}

void SimDisk::save_range(int fd, const std::string& path, FileState& f, uint64_t begin,
                         uint64_t end) {
  // Bytes at or past the page cache's size were cut by a truncation, which saved them.
  end = std::min({end, f.size, f.durable_size});
  if (begin >= end) return;
  Saved s;
  s.offset = begin;
  if (fd >= 0) s.bytes = read_at(fd, begin, end - begin);
  if (s.bytes.size() != end - begin) {  // no descriptor, or a write-only one
    const int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd < 0) return;
    s.bytes = read_at(rfd, begin, end - begin);
    ::close(rfd);
  }
  f.saved.push_back(std::move(s));
}

std::expected<int, int> SimDisk::open(const fs::path& path, int flags, bool creates) {
  if (dead_) return std::unexpected(EIO);
  const std::string k = key(path);
  const bool existed = size_of(k).has_value();
  if (existed && (flags & O_TRUNC) != 0) {
    FileState& f = state(k);
    save_range(-1, k, f, 0, f.durable_size);
  }
  auto fd = Env::open(path, flags, creates);
  if (!fd) return fd;
  if (!existed) {
    // A new file (its entry is not durable until its directory is synced).
    FileState f;
    f.created = true;
    files_[k] = std::move(f);
  } else if ((flags & O_TRUNC) != 0) {
    state(k).size = 0;
  }
  return fd;
}

int SimDisk::pwrite_all(int fd, const fs::path& path, const void* buf, size_t n, uint64_t offset) {
  if (dead_) return EIO;
  if (fail_writes_ > 0) {
    --fail_writes_;
    ++injected_writes_;
    return ENOSPC;
  }
  const std::string k = key(path);
  FileState& f = state(k);
  if (offset < f.durable_size) save_range(fd, k, f, offset, offset + n);
  const int err = Env::pwrite_all(fd, path, buf, n, offset);
  if (err == 0) {
    f.size = std::max<uint64_t>(f.size, offset + n);
  } else {
    struct stat st {};
    if (::fstat(fd, &st) == 0) f.size = static_cast<uint64_t>(st.st_size);
  }
  return err;
}

int SimDisk::do_sync(int fd, const std::string& path, bool data_only) {
  if (dead_) return EIO;
  for (SyncKnob& knob : sync_knobs_) {
    if (knob.count <= 0) continue;
    if (!knob.substring.empty() && path.find(knob.substring) == std::string::npos) continue;
    --knob.count;
    ++injected_syncs_;
    return knob.err;
  }
  if (real_syncs) {
    const int err = data_only ? Env::datasync(fd, path) : Env::sync(fd, path);
    if (err != 0) return err;
  }
  FileState& f = state(path);
  struct stat st {};
  if (::fstat(fd, &st) == 0) f.size = static_cast<uint64_t>(st.st_size);
  f.durable_size = f.size;
  f.saved.clear();
  ++syncs_;
  return 0;
}

int SimDisk::datasync(int fd, const fs::path& path) {
  return do_sync(fd, key(path), true);
}

int SimDisk::sync(int fd, const fs::path& path) {
  return do_sync(fd, key(path), false);
}

int SimDisk::truncate(int fd, const fs::path& path, uint64_t size) {
  if (dead_) return EIO;
  const std::string k = key(path);
  FileState& f = state(k);
  if (size < f.size) save_range(fd, k, f, size, f.durable_size);
  const int err = Env::truncate(fd, path, size);
  if (err == 0) f.size = size;
  return err;
}

int SimDisk::sync_directory(const fs::path& dir) {
  if (dead_) return EIO;
  if (real_syncs) {
    if (const int err = Env::sync_directory(dir); err != 0) return err;
  }
  const std::string d = key(dir);
  for (auto& [path, f] : files_)
    if (f.created && parent_of(path) == d) f.created = false;
  std::erase_if(renames_, [&](const Rename& r) {
    if (parent_of(r.to) != d) return false;
    if (r.stash) ::unlink(r.stash->c_str());
    return true;
  });
  return 0;
}

int SimDisk::rename(const fs::path& from, const fs::path& to) {
  if (dead_) return EIO;
  Rename r;
  r.from = key(from);
  r.to = key(to);
  if (size_of(r.to)) {
    // Keep the file being replaced (a hard link: no copy) until the rename is durable.
    std::error_code ec;
    fs::create_directories(stash_dir_, ec);
    const std::string stash = (stash_dir_ / std::to_string(++stash_seq_)).string();
    if (::link(r.to.c_str(), stash.c_str()) == 0) r.stash = stash;
  }
  const int err = Env::rename(from, to);
  if (err != 0) {
    if (r.stash) ::unlink(r.stash->c_str());
    return err;
  }
  FileState moved = state(r.from);
  files_.erase(r.from);
  files_[r.to] = std::move(moved);
  renames_.push_back(std::move(r));
  return 0;
}

void SimDisk::crash() {
  dead_ = true;
}

void SimDisk::revive() {
  dead_ = false;
}

void SimDisk::power_loss(std::mt19937_64& rng) {
  dead_ = true;
  ++power_losses_;
  // Renames not made durable: each kept or undone (the latest first).
  for (auto it = renames_.rbegin(); it != renames_.rend(); ++it) {
    const Rename& r = *it;
    if ((rng() & 1) != 0) {
      if (r.stash) ::unlink(r.stash->c_str());
      if (auto f = files_.find(r.to); f != files_.end()) f->second.created = false;
      continue;
    }
    if (size_of(r.to) && ::rename(r.to.c_str(), r.from.c_str()) == 0) {
      if (auto f = files_.find(r.to); f != files_.end()) {
        FileState moved = std::move(f->second);
        files_.erase(f);
        files_[r.from] = std::move(moved);
      }
    }
    if (r.stash) ::rename(r.stash->c_str(), r.to.c_str());
  }
  renames_.clear();
  // Files, in path order (deterministic).
  for (auto& [path, f] : files_) {
    if (!f.dirty()) continue;
    const auto real_size = size_of(path);
    if (!real_size) continue;  // removed outside the Env
    if (f.created) {
      ::unlink(path.c_str());
      ++removed_files_;
      lost_bytes_ += *real_size;
      continue;
    }
    const Fate fate = forced_fate ? *forced_fate : static_cast<Fate>(rng() % 3);
    if (fate == Fate::Keep) continue;  // the page cache had reached the disk
    uint64_t target = f.durable_size;
    if (fate == Fate::Prefix && f.size > f.durable_size) {
      // The cut points: the durable size, the multiples of sector_size inside the tail, its end.
      const uint64_t unit = std::max<uint64_t>(1, sector_size);
      const uint64_t first = (f.durable_size / unit + 1) * unit;
      const uint64_t inner = first < f.size ? (f.size - 1 - first) / unit + 1 : 0;
      const uint64_t pick = rng() % (inner + 2);
      target = pick == 0 ? f.durable_size : pick > inner ? f.size : first + (pick - 1) * unit;
    }
    if (::truncate(path.c_str(), static_cast<off_t>(target)) != 0) continue;
    if (f.size > target) lost_bytes_ += f.size - target;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) continue;
    for (auto s = f.saved.rbegin(); s != f.saved.rend(); ++s) {
      write_at(fd, s->offset, s->bytes);
      lost_bytes_ += s->bytes.size();
    }
    ::close(fd);
  }
  files_.clear();
  forget_stash();
}

void SimDisk::forget_stash() {
  for (const Rename& r : renames_)
    if (r.stash) ::unlink(r.stash->c_str());
  std::error_code ec;
  fs::remove_all(stash_dir_, ec);
}

void SimDisk::fail_syncs(int count, int err, std::string path_substring) {
  if (count <= 0) return;
  for (SyncKnob& k : sync_knobs_)
    if (k.err == err && k.substring == path_substring) {
      k.count += count;
      return;
    }
  sync_knobs_.push_back(SyncKnob{count, err, std::move(path_substring)});
}

void SimDisk::fail_writes(int count) {
  if (count > 0) fail_writes_ += count;
}

void SimDisk::clear_faults() {
  sync_knobs_.clear();
  fail_writes_ = 0;
}

int SimDisk::pending_faults() const {
  int n = fail_writes_;
  for (const SyncKnob& k : sync_knobs_) n += k.count;
  return n;
}

size_t SimDisk::unsynced_files() const {
  size_t n = renames_.size();
  for (const auto& [path, f] : files_)
    if (f.dirty()) ++n;
  return n;
}

}  // namespace sierra::test::sim
