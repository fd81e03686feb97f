// The trace store: SQLite index over the span files. See store.hpp.
#include "tracer/store/store.hpp"

#include <simdjson.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "change_watch.hpp"

#define AGENTLOG_NO_THROW_HOOK  // the converter of binary span files, not the tracer's exception hook
#include "agentlog_trace.hpp"

namespace agentlog::store {
// SQLite counts the memory it allocates under a process-wide mutex unless told not to, before it starts (so
// at load time); nothing reads the count. A no-op (SQLITE_MISUSE) if SQLite was started already.
[[maybe_unused]] const int kNoMemoryStatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);

namespace fs = std::filesystem;

namespace {

// -------------------------------------------------------------------------------- SQLite wrappers
// A failed SQLite call, with its primary result code (SQLITE_CORRUPT, SQLITE_BUSY, ...).
class SqliteError : public std::runtime_error {
 public:
  SqliteError(int rc, const std::string& message)
      : std::runtime_error("trace index: " + message), code(rc & 0xff) {}
  int code;
};

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
    if (int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr); rc != SQLITE_OK)
      throw SqliteError(rc, std::string(sqlite3_errmsg(db)) + " in: " + sql);
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
  // The text must stay valid until the statement is stepped.
  Stmt& bind_view(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& bind_blob(int i, const std::vector<std::int64_t>& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size() * sizeof(std::int64_t)), SQLITE_STATIC);
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
    throw SqliteError(rc, sqlite3_errmsg(db_));
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
  std::vector<std::int64_t> int64s(int c) const {  // a blob of native int64s
    std::vector<std::int64_t> out(static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c)) /
                                  sizeof(std::int64_t));
    if (!out.empty())
      std::memcpy(out.data(), sqlite3_column_blob(stmt_, c), out.size() * sizeof(std::int64_t));
    return out;
  }
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
  if (int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw SqliteError(rc, msg);
  }
}

// The layout of the index (PRAGMA user_version): an index of another layout is removed and rebuilt from the
// span files. This one keeps no span JSON: a span row says where its line is (src, pos, len) in the span
// files, the source of truth, and holds what queries filter and sort on as integers. Layout 5: the full
// text holds the strings decoded (layout 4's held "first\nsecond" as the words first, nsecond), and lines
// with a duration or time no span has are left out as corrupt; an index of layout 4 would stay stale.
constexpr int kLayout = 5;

// The journal mode is set by open(): WAL for the index in use, none while a reindex builds a new one.
const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS files(
  id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, offset INTEGER NOT NULL, corrupt INTEGER NOT NULL DEFAULT 0,
  inode INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS functions(
  id INTEGER PRIMARY KEY, file TEXT NOT NULL, function TEXT NOT NULL, UNIQUE(file, function));
-- tid: never reused (AUTOINCREMENT), so full-text rows of removed traces can never name another trace.
-- docs: how many full-text rows the trace has (one per ingested chunk of span lines it had spans in).
CREATE TABLE IF NOT EXISTS traces(
  tid INTEGER PRIMARY KEY AUTOINCREMENT, trace_id TEXT NOT NULL UNIQUE, root_function TEXT,
  start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, duration_ns INTEGER NOT NULL, span_count INTEGER NOT NULL,
  error INTEGER NOT NULL, docs INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS spans(
  id INTEGER PRIMARY KEY, tid INTEGER NOT NULL, fn INTEGER NOT NULL, start_ns INTEGER NOT NULL,
  duration_ns INTEGER NOT NULL, error INTEGER NOT NULL, src INTEGER NOT NULL, pos INTEGER NOT NULL,
  len INTEGER NOT NULL);
-- Every span duration of a function, for get_trace_stats: one row per function and chunk of span lines read
-- (first = the chunk's first line in src), data = the spans' (duration_ns << 1 | error, tid) as pairs of
-- native int64. Exact percentiles need every duration: a few blobs are read faster than an index of
-- a row per span, and written far faster than that index is built.
CREATE TABLE IF NOT EXISTS durations(
  fn INTEGER NOT NULL, src INTEGER NOT NULL, first INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY(fn, src, first)) WITHOUT ROWID;
-- Contentless full text of the distinct function names, files, parameters, return values and errors of a
-- trace's spans: rowid = tid << 24 | the trace's document number.
CREATE VIRTUAL TABLE IF NOT EXISTS trace_text USING fts5(text, content='', columnsize=0);
)sql";
constexpr int kDocBits = 24;

// The secondary indexes (dropped during a bulk load and built again at its end).
const char* kIndexes = R"sql(
CREATE INDEX IF NOT EXISTS spans_trace ON spans(tid, start_ns);
CREATE INDEX IF NOT EXISTS traces_duration ON traces(duration_ns);
CREATE INDEX IF NOT EXISTS traces_start ON traces(start_ns, tid);
CREATE INDEX IF NOT EXISTS traces_error ON traces(error, start_ns, tid);
)sql";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

// What summary_of reads, then the trace's row number (column 6): "SELECT " + kSummary + " FROM traces ...".
const std::string kSummary = "trace_id, root_function, start_ns, duration_ns, span_count, error, tid";

json summary_of(Stmt& s) {
  return {{"traceId", s.text(0)},
          {"rootFunction", s.null(1) ? json(nullptr) : json(s.text(1))},
          {"startTime", iso_from_ns(s.i64(2))},
          {"duration", static_cast<double>(s.i64(3)) / 1e6},
          {"spanCount", s.i64(4)},
          {"error", s.i64(5) != 0}};
}

json param_order(const std::string& line);  // with the span lines' reader, below

json span_view(const std::string& line) {
  const json record = json::parse(line, nullptr, false);
  if (!record.is_object()) return nullptr;  // the span file went away meanwhile
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
  // The parameters' names in the signature's order: a json object's keys come back sorted.
  if (out["params"].is_object() && out["params"].size() < 2) {
    json order = json::array();
    for (const auto& [name, value] : out["params"].items()) order.push_back(name);
    out["paramOrder"] = std::move(order);
  } else if (out["params"].is_object()) {
    json order = param_order(line);
    if (order.size() == out["params"].size()) out["paramOrder"] = std::move(order);
  }
  return out;
}

}  // namespace

json IngestReport::to_json() const {
  return {{"files", files},
          {"spans", spans},
          {"corruptLines", corrupt_lines},
          {"removedFiles", removed_files},
          {"convertedFiles", converted_files},
          {"waitingFiles", waiting_files},
          {"unreadableFiles", unreadable_files},
          {"unreadable", unreadable},
          {"complete", complete}};
}

namespace {
// What follows the seconds: an optional fraction (".999000", any number of digits, ns kept), then 'Z', an
// offset from UTC (+01:00, -0500, +01) or nothing (UTC). The nanoseconds to add to the time read so far, or
// nullopt when anything else follows.
std::optional<std::int64_t> fraction_ns(std::string_view t) {
  std::size_t i = 0;
  std::int64_t sub = 0;
  if (i < t.size() && t[i] == '.') {
    int digits = 0;
    for (++i; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i)
      if (digits < 9) sub = sub * 10 + (t[i] - '0'), ++digits;
    for (; digits < 9; ++digits) sub *= 10;
  }
  const std::string_view zone = t.substr(i);
  if (zone.empty() || zone == "Z" || zone == "z") return sub;
  auto two = [&](std::size_t at) {
    return at + 2 <= zone.size() && std::isdigit(static_cast<unsigned char>(zone[at])) &&
                   std::isdigit(static_cast<unsigned char>(zone[at + 1]))
               ? (zone[at] - '0') * 10 + (zone[at + 1] - '0')
               : -1;
  };
  if (zone[0] != '+' && zone[0] != '-') return std::nullopt;
  const int hours = two(1);
  const std::size_t minutes_at = zone.size() > 3 && zone[3] == ':' ? 4 : 3;
  const int minutes = zone.size() == 3 ? 0 : two(minutes_at);
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59 ||
      (zone.size() != 3 && zone.size() != minutes_at + 2))
    return std::nullopt;
  const std::int64_t offset_ns = (hours * 3600LL + minutes * 60LL) * 1000000000LL;
  return zone[0] == '+' ? sub - offset_ns : sub + offset_ns;
}

