/* agentlog tracing runtime for GNU C (gcc and clang), levels 1 and 2. Header-only: the shared state is in
 * weak symbols, so every .c file can include this header and the program still has one tracer.
 *
 *   #include "../.ai-agents/logging/runtime/agentlog_trace.h" // agentlog: was an empty line
 *   int add(int a, int b) { AGENTLOG_SPAN(2, a, b);
 *     return AGENTLOG_RETURN(a + b); // agentlog
 *   }
 *
 * (the span is followed by a marker comment; see agentlog_trace.hpp)
 * Included by a C++ file (a header shared by C and C++ files), it is the C++ runtime, agentlog_trace.hpp.
 * The span ends when the scope ends (__attribute__((cleanup))). Parameters (level 2, up to 16 per function)
 * are captured by type with _Generic: integers, _Bool, float/double, char pointers (null-safe) and other
 * pointers (as addresses); a struct, union or complex value as "<struct>", "<union>", "<complex>".
 * Configuration is the C++ runtime's: AGENTLOG_ROOT or the nearest .ai-agents/logging,
 * config/.env.tracing (TRACING_ENABLED, TRACING_DEFAULT_LEVEL, TRACING_MAX_CAPTURE_SIZE) and the same
 * variables from the environment. Each finished span is one JSON line (the C++ runtime's format), written
 * with one write(2) to traces/YYYY-MM-DD/<pid>-<startEpochMs>-c.jsonl, so nothing waits in memory.
 * Compile with -DAGENTLOG_DISABLE to remove it all. */
#ifndef AGENTLOG_TRACE_H
#define AGENTLOG_TRACE_H

#if defined(__cplusplus)
/* A C++ file (one that includes a header shared with C files) gets the C++ runtime, next to this file. The
 * header may be included inside extern "C". */
extern "C++" {
#include "agentlog_trace.hpp"
}
#elif defined(AGENTLOG_DISABLE)
#define AGENTLOG_SPAN(...) ((void)0)
#define AGENTLOG_SPAN_AT(line, ...) ((void)0)
#define AGENTLOG_RETURN(...) (__VA_ARGS__)
#define AGENTLOG_RETURN_AS(type, ...) (__VA_ARGS__)
#define AGENTLOG_RETURN_VALUE(x) ((void)0)
#define AGENTLOG_VAR(x) ((void)0)
#define AGENTLOG_CHECKPOINT(label) ((void)0)
#define AGENTLOG_LINE(n) ((void)0)
#else

#include <ctype.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define AGENTLOG_C_WEAK __attribute__((weak))

struct agentlog_c_span {
  const char* function;
  const char* file;
  int line;
  int level; /* 0: not recorded */
  int64_t start_ns;
  uint64_t span, parent;
  int joined; /* a root of this thread's C spans whose parent is the C++ runtime's current span */
  int params_len;
  int has_return;
  char params[512];
  char ret[256];
};

AGENTLOG_C_WEAK int agentlog_c_state = -1; /* -1 not initialised, 0 off, 1 on */
AGENTLOG_C_WEAK int agentlog_c_fd = -1;
AGENTLOG_C_WEAK int agentlog_c_default_level = 1;
AGENTLOG_C_WEAK int agentlog_c_max_capture = 256;
AGENTLOG_C_WEAK char agentlog_c_root[4096];
/* The working directory relative to the root, with a trailing '/' ("" at the root or outside it): a
 * relative __FILE__ (the compiler was given a relative path) is taken from there, as the C++ runtime does. */
AGENTLOG_C_WEAK char agentlog_c_cwd_prefix[4096];
AGENTLOG_C_WEAK pthread_mutex_t agentlog_c_mutex = PTHREAD_MUTEX_INITIALIZER;
AGENTLOG_C_WEAK __thread uint64_t agentlog_c_current;
AGENTLOG_C_WEAK __thread uint64_t agentlog_c_trace_hi;
AGENTLOG_C_WEAK __thread uint64_t agentlog_c_trace_lo;
AGENTLOG_C_WEAK __thread uint64_t agentlog_c_rng;

