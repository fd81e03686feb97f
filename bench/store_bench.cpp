// Trace store benchmark (issue: trace store), everything through the real binary:
//   bench_store [--traces 100000] [--spans-per-trace 10] [--queries 40]
// 1. generates span files (the runtime's format) with N traces of M spans in a fresh project;
// 2. ingest: `agentlog traces reindex` (spans/s), against `cat` of the same files as the I/O baseline;
//    index size against JSONL size;
// 3. each query through `agentlog serve` (tools/call over stdio): median and p95 latency, against `ping`
//    on the same connection as the protocol baseline.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "bench_child.hpp"

using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string hex(std::uint64_t v, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace

int main(int argc, char** argv) {
  int traces = 100000, per_trace = 10, queries = 40;
  bool keep = false;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--keep") keep = true;  // leave the project for inspection
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--traces") traces = std::atoi(argv[i + 1]);
    if (a == "--spans-per-trace") per_trace = std::atoi(argv[i + 1]);
    if (a == "--queries") queries = std::atoi(argv[i + 1]);
  }
  fs::path root = fs::temp_directory_path() / ("agentlog-store-bench-" + std::to_string(getpid()));
  fs::create_directories(root);
  run(std::string(AGENTLOG_BINARY) + " init --root " + root.string() + " > /dev/null");
  fs::path day = root / ".ai-agents/logging/traces/2026-11-25";
  fs::create_directories(day);

  // 1. Generate: 50 files x 20 functions; durations log-normal; 1% of traces fail.
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dur(0.0, 1.0);
  const int files = 16;
  std::vector<std::ofstream> outs;
  for (int f = 0; f < files; ++f) outs.emplace_back(day / ("1000" + std::to_string(f) + "-1764000000000.jsonl"));
  std::uint64_t span_id = 1;
  long long total_spans = 0;
  for (int t = 0; t < traces; ++t) {
    std::string trace = hex(0x4bf92f3577b34da6ULL, 16) + hex(static_cast<std::uint64_t>(t + 1), 16);
    std::uint64_t root_id = span_id++;
    long long start_us = t * 1000LL;  // one trace per ms from 10:00
    bool failed = t % 100 == 7;
    double root_ms = 0;
    std::ofstream& out = outs[static_cast<std::size_t>(t % files)];
    auto stamp_at = [](long long us) {  // 2026-11-25T10:MM:SS.ffffffZ
      char buf[64];
      std::snprintf(buf, sizeof buf, "2026-11-25T%02lld:%02lld:%02lld.%06lldZ", 10 + (us / 3600000000LL) % 14,
                    (us / 60000000) % 60, (us / 1000000) % 60, us % 1000000);
      return std::string(buf);
    };
    std::string stamp = stamp_at(start_us);
    for (int s = 1; s < per_trace; ++s) {
      double ms = dur(rng);
      root_ms += ms;
      int fn = (t + s) % 20;
      json rec = {{"traceId", trace}, {"spanId", hex(span_id++, 16)}, {"parentSpanId", hex(root_id, 16)},
                  {"function", "Service" + std::to_string(fn % 5) + "::op" + std::to_string(fn)},
                  {"file", "src/service" + std::to_string(fn % 5) + ".cpp"}, {"line", 10 + fn},
                  {"startTime", stamp_at(start_us + 10 + static_cast<long long>(root_ms * 1000))}, {"duration", ms},
                  {"durationNs", static_cast<long long>(ms * 1e6)}, {"params", {{"userId", t}, {"query", "item-" + std::to_string(t % 977)}}},
                  {"returnValue", {{"ok", !failed}}}, {"error", failed && s == 1 ? json({{"type", "std::runtime_error"}, {"message", "db down"}}) : json(nullptr)},
                  {"thread", 1000 + t % 8}, {"pid", 1000 + t % files}, {"level", 2}};
      out << rec.dump() << '\n';
      ++total_spans;
    }
    json rec = {{"traceId", trace}, {"spanId", hex(root_id, 16)}, {"parentSpanId", nullptr},
                {"function", "Api::handle"}, {"file", "src/api.cpp"}, {"line", 5}, {"startTime", stamp},
                {"duration", root_ms + 0.05}, {"durationNs", static_cast<long long>((root_ms + 0.05) * 1e6)},
                {"params", {{"path", "/api/users/" + std::to_string(t)}}}, {"returnValue", 200},
                {"error", failed ? json({{"type", "std::runtime_error"}, {"message", "db down"}}) : json(nullptr)},
                {"thread", 1000 + t % 8}, {"pid", 1000 + t % files}, {"level", 2}};
    out << rec.dump() << '\n';
    ++total_spans;
  }
  for (auto& o : outs) o.close();
  std::uintmax_t jsonl_bytes = 0;
  for (const auto& e : fs::directory_iterator(day)) jsonl_bytes += fs::file_size(e.path());

  // 2. Ingest, against reading the same files with cat.
  auto t0 = Clock::now();
  run("cat " + day.string() + "/*.jsonl > /dev/null");
  double cat_ms = ms_since(t0);
  t0 = Clock::now();
  run(std::string(AGENTLOG_BINARY) + " traces reindex --root " + root.string() + " > /dev/null");
  double ingest_ms = ms_since(t0);
  std::uintmax_t index_bytes = 0;
  for (const auto& e : fs::directory_iterator(root / ".ai-agents/logging/traces"))
    if (e.path().filename().string().rfind("index.sqlite", 0) == 0) index_bytes += fs::file_size(e.path());
  std::printf("spans %lld in %d traces, JSONL %.1f MiB\n", total_spans, traces, jsonl_bytes / 1048576.0);
  std::printf("ingest (agentlog traces reindex): %.0f ms = %.0f spans/s   | cat of the files: %.0f ms\n", ingest_ms,
              total_spans / (ingest_ms / 1000.0), cat_ms);
  std::printf("index size %.1f MiB = %.2fx the JSONL\n", index_bytes / 1048576.0,
              static_cast<double>(index_bytes) / static_cast<double>(jsonl_bytes));

  // 3. Queries through agentlog serve.
  bench::Child server = bench::Child::spawn({AGENTLOG_BINARY, "serve", "--root", root.string()});
  int id = 0;
  auto request = [&](const std::string& method, const json& params) {
    json req = {{"jsonrpc", "2.0"}, {"id", ++id}, {"method", method}, {"params", params}};
    server.write_all(req.dump() + "\n");
    json reply = json::parse(server.read_line());
    if (reply.contains("error") || (reply["result"].contains("isError") && reply["result"]["isError"].get<bool>())) {
      std::fprintf(stderr, "query failed: %s -> %s\n", req.dump().c_str(), reply.dump().c_str());
      std::exit(1);
    }
    return reply;
  };
  request("initialize", {{"protocolVersion", "2025-11-25"}, {"capabilities", json::object()},
                         {"clientInfo", {{"name", "bench_store"}, {"version", "1"}}}});
  server.write_all(R"({"jsonrpc":"2.0","method":"notifications/initialized"})" "\n");
  auto measure = [&](const char* label, auto args_for) {
    std::vector<double> samples;
    for (int i = 0; i < queries; ++i) {
      auto [method, params] = args_for(i);
      auto q0 = Clock::now();
      request(method, params);
      samples.push_back(ms_since(q0));
    }
    std::printf("%-44s median %7.2f ms   p95 %7.2f ms\n", label, bench::pct(samples, 50), bench::pct(samples, 95));
  };
  auto tool = [](const char* name, json a) { return std::pair<std::string, json>{"tools/call", {{"name", name}, {"arguments", a}}}; };
  measure("ping (protocol baseline)", [](int) { return std::pair<std::string, json>{"ping", json::object()}; });
  measure("search_traces query=\"item-N\"", [&](int i) { return tool("search_traces", {{"query", "item-" + std::to_string(i * 13 % 977)}}); });
  measure("search_traces minDuration=10ms", [&](int) { return tool("search_traces", {{"minDuration", "10ms"}}); });
  measure("search_traces file=service3.cpp", [&](int) { return tool("search_traces", {{"file", "service3.cpp"}}); });
  measure("search_traces function=op7", [&](int) { return tool("search_traces", {{"function", "op7"}}); });
  measure("search_traces since=2026-11-25T10:01:00Z", [&](int) { return tool("search_traces", {{"since", "2026-11-25T10:01:00Z"}}); });
  measure("search_traces errorsOnly", [&](int) { return tool("search_traces", {{"errorsOnly", true}}); });
  measure("get_trace", [&](int i) {
    return tool("get_trace", {{"traceId", hex(0x4bf92f3577b34da6ULL, 16) + hex(static_cast<std::uint64_t>(i * 2477 % traces + 1), 16)}});
  });
  measure("find_slow_traces threshold=20ms limit=20", [&](int) { return tool("find_slow_traces", {{"threshold", "20ms"}}); });
  measure("get_trace_stats file=src/api.cpp", [&](int) { return tool("get_trace_stats", {{"file", "src/api.cpp"}}); });
  measure("get_trace_stats file+function op7", [&](int) { return tool("get_trace_stats", {{"file", "service2.cpp"}, {"function", "op7"}}); });
  server.finish();
  if (keep)
    std::printf("kept %s\n", root.string().c_str());
  else
    fs::remove_all(root);
  return 0;
}
