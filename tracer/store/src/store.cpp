// The trace store: SQLite index over the span files. See store.hpp.
#include "tracer/store/store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "change_watch.hpp"

namespace agentlog::store {

namespace fs = std::filesystem;

namespace {

// -------------------------------------------------------------------------------- SQLite wrappers
// Prepared statements of one connection kept for reuse, by SQL text (queries repeat: a viewer or an agent
// asks the same things again). A statement in use is out of the cache, so a nested use prepares its own.
class StmtCache {
 public:
  StmtCache() = default;
  StmtCache(const StmtCache&) = delete;
  StmtCache& operator=(const StmtCache&) = delete;
  ~StmtCache() { clear(); }

  sqlite3_stmt* take(const std::string& sql) {
    auto it = kept_.find(sql);
    if (it == kept_.end()) return nullptr;
    sqlite3_stmt* st = it->second;
    kept_.erase(it);
    return st;
  }
  void give_back(const std::string& sql, sqlite3_stmt* st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (kept_.size() >= 64 || !kept_.emplace(sql, st).second) sqlite3_finalize(st);
  }
  // Before the connection closes.
  void clear() {
    for (auto& [sql, st] : kept_) sqlite3_finalize(st);
    kept_.clear();
  }

 private:
  std::unordered_map<std::string, sqlite3_stmt*> kept_;
};

class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql, StmtCache* cache = nullptr) : db_(db), cache_(cache) {
    if (cache_) {
      sql_ = sql;
      stmt_ = cache_->take(sql);
      if (stmt_) return;
    }
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("trace index: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~Stmt() {
    if (cache_ && stmt_)
      cache_->give_back(sql_, stmt_);
    else
      sqlite3_finalize(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("trace index: ") + sqlite3_errmsg(db_));
  }
  void run() {
    step();
    reset();
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::int64_t i64(int c) const { return sqlite3_column_int64(stmt_, c); }
  double dbl(int c) const { return sqlite3_column_double(stmt_, c); }
  bool null(int c) const { return sqlite3_column_type(stmt_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(stmt_, c);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c)))
             : std::string();
  }

 private:
  sqlite3* db_;
  StmtCache* cache_;
  std::string sql_;
  sqlite3_stmt* stmt_ = nullptr;
};

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error("trace index: " + msg);
  }
}

// The journal mode is set by open(): WAL for the index in use, none while a reindex builds a new one.
const char* kSchema = R"sql(
PRAGMA cache_size=-65536;
PRAGMA temp_store=MEMORY;
CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, offset INTEGER NOT NULL, corrupt INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS spans(
  id INTEGER PRIMARY KEY AUTOINCREMENT, trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, function TEXT NOT NULL,
  file TEXT NOT NULL, start_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL, error INTEGER NOT NULL,
  record TEXT NOT NULL, src TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS traces(
  trace_id TEXT PRIMARY KEY, root_function TEXT, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,
  duration_ns INTEGER NOT NULL, span_count INTEGER NOT NULL, error INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS functions(file TEXT NOT NULL, function TEXT NOT NULL, PRIMARY KEY(file, function)) WITHOUT ROWID;
-- Contentless full text of each span (rowid = spans.id, never reused thanks to AUTOINCREMENT).
CREATE VIRTUAL TABLE IF NOT EXISTS span_text USING fts5(text, content='', columnsize=0);
)sql";

// The secondary indexes (dropped during a bulk load and built again at its end).
const char* kIndexes = R"sql(
CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_id, start_ns);
-- Covering for get_trace_stats: counts, mean, max, error rate and percentiles read from the index alone.
CREATE INDEX IF NOT EXISTS spans_fn_duration ON spans(file, function, duration_ns, error);
CREATE INDEX IF NOT EXISTS spans_file_duration ON spans(file, duration_ns, error);
CREATE INDEX IF NOT EXISTS spans_src ON spans(src);
CREATE INDEX IF NOT EXISTS traces_duration ON traces(duration_ns);
CREATE INDEX IF NOT EXISTS traces_start ON traces(start_ns, trace_id);
CREATE INDEX IF NOT EXISTS traces_error ON traces(error, start_ns, trace_id);
)sql";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string fts_query(const std::string& text) {
  // Every word must appear (quoted, so that FTS5 syntax in the text is taken literally).
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += ' ';
    out += '"';
    for (char c : word) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    out += '"';
    word.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)))
      flush();
    else
      word += c;
  }
  flush();
  return out;
}

// 2026-11-25T10:01:39.999000Z. Calendar arithmetic (no gmtime_r: glibc takes a process-wide lock in it).
std::string iso_from_ns(std::int64_t ns) {
  using namespace std::chrono;
  const sys_time<microseconds> t{duration_cast<microseconds>(nanoseconds(ns))};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<long long>(hms.subseconds().count()));
  return buf;
}

json summary_of(Stmt& s) {
  // columns: trace_id, root_function, start_ns, duration_ns, span_count, error
  return {{"traceId", s.text(0)},
          {"rootFunction", s.null(1) ? json(nullptr) : json(s.text(1))},
          {"startTime", iso_from_ns(s.i64(2))},
          {"duration", static_cast<double>(s.i64(3)) / 1e6},
          {"spanCount", s.i64(4)},
          {"error", s.i64(5) != 0}};
}

