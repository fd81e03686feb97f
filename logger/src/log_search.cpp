#include "logger/log_search.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <immintrin.h>
#include <re2/re2.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>

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
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      // Gone (removed by retention since it was listed) is no damage; anything else is (no permission): a
      // file that cannot be read must not read as one without a match.
      if (errno != ENOENT) damage_ = std::string("it cannot be opened (") + std::strerror(errno) + ")";
      return;
    }
    ok_ = true;
    if (struct stat st{}; ::fstat(fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
      damage_ = "it is a directory, not a file";
      done_ = true;
      return;
    }
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0) {
      gz_ = gzdopen(fd_, "rb");
      if (!gz_) {
        damage_ = "it cannot be read (zlib: out of memory)";
        done_ = true;
        return;
      }
      fd_ = -1;  // (closed by gzclose)
      gzbuffer(gz_, 1 << 18);
      // zlib reads a file without the gzip header as it is: lines may still be there, but the archive is
      // not what its name says (copied over, or overwritten).
      if (gzdirect(gz_) == 1) damage_ = "it is not gzip data (read as plain text)";
    } else {
      ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    buf_.resize(kBlock + kMaxCarry);
  }
  ~BlockReader() {
    if (gz_) gzclose(gz_);
    if (fd_ >= 0) ::close(fd_);
  }
  // Opened (a file that is not there is not, and has no damage).
  bool ok() const { return ok_; }
  // What is wrong with a file that could not be read to its end ("" when nothing): the lines before the
  // damage were returned, the rest is lost to this reader.
  const std::string& damage() const { return damage_; }
  // The file's last change as of the latest read (a plain file; else 0): no line returned so far is newer.
  std::int64_t mtime_ms() const { return mtime_ms_; }

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
    if (gz_) {
      // In steps of 64 KiB: a read that meets damage returns nothing of what it inflated, so a smaller step
      // keeps more of the lines before the damage.
      std::size_t got = 0;
      while (got < n) {
        const auto step = static_cast<unsigned>(std::min<std::size_t>(n - got, 1 << 16));
        const int r = gzread(gz_, into + got, step);
        if (r > 0) got += static_cast<std::size_t>(r);
        if (r == static_cast<int>(step)) continue;  // (a short read is the end of the data, or damage)
        int err = Z_OK;
        const char* message = gzerror(gz_, &err);
        if (err != Z_OK && err != Z_STREAM_END && damage_.empty()) {
          std::string why = message ? message : "error";  // ("<path>: <what>")
          if (auto colon = why.rfind(": "); colon != std::string::npos) why = why.substr(colon + 2);
          damage_ = std::string(err == Z_BUF_ERROR ? "it is cut short" : "its compressed data is corrupt") +
                    " (zlib: " + why + ")";
        }
        break;
      }
      return got > 0 ? static_cast<long>(got) : 0;
    }
    while (true) {
      ssize_t r = ::read(fd_, into, n);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && damage_.empty()) damage_ = std::string("reading it failed (") + std::strerror(errno) + ")";
      // (After the read: a line read was written before this time. One fstat per block of 1 MiB.)
      if (struct stat st{}; ::fstat(fd_, &st) == 0)
        mtime_ms_ = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
      return static_cast<long>(r);
    }
  }
  gzFile gz_ = nullptr;
  int fd_ = -1;
  bool ok_ = false, done_ = false;
  std::string damage_;
  std::int64_t mtime_ms_ = 0;
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

}  // namespace

