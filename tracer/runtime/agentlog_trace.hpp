// agentlog tracing runtime: header-only, standard library only, C++11 to C++20, g++ and clang++.
//
// Instrumented code, as `agentlog instrument` writes it. It adds no line, so that the lines spans name are
// the original file's: the include takes an empty line's place, the rest goes on existing lines, and every
// piece is marked (`/* agentlog */` after an inserted statement, `// agentlog` at the end of a changed line):
//
//   #include "../.ai-agents/logging/runtime/agentlog_trace.hpp" // agentlog: was an empty line
//   std::string greet(int id, const std::string& name) { AGENTLOG_SPAN(2, id, name); /* agentlog */
//     ...                                          ceiling level, then the parameters to capture
//     return AGENTLOG_RETURN(name + "!"); // agentlog   records the value, passes it through unchanged
//   }
//
// AGENTLOG_RETURN evaluates its expression in a lambda, so a value is built where the function returns it (no
// copy, no move). `AGENTLOG_RETURN_AS(int, c)` records the value converted to the function's arithmetic type
// (`return 'A';` in a function that returns int records 65). `AGENTLOG_SPAN(2, id, AGENTLOG_PACK(args))`
// records a parameter pack as an array; `AGENTLOG_SPAN_AT(7, 2, id)` names line 7 (the function's name, when
// its body opens on a later line) instead of its own. At level 3, `AGENTLOG_WRAP [&] { ... }` before a lambda
// given to another thread (std::thread, std::async) runs it under the context it was made in. Programs may be
// built with -fno-exceptions and -fno-rtti.
//
// Levels: 1 entry/exit + timing (+ error flag on exceptions); 2 + parameters, return values, exception type
// and what(); 3 + cross-thread context (current_context / ContextScope / wrap) and lambdas; 4 + AGENTLOG_VAR
// / AGENTLOG_CHECKPOINT events; 5 + AGENTLOG_LINE statement events. The level in the file is a ceiling: the
// span records at min(ceiling, tracing.config.json for its function, else its file, else
// TRACING_DEFAULT_LEVEL, TRACING_MAX_LEVEL). Parent/child links within a thread are recorded at every level.
//
// Configuration: the project is found from $AGENTLOG_ROOT or by walking up from the working directory to a
// folder holding .ai-agents/logging (none found: nothing is recorded). .ai-agents/logging/config/.env.tracing
// is read at start (TRACING_ENABLED, TRACING_DEFAULT_LEVEL, TRACING_SAMPLE_RATE, TRACING_MAX_DEPTH,
// TRACING_MAX_CAPTURE_SIZE, TRACING_REDACT, TRACING_BUFFER_MB, TRACING_FULL_WAIT_MS, TRACING_FORMAT,
// TRACING_MAX_LEVEL);
// config/tracing.config.json is re-read within a second of a change. Environment variables of the same names
// override the file (useful in tests).
//
// Recording: each thread appends fixed-layout records (40 bytes at level 1; from level 2 the captured values
// follow as tagged items, formatted by the writer) to its own lock-free ring. One background writer formats
// them as JSON lines into
// .ai-agents/logging/traces/YYYY-MM-DD/<pid>-<startEpochMs>.jsonl every few milliseconds (SIGKILL loses at
// most that), at exit(), at return from main, and in std::terminate. With TRACING_FORMAT=binary it copies the
// records to <pid>-<startEpochMs>.bin instead, and agentlog (SpanFileConverter below) writes the same JSON
// lines, as the file grows or once the program has stopped. A full ring makes the thread wait at most
// TRACING_FULL_WAIT_MS (default 100) and then drops the span and counts it (agentlog::stats()); past half
// full it wakes the writer at once. A fork child starts its own file.
//
// Cost: a span whose tracing is off costs one relaxed atomic load and a branch. Captures are evaluated
// only when the span is recorded at level >= 2.
//
// Compile with -DAGENTLOG_DISABLE to turn every macro into nothing (AGENTLOG_RETURN passes its value
// through).
#ifndef AGENTLOG_TRACE_HPP
#define AGENTLOG_TRACE_HPP

#include <utility>

#if defined(AGENTLOG_DISABLE)

#define AGENTLOG_SPAN(...) static_cast<void>(0)
#define AGENTLOG_SPAN_AT(line, ...) static_cast<void>(0)
#define AGENTLOG_RETURN(...) (__VA_ARGS__)
#define AGENTLOG_RETURN_AS(type, ...) (__VA_ARGS__)
#define AGENTLOG_RETURN_VALUE(x) static_cast<void>(0)
#define AGENTLOG_VAR(x) static_cast<void>(0)
#define AGENTLOG_PACK(pack) static_cast<void>(0)
#define AGENTLOG_WRAP
#define AGENTLOG_CHECKPOINT(label) static_cast<void>(0)
#define AGENTLOG_LINE(n) static_cast<void>(0)

#else  // !AGENTLOG_DISABLE

#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <vector>
#if __cplusplus >= 201703L
#include <optional>
#include <string_view>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#if defined(__GNUC__)
#define AGENTLOG_LIKELY(x) __builtin_expect(!!(x), 1)
#define AGENTLOG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AGENTLOG_NOINLINE __attribute__((noinline))
#define AGENTLOG_INLINE __attribute__((always_inline)) inline
#else
#define AGENTLOG_LIKELY(x) (x)
#define AGENTLOG_UNLIKELY(x) (x)
#define AGENTLOG_NOINLINE
#define AGENTLOG_INLINE inline
#endif

// Programs built with -fno-exceptions: an allocation that fails aborts, as `new` does in them.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define AGENTLOG_BAD_ALLOC() throw std::bad_alloc()
#else
#define AGENTLOG_BAD_ALLOC() std::abort()
#endif

// The header is included into the program's own files, under its warning flags: casts kept for 32-bit targets
// are "useless" to g++'s -Wuseless-cast on 64-bit ones.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuseless-cast"
#endif

namespace agentlog {

// A position in a trace that can be carried to another thread (level 3).
struct Context {
  std::uint64_t trace_hi = 0, trace_lo = 0;      // W3C trace id, 0/0 = none
  std::uint64_t span = 0;                        // the parent for spans started under this context
  std::shared_ptr<const std::string> custom_id;  // a trace id set by the program (ScopedTrace)
  bool sampled = true;
  bool valid() const { return trace_hi != 0 || trace_lo != 0 || custom_id; }
};

struct Stats {
  std::uint64_t recorded = 0;  // spans written to the file
  std::uint64_t dropped = 0;   // spans lost to a full buffer
  std::uint64_t waited = 0;    // times a thread waited for buffer space
  std::uint64_t buffers = 0;   // thread buffers made (each touched page by page, on a thread or ahead)
  std::uint64_t reused = 0;  // threads that got a buffer made before them: a thread's that ended, or one made
                             // ahead by the writer
};

class Span;

namespace detail {

// ---------------------------------------------------------------------------------------------- clock
inline std::uint64_t ticks() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
}
inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------------------------------------ globals
// State: -1 not yet initialised, 0 off, 1 on. Header-only globals through a template's static members.
template <class Unused = void>
struct Globals {
  static std::atomic<int> state;
  static std::atomic<unsigned> generation;  // bumped when the config changes; sites re-resolve their level
};
template <class U>
std::atomic<int> Globals<U>::state(-1);
template <class U>
std::atomic<unsigned> Globals<U>::generation(1);

// One instrumented function (a static local at the call site, constant-initialised: no guard).
struct SiteInfo;
struct Site {
  const char* pretty;  // __PRETTY_FUNCTION__
  const char* file;    // __FILE__
  int line;
  std::atomic<std::uint32_t> id;     // info->id, for the span's record without a load of info
  const char* args;                  // "#__VA_ARGS__" of AGENTLOG_SPAN: "2, id, name"
  std::atomic<unsigned> generation;  // level (and id) are set for this configuration generation
  std::atomic<int> level;            // effective level for this generation (0 = off)
  std::atomic<SiteInfo*> info;
  constexpr Site(const char* p, const char* f, int l, const char* a)
      : pretty(p), file(f), line(l), id(0), args(a), generation(0), level(0), info(nullptr) {}
};

int resolve_level(Site& site);  // slow path: parse the site once, look the config up

inline int site_level(Site& site) {
  if (AGENTLOG_LIKELY(site.generation.load(std::memory_order_acquire) ==
                      Globals<>::generation.load(std::memory_order_relaxed)))
    return site.level.load(std::memory_order_relaxed);
  return resolve_level(site);
}

// ------------------------------------------------------------------------------------ json helpers
// The length of the valid UTF-8 sequence at p (n bytes left; p[0] >= 0x80), else 0.
AGENTLOG_NOINLINE inline std::size_t utf8_sequence(const unsigned char* p, std::size_t n) {
  const unsigned char c = p[0];
  std::size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  for (std::size_t k = 1; k < len; ++k)
    if ((p[k] & 0xc0) != 0x80) return 0;
  if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
      (c == 0xf4 && p[1] > 0x8f))
    return 0;  // overlong, a surrogate, past U+10FFFF
  return len;
}

// Characters that need no escape are appended in runs, not one by one. A byte that is not part of valid UTF-8
// (binary data in a std::string) becomes U+FFFD: the line stays valid JSON.
inline void put_escaped(std::string& o, const char* s, std::size_t n) {
  static const char hex[] = "0123456789abcdef";
  std::size_t run = 0;  // where the pending run of plain characters starts
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') continue;
    if (c >= 0x80) {
      std::size_t len = utf8_sequence(reinterpret_cast<const unsigned char*>(s) + i, n - i);
      if (len) {
        i += len - 1;
        continue;
      }
      o.append(s + run, i - run);
      run = i + 1;
      o += "\\ufffd";
      continue;
    }
    o.append(s + run, i - run);
    run = i + 1;
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
      continue;
    }
    switch (c) {
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        o += "\\u00";
        o += hex[c >> 4];
        o += hex[c & 15];
    }
  }
  o.append(s + run, n - run);
}
inline void put_string(std::string& o, const char* s, std::size_t n) {
  o += '"';
  put_escaped(o, s, n);
  o += '"';
}
inline void put_string(std::string& o, const std::string& s) { put_string(o, s.data(), s.size()); }
// Writers into a char buffer: each returns the position after what it wrote. The writer thread builds the
// fixed parts of a span line with them and appends them at once; the put_ functions append to a string.
inline char* write(char* p, const char* s, std::size_t n) {
  std::memcpy(p, s, n);
  return p + n;
}
template <std::size_t N>
inline char* write(char* p, const char (&literal)[N]) {
  return write(p, literal, N - 1);
}
// Numbers are written two digits at a time (the writer formats several per span).
inline const char* digit_pairs() {
  return "00010203040506070809101112131415161718192021222324"
         "25262728293031323334353637383940414243444546474849"
         "50515253545556575859606162636465666768697071727374"
         "75767778798081828384858687888990919293949596979899";
}
inline char* write_uint(char* p, unsigned long long v) {
  char buf[24];
  char* q = buf + sizeof buf;
  for (; v >= 100; v /= 100) q = static_cast<char*>(std::memcpy(q - 2, digit_pairs() + 2 * (v % 100), 2));
  if (v >= 10)
    q = static_cast<char*>(std::memcpy(q - 2, digit_pairs() + 2 * v, 2));
  else
    *--q = static_cast<char>('0' + v);
  return write(p, q, static_cast<std::size_t>(buf + sizeof buf - q));
}
inline char* write_fixed_digits(char* p, std::uint64_t v, int digits) {
  int i = digits;
  for (; i >= 2; i -= 2, v /= 100) std::memcpy(p + i - 2, digit_pairs() + 2 * (v % 100), 2);
  if (i) p[0] = static_cast<char>('0' + v % 10);
  return p + digits;
}
// The 8 hex digits of x, most significant first: each nibble spread into a byte of a word, then every byte
// turned into its ASCII digit at once (the writer formats three 16-digit ids per span).
inline void write_hex8(char* p, std::uint32_t x) {
  std::uint64_t v = x;
  v = ((v & 0xFFFF0000ULL) << 16) | (v & 0xFFFFULL);
  v = ((v & 0x0000FF000000FF00ULL) << 8) | (v & 0x000000FF000000FFULL);
  v = ((v & 0x00F000F000F000F0ULL) << 4) | (v & 0x000F000F000F000FULL);  // byte i: nibble i
  const std::uint64_t letters = ((v + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;  // nibble > 9
  v += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
#else
  for (int i = 0; i < 8; ++i) p[7 - i] = static_cast<char>(v >> (8 * i));
#endif
}
inline char* write_hex(char* p, std::uint64_t v, int digits) {  // digits <= 16
  if (digits == 16) {
    write_hex8(p, static_cast<std::uint32_t>(v >> 32));
    write_hex8(p + 8, static_cast<std::uint32_t>(v));
    return p + 16;
  }
  static const char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i, v >>= 4) p[i] = hex[v & 15];
  return p + digits;
}

inline void put_uint(std::string& o, unsigned long long v) {
  char buf[24];
  o.append(buf, static_cast<std::size_t>(write_uint(buf, v) - buf));
}
inline void put_int(std::string& o, long long v) {
  if (v < 0) {
    o += '-';
    put_uint(o, static_cast<unsigned long long>(-(v + 1)) + 1);
  } else {
    put_uint(o, static_cast<unsigned long long>(v));
  }
}
inline void put_double(std::string& o, double v) {
  if (v != v || v == 1.0 / 0.0 || v == -1.0 / 0.0) {
    o += "null";
    return;
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", v);
  // Prefer the shortest text that reads back the same value.
  for (int prec = 6; prec < 17; ++prec) {
    char shorter[32];
    int m = std::snprintf(shorter, sizeof shorter, "%.*g", prec, v);
    if (std::strtod(shorter, nullptr) == v) {
      o.append(shorter, static_cast<std::size_t>(m));
      return;
    }
  }
  o.append(buf, static_cast<std::size_t>(n));
}
inline void put_hex(std::string& o, std::uint64_t v, int digits) {  // digits <= 16
  char buf[16];
  o.append(buf, static_cast<std::size_t>(write_hex(buf, v, digits) - buf));
}

inline bool looks_secret_name(const std::string& name);
inline bool looks_like_jwt(const char* s, std::size_t n);

// --------------------------------------------------------------------------------------- settings
struct FnConfig {
  int level = -1;  // -1 unset
  int capture_params = -1, capture_return = -1;
};

// The defaults and ranges are those of agentlog's own table of .env.tracing keys (logger/src/env_file.cpp),
// which `agentlog config show` and get_tracing_config report from.
struct Settings {
  bool enabled = true;
  int default_level = 2;
  int max_level = 5;  // TRACING_MAX_LEVEL: no span records above it, whatever tracing.config.json says
  double sample_rate = 1.0;
  int max_depth = 50;
  std::size_t max_capture = 10000;
  bool redact = true;
  std::size_t buffer_bytes = std::size_t(8) << 20;
  int full_wait_ms = 20;
  bool binary = false;  // TRACING_FORMAT=binary
  std::string root;     // the project root ("" = not found)
  std::map<std::string, FnConfig> files, functions;
};

inline std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// A file-size limit (ulimit -f) makes write() raise SIGXFSZ, whose default action kills the program that only
// wanted its spans written. Blocked while writing, write() fails with EFBIG instead (the spans are dropped,
// the program runs on), and the signal it left pending is taken back. The writer thread blocks it for good:
// its many writes make no calls for it.
inline sigset_t xfsz_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGXFSZ);
  return set;
}
inline bool& xfsz_blocked_for_good() {
  static thread_local bool blocked = false;
  return blocked;
}
class XfszBlocked {
 public:
  XfszBlocked() : xfsz_(xfsz_set()) {
    sigemptyset(&old_);
    if (xfsz_blocked_for_good())
      sigaddset(&old_, SIGXFSZ);
    else
      pthread_sigmask(SIG_BLOCK, &xfsz_, &old_);
  }
  ~XfszBlocked() {
    if (sigismember(&old_, SIGXFSZ)) return;  // blocked already (the program's business, or the writer's)
    sigset_t pending;
    if (sigpending(&pending) == 0 && sigismember(&pending, SIGXFSZ)) {
      const timespec now = {0, 0};
      while (sigtimedwait(&xfsz_, nullptr, &now) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  XfszBlocked(const XfszBlocked&);
  XfszBlocked& operator=(const XfszBlocked&);
  sigset_t xfsz_, old_;
};

// Writes all `n` bytes to `fd`; false when it cannot (disk full, a file-size limit, fd gone).
inline bool write_fully(int fd, const void* data, std::size_t n) {
  XfszBlocked no_sigxfsz;
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

inline bool read_whole(const std::string& path, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[65536];
  ssize_t n;
  out.clear();
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return true;
}

// KEY=VALUE lines; comments, blank lines, `export`, quotes, inline `# comments`.
inline std::map<std::string, std::string> parse_env(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, 7, "export ") == 0) line = trim(line.substr(7));
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
      std::size_t close = value.find(value[0], 1);
      value = close == std::string::npos ? value.substr(1) : value.substr(1, close - 1);
    } else {
      std::size_t hash = value.find(" #");
      if (hash == std::string::npos) hash = value.find("\t#");
      if (hash != std::string::npos) value = trim(value.substr(0, hash));
    }
    out[key] = value;
  }
  return out;
}

inline bool parse_bool(const std::string& v, bool fallback) {
  std::string s;
  for (char c : v) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  return fallback;
}

// A small JSON reader for tracing.config.json: {"files": {path: {level, captureParams, captureReturn}},
// "functions": {"file::fn": {...}}}. Anything else is skipped.
class ConfigReader {
 public:
  explicit ConfigReader(const std::string& s) : s_(s) {}
  bool read(Settings& out) {
    ws();
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return true;
    do {
      std::string key;
      ws();
      if (!str(key)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      if (key == "files" || key == "functions") {
        if (!table(key == "files" ? out.files : out.functions)) return false;
      } else if (!skip()) {
        return false;
      }
      ws();
    } while (eat(','));
    return eat('}');
  }

 private:
  bool table(std::map<std::string, FnConfig>& t) {
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return true;
    do {
      std::string name;
      ws();
      if (!str(name)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      FnConfig fc;
      if (!eat('{')) {  // not an entry (`"a.cpp": 5`): left out, as get_tracing_config says; the rest apply
        if (!skip()) return false;
        ws();
        continue;
      }
      ws();
      if (!eat('}')) {
        do {
          std::string k;
          ws();
          if (!str(k)) return false;
          ws();
          if (!eat(':')) return false;
          ws();
          // A value of the wrong kind (`"level": "1"`, a level that is not 0-5) is left out, the entry's
          // other values and the file's other entries kept: get_tracing_config reports the same.
          double v;
          bool b;
          if (k == "level" && num(v)) {
            if (v >= 0 && v <= 5 && v == static_cast<int>(v)) fc.level = static_cast<int>(v);
          } else if ((k == "captureParams" || k == "captureReturn") && boolean(b)) {
            (k == "captureParams" ? fc.capture_params : fc.capture_return) = b ? 1 : 0;
          } else if (!skip()) {
            return false;
          }
          ws();
        } while (eat(','));
        if (!eat('}')) return false;
      }
      t[name] = fc;
      ws();
    } while (eat(','));
    return eat('}');
  }
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool str(std::string& out) {
    if (!eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (s_[i_] == '\\' && i_ + 1 < s_.size()) {
        ++i_;
        char c = s_[i_];
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        out += s_[i_];
      }
      ++i_;
    }
    return eat('"');
  }
  bool num(double& v) {
    const char* b = s_.c_str() + i_;
    char* e = nullptr;
    v = std::strtod(b, &e);
    if (e == b) return false;
    i_ += static_cast<std::size_t>(e - b);
    return true;
  }
  bool boolean(bool& b) {
    if (s_.compare(i_, 4, "true") == 0) {
      i_ += 4;
      return b = true;
    }
    if (s_.compare(i_, 5, "false") == 0) {
      i_ += 5;
      b = false;
      return true;
    }
    return false;
  }
  bool skip() {
    ws();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '"') {
      std::string ignored;
      return str(ignored);
    }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      ws();
      if (eat(close)) return true;
      do {
        ws();
        if (c == '{') {
          std::string k;
          if (!str(k)) return false;
          ws();
          if (!eat(':')) return false;
        }
        if (!skip()) return false;
        ws();
      } while (eat(','));
      return eat(close);
    }
    if (s_.compare(i_, 4, "null") == 0) {
      i_ += 4;
      return true;
    }
    bool b;
    if (boolean(b)) return true;
    double d;
    return num(d);
  }
  const std::string& s_;
  std::size_t i_ = 0;
};

