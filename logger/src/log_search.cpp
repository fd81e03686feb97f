#include "logger/log_search.hpp"

#include <fnmatch.h>
#include <re2/re2.h>
#include <zlib.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>

#include "logger/event_writer.hpp"
#include "logger/files.hpp"

namespace agentlog {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

int level_rank(const std::string& level) {
  const auto& names = log_level_names();
  std::string l = level;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (l == "warning") l = "warn";
  auto it = std::find(names.begin(), names.end(), l);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

// Reads lines of a plain or gzip file, streaming. `torn` is set when the last line has no newline.
class LineReader {
 public:
  explicit LineReader(const fs::path& path) {
    file_ = gzopen(path.c_str(), "rb");  // zlib reads plain files transparently
    if (file_) gzbuffer(file_, 1 << 17);
  }
  ~LineReader() {
    if (file_) gzclose(file_);
  }
  bool ok() const { return file_ != nullptr; }
  // The next line without its newline; false at the end. A last line without newline is reported torn.
  bool next(std::string& line, bool& torn) {
    line.clear();
    torn = false;
    char buf[65536];
    while (true) {
      if (!gzgets(file_, buf, sizeof buf)) {
        if (line.empty()) return false;
        torn = true;
        return true;
      }
      std::size_t n = std::strlen(buf);
      line.append(buf, n);
      if (n > 0 && buf[n - 1] == '\n') {
        line.pop_back();
        return true;
      }
    }
  }

 private:
  gzFile file_ = nullptr;
};

// "[14:30:25.100] INFO [api] GET /x - 200 OK (61ms)" -> a record (no date in the text form: ts is the time).
std::optional<json> parse_text_line(const std::string& line) {
  if (line.size() < 16 || line[0] != '[') return std::nullopt;
  auto close = line.find(']');
  if (close == std::string::npos) return std::nullopt;
  std::size_t p = close + 2;
  auto space = line.find(' ', p);
  if (space == std::string::npos) return std::nullopt;
  json r = {{"ts", line.substr(1, close - 1)}, {"level", line.substr(p, space - p)}, {"category", ""}, {"source", ""},
            {"fields", json::object()}};
  std::transform(r["level"].get_ref<std::string&>().begin(), r["level"].get_ref<std::string&>().end(),
                 r["level"].get_ref<std::string&>().begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::size_t m = space + 1;
  if (m < line.size() && line[m] == '[') {
    auto cat_end = line.find(']', m);
    if (cat_end != std::string::npos) {
      r["category"] = line.substr(m + 1, cat_end - m - 1);
      m = cat_end + 2;
    }
  }
  r["msg"] = m < line.size() ? line.substr(m) : "";
  return r;
}

// The files to search, newest first: latest.log, then archives by folder name (a timestamp) descending.
std::vector<fs::path> log_files(const ProjectLayout& layout) {
  std::vector<fs::path> out;
  if (fs::exists(layout.latest_log())) out.push_back(layout.latest_log());
  std::vector<fs::path> archives;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(layout.archive_dir(), ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file()) archives.push_back(it->path());
  std::sort(archives.begin(), archives.end(), std::greater<>());
  out.insert(out.end(), archives.begin(), archives.end());
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
    throw LogQueryError("logs.unknown_filter", "No saved filter '" + name + "' in config/filters.json; saved filters: " +
                                                   (known.empty() ? "none" : known));
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
    min_level = level_rank(q.level);
    if (min_level < 0)
      throw LogQueryError("logs.unknown_level", "Unknown level '" + q.level + "'; use one of trace, debug, info, warn, error, fatal");
  }
  std::unique_ptr<RE2> re;
  if (!q.regex.empty()) {
    RE2::Options options;
    options.set_max_mem(8 << 20);
    options.set_log_errors(false);
    re = std::make_unique<RE2>(q.regex, options);
    if (!re->ok())
      throw LogQueryError("logs.bad_regex", "Invalid regular expression '" + q.regex + "': " + re->error() +
                                                " (RE2 syntax: no backreferences or lookaround)");
  }
  std::size_t skip = 0;
  if (!q.cursor.empty()) {
    if (q.cursor.rfind("m:", 0) != 0 || q.cursor.size() == 2 || q.cursor.find_first_not_of("0123456789", 2) != std::string::npos)
      throw LogQueryError("logs.bad_cursor", "The cursor '" + q.cursor + "' was not returned by search_logs; omit it to start over");
    skip = std::stoull(q.cursor.substr(2));
  }
  const std::size_t limit = static_cast<std::size_t>(std::clamp(q.limit, 1, 1000));
  const std::size_t want = skip + limit + 1;  // one more tells whether there is a next page

  json matches = json::array();
  std::size_t total = 0;
  long long scanned = 0, torn_lines = 0;
  for (const auto& path : log_files(layout)) {
    if (total >= want) break;
    LineReader reader(path);
    if (!reader.ok()) continue;
    // Newest first within a file: keep its last `want - total` matches.
    std::deque<json> found;
    std::string line;
    bool torn = false;
    long long number = 0;
    while (reader.next(line, torn)) {
      ++number;
      ++scanned;
      if (torn) {
        ++torn_lines;
        break;
      }
      if (!q.query.empty() && line.find(q.query) == std::string::npos) continue;  // before any parsing
      json rec;
      if (!line.empty() && line[0] == '{') {
        rec = json::parse(line, nullptr, false);
        if (rec.is_discarded() || !rec.is_object()) continue;
      } else if (auto t = parse_text_line(line)) {
        rec = std::move(*t);
      } else {
        continue;
      }
      if (min_level >= 0 && level_rank(rec.value("level", "")) < min_level) continue;
      if (!q.category.empty() && rec.value("category", "") != q.category) continue;
      if (!q.source.empty() && fnmatch(q.source.c_str(), rec.value("source", "").c_str(), 0) != 0) continue;
      const std::string ts = rec.value("ts", "");
      if (!q.since.empty() && ts < q.since) continue;
      if (!q.until.empty() && ts > q.until) continue;
      bool fields_ok = true;
      for (const auto& [k, v] : q.fields.items()) {
        const json* have = rec.contains("fields") && rec["fields"].contains(k) ? &rec["fields"][k] : nullptr;
        if (!have || !(*have == v || (have->is_primitive() && v.is_string() && (have->is_string() ? have->get<std::string>() : have->dump()) == v.get<std::string>()))) {
          fields_ok = false;
          break;
        }
      }
      if (!fields_ok) continue;
      if (re && !RE2::PartialMatch(rec.value("msg", ""), *re) && !RE2::PartialMatch(line, *re)) continue;
      json m = {{"ts", ts},
                {"level", rec.value("level", "")},
                {"category", rec.value("category", "")},
                {"source", rec.value("source", "")},
                {"msg", rec.value("msg", "")},
                {"fields", rec.contains("fields") && rec["fields"].is_object() ? rec["fields"] : json::object()},
                {"file", layout.relative(path)},
                {"line", number}};
      for (const char* k : {"traceId", "spanId"})
        if (rec.contains(k)) m[k] = rec[k];
      found.push_back(std::move(m));
      if (found.size() > want - total) found.pop_front();
    }
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (total >= skip && matches.size() < limit) matches.push_back(std::move(*it));
      ++total;
    }
  }
  return {{"matches", matches},
          {"nextCursor", total > skip + limit ? json("m:" + std::to_string(skip + limit)) : json(nullptr)},
          {"scannedLines", scanned},
          {"tornLines", torn_lines}};
}

}  // namespace agentlog