// "[14:30:25.100] INFO [api] GET /x - 200 OK (61ms)\t{"source":...,"fields":{...}}" -> a record. The text
// form has no date: a line's is the last date at which its time of day is not after `end_ms`, the newest a
// line of its file can be (for latest.log, the file's last change when the line was read; for an archive,
// its rotation). A file that spans more than a day (LOG_ROTATE_INTERVAL=weekly or none) gives its older
// lines a date too late: only the time of day is in the line.
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
    // The first ']' ends the category: the writer escapes one inside it (\u005d, see append_text_category).
    // A line written before that escape was not in use reads as it did.
    auto cat_end = line.find(']', m);
    if (cat_end != std::string_view::npos) {
      std::string_view category = line.substr(m + 1, cat_end - m - 1);
      json decoded = category.find('\\') == std::string_view::npos
                         ? json()
                         : json::parse("\"" + std::string(category) + "\"", nullptr, false);
      r["category"] = decoded.is_string() ? decoded.get<std::string>() : std::string(category);
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

namespace {

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

// `s` cut to at most `max` bytes at a UTF-8 character boundary, with how much was left out and `where`
// (file:line) the whole line is.
bool cut_text(std::string& s, std::size_t max, const std::string& where) {
  if (s.size() <= max) return false;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  const std::size_t left = s.size() - end;
  s.resize(end);
  s += "... [" + std::to_string(left) + " bytes cut: the whole line is at " + where + "]";
  return true;
}

bool cut_strings(json& v, const std::string& where) {
  bool cut = false;
  if (v.is_string()) return cut_text(v.get_ref<std::string&>(), kMaxFieldStringBytes, where);
  if (v.is_structured())
    for (auto& item : v) cut = cut_strings(item, where) || cut;
  return cut;
}

// Cuts an oversized message or fields of a match (its file and line set); whether anything was cut.
bool cut_match(json& m) {
  const std::string where = m["file"].get<std::string>() + ":" + std::to_string(m["line"].get<long long>());
  bool cut = cut_text(m["msg"].get_ref<std::string&>(), kMaxMsgBytes, where);
  json& fields = m["fields"];
  if (fields.dump().size() > kMaxFieldsBytes) {
    cut = cut_strings(fields, where) || cut;
    if (std::string text = fields.dump(-1, ' ', false, json::error_handler_t::replace);
        text.size() > kMaxFieldsBytes) {
      cut_text(text, kMaxFieldsBytes, where);
      fields = json{{"truncatedFields", text}};  // too many to keep as they are: their JSON text, cut
      cut = true;
    }
  }
  if (cut) m["truncated"] = true;
  return cut;
}

// The number, boolean or null that a string spells as JSON ("100", "1e2", "true"; not " 100"), else nullopt.
std::optional<json> spelled_scalar(const std::string& text) {
  if (text.empty() || std::isspace(static_cast<unsigned char>(text.back())) ||
      std::string_view("-0123456789tfn").find(text.front()) == std::string_view::npos)
    return std::nullopt;
  json v = json::parse(text, nullptr, false);
  if (v.is_discarded() || v.is_string() || !v.is_primitive()) return std::nullopt;
  return v;
}

// Field equality, one rule for every caller (MCP's JSON, the CLI's --field read as JSON, HTTP's text, saved
// filters): JSON equality (100, 100.0 and 1e2 are equal), and a string equals the number, boolean or null it
// spells, either way ("100" and 100, "true" and true): a value's type is not always the logger's.
bool field_equal(const json& have, const json& want) {
  if (have == want) return true;
  if (have.is_string() == want.is_string() || !have.is_primitive() || !want.is_primitive()) return false;
  const auto spelled = spelled_scalar((have.is_string() ? have : want).get_ref<const std::string&>());
  return spelled && *spelled == (have.is_string() ? want : have);
}

// Whether `fields` holds `name` = `want`: the key `name` itself, or else, for a dotted name, any walk of
// nested objects ("user.id" is fields.user.id; a key holding a dot, {"user": {"x.y": 1}}, is found as
// "user.x.y" too). A record with both a key "user.id" and {"user": {"id": ...}} matches either value.
bool field_matches(const json& fields, std::string_view name, const json& want) {
  if (!fields.is_object()) return false;
  if (auto it = fields.find(name); it != fields.end() && field_equal(*it, want)) return true;
  for (std::size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
    auto it = fields.find(name.substr(0, dot));
    if (it != fields.end() && it->is_object() && field_matches(*it, name.substr(dot + 1), want)) return true;
  }
  return false;
}

// Where a number may be spelled other than with the plain digits of its value (see number_literal): an 'e'
// or 'E' between a digit and a digit or sign (1.45e3), a run of 8 digits (a number of 16 significant digits
// and more has one: 1449.9999999999999999 is 1450 as a double), or a \u escape (a string may spell a digit
// so). An offset in the first line holding one, or kNotFound.
std::size_t find_odd_number_scalar(const char* p, std::size_t n) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(p[i]);
    if (static_cast<unsigned>(c - '0') < 10u) {
      if (++run == 8) return i;
      continue;
    }
    if ((c | 0x20) == 'e' && run > 0 && i + 1 < n &&
        (static_cast<unsigned>(static_cast<unsigned char>(p[i + 1]) - '0') < 10u || p[i + 1] == '+' ||
         p[i + 1] == '-'))
      return i;
    if (c == '\\' && i + 1 < n && p[i + 1] == 'u') return i;
    run = 0;
  }
  return kNotFound;
}