// ------------------------------------------------------------------------------------ per-site info
// Parsed once per instrumented function, in the slow path; never freed (one per function in the program).
struct SiteInfo {
  std::string function;                // "UserService::getUser"
  std::string plain;                   // "getUser"
  std::string file;                    // relative to the project root when under it
  std::string json_prefix;             // ,"function":"...","file":"...","line":N
  std::vector<std::string> names;      // captured parameter names
  std::vector<std::string> name_json;  // "\"name\":" for each, ready to append
  std::vector<char> secret;            // the name looks like a secret (redacted unless TRACING_REDACT=false)
  int ceiling = 1;
  std::uint32_t id = 0;  // index in the runtime's site table (SpanRecord::site)
  std::atomic<bool> capture_params{true}, capture_return{true};  // from the config, per generation
};

// "std::vector<int> ns::Widget::get(int) const [with T = int]" -> "ns::Widget::get"; lambdas readable.
inline std::string clean_function_name(std::string s) {
  s = trim(s);
  if (!s.empty() && s[s.size() - 1] == ']') {  // template arguments: " [with T = int]" / " [T = int]"
    int depth = 0;
    for (std::size_t i = s.size(); i-- > 0;) {
      if (s[i] == ']') ++depth;
      if (s[i] == '[' && --depth == 0) {
        s = trim(s.substr(0, i));
        break;
      }
    }
  }
  if (s.find("operator") == std::string::npos) {
    // g++'s " mutable" after a lambda's name; a trailing requires-clause.
    if (s.size() > 8 && s.compare(s.size() - 8, 8, " mutable") == 0) s.erase(s.size() - 8);
    int depth = 0;
    std::size_t open = std::string::npos;  // the first '(' outside <> and []
    for (std::size_t i = 0; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '(' && depth == 0 && open == std::string::npos) open = i;
      if (c == '(' || c == '<' || c == '[') ++depth;
      if (c == ')' || c == '>' || c == ']') --depth;
      if (depth == 0 && s.compare(i, 10, " requires ") == 0) {
        s = trim(s.substr(0, i));
        break;
      }
    }
    // A function that returns a pointer to a function or a reference to an array: "int (* ns::f(char))(int)",
    // "int (&g())[3]": its name and parameters are in that first parenthesis, after the '*' or '&'.
    const std::size_t star = open == std::string::npos ? open : s.find_first_not_of(' ', open + 1);
    if (star != std::string::npos && (s[star] == '*' || s[star] == '&')) {
      depth = 0;
      for (std::size_t j = open; j < s.size(); ++j) {
        if (s[j] == '(') ++depth;
        if (s[j] == ')' && --depth == 0) {
          const std::size_t from = s.find_first_not_of("*& ", star);
          s = s.substr(from, j - from);
          break;
        }
      }
    }
  }
  // Enclosing functions of local lambdas/classes: "f(int) const::<lambda()>" -> "f::<lambda()>".
  for (std::size_t p = s.find("::"); p != std::string::npos; p = s.find("::", p + 2)) {
    std::size_t e = p;
    for (const char* q : {" const", " volatile", " &&", " &", " noexcept"}) {
      std::size_t n = std::strlen(q);
      if (e >= n && s.compare(e - n, n, q) == 0) e -= n;
    }
    if (e == 0 || s[e - 1] != ')') continue;
    int depth = 0;
    std::size_t open = std::string::npos;
    for (std::size_t i = e; i-- > 0;) {
      if (s[i] == ')') ++depth;
      if (s[i] == '(' && --depth == 0) {
        open = i;
        break;
      }
    }
    if (open == std::string::npos || (open >= 8 && s.compare(open - 8, 8, "operator") == 0) ||
        s.compare(open, 10, "(anonymous") == 0)
      continue;
    s.erase(open, p - open);
    p = open;
  }
  std::size_t op = s.find("operator");
  std::size_t scan_end = op == std::string::npos ? s.size() : op;
  // Drop the parameter list (the last balanced "(...)" outside the operator name) and what follows it.
  std::size_t close = s.rfind(')');
  if (close != std::string::npos && close + 1 >= s.find_last_not_of(" constvolatile&noexcept") &&
      s.back() != '>') {
    int depth = 0;
    for (std::size_t i = close + 1; i-- > 0;) {
      if (s[i] == ')') ++depth;
      if (s[i] == '(' && --depth == 0) {
        if (op == std::string::npos || i > op + 8) s = s.substr(0, i);
        break;
      }
    }
  }
  // Drop the return type: the last space at nesting depth 0 before the name (or before "operator").
  scan_end = std::min(scan_end, s.size());
  int depth = 0;
  std::size_t cut = std::string::npos;
  for (std::size_t i = 0; i < scan_end; ++i) {
    char c = s[i];
    if (c == '(' || c == '<' || c == '[') ++depth;
    if (c == ')' || c == '>' || c == ']') --depth;
    if (c == ' ' && depth == 0) cut = i;
  }
  if (cut != std::string::npos) s = s.substr(cut + 1);
  // clang++ puts a returned reference's or pointer's declarator on the name: "int &get()", "char *name()".
  std::size_t first = s.find_first_not_of("&*");
  if (first != std::string::npos) s.erase(0, first);
  // "main()::<lambda(int)>" -> "main::<lambda(int)>"; clang's "(anonymous class)::operator()" -> "<lambda>".
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 13, "{anonymous}::") == 0) {  // g++
      i += 12;
    } else if (s.compare(i, 23, "(anonymous namespace)::") == 0) {  // clang++
      i += 22;
    } else if (s.compare(i, 4, "()::") == 0) {
      out += "::";
      i += 3;
    } else if (s.compare(i, 30, "(anonymous class)::operator()") == 0) {
      out += "<lambda>";
      i += 29;
    } else if (s.compare(i, 5, "auto:") == 0 && i + 5 < s.size() &&
               std::isdigit(static_cast<unsigned char>(s[i + 5]))) {
      out += "auto";  // g++'s generic lambda parameters, numbered per translation unit: "auto:52"
      for (i += 5; i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]));) ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

inline std::string plain_name(const std::string& fn) {
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i + 1 < fn.size(); ++i) {
    char c = fn[i];
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') --depth;
    if (depth == 0 && c == ':' && fn[i + 1] == ':') start = i + 2;
  }
  return fn.substr(start);
}

// ------------------------------------------------------------------------------------- the records
// A thread's ring holds records of these kinds, each a multiple of 8 bytes: spans (kRootSpan: a span that is
// the root its trace's id is derived from, see derive_trace), what trace the next spans are in (kTrace, or
// kDerivedTrace), and a pad that fills the end of the ring. The first word of every record is its size in
// bytes (< 16 MiB) in bits 0-23, its kind in bits 24-27, and for a span its level in bits 28-30 and the error
// flag in bit 31.
enum RecordKind : std::uint32_t { kPad = 0, kSpan = 1, kTrace = 2, kRootSpan = 3, kDerivedTrace = 4 };
const std::size_t kMaxRecord = (std::size_t(1) << 24) - 8;

inline std::uint32_t record_head(std::size_t size, RecordKind kind, unsigned level = 0, bool error = false) {
  return static_cast<std::uint32_t>(size) | static_cast<std::uint32_t>(kind) << 24 | (level & 7u) << 28 |
         (error ? 1u << 31 : 0u);
}
inline std::size_t record_size(std::uint32_t head) { return head & 0xffffffu; }
inline unsigned record_kind(std::uint32_t head) { return (head >> 24) & 15u; }

// A finished span: 40 bytes at level 1. Its span id is derived from the thread's seed and `seq`, the
// span's number in begin order on its thread, so the traced thread draws no random number per span.
struct SpanRecord {
  std::uint32_t head;
  std::uint32_t site;         // SiteInfo::id
  std::uint64_t t0, t1;       // ticks
  std::uint64_t seq, parent;  // parent: its seq, or 0 when the parent is the trace's root parent (or none)
};
// Records are written field by field straight into the ring. Built on the stack and copied, a record went
// through vector registers and 16-byte loads of 4- and 8-byte stores that could not be forwarded: a stall on
// every span (perf annotate: a third of the span's end).
inline char* put32(char* p, std::uint32_t v) {
  std::memcpy(p, &v, 4);
  return p + 4;
}
inline char* put64(char* p, std::uint64_t v) {
  std::memcpy(p, &v, 8);
  return p + 8;
}
inline char* store_span(char* p, std::uint32_t head, std::uint32_t site, std::uint64_t t0, std::uint64_t t1,
                        std::uint64_t seq, std::uint64_t parent) {
  return put64(put64(put64(put64(put32(put32(p, head), site), t0), t1), seq), parent);
}
// Follows a span of level >= 2: the lengths of what comes after it, in this order: the parameters (items, see
// CaptureTag), the events (JSON text), the return value (an item) and the error (JSON text).
struct PayloadRecord {
  std::uint32_t params_len, events_len, return_len, error_len, dropped_events, has_return;
};
// The thread's trace changed (a ScopedTrace, an adopted context, a new thread): the spans after it are in it.
struct TraceRecord {
  std::uint32_t head;
  std::uint32_t custom_len;  // a trace id chosen by the program follows, padded to 8 bytes
  std::uint64_t trace_hi, trace_lo;
  std::uint64_t root_parent;  // the parent of spans whose parent is 0 (a span of another thread), or 0
};

inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// A bijection of seq for a given seed: span ids of one thread never collide.
inline std::uint64_t span_id(std::uint64_t seed, std::uint64_t seq) {
  std::uint64_t id = mix64(seed + seq * 0x9e3779b97f4a7c15ULL);
  return id ? id : 1;
}
// A new trace begun by a root span of no other trace has its id derived from the thread's seed and the root's
// seq, so that the writer learns it from the root's number alone: the root's record is a kRootSpan when it is
// the first span of its trace to end, else a 16-byte kDerivedTrace record (the root's seq) comes first.
struct DerivedTraceRecord {
  std::uint32_t head, pad;
  std::uint64_t root;
};
inline void derive_trace(std::uint64_t seed, std::uint64_t root, std::uint64_t& hi, std::uint64_t& lo) {
  hi = mix64((seed ^ 0xd1b54a32d192ed03ULL) + root * 0x9e3779b97f4a7c15ULL);
  lo = mix64((seed ^ 0x632be59bd9b4e019ULL) + root * 0xbf58476d1ce4e5b9ULL);  // a bijection of root
  if (!lo) lo = 1;
}

// What the writer knows of one ring: its thread, and the trace its next spans belong to.
struct TraceCursor {
  std::uint32_t tid = 0;
  std::uint64_t seed = 0;
  std::uint64_t trace_hi = 0, trace_lo = 0, root_parent = 0;
  std::string custom_id;  // a trace id chosen by the program ("" = none: trace_hi/lo)
};

// Single-producer (the traced thread), single-consumer (the writer) byte ring. Made by create() on a 64-byte
// boundary (C++11/14 `new` does not honour alignas), so that what the traced thread writes on every span is
// alone on its cache line. Left to malloc's 16-byte alignment, that line also held `capacity` in some heap
// layouts, which the writer read for every record it formatted: the same program's cost per span went from
// 46 to 70 ns (fib) and from 142 to 240 ns (str, level 2) with nothing but a longer project path.
struct Ring {
  // The buffer's pages, touched already: kept when a thread's ring is freed, for the next thread's ring.
  struct Memory {
    char* map;
    char* data;
    std::size_t mapped, bytes;
  };
  // A ring in `memory`, made by map() or released by an earlier ring; null (the memory unmapped) when there
  // is no memory for it.
  static Ring* create(const Memory& memory) {
    void* mem = nullptr;
    if (::posix_memalign(&mem, 64, sizeof(Ring)) != 0) {
      unmap(memory);
      return nullptr;
    }
    return new (mem) Ring(memory);
  }
  static void destroy(Ring* r) {
    r->~Ring();
    std::free(r);
  }
  // Destroys the ring and hands back its buffer, still mapped.
  static Memory release(Ring* r) {
    Memory m = {r->map_, r->data_, r->mapped_, r->capacity};
    r->map_ = nullptr;
    destroy(r);
    return m;
  }
  static void unmap(const Memory& m) { ::munmap(m.map, m.mapped); }