// Nanoseconds since the epoch of a UTC date and time, or nullopt when it is no real one (2026-02-30, 25:99)
// or lies outside the years that 64-bit nanoseconds hold (1678-2261): timegm would move an impossible date
// to a real one, and the multiplication by 1e9 would overflow.
std::optional<std::int64_t> epoch_ns(int y, int mo, int d, int h, int mi, int s, std::int64_t sub) {
  using namespace std::chrono;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;  // (month and day take them modulo 256)
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  // (A leap second, :60, is refused as the messages say: read as the next minute, it hid what it named.)
  if (!ymd.ok() || y < 1678 || y > 2261 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
    return std::nullopt;
  const std::int64_t secs = sys_days(ymd).time_since_epoch().count() * 86400LL + h * 3600LL + mi * 60LL + s;
  return secs * 1000000000LL + sub;
}

// The runtime's own layout, 2026-11-25T10:01:39.999000Z, read without sscanf (a span line's start time); a
// space or a lowercase 't' for the 'T' (RFC 3339 allows t and z) and an offset from UTC are read too.
std::optional<std::int64_t> parse_iso_fixed(std::string_view t) {
  auto num = [&](std::size_t at, std::size_t n, int& out) {
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (i >= t.size() || !std::isdigit(static_cast<unsigned char>(t[i]))) return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  int y, mo, d, h, mi, s;
  if (t.size() < 19 || !num(0, 4, y) || t[4] != '-' || !num(5, 2, mo) || t[7] != '-' || !num(8, 2, d) ||
      (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !num(11, 2, h) || t[13] != ':' || !num(14, 2, mi) ||
      t[16] != ':' || !num(17, 2, s))
    return std::nullopt;
  const auto sub = fraction_ns(t.substr(19));
  if (!sub) return std::nullopt;
  return epoch_ns(y, mo, d, h, mi, s, *sub);
}

// Other ISO-8601 forms ("2026-11-25T1:2:3", no seconds, a date alone).
std::optional<std::int64_t> parse_iso_loose(std::string text) {
  int y, mo, d, h = 0, mi = 0, s = 0;
  int n = 0;
  std::int64_t sub = 0;
  if (text.size() > 10 && text[10] == 't') text[10] = 'T';
  const bool space = text.size() > 10 && text[10] == ' ';
  bool timed = std::sscanf(text.c_str(), space ? "%4d-%2d-%2d %2d:%2d:%2d%n" : "%4d-%2d-%2dT%2d:%2d:%2d%n",
                           &y, &mo, &d, &h, &mi, &s, &n) == 6;
  if (!timed) {  // no seconds
    s = n = 0;
    timed = std::sscanf(text.c_str(), space ? "%4d-%2d-%2d %2d:%2d%n" : "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d,
                        &h, &mi, &n) == 5;
  }
  if (timed) {
    const auto fraction = fraction_ns(std::string_view(text).substr(static_cast<std::size_t>(n)));
    if (!fraction) return std::nullopt;
    sub = *fraction;
  } else if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 ||
             static_cast<std::size_t>(n) != text.size()) {
    return std::nullopt;
  }
  return epoch_ns(y, mo, d, h, mi, s, sub);
}

std::optional<std::int64_t> iso_ns(std::string_view text) {
  if (auto fixed = parse_iso_fixed(text)) return fixed;
  return parse_iso_loose(std::string(text));
}
}  // namespace

std::optional<std::int64_t> parse_iso_ns(const std::string& text) { return iso_ns(text); }

namespace {
// The longest duration a filter takes: 9e12 ms (about 285 years) is a round number below the longest that a
// span's 64-bit nanoseconds hold (9,223,372,036,854 ms). Converted beyond it, the filter overflowed: 1e13ms
// listed every trace, and a --max-duration of 1e300 none.
constexpr double kMaxDurationMs = 9e12;
const char* const kDurationRange = "0 to 9000000000000 ms (about 285 years)";

// A filter's ms as the index's nanoseconds. Kept within the range, for a query built without
// parse_duration_ms: past it, the conversion to an integer is undefined.
std::int64_t duration_ns_of(double ms) {
  return static_cast<std::int64_t>(std::clamp(std::isnan(ms) ? 0.0 : ms, 0.0, kMaxDurationMs) * 1e6);
}
}  // namespace

double parse_duration_ms(const json& value) {
  if (value.is_number()) {
    double v = value.get<double>();
    if (!(v >= 0 && v <= kMaxDurationMs))  // (NaN too)
      throw StoreError("traces.bad_duration", "A duration is a number of ms from " +
                                                  std::string(kDurationRange) + ", not " + value.dump());
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
  if (v * it->second > kMaxDurationMs)
    throw StoreError("traces.bad_duration",
                     "The duration \"" + s + "\" is too long: give one from " + kDurationRange);
  return v * it->second;
}

const char* const kTimeForms =
    "2026-11-25T14:30:00Z, 2026-11-25T15:30:00+01:00, 2026-11-25 14:30:00 (UTC), 2026-11-25T14:30, "
    "2026-11-25";
const char* const kAgeForms = "30s, 30m, 1h, 2d, 1w";  // (both messages: ages are taken in either case)

std::int64_t parse_time_ns(const std::string& text, std::int64_t now) {
  if (auto iso = parse_iso_ns(text)) return *iso;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  static const std::map<std::string, double> units = {
      {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}, {"w", 604800e9}};
  auto it = units.find(unit);
  // (strtod reads "nan" and "inf": an age of NaN hours compared as no time at all.)
  if (end == text.c_str() || it == units.end() || !(v >= 0) || !std::isfinite(v)) {
    int y, mo, d;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d", &y, &mo, &d) == 3)  // a date, but no real one
      throw StoreError(
          "traces.bad_time",
          "Cannot read the time \"" + text +
              "\" as a date: give a date and time that exists, in ISO-8601 between the years "
              "1678 and 2261 (a month of 1-12, a day the month has, an hour of 0-23, minutes and "
              "seconds of 0-59, an offset from UTC within 23:59: " +
              kTimeForms + "), or an age (" + kAgeForms + ")");
    throw StoreError("traces.bad_time", "Cannot read the time \"" + text + "\": use ISO-8601 (" + kTimeForms +
                                            ") or an age (" + kAgeForms + ")");
  }
  // No span starts before 1970, so an age that reaches further back means 1970 (and does not overflow).
  const double age_ns = std::min(v * it->second, static_cast<double>(std::max<std::int64_t>(now, 0)));
  return now - static_cast<std::int64_t>(age_ns);
}

// ------------------------------------------------------------------------------------- span lines
namespace {

namespace od = simdjson::ondemand;
constexpr std::size_t kPadding = simdjson::SIMDJSON_PADDING;

// What the index reads of one span line. Strings are copies (reused from line to line). The text of params,
// returnValue and error is what full-text search reads of them (see searchable_text): the raw JSON in the
// line, or its strings decoded into the *_decoded copies.
struct SpanFields {
  std::string trace, function, file;
  std::string_view params, returned, error_text;  // empty when absent or null
  std::string params_decoded, returned_decoded, error_decoded;
  std::int64_t start_ns = 0, duration_ns = 0;
  bool root = true, error = false;
};

// The JSON text of a value as written in the line ("" for null).
bool raw_json_of(od::value value, std::string_view& out) {
  od::json_type type;
  if (value.type().get(type)) return false;
  switch (type) {
    case od::json_type::null:
      out = {};
      return true;
    case od::json_type::object: {
      od::object o;
      return !value.get_object().get(o) && !o.raw_json().get(out);
    }
    case od::json_type::array: {
      od::array a;
      return !value.get_array().get(a) && !a.raw_json().get(out);
    }
    default:
      out = value.raw_json_token();
      while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.remove_suffix(1);
      return true;
  }
}

// Appends a string value as full-text search reads it: a terminal's escape sequences (colours: ESC [ 31 m)
// become a space, so that "\u001b[31mred" holds the word "red", not "31mred".
void append_words(std::string_view s, std::string& out) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\x1b') {
      out += s[i];
      continue;
    }
    out += ' ';
    if (i + 1 >= s.size()) break;
    const char kind = s[++i];
    if (kind == '[') {  // CSI: parameter and intermediate bytes (0x20-0x3F), then a final byte (0x40-0x7E)
      while (i + 1 < s.size() && s[i + 1] >= 0x20 && s[i + 1] <= 0x3F) ++i;
      if (i + 1 < s.size() && s[i + 1] >= 0x40 && s[i + 1] <= 0x7E) ++i;
    } else if (kind == ']') {  // OSC (a title, a link): up to BEL or ESC backslash
      while (i + 1 < s.size() && s[i + 1] != '\a' && s[i + 1] != '\x1b') ++i;
      if (i + 1 < s.size() && s[i + 1] == '\a') ++i;
    }  // else a two-byte sequence: the byte after ESC is dropped with it
  }
  out += ' ';
}

// The keys and values of a JSON value, strings decoded, separated by spaces; false when it cannot be read.
bool append_decoded(od::value value, std::string& out) {
  od::json_type type;
  if (value.type().get(type)) return false;
  switch (type) {
    case od::json_type::object: {
      od::object o;
      if (value.get_object().get(o)) return false;
      for (auto field_result : o) {
        od::field field;
        std::string_view key;
        if (std::move(field_result).get(field) || field.unescaped_key().get(key)) return false;
        append_words(key, out);
        if (!append_decoded(field.value(), out)) return false;
      }
      return true;
    }
    case od::json_type::array: {
      od::array a;
      if (value.get_array().get(a)) return false;
      for (auto element : a) {
        od::value v;
        if (element.get(v) || !append_decoded(v, out)) return false;
      }
      return true;
    }
    case od::json_type::string: {
      std::string_view v;
      if (value.get_string().get(v)) return false;
      append_words(v, out);
      return true;
    }
    default: {
      std::string_view token = value.raw_json_token();
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.remove_suffix(1);
      out.append(token) += ' ';
      return true;
    }
  }
}

// What full-text search reads of a value's raw JSON: its keys and values with the strings decoded, so that a
// word after an escape is a word ("first\nsecond" holds "second", not "nsecond"). Without a backslash the
// raw JSON is that text already as the tokenizer sees it (quotes, braces, colons and commas separate words),
// and is taken as it is: no copy for almost every value.
std::string_view searchable_text(std::string_view raw, std::string& decoded) {
  if (raw.find('\\') == std::string_view::npos) return raw;
  thread_local od::parser parser;
  decoded.clear();
  const simdjson::padded_string padded("[" + std::string(raw) + "]");
  od::document doc;
  od::value value;
  if (parser.iterate(padded).get(doc) || doc.get_value().get(value) || !append_decoded(value, decoded))
    return raw;  // (a value the line's parse skipped over unread, and malformed: its words as they are)
  return decoded;
}