json span_view(const json& record) {
  json out = {{"spanId", record.value("spanId", "")},
              {"parentSpanId", record.contains("parentSpanId") ? record["parentSpanId"] : json(nullptr)},
              {"function", record.value("function", "")},
              {"file", record.value("file", "")},
              {"line", record.value("line", 0)},
              {"startTime", record.value("startTime", "")},
              {"duration", record.value("duration", 0.0)},
              {"params", record.contains("params") ? record["params"] : json(nullptr)},
              {"returnValue", record.contains("returnValue") ? record["returnValue"] : json(nullptr)},
              {"error", record.contains("error") ? record["error"] : json(nullptr)}};
  for (const char* extra : {"thread", "pid", "level", "events", "droppedEvents"})
    if (record.contains(extra)) out[extra] = record[extra];
  return out;
}

}  // namespace

json IngestReport::to_json() const {
  return {
      {"files", files}, {"spans", spans}, {"corruptLines", corrupt_lines}, {"removedFiles", removed_files},
      {"complete", complete}};
}

std::optional<std::int64_t> parse_iso_ns(const std::string& text) {
  int y, mo, d, h = 0, mi = 0, s = 0;
  char frac[16] = {0};
  int n = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) == 6) {
    std::size_t i = static_cast<std::size_t>(n);
    std::int64_t sub = 0;
    if (i < text.size() && text[i] == '.') {
      std::size_t j = i + 1, digits = 0;
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j])) && digits < 9) {
        frac[digits++] = text[j++];
      }
      while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
      std::string f(frac);
      f.resize(9, '0');
      sub = std::stoll(f);
      i = j;
    }
    if (i < text.size() && text[i] != 'Z') return std::nullopt;
    struct tm tm = {};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000000000 + sub;
  }
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 &&
      static_cast<std::size_t>(n) == text.size()) {
    struct tm tm = {};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000000000;
  }
  return std::nullopt;
}

double parse_duration_ms(const json& value) {
  if (value.is_number()) {
    double v = value.get<double>();
    if (v < 0 || !std::isfinite(v))
      throw StoreError("traces.bad_duration", "A duration cannot be negative: " + value.dump());
    return v;
  }
  if (!value.is_string())
    throw StoreError("traces.bad_duration",
                     "A duration is a number of ms or a string such as \"250ms\", \"1.5s\"");
  std::string s = value.get<std::string>();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  static const std::map<std::string, double> units = {{"", 1},      {"ms", 1},      {"s", 1000},
                                                      {"m", 60000}, {"min", 60000}, {"us", 1e-3},
                                                      {"µs", 1e-3}, {"ns", 1e-6}};
  auto it = units.find(unit);
  if (end == s.c_str() || it == units.end() || v < 0 || !std::isfinite(v))
    throw StoreError("traces.bad_duration",
                     "Cannot read the duration \"" + s +
                         "\": use a number of ms or a number with ns, us, ms, s or m (\"250ms\", \"1.5s\")");
  return v * it->second;
}

std::int64_t parse_time_ns(const std::string& text, std::int64_t now) {
  if (auto iso = parse_iso_ns(text)) return *iso;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  static const std::map<std::string, double> units = {
      {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}, {"w", 604800e9}};
  auto it = units.find(unit);
  if (end == text.c_str() || it == units.end() || v < 0)
    throw StoreError("traces.bad_time",
                     "Cannot read the time \"" + text +
                         "\": use ISO-8601 UTC (2026-11-25T14:30:00Z, 2026-11-25) or an age (30m, 1h, 2d)");
  return now - static_cast<std::int64_t>(v * it->second);
}

// ------------------------------------------------------------------------------------------- Impl
struct TraceStore::Impl {
  fs::path dir;
  fs::path db_path;
  int retention_days;
  sqlite3* db = nullptr;
  ino_t db_ino = 0;                                 // the index file db has open
  StmtCache stmts;                                  // the queries' statements, kept prepared
  std::map<std::string, std::int64_t> known_sizes;  // span file sizes at the last ingest
  // What changed since the last scan of the folder; a scan happens at least once a second anyway (a file
  // system inotify does not see, such as NFS written from elsewhere), retention at least once a minute.
  std::shared_ptr<ChangeWatch> watch;
  std::optional<std::uint64_t> scanned_generation;
  std::chrono::steady_clock::time_point scanned_at, retained_at;

  Impl(fs::path d, int retention)
      : dir(std::move(d)), db_path(dir / "index.sqlite"), retention_days(retention) {
    fs::create_directories(dir);
    watch = ChangeWatch::of(dir);
    open();
  }
  ~Impl() { close(); }

  void close() {
    stmts.clear();
    if (db) sqlite3_close(db);
    db = nullptr;
  }

