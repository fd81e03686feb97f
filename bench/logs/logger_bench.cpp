// Logger write throughput on one thread: agentlog::Logger (JSON line with fields, buffered, through the
// rotating latest.log writer) against a plain spdlog logger with basic_file_sink_mt writing the same line
// (its pattern spells out the same JSON). Both write to files in one fresh directory under $TMPDIR. And the
// append that rotates a 10 MB latest.log (the default LOG_MAX_SIZE_MB) of agentlog's lines, compression off.
//   bench_logger [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
#include <benchmark/benchmark.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "agentlog/logger.hpp"
#include "logger/event_writer.hpp"
#include "logger/log_writer.hpp"

namespace fs = std::filesystem;

namespace {

fs::path bench_root() {
  static fs::path root = [] {
    fs::path p = fs::temp_directory_path() / ("agentlog-bench-logger-" + std::to_string(::getpid()));
    fs::create_directories(p / ".ai-agents/logging/config");
    // Rotation by size only, large files: the comparison is of the write path (spdlog's sink never rotates).
    std::ofstream(p / ".ai-agents/logging/config/.env.logging")
        << "LOG_LEVEL=trace\nLOG_MAX_SIZE_MB=4096\nLOG_ROTATE_INTERVAL=none\nLOG_COMPRESS_ARCHIVES=false\n";
    return p;
  }();
  return root;
}

void BM_agentlog_Logger(benchmark::State& state) {
  agentlog::Logger::set_project_root(bench_root());
  auto& log = agentlog::Logger::get("src/bench.cpp", "bench");
  // Each run starts on an empty file, as spdlog's sink truncates its file (the writer reopens latest.log).
  std::error_code ec;
  fs::remove(bench_root() / ".ai-agents/logging/logs/latest.log", ec);
  for (auto _ : state) log.info("Application started", {{"port", 3000}});
  agentlog::Logger::flush_all();
  state.SetItemsProcessed(state.iterations());
}

void BM_spdlog_basic_file_sink_mt(benchmark::State& state) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>((bench_root() / "spdlog.log").string(), true);
  spdlog::logger log("bench", sink);
  log.set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","category":"%n","source":"src/bench.cpp","msg":"%v,"pid":%P,"tid":%t})",
                  spdlog::pattern_time_type::utc);
  for (auto _ : state) log.info("Application started\",\"fields\":{{\"port\":{}}}", 3000);
  log.flush();
  state.SetItemsProcessed(state.iterations());
}

void BM_LogWriter_rotation_10MB(benchmark::State& state) {
  agentlog::RotationPolicy p;
  p.max_bytes = 10u << 20;
  p.compress = false;
  p.interval = agentlog::RotationPolicy::Interval::kNone;
  p.max_archives = 0;
  p.retention_days = 0;
  std::string lines;
  for (std::int64_t t = agentlog::system_ms(); lines.size() < p.max_bytes - 200; ++t)
    lines += "{\"ts\":\"" + agentlog::iso8601_ms(t) +
             R"(","level":"info","category":"api","msg":"request handled in 12 ms","pid":1,"tid":1})"
             "\n";
  const std::string rotating = "{\"msg\":\"" + std::string(300, 'z') + "\"}\n";  // more than the room left
  const fs::path dir = bench_root() / "rotation";
  std::unique_ptr<agentlog::LogWriter> w;
  for (auto _ : state) {
    state.PauseTiming();
    w.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
    w = std::make_unique<agentlog::LogWriter>(dir, p);
    w->append(lines);
    state.ResumeTiming();
    w->append(rotating);
  }
  if (w->rotations() != 1) state.SkipWithError("the append did not rotate");
}

}  // namespace

BENCHMARK(BM_agentlog_Logger)->MinTime(1.0);
BENCHMARK(BM_LogWriter_rotation_10MB)->Unit(benchmark::kMillisecond)->Iterations(20);
BENCHMARK(BM_spdlog_basic_file_sink_mt)->MinTime(1.0);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  fs::remove_all(bench_root(), ec);
  return 0;
}
