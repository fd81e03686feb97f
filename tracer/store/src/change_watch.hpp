// Tells whether span files may have changed since a caller last looked, without listing the folder: an
// inotify watch on the traces folder and its day folders, read without blocking. Every query of every
// thread asks; only a change (or a second without an answer from inotify) costs a scan of the folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

namespace agentlog::store {

class ChangeWatch {
 public:
  // One watch per traces folder per process, shared by the stores of all threads.
  static std::shared_ptr<ChangeWatch> of(const std::filesystem::path& traces_dir);

  explicit ChangeWatch(std::filesystem::path dir);
  ~ChangeWatch();
  ChangeWatch(const ChangeWatch&) = delete;
  ChangeWatch& operator=(const ChangeWatch&) = delete;

  // A number that changes whenever a .jsonl file or a day folder under the traces folder was created,
  // written, moved or removed before the call. Writes that completed before the call are always seen
  // (inotify queues the event inside write()). Without inotify (or after its queue overflowed) it changes
  // on every call, so callers fall back to scanning.
  std::uint64_t generation();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentlog::store
