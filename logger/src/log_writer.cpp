#include "logger/log_writer.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "logger/env_file.hpp"
#include "logger/files.hpp"

namespace agentlog {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kHourMs = 3'600'000, kDayMs = 86'400'000;

std::runtime_error io_error(const std::string& what, const fs::path& path, int err) {
  std::string hint =
      err == ENOSPC ? " (the disk is full: free space; nothing written before is lost)"
      : err == EACCES || err == EPERM || err == EROFS ? " (make the directory writable for this user)"
      : err == EFBIG ? " (the process's file size limit, ulimit -f, is reached: raise it, or lower "
                       "LOG_MAX_SIZE_MB below it; nothing written before is lost)"
                     : "";
  return std::runtime_error("cannot " + what + " " + path.string() + ": " + std::strerror(err) + hint);
}

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

std::int64_t system_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string archive_name(std::int64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d-%H%M%S", &tm);
  return buf;
}

std::int64_t archive_time(const std::string& name) {
  std::tm tm{};
  if (name.size() < 17 || !strptime(name.substr(0, 17).c_str(), "%Y-%m-%d-%H%M%S", &tm)) return -1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

bool archive_name_less(const std::string& a, const std::string& b) {
  auto split = [](const std::string& n) {
    const std::size_t dash = n.size() > 17 ? n.find('-', 17) : std::string::npos;
    long suffix = dash == std::string::npos ? 1 : std::strtol(n.c_str() + dash + 1, nullptr, 10);
    return std::make_pair(n.substr(0, std::min<std::size_t>(n.size(), 17)), suffix);
  };
  return split(a) < split(b);
}

RotationPolicy RotationPolicy::from_env(const EnvSettings& env) {
  RotationPolicy p;
  p.max_bytes = static_cast<std::uint64_t>(env.get_double("LOG_MAX_SIZE_MB") * 1024 * 1024);
  const std::string& interval = env.get_string("LOG_ROTATE_INTERVAL");
  p.interval = interval == "hourly"   ? Interval::kHourly
               : interval == "weekly" ? Interval::kWeekly
               : interval == "none"   ? Interval::kNone
                                      : Interval::kDaily;
  p.compress = env.get_bool("LOG_COMPRESS_ARCHIVES");
  p.retention_days = static_cast<int>(env.get_int("LOG_RETENTION_DAYS"));
  p.max_archives = static_cast<int>(env.get_int("LOG_MAX_ARCHIVES"));
  p.max_total_bytes = static_cast<std::uint64_t>(env.get_double("LOG_MAX_TOTAL_MB") * 1024 * 1024);
  return p;
}

LogWriter::LogWriter(fs::path logs_dir, RotationPolicy policy, MsClock clock)
    : dir_(std::move(logs_dir)), clock_(std::move(clock)), policy_(policy) {}

LogWriter::~LogWriter() {
  Maintenance& work = *work_;
  {
    std::lock_guard lock(work.mutex);
    work.stop = true;
  }
  work.cv.notify_all();
  if (work.thread.joinable()) {
    if (work.pid == ::getpid())
      work.thread.join();
    else  // a fork child of an unmanaged writer: the thread is not here (destroying its handle would
          // terminate)
      static_cast<void>(work_.release());
  }
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void LogWriter::set_policy(const RotationPolicy& policy) {
  std::lock_guard lock(mutex_);
  policy_ = policy;
}

RotationPolicy LogWriter::policy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

std::uint64_t LogWriter::rotations() const {
  std::lock_guard lock(mutex_);
  return rotations_;
}

bool LogWriter::period_ended(std::int64_t created, std::int64_t now) const {
  switch (policy_.interval) {
    case RotationPolicy::Interval::kNone:
      return false;
    case RotationPolicy::Interval::kHourly:
      return created / kHourMs != now / kHourMs;
    case RotationPolicy::Interval::kDaily:
      return created / kDayMs != now / kDayMs;
    case RotationPolicy::Interval::kWeekly:
      return (created / kDayMs + 3) / 7 != (now / kDayMs + 3) / 7;
  }
  return false;
}

// logs/.latest.meta: "<inode of latest.log> <epoch ms it was started>", then " stepped-back" once a writer
// found the clock earlier than the file's last change (it stepped back since): lines in it may then be newer
// than its rotation, which looks for the newest of them. Last, " rotations=<n>": the log's rotations by every
// writer (a follower's count; writers before it left it out, and their readers see only the third word).
namespace {
struct LatestMeta {
  unsigned long long inode = 0;
  long long created_ms = 0;
  bool stepped_back = false;
  std::optional<std::uint64_t> rotations;
};
std::optional<LatestMeta> read_meta(const fs::path& file) {
  LatestMeta m;
  const auto text = read_file(file);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  if (!(in >> m.inode >> m.created_ms)) return std::nullopt;
  for (std::string word; in >> word;)
    if (word == "stepped-back")
      m.stepped_back = true;
    else if (unsigned long long n = 0; std::sscanf(word.c_str(), "rotations=%llu", &n) == 1)
      m.rotations = n;
  return m;
}
}  // namespace

std::optional<std::uint64_t> log_rotation_count(const fs::path& logs_dir) {
  const auto meta = read_meta(logs_dir / ".latest.meta");
  return meta ? meta->rotations : std::nullopt;
}

void LogWriter::write_meta_locked() const {
  write_file_atomic(dir_ / ".latest.meta", std::to_string(inode_) + " " + std::to_string(created_ms_) +
                                               (stepped_back_ ? " stepped-back" : "") +
                                               " rotations=" + std::to_string(project_rotations_) + "\n");
}

bool LogWriter::meta_says_stepped_back_locked() const {
  const auto meta = read_meta(dir_ / ".latest.meta");
  return meta && meta->inode == inode_ && meta->stepped_back;
}

// Opens latest.log unless the open descriptor is still it (another process may have rotated it away), and
// learns when it was started from logs/.latest.meta.
void LogWriter::ensure_open_locked() {
  const fs::path path = latest();
  struct stat st {};
  if (fd_ >= 0 && ::stat(path.c_str(), &st) == 0 && st.st_ino == inode_) return;
  if (fd_ >= 0) ::close(fd_);
  clean_end_ = kUnknownEnd;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);  // read: the last byte
  if (fd_ < 0) throw io_error("open", path, errno);
  ::fstat(fd_, &st);
  inode_ = st.st_ino;
  const auto meta = read_meta(dir_ / ".latest.meta");
  if (meta && meta->rotations) project_rotations_ = std::max(project_rotations_, *meta->rotations);
  if (st.st_size > 0 && meta && meta->inode == inode_) {
    created_ms_ = meta->created_ms;
    stepped_back_ = meta->stepped_back;
    return;
  }
  // A new file starts now; one without a record (an older writer made it) counts from its last change.
  created_ms_ = st.st_size == 0 ? clock_() : static_cast<std::int64_t>(st.st_mtime) * 1000;
  stepped_back_ = false;
  write_meta_locked();
}

// The archive folder of a rotation at `now`: its second, with a suffix one greater than any folder of that
// second ("-2", "-3"...). Never a lower free suffix: retention removes the oldest first, so a reused
// "base" would name the newest archive as the oldest, and the next pass would delete it. Never earlier than
// the newest folder either (a clock stepped back): the order of the names is the order of the files.
std::string LogWriter::next_archive_name_locked(std::int64_t now) const {
  std::string newest;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(archive_dir(), ec)) {
    std::string name = entry.path().filename().string();
    if (archive_time(name) < 0) continue;
    if (newest.empty() || archive_name_less(newest, name)) newest = std::move(name);
  }
  const std::string base = archive_name(now);
  if (newest.empty() || newest.substr(0, 17) < base) return base;
  const std::size_t dash = newest.size() > 17 ? newest.find('-', 17) : std::string::npos;
  const long suffix = dash == std::string::npos ? 1 : std::strtol(newest.c_str() + dash + 1, nullptr, 10);
  return newest.substr(0, 17) + "-" + std::to_string(std::max(suffix, 1L) + 1);
}

namespace {

// The newest "ts" of agentlog's own lines ({"ts":"<24 chars>",...) in the file open as `fd`, as epoch ms; -1
// when it holds none. A search with `since` stops at the first archive named before it: one written before
// the clock stepped back holds lines newer than its rotation, and is named after them.
std::int64_t newest_line_ms(int fd) {
  constexpr std::string_view kPrefix = "{\"ts\":\"";
  constexpr std::size_t kHead = kPrefix.size() + 24 + 1;  // the prefix, the time, its closing quote
  std::string newest;  // ISO 8601 UTC, all of one form: the order of the strings is that of the times
  std::vector<char> buf(1 << 20);
  off_t offset = 0;
  bool mid_line = false;  // the chunk before ended inside a line
  // (read, not mapped: a file cut short by someone else while mapped would kill the program with SIGBUS)
  for (ssize_t n; (n = ::pread(fd, buf.data(), buf.size(), offset)) > 0;) {
    const std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    std::size_t i = 0, used = chunk.size();
    if (mid_line) {
      const std::size_t nl = chunk.find('\n');
      mid_line = nl == std::string_view::npos;
      i = mid_line ? chunk.size() : nl + 1;
    }
    while (i < chunk.size()) {
      if (chunk.size() - i < kHead && chunk.size() == buf.size()) {  // a line starts at the chunk's end:
        used = i;                                                    // read it again from its start
        break;
      }
      if (chunk.size() - i >= kHead && chunk.compare(i, kPrefix.size(), kPrefix) == 0) {
        const std::string_view ts = chunk.substr(i + kPrefix.size(), 25);  // 2026-11-25T14:30:25.100Z"
        if (ts[4] == '-' && ts[10] == 'T' && ts[23] == 'Z' && ts[24] == '"' && ts.substr(0, 24) > newest)
          newest = ts.substr(0, 24);
      }
      const std::size_t nl = chunk.find('\n', i);
      mid_line = nl == std::string_view::npos;
      i = mid_line ? chunk.size() : nl + 1;
    }
    offset += static_cast<off_t>(used);
  }
  std::tm tm{};
  const char* rest = newest.empty() ? nullptr : strptime(newest.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest || rest[0] != '.' || !std::isdigit(static_cast<unsigned char>(rest[1]))) return -1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + std::atoi(rest + 1);
}

}  // namespace

void LogWriter::rotate_locked(std::int64_t now) {
  const fs::path archives = archive_dir();
  std::error_code ec;
  fs::create_directories(archives, ec);
  // Named after its newest line when that is newer than now (a clock stepped back since it was written), but
  // not beyond a day ahead: a line with a wrong time would name every archive after it. Only looked for when
  // a writer saw the step (reading 10 MB costs 2 ms).
  if (stepped_back_ || meta_says_stepped_back_locked())
    if (const std::int64_t newest = newest_line_ms(fd_); newest > now) now = std::min(newest, now + kDayMs);
  // Another process's retention (it does not hold the lock file) may remove the new, still empty folder
  // before the rename: then the next name is taken.
  for (int attempt = 1;; ++attempt) {
    fs::path target = archives / next_archive_name_locked(now);
    if (::mkdir(target.c_str(), 0755) != 0) {
      if (errno != EEXIST || attempt == 20) throw io_error("create", target, errno);
      continue;  // made by a writer of an older version (it took the first free name)
    }
    if (::rename(latest().c_str(), (target / "latest.log").c_str()) == 0) break;
    const int err = errno;
    struct stat st {};
    if (err != ENOENT || attempt == 20 || ::stat(latest().c_str(), &st) != 0)
      throw io_error("rotate", latest(), err);
  }
  ::close(fd_);
  fd_ = -1;
  ++rotations_;
  // Counted from the record (another writer's rotations since this one looked are in it), not from ours.
  const auto meta = read_meta(dir_ / ".latest.meta");
  project_rotations_ = std::max(project_rotations_, meta && meta->rotations ? *meta->rotations : 0) + 1;
  ensure_open_locked();  // a new, empty latest.log: it starts now
  schedule_maintenance();
}

namespace {

// A file-size limit (ulimit -f, RLIMIT_FSIZE) makes write() raise SIGXFSZ, whose default action kills the
// program that only wanted to log. Blocked while this thread writes, write() fails with EFBIG instead and
// the error path runs (the file is cut back: no torn line); the signal it left pending is taken off.
class SigxfszBlocked {
 public:
  SigxfszBlocked() {
    sigemptyset(&xfsz_);
    sigaddset(&xfsz_, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &xfsz_, &old_);
  }
  ~SigxfszBlocked() {
    if (sigismember(&old_, SIGXFSZ)) return;  // the program blocks it itself: its business
    sigset_t pending;
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ)) {
      const timespec now{};
      while (sigtimedwait(&xfsz_, nullptr, &now) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigxfszBlocked(const SigxfszBlocked&) = delete;
  SigxfszBlocked& operator=(const SigxfszBlocked&) = delete;

 private:
  sigset_t xfsz_, old_;
};

}  // namespace

void LogWriter::append(std::string_view lines) {
  if (lines.empty()) return;
  std::lock_guard lock(mutex_);
  SigxfszBlocked no_sigxfsz;
  std::size_t pos = 0;
  try {
    lock_file_locked();
    struct Unlock {
      int fd;
      ~Unlock() { ::flock(fd, LOCK_UN); }
    } unlock{lock_fd_};
    append_locked(lines, pos);
  } catch (const std::exception& e) {
    throw LogWriteError(e.what(), pos);
  }
}

// Takes the flock on logs/.lock, opening the file first (and creating logs/) when this process has none
// open, or when the one it has is no longer logs/.lock: logs/ or the lock file was removed while the
// program ran. A lock on a removed file would exclude nobody (the next process creates a new one), so the
// name is checked again once the lock is held.
void LogWriter::lock_file_locked() {
  const fs::path lock_path = dir_ / ".lock";
  for (int attempt = 1;; ++attempt) {
    if (lock_fd_ < 0) {
      std::error_code ec;
      fs::create_directories(dir_, ec);
      lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (lock_fd_ < 0) throw io_error("open", lock_path, errno);
    }
    while (::flock(lock_fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
    struct stat held {
    }, named{};
    if (::fstat(lock_fd_, &held) == 0 && ::stat(lock_path.c_str(), &named) == 0 &&
        held.st_ino == named.st_ino && held.st_dev == named.st_dev)
      return;
    ::flock(lock_fd_, LOCK_UN);
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (attempt == 10)
      throw std::runtime_error("cannot lock " + lock_path.string() + ": it keeps being removed");
  }
}

void LogWriter::before_fork() { mutex_.lock(); }

void LogWriter::after_fork_in_parent() { mutex_.unlock(); }

void LogWriter::after_fork_in_child() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // the parent's lock stays held or released as the parent decides
  fd_ = lock_fd_ = -1;
  inode_ = 0;
  clean_end_ = kUnknownEnd;
  static_cast<void>(work_.release());  // leaked: its thread is not in this process, its mutex may be held
  work_ = std::make_unique<Maintenance>();
  mutex_.unlock();
}

void LogWriter::append_locked(std::string_view lines, std::size_t& pos) {
  ensure_open_locked();
  while (pos < lines.size()) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw io_error("stat", latest(), errno);
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    const std::int64_t now = clock_();
    // The file changed more than a second after now: the clock stepped back since (the margin: the kernel
    // stamps writes with a coarser clock). Said once, for every writer of this file to see.
    if (const std::int64_t changed_ms = st.st_mtim.tv_sec * 1000LL + st.st_mtim.tv_nsec / 1'000'000;
        !stepped_back_ && size > 0 && now + 1000 < changed_ms) {
      stepped_back_ = true;
      write_meta_locked();
    }
    if (size > 0 && period_ended(created_ms_, now)) {
      rotate_locked(now);
      continue;
    }
    // A writer killed mid-line (even ours: a fatal signal cuts a write short): start a new line. Not needed
    // when the file ends where our last whole line did (nobody wrote since: we hold the lock file).
    if (size > 0 && size != clean_end_) {
      char last = '\n';
      if (::pread(fd_, &last, 1, static_cast<off_t>(size - 1)) == 1 && last != '\n' &&
          !write_all(fd_, "\n", 1))
        throw io_error("write", latest(), errno);
    }
    std::string_view rest = lines.substr(pos);
    const std::uint64_t room = size >= policy_.max_bytes ? 0 : policy_.max_bytes - size;
    std::size_t n = rest.size();
    if (n > room) {  // the whole lines that fit
      std::size_t cut =
          room == 0 ? std::string_view::npos : rest.rfind('\n', static_cast<std::size_t>(room - 1));
      n = cut == std::string_view::npos ? 0 : cut + 1;
    }
    if (n == 0) {
      if (size > 0) {
        rotate_locked(now);
        continue;
      }
      std::size_t eol = rest.find('\n');  // a single line longer than the limit goes alone into a file
      n = eol == std::string_view::npos ? rest.size() : eol + 1;
    }
    if (!write_all(fd_, rest.data(), n)) {
      int err = errno;
      if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      }  // no torn line left behind
      throw io_error("write", latest(), err);
    }
    pos += n;
    clean_end_ = rest[n - 1] == '\n' ? size + n : kUnknownEnd;
  }
}

void LogWriter::schedule_maintenance() {
  Maintenance& work = *work_;
  {
    std::lock_guard lock(work.mutex);
    work.pending = true;
    if (!work.thread.joinable()) {
      work.thread = std::thread([this, &work] { worker_loop(work); });
      work.pid = ::getpid();
    }
  }
  work.cv.notify_all();
}

void LogWriter::worker_loop(Maintenance& work) {
  std::unique_lock lock(work.mutex);
  while (true) {
    work.cv.wait(lock, [&] { return work.pending || work.stop; });
    if (!work.pending && work.stop) return;
    work.pending = false;
    work.running = true;
    lock.unlock();
    try {
      maintain();
    } catch (const std::exception&) {
      // Maintenance retries on the next rotation; writing never depends on it.
    }
    lock.lock();
    work.running = false;
    work.cv.notify_all();
  }
}

void LogWriter::wait_idle() {
  Maintenance& work = *work_;
  std::unique_lock lock(work.mutex);
  if (work.thread.joinable() && work.pid != ::getpid()) return;  // a fork child of an unmanaged writer
  work.cv.wait(lock, [&] { return !work.pending && !work.running; });
}

void LogWriter::maintain() {
  const RotationPolicy p = policy();
  struct Archive {
    std::string name;
    fs::path dir;
    std::uint64_t bytes = 0;
  };
  std::vector<Archive> archives;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(archive_dir(), ec)) {
    if (!entry.is_directory()) continue;
    Archive a{entry.path().filename().string(), entry.path()};
    if (p.compress && fs::exists(a.dir / "latest.log")) gzip_file(a.dir / "latest.log");
    for (const auto& f : fs::directory_iterator(a.dir, ec))
      if (f.is_regular_file()) a.bytes += f.file_size(ec);
    archives.push_back(std::move(a));
  }
  std::sort(archives.begin(), archives.end(),
            [](const Archive& a, const Archive& b) { return archive_name_less(a.name, b.name); });
  std::uint64_t total = 0;
  for (const auto& a : archives) total += a.bytes;
  // Age counts from now, unless the newest archive is more than the whole retention newer than the one before
  // it: a clock far ahead for one write (or a long idle gap) would make every other archive expire at once.
  // Age then counts from the one before, until the next rotation shows where the clock stands.
  const std::int64_t retention_ms = static_cast<std::int64_t>(p.retention_days) * kDayMs;
  std::int64_t reference = clock_();
  if (archives.size() >= 2) {
    const std::int64_t newest = archive_time(archives.back().name);
    const std::int64_t before = archive_time(archives[archives.size() - 2].name);
    if (newest >= 0 && before >= 0 && newest - before > retention_ms) reference = std::min(reference, before);
  }
  const std::int64_t oldest_kept = reference - retention_ms;
  std::size_t count = archives.size();
  for (const auto& a : archives) {  // oldest first
    const std::int64_t t = archive_time(a.name);
    const bool expired = p.retention_days > 0 && t >= 0 && t < oldest_kept;
    const bool too_many = p.max_archives > 0 && count > static_cast<std::size_t>(p.max_archives);
    const bool too_big = p.max_total_bytes > 0 && total > p.max_total_bytes;
    if (!expired && !too_many && !too_big) break;
    fs::remove_all(a.dir, ec);
    --count;
    total -= a.bytes;
  }
}