static inline int64_t agentlog_c_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t agentlog_c_next_id(void) {
  if (!agentlog_c_rng) agentlog_c_rng = (uint64_t)agentlog_c_now_ns() ^ ((uint64_t)syscall(SYS_gettid) << 32);
  uint64_t z = (agentlog_c_rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return (z ^ (z >> 31)) | 1;
}

/* KEY=VALUE from .env.tracing (comments, quotes, `export`), overridden by the environment. */
static inline int agentlog_c_setting(const char* text, const char* key, char* out, size_t size) {
  const char* env = getenv(key);
  if (env) {
    snprintf(out, size, "%s", env);
    return 1;
  }
  size_t klen = strlen(key);
  for (const char* line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    while (*line == ' ' || *line == '\t') ++line;
    if (strncmp(line, "export ", 7) == 0) line += 7;
    if (strncmp(line, key, klen) != 0 || line[klen] != '=') continue;
    const char* v = line + klen + 1;
    size_t n = 0;
    char quote = (*v == '"' || *v == '\'') ? *v++ : 0;
    while (v[n] && v[n] != '\n' && (quote ? v[n] != quote : (v[n] != '#' && v[n] != ' ' && v[n] != '\t'))) ++n;
    if (n >= size) n = size - 1;
    memcpy(out, v, n);
    out[n] = 0;
    return 1;
  }
  return 0;
}

static inline void agentlog_c_init(void) {
  pthread_mutex_lock(&agentlog_c_mutex);
  if (agentlog_c_state != -1) {
    pthread_mutex_unlock(&agentlog_c_mutex);
    return;
  }
  const char* root = getenv("AGENTLOG_ROOT");
  char dir[4096] = {0};
  struct stat st;
  if (root && *root) {
    snprintf(agentlog_c_root, sizeof agentlog_c_root, "%s", root);
  } else if (getcwd(dir, sizeof dir)) {
    for (;;) {
      char probe[4200];
      snprintf(probe, sizeof probe, "%s/.ai-agents/logging", dir);
      if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(agentlog_c_root, sizeof agentlog_c_root, "%s", dir);
        break;
      }
      char* slash = strrchr(dir, '/');
      if (!slash || slash == dir) break;
      *slash = 0;
    }
  }
  int state = 0;
  if (agentlog_c_root[0]) {
    char cwd[4096];
    size_t rootlen = strlen(agentlog_c_root);
    if (getcwd(cwd, sizeof cwd) && strncmp(cwd, agentlog_c_root, rootlen) == 0 && cwd[rootlen] == '/')
      snprintf(agentlog_c_cwd_prefix, sizeof agentlog_c_cwd_prefix, "%s/", cwd + rootlen + 1);
    char path[4300], text[16384] = {0}, value[64];
    snprintf(path, sizeof path, "%s/.ai-agents/logging/config/.env.tracing", agentlog_c_root);
    FILE* f = fopen(path, "r");
    if (f) {
      size_t n = fread(text, 1, sizeof text - 1, f);
      text[n] = 0;
      fclose(f);
    }
    state = 1;
    if (agentlog_c_setting(text, "TRACING_ENABLED", value, sizeof value) &&
        (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0))
      state = 0;
    if (agentlog_c_setting(text, "TRACING_DEFAULT_LEVEL", value, sizeof value)) agentlog_c_default_level = atoi(value);
    if (agentlog_c_setting(text, "TRACING_MAX_CAPTURE_SIZE", value, sizeof value)) agentlog_c_max_capture = atoi(value);
    if (agentlog_c_max_capture < 16) agentlog_c_max_capture = 16;
    if (agentlog_c_max_capture > 200) agentlog_c_max_capture = 200; /* bounded by the span's buffers */
    if (state) {
      int64_t now = agentlog_c_now_ns();
      time_t secs = (time_t)(now / 1000000000);
      struct tm tm;
      gmtime_r(&secs, &tm);
      char day[16];
      strftime(day, sizeof day, "%Y-%m-%d", &tm);
      snprintf(path, sizeof path, "%s/.ai-agents/logging/traces", agentlog_c_root);
      mkdir(path, 0755);
      snprintf(path, sizeof path, "%s/.ai-agents/logging/traces/%s", agentlog_c_root, day);
      mkdir(path, 0755);
      snprintf(path, sizeof path, "%s/.ai-agents/logging/traces/%s/%d-%lld-c.jsonl", agentlog_c_root, day, (int)getpid(),
               (long long)(now / 1000000));
      agentlog_c_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (agentlog_c_fd < 0) state = 0;
    }
  }
  __atomic_store_n(&agentlog_c_state, state, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&agentlog_c_mutex);
}

