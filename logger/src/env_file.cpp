#include "logger/env_file.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace agentlog {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool valid_key(std::string_view k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::optional<bool> parse_bool(const std::string& v) {
  std::string l = lower(v);
  if (l == "true" || l == "1" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "0" || l == "no" || l == "off") return false;
  return std::nullopt;
}

std::optional<double> parse_number(const std::string& v, bool integer) {
  if (v.empty()) return std::nullopt;
  if (integer) {
    long long out = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
    return static_cast<double>(out);
  }
  double out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(out)) return std::nullopt;
  return out;
}

// As written in the file: 1048576 and 0.001, never 1.04858e+06.
std::string plain_number(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string format_range(const EnvKeySpec& spec) {
  return std::string(spec.type == EnvType::kInt ? "an integer" : "a number") + " from " +
         plain_number(spec.min) + " to " + plain_number(spec.max);
}

// Why `value` is not acceptable for `spec`, or empty.
std::string check_value(const EnvKeySpec& spec, const std::string& value) {
  switch (spec.type) {
    case EnvType::kBool:
      return parse_bool(value) ? "" : "accepted: true or false";
    case EnvType::kInt:
    case EnvType::kDouble: {
      auto n = parse_number(value, spec.type == EnvType::kInt);
      if (!n || *n < spec.min || *n > spec.max) return "accepted: " + format_range(spec);
      return "";
    }
    case EnvType::kEnum: {
      std::string choices = spec.choices;
      std::string l = lower(value);
      std::stringstream ss(choices);
      for (std::string c; std::getline(ss, c, '|');)
        if (c == l) return "";
      std::replace(choices.begin(), choices.end(), '|', ',');
      return "accepted: one of " + choices;
    }
    case EnvType::kString:
    case EnvType::kList:
      return "";
  }
  return "";
}

}  // namespace

std::string EnvDiagnostic::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

EnvParse parse_env(std::string_view text, const std::string& file_name) {
  EnvParse out;
  int line_no = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    if (line.rfind("export", 0) == 0 && line.size() > 6 && std::isspace(static_cast<unsigned char>(line[6])))
      line = trim(line.substr(6));
    std::size_t eq = line.find('=');
    auto warn = [&](std::string key, std::string message, EnvDiagnostic::Severity sev) {
      out.diagnostics.push_back({sev, file_name, line_no, std::move(key), std::move(message)});
    };
    if (eq == std::string_view::npos) {
      warn("", "not a KEY=value line; it is ignored", EnvDiagnostic::Severity::kError);
      continue;
    }
    std::string key(trim(line.substr(0, eq)));
    if (!valid_key(key)) {
      warn(key, "not a valid key (letters, digits and '_'); the line is ignored",
           EnvDiagnostic::Severity::kError);
      continue;
    }
    std::string_view rest = trim(line.substr(eq + 1));
    std::string value;
    if (!rest.empty() && (rest.front() == '"' || rest.front() == '\'')) {
      char quote = rest.front();
      std::size_t i = 1;
      bool closed = false;
      for (; i < rest.size(); ++i) {
        char c = rest[i];
        if (c == quote) {
          closed = true;
          break;
        }
        if (quote == '"' && c == '\\' && i + 1 < rest.size()) {
          char n = rest[++i];
          value.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n);
        } else {
          value.push_back(c);
        }
      }
      if (!closed) {
        warn(key, std::string("unterminated quote; add the closing ") + quote,
             EnvDiagnostic::Severity::kError);
        continue;
      }
      std::string_view after = trim(rest.substr(i + 1));
      if (!after.empty() && after.front() != '#')
        warn(key, "text after the closing quote is ignored", EnvDiagnostic::Severity::kWarning);
    } else {
      // An inline comment starts at a '#' preceded by whitespace (`KEY=   # note` is an empty value).
      const std::string_view raw = line.substr(eq + 1);
      std::size_t hash = !rest.empty() && rest.front() == '#' && !raw.empty() &&
                                 std::isspace(static_cast<unsigned char>(raw.front()))
                             ? 0
                             : std::string_view::npos;
      for (std::size_t i = 1; hash == std::string_view::npos && i < rest.size(); ++i)
        if (rest[i] == '#' && std::isspace(static_cast<unsigned char>(rest[i - 1]))) {
          hash = i;
          break;
        }
      value = std::string(trim(rest.substr(0, hash)));
    }
    if (out.entries.count(key))
      warn(key, "set again; the value on this line wins", EnvDiagnostic::Severity::kWarning);
    out.entries[key] = EnvEntry{value, line_no};
  }
  return out;
}