  // Every page of a new buffer is touched here, once, before a thread records into it: page faults one by
  // one on the traced thread would cost far more than the spans (on a VM, microseconds each; MAP_POPULATE
  // measured no better than faulting). The buffer is asked for in 2 MiB pages where the kernel has them
  // (transparent huge pages): 4 faults instead of 2,048 for the default 8 MiB, 4.2 -> 0.6 ms here.
  static Memory map(std::size_t bytes) {
    const std::size_t huge = std::size_t(2) << 20;
    Memory m = {nullptr, nullptr, bytes + huge, bytes};
    void* p = ::mmap(nullptr, m.mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return Memory{nullptr, nullptr, 0, 0};  // no memory: map == nullptr
    m.map = static_cast<char*>(p);
    m.data = m.map + (huge - reinterpret_cast<std::uintptr_t>(m.map) % huge) % huge;
#if defined(MADV_HUGEPAGE)
    ::madvise(m.data, bytes, MADV_HUGEPAGE);  // a hint: without huge pages, 4 KiB pages as before
#endif
    std::memset(m.data, 0, bytes);
    return m;
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  char* data() const { return data_; }

  // Line 1, read only.
  const std::size_t capacity;
  char* data_ = nullptr;
  char* map_ = nullptr;  // the mapping data_ is in (aligned for huge pages)
  std::size_t mapped_ = 0;
  char pad_const_[64 - 4 * sizeof(std::uint64_t)];
  // Line 2, the traced thread's: written on every span; the producer re-reads `tail` only when its cached
  // copy says the ring is (half) full, so the two threads do not bounce a line on every span.
  std::atomic<std::uint64_t> head{0};
  std::size_t head_pos = 0;             // head % capacity (a division costs ~30 cycles)
  std::uint64_t fast_limit = 0;         // a span whose record ends at or before this head needs no check
  std::atomic<std::uint64_t> spans{0};  // span records published (stored after head)
  std::uint64_t cached_tail = 0;        // producer's last view of tail
  std::uint64_t next_check = 0;         // the producer looks at tail again from this head on
  char pad_head_[64 - 6 * sizeof(std::uint64_t)];

  // Sets fast_limit, the one bound the common span checks (Span::end_short): its record ends before the end
  // of the buffer (so that it needs no pad and head_pos does not wrap), fits before the tail the producer
  // saw, and does not reach the head where the producer is to look at the tail again (past half full).
  // Whatever goes past it takes the full path, which does each of these and sets it again.
  void set_fast_limit() {
    std::uint64_t h = head.load(std::memory_order_relaxed);
    std::uint64_t wrap = h + (capacity - head_pos) - 1;
    std::uint64_t full = cached_tail + capacity;
    std::uint64_t look = std::max(cached_tail + capacity / 2, next_check);
    fast_limit = std::min(wrap, std::min(full, look));
  }
  // Line 3, the writer's, which a producer waiting for room reads.
  std::atomic<std::uint64_t> tail{0};
  std::atomic<bool> wake_sent{false};  // the producer asked the writer to drain early (set rarely)
  std::uint32_t number = 0;            // in this process, for the binary file
  std::uint64_t spans_counted = 0;     // of `spans`, already in recorded_ (binary files)
  // Lines 4-5, the writer's alone: it changes the trace on every root span, and on tail's line each change
  // took the line from a producer waiting for room (str, level 2: a third of the formatting of a span).
  alignas(64) TraceCursor cursor;
  // Rarely written by either.
  alignas(64) std::atomic<bool> closed{false};  // the thread exited; free after the last drain
  std::atomic<std::uint64_t> dropped{0}, waited{0};

 private:
  // What the buffer holds (from a ring before) is never read before this ring writes it.
  explicit Ring(const Memory& m) : capacity(m.bytes), data_(m.data), map_(m.map), mapped_(m.mapped) {}
  ~Ring() {
    if (map_) ::munmap(map_, mapped_);
  }
};

// A JSON text as the runtime writes it (strings of valid UTF-8 without control characters, numbers, literals,
// objects, arrays, no white space). The converter of binary span files checks every text it pastes into a
// line with it (a site's fields, captured text, an exception, events): a damaged or crafted file must not put
// half a line, a line that is not JSON, or lines of its own, into the .jsonl.
struct JsonCheck {
  const char* t;
  std::size_t n;
  std::size_t i;

  // The whole text is one value (an exception, a captured item).
  bool whole() { return value(0) && i == n; }
  // Values apart by commas, or nothing (a span's events).
  bool list() {
    while (i < n)
      if (!value(1) || (i < n && t[i++] != ',') || (i == n && t[n - 1] == ',')) return false;
    return true;
  }
  // `,"key":value` repeated (a site's fields).
  bool members() {
    while (i < n)
      if (t[i++] != ',' || !string() || i >= n || t[i++] != ':' || !value(0)) return false;
    return true;
  }
  // `"name":` (a parameter's name).
  bool name() { return string() && i + 1 == n && t[i] == ':'; }

  bool string() {
    if (i >= n || t[i] != '"') return false;
    for (++i; i < n;) {
      const unsigned char c = static_cast<unsigned char>(t[i]);
      if (c == '"') return ++i, true;
      if (c < 0x20) return false;
      if (c == '\\') {
        const char e = i + 1 < n ? t[i + 1] : 0;
        if (e == 'u') {
          for (std::size_t k = i + 2; k < i + 6; ++k)
            if (k >= n || !std::isxdigit(static_cast<unsigned char>(t[k]))) return false;
          // The runtime escapes no surrogate, and JSON parsers refuse a lone one.
          if ((t[i + 2] == 'd' || t[i + 2] == 'D') && std::strchr("89abAB", t[i + 3])) return false;
          i += 6;
        } else if (e && std::strchr("\"\\/bfnrt", e)) {
          i += 2;
        } else {
          return false;
        }
      } else if (c < 0x80) {
        ++i;
      } else {
        const std::size_t len = utf8_sequence(reinterpret_cast<const unsigned char*>(t) + i, n - i);
        if (!len) return false;
        i += len;
      }
    }
    return false;
  }
  bool value(int depth) {
    if (i >= n || depth > 32) return false;
    const char c = t[i];
    if (c == '"') return string();
    if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      if (++i < n && t[i] == close) return ++i, true;
      for (;;) {
        if (c == '{' && !(string() && i < n && t[i++] == ':')) return false;
        if (!value(depth + 1) || i >= n) return false;
        if (t[i] == close) return ++i, true;
        if (t[i++] != ',') return false;
      }
    }
    static const char* const words[] = {"true", "false", "null"};
    for (std::size_t w = 0; w < 3; ++w) {
      const std::size_t len = std::strlen(words[w]);
      if (n - i >= len && std::memcmp(t + i, words[w], len) == 0) return i += len, true;
    }
    return number();
  }
  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  bool number() {
    if (i < n && t[i] == '-') ++i;
    if (i < n && t[i] == '0')
      ++i;
    else if (!digits())
      return false;
    if (i < n && t[i] == '.' && (++i, !digits())) return false;
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
      if (++i < n && (t[i] == '+' || t[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return true;
  }
  bool digits() {
    const std::size_t start = i;
    while (i < n && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  }
};

// Captured values (level >= 2) are kept in the ring as tagged items, not as JSON text: the traced thread
// copies a number or a string's bytes, and the writer (or the converter of a binary span file) formats and
// escapes them. Types other than numbers, strings, pointers and null are formatted on the thread, as text.
// Items: a tag byte, then
//   kCapText: u32 length, JSON text    kCapInt, kCapUint, kCapDouble, kCapPointer: 8 bytes
//   kCapString: u32 kept, u64 length, the first `kept` bytes (all of them, or max capture + 1 when longer)
//   kCapTrue, kCapFalse, kCapNull, kCapRedacted: nothing
enum CaptureTag : unsigned char {
  kCapText = 1,
  kCapInt,
  kCapUint,
  kCapDouble,
  kCapPointer,
  kCapString,
  kCapTrue,
  kCapFalse,
  kCapNull,
  kCapRedacted
};
// Appends the JSON of the item at p (at most n bytes); returns its size, 0 when malformed. `check`: JSON text
// (kCapText) from a file, maybe damaged, is checked first (see JsonCheck).
std::size_t format_item(std::string& o, const char* p, std::size_t n, std::size_t max_capture,
                        bool check = false);

// One instrumented function as the formatter knows it.
struct SiteFormat {
  std::string fields;              // ,"function":...,"file":...,"line":N
  std::vector<std::string> names;  // "\"name\":" of each captured parameter
};

// Turns ring records into the span lines of DESIGN.md. The in-process writer and the converter of binary
// span files (TRACING_FORMAT=binary) share it, so both write the same lines.
class SpanFormatter {
 public:
  int pid = 0;
  std::int64_t start_wall_ns = 0;
  std::size_t max_capture = 1024;  // TRACING_MAX_CAPTURE_SIZE of the program
  std::vector<SiteFormat> sites;   // by site id
  std::string out;
  std::uint64_t spans = 0;
  // The converter's: the captured text, exceptions and events of its spans come from a file that may be
  // damaged, so each is checked before it goes into a line, and a span whose text is not JSON is left out
  // whole. (The writer's own text is whole: it made it.)
  bool check_text = false;
  bool damaged = false;  // a record that could not be read ended a walk (only a damaged file has one)

  // Ticks to nanoseconds after start_wall_ns, in segments. The writer measures the rate of the ticks again at
  // every drain (the longer the run, the closer), and each new rate starts where the last one ends, at the
  // tick of the previous drain: after it, the spans formatted before are all over, so the start times of the
  // spans of one thread never step back when the estimate moves (a rate applied from tick0 would move them
  // by up to the error of the first estimate times the run's length: 0.1 ms after 10 s).
  void start_clock(std::uint64_t tick0) {
    Segment s = {tick0, 0, 1.0};
    now_ = before_ = s;
  }
  // The rate from tick `from` on; the first rate, or one from the start tick or before (files of older
  // writers say 0), replaces the segment from the start.
  void set_rate(double ns_per_tick, std::uint64_t from) {
    if (!(ns_per_tick > 0)) return;
    if (from > now_.tick) {
      before_ = now_;
      now_.ns = ns_at(from);
      now_.tick = from;
    } else {
      before_.rate = ns_per_tick;
    }
    now_.rate = ns_per_tick;
  }
  double ns_at(std::uint64_t tick) const {
    const Segment& s = tick >= now_.tick ? now_ : before_;  // spans begun before the last drain, or earlier
    return s.ns + static_cast<double>(static_cast<std::int64_t>(tick - s.tick)) * s.rate;
  }
  double ns_per_tick() const { return now_.rate; }

  // Formats the record at p (of at most `avail` bytes) into `out`; returns its size, 0 when malformed.
  std::size_t record(TraceCursor& c, const char* p, std::size_t avail) {
    std::uint32_t head;
    if (avail < 8) return 0;
    std::memcpy(&head, p, 4);  // a pad at the end of the ring may be only 8 bytes
    std::size_t size = record_size(head);
    if (size < 8 || size > avail || size % 8) return 0;
    unsigned kind = record_kind(head);
    if (kind == kTrace) {
      TraceRecord tr;
      if (size < sizeof tr) return 0;
      std::memcpy(&tr, p, sizeof tr);
      if (tr.custom_len > size - sizeof tr) return 0;
      c.trace_hi = tr.trace_hi;
      c.trace_lo = tr.trace_lo;
      c.root_parent = tr.root_parent;
      c.custom_id.assign(p + sizeof tr, tr.custom_len);
    } else if (kind == kDerivedTrace) {
      DerivedTraceRecord dr;
      if (size < sizeof dr) return 0;
      std::memcpy(&dr, p, sizeof dr);
      derived(c, dr.root);
    } else if (kind == kSpan || kind == kRootSpan) {
      SpanRecord rec;
      PayloadRecord pay = {0, 0, 0, 0, 0, 0};
      unsigned level = (head >> 28) & 7u;
      if (size < sizeof rec + (level >= 2 ? sizeof pay : 0)) return 0;
      std::memcpy(&rec, p, sizeof rec);
      if (kind == kRootSpan) derived(c, rec.seq);
      if (level >= 2) std::memcpy(&pay, p + sizeof rec, sizeof pay);
      if (static_cast<std::uint64_t>(pay.params_len) + pay.events_len + pay.return_len + pay.error_len >
          size - sizeof rec - sizeof pay)
        return 0;
      if (!span(c, rec, level, (head >> 31) != 0, pay, p + sizeof rec + sizeof pay)) return 0;
    }
    return size;
  }

  // Formats the records in [p, p + n): a ring block, or one side of a ring's wrap (no record straddles it).
  // `flush()` takes the lines out whenever a MiB is ready; false when it could not. A damaged record ends the
  // walk, keeping what came before it, and sets `damaged`.
  template <class Flush>
  bool records(TraceCursor& c, const char* p, std::size_t n, Flush flush) {
    while (n > 0) {
      std::size_t size = record(c, p, n);
      if (!size) {
        damaged = true;
        break;
      }
      p += size;
      n -= size;
      if (out.size() > (1u << 20) && !flush()) return false;
    }
    return true;
  }

 private:
  static void derived(TraceCursor& c, std::uint64_t root) {
    derive_trace(c.seed, root, c.trace_hi, c.trace_lo);
    c.root_parent = 0;
    c.custom_id.clear();
  }

  // The parts of a span line other than the captured text are built in a buffer on the stack and appended
  // at once: at level 1, the whole line in one append (appending piece by piece was a third of the time).
  // False (and no line) when check_text finds a text that is not JSON.
  bool span(const TraceCursor& c, const SpanRecord& rec, unsigned level, bool error, const PayloadRecord& pay,
            const char* payload) {
    ++spans;
    std::string& o = out;
    const std::size_t line_start = o.size();
    char buf[640];  // every fixed part, and a site's fields up to kInlineFields
    char* p = write(buf, "{\"traceId\":\"");
    if (!c.custom_id.empty()) {
      o.append(buf, static_cast<std::size_t>(p - buf));
      put_escaped(o, c.custom_id.data(), c.custom_id.size());
      p = buf;
    } else {
      if (c.trace_hi == hex_hi_ && c.trace_lo == hex_lo_ && hex_valid_) {  // the spans of a trace share it
        p = write(p, trace_hex_, sizeof trace_hex_);
      } else {  // written twice, not copied: 16-byte loads of 8-byte stores just made would stall
        write_hex(write_hex(trace_hex_, c.trace_hi, 16), c.trace_lo, 16);
        p = write_hex(write_hex(p, c.trace_hi, 16), c.trace_lo, 16);
        hex_hi_ = c.trace_hi;
        hex_lo_ = c.trace_lo;
        hex_valid_ = true;
      }
    }
    p = write_hex(write(p, "\",\"spanId\":\""), span_id(c.seed, rec.seq), 16);
    p = write(p, "\",\"parentSpanId\":");
    std::uint64_t parent = rec.parent ? span_id(c.seed, rec.parent) : c.root_parent;
    if (parent) {
      *p++ = '"';
      p = write_hex(p, parent, 16);
      *p++ = '"';
    } else {
      p = write(p, "null");
    }
    const SiteFormat* site = rec.site < sites.size() ? &sites[rec.site] : nullptr;
    if (!site) {
      p = write(p, ",\"function\":\"?\",\"file\":\"?\",\"line\":0");
    } else if (site->fields.size() <= kInlineFields) {
      p = write(p, site->fields.data(), site->fields.size());
    } else {
      o.append(buf, static_cast<std::size_t>(p - buf));
      o += site->fields;
      p = buf;
    }
    std::int64_t start = start_wall_ns + static_cast<std::int64_t>(ns_at(rec.t0));
    std::uint64_t dur =
        rec.t1 > rec.t0 ? static_cast<std::uint64_t>(static_cast<double>(rec.t1 - rec.t0) * now_.rate) : 0;
    time_t secs = static_cast<time_t>(start / 1000000000LL);
    if (secs != cached_second_) {
      struct tm tm;
      ::gmtime_r(&secs, &tm);
      cached_stamp_len_ = std::strftime(cached_stamp_, sizeof cached_stamp_, "%Y-%m-%dT%H:%M:%S", &tm);
      cached_second_ = secs;
    }
    p = write(write(p, ",\"startTime\":\""), cached_stamp_, cached_stamp_len_);
    *p++ = '.';
    p = write_fixed_digits(p, static_cast<std::uint64_t>((start % 1000000000LL) / 1000), 6);
    // Milliseconds with up to 6 decimals (ns precision), trailing zeros dropped: 53.2, 0.00046.
    p = write_uint(write(p, "Z\",\"duration\":"), dur / 1000000);
    std::uint64_t frac_ns = dur % 1000000;
    if (frac_ns) {
      int digits = 6;
      while (frac_ns % 10 == 0) frac_ns /= 10, --digits;
      *p++ = '.';
      p = write_fixed_digits(p, frac_ns, digits);
    }
    p = write_uint(write(p, ",\"durationNs\":"), dur);
    const char* events = payload + pay.params_len;
    const char* returned = events + pay.events_len;
    if (level >= 2) {
      o.append(buf, static_cast<std::size_t>(p - buf));
      o += ",\"params\":{";
      std::size_t i = 0;
      for (std::size_t at = 0, used; at < pay.params_len; at += used, ++i) {
        if (i) o += ',';
        if (site && i < site->names.size()) {
          o += site->names[i];
        } else {
          p = write_uint(write(buf, "\"arg"), i);
          o.append(buf, static_cast<std::size_t>(p - buf));
          o += "\":";
        }
        used = format_item(o, payload + at, pay.params_len - at, max_capture, check_text);
        if (!used) {
          if (check_text) return refuse(line_start);
          o += "null";
          break;
        }
      }
      o += "},\"returnValue\":";
      if (!pay.has_return || !format_item(o, returned, pay.return_len, max_capture, check_text)) {
        if (pay.has_return && check_text) return refuse(line_start);
        o += "null";
      }
      p = buf;
    }
    if (error) {
      o.append(buf, static_cast<std::size_t>(p - buf));
      o += ",\"error\":";
      if (pay.error_len && check_text && !JsonCheck{returned + pay.return_len, pay.error_len, 0}.whole())
        return refuse(line_start);
      if (pay.error_len)
        o.append(returned + pay.return_len, pay.error_len);
      else
        o += "{\"type\":\"exception\"}";
      p = buf;
    } else {
      p = write(p, ",\"error\":null");
    }
    p = write_uint(write(p, ",\"thread\":"), c.tid);
    p = write_uint(write(p, ",\"pid\":"),
                   static_cast<unsigned long long>(pid));  // getpid() is never negative
    p = write_uint(write(p, ",\"level\":"), level);
    if (pay.events_len || pay.dropped_events) {
      if (check_text && !JsonCheck{events, pay.events_len, 0}.list()) return refuse(line_start);
      o.append(buf, static_cast<std::size_t>(p - buf));
      o += ",\"events\":[";
      o.append(events, pay.events_len);
      o += ']';
      p = buf;
      if (pay.dropped_events) p = write_uint(write(p, ",\"droppedEvents\":"), pay.dropped_events);
    }
    p = write(p, "}\n");
    o.append(buf, static_cast<std::size_t>(p - buf));
    return true;
  }
  bool refuse(std::size_t line_start) {
    out.resize(line_start);
    --spans;
    return false;
  }
  // A site's fields (function, file, line) up to this long go into the line's buffer; longer ones are
  // appended apart. The rest of the buffer: ids 66, times and durations under 120, the tail under 90.
  static const std::size_t kInlineFields = 320;

  std::uint64_t hex_hi_ = 0, hex_lo_ = 0;  // the trace id last written, and its text
  bool hex_valid_ = false;
  char trace_hex_[32];
  time_t cached_second_ = -1;
  char cached_stamp_[32] = {};
  std::size_t cached_stamp_len_ = 0;
  struct Segment {
    std::uint64_t tick;  // from here on
    double ns;           // at tick, after start_wall_ns
    double rate;         // ns per tick
  };
  Segment now_ = {0, 0, 1.0}, before_ = {0, 0, 1.0};
};

// ------------------------------------------------------------------------------ binary span files
// TRACING_FORMAT=binary: the writer copies the rings' records to <pid>-<startEpochMs>.bin as they are, with
// the site table and the clock, instead of formatting them (uftrace's way: record now, format later).
// `agentlog` turns it into the same <pid>-<startEpochMs>.jsonl (SpanFileConverter below).
// Layout: a FileHeader, then blocks, each a BlockHeader and `size` bytes (a multiple of 8).
const char kSpanFileMagic[8] = {'A', 'G', 'L', 'T', 'R', 'A', 'C', 'E'};
const std::uint32_t kSpanFileVersion = 2;  // 2: captures as items (version 1 files held JSON text)
struct FileHeader {
  char magic[8];
  std::uint32_t version, pid;
  std::int64_t start_wall_ns;
  std::uint64_t tick0;
  std::uint64_t max_capture;  // the program's TRACING_MAX_CAPTURE_SIZE, which the formatting of items needs
};
enum BlockKind : std::uint32_t { kBlockSite = 1, kBlockRing = 2, kBlockClock = 3, kBlockEnd = 4 };
struct BlockHeader {
  std::uint32_t kind, ring;  // ring: the ring's number (kBlockRing)
  std::uint64_t size;
};
struct SiteBlock {  // then the site's JSON fields, and a NUL before each parameter's name, padded to 8
  std::uint32_t id, len;
};
struct RingBlock {  // then the ring's records
  std::uint32_t tid, pad;
  std::uint64_t seed;
};
// The rate of the ticks from tick `from` on (0 in files of older writers: from the start).
struct ClockBlock {
  double ns_per_tick;
  std::uint64_t from;
};
struct EndBlock {  // the program stopped tracing: the file is complete
  std::uint64_t recorded, dropped;
};

inline std::size_t pad8(std::size_t n) { return (n + 7) & ~std::size_t(7); }

// Ends the spans still open on this thread when std::terminate runs (defined after Span).
inline void end_open_spans();

// --------------------------------------------------------------------------------- the runtime
class Runtime {
 public:
  static Runtime& get() {
    static Runtime* rt = new Runtime();  // never destroyed: threads may still trace during exit
    return *rt;
  }

  // Reads the settings, opens nothing yet (the file is opened on the first drain), starts the writer.
  void init() {
    std::lock_guard<std::mutex> lock(init_mutex_);
    if (Globals<>::state.load() != -1) return;
    load_settings();
    pid_ = static_cast<int>(::getpid());
    start_wall_ns_ = wall_ns();
    tick0_ = ticks();
    steady0_ = steady_ns();
    fmt_.pid = pid_;
    fmt_.start_wall_ns = start_wall_ns_;
    fmt_.start_clock(tick0_);
    rate_from_ = tick0_;
    fmt_.max_capture = settings_.max_capture;
    if (!settings_.enabled || settings_.root.empty()) {
      Globals<>::state.store(0);
      return;
    }
    static bool hooks_installed = false;
    if (!hooks_installed) {
      hooks_installed = true;
      std::atexit(&Runtime::at_exit);
      previous_terminate_ = std::set_terminate(&Runtime::on_terminate);
      ::pthread_atfork(nullptr, nullptr, &Runtime::after_fork_child);
      install_fatal_signal_handlers();
    }
    running_ = true;
    writer_on_.store(true);
    writer_ = std::thread(&Runtime::writer_main, this);
    Globals<>::state.store(1, std::memory_order_release);
  }

  // A thread's ring, in a spare buffer when there is one (a thread's that ended, or one the writer made
  // ahead): touching a new buffer's pages costs a thread's first span milliseconds (8 MiB), many times what
  // starting the thread costs.
  Ring* new_ring(std::uint32_t tid, std::uint64_t seed) {
    Ring::Memory memory = {nullptr, nullptr, 0, 0};
    {
      std::lock_guard<std::mutex> lock(rings_mutex_);
      if (!spare_.empty()) {
        memory = spare_.back();
        spare_.pop_back();
        ++reused_;
      }
    }
    const bool made = !memory.map;
    if (made) memory = Ring::map(settings_.buffer_bytes);
    Ring* r = memory.map ? Ring::create(memory) : nullptr;
    if (!r) return nullptr;  // no memory: the thread records nothing, and tries again at its next span
    r->cursor.tid = tid;
    r->cursor.seed = seed;
    std::lock_guard<std::mutex> lock(rings_mutex_);
    r->number = ++rings_made_;
    if (made) ++buffers_made_;
    rings_.push_back(r);
    return r;
  }

  const Settings& settings() const { return settings_; }
  std::mutex& config_mutex() { return config_mutex_; }

  // Drains every ring now (used at exit, in terminate and by agentlog::flush()).
  void flush() {
    std::lock_guard<std::mutex> lock(drain_mutex_);
    drain_all();
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      if (!running_) return;
      running_ = false;
    }
    writer_on_.store(false);
    wake_.notify_all();
    if (writer_.joinable()) writer_.join();
    std::lock_guard<std::mutex> lock(drain_mutex_);
    drain_all();
  }

  // The last drain: after every atexit handler and static destructor (agentlog_finish_at_exit), so that the
  // spans of calls they make are written too (stop() runs in the program's own exit, before some of them);
  // then the binary file's end.
  void finish() {
    stop();
    std::lock_guard<std::mutex> lock(drain_mutex_);
    if (finished_) return;
    finished_ = true;
    drain_all();
    if (settings_.binary && fd_ >= 0) {
      EndBlock end = {recorded_.load(), stats().dropped};
      write_block(kBlockEnd, 0, &end, sizeof end);
    }
  }

  Stats stats() {
    Stats s;
    s.recorded = recorded_.load();
    s.dropped = dropped_closed_.load();
    s.waited = waited_closed_.load();
    std::lock_guard<std::mutex> lock(rings_mutex_);
    s.buffers = buffers_made_;
    s.reused = reused_;
    for (Ring* r : rings_) {
      s.dropped += r->dropped.load();
      s.waited += r->waited.load();
    }
    return s;
  }

  std::string trace_file() const { return file_path_; }
  bool exiting() const { return exiting_.load(); }

  void wake() {
    wake_requested_.store(true, std::memory_order_relaxed);
    wake_.notify_one();
  }

  // Fills the site's cached info and effective level for the current configuration generation.
  int resolve(Site& site) {
    std::lock_guard<std::mutex> lock(config_mutex_);
    SiteInfo* info = site.info.load(std::memory_order_acquire);
    if (!info) {
      info = make_info(site);
      info->id = static_cast<std::uint32_t>(sites_.size());
      sites_.push_back(info);
      site.id.store(info->id, std::memory_order_relaxed);
      site.info.store(info, std::memory_order_release);
    }
    unsigned gen = Globals<>::generation.load();
    int level = std::min(info->ceiling, settings_.default_level);
    bool params = true, returns = true;
    auto apply = [&](const FnConfig& fc) {
      if (fc.level >= 0) level = std::min(info->ceiling, fc.level);
      if (fc.capture_params >= 0) params = fc.capture_params != 0;
      if (fc.capture_return >= 0) returns = fc.capture_return != 0;
    };
    auto f = settings_.files.find(info->file);
    if (f != settings_.files.end()) apply(f->second);
    auto fn = settings_.functions.find(info->file + "::" + info->function);
    if (fn == settings_.functions.end()) fn = settings_.functions.find(info->file + "::" + info->plain);
    if (fn == settings_.functions.end()) fn = settings_.functions.find(info->function);
    if (fn != settings_.functions.end()) apply(fn->second);
    level = std::min(level, settings_.max_level);
    if (!settings_.enabled) level = 0;
    info->capture_params.store(params, std::memory_order_relaxed);
    info->capture_return.store(returns, std::memory_order_relaxed);
    site.level.store(level, std::memory_order_relaxed);
    site.generation.store(gen, std::memory_order_release);
    return level;
  }

 private:
  Runtime() = default;

  void load_settings() {
    Settings s;
    const char* root = std::getenv("AGENTLOG_ROOT");
    if (root && *root) {
      s.root = root;
    } else {
      char cwd[4096];
      if (::getcwd(cwd, sizeof cwd)) {
        std::string dir = cwd;
        while (true) {
          struct stat st;
          if (::stat((dir + "/.ai-agents/logging").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            s.root = dir;
            break;
          }
          std::size_t slash = dir.find_last_of('/');
          if (slash == std::string::npos || dir == "/") break;
          dir = slash == 0 ? "/" : dir.substr(0, slash);
          if (dir == "/") {
            if (::stat("/.ai-agents/logging", &st) == 0) s.root = "/";
            break;
          }
        }
      }
    }
    std::string text;
    std::map<std::string, std::string> env;
    if (!s.root.empty() && read_whole(s.root + "/.ai-agents/logging/config/.env.tracing", text))
      env = parse_env(text);
    static const char* const keys[] = {"TRACING_ENABLED",   "TRACING_DEFAULT_LEVEL",    "TRACING_SAMPLE_RATE",
                                       "TRACING_MAX_DEPTH", "TRACING_MAX_CAPTURE_SIZE", "TRACING_REDACT",
                                       "TRACING_BUFFER_MB", "TRACING_FULL_WAIT_MS",     "TRACING_FORMAT",
                                       "TRACING_MAX_LEVEL"};
    for (const char* k : keys)
      if (const char* v = std::getenv(k)) env[k] = v;
    // A key left out takes its default; a value that is not a number of the key's kind in its range takes the
    // safe value, as `agentlog config show` reports it (for the levels: 0, nothing recorded).
    auto num = [&](const char* key, double missing, double bad, double lo, double hi, bool whole) {
      auto it = env.find(key);
      if (it == env.end()) return missing;
      const std::string v = trim(it->second);
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(d >= lo && d <= hi) ||
          (whole && d != static_cast<double>(static_cast<long long>(d))))
        return bad;
      return d;
    };
    if (env.count("TRACING_ENABLED")) s.enabled = parse_bool(env["TRACING_ENABLED"], false);
    s.default_level = static_cast<int>(num("TRACING_DEFAULT_LEVEL", 2, 0, 0, 5, true));
    s.max_level = static_cast<int>(num("TRACING_MAX_LEVEL", 5, 0, 0, 5, true));
    s.sample_rate = num("TRACING_SAMPLE_RATE", 1.0, 1.0, 0.0, 1.0, false);
    s.max_depth = static_cast<int>(num("TRACING_MAX_DEPTH", 50, 50, 1, 10000, true));
    s.max_capture =
        static_cast<std::size_t>(num("TRACING_MAX_CAPTURE_SIZE", 10000, 10000, 16, 1 << 24, true));
    if (env.count("TRACING_REDACT")) s.redact = parse_bool(env["TRACING_REDACT"], true);
    s.buffer_bytes =
        static_cast<std::size_t>(num("TRACING_BUFFER_MB", 8, 8, 1, 1024, true) * 1048576.0) & ~std::size_t(7);
    s.full_wait_ms = static_cast<int>(num("TRACING_FULL_WAIT_MS", 100, 100, 0, 10000, true));
    s.binary = trim(env["TRACING_FORMAT"]) == "binary";
    settings_ = s;
    config_path_ = s.root.empty() ? std::string() : s.root + "/.ai-agents/logging/config/tracing.config.json";
    reload_config(true);
  }

  // Re-reads tracing.config.json when its mtime or size changed; bumps the generation.
  void reload_config(bool force) {
    if (config_path_.empty()) return;
    struct stat st;
    long long stamp = 0;
    if (::stat(config_path_.c_str(), &st) == 0)
      stamp = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec + st.st_size;
    if (!force && stamp == config_stamp_) return;
    config_stamp_ = stamp;
    std::string text;
    Settings parsed;
    if (stamp != 0 && read_whole(config_path_, text)) {
      ConfigReader reader(text);
      if (!reader.read(parsed)) return;  // keep the last good configuration while the file is being edited
    }
    std::lock_guard<std::mutex> lock(config_mutex_);
    settings_.files.swap(parsed.files);
    settings_.functions.swap(parsed.functions);
    Globals<>::generation.fetch_add(1);
  }

  SiteInfo* make_info(Site& site) {
    SiteInfo* info = new SiteInfo();
    info->function = clean_function_name(site.pretty);
    info->plain = plain_name(info->function);
    std::string file = site.file;
    if (!file.empty() && file[0] != '/') {
      char cwd[4096];
      if (::getcwd(cwd, sizeof cwd)) file = std::string(cwd) + "/" + file;
    }
    // Normalise "/a/./b/../c" and make it relative to the project root.
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i <= file.size()) {
      std::size_t j = file.find('/', i);
      if (j == std::string::npos) j = file.size();
      std::string part = file.substr(i, j - i);
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
      i = j + 1;
    }
    std::string abs;
    for (const auto& p : parts) abs += "/" + p;
    std::string root = settings_.root;
    while (root.size() > 1 && root[root.size() - 1] == '/') root.erase(root.size() - 1);
    if (!root.empty() && abs.compare(0, root.size() + 1, root + "/") == 0)
      info->file = abs.substr(root.size() + 1);
    else
      info->file = site.file[0] == '/' ? abs : std::string(site.file);
    // "2, id, name": the ceiling, then parameter names.
    std::string args = site.args;
    std::size_t comma = args.find(',');
    info->ceiling = std::max(1, std::min(5, std::atoi(args.substr(0, comma).c_str())));
    while (comma != std::string::npos) {
      std::size_t next = args.find(',', comma + 1);
      std::string name =
          trim(args.substr(comma + 1, next == std::string::npos ? std::string::npos : next - comma - 1));
      if (name.compare(0, 14, "AGENTLOG_PACK(") == 0 && name[name.size() - 1] == ')')  // a parameter pack
        name = trim(name.substr(14, name.size() - 15));
      info->names.push_back(name);
      comma = next;
    }
    for (const auto& n : info->names) {
      std::string key;
      put_string(key, n);
      info->name_json.push_back(key + ":");
      info->secret.push_back(looks_secret_name(n) ? 1 : 0);
    }
    info->json_prefix = ",\"function\":";
    put_string(info->json_prefix, info->function);
    info->json_prefix += ",\"file\":";
    put_string(info->json_prefix, info->file);
    info->json_prefix += ",\"line\":";
    put_int(info->json_prefix, site.line);
    return info;
  }

  void open_file() {
    if (fd_ >= 0 || settings_.root.empty()) return;
    time_t secs = static_cast<time_t>(start_wall_ns_ / 1000000000LL);
    struct tm tm;
    ::gmtime_r(&secs, &tm);
    char day[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
    std::string dir = settings_.root + "/.ai-agents/logging/traces";
    ::mkdir(dir.c_str(), 0755);
    dir += "/";
    dir += day;
    ::mkdir(dir.c_str(), 0755);
    std::string name = std::to_string(pid_) + "-" + std::to_string(start_wall_ns_ / 1000000);
    if (settings_.binary && open_binary(dir, name)) return;
    settings_.binary = false;  // no lock on this file system: JSON lines, which need none
    file_path_ = dir + "/" + name + ".jsonl";
    fd_ = ::open(file_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }

  // The binary file is locked for as long as this process has it open (the lock goes with the process,
  // SIGKILL included): agentlog converts it only when nobody holds the lock. It gets its name only once
  // locked and headed, so that no converter ever sees it unlocked while it is written.
  bool open_binary(const std::string& dir, const std::string& name) {
    std::string partial = dir + "/." + name + ".bin.partial";
    fd_ = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) return false;
    FileHeader h;
    std::memcpy(h.magic, kSpanFileMagic, sizeof h.magic);
    h.version = kSpanFileVersion;
    h.pid = static_cast<std::uint32_t>(pid_);
    h.start_wall_ns = start_wall_ns_;
    h.tick0 = tick0_;
    h.max_capture = fmt_.max_capture;
    file_path_ = dir + "/" + name + ".bin";
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0 && write_all(&h, sizeof h) &&
        ::rename(partial.c_str(), file_path_.c_str()) == 0)
      return true;
    ::close(fd_);
    ::unlink(partial.c_str());
    fd_ = -1;
    return false;
  }

  void writer_main() {
    mark_writer_thread();
    const sigset_t xfsz = xfsz_set();
    pthread_sigmask(SIG_BLOCK, &xfsz, nullptr);
    xfsz_blocked_for_good() = true;
    long long last_config_check = steady_ns();
    std::unique_lock<std::mutex> lock(wake_mutex_);
    while (running_) {
      if (!wake_requested_.exchange(false)) wake_.wait_for(lock, std::chrono::milliseconds(5));
      lock.unlock();
      {
        std::lock_guard<std::mutex> drain(drain_mutex_);
        drain_all();
      }
      drains_.fetch_add(1, std::memory_order_release);
      make_spare();
      long long now = steady_ns();
      if (now - last_config_check > 250000000LL) {
        last_config_check = now;
        reload_config(false);
      }
      lock.lock();
    }
  }

  static void mark_writer_thread();
  static bool on_writer_thread();

  // On the writer thread: a buffer made ahead for the next new thread, when there is none spare and the
  // program starts threads (a third ring made): that thread's first span then costs no page faults. Only
  // while the rings are nearly empty: making it (~2 ms for 8 MiB) holds up the writer's drains.
  void make_spare() {
    {
      std::lock_guard<std::mutex> lock(rings_mutex_);
      if (!spare_.empty() || rings_made_ < 3 || !spare_room() ||
          pending_.load(std::memory_order_relaxed) > settings_.buffer_bytes / 8)
        return;
    }
    Ring::Memory memory = Ring::map(settings_.buffer_bytes);
    if (!memory.map) return;  // no memory: the next thread tries for itself
    std::lock_guard<std::mutex> lock(rings_mutex_);
    if (!spare_room()) {  // threads that ended filled the list meanwhile (a flush() drains too)
      Ring::unmap(memory);
      return;
    }
    ++buffers_made_;
    spare_.push_back(memory);
  }
  // Whether one more buffer may be kept spare (rings_mutex_): at most 4, and at most 64 MiB in all, so that
  // big buffers go back to the system when their thread ends.
  bool spare_room() const {
    return spare_.size() < kSpareRings && (spare_.size() + 1) * settings_.buffer_bytes <= kSpareBytes;
  }

  double ns_per_tick() {
#if defined(__x86_64__) || defined(__i386__)
    std::uint64_t t = ticks();
    std::int64_t n = steady_ns();
    if (n - steady0_ > 1000000 && t > tick0_)
      cached_ns_per_tick_ = static_cast<double>(n - steady0_) / static_cast<double>(t - tick0_);
    if (cached_ns_per_tick_ <= 0) {  // first drain within 1 ms of start: measure briefly
      std::uint64_t a = ticks();
      std::int64_t na = steady_ns();
      while (steady_ns() - na < 2000000) {
      }
      cached_ns_per_tick_ = static_cast<double>(steady_ns() - na) / static_cast<double>(ticks() - a);
    }
    return cached_ns_per_tick_;
#else
    return 1.0;
#endif
  }

  void drain_all() {
    std::vector<Ring*> rings;
    std::vector<std::uint64_t> heads;
    {
      std::lock_guard<std::mutex> lock(rings_mutex_);
      rings = rings_;
    }
    // Heads first, then the site table: every site a record up to these heads names is in the table.
    bool any = false;
    std::uint64_t pending = 0;
    for (Ring* r : rings) {
      // Binary files: the spans are counted from the count the thread publishes (after their bytes), read
      // before the head, so no more than the spans up to it; counted here, not with the copy of the bytes,
      // also when the bytes were all copied by an earlier drain that saw an older count (else spans published
      // between those two reads were never counted once the thread stopped tracing).
      std::uint64_t spans = r->spans.load(std::memory_order_acquire);
      heads.push_back(r->head.load(std::memory_order_acquire));
      if (settings_.binary) {
        recorded_.fetch_add(spans - r->spans_counted, std::memory_order_relaxed);
        r->spans_counted = spans;
      }
      std::uint64_t tail = r->tail.load(std::memory_order_relaxed);
      if (heads.back() != tail) any = true;
      pending = std::max(pending, heads.back() - tail);
    }
    pending_.store(static_cast<std::size_t>(pending), std::memory_order_relaxed);
    if (any) {
      std::uint64_t heads_tick = ticks();  // every span up to these heads ended before it
      open_file();
      fmt_.set_rate(ns_per_tick(), rate_from_);
      std::size_t known = fmt_.sites.size();
      {
        std::lock_guard<std::mutex> lock(config_mutex_);
        for (std::size_t i = known; i < sites_.size(); ++i) {
          SiteFormat site = {sites_[i]->json_prefix, sites_[i]->name_json};
          fmt_.sites.push_back(site);
        }
      }
      if (settings_.binary) {
        for (std::size_t i = sites_written_; i < fmt_.sites.size(); ++i) write_site(i);
        sites_written_ = fmt_.sites.size();
        ClockBlock clock = {fmt_.ns_per_tick(), rate_from_};
        write_block(kBlockClock, 0, &clock, sizeof clock);
      }
      for (std::size_t i = 0; i < rings.size(); ++i) drain(*rings[i], heads[i]);
      write_out();
      rate_from_ = heads_tick;
    }
    // Free the rings of exited threads once empty; keep a few of their buffers for the next threads.
    std::lock_guard<std::mutex> lock(rings_mutex_);
    for (std::size_t i = 0; i < rings_.size();) {
      Ring* r = rings_[i];
      if (r->closed.load() && r->head.load() == r->tail.load()) {
        dropped_closed_ += r->dropped.load();
        waited_closed_ += r->waited.load();
        rings_.erase(rings_.begin() + static_cast<long>(i));
        if (r->capacity == settings_.buffer_bytes && spare_room())
          spare_.push_back(Ring::release(r));
        else
          Ring::destroy(r);
      } else {
        ++i;
      }
    }
  }

  // Disk full or gone: the spans are lost, the program goes on.
  bool write_all(const void* data, std::size_t n) { return write_fully(fd_, data, n); }
  void write_out() {
    write_all(fmt_.out.data(), fmt_.out.size());
    fmt_.out.clear();
  }
  void write_block(BlockKind kind, std::uint32_t ring, const void* data, std::size_t n) {
    BlockHeader h = {kind, ring, n};
    write_all(&h, sizeof h);
    write_all(data, n);
  }
  void write_site(std::size_t id) {
    std::string text = fmt_.sites[id].fields;
    for (const std::string& name : fmt_.sites[id].names) (text += '\0') += name;
    SiteBlock sb = {static_cast<std::uint32_t>(id), static_cast<std::uint32_t>(text.size())};
    std::string block(reinterpret_cast<const char*>(&sb), sizeof sb);
    block += text;
    block.resize(pad8(block.size()), ' ');
    write_block(kBlockSite, 0, block.data(), block.size());
  }

  // Writes the ring's records up to `head`: formatted, or copied as they are to the binary file.
  void drain(Ring& r, std::uint64_t head) {
    std::uint64_t tail = r.tail.load(std::memory_order_relaxed);
    if (tail == head) return;
    // [tail, head) is [first, first + n1) and, past the wrap, [0, len - n1).
    std::size_t first = static_cast<std::size_t>(tail % r.capacity),
                len = static_cast<std::size_t>(head - tail);
    std::size_t n1 = std::min(len, r.capacity - first);
    if (settings_.binary) {
      RingBlock rb = {r.cursor.tid, 0, r.cursor.seed};
      BlockHeader h = {kBlockRing, r.number, sizeof rb + len};
      write_all(&h, sizeof h);
      write_all(&rb, sizeof rb);
      write_all(r.data() + first, n1);
      write_all(r.data(), len - n1);
    } else {
      std::uint64_t before = fmt_.spans;
      auto out = [this] {
        write_out();
        return true;
      };
      fmt_.records(r.cursor, r.data() + first, n1, out);
      fmt_.records(r.cursor, r.data(), len - n1, out);
      recorded_.fetch_add(fmt_.spans - before, std::memory_order_relaxed);
    }
    r.tail.store(head, std::memory_order_release);
    r.wake_sent.store(false, std::memory_order_relaxed);
  }

  static void at_exit() {
    Runtime& rt = get();
    rt.exiting_.store(true);
    rt.stop();
  }

  // A signal that ends the program without its exit handlers (a crash, abort(), Ctrl-C, kill): the writer
  // drains every few milliseconds, so the spans ended just before it would be lost. Where the program left
  // the signal's action at its default, a handler waits (up to 100 ms) for two more passes of the writer, one
  // begun after the signal, then lets the default action happen. It calls only what a signal handler may, and
  // ends no open span (the thread may have been stopped inside the runtime).
  static void install_fatal_signal_handlers() {
    static const int signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (int sig : signals) {
      struct sigaction old;
      if (::sigaction(sig, nullptr, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
        continue;
      struct sigaction action;
      std::memset(&action, 0, sizeof action);
      action.sa_handler = &Runtime::on_fatal_signal;
      sigemptyset(&action.sa_mask);
      action.sa_flags = static_cast<int>(SA_RESETHAND | SA_NODEFER);  // once, then the default action
      ::sigaction(sig, &action, nullptr);
    }
  }
  static void on_fatal_signal(int sig) {
    const int saved_errno = errno;
    Runtime& rt = get();
    if (rt.writer_on_.load() && !on_writer_thread()) {
      const std::uint64_t seen = rt.drains_.load(std::memory_order_acquire);
      const timespec ms = {0, 1000000};
      for (int i = 0; i < 100 && rt.writer_on_.load() && rt.drains_.load() < seen + 2; ++i)
        ::nanosleep(&ms, nullptr);
    }
    errno = saved_errno;
    ::raise(sig);  // the default action now (SA_RESETHAND); a fault would also come again on return
  }

  static void on_terminate() {
    Runtime& rt = get();
    end_open_spans();
    rt.finish();
    if (rt.previous_terminate_)
      rt.previous_terminate_();
    else
      std::abort();
  }

  static void after_fork_child();

  std::mutex init_mutex_, rings_mutex_, config_mutex_, drain_mutex_, wake_mutex_;
  std::condition_variable wake_;
  bool running_ = false, finished_ = false;
  std::atomic<bool> exiting_{false};  // the program's exit began (at_exit ran): see agentlog_finish_at_exit
  std::atomic<bool> writer_on_{false};    // the writer thread drains (read by on_fatal_signal)
  std::atomic<std::uint64_t> drains_{0};  // the writer's passes so far
  std::thread writer_;
  std::vector<Ring*> rings_;
  // Buffers for new threads' rings (rings_mutex_; see spare_room): of threads that ended, and, once a
  // program has started threads beyond its first two, one the writer makes ahead.
  static const std::size_t kSpareRings = 4, kSpareBytes = std::size_t(64) << 20;
  std::vector<Ring::Memory> spare_;
  std::uint32_t rings_made_ = 0, buffers_made_ = 0, reused_ = 0;
  std::atomic<std::size_t> pending_{0};  // the fullest ring's bytes at the last drain
  std::vector<SiteInfo*> sites_;         // by id (config_mutex_)
  std::size_t sites_written_ = 0;        // to the binary file
  SpanFormatter fmt_;
  Settings settings_;
  std::string config_path_, file_path_;
  long long config_stamp_ = 0;
  int pid_ = 0, fd_ = -1;
  std::int64_t start_wall_ns_ = 0, steady0_ = 0;
  std::uint64_t tick0_ = 0;
  double cached_ns_per_tick_ = 0;
  std::uint64_t rate_from_ = 0;  // the next rate of the ticks applies from here: the tick of the last drain
  std::atomic<std::uint64_t> recorded_{0}, dropped_closed_{0}, waited_closed_{0};
  std::atomic<bool> wake_requested_{false};
  std::terminate_handler previous_terminate_ = nullptr;
};

// ----------------------------------------------------------------------------- per-thread state
// The per-thread exception globals of the Itanium C++ ABI (libstdc++, libc++abi): its address is fixed for a
// thread, so the count of uncaught exceptions is one load instead of std::uncaught_exceptions()'s two calls.
struct EhGlobals {
  void* caught;
  unsigned int uncaught;
};

// The settings read on every span, copied to the thread (they do not change after start): read from the
// runtime object, they shared a cache line with what the writer updates on every span it formats.
struct HotSettings {
  double sample_rate;
  std::size_t max_capture;
  int max_depth, full_wait_ms;
  bool redact;
};

// A thread's capture buffer: the captured items of its open spans, stacked. Plain data (part of ThreadState);
// appending is a bounds check and a copy, where std::string's append was a call.
struct Bytes {
  char* data;
  std::size_t size, cap;
  char* extend(std::size_t n) {
    if (AGENTLOG_UNLIKELY(cap - size < n)) grow(n);
    char* p = data + size;
    size += n;
    return p;
  }
  void append(const char* p, std::size_t n) {
    if (n) std::memcpy(extend(n), p, n);
  }
  void append(const std::string& text) { append(text.data(), text.size()); }
  AGENTLOG_NOINLINE void grow(std::size_t n) {
    std::size_t c = std::max(std::max(cap * 2, size + n), std::size_t(4096));
    char* d = static_cast<char*>(std::realloc(data, c));
    if (!d) AGENTLOG_BAD_ALLOC();
    data = d;
    cap = c;
  }
};

// Plain data so that thread_local access needs no initialisation guard.
struct ThreadState {
  Ring* ring;
  std::uint64_t trace_hi, trace_lo;
  std::uint64_t current;      // seq of the innermost recorded span (parent of the next), 0 = none
  std::uint64_t seq;          // spans begun on this thread
  std::uint64_t seed;         // span ids are span_id(seed, seq)
  std::uint64_t root_parent;  // the parent of spans begun with current == 0: a span of another thread, or 0
  bool trace_changed;         // the trace (ids, custom id, root parent) changed since the writer was told
  std::uint64_t trace_root;   // the trace's id is derived from this root's seq (0: told in a TraceRecord)
  const std::string* custom;
  std::shared_ptr<const std::string>* custom_owner;  // the ScopedTrace/ContextScope holding `custom`
  std::uint32_t tid;
  int depth;
  bool sampled;
  bool pinned;    // trace id (and parent) set by ScopedTrace / ContextScope: roots do not start a new trace
  bool writer;    // the writer thread never traces
  Bytes scratch;  // captures of open spans, stacked
  const EhGlobals* eh;  // this thread's exception globals (Itanium C++ ABI)
  HotSettings hot;
  Span* open;  // the innermost recorded span still open (each holds the one before): ended by terminate
};

template <class U = void>
struct Tls {
  static thread_local ThreadState state;
};
// clang-format off
template <class U>
thread_local ThreadState Tls<U>::state = {nullptr, 0, 0, 0, 0, 0, 0, true, 0, nullptr, nullptr, 0, 0,
                                          true, false, false, {nullptr, 0, 0}, nullptr, {0, 0, 0, 0, false},
                                          nullptr};
// clang-format on

inline ThreadState& tls() { return Tls<>::state; }

// Makes the thread's trace id known on the thread. A root span's trace has an id derived from the root's seq,
// which the writer derives too: a span's start leaves it to this, for what asks for it (a context for another
// thread, the ids of the current span).
inline void know_trace_id(ThreadState& t) {
  if (t.trace_root && t.depth > 0 && !(t.trace_hi | t.trace_lo))
    derive_trace(t.seed, t.trace_root, t.trace_hi, t.trace_lo);
}

// The id of the thread's innermost open span, else of the span it adopted from another thread (0: none).
inline std::uint64_t current_span_id(const ThreadState& t) {
  return t.current ? span_id(t.seed, t.current) : t.root_parent;
}

inline void Runtime::mark_writer_thread() { tls().writer = true; }
inline bool Runtime::on_writer_thread() { return tls().writer; }

// Closes the thread's ring when the thread exits (constructed only on a thread's first recorded span).
struct ThreadCloser {
  ~ThreadCloser() {
    ThreadState& t = tls();
    if (t.ring) {
      t.ring->closed.store(true);
      Runtime::get().wake();  // its last spans written, its buffer ready for the next thread, now
    }
    t.ring = nullptr;
    std::free(t.scratch.data);
    t.scratch.data = nullptr;
    t.scratch.size = t.scratch.cap = 0;
  }
};

inline std::uint64_t splitmix(std::uint64_t& x) { return mix64(x += 0x9e3779b97f4a7c15ULL); }

AGENTLOG_NOINLINE inline bool thread_setup(ThreadState& t) {
  if (t.writer) return false;
  if (Globals<>::state.load(std::memory_order_acquire) == -1) Runtime::get().init();
  if (Globals<>::state.load(std::memory_order_acquire) != 1) return false;
  static thread_local ThreadCloser closer;
  (void)closer;
  t.tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
  std::uint64_t entropy = static_cast<std::uint64_t>(wall_ns()) ^ (static_cast<std::uint64_t>(t.tid) << 32) ^
                          ticks() ^ reinterpret_cast<std::uintptr_t>(&t);
  if (!t.scratch.data) t.scratch.grow(4096);
  if (!t.seed) t.seed = splitmix(entropy);  // kept across fork: spans open then end in the child
  const Settings& st = Runtime::get().settings();
  HotSettings hot = {st.sample_rate, st.max_capture, st.max_depth, st.full_wait_ms, st.redact};
  t.hot = hot;
#if defined(__GLIBCXX__) || defined(_LIBCPPABI_VERSION)
  t.eh = reinterpret_cast<const EhGlobals*>(abi::__cxa_get_globals());
#endif
  know_trace_id(t);  // a span open since before fork(): its trace is told as an explicit id from here on
  t.trace_changed = true;
  t.trace_root = 0;
  t.ring = Runtime::get().new_ring(t.tid, t.seed);
  return t.ring != nullptr;
}

inline int resolve_level(Site& site) {
  if (Globals<>::state.load(std::memory_order_acquire) == -1) Runtime::get().init();
  if (Globals<>::state.load(std::memory_order_relaxed) != 1) return 0;
  return Runtime::get().resolve(site);
}

// Spans open across fork() end in the child and go to the child's file, under the same trace.
// The child keeps the thread's seed (the ids of the spans open across the fork must not change), and its new
// spans number from a random 64-bit offset on: their span ids, and the trace ids derived from them, are then
// not those of the parent's next spans nor of another child's (two ranges of 2^32 spans overlap with a chance
// of about 2^-31).
inline void after_fork_reset() {
  ThreadState& t = tls();
  t.ring = nullptr;
  std::uint64_t x = static_cast<std::uint64_t>(::getpid()) ^ ticks();
  t.seq += splitmix(x);
}

inline void Runtime::after_fork_child() {
  // The child has only this thread and a copy of the parent's memory: forget rings and the writer,
  // start a new file on the next span.
  Runtime& rt = get();
  new (&rt.init_mutex_) std::mutex();
  new (&rt.rings_mutex_) std::mutex();
  new (&rt.config_mutex_) std::mutex();
  new (&rt.drain_mutex_) std::mutex();
  new (&rt.wake_mutex_) std::mutex();
  new (&rt.wake_) std::condition_variable();
  new (&rt.writer_) std::thread();  // the old handle names a thread that does not exist in the child
  rt.rings_.clear();
  for (std::size_t i = 0; i < rt.spare_.size(); ++i) Ring::unmap(rt.spare_[i]);  // this process's copies
  rt.spare_.clear();
  rt.rings_made_ = rt.buffers_made_ = rt.reused_ = 0;  // the child's own, as its stats and file
  rt.running_ = rt.finished_ = false;
  rt.exiting_.store(false);
  rt.writer_on_.store(false);
  if (rt.fd_ >= 0) ::close(rt.fd_);
  rt.fd_ = -1;
  rt.fmt_.out.clear();
  rt.sites_written_ = 0;
  after_fork_reset();
  int on = 1;  // off stays off: a span made while off reads none of its members (Span())
  Globals<>::state.compare_exchange_strong(on, -1);
  Globals<>::generation.fetch_add(1);
}

// ----------------------------------------------------------------------------------- capturing

template <int N>
struct Rank : Rank<N - 1> {};
template <>
struct Rank<0> {};

template <class T>
std::string type_name() {
  std::string p = __PRETTY_FUNCTION__;  // "std::string agentlog::detail::type_name() [with T = Widget; ...]"
  std::size_t b = p.find("T = ");
  if (b == std::string::npos) return "?";
  b += 4;
  std::size_t e = p.find_first_of(";]", b);
  return p.substr(b, e - b);
}

struct Out {
  std::string& s;
  std::size_t limit;
  bool redact;
};

void capture_string(Out& o, const char* p, std::size_t n);

template <class T>
void capture(Out& o, const T& v);

template <class T, class = void>
struct has_ostream : std::false_type {};
template <class T>
struct has_ostream<T, decltype(void(std::declval<std::ostream&>() << std::declval<const T&>()))>
    : std::true_type {};

namespace adl {
using std::to_string;
template <class T>
auto call_to_string(const T& v) -> decltype(to_string(v)) {
  return to_string(v);
}
}  // namespace adl

template <class T, class = void>
struct has_to_string : std::false_type {};
template <class T>
struct has_to_string<T, decltype(void(adl::call_to_string(std::declval<const T&>())))> : std::true_type {};

// A class's value is written by its own operator<< or to_string, never through one of its implicit
// conversions: `os << money` that compiles because Money converts to bool would call the program's
// conversion (which may throw, or do work) and record "1". Exactly<T> converts to T only, so what takes an
// Exactly<T> takes a T itself: a conversion from there to bool would be a second user-defined conversion.
// A template operator<< (deduction sees no conversions) is trusted for a class with no implicit conversion to
// a number or a pointer.
template <class T>
struct Exactly {
  operator const T&() const;  // declared only: for overload resolution
};
template <class T, class = void>
struct has_own_ostream : std::false_type {};
template <class T>
struct has_own_ostream<T, decltype(void(std::declval<std::ostream&>() << std::declval<Exactly<T> >()))>
    : std::true_type {};
template <class T, class = void>
struct has_own_to_string : std::false_type {};
template <class T>
struct has_own_to_string<T, decltype(void(adl::call_to_string(std::declval<Exactly<T> >())))>
    : std::true_type {};
template <class T>
struct converts_to_scalar
    : std::integral_constant<bool, std::is_convertible<const T&, long double>::value ||
                                       std::is_convertible<const T&, bool>::value ||
                                       std::is_convertible<const T&, long long>::value ||
                                       std::is_convertible<const T&, unsigned long long>::value ||
                                       std::is_convertible<const T&, const void*>::value> {};
template <class T>
struct streams_itself
    : std::integral_constant<bool, has_ostream<T>::value &&
                                       (!std::is_class<T>::value || has_own_ostream<T>::value ||
                                        !converts_to_scalar<T>::value)> {};
template <class T>
struct to_string_itself
    : std::integral_constant<bool, has_to_string<T>::value &&
                                       (!std::is_class<T>::value || has_own_to_string<T>::value ||
                                        !converts_to_scalar<T>::value)> {};

template <class T, class = void>
struct is_range : std::false_type {};
template <class T>
struct is_range<T, decltype(void(std::declval<const T&>().begin() != std::declval<const T&>().end()))>
    : std::true_type {};

// A range whose items are of its own type (std::filesystem::path, nlohmann::json): walked as a container, its
// capture never ends (the stack overflowed). Written as text instead: a path by its string(), anything else
// through operator<<.
template <class T, class = void>
struct is_self_range : std::false_type {};
template <class T>
struct is_self_range<
    T, typename std::enable_if<std::is_same<
           typename std::decay<decltype(*std::declval<const T&>().begin())>::type, T>::value>::type>
    : std::true_type {};
template <class T, class = void>
struct has_string_member : std::false_type {};
template <class T>
struct has_string_member<T, typename std::enable_if<std::is_same<decltype(std::declval<const T&>().string()),
                                                                 std::string>::value>::type>
    : std::true_type {};

template <class T, class = void>
struct is_map : std::false_type {};
template <class T>
struct is_map<T, decltype(void(std::declval<typename T::key_type>()),
                          void(std::declval<typename T::mapped_type>()))> : std::true_type {};

template <class T>
struct is_pair : std::false_type {};
template <class A, class B>
struct is_pair<std::pair<A, B> > : std::true_type {};
template <class T>
struct is_tuple : std::false_type {};
template <class... A>
struct is_tuple<std::tuple<A...> > : std::true_type {};

template <class T, class = void>
struct is_smart_ptr : std::false_type {};
template <class T>
struct is_smart_ptr<T, decltype(void(std::declval<typename T::element_type>),
                                void(std::declval<const T&>().get()))> : std::true_type {};

const std::size_t kMaxItems = 16;

template <class T, typename std::enable_if<std::is_same<T, bool>::value, int>::type = 0>
void capture_impl(Out& o, T v, Rank<20>) {
  o.s += v ? "true" : "false";
}
template <class T, typename std::enable_if<std::is_same<T, char>::value, int>::type = 0>
void capture_impl(Out& o, T v, Rank<20>) {
  capture_string(o, &v, 1);
}
template <class T,
          typename std::enable_if<std::is_integral<T>::value && std::is_signed<T>::value, int>::type = 0>
void capture_impl(Out& o, T v, Rank<19>) {
  put_int(o.s, static_cast<long long>(v));
}
template <class T,
          typename std::enable_if<std::is_integral<T>::value && !std::is_signed<T>::value, int>::type = 0>
void capture_impl(Out& o, T v, Rank<19>) {
  put_uint(o.s, static_cast<unsigned long long>(v));
}
template <class T, typename std::enable_if<std::is_floating_point<T>::value, int>::type = 0>
void capture_impl(Out& o, T v, Rank<19>) {
  put_double(o.s, static_cast<double>(v));
}
template <class T, typename std::enable_if<std::is_enum<T>::value && !has_ostream<T>::value, int>::type = 0>
void capture_impl(Out& o, T v, Rank<19>) {
  put_int(o.s, static_cast<long long>(v));
}
// The string, C string and nullptr overloads take their exact types (templates: a class that converts to one
// is not converted).
template <class T>
struct is_exactly_string : std::integral_constant<bool, std::is_same<T, std::string>::value
#if __cplusplus >= 201703L
                                                            || std::is_same<T, std::string_view>::value
#endif
                                                  > {
};
template <class T>
struct is_c_string
    : std::integral_constant<bool, std::is_same<T, const char*>::value || std::is_same<T, char*>::value> {};
template <class T, typename std::enable_if<is_exactly_string<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<18>) {
  capture_string(o, v.data(), v.size());
}
#if __cplusplus >= 201703L
template <class T>
void capture_impl(Out& o, const std::optional<T>& v, Rank<18>) {
  if (v)
    capture(o, *v);
  else
    o.s += "null";
}
inline void capture_impl(Out& o, std::nullopt_t, Rank<18>) { o.s += "null"; }  // `return std::nullopt;`
#endif
template <class T, typename std::enable_if<is_c_string<T>::value, int>::type = 0>
void capture_impl(Out& o, T v, Rank<18>) {
  if (v)
    capture_string(o, v, std::strlen(v));
  else
    o.s += "null";
}
template <class T, typename std::enable_if<std::is_same<T, std::nullptr_t>::value, int>::type = 0>
void capture_impl(Out& o, T, Rank<18>) {
  o.s += "null";
}
// Ranked above const char*, which would otherwise win and read past an unterminated array.
template <std::size_t N>
void capture_impl(Out& o, const char (&v)[N], Rank<19>) {
  capture_string(o, v, strnlen(v, N));
}
template <class T>
void capture_impl(Out& o, T* v, Rank<17>) {
  if (!v) {
    o.s += "null";
    return;
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "0x%llx",
                        static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(v)));
  capture_string(o, buf, static_cast<std::size_t>(n));
}
template <class T, typename std::enable_if<is_smart_ptr<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<16>) {
  if (!v.get())
    o.s += "null";
  else
    capture(o, *v);
}
template <class T, typename std::enable_if<is_pair<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<15>) {
  o.s += '[';
  capture(o, v.first);
  o.s += ',';
  capture(o, v.second);
  o.s += ']';
}
template <std::size_t I, class Tuple>
typename std::enable_if<I == std::tuple_size<Tuple>::value>::type tuple_items(Out&, const Tuple&) {}
template <std::size_t I, class Tuple>
typename std::enable_if<(I < std::tuple_size<Tuple>::value)>::type tuple_items(Out& o, const Tuple& t) {
  if (I) o.s += ',';
  capture(o, std::get<I>(t));
  tuple_items<I + 1>(o, t);
}
template <class T, typename std::enable_if<is_tuple<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<15>) {
  o.s += '[';
  tuple_items<0>(o, v);
  o.s += ']';
}
template <class T, typename std::enable_if<is_map<T>::value && is_range<T>::value && !is_self_range<T>::value,
                                           int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<14>) {
  const std::size_t start = o.s.size();  // the cut-off counts this value's own text
  o.s += '{';
  std::size_t n = 0;
  for (const auto& kv : v) {
    if (n == kMaxItems || o.s.size() - start > o.limit * 4) {
      o.s += ",\"...\":";
      put_uint(o.s, static_cast<unsigned long long>(v.size() - n));
      break;
    }
    if (n++) o.s += ',';
    std::string key;
    Out ko{key, o.limit, o.redact};
    capture(ko, kv.first);
    if (key.empty() || key[0] != '"') {
      std::string quoted;
      put_string(quoted, key);
      key.swap(quoted);
    }
    o.s += key;
    o.s += ':';
    capture(o, kv.second);
  }
  o.s += '}';
}
template <class T,
          typename std::enable_if<is_self_range<T>::value && has_string_member<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<13>) {
  const std::string text = v.string();
  capture_string(o, text.data(), text.size());
}
template <class T, typename std::enable_if<
                       is_range<T>::value && !is_map<T>::value && !is_self_range<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<13>) {
  const std::size_t start = o.s.size();  // the cut-off counts this value's own text
  o.s += '[';
  std::size_t n = 0;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (n == kMaxItems || o.s.size() - start > o.limit * 4) {
      std::size_t rest = 0;
      for (; it != v.end(); ++it) ++rest;
      o.s += ",\"... ";
      put_uint(o.s, rest);
      o.s += " more\"";
      break;
    }
    if (n++) o.s += ',';
    capture(o, *it);
  }
  o.s += ']';
}
// The value as its operator<< writes it.
template <class T>
void capture_streamed(Out& o, const T& v) {
  std::ostringstream ss;
  ss << v;
  std::string text = ss.str();
  capture_string(o, text.data(), text.size());
}
template <class T, typename std::enable_if<streams_itself<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<12>) {
  capture_streamed(o, v);
}
template <class T, typename std::enable_if<to_string_itself<T>::value, int>::type = 0>
void capture_impl(Out& o, const T& v, Rank<11>) {
  std::string text = adl::call_to_string(v);
  capture_string(o, text.data(), text.size());
}
// A standard library type that converts (std::atomic<int>, std::vector<bool>::reference): its conversion is
// the library's, cheap and without side effects, so the value is written through it.
template <class T, typename std::enable_if<has_ostream<T>::value, int>::type = 0>
bool capture_standard(Out& o, const T& v, const std::string& type) {
  if (type.compare(0, 5, "std::") != 0) return false;
  capture_streamed(o, v);
  return true;
}
template <class T, typename std::enable_if<!has_ostream<T>::value, int>::type = 0>
bool capture_standard(Out&, const T&, const std::string&) {
  return false;
}
template <class T>
void capture_impl(Out& o, const T& v, Rank<0>) {
  const std::string type = type_name<T>();
  if (capture_standard(o, v, type)) return;
  std::string name = "<" + type + ">";
  capture_string(o, name.data(), name.size());
}

