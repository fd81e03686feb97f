#include "change_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <string_view>

namespace agentlog::store {

namespace fs = std::filesystem;

namespace {
constexpr std::uint32_t kMask = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
}

struct ChangeWatch::Impl {
  fs::path dir;
  std::mutex mutex;
  int fd = -1;
  int root_wd = -1;
  std::uint64_t generation = 0;

  // (Re)starts watching the folder and each day folder in it; false when inotify is not available.
  bool start() {
    stop();
    fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return false;
    root_wd = ::inotify_add_watch(fd, dir.c_str(), kMask);
    if (root_wd < 0) {
      stop();
      return false;
    }
    std::error_code ec;
    for (const auto& day : fs::directory_iterator(dir, ec))
      if (day.is_directory(ec)) ::inotify_add_watch(fd, day.path().c_str(), kMask);
    return true;
  }
  void stop() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    root_wd = -1;
  }

  // Reads what is queued; true when something that matters happened (or the watch must be started again).
  bool drain() {
    alignas(inotify_event) char buf[16384];
    bool changed = false;
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return changed;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        std::string_view name = ev->len ? std::string_view(ev->name) : std::string_view();
        if (ev->mask & IN_Q_OVERFLOW) {
          stop();  // events were lost: start over (the caller scans)
          return true;
        }
        if (ev->wd == root_wd && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))) {
          stop();  // the traces folder itself went away
          return true;
        }
        if (ev->mask & IN_ISDIR) {
          if (ev->wd == root_wd && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
            ::inotify_add_watch(fd, (dir / std::string(name)).c_str(), kMask);
          changed = true;
        } else if (name.ends_with(".jsonl") || name.ends_with(".bin")) {
          changed = true;  // not the index's own files (index.sqlite, -wal, -shm)
        }
      }
    }
  }
};

ChangeWatch::ChangeWatch(fs::path dir) : impl_(std::make_unique<Impl>()) {
  impl_->dir = std::move(dir);
  impl_->start();
}

ChangeWatch::~ChangeWatch() { impl_->stop(); }

std::uint64_t ChangeWatch::generation() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->fd < 0 && !impl_->start()) return ++impl_->generation;  // no inotify: always "changed"
  if (impl_->drain() || impl_->fd < 0) ++impl_->generation;
  return impl_->generation;
}

std::shared_ptr<ChangeWatch> ChangeWatch::of(const fs::path& traces_dir) {
  static std::mutex mutex;
  static std::map<fs::path, std::weak_ptr<ChangeWatch>> watches;
  std::lock_guard lock(mutex);
  auto& slot = watches[traces_dir];
  auto watch = slot.lock();
  if (!watch) slot = watch = std::make_shared<ChangeWatch>(traces_dir);
  return watch;
}

}  // namespace agentlog::store