// The names in the line's params object, in the line's order (empty when it cannot be read).
json param_order(const std::string& line) {
  thread_local od::parser parser;
  json names = json::array();
  const simdjson::padded_string padded(line);
  od::document doc;
  od::object params;
  if (parser.iterate(padded).get(doc) || doc.find_field_unordered("params").get_object().get(params))
    return names;
  for (auto field : params) {
    std::string_view name;
    if (field.unescaped_key().get(name)) return json::array();
    names.push_back(name);
  }
  return names;
}

// Reads one span line; false when it is not JSON or not a span (a trace id, a span id and a start time are
// required). `capacity` is the bytes readable from line.data() (simdjson reads up to kPadding past the end).
bool read_span(od::parser& parser, std::string_view line, std::size_t capacity, SpanFields& f) {
  od::document doc;
  od::object obj;
  if (parser.iterate(line.data(), line.size(), capacity).get(doc) || doc.get_object().get(obj)) return false;
  f.trace.clear();
  f.function.assign("?");
  f.file.clear();
  f.params = f.returned = f.error_text = {};
  f.start_ns = f.duration_ns = 0;
  f.root = true;
  bool has_span = false, has_start = false, has_duration_ns = false;
  std::optional<std::int64_t> duration_ms_ns;  // "duration" (ms), used without "durationNs"
  for (auto field_result : obj) {
    od::field field;
    std::string_view key;
    if (std::move(field_result).get(field) || field.unescaped_key().get(key)) return false;
    od::value value = field.value();
    auto string_into = [&](std::string& out) {
      std::string_view v;
      if (value.get_string().get(v)) return false;
      out.assign(v);
      return true;
    };
    if (key == "traceId") {
      if (!string_into(f.trace)) return false;
    } else if (key == "spanId") {
      std::string_view v;
      if (value.get_string().get(v)) return false;
      has_span = true;
    } else if (key == "parentSpanId") {
      bool is_null = false;
      if (value.is_null().get(is_null)) return false;
      f.root = is_null;
    } else if (key == "function") {
      if (!string_into(f.function)) return false;
    } else if (key == "file") {
      if (!string_into(f.file)) return false;
    } else if (key == "startTime") {
      std::string_view v;
      if (value.get_string().get(v)) return false;
      const auto ns = iso_ns(v);
      if (!ns || *ns < 0) return false;  // no span started before 1970
      f.start_ns = *ns;
      has_start = true;
    } else if (key == "durationNs") {
      // A duration that is no whole number of ns from 0 up is no span's: a damaged or foreign line (a
      // negative one made a trace of -5 ms, INT64_MAX one of -9223372036854 ms).
      std::int64_t v;
      if (value.get_int64().get(v) || v < 0) return false;
      f.duration_ns = v;
      has_duration_ns = true;
    } else if (key == "duration") {
      double v;
      if (value.get_double().get(v) || !(v >= 0 && v < 9.2e12)) return false;
      duration_ms_ns = static_cast<std::int64_t>(v * 1e6);
    } else if (key == "params") {
      if (!raw_json_of(value, f.params)) return false;
    } else if (key == "returnValue") {
      if (!raw_json_of(value, f.returned)) return false;
    } else if (key == "error") {
      if (!raw_json_of(value, f.error_text)) return false;
    }
  }
  if (!has_duration_ns && duration_ms_ns) f.duration_ns = *duration_ms_ns;
  // A span ends before 2262, the end of 64-bit nanoseconds (the trace's end would wrap to 1677).
  std::int64_t end_ns;
  if (__builtin_add_overflow(f.start_ns, f.duration_ns, &end_ns)) return false;
  f.error = !f.error_text.empty();
  if (!has_span || !has_start || f.trace.empty()) return false;
  f.params = searchable_text(f.params, f.params_decoded);
  f.returned = searchable_text(f.returned, f.returned_decoded);
  f.error_text = searchable_text(f.error_text, f.error_decoded);
  return true;
}

// What full-text search sees of a span: these pieces, each tokenised.
template <class F>
void for_each_piece(const SpanFields& f, F fn) {
  for (std::string_view piece :
       {std::string_view(f.function), std::string_view(f.file), f.params, f.returned, f.error_text})
    if (!piece.empty()) fn(piece);
}

// The words of a text as the full-text table reads them: FTS5's own unicode61 tokenizer (the table's, with
// its default options), so that the spans the table finds and the span-by-span check below agree on every
// text: case folded for every script (WÖRLD is wörld), diacritics removed (and so world), runs of letters
// and digits only (punctuation, symbols and emoji separate words). ASCII text, almost all of it, is split
// here by the tokenizer's own rule for ASCII (letters and digits, lower-cased), without a call per word.
// One per connection; not thread-safe (as the connection).
class Words {
 public:
  explicit Words(sqlite3* db) {
    fts5_api* api = nullptr;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr) == SQLITE_OK) {
      sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", nullptr);
      sqlite3_step(st);
    }
    sqlite3_finalize(st);
    void* user = nullptr;
    if (!api || api->xFindTokenizer(api, "unicode61", &user, &tokenizer_) != SQLITE_OK ||
        tokenizer_.xCreate(user, nullptr, 0, &instance_) != SQLITE_OK)
      throw SqliteError(
          SQLITE_ERROR,
          "this SQLite has no FTS5 unicode61 tokenizer (link agentlog with an SQLite built with "
          "FTS5)");
  }
  ~Words() { tokenizer_.xDelete(instance_); }
  Words(const Words&) = delete;
  Words& operator=(const Words&) = delete;

  std::vector<std::string> of(std::string_view text) const {
    std::vector<std::string> out;
    if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
      std::string token;
      for (char c : text) {
        if (std::isalnum(static_cast<unsigned char>(c))) {
          token += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else if (!token.empty()) {
          out.push_back(std::move(token));
          token.clear();
        }
      }
      if (!token.empty()) out.push_back(std::move(token));
      return out;
    }
    tokenizer_.xTokenize(instance_, &out, FTS5_TOKENIZE_DOCUMENT, text.data(), static_cast<int>(text.size()),
                         [](void* ctx, int, const char* token, int n, int, int) {
                           static_cast<std::vector<std::string>*>(ctx)->emplace_back(
                               token, static_cast<std::size_t>(n));
                           return SQLITE_OK;
                         });
    return out;
  }

 private:
  fts5_tokenizer tokenizer_{};
  Fts5Tokenizer* instance_ = nullptr;
};

// A search text: each whitespace-separated word is a phrase (its tokens in order) that must appear.
// A word of no letters or digits (an emoji, "->") is in no full text: it is refused when it is all the text
// (it listed every trace, or none), passed over among others.
using Phrases = std::vector<std::vector<std::string>>;
Phrases phrases_of(const std::string& query, const Words& words) {
  Phrases out;
  std::size_t i = 0;
  while (i < query.size()) {
    while (i < query.size() && std::isspace(static_cast<unsigned char>(query[i]))) ++i;
    std::size_t j = i;
    while (j < query.size() && !std::isspace(static_cast<unsigned char>(query[j]))) ++j;
    if (auto tokens = words.of(std::string_view(query).substr(i, j - i)); !tokens.empty())
      out.push_back(std::move(tokens));
    i = j;
  }
  if (out.empty() && query.find_first_not_of(" \t\n\r\f\v") != std::string::npos)
    throw StoreError("traces.bad_query",
                     "Nothing in \"" + query +
                         "\" can be searched: the full text holds words of letters and digits, and "
                         "punctuation, symbols and emoji only separate them. Search for a word next to it");
  return out;
}

// The FTS5 query of one phrase (quoted: FTS5 syntax in the text is taken literally).
std::string fts_phrase(const std::vector<std::string>& tokens) {
  std::string out = "\"";
  for (const auto& t : tokens) out += (out.size() > 1 ? " " : "") + t;
  return out + "\"";
}

// Whether one span has every phrase, each within one of its pieces.
bool has_every_phrase(const SpanFields& f, const Phrases& phrases, const Words& words) {
  std::vector<std::vector<std::string>> pieces;
  for_each_piece(f, [&](std::string_view p) { pieces.push_back(words.of(p)); });
  return std::all_of(phrases.begin(), phrases.end(), [&](const std::vector<std::string>& phrase) {
    return std::any_of(pieces.begin(), pieces.end(), [&](const std::vector<std::string>& tokens) {
      return std::search(tokens.begin(), tokens.end(), phrase.begin(), phrase.end()) != tokens.end();
    });
  });
}

// -------------------------------------------------------------------------------------- ingest chunks
// One span file's part of an ingest.
struct FilePlan {
  std::string key;  // path relative to the traces folder
  fs::path path;
  std::int64_t id = 0, offset = 0, size = 0;
};

// What a set of spans says of their trace: merged span by span, chunk by chunk, into the trace's row.
struct TraceSummary {
  std::optional<std::string> root;  // the function of the span without a parent
  std::int64_t start_ns = 0, end_ns = 0, count = 0;
  bool error = false;

  void add(const TraceSummary& o) {
    start_ns = count ? std::min(start_ns, o.start_ns) : o.start_ns;
    end_ns = count ? std::max(end_ns, o.end_ns) : o.end_ns;
    count += o.count;
    error = error || o.error;
    if (o.root) root = o.root;
  }
};

