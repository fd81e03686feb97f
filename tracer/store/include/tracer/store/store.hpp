// The trace store: span files (.ai-agents/logging/traces/YYYY-MM-DD/*.jsonl, the source of truth) ingested
// incrementally into an SQLite index (traces/index.sqlite, WAL) that answers search, whole traces, slow
// traces and exact percentiles. Every query first ingests what was appended since the last one.
//
// Thread-safety: one TraceStore per thread (each owns its SQLite connection); several stores, in one process
// or several, may share an index: SQLite's locking and WAL keep them consistent, ingestion is idempotent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace agentlog::store {

using json = nlohmann::json;

// A bad query argument (unknown trace id, malformed duration ...): `id` is stable ("traces.not_found").
class StoreError : public std::runtime_error {
 public:
  StoreError(std::string id, const std::string& message) : std::runtime_error(message), id_(std::move(id)) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};

struct IngestReport {
  std::int64_t files = 0;            // span files seen
  std::int64_t spans = 0;            // spans added by this call
  std::int64_t corrupt_lines = 0;    // lines skipped by this call (not JSON, or not a span)
  std::int64_t removed_files = 0;    // span files removed by retention
  std::int64_t converted_files = 0;  // binary span files (TRACING_FORMAT=binary) turned into JSONL
  std::int64_t waiting_files = 0;  // binary span files of running programs (followed, or waiting for the end)
  // Binary span files left as they are: of a format version this agentlog does not read, or damaged.
  std::int64_t unreadable_files = 0;
  std::string unreadable;  // why the first of them is left as it is, and what to do
  bool complete = true;    // false: a budget stopped it with more to read (call again)
  json to_json() const;
};

struct SearchQuery {
  std::string query;  // full text over function, file, parameters and return values
  std::optional<double> min_ms, max_ms;
  std::string file, function;
  std::optional<std::int64_t> since_ns, until_ns;  // epoch ns
  bool errors_only = false;
  int limit = 20;
  std::string cursor;
};

class TraceStore {
 public:
  // traces_dir: .ai-agents/logging/traces. retention_days 0 keeps everything.
  explicit TraceStore(std::filesystem::path traces_dir, int retention_days = 0);
  ~TraceStore();
  TraceStore(const TraceStore&) = delete;
  TraceStore& operator=(const TraceStore&) = delete;

  // Reads what the span files gained since the last ingest. A budget (bytes of span lines, 0 = none) keeps
  // the write transaction short: the rest waits for the next call (report.complete is false).
  IngestReport ingest(std::int64_t budget_bytes = 0);
  IngestReport reindex();  // drops the index and rebuilds it from the span files
  // Binary span files (TRACING_FORMAT=binary) of programs still running are converted as they are written
  // (for one long-lived store per folder: agentlog serve's follower), not only once the program has stopped.
  void follow_running_binaries(bool on);

  // {traces: [{traceId, rootFunction, startTime, duration, spanCount, error, matches: [...]}], nextCursor}
  json search(const SearchQuery& q);
  // {traceId, duration, spanCount, spans: [{spanId, parentSpanId, ..., children: [spanIds]}]}
  json get_trace(const std::string& trace_id);
  // {traces: [...summaries...]} slowest first
  json find_slow(double threshold_ms, int limit);
  // {file, function, count, mean, p50, p95, p99, max, errorRate, slowestTraceIds} (durations in ms)
  json stats(const std::string& file, const std::string& function);
  // Aggregate counts: spans, traces, files, corrupt lines.
  json summary();

  // Chrome trace-event JSON (Perfetto) and OTLP/JSON ExportTraceServiceRequest of one trace.
  json export_chrome(const std::string& trace_id);
  json export_otlp(const std::string& trace_id, const std::string& service_name);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// "250ms", "1.5s", "2m", "100us", "3000" (ms) or a JSON number of ms, from 0 to 9e12 ms (what a span's
// nanoseconds hold). Throws StoreError traces.bad_duration.
double parse_duration_ms(const json& value);
// ISO-8601 UTC ("2026-11-25T14:30:25.107Z", "2026-11-25"; a date that exists, 1678-2261) or a relative age
// ("1h", "2d", "30m") -> epoch ns. Throws StoreError traces.bad_time.
std::int64_t parse_time_ns(const std::string& text, std::int64_t now_ns);
// "2026-11-25T14:30:25.107123Z" -> epoch ns; nullopt when malformed.
std::optional<std::int64_t> parse_iso_ns(const std::string& text);

}  // namespace agentlog::store