/* Called from C++ code that the C++ runtime traces (both runtimes in one program): the trace and the span to
 * continue. The C++ runtime defines it (weak); without it, C spans start traces of their own. */
int agentlog_trace_current_ids(char* trace_id, unsigned long trace_cap, char* span_id, unsigned long span_cap)
    __attribute__((weak));

static inline int agentlog_c_hex64(const char* p, uint64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < 16; ++i) {
    char c = p[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 1;
}

/* A C span with no C span open: the child of the C++ runtime's current span, in its trace, when there is one
 * (a W3C trace id: a trace named by the program stays apart). */
static inline int agentlog_c_join_cpp(uint64_t* parent) {
  char trace[80], span[24];
  uint64_t hi, lo, id;
  if (!agentlog_trace_current_ids || !agentlog_trace_current_ids(trace, sizeof trace, span, sizeof span))
    return 0;
  if (strlen(trace) != 32 || !agentlog_c_hex64(trace, &hi) || !agentlog_c_hex64(trace + 16, &lo) ||
      !agentlog_c_hex64(span, &id))
    return 0;
  agentlog_c_trace_hi = hi;
  agentlog_c_trace_lo = lo;
  *parent = id;
  return 1;
}

static inline struct agentlog_c_span agentlog_c_begin(const char* function, const char* file, int line, int ceiling) {
  struct agentlog_c_span s;
  s.function = function;
  s.file = file;
  s.line = line;
  s.level = 0;
  s.params_len = 0;
  s.has_return = 0;
  s.params[0] = 0;
  int state = __atomic_load_n(&agentlog_c_state, __ATOMIC_RELAXED);
  if (state == 0) return s;
  if (state == -1) {
    agentlog_c_init();
    if (__atomic_load_n(&agentlog_c_state, __ATOMIC_ACQUIRE) != 1) return s;
  }
  s.level = ceiling < agentlog_c_default_level ? ceiling : agentlog_c_default_level;
  if (s.level > 2) s.level = 2; /* a header shared with C++ may carry a higher ceiling */
  if (s.level <= 0) return s;
  s.parent = agentlog_c_current;
  s.joined = 0;
  if (!agentlog_c_current) {
    agentlog_c_trace_hi = agentlog_c_next_id();
    agentlog_c_trace_lo = agentlog_c_next_id();
    s.joined = agentlog_c_join_cpp(&s.parent);
  }
  s.span = agentlog_c_next_id();
  agentlog_c_current = s.span;
  s.start_ns = agentlog_c_now_ns();
  return s;
}

/* The length of the valid UTF-8 sequence at p (p[0] >= 0x80; NUL-terminated), else 0. */
static inline int agentlog_c_utf8_sequence(const unsigned char* p) {
  int len = p[0] >= 0xc2 && p[0] <= 0xdf   ? 2
            : p[0] >= 0xe0 && p[0] <= 0xef ? 3
            : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                           : 0;
  for (int k = 1; k < len; ++k)
    if ((p[k] & 0xc0) != 0x80) return 0;
  if (len && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
              (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f)))
    return 0; /* overlong, a surrogate, past U+10FFFF */
  return len;
}