// Up to kChunkBytes of complete span lines of one file, read and parsed away from the database: the rows to
// insert, and per trace its summary and the text of its distinct pieces.
struct Chunk {
  bool done = false;  // no more to read
  std::size_t file = 0;
  std::int64_t end_offset = 0, corrupt = 0;
  struct Trace {
    std::string id;
    TraceSummary summary;
    std::string text;
  };
  struct Row {
    std::uint32_t trace, function;
    bool error;
    std::int64_t start_ns, duration_ns, pos, len;
  };
  std::vector<Trace> traces;
  std::vector<std::string> functions;  // file '\0' function
  std::vector<Row> rows;
};

constexpr std::int64_t kChunkBytes = 4 << 20;

class ChunkReader {
 public:
  ChunkReader(const std::vector<FilePlan>& plan, std::int64_t budget) : plan_(plan), budget_(budget) {}
  bool complete() const { return complete_; }

  Chunk next() {
    for (; file_ < plan_.size(); ++file_, started_ = false) {
      const FilePlan& f = plan_[file_];
      if (!started_) {
        offset_ = f.offset;
        started_ = true;
      }
      std::int64_t want = std::min(f.size - offset_, kChunkBytes);
      if (want <= 0) continue;
      if (budget_ > 0 && read_ + want > budget_) {
        want = budget_ - read_;  // complete lines of the first `want` bytes; the rest next time
        complete_ = false;
        if (want <= 0) continue;
      }
      read_ += want;
      std::ifstream in(f.path, std::ios::binary);
      in.seekg(offset_);
      buffer_.resize(static_cast<std::size_t>(want));
      in.read(buffer_.data(), want);
      buffer_.resize(static_cast<std::size_t>(in.gcount()));
      // A line longer than the chunk (or the whole budget) is read alone, to its end, so that each chunk
      // moves on.
      if (offset_ + want < f.size && buffer_.find('\n') == std::string::npos) {
        char block[65536];
        while (in.read(block, sizeof block) || in.gcount() > 0) {
          const std::size_t from = buffer_.size();
          buffer_.append(block, static_cast<std::size_t>(in.gcount()));
          if (const std::size_t nl = buffer_.find('\n', from); nl != std::string::npos) {
            buffer_.resize(nl + 1);
            break;
          }
        }
      }
      const std::size_t end = buffer_.rfind('\n');
      if (end == std::string::npos) continue;  // a torn last line waits until it is complete
      buffer_.reserve(buffer_.size() + kPadding);
      Chunk chunk = parse(std::string_view(buffer_).substr(0, end + 1));
      chunk.file = file_;
      chunk.end_offset = offset_ += static_cast<std::int64_t>(end + 1);
      return chunk;
    }
    Chunk done;
    done.done = true;
    return done;
  }

 private:
  Chunk parse(std::string_view text) {
    Chunk c;
    traces_.clear();
    functions_.clear();
    pieces_.clear();
    std::size_t at = 0;
    while (at < text.size()) {
      const std::size_t nl = text.find('\n', at);
      const std::string_view line = text.substr(at, nl - at);
      const std::int64_t pos = offset_ + static_cast<std::int64_t>(at);
      at = nl + 1;
      if (line.empty()) continue;
      if (!read_span(parser_, line,
                     buffer_.capacity() - static_cast<std::size_t>(line.data() - buffer_.data()), span_)) {
        ++c.corrupt;
        continue;
      }
      auto [t, fresh_trace] = traces_.try_emplace(span_.trace, static_cast<std::uint32_t>(c.traces.size()));
      if (fresh_trace) c.traces.push_back({span_.trace, {}, {}});
      Chunk::Trace& trace = c.traces[t->second];
      trace.summary.add({span_.root ? std::optional<std::string>(span_.function) : std::nullopt,
                         span_.start_ns, span_.start_ns + span_.duration_ns, 1, span_.error});
      for_each_piece(span_, [&](std::string_view piece) {
        const std::uint64_t key = std::hash<std::string_view>()(piece) * 0x9E3779B97F4A7C15ULL + t->second;
        if (!pieces_.insert(key).second) return;
        if (!trace.text.empty()) trace.text += '\n';
        trace.text += piece;
      });
      key_.assign(span_.file).push_back('\0');
      key_.append(span_.function);
      auto [fn, fresh_fn] = functions_.try_emplace(key_, static_cast<std::uint32_t>(c.functions.size()));
      if (fresh_fn) c.functions.push_back(key_);
      c.rows.push_back({t->second, fn->second, span_.error, span_.start_ns, span_.duration_ns, pos,
                        static_cast<std::int64_t>(line.size())});
    }
    return c;
  }

  const std::vector<FilePlan>& plan_;
  std::int64_t budget_, read_ = 0, offset_ = 0;
  std::size_t file_ = 0;
  bool started_ = false, complete_ = true;
  std::string buffer_, key_;
  od::parser parser_;
  SpanFields span_;
  std::unordered_map<std::string, std::uint32_t> traces_, functions_;
  std::unordered_set<std::uint64_t> pieces_;
};

// A file's size, inode and modification time (all 0 when it cannot be read): it changed when one did.
using FileStamp = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
FileStamp stamp_of(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::int64_t>(st.st_size), static_cast<std::int64_t>(st.st_ino),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

// Said once per process on stderr (agentlog serve's log, the terminal of a command): a query's answer does
// not carry the report of the ingest before it, and spans left out without a word would look lost.
void warn_once(const std::string& message) {
  static std::mutex mutex;
  static std::set<std::string> said;
  std::lock_guard lock(mutex);
  if (said.insert(message).second) std::fprintf(stderr, "agentlog: %s\n", message.c_str());
}

}  // namespace

// ------------------------------------------------------------------------------------------- Impl
struct TraceStore::Impl {
  fs::path dir;
  fs::path db_path;
  int retention_days;
  sqlite3* db = nullptr;
  ino_t db_ino = 0;  // the index file db has open
  StmtCache stmts;   // the queries' statements, kept prepared
  // Span file sizes and inodes at the last ingest, by path.
  std::map<std::string, std::pair<std::int64_t, std::int64_t>> known_stamps;
  std::unordered_map<std::string, std::int64_t> function_ids;  // file '\0' function -> functions.id
  // Span files open for reading span lines back, by files.id.
  std::unordered_map<std::int64_t, std::unique_ptr<std::ifstream>> readers;
  // What changed since the last scan of the folder; a scan happens at least once a second anyway (a file
  // system inotify does not see, such as NFS written from elsewhere), retention at least once a minute.
  std::shared_ptr<ChangeWatch> watch;
  std::optional<std::uint64_t> scanned_generation;
  // Binary span files (TRACING_FORMAT=binary) this store converts; with follow_running, also while their
  // program still writes them (agentlog serve's follower), else once it has stopped.
  bool follow_running = false;
  std::map<std::string, std::unique_ptr<agentlog::SpanFileConverter>> converters;
  // Binary span files found damaged, by path: left out (and counted) until they change, or each ingest would
  // read them through again (agentlog serve's follower ingests four times a second).
  struct Damaged {
    FileStamp stamp;
    std::string why;  // the converter's error and what to do
  };
  std::map<std::string, Damaged> damaged_binaries;
  std::unique_ptr<Words> words;  // full-text search's tokenizer, of db
  std::chrono::steady_clock::time_point scanned_at, retained_at;

  Impl(fs::path d, int retention)
      : dir(std::move(d)), db_path(dir / "index.sqlite"), retention_days(retention) {
    fs::create_directories(dir);
    watch = ChangeWatch::of(dir);
    open();
  }
  ~Impl() { close(); }

  void close() {
    words.reset();
    stmts.clear();
    function_ids.clear();
    readers.clear();
    if (db) sqlite3_close(db);
    db = nullptr;
  }

