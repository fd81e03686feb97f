#include "tools/trace_follower.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "tools/traces.hpp"

namespace agentlog {

TraceFollower::TraceFollower(const ToolsContext& ctx, std::chrono::milliseconds every)
    : thread_([this, &ctx, every] { run(ctx, every); }) {}

TraceFollower::~TraceFollower() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void TraceFollower::run(const ToolsContext& ctx, std::chrono::milliseconds every) {
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);  // the traced program and the calls first
  std::int64_t last_report = 0;
  std::unique_lock lock(mutex_);
  bool more = false;  // the last batch left span lines to read: go on at once
  while (!stop_) {
    if (!more && wake_.wait_for(lock, every, [this] { return stop_; })) break;
    lock.unlock();
    try {  // (the store is opened here: opening may fail too)
      store::TraceStore& store = trace_store(ctx);
      store.follow_running_binaries(true);  // spans of TRACING_FORMAT=binary programs as they come
      more = !store.ingest(kBatchBytes).complete;
    } catch (const std::exception& e) {  // a busy or broken index: the next query says so; try again later
      more = false;
      const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count();
      if (now - last_report >= 60) {
        last_report = now;
        std::fprintf(stderr, "agentlog: background trace ingest: %s (retrying)\n", e.what());
      }
    }
    lock.lock();
  }
}

}  // namespace agentlog