EnvSettings EnvSettings::from_text(std::string_view text, const std::string& file_name,
                                   const std::vector<EnvKeySpec>& keys) {
  EnvSettings s;
  EnvParse parsed = parse_env(text, file_name);
  s.diagnostics_ = parsed.diagnostics;
  for (const auto& spec : keys) {
    s.values_[spec.key] = spec.default_value;
    s.sources_[spec.key] = "default";
  }
  for (const auto& [key, entry] : parsed.entries) {
    auto spec = std::find_if(keys.begin(), keys.end(), [&](const EnvKeySpec& k) { return key == k.key; });
    if (spec == keys.end()) {
      s.diagnostics_.push_back({EnvDiagnostic::Severity::kWarning, file_name, entry.line, key,
                                "unknown key; it is ignored (check the spelling against the template)"});
      continue;
    }
    std::string value = entry.value;
    if (spec->type == EnvType::kEnum || spec->type == EnvType::kBool) value = lower(value);
    std::string problem = check_value(*spec, value);
    if (!problem.empty()) {
      s.diagnostics_.push_back({EnvDiagnostic::Severity::kError, file_name, entry.line, key,
                                "bad value '" + entry.value + "'; " + problem + "; using the safe value '" +
                                    spec->safe_value + "'"});
      s.values_[key] = spec->safe_value;
      s.sources_[key] = file_name + ":" + std::to_string(entry.line) + " (bad value, safe default used)";
      continue;
    }
    s.values_[key] = value;
    s.sources_[key] = file_name + ":" + std::to_string(entry.line);
  }
  for (const auto& spec : keys) {
    auto entry = parsed.entries.find(spec.key);
    if (!spec.check || entry == parsed.entries.end()) continue;
    if (std::string problem = spec.check(s, spec.key); !problem.empty())
      s.diagnostics_.push_back(
          {EnvDiagnostic::Severity::kWarning, file_name, entry->second.line, spec.key, problem});
  }
  return s;
}

