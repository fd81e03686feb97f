// Small file helpers shared by every module that persists state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentlog {

// The whole file, or nullopt when it does not exist. Throws std::runtime_error naming the file on I/O errors.
std::optional<std::string> read_file(const std::filesystem::path& path);

// Writes through a temporary file in the same directory and rename(), so readers see the old or the new
// bytes, never a mix. Keeps the mode of an existing file. Creates parent directories. Throws on failure.
// `durable`: fsync before the rename (survives a power cut, costs a disk flush).
void write_file_atomic(const std::filesystem::path& path, std::string_view data, int new_file_mode = 0644,
                       bool durable = true);

// What a file is now, for caches of what was read from it (settings files the human edits while we run):
// its identity, size and modification time, or "absent". Equal stamps: the same bytes, for our purposes.
struct FileStamp {
  bool exists = false;
  std::uint64_t inode = 0;
  std::int64_t size = 0, mtime_ns = 0;
  static FileStamp of(const std::filesystem::path& path);  // one stat()
  bool operator==(const FileStamp&) const = default;
};

// Whether the files of a folder changed, known without a stat: an inotify watch on the folder whose events are
// read by drain(). The thread that reads the requests calls drain() after each read and before it handles
// what it read, so a request sees every change finished before it was sent (a human's edit of a settings
// file, an audit log moved away). Only a process that drains so may watch (agentlog serve); elsewhere
// generation() is 0 and callers stat.
class FolderWatch {
 public:
  static FolderWatch& instance();
  enum class Events {
    kAny,    // a file written, created, renamed, removed or its attributes changed
    kNames,  // a file created, renamed or removed (not the appends to a log kept there)
  };
  // False when the folder cannot be watched (no inotify, no folder): its files are then stat'ed.
  bool watch(const std::filesystem::path& folder, Events events = Events::kAny);
  void drain();  // reads the waiting events without blocking
  // Changes whenever a file of `folder` may have changed; 0 when the folder is not (or no longer) watched.
  std::uint64_t generation(std::string_view folder) const;

 private:
  FolderWatch() = default;
  struct Folder {
    std::string path;
    int wd;  // -1 once the folder itself was removed or moved
  };
  mutable std::mutex mutex_;
  int fd_ = -1;
  std::vector<Folder> folders_;
  std::uint64_t generation_ = 1;
};

// What a cache of settings files last read: changed() says whether they may differ since then. It stats the
// files only when their folder's FolderWatch generation moved (or nobody watches it). Not thread-safe.
class SettingsCheck {
 public:
  explicit SettingsCheck(std::vector<std::filesystem::path> files);
  bool changed();  // true on the first call

 private:
  std::vector<std::filesystem::path> files_;
  std::vector<std::string> folders_;
  std::vector<FileStamp> stamps_;
  std::vector<std::uint64_t> generations_;
};

// An exclusive flock on `path` (opened read-write, created with its parent directories when missing) for the
// object's lifetime: how processes sharing a file under .ai-agents/ take turns. Throws naming the file.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path, int extra_open_flags = 0, int mode = 0600);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// Read-modify-write of a JSON object file shared by several processes (integrations/registry.json): under an
// exclusive flock on `path`.lock, `change` edits the parsed object (an empty one when the file is missing or
// unreadable), and the result is written atomically.
void update_json_file_locked(const std::filesystem::path& path,
                             const std::function<void(nlohmann::json&)>& change);

}  // namespace agentlog