template <class T>
void capture(Out& o, const T& v) {
  capture_impl(o, v, Rank<20>());
}

inline void capture_string(Out& o, const char* p, std::size_t n) {
  if (o.redact && looks_like_jwt(p, n)) {
    o.s += "\"[REDACTED]\"";
    return;
  }
  if (n > o.limit) {
    std::size_t keep = o.limit;
    while (keep > 0 && (static_cast<unsigned char>(p[keep]) & 0xC0) == 0x80)
      --keep;  // whole UTF-8 characters
    o.s += '"';
    put_escaped(o.s, p, keep);
    o.s += "...(truncated, ";
    put_uint(o.s, n);
    o.s += " bytes)\"";
    return;
  }
  put_string(o.s, p, n);
}

// A secret word anywhere in the name, in any case (db_password, refreshToken, secretkey; the log's rule), but
// for names that only hold one (secretary, passwordless, tokenizer) and counts of tokens (max_tokens,
// tokenCount, token_usage).
inline bool looks_secret_name(const std::string& name) {
  std::string s;
  for (char c : name) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const char* const words[] = {"password",      "passwd",  "token",     "secret",
                                      "authorization", "api_key", "apikey",    "private_key",
                                      "privatekey",    "cookie",  "credential"};
  static const char* const not_secrets[] = {"secretar", "passwordless", "tokeniz"};
  static const char* const token_counts[] = {"s", "_count", "count", "_usage", "usage", "_limit", "limit"};
  for (const char* w : words)
    for (std::size_t at = s.find(w); at != std::string::npos; at = s.find(w, at + 1)) {
      bool secret = true;
      for (const char* n : not_secrets) secret = secret && s.compare(at, std::strlen(n), n) != 0;
      if (std::strcmp(w, "token") == 0)
        for (const char* t : token_counts) secret = secret && s.compare(at + 5, std::strlen(t), t) != 0;
      if (secret) return true;
    }
  return false;
}