  // Opens the index; a corrupt one is removed and rebuilt (the span files are the source of truth).
  void open(bool journaled = true) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (sqlite3_open(db_path.c_str(), &db) != SQLITE_OK) throw std::runtime_error(sqlite3_errmsg(db));
        sqlite3_busy_timeout(db, 5000);
        exec(db, journaled ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                           : "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
        exec(db, kSchema);
        exec(db, kIndexes);
        struct stat st {};
        db_ino = ::stat(db_path.c_str(), &st) == 0 ? st.st_ino : 0;
        return;
      } catch (const std::exception&) {
        close();
        if (attempt == 1) throw;
        std::error_code ec;
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db_path.string() + suffix, ec);
      }
    }
  }

  IngestReport ingest(std::int64_t budget = 0) {
    IngestReport report;
    const std::uint64_t generation =
        watch->generation();  // before the scan: a change during it is seen next time
    const auto now = std::chrono::steady_clock::now();
    const bool changed = generation != scanned_generation;
    if (!changed && now - scanned_at < std::chrono::seconds(1)) {
      report.files = static_cast<std::int64_t>(known_sizes.size());
      return report;
    }
    scanned_generation = generation;
    scanned_at = now;
    struct ScanAgainIfThrown {  // a scan that failed (a busy or corrupt index) is not taken as done
      Impl& impl;
      int before = std::uncaught_exceptions();
      ~ScanAgainIfThrown() {
        if (std::uncaught_exceptions() > before) impl.scanned_generation.reset();
      }
    } scan_again_if_thrown{*this};
    if (!fs::exists(dir)) return report;
    // `traces reindex` in another process renamed a new index over this one: go on with the new one.
    if (struct stat st {}; ::stat(db_path.c_str(), &st) != 0 || st.st_ino != db_ino) {
      close();
      open();
      known_sizes.clear();
    }
    if (retention_days > 0 && (changed || now - retained_at >= std::chrono::minutes(1))) {
      retained_at = now;
      report.removed_files = apply_retention();
    }
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file() && it->path().extension() == ".jsonl") files.push_back(it->path());
    std::sort(files.begin(), files.end());
    report.files = static_cast<std::int64_t>(files.size());
    // Nothing appended since this store's last ingest: no write transaction (queries from many threads
    // would otherwise queue on SQLite's write lock).
    std::map<std::string, std::int64_t> sizes;
    for (const auto& f : files) sizes[f.string()] = static_cast<std::int64_t>(fs::file_size(f, ec));
    if (sizes == known_sizes) return report;

    // A bulk load (more new span lines than indexed ones, and much to read: the first ingest, a reindex, a
    // large run landing on a small index) builds the secondary indexes once at the end, sorted, instead of
    // updating them row by row. Not in budgeted ingests: their transactions stay short.
    std::int64_t total_bytes = 0, indexed_bytes = 0;
    for (const auto& [f, size] : sizes) total_bytes += size;
    {
      Stmt indexed(db, "SELECT coalesce(sum(offset), 0) FROM files");
      if (indexed.step()) indexed_bytes = indexed.i64(0);
    }
    const std::int64_t new_bytes = total_bytes - indexed_bytes;
    const bool bulk = budget == 0 && new_bytes > (8 << 20) && new_bytes > indexed_bytes;
    std::int64_t read_bytes = 0;  // against the budget
    exec(db, "BEGIN IMMEDIATE");
    try {
      if (bulk) {  // the indexes of kIndexes (those with SQL; primary keys have none)
        std::string drop;
        {
          Stmt names(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL");
          while (names.step()) drop += "DROP INDEX \"" + names.text(0) + "\";";
        }
        exec(db, drop.c_str());
      }
      batch_traces.clear();
      batch_functions.clear();
      Stmt get_offset(db, "SELECT offset FROM files WHERE path = ?");
      Stmt set_offset(
          db,
          "INSERT INTO files(path, offset, corrupt) VALUES(?1, ?2, ?3) ON CONFLICT(path) DO UPDATE SET "
          "offset = ?2, corrupt = corrupt + ?3");
      Stmt insert_span(
          db,
          "INSERT INTO spans(trace_id, span_id, parent_id, function, file, start_ns, duration_ns, error, "
          "record, src) VALUES(?,?,?,?,?,?,?,?,?,?)");
      Stmt insert_text(db, "INSERT INTO span_text(rowid, text) VALUES(?, ?)");
      Stmt upsert_trace(
          db,
          "INSERT INTO traces(trace_id, root_function, start_ns, end_ns, duration_ns, span_count, error) "
          "VALUES(?1, ?2, ?3, ?4, ?4 - ?3, ?6, ?5) ON CONFLICT(trace_id) DO UPDATE SET "
          "root_function = coalesce(excluded.root_function, root_function), "
          "start_ns = min(start_ns, excluded.start_ns), end_ns = max(end_ns, excluded.end_ns), "
          "duration_ns = max(end_ns, excluded.end_ns) - min(start_ns, excluded.start_ns), "
          "span_count = span_count + excluded.span_count, error = max(error, excluded.error)");
      Stmt insert_function(db, "INSERT OR IGNORE INTO functions(file, function) VALUES(?, ?)");
      for (const auto& path : files) {
        const std::string key = fs::relative(path, dir).string();
        std::int64_t offset = 0;
        get_offset.bind(1, key);
        if (get_offset.step()) offset = get_offset.i64(0);
        get_offset.reset();
        std::int64_t size = static_cast<std::int64_t>(fs::file_size(path, ec));
        if (ec) continue;
        if (size < offset) {  // replaced or truncated: forget what came from it
          Stmt drop(db, "DELETE FROM spans WHERE src = ?");
          drop.bind(1, key).run();
          offset = 0;
        }
        if (size == offset) continue;
        std::int64_t want = size - offset;
        if (budget > 0 && read_bytes + want > budget) {
          want = budget - read_bytes;  // complete lines of the first `want` bytes; the rest next time
          report.complete = false;
          if (want <= 0) continue;
        }
        read_bytes += want;
        std::ifstream in(path, std::ios::binary);
        in.seekg(offset);
        std::string buffer(static_cast<std::size_t>(want), '\0');
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        buffer.resize(static_cast<std::size_t>(in.gcount()));
        // A line longer than the whole budget is read alone (to its end), so that each batch moves on.
        if (want < size - offset && buffer.find('\n') == std::string::npos) {
          char chunk[65536];
          while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
            const std::size_t from = buffer.size();
            buffer.append(chunk, static_cast<std::size_t>(in.gcount()));
            if (const std::size_t nl = buffer.find('\n', from); nl != std::string::npos) {
              buffer.resize(nl + 1);
              break;
            }
          }
        }
        std::size_t consumed = 0;
        std::vector<std::string_view> lines;
        while (true) {
          std::size_t nl = buffer.find('\n', consumed);
          if (nl == std::string::npos) break;  // a torn last line waits until it is complete
          std::string_view line(buffer.data() + consumed, nl - consumed);
          consumed = nl + 1;
          if (!line.empty()) lines.push_back(line);
        }
        // The next batch of lines is parsed on another thread while this one inserts the current one (the JSON
        // parse was a quarter of an ingest).
        constexpr std::size_t kBatch = 2048;
        auto parse = [&lines](std::size_t from) {
          std::vector<ParsedSpan> out;
          for (std::size_t i = from; i < std::min(lines.size(), from + kBatch); ++i) out.push_back(parse_span(lines[i]));
          return out;
        };
        std::int64_t corrupt = 0;
        std::vector<ParsedSpan> current = parse(0);
        for (std::size_t from = 0; from < lines.size(); from += kBatch) {
          std::future<std::vector<ParsedSpan>> next;
          if (from + kBatch < lines.size()) next = std::async(std::launch::async, parse, from + kBatch);
          for (std::size_t i = 0; i < current.size(); ++i) {
            if (!current[i].ok) {
              ++corrupt;
              continue;
            }
            add_span(current[i], lines[from + i], key, insert_span, insert_text);
            ++report.spans;
          }
          if (next.valid()) current = next.get();
        }
        report.corrupt_lines += corrupt;
        set_offset.bind(1, key).bind(2, offset + static_cast<std::int64_t>(consumed)).bind(3, corrupt).run();
      }
      // Trace summaries and function names: once per trace / name for the whole batch.
      for (const auto& [trace_id, t] : batch_traces) {
        upsert_trace.bind(1, trace_id);
        t.root ? upsert_trace.bind(2, *t.root) : upsert_trace.bind_null(2);
        upsert_trace.bind(3, t.start_ns)
            .bind(4, t.end_ns)
            .bind(5, std::int64_t(t.error))
            .bind(6, t.count)
            .run();
      }
      for (const auto& [file, function] : batch_functions)
        insert_function.bind(1, file).bind(2, function).run();
      if (bulk) exec(db, kIndexes);  // built once from the loaded rows
      exec(db, "COMMIT");
    } catch (...) {
      exec(db, "ROLLBACK");
      throw;
    }
    if (report.complete) {
      known_sizes = std::move(sizes);
    } else {  // not all read: the next call scans again
      known_sizes.clear();
      scanned_generation.reset();
    }
    return report;
  }

  // The fields of one span line. Parsing touches no state of the store: it runs beside the inserts.
  struct ParsedSpan {
    bool ok = false;  // false: not JSON, or not a span
    std::string trace, span, function, file, text;
    std::optional<std::string> parent;
    std::int64_t start_ns = 0, duration_ns = 0;
    bool error = false;
  };

  static ParsedSpan parse_span(std::string_view line) {
    ParsedSpan p;
    json r = json::parse(line, nullptr, false);
    if (r.is_discarded() || !r.is_object()) return p;
    auto str = [&](const char* k) -> const std::string* {
      auto it = r.find(k);
      return it != r.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
    };
    const std::string *trace = str("traceId"), *span = str("spanId"), *start = str("startTime");
    if (!trace || !span || !start || trace->empty()) return p;
    auto start_ns = parse_iso_ns(*start);
    if (!start_ns) return p;
    p.start_ns = *start_ns;
    if (auto it = r.find("durationNs"); it != r.end() && it->is_number())
      p.duration_ns = it->get<std::int64_t>();
    else if (auto d = r.find("duration"); d != r.end() && d->is_number())
      p.duration_ns = static_cast<std::int64_t>(d->get<double>() * 1e6);
    if (const std::string* parent = str("parentSpanId")) p.parent = *parent;
    p.trace = *trace;
    p.span = *span;
    p.function = r.value("function", std::string("?"));
    p.file = r.value("file", std::string(""));
    p.error = r.contains("error") && !r["error"].is_null();
    p.text = p.function + " " + p.file;
    for (const char* k : {"params", "returnValue", "error"})
      if (r.contains(k) && !r[k].is_null()) p.text += " " + r[k].dump();
    p.ok = true;
    return p;
  }

  void add_span(const ParsedSpan& p, std::string_view line, const std::string& src, Stmt& insert_span,
                Stmt& insert_text) {
    insert_span.bind(1, p.trace).bind(2, p.span);
    p.parent ? insert_span.bind(3, *p.parent) : insert_span.bind_null(3);
    insert_span.bind(4, p.function)
        .bind(5, p.file)
        .bind(6, p.start_ns)
        .bind(7, p.duration_ns)
        .bind(8, std::int64_t(p.error));
    insert_span.bind(9, std::string(line)).bind(10, src).run();
    insert_text.bind(1, static_cast<std::int64_t>(sqlite3_last_insert_rowid(db))).bind(2, p.text).run();
    auto [it, fresh] = batch_traces.try_emplace(p.trace);
    TraceAgg& t = it->second;
    if (fresh) {
      t.start_ns = p.start_ns;
      t.end_ns = p.start_ns + p.duration_ns;
    }
    t.start_ns = std::min(t.start_ns, p.start_ns);
    t.end_ns = std::max(t.end_ns, p.start_ns + p.duration_ns);
    t.count += 1;
    t.error = t.error || p.error;
    if (!p.parent) t.root = p.function;
    batch_functions.emplace(p.file, p.function);
  }

  // What one ingest learns of each trace and function, written once at its end.
  struct TraceAgg {
    std::optional<std::string> root;
    std::int64_t start_ns = 0, end_ns = 0, count = 0;
    bool error = false;
  };
  std::unordered_map<std::string, TraceAgg> batch_traces;
  std::set<std::pair<std::string, std::string>> batch_functions;

  // Removes span files (and their rows) in day folders older than the retention.
  std::int64_t apply_retention() {
    std::int64_t cutoff = now_ns() - static_cast<std::int64_t>(retention_days) * 86400LL * 1000000000LL;
    std::int64_t removed = 0;
    std::error_code ec;
    for (const auto& day : fs::directory_iterator(dir, ec)) {
      if (!day.is_directory()) continue;
      auto start = parse_iso_ns(day.path().filename().string());
      if (!start || *start + 86400LL * 1000000000LL > cutoff) continue;
      std::string prefix = day.path().filename().string() + "/";
      exec(db, "BEGIN IMMEDIATE");
      Stmt del(db, "DELETE FROM spans WHERE src >= ?1 AND src < ?2");
      del.bind(1, prefix).bind(2, prefix.substr(0, prefix.size() - 1) + "0").run();
      Stmt del_files(db, "DELETE FROM files WHERE path >= ?1 AND path < ?2");
      del_files.bind(1, prefix).bind(2, prefix.substr(0, prefix.size() - 1) + "0").run();
      exec(db, "DELETE FROM traces WHERE trace_id NOT IN (SELECT trace_id FROM spans)");
      exec(db, "COMMIT");
      for (const auto& f : fs::directory_iterator(day.path(), ec))
        if (f.path().extension() == ".jsonl") ++removed;
      fs::remove_all(day.path(), ec);
    }
    return removed;
  }

  // A new index is built beside the one in use, without a journal (each page written once, not to the WAL
  // and again at its checkpoint: a fifth of the time), then renamed over it. A reindex that dies half-way
  // leaves the old index in place, and the unfinished file is never opened as the index.
  IngestReport reindex() {
    known_sizes.clear();
    scanned_generation.reset();
    close();
    const fs::path live = db_path;
    db_path = dir / "index.sqlite.building";
    std::error_code ec;
    auto remove_db = [&](const fs::path& path, std::initializer_list<const char*> suffixes) {
      for (const char* suffix : suffixes) fs::remove(path.string() + suffix, ec);
    };
    remove_db(db_path, {"", "-wal", "-shm", "-journal"});
    IngestReport report;
    try {
      open(false);
      report = ingest();
      exec(db, "PRAGMA journal_mode=WAL");
      close();
      remove_db(live, {"-wal", "-shm"});
      fs::rename(db_path, live);
    } catch (...) {
      close();
      remove_db(db_path, {"", "-wal", "-shm", "-journal"});
      db_path = live;
      open();
      throw;
    }
    db_path = live;
    open();
    return report;
  }

  // Names recorded for a file given exactly or as a path suffix ("users.cpp" -> "src/users.cpp").
  std::vector<std::string> resolve_files(const std::string& file) {
    std::vector<std::string> out;
    Stmt s(db, "SELECT DISTINCT file FROM functions WHERE file = ?1 OR file LIKE '%/' || ?1", &stmts);
    s.bind(1, file);
    while (s.step()) out.push_back(s.text(0));
    return out;
  }
  std::vector<std::pair<std::string, std::string>> resolve_functions(const std::string& file,
                                                                     const std::string& function) {
    std::vector<std::pair<std::string, std::string>> out;
    Stmt s(db,
           "SELECT file, function FROM functions WHERE (?1 = '' OR file = ?1 OR file LIKE '%/' || ?1) AND "
           "(function = ?2 OR function LIKE '%::' || ?2)",
           &stmts);
    s.bind(1, file).bind(2, function);
    while (s.step()) out.emplace_back(s.text(0), s.text(1));
    return out;
  }

  std::string known_files() {
    Stmt s(db, "SELECT DISTINCT file FROM functions ORDER BY file LIMIT 10", &stmts);
    std::string out;
    while (s.step()) out += (out.empty() ? "" : ", ") + s.text(0);
    return out.empty() ? "none yet (run a traced program first)" : out;
  }
};