// Masks of 64 bytes: digits, 'e'/'E', '+'/'-', '\\' and 'u'.
struct NumberMasks {
  std::uint64_t digit = 0, exp = 0, sign = 0, backslash = 0, u = 0;
};
__attribute__((target("avx2"))) std::uint64_t byte_mask(__m256i eq, int shift) {
  return std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(eq))} << shift;
}
__attribute__((target("avx2"))) void add_number_masks(const char* at, int shift, NumberMasks& m) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at));
  const __m256i d = _mm256_sub_epi8(x, _mm256_set1_epi8('0'));
  m.digit |= byte_mask(_mm256_cmpeq_epi8(_mm256_min_epu8(d, _mm256_set1_epi8(9)), d), shift);
  m.exp |=
      byte_mask(_mm256_cmpeq_epi8(_mm256_or_si256(x, _mm256_set1_epi8(0x20)), _mm256_set1_epi8('e')), shift);
  m.sign |= byte_mask(_mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('+')),
                                      _mm256_cmpeq_epi8(x, _mm256_set1_epi8('-'))),
                      shift);
  m.backslash |= byte_mask(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\\')), shift);
  m.u |= byte_mask(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('u')), shift);
}

// The same 64 bytes at a time (a scalar pass cost a number equality 2.5x its time): a hit is reported at the
// start of a run, at its 'e' or at its '\\', for offsets 0-56 of each window (windows overlap by 8 bytes, so
// every offset is one of those of some window, with the 7 bytes after it and the one before it in that
// window).
__attribute__((target("avx2"))) std::size_t find_odd_number_avx2(const char* p, std::size_t n) {
  std::size_t i = 0;
  for (; i + 64 <= n; i += 56) {
    NumberMasks m;
    add_number_masks(p + i, 0, m);
    add_number_masks(p + i + 32, 32, m);
    std::uint64_t run = m.digit & m.digit >> 1;
    run &= run >> 2;
    run &= run >> 4;  // bit j: bytes j..j+7 are digits
    const std::uint64_t exponent = m.exp & m.digit << 1 & (m.digit | m.sign) >> 1;
    const std::uint64_t hits = (run | exponent | (m.backslash & m.u >> 1)) & ((std::uint64_t{1} << 57) - 1);
    if (hits) return i + static_cast<std::size_t>(__builtin_ctzll(hits));
  }
  // The rest (from 8 bytes back: a run or an 'e' there was looked at whole above, so a hit is not before i).
  const std::size_t from = i >= 8 ? i - 8 : 0;
  const std::size_t hit = find_odd_number_scalar(p + from, n - from);
  return hit == kNotFound ? kNotFound : from + hit;
}

const bool kOddNumberAvx2 = __builtin_cpu_supports("avx2");

std::size_t find_odd_number(const char* p, std::size_t n) {
  return kOddNumberAvx2 ? find_odd_number_avx2(p, n) : find_odd_number_scalar(p, n);
}