bool gzip_file(const fs::path& file, bool durable) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // A log archive is left to the process that holds it; an audit archive's writers hold its lock only for a
  // moment (they find it is no longer the live log), and it must not stay plain: wait for them.
  while (::flock(fd, durable ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    ::close(fd);
    return false;
  }
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {  // compressed by someone else while we waited
    ::close(fd);
    return false;
  }
  const fs::path gz = file.string() + ".gz";
  const fs::path tmp = gz.string() + ".tmp";
  // With the plain file's permissions (the audit log's are 0600; gzopen would make 0666 less the umask).
  const mode_t mode = st.st_mode & 0777;
  const int out_fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (out_fd >= 0) ::fchmod(out_fd, mode);
  gzFile out = out_fd >= 0 ? gzdopen(out_fd, "wb6") : nullptr;
  if (!out) {
    const int err = errno;
    if (out_fd >= 0) ::close(out_fd);
    ::close(fd);
    throw io_error("create", tmp, err);
  }
  std::vector<char> buf(1 << 20);
  bool ok = true;
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    if (gzwrite(out, buf.data(), static_cast<unsigned>(n)) != n) {
      ok = false;
      break;
    }
  }
  ok = gzclose(out) == Z_OK && ok;
  if (!ok) {
    ::unlink(tmp.c_str());
    ::close(fd);
    throw std::runtime_error("cannot compress " + file.string() + " (the plain archive is kept)");
  }
  if (durable) {  // on disk before the plain file goes: a power cut must not leave an empty .gz only
    const int tmp_fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    const bool synced = tmp_fd >= 0 && ::fsync(tmp_fd) == 0;
    if (tmp_fd >= 0) ::close(tmp_fd);
    if (!synced) {
      ::unlink(tmp.c_str());
      ::close(fd);
      throw std::runtime_error("cannot flush " + tmp.string() + " to disk (the plain archive is kept)");
    }
  }
  if (::rename(tmp.c_str(), gz.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    ::close(fd);
    throw io_error("rename", tmp, err);
  }
  if (durable) {  // the new name too
    const int dir = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) ::fsync(dir), ::close(dir);
  }
  ::unlink(file.c_str());
  ::close(fd);
  return true;
}

}  // namespace agentlog
