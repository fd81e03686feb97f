// Call-heavy workloads for the tracing runtime benchmark: recursive fib (7,049,155 calls for fib(32)) and
// 1,000,000 calls of std::string f(int, const std::string&). Prints the time on the traced thread as JSON.
// Built several ways by run.sh: untraced (-DAGENTLOG_DISABLE), runtime in (levels from the environment),
// -pg for `uftrace record`, -finstrument-functions with empty hooks (hooks.cpp).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#if defined(BENCH_NO_RUNTIME) || defined(BENCH_FLOOR)
#define AGENTLOG_DISABLE
#endif
#include "agentlog_trace.hpp"

#if defined(BENCH_FLOOR)
// The floor of any tracer that reads the TSC at both ends of a call and stores a record: the two reads and a
// 40-byte store per call into an 8 MiB ring that nobody reads, nothing else (no checks, no ids, no ring
// bookkeeping, no writer, no file).
#include <sys/mman.h>
#include <x86intrin.h>

#include <cstring>
namespace floor_trace {
const std::size_t kBytes = std::size_t(8) << 20;
char* ring;
std::size_t pos;
struct Span {
  unsigned long long t0 = __rdtsc();
  ~Span() {
    unsigned long long rec[5] = {40, t0, __rdtsc(), pos, 0};
    std::memcpy(ring + pos, rec, sizeof rec);
    pos += sizeof rec;
    if (pos > kBytes - sizeof rec) pos = 0;
  }
};
}  // namespace floor_trace
#undef AGENTLOG_SPAN
#define AGENTLOG_SPAN(...) floor_trace::Span floor_span_
#endif

__attribute__((noinline)) long fib(int n) {
  AGENTLOG_SPAN(1, n);
  if (n < 2) return n;
  return fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) std::string f(int i, const std::string& s) {
  AGENTLOG_SPAN(2, i, s);
  return AGENTLOG_RETURN(s.size() + static_cast<std::size_t>(i) % 7 == 3 ? s : std::string("r"));
}

int main(int argc, char** argv) {
  std::string which = argc > 1 ? argv[1] : "fib";
  int n = argc > 2 ? std::atoi(argv[2]) : (which == "fib" ? 32 : 1000000);
#if defined(BENCH_FLOOR)
  floor_trace::ring = static_cast<char*>(
      mmap(nullptr, floor_trace::kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  std::memset(floor_trace::ring, 0, floor_trace::kBytes);
#endif
  fib(1);  // the thread's first span sets up its buffer: not part of the per-call cost
  auto t0 = std::chrono::steady_clock::now();
  long calls = 0, sink = 0;
  if (which == "fib") {
    sink = fib(n);
    calls = 0;
    long a = 1, b = 1;  // calls(fib(n)) = 2 * fib(n + 1) - 1
    for (int i = 1; i <= n; ++i) {
      long c = a + b;
      a = b;
      b = c;
    }
    calls = 2 * a - 1;
  } else {
    const std::string arg = "hello world";
    for (int i = 0; i < n; ++i) sink += static_cast<long>(f(i, arg).size());
    calls = n;
  }
  auto t1 = std::chrono::steady_clock::now();
  double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
#if !defined(AGENTLOG_DISABLE)
  agentlog::flush();
  agentlog::Stats st = agentlog::stats();
  std::printf("{\"calls\":%ld,\"thread_ns_per_call\":%.2f,\"sink\":%ld,\"dropped\":%llu}\n", calls,
              ns / calls, sink, static_cast<unsigned long long>(st.dropped));
#else
  std::printf("{\"calls\":%ld,\"thread_ns_per_call\":%.2f,\"sink\":%ld,\"dropped\":0}\n", calls, ns / calls,
              sink);
#endif
  return 0;
}
