#include "logger/log_search.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <re2/re2.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>

#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "logger/log_record.hpp"
#include "logger/log_writer.hpp"
#include "logger/text_scan.hpp"

namespace agentlog {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Reads a plain or gzip file in large blocks of whole lines (zlib reads plain files transparently, but a
// plain file is read directly: no copy through zlib).
class BlockReader {
 public:
  explicit BlockReader(const fs::path& path) {
    const std::string name = path.filename().string();
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) {
      gz_ = gzopen(path.c_str(), "rb");
      if (gz_) gzbuffer(gz_, 1 << 18);
      ok_ = gz_ != nullptr;
    } else {
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      ok_ = fd_ >= 0;
      if (ok_) ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    buf_.resize(kBlock + kMaxCarry);
  }
  ~BlockReader() {
    if (gz_) gzclose(gz_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }

  // The next block of whole lines (each ending in '\n'); false at the end. `torn` is the last line of the
  // file when it has no newline (returned alone, after every block).
  bool next(std::string_view& block, std::string_view& torn) {
    torn = {};
    if (done_) return false;
    // Move the carried partial line to the front.
    std::memmove(buf_.data(), buf_.data() + carry_start_, carry_);
    std::size_t have = carry_;
    while (true) {
      if (buf_.size() - have < kBlock) buf_.resize(have + kBlock);  // a very long line
      long n = read_some(buf_.data() + have, kBlock);
      if (n <= 0) {
        done_ = true;
        if (have == 0) return false;
        block = {};
        torn = std::string_view(buf_.data(), have);
        return true;
      }
      have += static_cast<std::size_t>(n);
      const char* last = static_cast<const char*>(::memrchr(buf_.data(), '\n', have));
      if (!last) continue;
      const std::size_t end = static_cast<std::size_t>(last - buf_.data()) + 1;
      block = std::string_view(buf_.data(), end);
      carry_start_ = end;
      carry_ = have - end;
      return true;
    }
  }

 private:
  static constexpr std::size_t kBlock = 1 << 20, kMaxCarry = 1 << 16;
  long read_some(char* into, std::size_t n) {
    if (gz_) return gzread(gz_, into, static_cast<unsigned>(n));
    while (true) {
      ssize_t r = ::read(fd_, into, n);
      if (r < 0 && errno == EINTR) continue;
      return static_cast<long>(r);
    }
  }
  gzFile gz_ = nullptr;
  int fd_ = -1;
  bool ok_ = false, done_ = false;
  std::vector<char> buf_;
  std::size_t carry_ = 0, carry_start_ = 0;
};

// The raw string value of "key":"..." in a line written by agentlog (no escapes in it), else nullopt: a
// cheap look before parsing.
std::optional<std::string_view> quick_string(std::string_view line, std::string_view key_pattern) {
  std::size_t k = line.find(key_pattern);
  if (k == std::string_view::npos) return std::nullopt;
  std::size_t start = k + key_pattern.size();
  std::size_t end = line.find('"', start);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view v = line.substr(start, end - start);
  if (v.find('\\') != std::string_view::npos) return std::nullopt;
  return v;
}

// "[14:30:25.100] INFO [api] GET /x - 200 OK (61ms)\t{"source":...,"fields":{...}}" -> a record. The text
// form has no date: it is the date of `end_ms` (when the file was rotated, or now), the day before when the
// time of day is later than end_ms's.
std::optional<json> parse_text_line(std::string_view line, std::int64_t end_ms) {
  if (line.size() < 16 || line[0] != '[') return std::nullopt;
  auto close = line.find(']');
  if (close == std::string_view::npos || close < 9) return std::nullopt;
  std::string time(line.substr(1, close - 1));
  std::string end_iso = iso8601_ms(end_ms);
  std::string date = end_iso.substr(0, 10);
  if (time > end_iso.substr(11, 12)) date = iso8601_ms(end_ms - 86'400'000).substr(0, 10);
  std::size_t p = close + 2;
  auto space = line.find(' ', p);
  if (space == std::string_view::npos) return std::nullopt;
  std::string level(line.substr(p, space - p));
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  json r = {{"ts", date + "T" + time + "Z"},
            {"level", level},
            {"category", ""},
            {"source", ""},
            {"fields", json::object()}};
  std::size_t m = space + 1;
  if (m < line.size() && line[m] == '[') {
    auto cat_end = line.find(']', m);
    if (cat_end != std::string_view::npos) {
      r["category"] = std::string(line.substr(m + 1, cat_end - m - 1));
      m = cat_end + 2;
    }
  }
  std::string_view msg = m < line.size() ? line.substr(m) : std::string_view();
  if (auto tab = msg.rfind('\t'); tab != std::string_view::npos) {  // the rest as JSON
    json extra = json::parse(msg.substr(tab + 1), nullptr, false);
    if (extra.is_object()) {
      for (const char* k : {"source", "fields", "traceId", "spanId"})
        if (extra.contains(k)) r[k] = extra[k];
      msg = msg.substr(0, tab);
    }
  }
  // The message was escaped to stay on one line.
  json unescaped = json::parse("\"" + std::string(msg) + "\"", nullptr, false);
  r["msg"] = unescaped.is_string() ? unescaped : json(std::string(msg));
  return r;
}

// A cheap look that rules out most lines that are not log lines: a JSON line must end in '}' (one cut short
// by a killed writer almost never does), a text line starts with '[' (see parse_text_line). The lines that
// pass are parsed before they are returned, and a match that does not parse is skipped then.
bool looks_whole(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return false;
  if (line.front() == '{') return line.back() == '}';
  return line.front() == '[';
}

// The level of an agentlog line from the word at its fixed place (`p` points after "level":"), or -1.
int own_level(const char* p, std::size_t n) {
  static const char* words[] = {"trace\"", "debug\"", "info\"", "warn\"", "error\"", "fatal\""};
  for (int l = 0; l < 6; ++l) {
    const std::size_t len = std::strlen(words[l]);
    if (n >= len && std::memcmp(p, words[l], len) == 0) return l;
  }
  return -1;
}

// The fields of a line read leniently: lines of other programs (pino, bunyan, a hand edit) may hold a
// number, null or an object where agentlog writes a string. Such a line is searched and returned with its
// values as text; one line must never make every search fail.
std::string text_field(const json& r, const char* key) {
  auto it = r.find(key);
  if (it == r.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

// A numeric level is pino's and bunyan's (10 trace .. 60 fatal).
std::string level_field(const json& r) {
  auto it = r.find("level");
  if (it != r.end() && it->is_number()) {
    const double v = it->get<double>();
    const int index = v >= 60 ? 5 : v >= 50 ? 4 : v >= 40 ? 3 : v >= 30 ? 2 : v >= 20 ? 1 : 0;
    return log_level_names()[static_cast<std::size_t>(index)];
  }
  return text_field(r, "level");
}

// A numeric time is epoch milliseconds (pino writes it as "time").
std::string ts_field(const json& r) {
  for (const char* key : {"ts", "time"}) {
    auto it = r.find(key);
    if (it == r.end()) continue;
    if (it->is_number()) {
      const double ms = it->get<double>();
      if (ms >= 0 && ms < 1e14) return iso8601_ms(static_cast<std::int64_t>(ms));  // (up to year 5138)
      return it->dump();
    }
    if (it->is_string()) return it->get<std::string>();
  }
  return "";
}

// Bounds of one page of results: an agent's context and an MCP client's message limit, not the log, decide
// what fits. A longer message or string field is cut (the match says so, and file:line has it whole); a page
// stops early at the byte budget, with nextCursor at the first match left out.
constexpr std::size_t kMaxMsgBytes = 8 << 10, kMaxFieldStringBytes = 2 << 10, kMaxFieldsBytes = 16 << 10;
constexpr std::size_t kPageBytes = 512 << 10;

// `s` cut to at most `max` bytes at a UTF-8 character boundary, with how much was left out.
bool cut_text(std::string& s, std::size_t max) {
  if (s.size() <= max) return false;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  const std::size_t left = s.size() - end;
  s.resize(end);
  s += "... [" + std::to_string(left) + " bytes cut: the whole line is at file:line]";
  return true;
}

bool cut_strings(json& v) {
  bool cut = false;
  if (v.is_string()) return cut_text(v.get_ref<std::string&>(), kMaxFieldStringBytes);
  if (v.is_structured())
    for (auto& item : v) cut = cut_strings(item) || cut;
  return cut;
}

// Cuts an oversized message or fields of a match; whether anything was cut.
bool cut_match(json& m) {
  bool cut = cut_text(m["msg"].get_ref<std::string&>(), kMaxMsgBytes);
  json& fields = m["fields"];
  if (fields.dump().size() > kMaxFieldsBytes) {
    cut = cut_strings(fields) || cut;
    if (std::string text = fields.dump(-1, ' ', false, json::error_handler_t::replace);
        text.size() > kMaxFieldsBytes) {
      cut_text(text, kMaxFieldsBytes);
      fields = json{{"truncatedFields", text}};  // too many to keep as they are: their JSON text, cut
      cut = true;
    }
  }
  if (cut) m["truncated"] = true;
  return cut;
}

// Literals of which a line matching the first field equality holds one: the value as JSON writes it (a
// string equality also matches a number or boolean written bare, "3" a field 3), else the quoted key. Not
// "key":value: lines of other programs may have spaces around the colon.
std::vector<std::string> field_literals(const json& fields) {
  if (!fields.is_object() || fields.empty()) return {};
  const auto first = fields.begin();
  std::string key = "\"";
  append_json_escaped(key, first.key());
  key += '"';
  const json& value = first.value();
  std::vector<std::string> out;
  if (value.is_string()) {
    out.emplace_back();
    append_json_escaped(out.back(), value.get<std::string>());
    const json bare = json::parse(value.get<std::string>(), nullptr, false);
    if (!bare.is_discarded() && bare.is_primitive() && !bare.is_string())
      out.push_back(value.get<std::string>());
  } else if (value.is_primitive() && !value.is_number_float()) {  // (3.0 may be written 3: no sure literal)
    out.push_back(value.dump());
  }
  const bool short_literal =
      std::any_of(out.begin(), out.end(), [](const std::string& l) { return l.size() < 3; });
  if (out.empty() || short_literal) return {key};
  return out;
}

struct LogFile {
  fs::path path;
  std::int64_t end_ms;  // lines are not newer than this
};

// The files to search, newest first: latest.log, then archives by folder name (a timestamp) descending. In
// an archive being compressed, the finished .gz wins over the plain file; temporary files are skipped.
std::vector<LogFile> log_files(const ProjectLayout& layout) {
  std::vector<LogFile> out;
  if (fs::exists(layout.latest_log())) out.push_back({layout.latest_log(), system_ms()});
  std::vector<std::pair<std::string, fs::path>> archives;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator(layout.archive_dir(), ec)) {
    if (!dir.is_directory(ec)) continue;
    for (const auto& f : fs::directory_iterator(dir.path(), ec)) {
      const std::string name = f.path().filename().string();
      const bool gz = name.size() > 7 && name.compare(name.size() - 7, 7, ".log.gz") == 0;
      const bool plain = name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
      if (!gz && !(plain && !fs::exists(f.path().string() + ".gz", ec))) continue;
      archives.emplace_back(dir.path().filename().string(), f.path());
    }
  }
  std::sort(archives.begin(), archives.end(),
            [](const auto& a, const auto& b) { return archive_name_less(b.first, a.first); });
  for (auto& [name, path] : archives) {
    std::tm tm{};
    std::int64_t end = system_ms();
    if (name.size() >= 17 && strptime(name.substr(0, 17).c_str(), "%Y-%m-%d-%H%M%S", &tm))
      end = static_cast<std::int64_t>(timegm(&tm)) * 1000 + 999;
    out.push_back({path, end});
  }
  return out;
}

}  // namespace

void apply_saved_filter(const ProjectLayout& layout, const std::string& name, LogQuery& q) {
  auto text = read_file(layout.filters());
  json filters = text ? json::parse(*text, nullptr, false) : json::object();
  if (!filters.is_object() || !filters.contains(name)) {
    std::string known;
    if (filters.is_object())
      for (const auto& [k, v] : filters.items()) known += (known.empty() ? "" : ", ") + k;
    throw LogQueryError("logs.unknown_filter",
                        "No saved filter '" + name +
                            "' in config/filters.json; saved filters: " + (known.empty() ? "none" : known));
  }
  const json& f = filters[name];
  auto take = [&](const char* key, std::string& into) {
    if (into.empty() && f.contains(key) && f[key].is_string()) into = f[key].get<std::string>();
  };
  take("query", q.query);
  take("regex", q.regex);
  take("level", q.level);
  take("category", q.category);
  take("source", q.source);
  take("since", q.since);
  take("until", q.until);
  if (f.contains("fields") && f["fields"].is_object())
    for (const auto& [k, v] : f["fields"].items())
      if (!q.fields.contains(k)) q.fields[k] = v;
}

json search_logs(const ProjectLayout& layout, const LogQuery& q) {
  int min_level = -1;
  if (!q.level.empty()) {
    min_level = log_level_index(q.level);
    if (min_level < 0)
      throw LogQueryError("logs.unknown_level", "Unknown level '" + q.level +
                                                    "'; use one of trace, debug, info, warn, error, fatal");
  }
  std::unique_ptr<RE2> re;
  if (!q.regex.empty()) {
    RE2::Options options;
    options.set_max_mem(64 << 20);
    options.set_log_errors(false);
    re = std::make_unique<RE2>(q.regex, options);
    if (!re->ok())
      throw LogQueryError("logs.bad_regex", "Invalid regular expression '" + q.regex + "': " + re->error() +
                                                " (RE2 syntax: no backreferences or lookaround)");
  }
  std::size_t skip = 0;
  if (!q.cursor.empty()) {
    if (q.cursor.rfind("m:", 0) != 0 || q.cursor.size() == 2 ||
        q.cursor.find_first_not_of("0123456789", 2) != std::string::npos)
      throw LogQueryError("logs.bad_cursor", "The cursor '" + q.cursor +
                                                 "' was not returned by search_logs; omit it to start over");
    skip = std::stoull(q.cursor.substr(2));
  }
  const std::size_t limit = static_cast<std::size_t>(std::clamp(q.limit, 1, 1000));
  const std::size_t want = skip + limit + 1;  // one more tells whether there is a next page

  // The text as a line holds it: the writer escapes " \ and control characters (a tab, a newline) in JSON
  // strings and in the text form's message. A line holding either form matches.
  std::string query_escaped;
  append_json_escaped(query_escaped, q.query);
  if (query_escaped == q.query) query_escaped.clear();
  auto holds_query = [&](std::string_view line) {
    return line.find(q.query) != std::string_view::npos ||
           (!query_escaped.empty() && line.find(query_escaped) != std::string_view::npos);
  };

  // Filters that need the parsed record (checked after the cheap looks at the raw line).
  const bool needs_record = !q.source.empty() || !q.fields.empty() || min_level >= 0 || !q.category.empty() ||
                            !q.since.empty() || !q.until.empty();

  // The record of a line, or nullopt when it is not a log line.
  auto parse = [](std::string_view line, std::int64_t end_ms) -> std::optional<json> {
    if (!line.empty() && line[0] == '{') {
      json rec = json::parse(line, nullptr, false);
      if (rec.is_discarded() || !rec.is_object()) return std::nullopt;
      return rec;
    }
    return parse_text_line(line, end_ms);
  };

  // Whether the line matches; `rec` is filled when the record had to be parsed. `corrupt` counts lines
  // looked at that are neither JSON nor the text form: above all a line cut short by a killed writer, which
  // the next writer left on a line of its own (a JSON object that does not end in '}').
  long long corrupt = 0;
  auto matches = [&](std::string_view line, std::int64_t end_ms, std::optional<json>& rec) {
    if (!q.query.empty() && !holds_query(line)) return false;
    if (!looks_whole(line)) {
      ++corrupt;
      return false;
    }
    // Cheap looks at agentlog's own layout before any parsing; `decided` when they settle every filter but
    // source and fields.
    bool decided = false, source_decided = false;
    if (line.rfind("{\"ts\":\"", 0) == 0 && line.size() > 31) {
      decided = true;
      if (min_level >= 0) {
        auto l = quick_string(line, "\"level\":\"");
        if (l && log_level_index(*l) < min_level) return false;
        decided = decided && l;
      }
      if (!q.category.empty()) {
        auto c = quick_string(line, "\"category\":\"");
        if (c && *c != q.category) return false;
        decided = decided && c;
      }
      std::string_view ts = line.substr(7, 24);
      if (!q.since.empty() && ts < q.since) return false;
      if (!q.until.empty() && ts > q.until) return false;
      if (!q.source.empty()) {  // (a parse per line made --source 40x slower than grep)
        auto src = quick_string(line, "\"source\":\"");
        if (src && fnmatch(q.source.c_str(), std::string(*src).c_str(), 0) != 0) return false;
        source_decided = src.has_value();
      }
    }
    if (re) {  // over the message only, as documented (not the keys, level, time or fields of the line)
      std::optional<std::string_view> msg =
          line.rfind("{\"ts\":\"", 0) == 0 ? quick_string(line, "\"msg\":\"") : std::nullopt;
      if (msg) {  // no escapes: the message is in the line as it is (anchors apply to it)
        if (!RE2::PartialMatch(re2::StringPiece(msg->data(), msg->size()), *re)) return false;
      } else {  // decoded (escapes, the text form)
        rec = parse(line, end_ms);
        if (!rec) {
          ++corrupt;
          return false;
        }
        if (!RE2::PartialMatch(text_field(*rec, "msg"), *re)) return false;
      }
    }
    if (!needs_record || (decided && (q.source.empty() || source_decided) && q.fields.empty())) return true;
    if (!rec) rec = parse(line, end_ms);
    if (!rec) {
      ++corrupt;
      return false;
    }
    const json& r = *rec;
    if (min_level >= 0 && log_level_index(level_field(r)) < min_level) return false;
    if (!q.category.empty() && text_field(r, "category") != q.category) return false;
    if (!q.source.empty() && fnmatch(q.source.c_str(), text_field(r, "source").c_str(), 0) != 0) return false;
    const std::string ts = ts_field(r);
    if (!q.since.empty() && ts < q.since) return false;
    if (!q.until.empty() && ts > q.until) return false;
    for (const auto& [k, v] : q.fields.items()) {
      const json* have = r.contains("fields") && r["fields"].is_object() && r["fields"].contains(k)
                             ? &r["fields"][k]
                             : nullptr;
      if (!have) return false;
      const bool equal = *have == v || (have->is_primitive() && v.is_string() &&
                                        (have->is_string() ? have->get<std::string>() : have->dump()) ==
                                            v.get<std::string>());
      if (!equal) return false;
    }
    return true;
  };

  // Literals of which a matching line holds at least one, looked for first in each block (like grep). The
  // level and category literals assume agentlog's own line layout, which is what logs/ holds.
  std::vector<std::string> any_of;
  if (!q.query.empty()) {
    any_of = {q.query};
    if (!query_escaped.empty()) any_of.push_back(query_escaped);
  } else if (std::string lit = re ? required_literal(q.regex) : ""; lit.size() >= 3) {
    // A message with escapes (\" \\ \n ...) is stored differently from how the regex sees it: lines with a
    // backslash are always looked at too.
    any_of = {lit, "\\"};
  } else if (std::vector<std::string> lits = field_literals(q.fields); !lits.empty()) {
    any_of = std::move(lits);
  } else if (std::string prefix = q.source.substr(0, q.source.find_first_of("*?[\\")); prefix.size() >= 3) {
    any_of = {""};  // the glob's literal start, as JSON stores it (json and text forms alike)
    append_json_escaped(any_of.back(), prefix);
  } else if (!re && !q.category.empty() && min_level < 3) {  // (with a high level, the level scan is faster)
    std::string escaped;
    append_json_escaped(escaped, q.category);
    any_of = {"\"category\":\"" + escaped + "\"", "[" + escaped + "]"};
  }
  const bool regex_blocks = re && any_of.empty() && q.regex.find_first_of("^$") == std::string::npos &&
                            q.regex.find("\\A") == std::string::npos &&
                            q.regex.find("\\z") == std::string::npos;
  std::vector<std::size_t> starts;
  // A minimum level alone: every line is looked at, but agentlog's own lines are judged by the level word at
  // its fixed place ({"ts":"<24 chars>","level":"...), without a search or a parse.
  const bool level_scan = any_of.empty() && !regex_blocks && min_level >= 1;
  std::vector<std::uint32_t> newlines;

  struct Found {
    std::string line;
    std::optional<json> rec;
    long long number;
  };
  json matches_out = json::array();
  std::size_t total = 0, page_bytes = 0;
  std::optional<std::size_t> page_full_at;  // the first match left out for the byte budget
  long long truncated = 0;
  long long scanned = 0, torn_lines = 0;
  // latest.log is opened and the archives are listed holding logs/.lock (shared, for a directory listing):
  // writers rotate holding it, so no rotation falls between the two and leaves a file unlisted.
  std::vector<LogFile> files;
  std::unique_ptr<BlockReader> latest_reader;
  {
    const int lock = ::open((layout.logs_dir() / ".lock").c_str(), O_RDONLY | O_CLOEXEC);
    if (lock >= 0)
      while (::flock(lock, LOCK_SH) != 0 && errno == EINTR) {
      }
    files = log_files(layout);
    if (!files.empty() && files.front().path == layout.latest_log())
      latest_reader = std::make_unique<BlockReader>(files.front().path);
    if (lock >= 0) ::close(lock);  // (releases the lock)
  }
  for (const auto& file : files) {
    if (total >= want) break;
    if (!q.since.empty() && file.path != layout.latest_log() && iso8601_ms(file.end_ms) < q.since)
      break;  // older still
    std::unique_ptr<BlockReader> opened = file.path == layout.latest_log() && latest_reader
                                              ? std::move(latest_reader)
                                              : std::make_unique<BlockReader>(file.path);
    // An archive compressed since it was listed: its .gz holds the same lines.
    fs::path read_path = file.path;
    if (!opened->ok() && file.path.extension() == ".log") {
      read_path += ".gz";
      opened = std::make_unique<BlockReader>(read_path);
    }
    if (!opened->ok()) continue;  // removed by retention since it was listed
    BlockReader& reader = *opened;
    std::deque<Found> found;  // newest first within a file: its last `want - total` matches
    long long line_no = 0;    // lines before the current position
    std::string_view block, torn;
    while (reader.next(block, torn)) {
      if (!torn.empty()) {  // a writer was killed mid-line, or is writing it now
        ++line_no;
        ++torn_lines;
        break;
      }
      const char* base = block.data();
      const std::size_t size = block.size();
      std::size_t counted = 0;  // newlines before `counted` are in line_no
      auto consider = [&](std::size_t start, std::size_t end) {
        line_no += static_cast<long long>(count_newlines(base + counted, start - counted));
        counted = start;
        std::string_view line(base + start, end - start);
        std::optional<json> rec;
        if (!matches(line, file.end_ms, rec)) return;
        found.push_back({std::string(line), std::move(rec), line_no + 1});
        if (found.size() > want - total) found.pop_front();
      };
      // Candidate lines: where a required literal or the regex occurs, else every line.
      auto line_start = [&](std::size_t hit) {
        const void* nl = hit > 0 ? ::memrchr(base, '\n', hit) : nullptr;
        return nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - base) + 1 : 0;
      };
      auto line_end = [&](std::size_t from) {
        return static_cast<std::size_t>(
            static_cast<const char*>(std::memchr(base + from, '\n', size - from)) - base);
      };
      // The lines holding `lit`, into `starts`; then every collected line once, in file order.
      auto collect = [&](std::string_view lit) {
        for (std::size_t pos = 0; pos < size;) {
          std::size_t hit = find_literal(base + pos, size - pos, lit);
          if (hit == kNotFound) break;
          hit += pos;
          starts.push_back(line_start(hit));
          pos = line_end(hit) + 1;
        }
      };
      auto consider_collected = [&] {
        std::sort(starts.begin(), starts.end());
        starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
        for (std::size_t start : starts) consider(start, line_end(start));
      };
      std::size_t pos = 0;
      starts.clear();
      if (!any_of.empty()) {
        for (const auto& lit : any_of) collect(lit);
        consider_collected();
      } else if (regex_blocks) {  // the regex over the block, and every line with escapes (see above)
        re2::StringPiece match;
        while (pos < size && re->Match(re2::StringPiece(base, size), pos, size, RE2::UNANCHORED, &match, 1)) {
          const std::size_t hit =
              std::min<std::size_t>(static_cast<std::size_t>(match.data() - base), size - 1);
          starts.push_back(std::max(pos, line_start(hit)));
          pos = line_end(hit) + 1;
        }
        collect("\\");
        consider_collected();
      } else if (level_scan) {
        newlines.clear();
        find_newlines(base, size, newlines);
        for (std::uint32_t nl : newlines) {
          const std::size_t start = pos;
          pos = nl + 1;
          if (nl - start > 48 && std::memcmp(base + start, "{\"ts\":\"", 7) == 0 &&
              std::memcmp(base + start + 31, "\",\"level\":\"", 11) == 0) {
            const int l = own_level(base + start + 42, nl - start - 42);
            if (l >= 0 && l < min_level) continue;
          }
          consider(start, nl);
        }
      } else {
        while (pos < size) {
          const std::size_t end = line_end(pos);
          consider(pos, end);
          pos = end + 1;
        }
      }
      line_no += static_cast<long long>(count_newlines(base + counted, size - counted));
    }
    scanned += line_no;
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (total >= skip && matches_out.size() < limit && !page_full_at) {
        if (!it->rec) it->rec = parse(it->line, file.end_ms);
        if (!it->rec) {  // looked whole but does not parse (cut right after a '}'): skipped, its place kept
          ++corrupt;
          ++total;
          continue;
        }
        const json& rec = *it->rec;
        json m = {
            {"ts", ts_field(rec)},
            {"level", level_field(rec)},
            {"category", text_field(rec, "category")},
            {"source", text_field(rec, "source")},
            {"msg", text_field(rec, "msg")},
            {"fields", rec.contains("fields") && rec["fields"].is_object() ? rec["fields"] : json::object()},
            {"file", layout.relative(read_path)},
            {"line", it->number}};
        for (const char* k : {"traceId", "spanId"})  // strings in the output schema
          if (std::string id = text_field(rec, k); !id.empty()) m[k] = id;
        const bool cut = cut_match(m);
        const std::size_t bytes = m.dump(-1, ' ', false, json::error_handler_t::replace).size();
        if (!matches_out.empty() && page_bytes + bytes > kPageBytes) {
          page_full_at = total;
          ++total;
          continue;
        }
        page_bytes += bytes;
        truncated += cut;
        matches_out.push_back(std::move(m));
      }
      ++total;
    }
  }
  json next = page_full_at           ? json("m:" + std::to_string(*page_full_at))
              : total > skip + limit ? json("m:" + std::to_string(skip + limit))
                                     : json(nullptr);
  json out = {{"matches", matches_out},
              {"nextCursor", std::move(next)},
              {"scannedLines", scanned},
              {"tornLines", torn_lines},
              {"corruptLines", corrupt}};
  if (page_full_at) out["pageFull"] = true;  // fewer than `limit` matches: the page reached its byte budget
  if (truncated > 0) out["truncatedMatches"] = truncated;
  return out;
}

}  // namespace agentlog