inline bool looks_like_jwt(const char* s, std::size_t n) {
  if (n < 20 || s[0] != 'e' || s[1] != 'y' || s[2] != 'J') return false;
  int dots = 0;
  for (std::size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c == '.')
      ++dots;
    else if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '='))
      return false;
  }
  return dots == 2;
}

// A capture that is too long as a whole (the JSON text from `start` on) becomes a truncated string of its
// text.
inline void limit_capture(std::string& s, std::size_t start, std::size_t limit) {
  if (s.size() - start > limit + 32) {
    std::string text = s.substr(start);
    s.resize(start);
    Out plain{s, limit, false};
    capture_string(plain, text.data(), text.size());
  }
}
template <class T>
void capture_limited(std::string& s, const T& v, std::size_t limit, bool redact) {
  std::size_t start = s.size();
  Out o{s, limit, redact};
  capture(o, v);
  limit_capture(s, start, limit);
}

// ---------------------------------------------------------------------------------- capture items
// What a level >= 2 span captures goes to the thread's buffer as items (see CaptureTag), formatted later.
struct ItemOut {
  Bytes& b;
  std::size_t limit;
  bool redact;
};
inline void put_item(Bytes& b, CaptureTag tag) { *b.extend(1) = static_cast<char>(tag); }
inline void put_item(Bytes& b, CaptureTag tag, std::uint64_t word) {
  char* p = b.extend(9);
  *p = static_cast<char>(tag);
  put64(p + 1, word);
}
inline void put_item_string(ItemOut& o, const char* s, std::size_t n) {
  if (o.redact && looks_like_jwt(s, n)) return put_item(o.b, kCapRedacted);
  // Past the limit, one byte more than the limit is kept: the formatter cuts at whole UTF-8 characters.
  std::size_t kept = n > o.limit ? o.limit + 1 : n;
  char* p = o.b.extend(13 + kept);
  *p = static_cast<char>(kCapString);
  std::memcpy(put64(put32(p + 1, static_cast<std::uint32_t>(kept)), n), s, kept);
}
template <class T>
void put_item_text(ItemOut& o, const T& v) {
  std::string text;  // not a buffer of the thread's: formatting may run traced code (operator<<, to_string)
  capture_limited(text, v, o.limit, o.redact);
  char* p = o.b.extend(5 + text.size());
  *p = static_cast<char>(kCapText);
  std::memcpy(put32(p + 1, static_cast<std::uint32_t>(text.size())), text.data(), text.size());
}