namespace {
// Runs a query; when SQLite finds the index corrupt, rebuilds it from the span files and runs it again.
template <class F>
auto recovering(TraceStore::Impl& impl, F fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const StoreError&) {
    throw;
  } catch (const std::exception&) {
    int code = impl.db ? sqlite3_errcode(impl.db) & 0xff : SQLITE_CORRUPT;
    if (code != SQLITE_CORRUPT && code != SQLITE_NOTADB) throw;
    impl.reindex();
    return fn();
  }
}
}  // namespace

TraceStore::TraceStore(fs::path traces_dir, int retention_days)
    : impl_(std::make_unique<Impl>(std::move(traces_dir), retention_days)) {}
TraceStore::~TraceStore() = default;

IngestReport TraceStore::ingest(std::int64_t budget_bytes) {
  return recovering(*impl_, [&] { return impl_->ingest(budget_bytes); });
}
IngestReport TraceStore::reindex() { return impl_->reindex(); }

json TraceStore::search(const SearchQuery& q) {
  ingest();
  sqlite3* db = impl_->db;
  std::int64_t offset = 0;
  if (!q.cursor.empty()) {
    if (q.cursor.rfind("o:", 0) != 0 || q.cursor.find_first_not_of("0123456789", 2) != std::string::npos ||
        q.cursor.size() == 2)
      throw StoreError(
          "traces.bad_cursor",
          "The cursor \"" + q.cursor + "\" was not returned by search_traces; omit it to start over");
    offset = std::stoll(q.cursor.substr(2));
  }
  // Span conditions over the alias `s`; `$` stands for the condition's one value (bound as ?N).
  std::string cond;
  std::vector<std::function<void(Stmt&, int)>> binds;
  auto add = [&](std::string c, std::function<void(Stmt&, int)> bind = nullptr) {
    if (bind) {
      binds.push_back(std::move(bind));
      const std::string param = "?" + std::to_string(binds.size());
      for (std::size_t p; (p = c.find('$')) != std::string::npos;) c.replace(p, 1, param);
    }
    cond += (cond.empty() ? "" : " AND ") + c;
  };
  auto text = [](std::string v) { return [v](Stmt& st, int i) { st.bind(i, v); }; };
  auto number = [](std::int64_t v) { return [v](Stmt& st, int i) { st.bind(i, v); }; };
  if (!q.query.empty())
    add("s.id IN (SELECT rowid FROM span_text WHERE span_text MATCH $)", text(fts_query(q.query)));
  if (q.min_ms) add("s.duration_ns >= $", number(static_cast<std::int64_t>(*q.min_ms * 1e6)));
  if (q.max_ms) add("s.duration_ns <= $", number(static_cast<std::int64_t>(*q.max_ms * 1e6)));
  if (!q.file.empty()) add("(s.file = $ OR s.file LIKE '%/' || $)", text(q.file));
  if (!q.function.empty()) add("(s.function = $ OR s.function LIKE '%::' || $)", text(q.function));
  if (q.errors_only) add("s.error = 1");
  // The time range and "errors only" hold for the trace as a whole (index-friendly); a failed trace's
  // matching spans are its failed spans.
  std::string trace_cond = "1";
  if (q.since_ns) trace_cond += " AND t.start_ns >= " + std::to_string(*q.since_ns);
  if (q.until_ns) trace_cond += " AND t.start_ns <= " + std::to_string(*q.until_ns);
  if (q.errors_only) trace_cond += " AND t.error = 1";
  const int next = static_cast<int>(binds.size()) + 1;
  const int limit = std::clamp(q.limit, 1, 1000);
  const int limit_param = next, offset_param = next + 1;
  std::string sql;
  // Full text is selective: collect its traces first. Other span filters usually match often: walk traces
  // newest first and test each (stops after one page).
  const std::string columns =
      "SELECT trace_id, root_function, start_ns, duration_ns, span_count, error FROM traces t ";
  const std::string page = " ORDER BY start_ns DESC, trace_id DESC LIMIT ?" + std::to_string(limit_param) +
                           " OFFSET ?" + std::to_string(offset_param);
  std::string span_cond = cond;
  if (q.errors_only)
    span_cond = cond == "s.error = 1" ? "" : cond;  // already implied by t.error for the traces
  if (span_cond.empty())
    sql = columns + "WHERE " + trace_cond + page;
  else if (!q.query.empty())
    sql = columns + "WHERE " + trace_cond + " AND trace_id IN (SELECT s.trace_id FROM spans s WHERE " + cond +
          ")" + page;
  else
    sql = columns + "WHERE " + trace_cond +
          " AND EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = t.trace_id AND " + cond + ")" + page;
  auto bind_all = [&](Stmt& st) {
    for (std::size_t i = 0; i < binds.size(); ++i) binds[i](st, static_cast<int>(i) + 1);
  };
  Stmt traces(db, sql, &impl_->stmts);
  bind_all(traces);
  traces.bind(limit_param, std::int64_t(limit + 1)).bind(offset_param, offset);
  json out = json::array();
  bool more = false;
  while (traces.step()) {
    if (static_cast<int>(out.size()) == limit) {
      more = true;
      break;
    }
    json t = summary_of(traces);
    t["matches"] = json::array();
    out.push_back(std::move(t));
  }
  // The matching spans of the page's traces (the first 5 of each by start), in one statement: the full-text
  // condition is evaluated once for the page, not once per trace.
  if (!cond.empty() && !out.empty()) {
    std::string ids;
    for (std::size_t i = 0; i < out.size(); ++i)
      ids += (i ? ",?" : "?") + std::to_string(next + static_cast<int>(i));
    Stmt matches(db,
                 "SELECT s.trace_id, s.record FROM spans s WHERE s.trace_id IN (" + ids + ") AND " + cond +
                     " ORDER BY s.trace_id, s.start_ns",
                 &impl_->stmts);
    bind_all(matches);
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::string id = out[i]["traceId"].get<std::string>();
      matches.bind(next + static_cast<int>(i), id);
      index[id] = i;
    }
    while (matches.step()) {
      json& m = out[index.at(matches.text(0))]["matches"];
      if (m.size() < 5) m.push_back(span_view(json::parse(matches.text(1))));
    }
  }
  return {{"traces", out},
          {"nextCursor", more ? json("o:" + std::to_string(offset + limit)) : json(nullptr)}};
}