// Text that every spelling of the number `v` without an exponent and with at most 15 significant digits
// holds: |v| as nlohmann writes it, without a trailing ".0" (1450 is also 1450.0 and "1450.00"; decimals of
// up to 15 digits that are one double are one number). "" when |v| itself is written otherwise.
std::string number_literal(const json& v) {
  std::string text = v.dump();
  if (!text.empty() && text[0] == '-') text.erase(0, 1);
  if (text.find_first_of("eE") != std::string::npos) return "";
  if (text.size() > 2 && text.ends_with(".0")) text.resize(text.size() - 2);
  const std::size_t first = text.find_first_not_of("0.");
  const std::size_t digits =
      first == std::string::npos ? 0 : text.size() - first - (text.find('.', first) != std::string::npos);
  return digits <= 15 ? text : "";
}

// Literals of which a line matching the first field equality holds one (a pre-filter: never one that
// field_equal would match without it): a string as JSON writes it, a boolean or null bare (a string spelling
// one, "true", is the same text), a number (or a string spelling one) by number_literal, with `odd_numbers`
// set: lines where find_odd_number finds a place are looked at too. Else the quoted key, or for a dotted
// name, which may be nested objects, its last part and closing quote (every key a nested walk can end at ends
// so). Not "key":value: lines of other programs may have spaces around the colon.
std::vector<std::string> field_literals(const json& fields, bool& odd_numbers) {
  odd_numbers = false;
  if (!fields.is_object() || fields.empty()) return {};
  const auto first = fields.begin();
  const std::string& name = first.key();
  std::string key = name.find('.') == std::string::npos ? "\"" : "";
  append_json_escaped(key, name.substr(name.find('.') == std::string::npos ? 0 : name.rfind('.') + 1));
  key += '"';
  const json& value = first.value();
  std::vector<std::string> out;
  const auto spelled = value.is_string() ? spelled_scalar(value.get<std::string>()) : std::nullopt;
  if (const json& number = spelled ? *spelled : value; number.is_number()) {
    if (std::string digits = number_literal(number); digits.size() >= 3) {
      out = {digits};
      odd_numbers = true;
    }
  } else if (value.is_string()) {
    out.emplace_back();
    append_json_escaped(out.back(), value.get<std::string>());
    // A nested value is written by nlohmann, whose escapes differ for \b and \f.
    if (std::string nested = json(value).dump(-1, ' ', false, json::error_handler_t::replace);
        nested.substr(1, nested.size() - 2) != out.back())
      out.push_back(nested.substr(1, nested.size() - 2));
  } else if (value.is_boolean() || value.is_null()) {
    out.push_back(value.dump());
  }
  const bool short_literal =
      std::any_of(out.begin(), out.end(), [](const std::string& l) { return l.size() < 3; });
  if (out.empty() || short_literal) {
    odd_numbers = false;
    return {key};
  }
  return out;
}

struct LogFile {
  fs::path path;
  std::string archive;  // its archive folder's name; "" for latest.log
  std::int64_t end_ms;  // lines are not newer than this (for latest.log, see BlockReader::mtime_ms)
};

// The files to search, newest first: latest.log, then archives by folder name (a timestamp) descending. In
// an archive being compressed, the finished .gz wins over the plain file; temporary files are skipped.
std::vector<LogFile> log_files(const ProjectLayout& layout) {
  std::vector<LogFile> out;
  if (fs::exists(layout.latest_log())) out.push_back({layout.latest_log(), "", system_ms()});
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
    std::int64_t end = archive_time(name);
    if (end >= 0) end += 999;                                         // (the name is of a second)
    if (struct stat st{}; end < 0 && ::stat(path.c_str(), &st) == 0)  // (a folder not named by agentlog)
      end = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
    out.push_back({path, name, end < 0 ? system_ms() : end});
  }
  return out;
}

// A file's last change as the newest time a text-form line read from it can have: file times come from the
// kernel's coarse clock (up to a tick behind the clock a writer stamps its lines with), hence the margin.
constexpr std::int64_t kMtimeMarginMs = 1000;