template <class T, typename std::enable_if<std::is_same<T, bool>::value, int>::type = 0>
void item_impl(ItemOut& o, T v, Rank<20>) {
  put_item(o.b, v ? kCapTrue : kCapFalse);
}
template <class T, typename std::enable_if<std::is_same<T, char>::value, int>::type = 0>
void item_impl(ItemOut& o, T v, Rank<20>) {
  put_item_string(o, &v, 1);
}
template <class T, typename std::enable_if<(std::is_integral<T>::value && std::is_signed<T>::value) ||
                                               (std::is_enum<T>::value && !has_ostream<T>::value),
                                           int>::type = 0>
void item_impl(ItemOut& o, T v, Rank<19>) {
  put_item(o.b, kCapInt, static_cast<std::uint64_t>(static_cast<long long>(v)));
}
template <class T,
          typename std::enable_if<std::is_integral<T>::value && !std::is_signed<T>::value, int>::type = 0>
void item_impl(ItemOut& o, T v, Rank<19>) {
  put_item(o.b, kCapUint, static_cast<std::uint64_t>(v));
}
template <class T, typename std::enable_if<std::is_floating_point<T>::value, int>::type = 0>
void item_impl(ItemOut& o, T v, Rank<19>) {
  double d = static_cast<double>(v);
  std::uint64_t bits;
  std::memcpy(&bits, &d, 8);
  put_item(o.b, kCapDouble, bits);
}
template <class T, typename std::enable_if<is_exactly_string<T>::value, int>::type = 0>
void item_impl(ItemOut& o, const T& v, Rank<18>) {
  put_item_string(o, v.data(), v.size());
}
template <class T, typename std::enable_if<is_c_string<T>::value, int>::type = 0>
void item_impl(ItemOut& o, T v, Rank<18>) {
  if (v)
    put_item_string(o, v, std::strlen(v));
  else
    put_item(o.b, kCapNull);
}
template <class T, typename std::enable_if<std::is_same<T, std::nullptr_t>::value, int>::type = 0>
void item_impl(ItemOut& o, T, Rank<18>) {
  put_item(o.b, kCapNull);
}
template <std::size_t N>  // (ranked above const char*, as capture_impl's)
void item_impl(ItemOut& o, const char (&v)[N], Rank<19>) {
  put_item_string(o, v, strnlen(v, N));
}
template <class T>
void item_impl(ItemOut& o, T* v, Rank<17>) {
  if (v)
    put_item(o.b, kCapPointer, static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(v)));
  else
    put_item(o.b, kCapNull);
}
template <class T>
void item_impl(ItemOut& o, const T& v, Rank<0>) {
  put_item_text(o, v);
}
template <class T>
void put_capture(Bytes& b, const T& v, const HotSettings& st) {
  ItemOut o{b, st.max_capture, st.redact};
  item_impl(o, v, Rank<20>());
}

inline std::size_t format_item(std::string& o, const char* p, std::size_t n, std::size_t max_capture,
                               bool check) {
  if (n < 1) return 0;
  std::uint64_t word = 0;
  std::uint32_t len = 0;
  switch (static_cast<unsigned char>(*p)) {
    case kCapTrue:
      o += "true";
      return 1;
    case kCapFalse:
      o += "false";
      return 1;
    case kCapNull:
      o += "null";
      return 1;
    case kCapRedacted:
      o += "\"[REDACTED]\"";
      return 1;
    case kCapInt:
    case kCapUint:
    case kCapDouble:
    case kCapPointer:
      if (n < 9) return 0;
      std::memcpy(&word, p + 1, 8);
      if (*p == kCapInt) {
        put_int(o, static_cast<long long>(word));
      } else if (*p == kCapUint) {
        put_uint(o, word);
      } else if (*p == kCapDouble) {
        double d;
        std::memcpy(&d, &word, 8);
        put_double(o, d);
      } else {
        char buf[32];
        int w = std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(word));
        Out out{o, max_capture, false};
        capture_string(out, buf, static_cast<std::size_t>(w));
      }
      return 9;
    case kCapText:
      if (n < 5) return 0;
      std::memcpy(&len, p + 1, 4);
      if (len > n - 5 || (check && !JsonCheck{p + 5, len, 0}.whole())) return 0;
      o.append(p + 5, len);
      return 5 + static_cast<std::size_t>(len);
    case kCapString: {
      if (n < 13) return 0;
      std::memcpy(&len, p + 1, 4);
      std::memcpy(&word, p + 5, 8);
      // All its bytes, or (longer than the limit) the limit's bytes and one more.
      if (len > n - 13 || len != std::min<std::uint64_t>(word, max_capture + 1)) return 0;
      std::size_t start = o.size();
      Out out{o, max_capture, false};
      capture_string(out, p + 13, static_cast<std::size_t>(word));
      limit_capture(o, start, max_capture);
      return 13 + static_cast<std::size_t>(len);
    }
    default:
      return 0;
  }
}

// The last exception thrown on this thread (type and what()), noted by the __cxa_throw hook below so that
// a span being unwound can say what left it. Plain data: thread_local without an initialisation guard.
struct ThrownInfo {
  char type[160];
  char message[320];
  bool has_message;
};
template <class U = void>
struct ThrownTls {
  static thread_local ThrownInfo info;
};
template <class U>
thread_local ThrownInfo ThrownTls<U>::info = {{0}, {0}, false};
inline ThrownInfo& last_thrown() { return ThrownTls<>::info; }

#if defined(__GLIBCXX__)
// std::exception's type_info, named by its symbol: `typeid` is not allowed under -fno-rtti, and programs
// built so still throw (their libraries do) with type_info. The object is a __class_type_info: the empty asm
// hides what it is, or g++ -O2 calls std::type_info's own
// __do_catch (the object's declared type), which only compares, and no exception had its what() recorded.
extern "C++" const std::type_info agentlog_std_exception_type_info __asm__("_ZTISt9exception");
inline const std::type_info& std_exception_type() {
  const std::type_info* type = &agentlog_std_exception_type_info;
  __asm__("" : "+r"(type));
  return *type;
}
#endif

inline void note_throw(void* object, std::type_info* type) {
  ThrownInfo& t = last_thrown();
  if (Globals<>::state.load(std::memory_order_relaxed) != 1 || !type) return;
  int status = 0;
  char* demangled = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
  std::snprintf(t.type, sizeof t.type, "%s", status == 0 && demangled ? demangled : type->name());
  std::free(demangled);
  t.has_message = false;
#if defined(__GLIBCXX__)
  void* adjusted = object;
  if (std_exception_type().__do_catch(type, &adjusted, 1)) {
    std::snprintf(t.message, sizeof t.message, "%s", static_cast<std::exception*>(adjusted)->what());
    t.has_message = true;
  }
#else
  (void)object;
#endif
}

// While a value is captured, the spans its operator<< (or to_string) makes count for depth only: a traced
// operator<< of the captured type would otherwise capture its argument again, without end. (The depth cap is 0
// meanwhile: no check is added to a span's start.)
class CaptureScope {
 public:
  explicit CaptureScope(ThreadState& t) : t_(t), max_depth_(t.hot.max_depth) { t.hot.max_depth = 0; }
  ~CaptureScope() { t_.hot.max_depth = max_depth_; }
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  ThreadState& t_;
  int max_depth_;
};

// How AGENTLOG_RETURN passes through, and records, a return value of type R (what its expression gives):
// 0 void; 1 a reference, passed as the same reference; 2 a value, built in a named variable that is the
// caller's return slot (NRVO: no copy, no move); 3 a value that cannot be moved (a C++17 prvalue), passed
// through unrecorded.
template <class R, class V = typename std::remove_cv<R>::type>
struct ReturnKind {
  static const int value = std::is_void<R>::value                 ? 0
                           : std::is_reference<R>::value          ? 1
                           : std::is_move_constructible<V>::value ? 2
                                                                  : 3;
};
template <class R, int Kind = ReturnKind<R>::value>
struct PassReturn {  // 0 and 3
  template <class S, class F>
  static R run(S&, F& f) {
    return f();
  }
};
template <class R>
struct PassReturn<R, 1> {
  template <class S, class F>
  static R run(S& span, F& f) {
    R r = f();
    span.ret_value(r);
    return static_cast<R>(r);
  }
};
template <class R>
struct PassReturn<R, 2> {
  template <class S, class F>
  static R run(S& span, F& f) {
    typename std::remove_cv<R>::type v(f());
    span.ret_value(v);
    return v;
  }
};

// How Span::params_out takes a parameter: a scalar by value, anything else by reference.
template <class T>
struct ParamPass {
  typedef
      typename std::conditional<std::is_scalar<T>::value, typename std::remove_cv<T>::type, const T&>::type
          type;
};

}  // namespace detail

// ---------------------------------------------------------------------------------------- Span
// The scope guard written by AGENTLOG_SPAN. Not copyable; lives on the traced thread's stack.
class Span {
 public:
  // Disabled, the span stores nothing: AGENTLOG_SPAN loads the state once for the constructor and the
  // parameters (agentlog_on_), the destructor loads it again, and each branches (a store into the frame cost
  // fib 0.33 ns per call here, the two checks 0.05 ns). The state never leaves 0 (off), so a span that saw
  // 0 sees it at its end and in every method, and its members are read only when the state is not 0.
  static bool on() { return !off(); }
  Span(detail::Site& site, bool on) {
    if (AGENTLOG_LIKELY(!on)) return;
    level_ = 0;
    depth_counted_ = false;
    begin(site);
  }
  ~Span() {
    if (AGENTLOG_UNLIKELY(!off() && depth_counted_)) end();  // entered (recorded, or counted for depth only)
  }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  bool capturing() const { return level() >= 2 && capture_params_; }

  // Out of line, so that a function's traced path keeps no more registers than its own code does (the
  // disabled path pays for every register the function saves), with scalars by value: a parameter whose
  // address is taken is stored into the frame on every call, traced or not.
  template <class... T>
  AGENTLOG_INLINE void params(int ceiling, const T&... values) {
    params_out<typename detail::ParamPass<T>::type...>(ceiling, values...);
  }
  template <class... T>
  AGENTLOG_NOINLINE void params_out(int /*ceiling*/, T... values) {
    if (!capturing()) return;
    detail::SiteInfo* info = site_->info.load(std::memory_order_acquire);
    detail::CaptureScope capturing(detail::tls());
    ParamsEnd end = {this};  // also when an operator<< of the program's throws: the parameters before it stay
    std::size_t i = 0;
    int expand[] = {0, (param(info, i++, values), 0)...};
    (void)expand;
    (void)end;
    (void)info;  // an empty pack
  }

  // The return value of AGENTLOG_RETURN(expr), which hands expr over as a lambda: evaluated here, a value is
  // built where the function returns it (no temporary, no copy or move) and recorded (level >= 2) on the
  // way; a reference passes through as the same reference.
  template <class F>
  AGENTLOG_INLINE auto ret_call(bool on, F&& f) -> decltype(f()) {
    if (!on || level() < 2 || !capture_return_) return f();
    return detail::PassReturn<decltype(f())>::run(*this, f);
  }
  template <class T>
  void ret_value(const T& value) {
    if (level() >= 2 && capture_return_) record_return(value);
  }

  template <class T>
  void var(const char* name, const T& value, int line = 0) {
    if (level() < 4 || !event_room()) return;
    std::string s = "{\"kind\":\"var\",\"name\":";
    detail::put_string(s, name, std::strlen(name));
    if (line > 0) {
      s += ",\"line\":";
      detail::put_int(s, line);
    }
    s += ",\"value\":";
    const detail::HotSettings& st = detail::tls().hot;
    if (st.redact && detail::looks_secret_name(name)) {
      s += "\"[REDACTED]\"";
    } else {
      detail::CaptureScope capturing(detail::tls());
      detail::capture_limited(s, value, st.max_capture, st.redact);
    }
    event_end(s);
  }
  void checkpoint(const char* label, int line) {
    if (level() < 4 || !event_room()) return;
    std::string s = "{\"kind\":\"checkpoint\",\"name\":";
    detail::put_string(s, label, std::strlen(label));
    s += ",\"line\":";
    detail::put_int(s, line);
    event_end(s);
  }
  void line(int n) {
    if (level() < 5 || !event_room()) return;
    std::string s = "{\"kind\":\"line\",\"line\":";
    detail::put_int(s, n);
    event_end(s);
  }

  static const std::uint32_t kMaxEvents = 256;

 private:
  detail::Bytes& scratch() { return detail::tls().scratch; }
  static bool off() { return detail::Globals<>::state.load(std::memory_order_relaxed) == 0; }
  int level() const { return off() ? 0 : level_; }  // 0: disabled, or not recorded

  // Sets the length of the captured parameters when params() ends, however it ends.
  struct ParamsEnd {
    Span* span;
    ~ParamsEnd() { span->params_len_ = static_cast<std::uint32_t>(span->scratch().size - span->scratch_start_); }
  };

  // The common case: a span inside a trace, on a thread that has its buffer, with no trace id of the
  // program's own, at a level resolved for this configuration and below 4. It calls nothing, so it saves no
  // registers. A root goes to begin_root() (deriving a trace id takes registers), the rest to begin_full().
  // Called when the constructor saw the runtime not disabled; what this reads is atomic or the thread's, and
  // begin_full() (by resolve_level()) looks at the state again before it uses the runtime.
  AGENTLOG_NOINLINE void begin(detail::Site& site) {
    if (AGENTLOG_UNLIKELY(site.generation.load(std::memory_order_acquire) !=
                          detail::Globals<>::generation.load(std::memory_order_relaxed)))
      return begin_full(site);
    const int level = site.level.load(std::memory_order_relaxed);
    if (level <= 0) return;
    detail::ThreadState& t = detail::tls();
    if (AGENTLOG_UNLIKELY(!t.ring || t.custom || level >= 4)) return begin_full(site);
    if (at_root(t)) return begin_root(site, t, level);
    enter<false>(site, t, level, false);
  }

  AGENTLOG_NOINLINE void begin_root(detail::Site& site, detail::ThreadState& t, int level) {
    enter<false>(site, t, level, true);
  }

  AGENTLOG_NOINLINE void begin_full(detail::Site& site) {
    int level = detail::site_level(site);
    if (level <= 0) return;
    detail::ThreadState& t = detail::tls();
    if (AGENTLOG_UNLIKELY(!t.ring) && !detail::thread_setup(t)) return;
    enter<true>(site, t, level, at_root(t));
  }

  // No span open on the thread, nor a context adopted: the next span is a root.
  static bool at_root(const detail::ThreadState& t) {
    return t.current == 0 && t.root_parent == 0 && t.depth == 0;
  }

  // Enters the span (a root starts a trace unless one is pinned) and, when it is sampled and within the depth
  // cap, records its start. Full: any case (a trace id of the program's own, level >= 4).
  template <bool Full>
  AGENTLOG_INLINE void enter(detail::Site& site, detail::ThreadState& t, int level, bool root) {
    const detail::HotSettings& st = t.hot;
    bool new_root = false;
    if (root) {
      if (!t.pinned) {
        new_root = true;
        // This span's seq, taken even when the trace is not sampled, so that derived ids never repeat.
        t.trace_root = ++t.seq;
        t.trace_hi = t.trace_lo = 0;  // derived when asked for (know_trace_id), and by the writer
        t.trace_changed = true;
      }
      if (!t.pinned || (Full && t.custom)) t.sampled = sampled_by_id<Full>(t, st.sample_rate);
    }
    ++t.depth;
    depth_counted_ = true;
    if (!t.sampled || t.depth > st.max_depth) return;
    site_id_ = site.id.load(std::memory_order_relaxed);
    level_ = static_cast<std::uint8_t>(level);
    if (level >= 2) {  // the members of captures: a level-1 span never reads them
      detail::SiteInfo* info = site.info.load(std::memory_order_acquire);
      site_ = &site;
      capture_params_ = info->capture_params.load(std::memory_order_relaxed);
      capture_return_ = info->capture_return.load(std::memory_order_relaxed);
      has_return_ = false;
      return_start_ = 0;
      params_len_ = events_ = dropped_events_ = 0;
      steady0_ = Full && level >= 4 ? detail::steady_ns() : 0;
      scratch_start_ = t.scratch.size;
    }
    parent_ = t.current;
    span_ = new_root ? t.trace_root : ++t.seq;
    t.current = span_;
    prev_open_ = t.open;
    t.open = this;
    uncaught_ = uncaught(t);
    t0_ = detail::ticks();
  }

  template <class T>
  void param(detail::SiteInfo* info, std::size_t i, const T& v) {
    if (i >= info->name_json.size()) return;  // more values than names cannot happen with AGENTLOG_SPAN
    const detail::HotSettings& st = detail::tls().hot;
    if (st.redact && info->secret[i])
      detail::put_item(scratch(), detail::kCapRedacted);
    else
      detail::put_capture(scratch(), v, st);
  }

  template <class T>
  AGENTLOG_NOINLINE void record_return(const T& value) {
    return_start_ = scratch().size;
    detail::CaptureScope capturing(detail::tls());
    detail::put_capture(scratch(), value, detail::tls().hot);
    has_return_ = true;
  }

  // Whether an event fits (else it is counted as dropped): at most kMaxEvents, none after the return value
  // (the payload is params, events, return value).
  bool event_room() {
    if (events_ < kMaxEvents && !has_return_) return true;
    ++dropped_events_;
    return false;
  }
  // Adds the event whose text is in s (built apart: a capture that throws leaves no part of it).
  void event_end(std::string& s) {
    s += ",\"offsetNs\":";
    detail::put_int(s, detail::steady_ns() - steady0_);
    s += '}';
    if (events_++) *scratch().extend(1) = ',';
    scratch().append(s);
  }