json TraceStore::get_trace(const std::string& trace_id) {
  ingest();
  sqlite3* db = impl_->db;
  Stmt head(db,
            "SELECT trace_id, root_function, start_ns, duration_ns, span_count, error FROM traces WHERE "
            "trace_id = ?",
            &impl_->stmts);
  head.bind(1, trace_id);
  if (!head.step())
    throw StoreError("traces.not_found",
                     "No trace " + trace_id + "; find ids with search_traces or find_slow_traces");
  json summary = summary_of(head);
  Stmt s(db, "SELECT record FROM spans WHERE trace_id = ? ORDER BY start_ns, id", &impl_->stmts);
  s.bind(1, trace_id);
  std::vector<json> spans;
  while (s.step()) spans.push_back(span_view(json::parse(s.text(0))));
  // Tree order (depth first, children by start time), iteratively: 50 deep and 100k wide both work.
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < spans.size(); ++i) index[spans[i]["spanId"].get<std::string>()] = i;
  std::vector<std::vector<std::size_t>> children(spans.size());
  std::vector<std::size_t> roots;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const json& p = spans[i]["parentSpanId"];
    auto it = p.is_string() ? index.find(p.get<std::string>()) : index.end();
    if (it == index.end())
      roots.push_back(i);  // a root, or a child whose parent is in another process/file not seen
    else
      children[it->second].push_back(i);
  }
  json ordered = json::array();
  std::vector<std::size_t> stack(roots.rbegin(), roots.rend());
  while (!stack.empty()) {
    std::size_t i = stack.back();
    stack.pop_back();
    json ids = json::array();
    for (std::size_t c : children[i]) ids.push_back(spans[c]["spanId"]);
    spans[i]["children"] = std::move(ids);
    ordered.push_back(std::move(spans[i]));
    for (auto c = children[i].rbegin(); c != children[i].rend(); ++c) stack.push_back(*c);
  }
  return {{"traceId", trace_id},
          {"rootFunction", summary["rootFunction"]},
          {"startTime", summary["startTime"]},
          {"duration", summary["duration"]},
          {"spanCount", ordered.size()},
          {"error", summary["error"]},
          {"spans", std::move(ordered)}};
}