/* JSON string of at most `limit` bytes of text into buf; a byte that is not valid UTF-8 becomes U+FFFD. Returns
 * the length written. */
static inline int agentlog_c_json_string(char* buf, int size, const char* text, int limit) {
  int n = 0;
  if (size < 3) return 0;
  buf[n++] = '"';
  for (int i = 0; text[i] && n < size - 8; ++i) {
    if (i == limit) {
      n += snprintf(buf + n, (size_t)(size - n), "...");
      break;
    }
    unsigned char c = (unsigned char)text[i];
    if (c >= 0x80) {
      int len = agentlog_c_utf8_sequence((const unsigned char*)text + i);
      if (len == 0) {
        n += snprintf(buf + n, (size_t)(size - n), "\\ufffd");
      } else if (i + len > limit || n + len >= size - 8) {
        n += snprintf(buf + n, (size_t)(size - n), "...");
        break;
      } else {
        memcpy(buf + n, text + i, (size_t)len);
        n += len;
        i += len - 1;
      }
    } else if (c == '"' || c == '\\') {
      buf[n++] = '\\';
      buf[n++] = (char)c;
    } else if (c < 0x20) {
      n += snprintf(buf + n, (size_t)(size - n), "\\u%04x", c);
    } else {
      buf[n++] = (char)c;
    }
  }
  buf[n++] = '"';
  buf[n] = 0;
  return n;
}

/* Captures, one per type class: each writes the JSON value into buf. */
static inline int agentlog_c_cap_i(char* b, int n, long long v) { return snprintf(b, (size_t)n, "%lld", v); }
static inline int agentlog_c_cap_u(char* b, int n, unsigned long long v) { return snprintf(b, (size_t)n, "%llu", v); }
static inline int agentlog_c_cap_d(char* b, int n, double v) {
  return v != v ? snprintf(b, (size_t)n, "null") : snprintf(b, (size_t)n, "%.17g", v);
}
static inline int agentlog_c_cap_b(char* b, int n, _Bool v) { return snprintf(b, (size_t)n, v ? "true" : "false"); }
static inline int agentlog_c_cap_s(char* b, int n, const char* v) {
  return v ? agentlog_c_json_string(b, n, v, agentlog_c_max_capture) : snprintf(b, (size_t)n, "null");
}
static inline int agentlog_c_cap_p(char* b, int n, const void* v) {
  return v ? snprintf(b, (size_t)n, "\"%p\"", v) : snprintf(b, (size_t)n, "null");
}
/* A struct, a union or a complex number, passed by value: its kind (C has no type names to print). */
static inline int agentlog_c_cap_struct(char* b, int n, ...) {
  return snprintf(b, (size_t)n, "\"<struct>\"");
}
static inline int agentlog_c_cap_union(char* b, int n, ...) { return snprintf(b, (size_t)n, "\"<union>\""); }
static inline int agentlog_c_cap_complex(char* b, int n, ...) {
  return snprintf(b, (size_t)n, "\"<complex>\"");
}

/* The capture of x by its type: _Generic for the scalar types (else a pointer), and before it the type
 * classes that no function of a scalar parameter takes (GCC's and clang's __builtin_classify_type: 9
 * complex, 12 struct, 13 union), whose captures take them through `...`. Only function names are chosen, then
 * called. */