  AGENTLOG_NOINLINE void end() {
    std::uint64_t t1 = detail::ticks();
    detail::ThreadState& t = detail::tls();
    --t.depth;            // called only for a span counted in the depth
    if (!level_) return;  // counted for depth only (not sampled / too deep)
    t.current = parent_;
    t.open = prev_open_;
    bool error = uncaught(t) > uncaught_;
    if (level_ != 1)
      end_captures(t, t1, error);
    else if (!end_short<false>(t, t1, error))
      end_recorded(t, t1, error);
  }
  // A span of level >= 2. (Out of line: inlined in end(), its registers were saved for level-1 spans too.)
  AGENTLOG_NOINLINE void end_captures(detail::ThreadState& t, std::uint64_t t1, bool error) {
    if (error || !end_short<true>(t, t1, false)) end_recorded(t, t1, error);
  }

  // The common case, kept short: a span into a ring with room, with no trace record before it (a span of the
  // trace the thread's last span was in, or a root that starts its trace), no custom trace id, no pad, no
  // exception to describe. False: not done. (A trace record first, once per trace, takes registers.)
  template <bool Captures>
  AGENTLOG_INLINE bool end_short(detail::ThreadState& t, std::uint64_t t1, bool error) {
    detail::Ring* r = t.ring;
    if (AGENTLOG_UNLIKELY(!r || t.custom)) return false;
    // A changed trace needs no record first when this span is the root the trace's id is derived from.
    const bool root = t.trace_changed;
    if (AGENTLOG_UNLIKELY(root && t.trace_root != span_)) return false;
    const std::size_t payload = Captures ? t.scratch.size - scratch_start_ : 0;
    const std::size_t header = sizeof(detail::SpanRecord) + (Captures ? sizeof(detail::PayloadRecord) : 0);
    const std::size_t size = detail::pad8(header + payload);
    const std::uint32_t word =
        detail::record_head(size, root ? detail::kRootSpan : detail::kSpan, Captures ? level_ : 1, error);
    const std::uint64_t head = r->head.load(std::memory_order_relaxed) + size;
    const std::size_t pos = r->head_pos;
    char* const data = r->data();
    if (AGENTLOG_UNLIKELY(head > r->fast_limit || (Captures && size > r->capacity / 4))) return false;
    t.trace_changed = false;
    store_span_payload(data + pos, t, word, t1, Captures, payload, t.scratch.size, 0);
    if (Captures) t.scratch.size = scratch_start_;
    // What publish() does, less what fast_limit rules out: no wrap, no look at the tail.
    r->head_pos = pos + size;
    r->head.store(head, std::memory_order_release);
    r->spans.store(r->spans.load(std::memory_order_relaxed) + 1, std::memory_order_release);
#if defined(__GNUC__)
    __builtin_prefetch(data + pos + size + 1024, 1, 3);  // own the line early (within the mapping, see map())
#endif
    if (t.depth == 0 && !t.pinned) t.trace_hi = t.trace_lo = 0;
    return true;
  }

  // Writes at p the trace record of trace_size bytes (if any), the span's record of `size` bytes and, with
  // `captures` (level >= 2), its payload: the `payload` bytes of the capture buffer from the span's start
  // (its captures up to `end`, then error_len bytes of error).
  AGENTLOG_INLINE void store_records(char* p, detail::ThreadState& t, std::size_t trace_size,
                                     std::size_t size, bool error, std::uint64_t t1, bool captures,
                                     std::size_t payload, std::size_t end, std::size_t error_len) {
    std::uint32_t word = detail::record_head(size, span_kind(t), captures ? level_ : 1, error);
    store_span_payload(store_trace(p, t, trace_size), t, word, t1, captures, payload, end, error_len);
  }
  // The span's record at p (its first word given), then its payload (see store_records).
  AGENTLOG_INLINE void store_span_payload(char* p, const detail::ThreadState& t, std::uint32_t word,
                                          std::uint64_t t1, bool captures, std::size_t payload,
                                          std::size_t end, std::size_t error_len) {
    detail::store_span(p, word, site_id_, t0_, t1, span_, parent_);
    if (captures) {
      store_payload(p + sizeof(detail::SpanRecord), end, error_len);
      std::memcpy(p + sizeof(detail::SpanRecord) + sizeof(detail::PayloadRecord),
                  t.scratch.data + scratch_start_, payload);
    }
  }

  // The PayloadRecord after the span: the lengths of what the capture buffer holds for it up to `end`
  // (parameters, events, return value), then `error_len` bytes of error.
  void store_payload(char* p, std::size_t end, std::size_t error_len) const {
    using detail::put32;
    std::size_t return_len = has_return_ ? end - return_start_ : 0;
    std::size_t events_len = end - scratch_start_ - params_len_ - return_len;
    put32(put32(put32(put32(put32(put32(p, params_len_), static_cast<std::uint32_t>(events_len)),
                            static_cast<std::uint32_t>(return_len)),
                      static_cast<std::uint32_t>(error_len)),
                dropped_events_),
          has_return_ ? 1 : 0);
  }

  // Any other recorded span: level >= 2 (captured text after the record), a trace record first, a full or
  // wrapping ring.
  AGENTLOG_NOINLINE void end_recorded(detail::ThreadState& t, std::uint64_t t1, bool error,
                                      bool no_exception = false) {
    // Level >= 2: the captures (parameters, events, return value) and the error follow the record.
    std::size_t end = 0, error_len = 0, payload = 0;
    std::size_t header = sizeof(detail::SpanRecord);
    if (level_ >= 2) {
      detail::Bytes& s = scratch();
      end = s.size;
      if (error) {
        std::string text;
        describe_unwinding(text, no_exception);
        s.append(text);
        error_len = text.size();
      }
      payload = s.size - scratch_start_;
      header += sizeof(detail::PayloadRecord);
    }
    std::size_t size = detail::pad8(header + payload);
    if (AGENTLOG_UNLIKELY(!t.ring) && !detail::thread_setup(t)) {  // opened before fork(), ends in the child
      if (level_ >= 2) scratch().size = scratch_start_;
      return;
    }
    detail::Ring& r = *t.ring;
    // A trace record first when the thread's trace changed: reserved and published with the span.
    std::size_t trace_size = trace_record_size(t);
    char* p = trace_size + size <= std::min(r.capacity / 4, detail::kMaxRecord)
                  ? reserve(r, trace_size + size)
                  : nullptr;
    if (p) {
      store_records(p, t, trace_size, size, error, t1, level_ >= 2, payload, end, error_len);
      publish(r, trace_size + size);
    } else {
      r.dropped.fetch_add(1, std::memory_order_relaxed);
    }
    if (level_ >= 2) scratch().size = scratch_start_;
    if (t.depth == 0 && !t.pinned) t.trace_hi = t.trace_lo = 0;
  }

  friend void detail::end_open_spans();

  // Recorded as ended now, with an error, by the terminate handler: an exception no handler caught ends the
  // program without unwinding, so the spans it left (the one that threw and its callers) never end
  // otherwise. Their error is that exception, or {"type":"std::terminate"} when there is none.
  void end_at_terminate(detail::ThreadState& t, bool exception) {
    const std::uint64_t t1 = detail::ticks();
    --t.depth;
    depth_counted_ = false;  // ended: a destructor that still runs does nothing
    t.current = parent_;
    t.open = prev_open_;
    end_recorded(t, t1, true, !exception);
  }

  // Exceptions thrown on this thread and not yet caught.
  static int uncaught(const detail::ThreadState& t) {
#if defined(__GLIBCXX__) || defined(_LIBCPPABI_VERSION)
    return static_cast<int>(t.eh->uncaught);
#elif __cplusplus >= 201703L
    (void)t;
    return std::uncaught_exceptions();
#else
    (void)t;
    return std::uncaught_exception() ? 1 : 0;
#endif
  }

  // Makes the `size` bytes written at the head (one span, maybe after a trace record) visible to the writer;
  // past half full, wakes it now rather than at its next tick (once per crossing).
  static void publish(detail::Ring& r, std::size_t size) {
    std::uint64_t head = r.head.load(std::memory_order_relaxed) + size;
    r.head_pos += size;
    if (r.head_pos == r.capacity) r.head_pos = 0;
    r.head.store(head, std::memory_order_release);
    r.spans.store(r.spans.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    // While the writer lags more than half a ring behind, this looks again only every 1/16 of the ring: the
    // writer's cache lines are not pulled over on every span.
    if (head - r.cached_tail > r.capacity / 2 && head >= r.next_check) {
      r.cached_tail = r.tail.load(std::memory_order_acquire);
      r.next_check = head + r.capacity / 16;
      if (head - r.cached_tail > r.capacity / 2 && !r.wake_sent.exchange(true, std::memory_order_relaxed))
        detail::Runtime::get().wake();
    }
    r.set_fast_limit();
  }

  // What tells the writer the thread's trace when it changed, before the span that ends in it: nothing when
  // the span is the root its id is derived from (a kRootSpan), the root's seq when derived, else the trace.
  std::size_t trace_record_size(const detail::ThreadState& t) const {
    if (AGENTLOG_LIKELY(!t.trace_changed)) return 0;
    if (t.trace_root) return t.trace_root == span_ ? 0 : sizeof(detail::DerivedTraceRecord);
    return detail::pad8(sizeof(detail::TraceRecord) + custom_length(t));
  }
  detail::RecordKind span_kind(const detail::ThreadState& t) const {
    return t.trace_changed && t.trace_root && t.trace_root == span_ ? detail::kRootSpan : detail::kSpan;
  }
  static std::size_t custom_length(const detail::ThreadState& t) {
    return t.custom ? std::min(t.custom->size(), std::size_t(4096)) : 0;
  }
  // Writes the record of trace_record_size(t) bytes at p; returns where the span goes.
  static char* store_trace(char* p, detail::ThreadState& t, std::size_t size) {
    using detail::put32;
    using detail::put64;
    if (!t.trace_changed) return p;
    t.trace_changed = false;
    if (!size) return p;  // the span is its trace's root
    if (t.trace_root)
      return put64(put32(put32(p, detail::record_head(size, detail::kDerivedTrace)), 0), t.trace_root);
    std::size_t custom_len = custom_length(t);  // the fields of TraceRecord
    char* q = put64(put64(put64(put32(put32(p, detail::record_head(size, detail::kTrace)),
                                      static_cast<std::uint32_t>(custom_len)),
                                t.trace_hi),
                          t.trace_lo),
                    t.root_parent);
    if (custom_len) std::memcpy(q, t.custom->data(), custom_len);
    return p + size;
  }

  // Whole traces are sampled, decided from the trace id so that every process agrees.
  // Custom: the trace may have an id of the program's own (hashed: a call); else it has a derived one.
  template <bool Custom>
  static bool sampled_by_id(detail::ThreadState& t, double rate) {
    if (rate >= 1.0) return true;
    if (t.trace_root && !(t.trace_hi | t.trace_lo)) detail::derive_trace(t.seed, t.trace_root, t.trace_hi, t.trace_lo);
    std::uint64_t h = Custom && t.custom ? std::hash<std::string>()(*t.custom)
                                         : (t.trace_lo ^ (t.trace_hi * 0x9e3779b97f4a7c15ULL));
    return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0) < rate;
  }

  // Room for `size` contiguous bytes at the head (a pad record fills a wrap): where to write them, or null
  // when the writer did not make room in time.
  static char* reserve(detail::Ring& r, std::size_t size) {
    std::uint64_t head = r.head.load(std::memory_order_relaxed);
    std::size_t offset = r.head_pos;
    std::size_t pad = r.capacity - offset < size ? r.capacity - offset : 0;
    std::size_t need = pad + size;
    if (r.capacity - (head - r.cached_tail) < need) {
      r.cached_tail = r.tail.load(std::memory_order_acquire);
      if (r.capacity - (head - r.cached_tail) < need) {
        r.waited.fetch_add(1, std::memory_order_relaxed);
        detail::Runtime::get().wake();
        std::int64_t deadline =
            detail::steady_ns() + static_cast<std::int64_t>(detail::tls().hot.full_wait_ms) * 1000000;
        while (r.capacity - (head - (r.cached_tail = r.tail.load(std::memory_order_acquire))) < need) {
          if (detail::steady_ns() > deadline) return nullptr;
          std::this_thread::yield();
        }
      }
    }
    if (pad) {
      std::uint32_t word = detail::record_head(pad, detail::kPad);
      std::memcpy(r.data() + offset, &word, sizeof word);
      r.head.store(head + pad, std::memory_order_release);
      r.head_pos = offset = 0;
    }
    return r.data() + offset;
  }

  // Type and what() of the exception leaving this span, from the thread's last throw (the __cxa_throw hook).
  static void describe_unwinding(std::string& s, bool no_exception) {
    if (no_exception) {
      s += "{\"type\":\"std::terminate\",\"message\":\"std::terminate was called without an exception\"}";
      return;
    }
    const detail::ThrownInfo& info = detail::last_thrown();
    if (!info.type[0]) return;
    s += "{\"type\":";
    detail::put_string(s, info.type, std::strlen(info.type));
    if (info.has_message) {
      s += ",\"message\":";
      detail::put_string(s, info.message, std::strlen(info.message));
    }
    s += '}';
  }

  // Only these two are set by the constructor, and only when tracing is not off (see Span()). Everything
  // else is set by begin() when the span is recorded (level_ > 0).
  std::uint8_t level_;
  bool depth_counted_;
  bool capture_params_, capture_return_, has_return_;
  detail::Site* site_;
  std::uint32_t site_id_;
  std::uint64_t t0_, span_, parent_;
  Span* prev_open_;  // the span open on the thread before this one (ThreadState::open)
  std::int64_t steady0_;
  std::size_t scratch_start_, return_start_;
  std::uint32_t params_len_, events_, dropped_events_;
  int uncaught_;
};

namespace detail {
// The spans still open on this thread when terminate runs, innermost first (see Span::end_at_terminate).
// Followed only while the chain looks whole: no more links than spans entered, each a recorded span still
// counted (a coroutine that suspended inside a span and ended it elsewhere can leave a stale link).
inline void end_open_spans() {
  ThreadState& t = tls();
  if (t.writer) return;
  const bool exception = static_cast<bool>(std::current_exception());
  for (int n = t.depth; t.open && n > 0; --n) {
    Span* s = t.open;
    if (s->level_ < 1 || s->level_ > 5 || !s->depth_counted_) break;
    s->end_at_terminate(t, exception);
  }
  t.open = nullptr;
}
}  // namespace detail

// ---------------------------------------------------------------------------------- public API
// Where the calling thread is in a trace, to carry to another thread (level 3).
inline Context current_context() {
  detail::ThreadState& t = detail::tls();
  detail::know_trace_id(t);
  Context c;
  c.trace_hi = t.trace_hi;
  c.trace_lo = t.trace_lo;
  c.span = detail::current_span_id(t);
  if (t.custom_owner) c.custom_id = *t.custom_owner;
  c.sampled = t.sampled;
  return c;
}

// Adopts a context on this thread for the scope's lifetime: spans started here become its children.
class ContextScope {
 public:
  explicit ContextScope(const Context& c) : context_(c) {
    detail::ThreadState& t = detail::tls();
    detail::know_trace_id(t);  // restored as an explicit id at the scope's end
    saved_hi_ = t.trace_hi;
    saved_lo_ = t.trace_lo;
    saved_current_ = t.current;
    saved_root_parent_ = t.root_parent;
    saved_custom_ = t.custom;
    saved_owner_ = t.custom_owner;
    saved_sampled_ = t.sampled;
    saved_pinned_ = t.pinned;
    if (!c.valid()) return;
    t.trace_hi = c.trace_hi;
    t.trace_lo = c.trace_lo;
    t.current = 0;
    t.root_parent = c.span;
    t.trace_changed = true;
    t.trace_root = 0;
    t.custom = context_.custom_id ? context_.custom_id.get() : nullptr;
    t.custom_owner = context_.custom_id ? &context_.custom_id : nullptr;
    t.sampled = c.sampled;
    t.pinned = true;
  }
  ~ContextScope() {
    detail::ThreadState& t = detail::tls();
    t.trace_hi = saved_hi_;
    t.trace_lo = saved_lo_;
    t.current = saved_current_;
    t.root_parent = saved_root_parent_;
    t.trace_changed = true;
    t.trace_root = 0;
    t.custom = saved_custom_;
    t.custom_owner = saved_owner_;
    t.sampled = saved_sampled_;
    t.pinned = saved_pinned_;
  }
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;

 private:
  Context context_;
  std::uint64_t saved_hi_, saved_lo_, saved_current_, saved_root_parent_;
  const std::string* saved_custom_;
  std::shared_ptr<const std::string>* saved_owner_;
  bool saved_sampled_, saved_pinned_;
};

namespace detail {
inline bool parse_hex(const std::string& s, std::size_t from, std::size_t n, std::uint64_t& out) {
  out = 0;
  if (s.size() < from + n) return false;
  for (std::size_t i = from; i < from + n; ++i) {
    char c = s[i];
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0) return false;
    out = (out << 4) | static_cast<std::uint64_t>(v);
  }
  return true;
}
template <class F>
struct Wrapped {
  Context context;
  F fn;
  template <class... A>
  auto operator()(A&&... args) -> decltype(fn(std::forward<A>(args)...)) {
    ContextScope scope(context);
    return fn(std::forward<A>(args)...);
  }
  template <class... A>  // for what calls a const callable (a lambda that is not mutable)
  auto operator()(A&&... args) const -> decltype(fn(std::forward<A>(args)...)) {
    ContextScope scope(context);
    return fn(std::forward<A>(args)...);
  }
};
}  // namespace detail

// W3C traceparent "00-<32 hex trace id>-<16 hex parent id>-<flags>" -> a context (invalid when malformed).
inline Context parse_traceparent(const std::string& header) {
  Context c;
  std::uint64_t version = 0, flags = 0;
  if (header.size() < 55 || header[2] != '-' || header[35] != '-' || header[52] != '-') return c;
  if (!detail::parse_hex(header, 0, 2, version) || version == 0xff) return c;
  Context parsed;
  if (!detail::parse_hex(header, 3, 16, parsed.trace_hi) ||
      !detail::parse_hex(header, 19, 16, parsed.trace_lo) ||
      !detail::parse_hex(header, 36, 16, parsed.span) || !detail::parse_hex(header, 53, 2, flags))
    return c;
  if ((parsed.trace_hi | parsed.trace_lo) == 0 || parsed.span == 0) return c;
  parsed.sampled = (flags & 1) != 0;
  return parsed;
}

inline std::string format_traceparent(const Context& c) {
  std::string s = "00-";
  detail::put_hex(s, c.trace_hi, 16);
  detail::put_hex(s, c.trace_lo, 16);
  s += '-';
  detail::put_hex(s, c.span, 16);
  s += c.sampled ? "-01" : "-00";
  return s;
}

// Runs the scope under a trace id chosen by the program: a W3C id (32 hex) or traceparent header keeps its
// form; any other text (a request id such as "req-abc-123") becomes the trace id verbatim.
class ScopedTrace {
 public:
  explicit ScopedTrace(const std::string& id) : scope_(make(id)) {}

 private:
  static Context make(const std::string& id) {
    Context c = parse_traceparent(id);
    if (c.valid()) return c;
    Context fresh;
    if (id.size() == 32 && detail::parse_hex(id, 0, 16, fresh.trace_hi) &&
        detail::parse_hex(id, 16, 16, fresh.trace_lo) && (fresh.trace_hi | fresh.trace_lo) != 0)
      return fresh;
    fresh = Context();
    fresh.custom_id = std::make_shared<const std::string>(id);
    return fresh;
  }
  ContextScope scope_;
};

// A callable that runs `fn` under the caller's context (for std::thread, std::async, thread pools).
template <class F>
detail::Wrapped<typename std::decay<F>::type> wrap(F&& fn) {
  return detail::Wrapped<typename std::decay<F>::type>{current_context(), std::forward<F>(fn)};
}

namespace detail {
// `AGENTLOG_WRAP [&] { ... }`: wrap() as a prefix, so that the instrumenter inserts one word before a lambda
// (given to std::thread, std::async, a thread container) and nothing after it, on another line.
struct WrapTag {};
template <class F>
Wrapped<typename std::decay<F>::type> operator*(WrapTag, F&& fn) {
  return wrap(std::forward<F>(fn));
}
}  // namespace detail