json TraceStore::find_slow(double threshold_ms, int limit) {
  ingest();
  Stmt s(impl_->db,
         "SELECT trace_id, root_function, start_ns, duration_ns, span_count, error FROM traces "
         "WHERE duration_ns >= ? ORDER BY duration_ns DESC LIMIT ?",
         &impl_->stmts);
  s.bind(1, static_cast<std::int64_t>(threshold_ms * 1e6)).bind(2, std::int64_t(std::clamp(limit, 1, 1000)));
  json out = json::array();
  while (s.step()) out.push_back(summary_of(s));
  return {{"threshold", threshold_ms}, {"traces", out}};
}

json TraceStore::stats(const std::string& file, const std::string& function) {
  ingest();
  sqlite3* db = impl_->db;
  if (file.empty() && function.empty())
    throw StoreError("traces.bad_argument", "Name a file (and optionally a function) for get_trace_stats");
  // Resolve the names as recorded (exact, or a path suffix / an unqualified function name).
  std::vector<std::pair<std::string, std::string>> pairs;
  if (function.empty()) {
    for (auto& f : impl_->resolve_files(file)) pairs.emplace_back(f, "");
    if (pairs.empty())
      throw StoreError("traces.unknown_file",
                       "No spans recorded for file " + file + "; files with spans: " + impl_->known_files());
  } else {
    pairs = impl_->resolve_functions(file, function);
    if (pairs.empty())
      throw StoreError("traces.unknown_function", "No spans recorded for function " + function +
                                                      (file.empty() ? "" : " in " + file) +
                                                      "; check the name with search_traces");
  }
  std::string cond;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    cond += i ? " OR " : "";
    cond += pairs[i].second.empty() ? "(file = ?" + std::to_string(2 * i + 1) + ")"
                                    : "(file = ?" + std::to_string(2 * i + 1) + " AND function = ?" +
                                          std::to_string(2 * i + 2) + ")";
  }
  auto bind = [&](Stmt& s) {
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      s.bind(static_cast<int>(2 * i + 1), pairs[i].first);
      if (!pairs[i].second.empty()) s.bind(static_cast<int>(2 * i + 2), pairs[i].second);
    }
  };
  // One pass over the covering index: every duration (for exact percentiles), the sum, the max, the errors.
  Stmt all(db, "SELECT duration_ns, error FROM spans WHERE " + cond, &impl_->stmts);
  bind(all);
  std::vector<std::int64_t> durations;
  double sum = 0;
  std::int64_t max = 0, errors = 0;
  while (all.step()) {
    const std::int64_t d = all.i64(0);
    durations.push_back(d);
    sum += static_cast<double>(d);
    max = std::max(max, d);
    errors += all.i64(1);
  }
  const std::int64_t count = static_cast<std::int64_t>(durations.size());
  const double mean = count ? sum / static_cast<double>(count) : 0.0;
  // Exact percentiles (nearest rank: the value at rank ceil(p * n)), by selection: O(n) each.
  auto percentile = [&](double p) {
    if (count == 0) return 0.0;
    std::int64_t rank = static_cast<std::int64_t>(std::ceil(p * static_cast<double>(count)));
    rank = std::clamp<std::int64_t>(rank, 1, count);
    auto nth = durations.begin() + (rank - 1);
    std::nth_element(durations.begin(), nth, durations.end());
    return static_cast<double>(*nth) / 1e6;
  };
  json slowest = json::array();
  Stmt slow(db, "SELECT trace_id FROM spans WHERE " + cond + " ORDER BY duration_ns DESC LIMIT 50",
            &impl_->stmts);
  bind(slow);
  std::set<std::string> seen;
  while (slow.step() && slowest.size() < 5)
    if (seen.insert(slow.text(0)).second) slowest.push_back(slow.text(0));
  json functions = json::array();
  for (const auto& [f, fn] : pairs) functions.push_back(fn.empty() ? json(f) : json(f + "::" + fn));
  return {{"file", file},
          {"function", function.empty() ? json(nullptr) : json(function)},
          {"matched", functions},
          {"count", count},
          {"mean", mean / 1e6},
          {"p50", percentile(0.50)},
          {"p95", percentile(0.95)},
          {"p99", percentile(0.99)},
          {"max", static_cast<double>(max) / 1e6},
          {"errorRate", count ? static_cast<double>(errors) / static_cast<double>(count) : 0.0},
          {"slowestTraceIds", slowest}};
}

