// End-to-end stdio benchmark of `agentlog serve` (issue: foundation), run against a baseline in the same run:
// `cat`, which echoes each line back over the same kind of pipes (the cost of the pipes and process alone).
//
//   bench_mcp_roundtrip [--calls N] [--starts N] [--window W] [--binary PATH (default: this build's agentlog)]
//
// 1. start: fork/exec of the server to the initialize reply (median, p95 over --starts runs)
// 2. sequential: one tools/call log_event at a time; latency median / p99 and calls per second
// 3. pipelined: --window requests in flight; sustained calls per second
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_child.hpp"

using Clock = std::chrono::steady_clock;
using nlohmann::json;



namespace {

using bench::Child;
using bench::pct;

double us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

std::string call_line(int id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":"log_event","arguments":{"level":"info","category":"bench","source":"bench/mcp_roundtrip.cpp","message":"benchmark event","fields":{"i":)" +
         std::to_string(id) + "}}}}\n";
}

const std::string kInit =
    R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}})"
    "\n";

struct Figures {
  double start_median = 0, start_p95 = 0, seq_median = 0, seq_p99 = 0, seq_rate = 0, pipe_rate = 0;
};

Figures run(const std::vector<std::string>& argv, int starts, int calls, int window) {
  Figures f;
  std::vector<double> start_us;
  for (int i = 0; i < starts; ++i) {
    auto t0 = Clock::now();
    Child c = Child::spawn(argv);
    c.write_all(kInit);
    c.read_line();
    start_us.push_back(us(Clock::now() - t0));
    c.finish();
  }
  f.start_median = pct(start_us, 50);
  f.start_p95 = pct(start_us, 95);

  Child c = Child::spawn(argv);
  c.write_all(kInit);
  c.read_line();
  for (int i = 0; i < 200; ++i) {  // warm-up
    c.write_all(call_line(i + 1));
    c.read_line();
  }
  std::vector<double> lat;
  lat.reserve(size_t(calls));
  auto t0 = Clock::now();
  for (int i = 0; i < calls; ++i) {
    auto s = Clock::now();
    c.write_all(call_line(1000 + i));
    c.read_line();
    lat.push_back(us(Clock::now() - s));
  }
  f.seq_rate = calls / std::chrono::duration<double>(Clock::now() - t0).count();
  f.seq_median = pct(lat, 50);
  f.seq_p99 = pct(lat, 99);

  int sent = 0, got = 0;
  t0 = Clock::now();
  while (got < calls) {
    std::string batch;
    while (sent < calls && sent - got < window) batch += call_line(10'000'000 + sent++);
    if (!batch.empty()) c.write_all(batch);
    c.read_line();
    ++got;
  }
  f.pipe_rate = calls / std::chrono::duration<double>(Clock::now() - t0).count();
  c.finish();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int calls = 20000, starts = 30, window = 32;
  std::string binary = AGENTLOG_BINARY;  // --binary: another build side by side (e.g. the previous commit's)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--calls") calls = std::atoi(argv[i + 1]);
    if (a == "--starts") starts = std::atoi(argv[i + 1]);
    if (a == "--window") window = std::atoi(argv[i + 1]);
    if (a == "--binary") binary = argv[i + 1];
  }
  signal(SIGPIPE, SIG_IGN);
  auto root = std::filesystem::temp_directory_path() / ("agentlog-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(root);
  Figures base = run({"cat"}, starts, calls, window);
  Figures srv = run({binary, "serve", "--root", root.string()}, starts, calls, window);
  printf("%-34s %14s %14s %10s\n", "figure", "agentlog", "cat baseline", "ratio");
  auto row = [](const char* name, double a, double b) { printf("%-34s %14.1f %14.1f %9.2fx\n", name, a, b, a / b); };
  row("start->initialize reply median us", srv.start_median, base.start_median);
  row("start->initialize reply p95 us", srv.start_p95, base.start_p95);
  row("sequential round trip median us", srv.seq_median, base.seq_median);
  row("sequential round trip p99 us", srv.seq_p99, base.seq_p99);
  row("sequential calls/s", srv.seq_rate, base.seq_rate);
  row("pipelined calls/s (window)", srv.pipe_rate, base.pipe_rate);
  std::filesystem::remove_all(root);
  return 0;
}
