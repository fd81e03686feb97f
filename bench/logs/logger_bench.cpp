// Logger write throughput on one thread: agentlog::Logger (JSON line with fields, buffered, through the
// rotating latest.log writer) against a plain spdlog logger with basic_file_sink_mt writing the same line
// (its pattern spells out the same JSON). Both write to files in one fresh directory under $TMPDIR.
//   bench_logger [--benchmark_repetitions=5 --benchmark_report_aggregates_only=true]
#include <benchmark/benchmark.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agentlog/logger.hpp"

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

}  // namespace

BENCHMARK(BM_agentlog_Logger)->MinTime(1.0);
BENCHMARK(BM_spdlog_basic_file_sink_mt)->MinTime(1.0);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::error_code ec;
  fs::remove_all(bench_root(), ec);
  return 0;
}