json TraceStore::summary() {
  IngestReport r = ingest();
  sqlite3* db = impl_->db;
  Stmt s(db,
         "SELECT (SELECT COUNT(*) FROM spans), (SELECT COUNT(*) FROM traces), (SELECT COUNT(*) FROM files), "
         "(SELECT COALESCE(SUM(corrupt), 0) FROM files)",
         &impl_->stmts);
  s.step();
  return {{"spans", s.i64(0)},
          {"traces", s.i64(1)},
          {"files", s.i64(2)},
          {"corruptLines", s.i64(3)},
          {"ingested", r.to_json()}};
}

json TraceStore::export_chrome(const std::string& trace_id) {
  json trace = get_trace(trace_id);
  json events = json::array();
  for (const auto& s : trace["spans"]) {
    auto start = parse_iso_ns(s["startTime"].get<std::string>()).value_or(0);
    json args = {{"file", s["file"]}, {"line", s["line"]}, {"spanId", s["spanId"]}};
    if (!s["params"].is_null()) args["params"] = s["params"];
    if (!s["returnValue"].is_null()) args["returnValue"] = s["returnValue"];
    if (!s["error"].is_null()) args["error"] = s["error"];
    events.push_back({{"name", s["function"]},
                      {"cat", "function"},
                      {"ph", "X"},
                      {"ts", static_cast<double>(start) / 1000.0},
                      {"dur", s["duration"].get<double>() * 1000.0},
                      {"pid", s.value("pid", 0)},
                      {"tid", s.value("thread", 0)},
                      {"args", args}});
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}, {"otherData", {{"traceId", trace_id}}}};
}

