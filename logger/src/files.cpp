#include "logger/files.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace agentlog {

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!std::filesystem::exists(path)) return std::nullopt;
    throw std::runtime_error("cannot read " + path.string() + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data, int new_file_mode,
                       bool durable) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  struct stat st {};
  mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : static_cast<mode_t>(new_file_mode);
  std::string tmp =
      path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(std::random_device{}());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(err));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::fchmod(fd, mode);
  if ((durable && ::fsync(fd) != 0) || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot replace " + path.string() + ": " + std::strerror(err));
  }
}

FileStamp FileStamp::of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {true, static_cast<std::uint64_t>(st.st_ino), static_cast<std::int64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

FolderWatch& FolderWatch::instance() {
  static auto* watch = new FolderWatch;  // leaked: usable by threads still running at exit
  return *watch;
}

bool FolderWatch::watch(const std::filesystem::path& folder, Events events) {
  std::lock_guard lock(mutex_);
  for (const auto& f : folders_)
    if (f.path == folder.string()) return f.wd >= 0;
  if (fd_ < 0) fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0) return false;
  std::uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
  if (events == Events::kAny) mask |= IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE;
  const int wd = ::inotify_add_watch(fd_, folder.c_str(), mask);
  if (wd < 0) return false;
  folders_.push_back({folder.string(), wd});
  return true;
}

void FolderWatch::drain() {
  std::lock_guard lock(mutex_);
  if (fd_ < 0) return;
  alignas(inotify_event) char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return;  // EAGAIN: nothing (more) waiting
    ++generation_;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
      if (e->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))  // the folder is gone: stat from now on
        for (auto& f : folders_)
          if (f.wd == e->wd) f.wd = -1;
      at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
  }
}

std::uint64_t FolderWatch::generation(std::string_view folder) const {
  std::lock_guard lock(mutex_);
  for (const auto& f : folders_)
    if (f.path == folder) return f.wd >= 0 ? generation_ : 0;
  return 0;
}

SettingsCheck::SettingsCheck(std::vector<std::filesystem::path> files) : files_(std::move(files)) {
  for (const auto& f : files_) folders_.push_back(f.parent_path().string());
}

bool SettingsCheck::changed() {
  const bool first = stamps_.empty();
  if (first) {
    stamps_.resize(files_.size());
    generations_.assign(files_.size(), 0);
  }
  bool changed = first;
  for (std::size_t i = 0; i < files_.size(); ++i) {
    // The generation is read before the stat: an edit between the two is seen now or at the next look.
    const std::uint64_t generation = FolderWatch::instance().generation(folders_[i]);
    if (!first && generation != 0 && generation == generations_[i]) continue;
    // Something in the folder changed: read again, even when the stat cannot tell (an edit of the same size
    // within the file system's timestamp granularity).
    changed = changed || generation != generations_[i];
    generations_[i] = generation;
    const FileStamp stamp = FileStamp::of(files_[i]);
    changed = changed || stamp != stamps_[i];
    stamps_[i] = stamp;
  }
  return changed;
}

FileLock::FileLock(const std::filesystem::path& path, int extra_open_flags, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | extra_open_flags, mode);
  if (fd_ < 0) throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
  while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
  }
}

FileLock::~FileLock() {
  // Unlocked before the close: a fork child may share the descriptor (forked while this lock was held), and
  // a close alone would leave the lock held until the child exits too.
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
}

void update_json_file_locked(const std::filesystem::path& path,
                             const std::function<void(nlohmann::json&)>& change) {
  FileLock lock(path.string() + ".lock", 0, 0644);
  nlohmann::json doc = nlohmann::json::object();
  if (auto text = read_file(path)) {
    doc = nlohmann::json::parse(*text, nullptr, false);
    if (!doc.is_object()) doc = nlohmann::json::object();
  }
  change(doc);
  write_file_atomic(path, doc.dump(2) + "\n");
}

}  // namespace agentlog
