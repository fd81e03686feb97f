// Thread start with tracing: threads started one after another, each making one traced call and ended at once
// (a thread per task). A thread's first span sets up its buffer. Prints the time per thread (start, the call,
// join) and the worst one as JSON.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "agentlog_trace.hpp"

__attribute__((noinline)) int work(int i) {
  AGENTLOG_SPAN(1, i);
  return i * 2;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  work(0);  // the main thread's buffer and the runtime are set up before the timing
  long sink = 0;
  double worst = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    auto a = std::chrono::steady_clock::now();
    std::thread t([&sink, i] { sink += work(i); });
    t.join();
    double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count();
    if (us > worst) worst = us;
  }
  double total = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
#if defined(AGENTLOG_DISABLE)
  unsigned long long buffers = 0;
#else
  unsigned long long buffers = agentlog::stats().buffers;
#endif
  std::printf("{\"threads\":%d,\"us_per_thread\":%.1f,\"worst_us\":%.1f,\"buffers\":%llu,\"sink\":%ld}\n", n,
              total / n, worst, buffers, sink);
  return 0;
}