EnvSettings EnvSettings::load(const std::filesystem::path& file, const std::vector<EnvKeySpec>& keys) {
  std::ifstream in(file, std::ios::binary);
  std::string text;
  if (in) {
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  return from_text(text, file.string(), keys);
}

const std::string& EnvSettings::raw(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::out_of_range("unknown setting " + key);
  return it->second;
}

bool EnvSettings::get_bool(const std::string& key) const { return parse_bool(raw(key)).value_or(false); }
long long EnvSettings::get_int(const std::string& key) const {
  return static_cast<long long>(parse_number(raw(key), true).value_or(0));
}
double EnvSettings::get_double(const std::string& key) const {
  return parse_number(raw(key), false).value_or(0);
}
const std::string& EnvSettings::get_string(const std::string& key) const { return raw(key); }
std::vector<std::string> EnvSettings::get_list(const std::string& key) const {
  std::vector<std::string> out;
  std::stringstream ss(raw(key));
  for (std::string item; std::getline(ss, item, ',');) {
    std::string t(trim(item));
    if (!t.empty()) out.push_back(t);
  }
  return out;
}
const std::string& EnvSettings::source(const std::string& key) const {
  auto it = sources_.find(key);
  if (it == sources_.end()) throw std::out_of_range("unknown setting " + key);
  return it->second;
}

const std::vector<EnvKeySpec>& tracing_env_keys() {
  static const std::vector<EnvKeySpec> keys = {
      {"TRACING_ENABLED", EnvType::kBool, "true", "false", 0, 0, "", "master switch"},
      {"TRACING_AUTO_INSTRUMENT", EnvType::kBool, "false", "false", 0, 0, "",
       "instrument all files on server start"},
      {"TRACING_DEFAULT_LEVEL", EnvType::kInt, "2", "0", 0, 5, "", "detail level 0-5"},
      {"TRACING_MAX_LEVEL", EnvType::kInt, "5", "0", 0, 5, "",
       "highest level recorded, whatever is configured"},
      {"TRACING_ALLOW_AI_INSTRUMENTATION", EnvType::kBool, "true", "false", 0, 0, "",
       "AI may instrument files"},
      {"TRACING_ALLOW_AI_WRAP", EnvType::kBool, "true", "false", 0, 0, "",
       "AI may instrument named functions"},
      {"TRACING_ALLOW_AI_UNWRAP", EnvType::kBool, "true", "false", 0, 0, "", "AI may remove instrumentation"},
      {"TRACING_AI_REQUIRE_APPROVAL", EnvType::kBool, "false", "true", 0, 0, "",
       "human approves AI operations"},
      {"TRACING_SAMPLE_RATE", EnvType::kDouble, "1.0", "1.0", 0, 1, "", "fraction of traces recorded"},
      {"TRACING_MAX_DEPTH", EnvType::kInt, "50", "50", 1, 10000, "", "deepest span recorded"},
      {"TRACING_MAX_CAPTURE_SIZE", EnvType::kInt, "10000", "10000", 16, 16777216, "",
       "bytes per captured value"},
      {"TRACING_EXCLUDE_FILES", EnvType::kList, "*.test.ts,*.spec.ts", "*.test.ts,*.spec.ts", 0, 0, "",
       "globs never instrumented nor touched by the AI"},
      {"TRACING_EXCLUDE_NODE_MODULES", EnvType::kBool, "true", "true", 0, 0, "", "skip node_modules"},
      {"TRACING_REDACT", EnvType::kBool, "true", "true", 0, 0, "", "redact secret-looking values"},
      {"TRACING_RETENTION_DAYS", EnvType::kInt, "14", "14", 0, 36500, "",
       "days span files are kept (0 = forever)"},
      {"TRACING_APPROVAL_TTL_MINUTES", EnvType::kInt, "60", "60", 1, 100000, "",
       "how long an approval is valid"},
      {"TRACING_FORMAT", EnvType::kEnum, "jsonl", "jsonl", 0, 0, "jsonl|binary",
       "span files: jsonl, or binary (cheapest to record; agentlog converts them to jsonl after the program "
       "exits)"},
      {"TRACING_BUFFER_MB", EnvType::kInt, "8", "8", 1, 1024, "",
       "span buffer per traced thread (a thread that ended leaves its buffer to the next one)"},
      {"TRACING_FULL_WAIT_MS", EnvType::kInt, "100", "100", 0, 10000, "",
       "how long a thread waits for room in a full buffer before it drops the span"},
  };
  return keys;
}

namespace {

// AUDIT_ROTATE_MB between 0 (never) and the smallest size the writer rotates at.
std::string check_rotate_size(const EnvSettings& all, const std::string& key) {
  const double mb = all.get_double(key);
  return mb > 0 && mb < 0.001
             ? "is below the smallest size, 0.001 (1 KiB), and acts as that: write 0 for never, or a size of "
               "at least 0.001"
             : "";
}

// AGENTLOG_API_TOKENS entries that are not name:token (the HTTP API skips them). Named by position, never
// by text: an entry without its name may be a bare token.
std::string check_api_tokens(const EnvSettings& all, const std::string& key) {
  std::string bad;
  int n = 0;
  for (const auto& entry : all.get_list(key)) {
    auto colon = entry.find(':');
    ++n;
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size())
      bad += (bad.empty() ? "" : ", ") + std::to_string(n);
  }
  return bad.empty()
             ? ""
             : "entry " + bad + " is not name:token and is ignored (write name:token, comma-separated)";
}

// AGENTLOG_API_WRITE_TOKENS names that no token has (nobody can write under them).
std::string check_api_writers(const EnvSettings& all, const std::string& key) {
  std::set<std::string> names;
  for (const auto& entry : all.get_list("AGENTLOG_API_TOKENS"))
    names.insert(entry.substr(0, entry.find(':')));
  std::string unknown;
  for (const auto& name : all.get_list(key))
    if (!names.count(name)) unknown += (unknown.empty() ? "'" : ", '") + name + "'";
  return unknown.empty() ? ""
                         : "no token in AGENTLOG_API_TOKENS is named " + unknown + "; check the spelling";
}

}  // namespace