/* clang-format off */
#define AGENTLOG_C_CAPTURE(buf, size, x)                                                                     \
  __builtin_choose_expr(                                                                                     \
      __builtin_classify_type(x) == 12, agentlog_c_cap_struct,                                               \
      __builtin_choose_expr(                                                                                 \
          __builtin_classify_type(x) == 13, agentlog_c_cap_union,                                            \
          __builtin_choose_expr(__builtin_classify_type(x) == 9, agentlog_c_cap_complex,                     \
                                _Generic((x),                                                                \
                                    _Bool: agentlog_c_cap_b, char: agentlog_c_cap_i,                         \
                                    signed char: agentlog_c_cap_i, short: agentlog_c_cap_i,                  \
                                    int: agentlog_c_cap_i, long: agentlog_c_cap_i,                           \
                                    long long: agentlog_c_cap_i, unsigned char: agentlog_c_cap_u,            \
                                    unsigned short: agentlog_c_cap_u, unsigned: agentlog_c_cap_u,            \
                                    unsigned long: agentlog_c_cap_u, unsigned long long: agentlog_c_cap_u,   \
                                    float: agentlog_c_cap_d, double: agentlog_c_cap_d,                       \
                                    long double: agentlog_c_cap_d, char*: agentlog_c_cap_s,                  \
                                    const char*: agentlog_c_cap_s, default: agentlog_c_cap_p))))(buf, size, x)
/* clang-format on */

static inline void agentlog_c_param_name(struct agentlog_c_span* s, const char* name) {
  int room = (int)sizeof s->params - s->params_len;
  if (room <= 0) return;
  s->params_len += snprintf(s->params + s->params_len, (size_t)room, "%s\"%s\":", s->params_len ? "," : "", name);
  if (s->params_len > (int)sizeof s->params) s->params_len = (int)sizeof s->params;
}

/* A secret word anywhere in the name, in any case (db_password, refreshToken, secretkey; the C++ runtime's
 * rule), but for names that only hold one (secretary, passwordless, tokenizer) and counts of tokens
 * (max_tokens, tokenCount, TOKEN_USAGE). */
static inline int agentlog_c_secret(const char* name) {
  static const char* const words[] = {"password",      "passwd",     "token",     "secret",
                                      "authorization", "api_key",    "apikey",    "cookie",
                                      "private_key",   "privatekey", "credential"};
  static const char* const not_secrets[] = {"secretar", "passwordless", "tokeniz"};
  static const char* const token_counts[] = {"s", "_count", "count", "_usage", "usage", "_limit", "limit"};
  char s[256];
  size_t n = 0;
  for (; name[n] && n < sizeof s - 1; ++n) s[n] = (char)tolower((unsigned char)name[n]);
  s[n] = 0;
  for (size_t w = 0; w < sizeof words / sizeof *words; ++w)
    for (const char* at = strstr(s, words[w]); at; at = strstr(at + 1, words[w])) {
      int secret = 1;
      for (size_t k = 0; k < sizeof not_secrets / sizeof *not_secrets; ++k)
        if (!strncmp(at, not_secrets[k], strlen(not_secrets[k]))) secret = 0;
      for (size_t k = 0; w == 2 && k < sizeof token_counts / sizeof *token_counts; ++k)
        if (!strncmp(at + 5, token_counts[k], strlen(token_counts[k]))) secret = 0;
      if (secret) return 1;
    }
  return 0;
}