// Counters of this process: spans recorded, dropped for a full buffer, waits for buffer space.
inline Stats stats() {
  if (detail::Globals<>::state.load() != 1) return Stats();
  return detail::Runtime::get().stats();
}
// Writes every finished span now (normally done every few milliseconds and at exit).
inline void flush() {
  if (detail::Globals<>::state.load() == 1) detail::Runtime::get().flush();
}
// The span file of this process ("" before the first span is written).
inline std::string trace_file() {
  return detail::Globals<>::state.load() == 1 ? detail::Runtime::get().trace_file() : std::string();
}

// ------------------------------------------------------------------- binary span files, read back
// What a binary span file (TRACING_FORMAT=binary) says of itself.
struct SpanFileInfo {
  bool valid = false;     // it starts with the header of a binary span file of the version this code reads
  unsigned version = 0;   // the format version in its header (when it has one)
  bool running = false;   // a process still writes it (holds its lock)
  bool complete = false;  // not running, and its program stopped tracing and wrote the end block
  int pid = 0;
};

namespace detail {
// Whether a process still writes the file: it holds its lock (see Runtime::open_file).
inline bool locked_by_writer(int fd) {
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    ::flock(fd, LOCK_UN);
    return false;
  }
  return errno == EWOULDBLOCK;
}

// The format version in the header of a binary span file (of any version), 0 when it is not one.
inline unsigned header_version(const char* data, std::size_t size) {
  std::uint32_t version = 0;
  if (data && size >= sizeof(kSpanFileMagic) + sizeof version &&
      std::memcmp(data, kSpanFileMagic, sizeof kSpanFileMagic) == 0)
    std::memcpy(&version, data + sizeof kSpanFileMagic, sizeof version);
  return version;
}

inline bool read_header(const char* data, std::size_t size, FileHeader& header) {
  if (size < sizeof header) return false;
  std::memcpy(&header, data, sizeof header);
  return std::memcmp(header.magic, kSpanFileMagic, sizeof header.magic) == 0 &&
         header.version == kSpanFileVersion;
}

// Calls `block(header, body)` for every whole block from offset `at` on (a block cut short, still being
// written or left by a killed program, ends the walk).
template <class F>
void each_block(const char* data, std::size_t size, std::size_t at, F block) {
  while (size - at >= sizeof(BlockHeader)) {
    BlockHeader h;
    std::memcpy(&h, data + at, sizeof h);
    if (h.size > size - at - sizeof h) break;
    block(h, data + at + sizeof h);
    at += sizeof h + static_cast<std::size_t>(h.size);
  }
}

// The file mapped read-only for the life of the object.
struct MappedFile {
  explicit MappedFile(const std::string& path) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) != 0) return;
    size = static_cast<std::size_t>(st.st_size);
    if (size == 0) return;
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) data = static_cast<const char*>(p);
  }
  ~MappedFile() {
    if (data) ::munmap(const_cast<char*>(data), size);
    if (fd >= 0) ::close(fd);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  int fd = -1;
  const char* data = nullptr;
  std::size_t size = 0;
};
}  // namespace detail

// The error for a binary span file of a format version this code does not read.
inline std::string unreadable_version(const std::string& path, unsigned version) {
  if (version == detail::kSpanFileVersion)  // its magic and version, then the end of the file
    return path +
           " is a binary span file cut short in its header (its program was killed as it started): it "
           "holds no spans; delete it";
  return path + " is a binary span file of version " + std::to_string(version) +
         ", which this agentlog does not read (it reads version " + std::to_string(detail::kSpanFileVersion) +
         "): convert it with the agentlog whose runtime wrote it, or trace the program again with this one's "
         "runtime (agentlog init copies it)";
}

inline SpanFileInfo inspect_span_file(const std::string& path) {
  SpanFileInfo info;
  detail::MappedFile file(path);
  detail::FileHeader header;
  if (!file.data || !detail::read_header(file.data, file.size, header)) {
    info.version = detail::header_version(file.data, file.size);
    return info;
  }
  info.valid = true;
  info.version = header.version;
  info.pid = static_cast<int>(header.pid);
  info.running = detail::locked_by_writer(file.fd);
  if (!info.running)  // (a file still being written, maybe large, is not read through)
    detail::each_block(file.data, file.size, sizeof header, [&](const detail::BlockHeader& h, const char*) {
      if (h.kind == detail::kBlockEnd) info.complete = true;
    });
  return info;
}

struct ConvertResult {
  bool ok = false;
  bool busy = false;        // another converter (another agentlog) has the file
  bool done = false;        // the program has stopped: every span is written and the binary file removed
  bool complete = false;    // done, and the file had its end block (else its program was killed)
  bool more = false;        // the budget stopped this call: call again
  bool damaged = false;     // not ok: the file is damaged, kept as it is with no .jsonl beside it
  std::uint64_t spans = 0;  // lines written by this call
  std::string jsonl;        // the span file written
  std::string error;
};

// The .jsonl of the same name as a binary span file: where its conversion writes.
inline std::string span_file_jsonl(const std::string& path) {
  std::string base = path;
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".bin") == 0) base.resize(base.size() - 4);
  return base + ".jsonl";
}

// Writes the span lines of a binary span file into the .jsonl of the same name: exactly the lines the runtime
// writes itself by default. Called again while the program still writes the file, each step() appends the
// lines of the blocks written since the last one, so the spans of a running program are seen as they come.
// Once the program has stopped (nobody holds the binary file's lock), the last step removes the binary
// file. The .jsonl is locked for the converter's life: one converter per file, whatever the process; a new
// converter of a file whose previous converter went away starts the .jsonl again.
class SpanFileConverter {
 public:
  explicit SpanFileConverter(std::string path) : path_(std::move(path)), jsonl_(span_file_jsonl(path_)) {}
  ~SpanFileConverter() {
    if (out_ >= 0) ::close(out_);
  }
  SpanFileConverter(const SpanFileConverter&) = delete;
  SpanFileConverter& operator=(const SpanFileConverter&) = delete;

  // Converts the blocks written since the last step, at most about `budget` bytes of them (0: no limit).
  ConvertResult step(std::size_t budget = 0) {
    ConvertResult r;
    r.jsonl = jsonl_;
    if (done_) {
      r.ok = r.done = true;
      r.complete = complete_;
      return r;
    }
    detail::MappedFile file(path_);
    if (file.fd < 0) return fail(r, "cannot read " + path_ + ": " + std::strerror(errno));
    // Whether the program still writes is decided before reading: what is read after a "no" is final.
    bool running = detail::locked_by_writer(file.fd);
    detail::FileHeader header;
    if (!file.data || !detail::read_header(file.data, file.size, header)) {
      unsigned version = detail::header_version(file.data, file.size);
      if (!running && version) return fail(r, unreadable_version(path_, version));
      if (!running) return fail(r, path_ + " is not a binary span file (TRACING_FORMAT=binary writes them)");
      r.ok = true;  // just created: its header comes with its first spans
      return r;
    }
    if (out_ < 0 && !start(r, header)) return r;
    std::size_t end = offset_;
    bool more = false, failed = false;
    std::uint64_t before = fmt_.spans;
    detail::each_block(file.data, file.size, offset_, [&](const detail::BlockHeader& h, const char* body) {
      if (more || failed) return;
      if (budget && end - offset_ >= budget) {  // the budget is spent: the rest next time
        more = true;
        return;
      }
      block_at_ = end;
      failed = !block(h, body);
      end += sizeof h + static_cast<std::size_t>(h.size);
    });
    if (failed || !flush()) {  // the next step starts the .jsonl again
      r.damaged = !damaged_.empty();
      fail(r, r.damaged ? path_ + " is damaged (" + damaged_ +
                              "): none of its spans were converted, and it is kept as it is"
                        : "cannot write " + jsonl_ + ": " + std::strerror(errno));
      if (r.damaged) ::unlink(jsonl_.c_str());  // no half of its spans beside it
      ::close(out_);  // and its lock with it: else the next step, in this process too, finds the file busy
      out_ = -1;
      fmt_.out.clear();
      return r;
    }
    offset_ = end;
    r.ok = true;
    r.more = more;
    r.spans = fmt_.spans - before;
    if (running || more) return r;
    ::close(out_);
    out_ = -1;
    std::remove(path_.c_str());
    done_ = r.done = true;
    r.complete = complete_;
    return r;
  }

 private:
  ConvertResult& fail(ConvertResult& r, const std::string& error) {
    r.ok = false;
    r.error = error;
    return r;
  }

  // Takes the .jsonl (locked, emptied) and the header's clock.
  bool start(ConvertResult& r, const detail::FileHeader& header) {
    int fd = ::open(jsonl_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      fail(r, "cannot write " + jsonl_ + ": " + std::strerror(errno));
      return false;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      r.ok = r.busy = true;
      return false;
    }
    if (::ftruncate(fd, 0) != 0) {
      fail(r, "cannot write " + jsonl_ + ": " + std::strerror(errno));
      ::close(fd);
      return false;
    }
    out_ = fd;
    offset_ = sizeof header;
    // From the start of the file: what an earlier step read (of a file then damaged, or not written) goes.
    fmt_ = detail::SpanFormatter();
    fmt_.check_text = true;
    cursors_.clear();
    damaged_.clear();
    complete_ = false;
    fmt_.pid = static_cast<int>(header.pid);
    fmt_.start_wall_ns = header.start_wall_ns;
    fmt_.start_clock(header.tick0);
    fmt_.max_capture = static_cast<std::size_t>(header.max_capture);
    return true;
  }

  // Takes one block in (at byte block_at_); the lines go out every MiB. False when they cannot be written, or
  // when the block is damaged (damaged_ says how).
  bool block(const detail::BlockHeader& h, const char* body) {
    if (h.kind == detail::kBlockSite && h.size >= sizeof(detail::SiteBlock)) {
      detail::SiteBlock sb;
      std::memcpy(&sb, body, sizeof sb);
      // The writer numbers its sites 0, 1, 2... in the order of their blocks, so a number past the next one
      // is damage (taken as it is, it would size the table: gigabytes for a number near 2^32).
      if (sb.id > fmt_.sites.size()) {
        damaged_ = "traced function #" + std::to_string(sb.id) + " is described where #" +
                   std::to_string(fmt_.sites.size()) + " was next, in the block at byte " +
                   std::to_string(block_at_);
        return false;
      }
      if (sb.id == fmt_.sites.size()) fmt_.sites.emplace_back();
      detail::SiteFormat& site = fmt_.sites[sb.id];
      const bool fits = sb.len <= h.size - sizeof sb;
      std::string text(body + sizeof sb, fits ? sb.len : 0);
      std::size_t nul = text.find('\0');
      site.fields = text.substr(0, nul);
      site.names.clear();
      while (nul != std::string::npos) {
        std::size_t next = text.find('\0', nul + 1);
        site.names.push_back(text.substr(nul + 1, next == std::string::npos ? next : next - nul - 1));
        nul = next;
      }
      bool whole = fits && detail::JsonCheck{site.fields.data(), site.fields.size(), 0}.members();
      for (const std::string& name : site.names)
        whole = whole && detail::JsonCheck{name.data(), name.size(), 0}.name();
      if (!whole) {
        damaged_ = "the name, file and parameters of traced function #" + std::to_string(sb.id) +
                   " are damaged, in the block at byte " + std::to_string(block_at_);
        return false;
      }
    } else if (h.kind == detail::kBlockClock && h.size >= sizeof(detail::ClockBlock)) {
      detail::ClockBlock cb;
      std::memcpy(&cb, body, sizeof cb);
      fmt_.set_rate(cb.ns_per_tick, cb.from);  // as the writer had it for the spans after (0: from the start)
    } else if (h.kind == detail::kBlockRing && h.size >= sizeof(detail::RingBlock)) {
      detail::RingBlock rb;
      std::memcpy(&rb, body, sizeof rb);
      detail::TraceCursor& c = cursors_[h.ring];
      c.tid = rb.tid;
      c.seed = rb.seed;
      if (!fmt_.records(c, body + sizeof rb, static_cast<std::size_t>(h.size) - sizeof rb,
                        [this] { return flush(); }))
        return false;
      if (fmt_.damaged) {
        damaged_ = "a span recorded by thread " + std::to_string(rb.tid) +
                   " is damaged, in the block at byte " + std::to_string(block_at_);
        return false;
      }
    } else if (h.kind == detail::kBlockEnd) {
      complete_ = true;
    }
    return true;
  }

  bool flush() {
    if (!detail::write_fully(out_, fmt_.out.data(), fmt_.out.size())) return false;
    fmt_.out.clear();
    return true;
  }

  std::string path_, jsonl_;
  std::string damaged_;  // what of the file cannot be read, when that stopped the conversion
  int out_ = -1;
  std::size_t offset_ = 0;    // the next block to read
  std::size_t block_at_ = 0;  // the block being read
  bool done_ = false, complete_ = false;
  detail::SpanFormatter fmt_;
  std::map<std::uint32_t, detail::TraceCursor> cursors_;
};

// A whole binary span file of a program that has stopped, converted at once (see SpanFileConverter).
inline ConvertResult convert_span_file(const std::string& path) {
  SpanFileConverter converter(path);
  ConvertResult r = converter.step();
  if (r.ok && (r.busy || !r.done)) {
    r.ok = false;
    r.error = path +
              (r.busy ? " is being converted by another agentlog" : " is still being written by its program");
  }
  return r;
}

}  // namespace agentlog

// ------------------------------------------------------------------------------ log correlation
// Runs after the atexit handlers and static destructors of the program (glibc runs the destructors of the
// program's objects last): their spans are written, then the span file ends. Every file that includes this
// header adds a call; the first does the work. Only once the program exits: a plugin's copy also runs when
// it is unloaded (dlclose), and the process's tracing goes on then.
extern "C" __attribute__((weak, destructor)) void agentlog_finish_at_exit() {
  if (agentlog::detail::Globals<>::state.load() == 1 && agentlog::detail::Runtime::get().exiting())
    agentlog::detail::Runtime::get().finish();
}

// The agentlog Logger (a separate library) calls this, when the program has it, to stamp log lines written
// inside a recorded span with traceId and spanId. Writes NUL-terminated ids and returns 1, or returns 0
// outside a span. Weak, so one definition wins however many files include this header.
extern "C" __attribute__((weak)) int agentlog_trace_current_ids(char* trace_id, unsigned long trace_cap,
                                                                char* span_id, unsigned long span_cap) {
  agentlog::detail::ThreadState& t = agentlog::detail::tls();
  agentlog::detail::know_trace_id(t);
  std::uint64_t current = agentlog::detail::current_span_id(t);
  if (current == 0 || span_cap < 17) return 0;
  std::string trace, span;
  if (t.custom_owner && *t.custom_owner) {
    trace = **t.custom_owner;
  } else {
    agentlog::detail::put_hex(trace, t.trace_hi, 16);
    agentlog::detail::put_hex(trace, t.trace_lo, 16);
  }
  agentlog::detail::put_hex(span, current, 16);
  if (trace.size() + 1 > trace_cap) return 0;
  std::memcpy(trace_id, trace.c_str(), trace.size() + 1);
  std::memcpy(span_id, span.c_str(), span.size() + 1);
  return 1;
}

// --------------------------------------------------------------------------------- throw hook
// Notes the type and what() of every exception thrown while tracing is on, then calls the real
// __cxa_throw. Weak, so one definition wins however many files include this header. Define
// AGENTLOG_NO_THROW_HOOK to leave exceptions alone (spans left by one are still marked as errors).
#if !defined(AGENTLOG_NO_THROW_HOOK) && defined(__GLIBCXX__)
// (g++ declares the type argument `void*` internally, clang++ as cxxabi.h does: std::type_info*.)
#if defined(__clang__)
#define AGENTLOG_THROW_TYPE std::type_info*
#else
#define AGENTLOG_THROW_TYPE void*
#endif
extern "C" __attribute__((weak, used, noreturn)) void __cxa_throw(void* object, AGENTLOG_THROW_TYPE type,
                                                                  void (*destroy)(void*)) {
  agentlog::detail::note_throw(object, static_cast<std::type_info*>(type));
  typedef void (*Real)(void*, AGENTLOG_THROW_TYPE, void (*)(void*));
  static Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "__cxa_throw"));
  real(object, type, destroy);
  __builtin_unreachable();
}
#endif

// ------------------------------------------------------------------------------------- macros
#define AGENTLOG_SPAN(...) AGENTLOG_SPAN_SITE_(__LINE__, #__VA_ARGS__, __VA_ARGS__)
// The same, for a function whose name is on an earlier line than its body's '{': the span names that line
// (the instrumenter writes this form; the line is the original file's, as debuggers give it).
#define AGENTLOG_SPAN_AT(line, ...) AGENTLOG_SPAN_SITE_(line, #__VA_ARGS__, __VA_ARGS__)
#define AGENTLOG_SPAN_SITE_(line, args, ...)                                                 \
  AGENTLOG_SHADOW_OFF_                                                                       \
  static ::agentlog::detail::Site agentlog_site_(__PRETTY_FUNCTION__, __FILE__, line, args); \
  const bool agentlog_on_ = ::agentlog::Span::on();                                          \
  ::agentlog::Span agentlog_span_(agentlog_site_, agentlog_on_);                             \
  AGENTLOG_SHADOW_ON_                                                                        \
  if (AGENTLOG_CEILING_(__VA_ARGS__, 0) >= 2 && agentlog_on_ && agentlog_span_.capturing())  \
  agentlog_span_.params(__VA_ARGS__)
// agentlog_on_ is the state the span began with, a local of the function's own: its tests at the parameters
// and the return value are of the same value as the constructor's, so the compiler takes them out of the
// disabled path altogether (it threads the jumps), where each used to load the state again.
// A traced lambda or local class inside a traced function declares its own agentlog_span_ and agentlog_on_
// (its AGENTLOG_RETURN must find them): -Wshadow is off for those declarations.
#if defined(__clang__)
#define AGENTLOG_SHADOW_OFF_ \
  _Pragma("clang diagnostic push") _Pragma("clang diagnostic ignored \"-Wshadow-all\"")
#define AGENTLOG_SHADOW_ON_ _Pragma("clang diagnostic pop")
#elif defined(__GNUC__)
#define AGENTLOG_SHADOW_OFF_ _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wshadow\"")
#define AGENTLOG_SHADOW_ON_ _Pragma("GCC diagnostic pop")
#else
#define AGENTLOG_SHADOW_OFF_
#define AGENTLOG_SHADOW_ON_
#endif
// The ceiling, AGENTLOG_SPAN's first argument: a literal from the instrumenter, so that a function traced at
// most at level 1 has no capture code at all (fewer registers to save, a smaller frame).
#define AGENTLOG_CEILING_(ceiling, ...) (ceiling)
// The expression goes in a lambda so that a value it makes is built in the function's return slot, as
// without tracing (`return (x)` in the lambda: a reference for an lvalue, the value for a prvalue).
#if __cplusplus >= 201402L
#define AGENTLOG_RETURN(...) \
  agentlog_span_.ret_call(agentlog_on_, [&]() -> decltype(auto) { return (__VA_ARGS__); })
#else
#define AGENTLOG_RETURN(...) \
  agentlog_span_.ret_call(agentlog_on_, [&]() -> decltype((__VA_ARGS__)) { return (__VA_ARGS__); })
#endif
// The instrumenter writes this form where the function's type is arithmetic and the expression's is another
// (`return c;` of a char in a function returning int): the value is recorded as the function returns it.
#define AGENTLOG_RETURN_AS(type, ...) \
  agentlog_span_.ret_call(agentlog_on_, [&]() -> type { return (__VA_ARGS__); })
#define AGENTLOG_RETURN_VALUE(x) agentlog_span_.ret_value(x)
#define AGENTLOG_VAR(x) agentlog_span_.var(#x, x, __LINE__)
// A parameter pack in AGENTLOG_SPAN's parameters: recorded under its name as an array of its values.
#define AGENTLOG_PACK(pack) ::std::forward_as_tuple(pack...)
// Before a lambda that runs on another thread (level 3): it runs under the context it was made in.
#define AGENTLOG_WRAP ::agentlog::detail::WrapTag()*
#define AGENTLOG_CHECKPOINT(label) agentlog_span_.checkpoint(label, __LINE__)
#define AGENTLOG_LINE(n) agentlog_span_.line(n)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // AGENTLOG_DISABLE
#endif  // AGENTLOG_TRACE_HPP