// Where the next page starts: the first match not returned yet, by file and line. A file is named by its
// archive folder, or, for latest.log, by the newest archive folder there was then: when latest.log has
// rotated since, it is the oldest archive newer than that one. Lines written after the first page (in
// latest.log or in files rotated out since) are after the cursor and never shift a page, as a count of
// matches to skip did ("m:N" repeated the last line of a page after one new line). latest.log's cursor also
// holds a hash of its first line: when retention removed the archive it was rotated to, the oldest newer
// archive is another file, whose lines came after the first page (they were returned as older ones).
//   L:<line>:<newest archive or "">:<first line's hash>    A:<line>:<archive>
struct Cursor {
  bool latest = false;
  std::string archive;
  long long line = 0;
  std::string first_line;  // (L: only; "" in a cursor of an earlier agentlog: not checked)
};

// FNV-1a of latest.log's first line, as 16 hex digits: names that file after it is rotated and renamed.
std::string first_line_hash(std::string_view line) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char c : line) h = (h ^ c) * 1099511628211ULL;
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

Cursor parse_cursor(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return LogQueryError("logs.bad_cursor", "The cursor '" + text + "' " + why +
                                                ": pass nextCursor of the previous page as it is, or omit "
                                                "cursor to start from the newest match");
  };
  if (text.rfind("m:", 0) == 0) throw bad("is from an earlier agentlog (it counted matches)");
  const std::size_t c1 = text.find(':'), c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos || (text.substr(0, c1) != "L" && text.substr(0, c1) != "A"))
    throw bad("was not returned by search_logs");
  Cursor c;
  c.latest = text[0] == 'L';
  const std::string_view number(text.data() + c1 + 1, c2 - c1 - 1);
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), c.line);
  if (number.empty() || number[0] == '-' || number[0] == '+' || ec != std::errc() ||
      end != number.data() + number.size() || c.line < 1)
    throw bad("has no valid line number (a whole number from 1 to " +
              std::to_string(std::numeric_limits<long long>::max()) + ")");
  c.archive = text.substr(c2 + 1);
  if (const std::size_t c3 = c.archive.find(':'); c.latest && c3 != std::string::npos) {
    c.first_line = c.archive.substr(c3 + 1);
    c.archive.resize(c3);
    if (c.first_line.size() != 16 || c.first_line.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw bad("has no valid hash of latest.log's first line (16 hex digits)");
  }
  const bool name_ok =
      c.archive.size() <= 128 && std::all_of(c.archive.begin(), c.archive.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.';
      });
  if (!name_ok || (!c.latest && c.archive.empty())) throw bad("names no archive folder");
  return c;
}

std::string cursor_text(const LogFile& file, long long line, const std::string& newest_archive,
                        const std::string& latest_first_line) {
  if (file.archive.empty())
    return "L:" + std::to_string(line) + ":" + newest_archive +
           (latest_first_line.empty() ? "" : ":" + latest_first_line);
  return "A:" + std::to_string(line) + ":" + file.archive;
}

// The file a cursor points into is gone: the next page would be other lines (newer ones, or none at all).
LogQueryError cursor_expired(const std::string& cursor, const std::string& what) {
  return LogQueryError("logs.cursor_expired", "The lines the cursor '" + cursor +
                                                  "' points at are gone: " + what +
                                                  ". Search again without cursor (newest first); those lines "
                                                  "cannot be read any more");
}
constexpr const char* kByRetention =
    "was removed by retention (LOG_MAX_ARCHIVES, LOG_RETENTION_DAYS or LOG_MAX_TOTAL_MB) since the previous "
    "page";

}  // namespace

