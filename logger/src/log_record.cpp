#include "logger/log_record.hpp"

#include <emmintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <charconv>
#include <ctime>

#include "logger/event_writer.hpp"

namespace agentlog {

namespace {

constexpr std::array<const char*, 6> kUpper = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  const auto c1 = static_cast<unsigned char>(s[i + 1]);
  if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 >= 0xA0) || (c == 0xF0 && c1 < 0x90) ||
      (c == 0xF4 && c1 >= 0x90))
    return 0;  // overlong, surrogate, above U+10FFFF
  return n;
}

// "2026-11-25T14:30:25" for the second of `ms`, cached per thread (one gmtime per second).
const char* second_prefix(std::int64_t ms) {
  thread_local std::int64_t cached = -1;
  thread_local char buf[24];
  const std::int64_t sec = ms / 1000;
  if (sec != cached) {
    std::time_t t = static_cast<std::time_t>(sec);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    cached = sec;
  }
  return buf;
}

void append_millis(std::string& out, std::int64_t ms) {
  const int m = static_cast<int>(ms % 1000);
  out += '.';
  out += static_cast<char>('0' + m / 100);
  out += static_cast<char>('0' + m / 10 % 10);
  out += static_cast<char>('0' + m % 10);
}

void append_string_field(std::string& out, const char* key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  append_json_escaped(out, value);
  out += '"';
}

void append_integer(std::string& out, long long v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Flat values are written directly (the Logger's hot path); nested ones through nlohmann.
void append_value(std::string& out, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::string:
      out += '"';
      append_json_escaped(out, v.get_ref<const std::string&>());
      out += '"';
      break;
    case nlohmann::json::value_t::number_integer:
      append_integer(out, v.get<long long>());
      break;
    case nlohmann::json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case nlohmann::json::value_t::null:
      out += "null";
      break;
    default:
      out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void append_fields(std::string& out, const nlohmann::json& fields) {
  out += '{';
  bool first = true;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    if (!first) out += ',';
    first = false;
    out += '"';
    append_json_escaped(out, it.key());
    out += "\":";
    append_value(out, it.value());
  }
  out += '}';
}

bool has_fields(const LogRecord& r) { return r.fields && r.fields->is_object() && !r.fields->empty(); }

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size();) {
    if (i + 16 <= s.size()) {  // 16 plain ASCII bytes at a time (no control, quote, backslash or high bit)
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
      const __m128i bad = _mm_or_si128(
          _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
          _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));  // signed: also every byte >= 0x80
      if (_mm_movemask_epi8(bad) == 0) {
        i += 16;
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (std::size_t n = utf8_length(s, i)) {
        i += n;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += "\xEF\xBF\xBD";  // invalid UTF-8
        }
    }
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
}

void append_text_category(std::string& out, std::string_view category) {
  if (category.find(']') == std::string_view::npos) return append_json_escaped(out, category);
  // A ']' as it is would end the category early when the line is read back ("we[ir]d" read as "we[ir"):
  // written as the JSON escape \u005d, which the reader decodes (and a line written before has no escape).
  std::string escaped;
  append_json_escaped(escaped, category);
  for (char c : escaped) {
    if (c == ']')
      out += "\\u005d";
    else
      out += c;
  }
}

void append_log_line(std::string& out, const LogRecord& r, LogFormat format) {
  const int level = r.level < 0 || r.level > 5 ? 2 : r.level;
  if (format == LogFormat::kText) {
    out += '[';
    out.append(second_prefix(r.ts_ms) + 11, 8);
    append_millis(out, r.ts_ms);
    out += "] ";
    out += kUpper[static_cast<std::size_t>(level)];
    out += " [";
    append_text_category(out, r.category);
    out += "] ";
    append_json_escaped(out, r.msg);  // one line: newlines and tabs become \n and \t
    if (!r.source.empty() || has_fields(r) || !r.trace_id.empty()) {
      out += "\t{\"source\":\"";
      append_json_escaped(out, r.source);
      out += '"';
      if (has_fields(r)) {
        out += ",\"fields\":";
        append_fields(out, *r.fields);
      }
      if (!r.trace_id.empty()) {
        append_string_field(out, "traceId", r.trace_id);
        if (!r.span_id.empty()) append_string_field(out, "spanId", r.span_id);  // (log_event: traceId alone)
      }
      out += '}';
    }
    out += '\n';
    return;
  }
  out += "{\"ts\":\"";
  out += second_prefix(r.ts_ms);
  append_millis(out, r.ts_ms);
  out += "Z\",\"level\":\"";
  out += log_level_names()[static_cast<std::size_t>(level)];
  out += '"';
  append_string_field(out, "category", r.category);
  append_string_field(out, "source", r.source);
  append_string_field(out, "msg", r.msg);
  out += ",\"fields\":";
  if (has_fields(r))
    append_fields(out, *r.fields);
  else
    out += "{}";
  out += ",\"pid\":";
  append_integer(out, r.pid);
  out += ",\"tid\":";
  append_integer(out, r.tid);
  if (!r.trace_id.empty()) {
    append_string_field(out, "traceId", r.trace_id);
    if (!r.span_id.empty()) append_string_field(out, "spanId", r.span_id);
  }
  out += "}\n";
}

namespace {
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
    } else if (std::size_t n = utf8_length(s, i)) {
      i += n;
    } else {
      return false;
    }
  }
  return true;
}
}  // namespace

nlohmann::json log_record_json(const LogRecord& r) {
  // What parsing the record's JSON line gives, built directly (that parse was a third of a log_event). Text
  // the line changes (invalid UTF-8 becomes U+FFFD) takes the long way, through the line itself.
  for (std::string_view text : {r.category, r.source, r.msg, r.trace_id, r.span_id}) {
    if (valid_utf8(text)) continue;
    std::string line;
    append_log_line(line, r, LogFormat::kJson);
    return nlohmann::json::parse(line);
  }
  const int level = r.level < 0 || r.level > 5 ? 2 : r.level;
  std::string ts = second_prefix(r.ts_ms);
  append_millis(ts, r.ts_ms);
  ts += 'Z';
  nlohmann::json j = {
      {"ts", std::move(ts)},    {"level", log_level_names()[static_cast<std::size_t>(level)]},
      {"category", r.category}, {"source", r.source},
      {"msg", r.msg},           {"fields", has_fields(r) ? *r.fields : nlohmann::json::object()},
      {"pid", r.pid},           {"tid", r.tid}};
  if (!r.trace_id.empty()) {
    j["traceId"] = r.trace_id;
    if (!r.span_id.empty()) j["spanId"] = r.span_id;
  }
  return j;
}

int log_level_index(std::string_view name) {
  std::string l(name);
  for (auto& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (l == "warning") l = "warn";
  const auto& names = log_level_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == l) return static_cast<int>(i);
  return -1;
}

namespace {
thread_local long t_tid = 0;  // 0: not looked up yet in this thread (or since fork())
}  // namespace

long current_tid() {
  if (t_tid == 0) t_tid = static_cast<long>(::syscall(SYS_gettid));
  return t_tid;
}

void forget_current_tid() { t_tid = 0; }

}  // namespace agentlog