  // Opens the index; a corrupt one, or one of another layout, is removed and rebuilt (the span files are the
  // source of truth).
  // Busy is waited out: SQLite answers it at once, without its busy timeout, where waiting could deadlock
  // (stores of several threads or processes opening a new index together, one changing its journal mode
  // while another makes the tables).
  void open(bool journaled = true) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (bool rebuilt = false;;) {
      try {
        connect(journaled);
        return;
      } catch (const SqliteError& e) {
        close();
        if (e.code == SQLITE_BUSY && std::chrono::steady_clock::now() < give_up) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        // Not an index (corrupt, or not SQLite at all): removed and made again. Anything else (no space, no
        // permission, busy for long) is reported, and the file left alone: other processes may be using it.
        if (rebuilt || (e.code != SQLITE_CORRUPT && e.code != SQLITE_NOTADB)) throw;
        remove_index(db_path);
        rebuilt = true;
      }
    }
  }

  // The schema is checked and made in one write transaction: stores opening a new folder at once see either
  // no tables or all of them, with their layout number.
  void connect(bool journaled) {
    // NOMUTEX: a connection is used by one thread at a time (one store per thread), so SQLite need not take
    // its mutex in every call (a quarter of a get_trace_stats over 100,000 spans).
    if (int rc = sqlite3_open_v2(db_path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        rc != SQLITE_OK)
      throw SqliteError(rc, db_path.string() + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) +
                                " (check the folder's permissions and free space; the index may be removed: "
                                "it is rebuilt from the span files)");
    sqlite3_busy_timeout(db, 5000);
    exec(db, "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;");
    exec(db, journaled ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                       : "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;");
    // An index of this layout: nothing to make, and no write lock to wait for (a follower may hold it).
    // While another connection makes a new index, this read can be refused at once (not waited for): the
    // write transaction below waits for it.
    try {
      Stmt version(db, "PRAGMA user_version");
      if (version.step() && version.i64(0) == kLayout) {
        note_inode();
        return;
      }
    } catch (const SqliteError& e) {
      if (e.code != SQLITE_BUSY) throw;
    }
    exec(db, "BEGIN IMMEDIATE");
    bool replaced = false;
    try {
      std::int64_t layout = 0;
      std::vector<std::string> tables;  // virtual tables first: they drop their own shadow tables
      {
        Stmt version(db, "PRAGMA user_version");
        if (version.step()) layout = version.i64(0);
        Stmt list(db,
                  "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                  "ORDER BY sql NOT LIKE 'CREATE VIRTUAL%'");
        while (list.step()) tables.push_back(list.text(0));
      }
      // An index of another layout: made again from the span files.
      if (!tables.empty() && layout != kLayout) {
        for (const auto& t : tables) exec(db, ("DROP TABLE IF EXISTS \"" + t + "\"").c_str());
        replaced = true;
      }
      exec(db, kSchema);
      exec(db, kIndexes);
      exec(db, ("PRAGMA user_version=" + std::to_string(kLayout)).c_str());
      exec(db, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    if (replaced) sqlite3_exec(db, "VACUUM", nullptr, nullptr, nullptr);  // best effort: frees the old pages
    note_inode();
  }
  void note_inode() {
    struct stat st {};
    db_ino = ::stat(db_path.c_str(), &st) == 0 ? st.st_ino : 0;
  }

  static void remove_index(const fs::path& path) {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(path.string() + suffix, ec);
  }

  // A binary span file becomes the JSONL its program would have written: as it is written when this store
  // follows running programs, else once the program has stopped. `files` gets the JSONL files written.
  void convert_binaries(const std::vector<fs::path>& binaries, std::vector<fs::path>& files,
                        IngestReport& report, std::int64_t budget) {
    std::map<std::string, std::unique_ptr<agentlog::SpanFileConverter>> kept;
    for (const auto& bin : binaries) {
      auto& converter = converters[bin.string()];
      if (!converter) {  // (a file followed already was looked at when its converter was made)
        if (auto d = damaged_binaries.find(bin.string()); d != damaged_binaries.end()) {
          if (d->second.stamp == stamp_of(bin)) {
            leave_out(report, d->second.why);
            continue;
          }
          damaged_binaries.erase(d);  // changed since: read again
        }
        agentlog::SpanFileInfo info = agentlog::inspect_span_file(bin.string());
        if (!info.valid) {  // not a span file, or not one this agentlog reads: not ours to touch
          if (info.version) leave_out(report, agentlog::unreadable_version(bin.string(), info.version));
          continue;
        }
        if (info.running && !follow_running) {
          ++report.waiting_files;
          continue;
        }
        converter = std::make_unique<agentlog::SpanFileConverter>(bin.string());
      }
      agentlog::ConvertResult r =
          converter->step(static_cast<std::size_t>(std::max<std::int64_t>(budget, 0)));
      if (!r.ok && !fs::exists(bin)) continue;  // another store converted it meanwhile
      // A damaged file is kept for the user to look into, and the other files are queried without it: it
      // must not fail every query (nor a reindex, which would rebuild the index without it anyway).
      if (r.damaged) {
        std::string why = r.error +
                          "; the trace queries go on without it: move it out of traces/ to look into it, or "
                          "delete it if you do not need its spans";
        warn_once(why);
        leave_out(report, why);
        damaged_binaries[bin.string()] = {stamp_of(bin), std::move(why)};
        continue;
      }
      if (!r.ok)
        throw StoreError("traces.convert_failed", r.error +
                                                      " (the binary span file is kept; free space or fix the "
                                                      "permissions, then query again)");
      if (r.busy) {  // another store converts it
        ++report.waiting_files;
        continue;
      }
      if (r.more) report.complete = false;
      if (r.done) {
        ++report.converted_files;
      } else {
        ++report.waiting_files;
        kept[bin.string()] = std::move(converter);
      }
      if (std::find(files.begin(), files.end(), fs::path(r.jsonl)) == files.end() && fs::exists(r.jsonl))
        files.push_back(r.jsonl);
    }
    converters.swap(kept);  // forget the finished and the vanished
  }

  static void leave_out(IngestReport& report, const std::string& why) {
    if (!report.unreadable_files++) report.unreadable = why;
  }

  IngestReport ingest(std::int64_t budget = 0) {
    IngestReport report;
    const std::uint64_t generation =
        watch->generation();  // before the scan: a change during it is seen next time
    const auto now = std::chrono::steady_clock::now();
    const bool changed = generation != scanned_generation;
    if (!changed && now - scanned_at < std::chrono::seconds(1)) {
      report.files = static_cast<std::int64_t>(known_stamps.size());
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
    if (struct stat st{}; ::stat(db_path.c_str(), &st) != 0 || st.st_ino != db_ino) {
      close();
      open();
      known_stamps.clear();
    }
    if (retention_days > 0 && (changed || now - retained_at >= std::chrono::minutes(1))) {
      retained_at = now;
      report.removed_files = apply_retention();
    }
    std::vector<fs::path> files, binaries;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      if (it->path().extension() == ".jsonl") files.push_back(it->path());
      if (it->path().extension() == ".bin") binaries.push_back(it->path());
    }
    convert_binaries(binaries, files, report, budget);
    report.files = static_cast<std::int64_t>(files.size());
    // Nothing appended since this store's last ingest: no write transaction (queries from many threads
    // would otherwise queue on SQLite's write lock).
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> stamps;  // path -> (size, inode)
    for (const auto& f : files)
      if (struct stat st{}; ::stat(f.c_str(), &st) == 0)
        stamps[f.string()] = {static_cast<std::int64_t>(st.st_size), static_cast<std::int64_t>(st.st_ino)};
    if (stamps == known_stamps) return report;

    exec(db, "BEGIN IMMEDIATE");
    try {
      // Each file's id and indexed offset. A file that shrank or is another file now (a new inode) was
      // replaced or truncated, one that is gone was removed: forget the spans read from it.
      struct Indexed {
        std::int64_t id, offset, inode;
      };
      std::map<std::string, Indexed> indexed;
      {
        Stmt known(db, "SELECT path, id, offset, inode FROM files");
        while (known.step()) indexed[known.text(0)] = {known.i64(1), known.i64(2), known.i64(3)};
      }
      std::vector<FilePlan> plan;
      std::int64_t total_bytes = 0, indexed_bytes = 0;
      Stmt add_file(db, "INSERT INTO files(path, offset, inode) VALUES(?, 0, ?)");
      Stmt set_inode(db, "UPDATE files SET inode = ?2 WHERE id = ?1");
      for (const auto& [path, stamp] : stamps) {  // in path order
        const auto [size, inode] = stamp;
        FilePlan f{fs::relative(path, dir).string(), path};
        f.size = size;
        if (auto it = indexed.find(f.key); it != indexed.end()) {
          f.id = it->second.id;
          f.offset = it->second.offset;
          if (it->second.inode != inode) {
            if (it->second.inode != 0) f.offset = -1;  // replaced
            set_inode.bind(1, f.id).bind(2, inode).run();
          }
          indexed.erase(it);
        } else {
          add_file.bind(1, f.key).bind(2, inode).run();
          f.id = sqlite3_last_insert_rowid(db);
        }
        if (f.size < f.offset || f.offset < 0) {
          drop_source(f.id);
          f.offset = 0;
        }
        total_bytes += f.size;
        indexed_bytes += f.offset;
        if (f.size > f.offset) plan.push_back(std::move(f));
      }
      for (const auto& [path, file] : indexed) forget_file(file.id);  // not on disk any more
      // A bulk load (more new span lines than indexed ones, and much to read: the first ingest, a reindex, a
      // large run landing on a small index) builds the secondary indexes once at the end, sorted, instead of
      // updating them row by row. Not in budgeted ingests: their transactions stay short.
      const std::int64_t new_bytes = total_bytes - indexed_bytes;
      const bool bulk = budget == 0 && new_bytes > (8 << 20) && new_bytes > indexed_bytes;
      if (bulk) {  // the indexes of kIndexes (those with SQL; primary keys and UNIQUE have none)
        std::string drop;
        {
          Stmt names(db, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL");
          while (names.step()) drop += "DROP INDEX \"" + names.text(0) + "\";";
        }
        exec(db, drop.c_str());
      }
      Ingest inserts(db);
      // Files are read and parsed a chunk ahead on another thread while this one inserts.
      ChunkReader reader(plan, budget);
      auto next = std::async(std::launch::async, [&reader] { return reader.next(); });
      for (;;) {
        Chunk chunk = next.get();
        if (chunk.done) break;
        next = std::async(std::launch::async, [&reader] { return reader.next(); });
        add_chunk(chunk, plan[chunk.file].id, inserts);
        report.spans += static_cast<std::int64_t>(chunk.rows.size());
        report.corrupt_lines += chunk.corrupt;
      }
      report.complete = reader.complete();
      inserts.write_traces();
      if (bulk) exec(db, kIndexes);  // built once from the loaded rows
      exec(db, "COMMIT");
    } catch (...) {
      exec(db, "ROLLBACK");
      function_ids.clear();  // ids handed out in the rolled-back transaction
      throw;
    }
    if (report.complete) {
      known_stamps = std::move(stamps);
    } else {  // not all read: the next call scans again
      known_stamps.clear();
      scanned_generation.reset();
    }
    return report;
  }

  // The statements of an ingest, and what it learnt of each trace: summaries are written once at its end,
  // trace rows numbered here (tid) so that spans can name their trace before it is written.
  struct Ingest {
    Stmt set_offset, find_trace, insert_trace, update_trace, insert_text, function_id, insert_span,
        add_durations;
    struct Trace {
      std::int64_t tid = 0, docs = 0;
      bool stored = false;   // a row exists (from an earlier ingest)
      TraceSummary summary;  // of the spans this ingest read
    };
    std::unordered_map<std::string, Trace> traces;
    std::int64_t last_tid = 0;
    bool had_traces = true;  // false: no row to look for
    explicit Ingest(sqlite3* db)
        : set_offset(db, "UPDATE files SET offset = ?2, corrupt = corrupt + ?3 WHERE id = ?1"),
          find_trace(db, "SELECT tid, docs FROM traces WHERE trace_id = ?"),
          insert_trace(
              db,
              "INSERT INTO traces(tid, trace_id, root_function, start_ns, end_ns, duration_ns, span_count, "
              "error, docs) VALUES(?1, ?2, ?3, ?4, ?5, ?5 - ?4, ?6, ?7, ?8)"),
          update_trace(
              db,
              "UPDATE traces SET root_function = coalesce(?3, root_function), start_ns = min(start_ns, ?4), "
              "end_ns = max(end_ns, ?5), duration_ns = max(end_ns, ?5) - min(start_ns, ?4), "
              "span_count = span_count + ?6, error = max(error, ?7), docs = ?8 WHERE tid = ?1"),
          insert_text(db, "INSERT INTO trace_text(rowid, text) VALUES(?, ?)"),
          function_id(db,
                      "INSERT INTO functions(file, function) VALUES(?, ?) ON CONFLICT(file, function) DO "
                      "UPDATE SET file = excluded.file RETURNING id"),
          insert_span(db,
                      "INSERT INTO spans(tid, fn, start_ns, duration_ns, error, src, pos, len) "
                      "VALUES(?,?,?,?,?,?,?,?)"),
          add_durations(db, "INSERT INTO durations(fn, src, first, data) VALUES(?, ?, ?, ?)") {
      Stmt last(db,
                "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'traces'), 0), "
                "EXISTS (SELECT 1 FROM traces)");
      last.step();
      last_tid = last.i64(0);
      had_traces = last.i64(1) != 0;
    }

    // The trace's entry, its row found or its tid given.
    Trace& trace(const std::string& id) {
      auto [it, fresh] = traces.try_emplace(id);
      Trace& t = it->second;
      if (!fresh) return t;
      if (had_traces) {
        find_trace.bind_view(1, id);
        if (find_trace.step()) {
          t.tid = find_trace.i64(0);
          t.docs = find_trace.i64(1);
          t.stored = true;
        }
        find_trace.reset();
      }
      if (!t.stored) t.tid = ++last_tid;
      return t;
    }

    void write_traces() {
      for (const auto& [id, t] : traces) {
        const TraceSummary& sum = t.summary;
        Stmt& st = t.stored ? update_trace : insert_trace;
        st.bind(1, t.tid).bind_view(2, id);
        sum.root ? st.bind_view(3, *sum.root) : st.bind_null(3);
        st.bind(4, sum.start_ns)
            .bind(5, sum.end_ns)
            .bind(6, sum.count)
            .bind(7, std::int64_t(sum.error))
            .bind(8, t.docs)
            .run();
      }
    }
  };

  void add_chunk(const Chunk& c, std::int64_t src, Ingest& in) {
    std::vector<std::int64_t> tids(c.traces.size()), docs(c.traces.size()), fns(c.functions.size());
    for (std::size_t i = 0; i < c.traces.size(); ++i) {
      Ingest::Trace& t = in.trace(c.traces[i].id);
      t.summary.add(c.traces[i].summary);
      tids[i] = t.tid;
      docs[i] = ++t.docs;
    }
    for (std::size_t i = 0; i < c.functions.size(); ++i) {
      auto [it, fresh] = function_ids.try_emplace(c.functions[i], 0);
      if (fresh) {
        const std::string& key = c.functions[i];
        const std::size_t nul = key.find('\0');
        Stmt& fn = in.function_id;
        fn.bind_view(1, std::string_view(key).substr(0, nul))
            .bind_view(2, std::string_view(key).substr(nul + 1));
        fn.step();
        it->second = fn.i64(0);
        fn.reset();
      }
      fns[i] = it->second;
    }
    std::vector<std::vector<std::int64_t>> durations(c.functions.size());  // each function's, as one row
    for (const Chunk::Row& r : c.rows) {
      in.insert_span.bind(1, tids[r.trace])
          .bind(2, fns[r.function])
          .bind(3, r.start_ns)
          .bind(4, r.duration_ns)
          .bind(5, std::int64_t(r.error))
          .bind(6, src)
          .bind(7, r.pos)
          .bind(8, r.len)
          .run();
      durations[r.function].push_back(r.duration_ns * 2 + r.error);
      durations[r.function].push_back(tids[r.trace]);
    }
    const std::int64_t first = c.rows.empty() ? c.end_offset : c.rows.front().pos;
    for (std::size_t i = 0; i < durations.size(); ++i)
      in.add_durations.bind(1, fns[i]).bind(2, src).bind(3, first).bind_blob(4, durations[i]).run();
    in.set_offset.bind(1, src).bind(2, c.end_offset).bind(3, c.corrupt).run();
    // The full text last: FTS5 writes out the terms it holds in memory whenever another statement of the
    // transaction starts (a savepoint), so its inserts go together, once per chunk.
    for (std::size_t i = 0; i < c.traces.size(); ++i)
      if (!c.traces[i].text.empty() && docs[i] < (std::int64_t(1) << kDocBits))
        in.insert_text.bind(1, tids[i] << kDocBits | docs[i]).bind_view(2, c.traces[i].text).run();
  }

  // Removes the spans read from one span file; the summaries of their traces are computed again from the
  // spans left (a trace with none left is removed).
  void drop_source(std::int64_t src) {
    readers.erase(src);
    exec(db, ("CREATE TEMP TABLE IF NOT EXISTS dropped(tid INTEGER PRIMARY KEY); DELETE FROM temp.dropped;"
              "INSERT OR IGNORE INTO temp.dropped SELECT tid FROM spans WHERE src = " +
              std::to_string(src) + "; DELETE FROM spans WHERE src = " + std::to_string(src) +
              "; DELETE FROM durations WHERE src = " + std::to_string(src) + ";")
                 .c_str());
    exec(db,
         "DELETE FROM traces WHERE tid IN temp.dropped AND NOT EXISTS (SELECT 1 FROM spans s WHERE s.tid = "
         "traces.tid);"
         "UPDATE traces SET (start_ns, end_ns, span_count, error) = (SELECT min(start_ns), "
         "max(start_ns + duration_ns), count(*), max(error) FROM spans s WHERE s.tid = traces.tid) "
         "WHERE tid IN temp.dropped;"
         "UPDATE traces SET duration_ns = end_ns - start_ns WHERE tid IN temp.dropped;"
         "DELETE FROM temp.dropped;");
  }

  // A span file gone (removed by hand or by retention): its spans, then the file itself.
  void forget_file(std::int64_t src) {
    drop_source(src);
    Stmt(db, "DELETE FROM files WHERE id = ?").bind(1, src).run();
  }

  // Removes span files (and their rows) in day folders older than the retention.
  std::int64_t apply_retention() {
    std::int64_t cutoff = now_ns() - static_cast<std::int64_t>(retention_days) * 86400LL * 1000000000LL;
    std::int64_t removed = 0;
    std::error_code ec;
    for (const auto& day : fs::directory_iterator(dir, ec)) {
      if (!day.is_directory()) continue;
      auto start = parse_iso_ns(day.path().filename().string());
      if (!start || *start + 86400LL * 1000000000LL > cutoff) continue;
      const std::string prefix = day.path().filename().string() + "/";
      exec(db, "BEGIN IMMEDIATE");
      try {
        std::vector<std::int64_t> ids;
        {
          Stmt in_day(db, "SELECT id FROM files WHERE path >= ?1 AND path < ?2");
          in_day.bind(1, prefix).bind(2, prefix.substr(0, prefix.size() - 1) + "0");
          while (in_day.step()) ids.push_back(in_day.i64(0));
        }
        for (std::int64_t id : ids) forget_file(id);
        exec(db, "COMMIT");
      } catch (...) {
        exec(db, "ROLLBACK");
        throw;
      }
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
    known_stamps.clear();
    scanned_generation.reset();
    close();
    const fs::path live = db_path;
    db_path = dir / "index.sqlite.building";
    remove_index(db_path);
    IngestReport report;
    try {
      open(false);
      report = ingest();
      exec(db, "PRAGMA journal_mode=WAL");
      close();
      std::error_code ec;
      for (const char* suffix : {"-wal", "-shm"}) fs::remove(live.string() + suffix, ec);
      fs::rename(db_path, live);
    } catch (...) {
      close();
      remove_index(db_path);
      db_path = live;
      open();
      throw;
    }
    db_path = live;
    open();
    return report;
  }

  // Where span lines are: read back from the span files, in the order asked ("" for a line that is gone).
  struct Loc {
    std::int64_t src, pos, len;
  };
  std::vector<std::string> read_lines(const std::vector<Loc>& locs) {
    std::vector<std::string> out(locs.size());
    // Lines close to each other in one file are read together (a trace's spans are usually near each other).
    std::vector<std::size_t> order(locs.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return std::tie(locs[a].src, locs[a].pos) < std::tie(locs[b].src, locs[b].pos);
    });
    constexpr std::int64_t kGap = 16 << 10, kMaxRead = 4 << 20;
    std::string block;
    for (std::size_t first = 0; first < order.size();) {
      const Loc& head = locs[order[first]];
      std::size_t last = first;
      std::int64_t end = head.pos + head.len;
      while (last + 1 < order.size()) {
        const Loc& next = locs[order[last + 1]];
        if (next.src != head.src || next.pos > end + kGap || next.pos + next.len - head.pos > kMaxRead) break;
        end = std::max(end, next.pos + next.len);
        ++last;
      }
      std::ifstream* in = reader(head.src);
      block.resize(static_cast<std::size_t>(end - head.pos));
      if (in) {
        in->clear();
        in->seekg(head.pos);
        in->read(block.data(), static_cast<std::streamsize>(block.size()));
      }
      const std::int64_t got = in ? static_cast<std::int64_t>(in->gcount()) : 0;
      for (std::size_t k = first; k <= last; ++k) {
        const Loc& l = locs[order[k]];
        if (l.pos + l.len - head.pos > got) continue;  // gone ("")
        std::string& line = out[order[k]];
        line.reserve(static_cast<std::size_t>(l.len) + kPadding);  // simdjson reads past the end
        line.assign(block, static_cast<std::size_t>(l.pos - head.pos), static_cast<std::size_t>(l.len));
      }
      first = last + 1;
    }
    return out;
  }
  std::ifstream* reader(std::int64_t src) {
    if (auto it = readers.find(src); it != readers.end()) return it->second.get();
    Stmt path(db, "SELECT path FROM files WHERE id = ?", &stmts);
    path.bind(1, src);
    if (!path.step()) return nullptr;
    if (readers.size() >= 64) readers.clear();  // a bound on open files
    auto in = std::make_unique<std::ifstream>(dir / path.text(0), std::ios::binary);
    if (!*in) return nullptr;
    return (readers[src] = std::move(in)).get();
  }

  // The function ids recorded for a file given exactly or as a path suffix ("users.cpp" -> "src/users.cpp"),
  // and a function given exactly or unqualified ("query" -> "Db::query"), with their names.
  struct Function {
    std::int64_t id;
    std::string file, function;
  };
  std::vector<Function> resolve(const std::string& file, const std::string& function) {
    std::vector<Function> out;
    Stmt s(db,
           "SELECT id, file, function FROM functions "
           "WHERE (?1 = '' OR file = ?1 OR substr(file, -length(?1) - 1) = '/' || ?1) "
           "AND (?2 = '' OR function = ?2 OR substr(function, -length(?2) - 2) = '::' || ?2) "
           "ORDER BY file, function",
           &stmts);
    s.bind(1, file).bind(2, function);
    while (s.step()) out.push_back({s.i64(0), s.text(1), s.text(2)});
    return out;
  }
  static std::string id_list(const std::vector<Function>& fns) {
    std::string out;
    for (const auto& f : fns) {
      if (!out.empty()) out += ',';
      out += std::to_string(f.id);
    }
    return out.empty() ? "NULL" : out;
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
  } catch (const SqliteError& e) {
    if (e.code != SQLITE_CORRUPT && e.code != SQLITE_NOTADB) throw;
    impl.reindex();
    return fn();
  }
}

const char* const kIndexBusy =
    "the trace index was busy with a long indexing batch, in the background or in another agentlog process, "
    "so spans from the last seconds may be missing: ask again in a few seconds";

// A query indexes what was written since the last one first. When another connection holds the index's
// write lock past the busy timeout (a server's background indexing on a loaded machine, another process),
// the query answers from the index as it is, and the answer says the newest spans may be missing.
bool ingest_for_query(TraceStore::Impl& impl, IngestReport* report = nullptr) {
  try {
    IngestReport r = recovering(impl, [&] { return impl.ingest(); });
    if (report) *report = r;
    return true;
  } catch (const SqliteError& e) {
    if (e.code != SQLITE_BUSY) throw;
    // Busy while opening an index another process put in place: there is no index to answer from.
    if (!impl.db) throw StoreError("traces.index_busy", std::string("No trace index to read: ") + kIndexBusy);
    return false;
  }
}
json flag_busy(json out, bool fresh) {
  if (!fresh) {
    out["indexBusy"] = true;
    out["note"] = kIndexBusy;
  }
  return out;
}
std::string busy_hint(bool fresh) { return fresh ? "" : std::string(" (") + kIndexBusy + ")"; }
}  // namespace

TraceStore::TraceStore(fs::path traces_dir, int retention_days)
    : impl_(std::make_unique<Impl>(std::move(traces_dir), retention_days)) {}
TraceStore::~TraceStore() = default;

IngestReport TraceStore::ingest(std::int64_t budget_bytes) {
  return recovering(*impl_, [&] { return impl_->ingest(budget_bytes); });
}
IngestReport TraceStore::reindex() { return impl_->reindex(); }
void TraceStore::follow_running_binaries(bool on) { impl_->follow_running = on; }

json TraceStore::search(const SearchQuery& q) {
  const bool fresh = ingest_for_query(*impl_);
  Impl& impl = *impl_;
  std::int64_t offset = 0;
  if (!q.cursor.empty()) {
    if (q.cursor.rfind("o:", 0) != 0 || q.cursor.find_first_not_of("0123456789", 2) != std::string::npos ||
        q.cursor.size() == 2)
      throw StoreError(
          "traces.bad_cursor",
          "The cursor \"" + q.cursor + "\" was not returned by search_traces; omit it to start over");
    offset = std::stoll(q.cursor.substr(2));
  }
  // Span conditions over the alias `s` (numbers and function ids only: written into the SQL).
  std::string cond;
  auto add = [&](const std::string& c) { cond += (cond.empty() ? "" : " AND ") + c; };
  if (q.min_ms) add("s.duration_ns >= " + std::to_string(duration_ns_of(*q.min_ms)));
  if (q.max_ms) add("s.duration_ns <= " + std::to_string(duration_ns_of(*q.max_ms)));
  // `+s.fn`: not by the function index (a trace's spans are found by spans_trace, then tested).
  if (!q.file.empty()) add("+s.fn IN (" + Impl::id_list(impl.resolve(q.file, "")) + ")");
  if (!q.function.empty()) add("+s.fn IN (" + Impl::id_list(impl.resolve("", q.function)) + ")");
  if (q.errors_only) add("s.error = 1");
  // Trace conditions over `t`: the time range and "errors only" hold for the trace as a whole
  // (index-friendly). Every word of the text must appear in one span: the trace's full text finds the traces
  // that have every word somewhere, then their spans are read to find one that has them all.
  std::string trace_cond = "1";
  if (q.since_ns) trace_cond += " AND t.start_ns >= " + std::to_string(*q.since_ns);
  if (q.until_ns) trace_cond += " AND t.start_ns <= " + std::to_string(*q.until_ns);
  if (q.errors_only) trace_cond += " AND t.error = 1";
  if (!impl.words) impl.words = std::make_unique<Words>(impl.db);
  const Words& words = *impl.words;
  const Phrases phrases = phrases_of(q.query, words);
  for (std::size_t i = 0; i < phrases.size(); ++i)
    trace_cond += " AND t.tid IN (SELECT rowid >> " + std::to_string(kDocBits) +
                  " FROM trace_text WHERE trace_text MATCH ?" + std::to_string(i + 1) + ")";
  // A failed trace's matching spans are its failed spans: with errorsOnly alone, t.error says it all.
  const std::string span_cond = cond == "s.error = 1" ? "" : cond;
  const bool verify = !phrases.empty();
  const int limit = std::clamp(q.limit, 1, 1000);
  std::string sql = "SELECT " + kSummary + " FROM traces t WHERE " + trace_cond;
  if (!span_cond.empty())
    sql += " AND EXISTS (SELECT 1 FROM spans s WHERE s.tid = t.tid AND " + span_cond + ")";
  sql += " ORDER BY start_ns DESC, tid DESC LIMIT " + std::to_string(verify ? -1 : limit + 1) + " OFFSET ?" +
         std::to_string(phrases.size() + 1);
  Stmt traces(impl.db, sql, &impl.stmts);
  for (std::size_t i = 0; i < phrases.size(); ++i)
    traces.bind(static_cast<int>(i) + 1, fts_phrase(phrases[i]));
  traces.bind(static_cast<int>(phrases.size()) + 1, offset);

  // Up to 5 spans of a trace, in start order, that meet the span conditions and have every word.
  const std::string spans_sql = "SELECT src, pos, len FROM spans s WHERE s.tid = ?1" +
                                (cond.empty() ? "" : " AND " + cond) + " ORDER BY s.start_ns, s.id";
  od::parser parser;
  SpanFields fields;
  auto matches_of = [&](std::int64_t tid) {
    constexpr std::size_t kBlock = 64, kMaxScanned = 20000;  // lines read at a time; at most, per trace
    Stmt spans(impl.db, spans_sql, &impl.stmts);
    spans.bind(1, tid);
    std::vector<Impl::Loc> locs;
    while (locs.size() < kMaxScanned && spans.step())
      locs.push_back({spans.i64(0), spans.i64(1), spans.i64(2)});
    json found = json::array();
    for (std::size_t from = 0; from < locs.size() && found.size() < 5; from += kBlock) {
      const std::size_t to = std::min(locs.size(), from + (verify ? kBlock : 5 - found.size()));
      for (const std::string& line : impl.read_lines({locs.begin() + static_cast<std::ptrdiff_t>(from),
                                                      locs.begin() + static_cast<std::ptrdiff_t>(to)})) {
        if (found.size() == 5) break;
        if (verify &&
            !(read_span(parser, line, line.capacity(), fields) && has_every_phrase(fields, phrases, words)))
          continue;
        if (json span = span_view(line); span.is_object()) found.push_back(std::move(span));
      }
    }
    return found;
  };

  // With words, a trace the full text found but no span of which has every word is passed over; the cursor
  // counts the traces passed. A page examines at most kMaxCandidates traces (the cursor goes on from there).
  constexpr int kMaxCandidates = 5000;
  json out = json::array();
  std::int64_t next_offset = offset;
  bool more = false;
  for (int examined = 0; traces.step();) {
    if (verify && ++examined > kMaxCandidates) {
      more = true;
      break;
    }
    json matches = cond.empty() && !verify ? json::array() : matches_of(traces.i64(6));
    if (verify && matches.empty()) {
      ++next_offset;
      continue;
    }
    if (static_cast<int>(out.size()) == limit) {
      more = true;
      break;
    }
    json t = summary_of(traces);
    t["matches"] = std::move(matches);
    out.push_back(std::move(t));
    ++next_offset;
  }
  return flag_busy(
      {{"traces", out}, {"nextCursor", more ? json("o:" + std::to_string(next_offset)) : json(nullptr)}},
      fresh);
}

json TraceStore::get_trace(const std::string& trace_id) {
  const bool fresh = ingest_for_query(*impl_);
  Impl& impl = *impl_;
  Stmt head(impl.db, "SELECT " + kSummary + " FROM traces WHERE trace_id = ?", &impl.stmts);
  head.bind(1, trace_id);
  if (!head.step())
    throw StoreError(
        "traces.not_found",
        "No trace " + trace_id + "; find ids with search_traces or find_slow_traces" + busy_hint(fresh));
  json summary = summary_of(head);
  Stmt s(impl.db, "SELECT src, pos, len FROM spans WHERE tid = ? ORDER BY start_ns, id", &impl.stmts);
  s.bind(1, head.i64(6));
  std::vector<Impl::Loc> locs;
  while (s.step()) locs.push_back({s.i64(0), s.i64(1), s.i64(2)});
  std::vector<json> spans;
  for (const std::string& line : impl.read_lines(locs)) {
    if (json span = span_view(line); span.is_object()) spans.push_back(std::move(span));
  }
  // Tree order (depth first, children by start time), iteratively: 50 deep and 100k wide both work.
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < spans.size(); ++i) index[spans[i]["spanId"].get<std::string>()] = i;
  std::vector<std::vector<std::size_t>> children(spans.size());
  std::vector<std::size_t> parent(spans.size(), spans.size()), roots;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const json& p = spans[i]["parentSpanId"];
    auto it = p.is_string() ? index.find(p.get<std::string>()) : index.end();
    if (it == index.end()) {
      roots.push_back(i);  // a root, or a child whose parent is in another process/file not seen
    } else {
      children[it->second].push_back(i);
      parent[i] = it->second;
    }
  }
  json ordered = json::array();
  std::vector<bool> listed(spans.size());
  auto list_tree = [&](std::size_t root) {
    std::vector<std::size_t> stack{root};
    while (!stack.empty()) {
      std::size_t i = stack.back();
      stack.pop_back();
      listed[i] = true;
      json ids = json::array();
      for (std::size_t c : children[i]) ids.push_back(spans[c]["spanId"]);
      spans[i]["children"] = std::move(ids);
      ordered.push_back(std::move(spans[i]));
      for (auto c = children[i].rbegin(); c != children[i].rend(); ++c) stack.push_back(*c);
    }
  };
  for (std::size_t r : roots) list_tree(r);
  // Spans no root leads to: up their parents is a cycle (a span its own parent, two each other's), which
  // only a damaged or foreign file holds. The cycle is cut above the span where the walk up meets it again,
  // and that span shown as a root with all below it, as a span whose parent is missing is: search counted
  // these spans, and show listed none of them.
  std::vector<std::size_t> walked_from(spans.size(), spans.size());
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (listed[i]) continue;
    std::size_t x = i;
    for (; walked_from[x] != i; x = parent[x]) walked_from[x] = i;
    auto& siblings = children[parent[x]];
    siblings.erase(std::find(siblings.begin(), siblings.end(), x));
    list_tree(x);
  }
  return flag_busy({{"traceId", trace_id},
                    {"rootFunction", summary["rootFunction"]},
                    {"startTime", summary["startTime"]},
                    {"duration", summary["duration"]},
                    {"spanCount", ordered.size()},
                    {"error", summary["error"]},
                    {"spans", std::move(ordered)}},
                   fresh);
}