#define AGENTLOG_C_PARAM(x)                                                                                      \
  do {                                                                                                           \
    if (agentlog_span_.level >= 2 && agentlog_span_.params_len < (int)sizeof agentlog_span_.params - 64) {       \
      agentlog_c_param_name(&agentlog_span_, #x);                                                                \
      int agentlog_room_ = (int)sizeof agentlog_span_.params - agentlog_span_.params_len;                        \
      if (agentlog_c_secret(#x))                                                                                 \
        agentlog_span_.params_len += snprintf(agentlog_span_.params + agentlog_span_.params_len,                 \
                                              (size_t)agentlog_room_, "\"[REDACTED]\"");                         \
      else                                                                                                       \
        agentlog_span_.params_len +=                                                                             \
            AGENTLOG_C_CAPTURE(agentlog_span_.params + agentlog_span_.params_len, agentlog_room_, x);            \
      if (agentlog_span_.params_len > (int)sizeof agentlog_span_.params - 1)                                     \
        agentlog_span_.params_len = (int)sizeof agentlog_span_.params - 1;                                       \
    }                                                                                                            \
  } while (0)

static inline void agentlog_c_end(struct agentlog_c_span* s) {
  if (s->level <= 0) return;
  int64_t end = agentlog_c_now_ns();
  agentlog_c_current = s->joined ? 0 : s->parent;
  int64_t dur = end - s->start_ns;
  time_t secs = (time_t)(s->start_ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  const char* file = s->file;
  const char* prefix = file[0] == '/' || file[0] == '.' ? "" : agentlog_c_cwd_prefix;
  size_t rootlen = strlen(agentlog_c_root);
  if (rootlen && strncmp(file, agentlog_c_root, rootlen) == 0 && file[rootlen] == '/') file += rootlen + 1;
  char parent[24] = "null";
  if (s->parent) snprintf(parent, sizeof parent, "\"%016llx\"", (unsigned long long)s->parent);
  char line[2048];
  int n = snprintf(
      line, sizeof line,
      "{\"traceId\":\"%016llx%016llx\",\"spanId\":\"%016llx\",\"parentSpanId\":%s,\"function\":\"%s\","
      "\"file\":\"%s%s\",\"line\":%d,\"startTime\":\"%s.%06lldZ\",\"duration\":%.6f,\"durationNs\":%lld",
      (unsigned long long)agentlog_c_trace_hi, (unsigned long long)agentlog_c_trace_lo,
      (unsigned long long)s->span, parent, s->function, prefix, file, s->line, stamp,
      (long long)((s->start_ns % 1000000000) / 1000), (double)dur / 1e6, (long long)dur);
  if (s->level >= 2 && n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, ",\"params\":{%.*s},\"returnValue\":%s", s->params_len, s->params,
                  s->has_return ? s->ret : "null");
  if (n < (int)sizeof line)
    n += snprintf(line + n, sizeof line - (size_t)n, ",\"error\":null,\"thread\":%ld,\"pid\":%d,\"level\":%d}\n",
                  (long)syscall(SYS_gettid), (int)getpid(), s->level);
  if (n >= (int)sizeof line) { /* cannot happen with the bounded buffers; keep the line valid JSON anyway */
    n = snprintf(line, sizeof line, "{\"traceId\":\"%016llx%016llx\",\"spanId\":\"%016llx\",\"function\":\"%s\"}\n",
                 (unsigned long long)agentlog_c_trace_hi, (unsigned long long)agentlog_c_trace_lo,
                 (unsigned long long)s->span, s->function);
  }
  ssize_t written = write(agentlog_c_fd, line, (size_t)n);
  (void)written;
}

/* The FOR_EACH of up to 16 parameters. The list always ends with a 0 terminator (so that it is never empty,
   as C before C23 requires), which P1 drops. */
#define AGENTLOG_C_N(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, N, ...) N
#define AGENTLOG_C_COUNT(...) \
  AGENTLOG_C_N(__VA_ARGS__, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define AGENTLOG_C_CAT_(a, b) a##b
#define AGENTLOG_C_CAT(a, b) AGENTLOG_C_CAT_(a, b)
/* clang-format off */
#define AGENTLOG_C_P1(terminator)
#define AGENTLOG_C_P2(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P1(__VA_ARGS__)
#define AGENTLOG_C_P3(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P2(__VA_ARGS__)
#define AGENTLOG_C_P4(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P3(__VA_ARGS__)
#define AGENTLOG_C_P5(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P4(__VA_ARGS__)
#define AGENTLOG_C_P6(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P5(__VA_ARGS__)
#define AGENTLOG_C_P7(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P6(__VA_ARGS__)
#define AGENTLOG_C_P8(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P7(__VA_ARGS__)
#define AGENTLOG_C_P9(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P8(__VA_ARGS__)
#define AGENTLOG_C_P10(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P9(__VA_ARGS__)
#define AGENTLOG_C_P11(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P10(__VA_ARGS__)
#define AGENTLOG_C_P12(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P11(__VA_ARGS__)
#define AGENTLOG_C_P13(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P12(__VA_ARGS__)
#define AGENTLOG_C_P14(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P13(__VA_ARGS__)
#define AGENTLOG_C_P15(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P14(__VA_ARGS__)
#define AGENTLOG_C_P16(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P15(__VA_ARGS__)
#define AGENTLOG_C_P17(a, ...) AGENTLOG_C_PARAM(a); AGENTLOG_C_P16(__VA_ARGS__)
/* clang-format on */

/* AGENTLOG_SPAN(level, params...): the level, then up to 16 parameter names. AGENTLOG_SPAN_AT(line, level,
 * params...): the same, naming the line of the function's name (before its body's '{'). */
#define AGENTLOG_SPAN(...) AGENTLOG_C_SPAN_(__LINE__, __VA_ARGS__)
#define AGENTLOG_SPAN_AT(line, ...) AGENTLOG_C_SPAN_(line, __VA_ARGS__)
#define AGENTLOG_C_SPAN_(line, ...)                                                                 \
  struct agentlog_c_span agentlog_span_ __attribute__((cleanup(agentlog_c_end), unused)) =          \
      agentlog_c_begin(__func__, __FILE__, line, AGENTLOG_C_FIRST(__VA_ARGS__, 0));                 \
  AGENTLOG_C_APPLY(AGENTLOG_C_CAT(AGENTLOG_C_P, AGENTLOG_C_COUNT(AGENTLOG_C_REST(__VA_ARGS__, 0))), \
                   (AGENTLOG_C_REST(__VA_ARGS__, 0)))                                               \
  (void)0
#define AGENTLOG_C_APPLY(macro, args) macro args
#define AGENTLOG_C_FIRST(first, ...) first
#define AGENTLOG_C_REST(first, ...) __VA_ARGS__

/* return AGENTLOG_RETURN(expr): records the value (level 2) and yields it. AGENTLOG_RETURN_AS(type, expr):
 * the same, for the value converted to the function's arithmetic type (a pointer returned as _Bool). */
#define AGENTLOG_RETURN(...) AGENTLOG_C_RETURN_(__typeof__(__VA_ARGS__), __VA_ARGS__)
#define AGENTLOG_RETURN_AS(type, ...) AGENTLOG_C_RETURN_(type, __VA_ARGS__)
#define AGENTLOG_C_RETURN_(type, ...)                                                       \
  __extension__({                                                                           \
    type agentlog_rv_ = (__VA_ARGS__);                                                      \
    if (agentlog_span_.level >= 2) {                                                        \
      AGENTLOG_C_CAPTURE(agentlog_span_.ret, (int)sizeof agentlog_span_.ret, agentlog_rv_); \
      agentlog_span_.has_return = 1;                                                        \
    }                                                                                       \
    agentlog_rv_;                                                                           \
  })

/* What a header shared with C++ files may carry (instrumented as C++): `AGENTLOG_RETURN_VALUE(x); return x;`
 * records x; levels 4-5 events are C++ only. */
#define AGENTLOG_RETURN_VALUE(x)                                                 \
  do {                                                                           \
    if (agentlog_span_.level >= 2) {                                             \
      AGENTLOG_C_CAPTURE(agentlog_span_.ret, (int)sizeof agentlog_span_.ret, x); \
      agentlog_span_.has_return = 1;                                             \
    }                                                                            \
  } while (0)
#define AGENTLOG_VAR(x) ((void)0)
#define AGENTLOG_CHECKPOINT(label) ((void)0)
#define AGENTLOG_LINE(n) ((void)0)

#endif /* AGENTLOG_DISABLE */
#endif /* AGENTLOG_TRACE_H */
