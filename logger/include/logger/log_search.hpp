// Search over logs/latest.log and every archive (logs/archive/*/..., plain or .gz), newest first. Files are
// streamed line by line (never read whole); a fixed string is looked for in the raw line before any JSON is
// parsed; regular expressions use RE2 (linear time, bounded memory: a pattern from an agent cannot hang the
// server). JSON lines and the human text form ("[14:30:25.100] INFO [api] message") are both read. A torn
// last line (a writer killed mid-write, or writing it now) is skipped and counted (tornLines); so is a line
// cut short by a killed writer that the next writer left on a line of its own, and any other line looked at
// that is not a log line (corruptLines): neither is ever a match.
//
// Thread-safety: free functions; each call opens its own files.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "logger/project.hpp"

namespace agentlog {

struct LogQuery {
  std::string query;                                 // fixed string, anywhere in the line
  std::string regex;                                 // RE2 syntax, over the message (and the raw line)
  std::string level;                                 // minimum level
  std::string category;                              // exact
  std::string source;                                // glob
  std::string since, until;                          // ISO-8601 UTC (already resolved from "1h" etc.)
  nlohmann::json fields = nlohmann::json::object();  // equalities
  int limit = 50;
  std::string cursor;
};

// A bad query value: `id` is stable ("logs.bad_regex", "logs.unknown_level", "logs.unknown_filter",
// "logs.bad_filters_file", "logs.bad_cursor", "logs.cursor_expired" when retention removed the lines a cursor
// points at, ...).
class LogQueryError : public std::runtime_error {
 public:
  LogQueryError(std::string id, const std::string& message)
      : std::runtime_error(message), id_(std::move(id)) {}
  const std::string& id() const { return id_; }

 private:
  std::string id_;
};

// Merges the saved filter `name` of config/filters.json into `q` (explicit values win). A filter that is not
// an object of the LogQuery keys above (strings; fields an object; "description" its note) is
// logs.bad_filters_file naming the filter and the key.
void apply_saved_filter(const ProjectLayout& layout, const std::string& name, LogQuery& q);

// {matches: [{ts, level, category, source, msg, fields, file, line}], nextCursor, scannedLines, tornLines,
//  corruptLines, damagedFiles (files not readable to their end)}. A field equality compares JSON values,
//  and a string equals the number, boolean or null it spells, either way ("100" and 100).
nlohmann::json search_logs(const ProjectLayout& layout, const LogQuery& q);

// A text-form line (LOG_FORMAT=text, "[14:30:25.100] INFO [api] msg\t{...}") as the record a JSON line holds,
// dated by `end_ms` (the newest its file's lines can be); nullopt when it is not one.
std::optional<nlohmann::json> parse_text_line(std::string_view line, std::int64_t end_ms);

}  // namespace agentlog