void apply_saved_filter(const ProjectLayout& layout, const std::string& name, LogQuery& q) {
  auto text = read_file(layout.filters());
  json filters = json::object();
  if (text) {
    // The agent edits this file: a mistake in it is named, with where the parser stopped (it read as "no
    // saved filter 'errors'", which sent the agent looking for a name it had spelled right).
    try {
      filters = json::parse(*text);
    } catch (const json::parse_error& e) {
      std::string why = e.what();
      if (auto at = why.find("parse error"); at != std::string::npos) why = why.substr(at);
      throw LogQueryError("logs.bad_filters_file",
                          "config/filters.json is not valid JSON (" + why + ", byte " +
                              std::to_string(e.byte) +
                              "): fix it there (a trailing comma, a missing quote or brace?), or search "
                              "with the filter's values as arguments meanwhile");
    }
    if (!filters.is_object())
      throw LogQueryError("logs.bad_filters_file",
                          "config/filters.json holds " + std::string(filters.type_name()) +
                              ", not an object of saved filters: write it as {\"errors\": {\"level\": "
                              "\"error\"}, ...}");
  }
  if (!filters.contains(name)) {
    std::string known;
    for (const auto& [k, v] : filters.items()) known += (known.empty() ? "" : ", ") + k;
    throw LogQueryError("logs.unknown_filter",
                        "No saved filter '" + name +
                            "' in config/filters.json; saved filters: " + (known.empty() ? "none" : known));
  }
  // A saved filter that is not what search reads is an error naming what is wrong: a misspelled key or a
  // value of another type was passed over, and the filter then matched every line.
  const json& f = filters[name];
  const std::string where = "saved filter '" + name + "' of config/filters.json";
  static const char* const kStringKeys[] = {"query",  "regex", "level", "category",
                                            "source", "since", "until", "description"};
  const char* const accepted =
      "query, regex, level, category, source, since, until (strings), fields (an object of equalities), "
      "description";
  auto shown = [](const json& value) {  // (a long value cut at a UTF-8 character boundary)
    std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    if (std::size_t end = 57; text.size() > 60) {
      while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
      text = text.substr(0, end) + "...";
    }
    return std::string(value.type_name()) + " " + text;
  };
  if (!f.is_object())
    throw LogQueryError("logs.bad_filters_file",
                        "The " + where + " holds " + shown(f) +
                            ", not an object: write it as {\"level\": \"error\", \"category\": \"api\"} "
                            "with any of " +
                            accepted);
  for (const auto& [key, value] : f.items()) {
    const bool string_key =
        std::any_of(std::begin(kStringKeys), std::end(kStringKeys), [&](const char* k) { return key == k; });
    if (!string_key && key != "fields")
      throw LogQueryError("logs.bad_filters_file",
                          "Unknown key '" + key + "' in the " + where + ": use " + accepted);
    if (string_key ? value.is_string() : value.is_object()) continue;
    throw LogQueryError(
        "logs.bad_filters_file",
        "The key '" + key + "' of the " + where + " holds " + shown(value) + ", not " +
            (string_key ? "a string: write it as \"" + key + "\": \"...\""
                        : std::string("an object of equalities: {\"reqId\": \"req-abc-123\"}")));
  }
  auto take = [&](const char* key, std::string& into) {
    if (into.empty() && f.contains(key)) into = f[key].get<std::string>();
  };
  take("query", q.query);
  take("regex", q.regex);
  take("level", q.level);
  take("category", q.category);
  take("source", q.source);
  take("since", q.since);
  take("until", q.until);
  if (f.contains("fields"))
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
  const std::optional<Cursor> cursor =
      q.cursor.empty() ? std::nullopt : std::optional(parse_cursor(q.cursor));
  const std::size_t limit = static_cast<std::size_t>(std::clamp(q.limit, 1, 1000));
  const std::size_t want = limit + 1;  // one more tells whether there is a next page, and where it starts

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
      auto fields = r.find("fields");
      if (fields == r.end() || !field_matches(*fields, k, v)) return false;
    }
    return true;
  };

  // Literals of which a matching line holds at least one, looked for first in each block (like grep). The
  // level and category literals assume agentlog's own line layout, which is what logs/ holds.
  std::vector<std::string> any_of;
  bool odd_numbers = false;  // and the lines where find_odd_number finds a place (a number equality)
  if (!q.query.empty()) {
    any_of = {q.query};
    if (!query_escaped.empty()) any_of.push_back(query_escaped);
  } else if (std::string lit = re ? required_literal(q.regex) : ""; lit.size() >= 3) {
    // A message with escapes (\" \\ \n ...) is stored differently from how the regex sees it: lines with a
    // backslash are always looked at too.
    any_of = {lit, "\\"};
  } else if (std::vector<std::string> lits = field_literals(q.fields, odd_numbers); !lits.empty()) {
    any_of = std::move(lits);
  } else if (std::string prefix = q.source.substr(0, q.source.find_first_of("*?[\\")); prefix.size() >= 3) {
    any_of = {""};  // the glob's literal start, as JSON stores it (json and text forms alike)
    append_json_escaped(any_of.back(), prefix);
  } else if (!re && !q.category.empty() && min_level < 3) {  // (with a high level, the level scan is faster)
    std::string escaped, text_form = "[";
    append_json_escaped(escaped, q.category);
    append_text_category(text_form, q.category);  // (a ']' in it is escaped there)
    any_of = {"\"category\":\"" + escaped + "\"", text_form + "]"};
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
    std::int64_t end_ms;  // the newest its file's lines could be when it was read (see parse_text_line)
  };
  json matches_out = json::array();
  std::size_t total = 0, page_bytes = 0;  // matches of this page looked at (returned, or not parsing)
  json next_cursor = nullptr;             // the first match left out: for `limit`, or for the byte budget
  bool page_full = false;
  long long truncated = 0;
  long long scanned = 0, torn_lines = 0;
  json damaged = json::array();
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
    if (!files.empty() && files.front().archive.empty())
      latest_reader = std::make_unique<BlockReader>(files.front().path);
    if (lock >= 0) ::close(lock);  // (releases the lock)
  }
  std::string newest_archive;
  for (const auto& f : files)
    if (!f.archive.empty()) {
      newest_archive = f.archive;
      break;
    }
  // With a cursor: files newer than the cursor's are passed over (their lines came after the first page),
  // the cursor's file is read up to its line, older files whole.
  std::size_t first_file = 0, bounded_file = files.size();
  if (cursor && !cursor->latest) {
    while (first_file < files.size() && (files[first_file].archive.empty() ||
                                         archive_name_less(cursor->archive, files[first_file].archive)))
      ++first_file;
    if (first_file < files.size() && files[first_file].archive == cursor->archive) bounded_file = first_file;
  } else if (cursor) {  // latest.log then: now the oldest archive newer than the newest one then, if any
    std::size_t newer = 0;
    while (newer < files.size() &&
           (files[newer].archive.empty() || archive_name_less(cursor->archive, files[newer].archive)))
      ++newer;
    if (newer > 0)
      bounded_file = first_file = newer - 1;  // (latest.log itself when it has not rotated)
    else if (!cursor->first_line.empty())
      throw cursor_expired(q.cursor,
                           "latest.log, which held them, is not there any more and was not rotated");
  }
  if (cursor && !cursor->latest && bounded_file == files.size())
    throw cursor_expired(q.cursor, "the archive " + cursor->archive + " that held them " + kByRetention);
  std::string latest_first_line;  // (for a cursor into latest.log: see Cursor)
  for (std::size_t index = first_file; index < files.size() && next_cursor.is_null(); ++index) {
    const LogFile& file = files[index];
    const long long bound =
        index == bounded_file ? cursor->line : std::numeric_limits<long long>::max();  // the last line read
    if (!q.since.empty() && !file.archive.empty() && iso8601_ms(file.end_ms) < q.since) break;  // older still
    std::unique_ptr<BlockReader> opened = file.archive.empty() && latest_reader
                                              ? std::move(latest_reader)
                                              : std::make_unique<BlockReader>(file.path);
    // An archive compressed since it was listed: its .gz holds the same lines.
    fs::path read_path = file.path;
    if (!opened->ok() && opened->damage().empty() && file.path.extension() == ".log") {  // (not: unreadable)
      read_path += ".gz";
      opened = std::make_unique<BlockReader>(read_path);
    }
    // A cursor into latest.log names its file by the first line (see Cursor).
    const bool check_first_line = index == bounded_file && cursor->latest && !cursor->first_line.empty();
    auto expired = [&] {
      return cursor_expired(q.cursor, file.archive.empty()
                                          ? "latest.log was emptied or replaced since the previous page"
                                          : "the file that held them (latest.log then, rotated since) " +
                                                std::string(kByRetention));
    };
    // A file not read to its end: named, with the lines searched before the damage.
    auto note_damage = [&](const BlockReader& r, long long lines_read) {
      damaged.push_back(
          {{"file", layout.relative(read_path)}, {"problem", r.damage()}, {"linesRead", lines_read}});
    };
    if (!opened->ok()) {
      if (!opened->damage().empty())  // (no permission): none of its lines were searched
        note_damage(*opened, 0);
      else if (index == bounded_file)
        throw expired();
      continue;  // removed by retention since it was listed
    }
    BlockReader& reader = *opened;
    std::deque<Found> found;  // newest first within a file: its last `want - total` matches
    long long line_no = 0;    // lines before the current position
    std::string_view block, torn;
    bool first_block = true;
    while (line_no < bound && reader.next(block, torn)) {
      if (first_block && (file.archive.empty() || check_first_line)) {
        const std::string hash = block.empty() ? "" : first_line_hash(block.substr(0, block.find('\n')));
        if (file.archive.empty()) latest_first_line = hash;
        if (check_first_line && hash != cursor->first_line) throw expired();
      }
      first_block = false;
      if (!torn.empty()) {  // a writer was killed mid-line, or is writing it now (or a damaged archive)
        if (reader.damage().empty()) {
          ++line_no;
          ++torn_lines;
        }
        break;
      }
      const char* base = block.data();
      const std::size_t size = block.size();
      // latest.log grows while it is read: its lines are dated by its last change as of this block.
      const std::int64_t end_ms =
          file.archive.empty() && reader.mtime_ms() > 0 ? reader.mtime_ms() + kMtimeMarginMs : file.end_ms;
      std::size_t counted = 0;  // newlines before `counted` are in line_no
      auto consider = [&](std::size_t start, std::size_t end) {
        line_no += static_cast<long long>(count_newlines(base + counted, start - counted));
        counted = start;
        if (line_no >= bound) return;
        std::string_view line(base + start, end - start);
        std::optional<json> rec;
        if (!matches(line, end_ms, rec)) return;
        found.push_back({std::string(line), std::move(rec), line_no + 1, end_ms});
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
      auto collect = [&](std::string_view lit, auto find) {
        for (std::size_t pos = 0; pos < size;) {
          std::size_t hit = find(base + pos, size - pos, lit);
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
        for (const auto& lit : any_of) collect(lit, find_literal);
        if (odd_numbers)
          collect("", [](const char* p, std::size_t n, std::string_view) { return find_odd_number(p, n); });
        consider_collected();
      } else if (regex_blocks) {  // the regex over the block, and every line with escapes (see above)
        re2::StringPiece match;
        while (pos < size && re->Match(re2::StringPiece(base, size), pos, size, RE2::UNANCHORED, &match, 1)) {
          const std::size_t hit =
              std::min<std::size_t>(static_cast<std::size_t>(match.data() - base), size - 1);
          starts.push_back(std::max(pos, line_start(hit)));
          pos = line_end(hit) + 1;
        }
        collect("\\", find_literal);
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
    if (check_first_line && first_block && reader.damage().empty()) throw expired();  // (empty now)
    scanned += line_no;
    if (!reader.damage().empty()) note_damage(reader, line_no);
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (total == limit) {
        next_cursor = cursor_text(file, it->number, newest_archive, latest_first_line);
        break;
      }
      if (!it->rec) it->rec = parse(it->line, it->end_ms);
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
        next_cursor = cursor_text(file, it->number, newest_archive, latest_first_line);
        page_full = true;
        break;
      }
      page_bytes += bytes;
      truncated += cut;
      matches_out.push_back(std::move(m));
      ++total;
    }
  }
  json out = {{"matches", matches_out},
              {"nextCursor", std::move(next_cursor)},
              {"scannedLines", scanned},
              {"tornLines", torn_lines},
              {"corruptLines", corrupt}};
  if (page_full) out["pageFull"] = true;  // fewer than `limit` matches: the page reached its byte budget
  if (truncated > 0) out["truncatedMatches"] = truncated;
  if (!damaged.empty()) out["damagedFiles"] = std::move(damaged);  // (a .gz archive not readable to its end)
  return out;
}

}  // namespace agentlog
