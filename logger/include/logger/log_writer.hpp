// The latest/archive log file: appends whole lines to logs/latest.log and rotates it to
// logs/archive/YYYY-MM-DD-HHmmss/latest.log(.gz) by size or when the rotation interval ends, with background
// gzip and retention. Several processes (the server, hooks, user programs) write one directory at once:
// every append and every rotation happens under an exclusive flock on logs/.lock, each append is one
// O_APPEND write of whole lines, and a writer notices a rotation done by another process (the inode of
// latest.log changed) before it writes. A failed write is truncated back, so a torn line never stays in the
// middle of the file.
//
// Thread-safety: every public member may be called from any thread. Across fork(): the owner calls
// before_fork() in its pthread_atfork prepare handler and after_fork_in_parent() / after_fork_in_child() in
// the others (ProjectLog does); the child then opens its own lock file and latest.log.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace agentlog {

class EnvSettings;

struct RotationPolicy {
  enum class Interval { kNone, kHourly, kDaily, kWeekly };
  std::uint64_t max_bytes = 10ull << 20;  // LOG_MAX_SIZE_MB
  Interval interval = Interval::kDaily;   // LOG_ROTATE_INTERVAL (UTC boundaries; weeks start on Monday)
  bool compress = true;                   // LOG_COMPRESS_ARCHIVES
  int retention_days = 30;                // LOG_RETENTION_DAYS, 0 = forever
  int max_archives = 100;                 // LOG_MAX_ARCHIVES, 0 = no limit
  std::uint64_t max_total_bytes = 1024ull << 20;  // LOG_MAX_TOTAL_MB, 0 = no limit

  static RotationPolicy from_env(const EnvSettings& logging);
  bool operator==(const RotationPolicy&) const = default;
};

// Milliseconds since the epoch; injectable so tests can move time.
using MsClock = std::function<std::int64_t()>;
std::int64_t system_ms();

// "2026-11-25-143025" for a time in epoch ms (UTC): the name of an archive folder.
std::string archive_name(std::int64_t epoch_ms);
// The time an archive folder's name gives ("2026-11-25-143025[-2]"), or -1 for another name.
std::int64_t archive_time(const std::string& name);
// Oldest first: by time, then by the "-2", "-3"... of several rotations in one second.
bool archive_name_less(const std::string& a, const std::string& b);

// A failed append: `written` bytes of the batch (whole lines) reached the file before the failure.
class LogWriteError : public std::runtime_error {
 public:
  LogWriteError(const std::string& message, std::size_t written)
      : std::runtime_error(message), written(written) {}
  std::size_t written;
};

// Rotations of the log in `logs_dir` by every writer so far, as logs/.latest.meta counts them (writers before
// the count, and a missing or damaged file: nullopt). A follower compares two counts to learn how many files
// were rotated out between its looks, and so how many retention removed before it could read them. Read it
// holding logs/.lock (shared), as rotations hold it.
std::optional<std::uint64_t> log_rotation_count(const std::filesystem::path& logs_dir);

class LogWriter {
 public:
  LogWriter(std::filesystem::path logs_dir, RotationPolicy policy, MsClock clock = system_ms);
  ~LogWriter();  // waits for pending compressions
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Appends `lines` (whole lines, each ending in '\n'), rotating first when needed; a batch larger than the
  // room left in latest.log is split at line boundaries across rotations. Throws LogWriteError naming the
  // file and the cause (no space, permission); what was written before stays intact.
  void append(std::string_view lines);

  void set_policy(const RotationPolicy& policy);
  RotationPolicy policy() const;

  // Compresses archives left uncompressed (a process killed before it finished) and applies retention.
  void maintain();
  // Waits until background compression and retention are done (tests, shutdown).
  void wait_idle();

  std::uint64_t rotations() const;  // rotations done by this writer

  // fork() with no append under way: holds the writer's lock until one of the after_fork calls.
  void before_fork();
  void after_fork_in_parent();
  // The child shares the parent's open files: a flock belongs to the open file description, so with the
  // parent's logs/.lock they would hold (and release) one lock together. It opens its own on the next append,
  // and gets its own maintenance thread (the parent's is not in this process).
  void after_fork_in_child();

  const std::filesystem::path& logs_dir() const { return dir_; }
  std::filesystem::path latest() const { return dir_ / "latest.log"; }
  std::filesystem::path archive_dir() const { return dir_ / "archive"; }

 private:
  // Background compression and retention. Replaced in a fork child (the parent's thread, and whatever state
  // its mutex and condition variable were in, are not the child's), else set once.
  struct Maintenance {
    std::mutex mutex;
    std::condition_variable cv;
    bool pending = false, running = false, stop = false;
    std::thread thread;
    pid_t pid = 0;  // the process that started `thread`
  };

  void lock_file_locked();
  void ensure_open_locked();
  void append_locked(std::string_view lines, std::size_t& pos);
  void rotate_locked(std::int64_t now);
  void write_meta_locked() const;
  bool meta_says_stepped_back_locked() const;
  std::string next_archive_name_locked(std::int64_t now) const;
  bool period_ended(std::int64_t created_ms, std::int64_t now) const;
  void schedule_maintenance();
  void worker_loop(Maintenance& work);

  const std::filesystem::path dir_;
  MsClock clock_;
  mutable std::mutex mutex_;  // guards the members below (and serialises this process's appends)
  RotationPolicy policy_;
  int lock_fd_ = -1;
  int fd_ = -1;
  ino_t inode_ = 0;
  static constexpr std::uint64_t kUnknownEnd = ~std::uint64_t{0};
  std::uint64_t clean_end_ = kUnknownEnd;  // latest.log's size after our last write, which ended a line
  std::int64_t created_ms_ = 0;            // when the open latest.log was started (logs/.latest.meta)
  bool stepped_back_ = false;              // its lines may be newer than the clock (logs/.latest.meta)
  std::uint64_t rotations_ = 0;
  std::uint64_t project_rotations_ = 0;  // by every writer of this folder (logs/.latest.meta)

  std::unique_ptr<Maintenance> work_ = std::make_unique<Maintenance>();
};

// Gzips `file` to `file`.gz (through a temporary and rename) and removes `file`. False when another process
// is compressing it (it holds the file's flock) or it is gone. The .gz has the plain file's permissions.
// Throws on I/O errors. `durable` (the audit log's archives): waits for the file's lock instead of leaving
// the file to its holder, and flushes the .gz to disk before the plain file is removed.
bool gzip_file(const std::filesystem::path& file, bool durable = false);

}  // namespace agentlog
