// Keeps a project's trace index current while a server runs (agentlog serve, agentlog http): span files are
// ingested soon after the traced program writes them, in short transactions at a low priority, so that the
// first query after a run finds them indexed instead of reading them all itself.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tools/context.hpp"

namespace agentlog {

class TraceFollower {
 public:
  // Looks every `every` (a change is noticed by the store's folder watch), at nice 10, at most
  // kBatchBytes of span lines per transaction: a query waits for at most one batch.
  static constexpr std::int64_t kBatchBytes = 8 << 20;
  explicit TraceFollower(const ToolsContext& ctx, std::chrono::milliseconds every = std::chrono::milliseconds(250));
  ~TraceFollower();  // stops after the batch in progress
  TraceFollower(const TraceFollower&) = delete;
  TraceFollower& operator=(const TraceFollower&) = delete;

 private:
  void run(const ToolsContext& ctx, std::chrono::milliseconds every);

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace agentlog