json TraceStore::find_slow(double threshold_ms, int limit) {
  const bool fresh = ingest_for_query(*impl_);
  Stmt s(impl_->db,
         "SELECT " + kSummary + " FROM traces WHERE duration_ns >= ? ORDER BY duration_ns DESC LIMIT ?",
         &impl_->stmts);
  s.bind(1, duration_ns_of(threshold_ms)).bind(2, std::int64_t(std::clamp(limit, 1, 1000)));
  json out = json::array();
  while (s.step()) out.push_back(summary_of(s));
  return flag_busy({{"threshold", threshold_ms}, {"traces", out}}, fresh);
}

json TraceStore::stats(const std::string& file, const std::string& function) {
  const bool fresh = ingest_for_query(*impl_);
  Impl& impl = *impl_;
  if (file.empty() && function.empty())
    throw StoreError("traces.bad_argument", "Name a file (and optionally a function) for get_trace_stats");
  // Resolve the names as recorded (exact, or a path suffix / an unqualified function name).
  const std::vector<Impl::Function> fns = impl.resolve(file, function);
  if (fns.empty() && function.empty())
    throw StoreError("traces.unknown_file", "No spans recorded for file " + file + "; files with spans: " +
                                                impl.known_files() + busy_hint(fresh));
  if (fns.empty())
    throw StoreError("traces.unknown_function", "No spans recorded for function " + function +
                                                    (file.empty() ? "" : " in " + file) +
                                                    "; check the name with search_traces" + busy_hint(fresh));
  // Every duration of the functions (for exact percentiles), the sum, the max, the errors.
  Stmt all(impl.db, "SELECT data FROM durations WHERE fn IN (" + Impl::id_list(fns) + ")", &impl.stmts);
  std::vector<std::int64_t> durations;
  std::vector<std::pair<std::int64_t, std::int64_t>> slow;  // (duration, tid), the slowest 5 traces' spans
  double sum = 0;
  std::int64_t max = 0, errors = 0;
  while (all.step()) {
    std::vector<std::int64_t> data = all.int64s(0);
    for (std::size_t i = 0; i + 1 < data.size(); i += 2) {
      const std::int64_t d = data[i] >> 1;
      durations.push_back(d);
      sum += static_cast<double>(d);
      max = std::max(max, d);
      errors += data[i] & 1;
      slow.emplace_back(d, data[i + 1]);
    }
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
  // The traces of the slowest spans, slowest first, each once.
  // Sorted as far as needed: the slowest 64 spans usually name 5 traces; else all of them.
  const auto slower = [](const auto& a, const auto& b) { return a.first > b.first; };
  std::vector<std::int64_t> slow_tids;
  for (std::size_t n = std::min<std::size_t>(64, slow.size());; n = slow.size()) {
    std::partial_sort(slow.begin(), slow.begin() + static_cast<std::ptrdiff_t>(n), slow.end(), slower);
    slow_tids.clear();
    for (std::size_t i = 0; i < n && slow_tids.size() < 5; ++i)
      if (std::find(slow_tids.begin(), slow_tids.end(), slow[i].second) == slow_tids.end())
        slow_tids.push_back(slow[i].second);
    if (slow_tids.size() == 5 || n == slow.size()) break;
  }
  json slowest = json::array();
  Stmt trace_id(impl.db, "SELECT trace_id FROM traces WHERE tid = ?", &impl.stmts);
  for (std::int64_t tid : slow_tids) {
    trace_id.bind(1, tid);
    if (trace_id.step()) slowest.push_back(trace_id.text(0));
    trace_id.reset();
  }
  json functions = json::array();  // "file::function", or the files alone
  std::set<std::string> listed;
  for (const auto& f : fns)
    if (std::string name = function.empty() ? f.file : f.file + "::" + f.function; listed.insert(name).second)
      functions.push_back(name);
  return flag_busy({{"file", file},
                    {"function", function.empty() ? json(nullptr) : json(function)},
                    {"matched", functions},
                    {"count", count},
                    {"mean", mean / 1e6},
                    {"p50", percentile(0.50)},
                    {"p95", percentile(0.95)},
                    {"p99", percentile(0.99)},
                    {"max", static_cast<double>(max) / 1e6},
                    {"errorRate", count ? static_cast<double>(errors) / static_cast<double>(count) : 0.0},
                    {"slowestTraceIds", slowest}},
                   fresh);
}

json TraceStore::summary() {
  IngestReport r;
  const bool fresh = ingest_for_query(*impl_, &r);
  Stmt s(impl_->db,
         "SELECT (SELECT COUNT(*) FROM spans), (SELECT COUNT(*) FROM traces), (SELECT COUNT(*) FROM files), "
         "(SELECT COALESCE(SUM(corrupt), 0) FROM files)",
         &impl_->stmts);
  s.step();
  return flag_busy({{"spans", s.i64(0)},
                    {"traces", s.i64(1)},
                    {"files", s.i64(2)},
                    {"corruptLines", s.i64(3)},
                    {"ingested", r.to_json()}},
                   fresh);
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