namespace {
bool is_hex_id(const std::string& s, std::size_t n) {
  return s.size() == n && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}
// OTLP needs 16-byte trace ids: a program-chosen id ("req-abc-123") is hashed to one (kept as an attribute).
std::string otlp_trace_id(const std::string& id) {
  if (is_hex_id(id, 32)) return id;
  char buf[40];
  std::size_t h1 = std::hash<std::string>()(id), h2 = std::hash<std::string>()(id + "#agentlog");
  std::snprintf(buf, sizeof buf, "%016zx%016zx", h1, h2);
  return buf;
}
json attr(const std::string& key, const json& value) {
  json v;
  if (value.is_string())
    v = {{"stringValue", value}};
  else if (value.is_number_integer())
    v = {{"intValue", std::to_string(value.get<std::int64_t>())}};
  else if (value.is_boolean())
    v = {{"boolValue", value}};
  else
    v = {{"stringValue", value.dump()}};
  return {{"key", key}, {"value", v}};
}
}  // namespace

json TraceStore::export_otlp(const std::string& trace_id, const std::string& service_name) {
  json trace = get_trace(trace_id);
  json spans = json::array();
  const std::string tid = otlp_trace_id(trace_id);
  for (const auto& s : trace["spans"]) {
    auto start = parse_iso_ns(s["startTime"].get<std::string>()).value_or(0);
    auto end = start + static_cast<std::int64_t>(s["duration"].get<double>() * 1e6);
    json attributes = json::array({attr("code.function", s["function"]), attr("code.filepath", s["file"]),
                                   attr("code.lineno", s["line"])});
    if (!s["params"].is_null()) attributes.push_back(attr("agentlog.params", s["params"]));
    if (!s["returnValue"].is_null()) attributes.push_back(attr("agentlog.return_value", s["returnValue"]));
    if (tid != trace_id) attributes.push_back(attr("agentlog.trace_id", trace_id));
    json span = {{"traceId", tid},
                 {"spanId", s["spanId"]},
                 {"name", s["function"]},
                 {"kind", 1},
                 {"startTimeUnixNano", std::to_string(start)},
                 {"endTimeUnixNano", std::to_string(end)},
                 {"attributes", attributes},
                 {"status", {{"code", s["error"].is_null() ? 1 : 2}}}};
    if (s["parentSpanId"].is_string()) span["parentSpanId"] = s["parentSpanId"];
    if (!s["error"].is_null())
      span["status"]["message"] = s["error"].value("message", s["error"].value("type", "error"));
    spans.push_back(std::move(span));
  }
  return {{"resourceSpans",
           json::array(
               {{{"resource", {{"attributes", json::array({attr("service.name", service_name)})}}},
                 {"scopeSpans", json::array({{{"scope", {{"name", "agentlog"}}}, {"spans", spans}}})}}})}};
}

}  // namespace agentlog::store
