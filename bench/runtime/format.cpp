// The writer's formatting of span lines, in memory (no file, no traced thread): 200,000 level-1 records,
// formatted 15 times; prints the median ns per span for one trace and for a trace per span. format.sh runs it
// side by side with the header of an earlier commit.
#define AGENTLOG_NO_THROW_HOOK
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "agentlog_trace.hpp"

using namespace agentlog::detail;

// Median ns per span of formatting n level-1 records, 15 times over: one trace (fib's shape: the trace id's
// text is the same for every span) or a trace per span (every span a root: str's shape).
double median_ns(bool trace_per_span) {
  const int n = 200000;
  std::vector<char> records(n * sizeof(SpanRecord));
  char* p = records.data();
  for (int i = 0; i < n; ++i) {
    std::uint64_t t0 = 1000000 + static_cast<std::uint64_t>(i) * 97, seq = static_cast<std::uint64_t>(i) + 1;
    bool root = trace_per_span || i == 0;
    std::uint64_t parent = root ? 0 : (i % 7 == 0 ? 1 : seq - 1);
    p = store_span(p, record_head(sizeof(SpanRecord), root ? kRootSpan : kSpan, 1), 0, t0, t0 + 33 + i % 1000,
                   seq, parent);
  }
  SpanFormatter f;
  f.pid = 12345;
  f.start_wall_ns = 1796085231615000000LL;
  f.start_clock(1000000);
  f.set_rate(0.37, 1000000);
  SiteFormat site;
  site.fields = ",\"function\":\"fib\",\"file\":\"/work/main/bench/runtime/workload.cpp\",\"line\":42";
  f.sites.push_back(site);
  std::vector<double> runs;
  for (int r = 0; r < 15; ++r) {
    TraceCursor c;
    c.tid = 23456;
    c.seed = 0x1234567890abcdefULL;
    auto t0 = std::chrono::steady_clock::now();
    f.records(c, records.data(), records.size(), [&f] {
      f.out.clear();
      return true;
    });
    runs.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
                   n);
    f.out.clear();
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

int main() {
  double one_trace = median_ns(false);
  std::printf("%.1f %.1f\n", one_trace, median_ns(true));
  return 0;
}