const std::vector<EnvKeySpec>& logging_env_keys() {
  static const std::vector<EnvKeySpec> keys = {
      {"LOGGING_ENABLED", EnvType::kBool, "true", "true", 0, 0, "", "master switch"},
      {"LOG_LEVEL", EnvType::kEnum, "debug", "info", 0, 0, "trace|debug|info|warn|error|fatal", "ceiling"},
      {"LOG_FORMAT", EnvType::kEnum, "json", "json", 0, 0, "json|text", "line format of latest.log"},
      {"LOG_REDACT", EnvType::kBool, "true", "true", 0, 0, "", "redact secret-looking values"},
      {"LOG_MAX_SIZE_MB", EnvType::kDouble, "10", "10", 0.001, 1048576, "", "rotate at this size"},
      {"LOG_ROTATE_INTERVAL", EnvType::kEnum, "daily", "daily", 0, 0, "hourly|daily|weekly|none",
       "rotate by time"},
      {"LOG_COMPRESS_ARCHIVES", EnvType::kBool, "true", "true", 0, 0, "", "gzip rotated files"},
      {"LOG_RETENTION_DAYS", EnvType::kInt, "30", "30", 0, 36500, "", "days archives are kept (0 = forever)"},
      {"LOG_MAX_ARCHIVES", EnvType::kInt, "100", "100", 0, 1000000, "", "archives kept (0 = no limit)"},
      {"LOG_MAX_TOTAL_MB", EnvType::kDouble, "1024", "1024", 0, 1048576, "",
       "archive size cap (0 = no limit)"},
      {"AUDIT_ROTATE_MB", EnvType::kDouble, "64", "64", 0, 1048576, "",
       "archive and gzip audit/actions.jsonl at this size (0 = never); archives are never removed",
       check_rotate_size},
      {"OPENMEMORY_URL", EnvType::kString, "", "", 0, 0, "", "OpenMemory server; empty = embedded store"},
      {"OPENMEMORY_API_KEY", EnvType::kString, "", "", 0, 0, "", "x-api-key for the server"},
      {"OPENMEMORY_MODE", EnvType::kEnum, "memory", "memory", 0, 0, "memory|ai-agents", "which API"},
      {"OPENMEMORY_PROJECT", EnvType::kString, "", "", 0, 0, "", "project name; empty = folder name"},
      {"AGENTLOG_API_TOKENS", EnvType::kList, "", "", 0, 0, "", "HTTP API tokens name:token,...",
       check_api_tokens},
      {"AGENTLOG_API_WRITE_TOKENS", EnvType::kList, "", "", 0, 0, "",
       "token names allowed to write; empty = all", check_api_writers},
      {"AGENTLOG_API_RATE_LIMIT", EnvType::kDouble, "50", "50", 0.1, 1000000, "", "requests/s per token"},
      {"AGENTLOG_API_RATE_BURST", EnvType::kInt, "100", "100", 1, 1000000, "", "bucket size"},
  };
  return keys;
}

}  // namespace agentlog
