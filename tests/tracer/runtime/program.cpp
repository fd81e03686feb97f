// A traced program for the runtime tests: `program <scenario>` runs one scenario in the current directory
// (a project with .ai-agents/logging). Built in several standards, with g++ and clang++, under TSan and ASan.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
#if __cplusplus >= 201703L
#include <filesystem>
#include <optional>
#include <string_view>
#endif

#include "agentlog_trace.hpp"

namespace {

int fib(int n) {
  AGENTLOG_SPAN(2, n);
  if (n < 2) return AGENTLOG_RETURN(n);
  return AGENTLOG_RETURN(fib(n - 1) + fib(n - 2));
}

std::string greet(int id, const std::string& name) {
  AGENTLOG_SPAN(2, id, name);
  return AGENTLOG_RETURN(name + "#" + std::to_string(id));
}

// An exception that no handler catches ends the program in std::terminate, without unwinding: the spans it
// leaves open are ended there, with the error. `how`: "throw", or "terminate" (std::terminate, no exception).
void fails_deep(int code, const std::string& how) {
  AGENTLOG_SPAN(2, code, how);
  if (how == "terminate") std::terminate();
  throw std::runtime_error("deep failure " + std::to_string(code));
}
void calls_failing(const std::string& how) {
  AGENTLOG_SPAN(1);
  greet(5, "done before");
  fails_deep(42, how);
}

void level1() { AGENTLOG_SPAN(1); }
void level2(int a) { AGENTLOG_SPAN(2, a); }
void level3() { AGENTLOG_SPAN(3); }
void level4() {
  AGENTLOG_SPAN(4);
  int x = 7;
  AGENTLOG_VAR(x);
  AGENTLOG_CHECKPOINT("after-x");
}
// A container in an event, after a long name, at a small capture limit: cut by its own length.
void var_container() {
  AGENTLOG_SPAN(4);
  std::map<std::string, int> a_rather_long_variable_name_for_a_map;
  for (int i = 0; i < 100; ++i) a_rather_long_variable_name_for_a_map["k" + std::to_string(i)] = i;
  AGENTLOG_VAR(a_rather_long_variable_name_for_a_map);
}
void level5() {
  AGENTLOG_SPAN(5);
  for (int i = 0; i < 300; ++i) AGENTLOG_LINE(100 + i);
}

enum class Color { kRed = 1, kBlue = 2 };
struct Opaque {
  int v;
};
// Its operator<< throws: a parameter capture that fails.
struct Unprintable {};
std::ostream& operator<<(std::ostream&, const Unprintable&) { throw std::runtime_error("cannot print"); }
void capture_throws(const std::string& s, int n, const Unprintable& u) { AGENTLOG_SPAN(2, s, n, u); }
// Not NUL-terminated: captured as its 4 bytes, never read past.
void char_array(const char (&raw)[4]) { AGENTLOG_SPAN(2, raw); }

struct Printable {
  int v;
};
std::ostream& operator<<(std::ostream& os, const Printable& p) { return os << "Printable(" << p.v << ")"; }
namespace lib {
struct Named {
  int v;
};
std::string to_string(const Named& n) { return "Named#" + std::to_string(n.v); }
}  // namespace lib

// Implicit conversions are never called to capture a value: a throwing operator bool, an operator int and an
// operator const char*, with no operator<< of their own. One with both: its own operator<< is used.
struct Handle {
  int fd;
  operator bool() const {
    if (fd < 0) throw std::logic_error("converted");
    return true;
  }
};
struct Celsius {
  double v;
  operator int() const { return static_cast<int>(v); }
};
struct Label {
  operator const char*() const { return "converted"; }
};
struct Money {
  long cents;
  operator bool() const { return cents != 0; }
};
std::ostream& operator<<(std::ostream& os, const Money& m) { return os << m.cents << " cents"; }
Handle open_handle(int fd) {
  AGENTLOG_SPAN(2, fd);
  return AGENTLOG_RETURN(Handle{fd});
}
void conversions(const Handle& handle, const Celsius& celsius, const Label& label, const Money& money,
                 const std::atomic<int>& counter) {
  AGENTLOG_SPAN(2, handle, celsius, label, money, counter);
}

// A range of itself, as std::filesystem::path and nlohmann::json are (walked as a container, its capture
// never ended): recorded through its operator<<.
struct Tree {
  int n;
  const Tree* begin() const { return this; }
  const Tree* end() const { return this + 1; }
};
std::ostream& operator<<(std::ostream& os, const Tree& t) { return os << "Tree(" << t.n << ")"; }
void self_range(const Tree& tree) { AGENTLOG_SPAN(2, tree); }

void binary_text(const std::string& s) { AGENTLOG_SPAN(2, s); }

// Calls made while the program exits, after the runtime's own exit handler (both registered before it).
struct GreetsWhenDestroyed {
  ~GreetsWhenDestroyed() { greet(8, "static destructor"); }
};
void greet_at_exit() { greet(9, "atexit handler"); }

// Runs greet(id, name) in a child process (after writing this process's spans) and waits for it.
void greet_in_child(int id, const char* name) {
  agentlog::flush();
  pid_t child = fork();
  if (child == 0) {
    greet(id, name);
    std::exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
}

// A fork inside a span: the child's spans are its children, in its trace.
void fork_in_span() {
  AGENTLOG_SPAN(1);
  greet_in_child(4, "child-in-span");
}

// A parameter pack, as the instrumenter writes it: recorded as an array under the pack's name.
template <class... A>
int packed(int first, A&&... rest) {
  AGENTLOG_SPAN(2, first, AGENTLOG_PACK(rest));
  return first + static_cast<int>(sizeof...(rest));
}
void captures(bool b, char c, unsigned u, long long neg, double d, Color color, const char* cstr,
              const char* null_cstr, const int* null_ptr, const std::shared_ptr<int>& sp,
              const std::unique_ptr<std::string>& up, const std::pair<int, std::string>& pair,
              const std::tuple<int, bool, std::string>& tuple, const std::vector<int>& vec,
              const std::map<std::string, int>& map, const Opaque& opaque, const Printable& printable,
              const lib::Named& named) {
  AGENTLOG_SPAN(2, b, c, u, neg, d, color, cstr, null_cstr, null_ptr, sp, up, pair, tuple, vec, map, opaque,
                printable, named);
}

#if __cplusplus >= 201703L
void captures17(std::string_view sv, const std::optional<int>& some, const std::optional<int>& none,
                const std::filesystem::path& path) {
  AGENTLOG_SPAN(2, sv, some, none, path);
}
#endif

void secrets(const std::string& password, const std::string& api_key, const std::string& jwt,
             const std::string& plain, const std::string& refreshToken, int max_tokens,
             const std::string& secretary) {
  AGENTLOG_SPAN(2, password, api_key, jwt, plain, refreshToken, max_tokens, secretary);
}

void long_text(const std::string& text) { AGENTLOG_SPAN(2, text); }
// Cut inside a UTF-8 character; longer than the limit only once escaped; a pointer; one byte over the limit
// and exactly at it; a long return value.
std::string long_texts(const std::string& utf8, const std::string& controls, const int* ptr,
                       const std::string& over, const std::string& at) {
  AGENTLOG_SPAN(2, utf8, controls, ptr, over, at);
  return AGENTLOG_RETURN(std::string(100, 'r'));
}

void throws_std(int depth) {
  AGENTLOG_SPAN(2, depth);
  if (depth == 0) throw std::invalid_argument("bad input 42");
  throws_std(depth - 1);
}
void throws_int() {
  AGENTLOG_SPAN(2);
  throw 42;
}
void throws_level1() {
  AGENTLOG_SPAN(1);
  throw std::runtime_error("quiet");
}

// Counts copies and moves: AGENTLOG_RETURN must not add a copy.
struct Counted {
  static int copies, moves;
  int v = 0;
  Counted() = default;
  explicit Counted(int x) : v(x) {}
  Counted(const Counted& o) : v(o.v) { ++copies; }
  Counted(Counted&& o) noexcept : v(o.v) { ++moves; }
  Counted& operator=(const Counted&) = default;
};
int Counted::copies = 0;
int Counted::moves = 0;
std::ostream& operator<<(std::ostream& os, const Counted& c) { return os << "Counted(" << c.v << ")"; }

Counted make_counted(int v) {
  AGENTLOG_SPAN(2, v);
  return AGENTLOG_RETURN(Counted(v));
}
std::unique_ptr<int> make_unique_int(int v) {
  AGENTLOG_SPAN(2, v);
  return AGENTLOG_RETURN(std::unique_ptr<int>(new int(v)));
}
int global_value = 5;
int& ref_to_global() {
  AGENTLOG_SPAN(2);
  return AGENTLOG_RETURN(global_value);
}
const std::string& longest(const std::string& a, const std::string& b) {
  AGENTLOG_SPAN(2, a, b);
  return AGENTLOG_RETURN(a.size() >= b.size() ? a : b);
}

// More shapes of return: a member read through `this`, a void expression in a template, a value that
// cannot be moved (C++17), and a prvalue in a decltype(auto) function (it must stay a value).
struct Holder {
  Counted held{7};
  const Counted& get() const {
    AGENTLOG_SPAN(2);
    return AGENTLOG_RETURN(held);
  }
  int plus(int d) const {
    AGENTLOG_SPAN(2, d);
    return AGENTLOG_RETURN(held.v + d);
  }
};
void set_flag(bool& flag) { flag = true; }
template <class F>
void call_through(F f) {
  AGENTLOG_SPAN(2);
  return AGENTLOG_RETURN(f());
}
#if __cplusplus >= 201703L
struct Pinned {
  int v;
  explicit Pinned(int x) : v(x) {}
  Pinned(Pinned&&) = delete;
};
Pinned make_pinned(int v) {
  AGENTLOG_SPAN(2, v);
  return AGENTLOG_RETURN(Pinned(v));
}
#endif
#if __cplusplus >= 201703L
std::optional<int> no_value() {
  AGENTLOG_SPAN(2);
  return AGENTLOG_RETURN(std::nullopt);
}
#endif
// A traced operator<< of a type that is itself captured: the capture's own spans must not capture again.
struct Traced {
  int v;
};
std::ostream& operator<<(std::ostream& os, const Traced& t) {
  AGENTLOG_SPAN(2, os, t);
  return AGENTLOG_RETURN(os << "Traced(" << t.v << ")");
}
int use_traced(Traced t) {
  AGENTLOG_SPAN(2, t);
  return AGENTLOG_RETURN(t.v);
}
#if __cplusplus >= 201402L
decltype(auto) sum_auto(int a, int b) {
  AGENTLOG_SPAN(2, a, b);
  return AGENTLOG_RETURN(a + b);
}
#endif

int recurse(int n) {
  AGENTLOG_SPAN(1, n);
  return n == 0 ? 0 : 1 + recurse(n - 1);
}

void worker(int id) {
  AGENTLOG_SPAN(3, id);
  for (int i = 0; i < 50; ++i) greet(id, "w");
}

// A thread's work of n calls (the buffer-reuse scenario gives each thread another count).
void churn(int id, int n) {
  AGENTLOG_SPAN(2, id, n);
  for (int i = 0; i < n; ++i) greet(id, "c");
}

// One span (fib(1)) every `pause` for `length`; returns how many.
long paced_spans(std::chrono::milliseconds length, std::chrono::microseconds pause) {
  auto start = std::chrono::steady_clock::now();
  long n = 0;
  while (std::chrono::steady_clock::now() - start < length) {
    fib(1), ++n;
    std::this_thread::sleep_for(pause);
  }
  return n;
}

void write_config(const std::string& text) {
  std::ofstream(".ai-agents/logging/config/tracing.config.json.tmp") << text;
  std::rename(".ai-agents/logging/config/tracing.config.json.tmp",
              ".ai-agents/logging/config/tracing.config.json");
}

}  // namespace

int main(int argc, char** argv) {
  std::string scenario = argc > 1 ? argv[1] : "";
  if (scenario == "tree") {
    fib(4);
  } else if (scenario == "var_container") {
    var_container();
  } else if (scenario == "levels") {
    level1();
    level2(9);
    level3();
    level4();
    level5();
  } else if (scenario == "captures") {
    std::shared_ptr<int> sp = std::make_shared<int>(11);
    std::unique_ptr<std::string> up(new std::string("owned"));
    std::map<std::string, int> map;
    map["one"] = 1;
    map["two"] = 2;
    captures(true, 'x', 7u, -12, 2.5, Color::kBlue, "c \"quoted\"", nullptr, nullptr, sp, up,
             std::make_pair(1, std::string("p")), std::make_tuple(3, false, std::string("t")),
             std::vector<int>(40, 1), map, Opaque{1}, Printable{3}, lib::Named{4});
    std::string text = "s";
    packed(1, text, 2.5, std::string("moved"));
    packed(0);
    std::atomic<int> counter(4);
    conversions(open_handle(-1), Celsius{21.5}, Label(), Money{750}, counter);
    self_range(Tree{5});
    binary_text("a\xff\xc3\xa9\xed\xa0\x80z");  // a stray byte, e acute, a surrogate's 3 bytes
#if __cplusplus >= 201703L
    captures17("view", 5, std::nullopt, "/tmp/a b/c.txt");
#endif
  } else if (scenario == "secrets") {
    secrets("hunter2", "k-123", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU", "visible",
            "r-456", 4096, "Bob");
  } else if (scenario == "truncate") {
    long_text(std::string(5000, 'a'));
    std::string utf8(63, 'a');
    for (int i = 0; i < 10; ++i) utf8 += "\xc3\xa9";  // e acute: its first byte is the 64th
    int x = 0;
    long_texts(utf8, std::string(60, '\x01'), &x, std::string(65, 'o'), std::string(64, 'e'));
  } else if (scenario == "capture_throws") {
    try {
      capture_throws("hello", 10, Unprintable());
    } catch (const std::runtime_error&) {
    }
    const char raw[4] = {'a', 'b', 'c', 'd'};
    char_array(raw);
  } else if (scenario == "exceptions") {
    try {
      throws_std(2);
    } catch (const std::exception&) {
    }
    try {
      throws_int();
    } catch (int) {
    }
    try {
      throws_level1();
    } catch (...) {
    }
  } else if (scenario == "returns") {
    Counted c = make_counted(3);
    std::unique_ptr<int> p = make_unique_int(4);
    int& r = ref_to_global();
    std::string a = "longer", b = "b";
    const std::string& l = longest(a, b);
    Holder h;
    const int copies = Counted::copies, moves = Counted::moves;  // of the calls that return a Counted
    const Counted& held = h.get();
    int plus = h.plus(1);
    bool flag = false;
    call_through([&flag] { set_flag(flag); });
    int pinned = 0, summed = 0;
#if __cplusplus >= 201703L
    pinned = make_pinned(9).v + (no_value() ? 100 : 0);
#endif
    int traced = use_traced(Traced{6});
#if __cplusplus >= 201402L
    static_assert(std::is_same<decltype(sum_auto(1, 2)), int>::value, "a prvalue stays a value");
    summed = sum_auto(1, 2);
#endif
    std::printf(
        "{\"copies\":%d,\"moves\":%d,\"value\":%d,\"unique\":%d,\"same_ref\":%s,\"same_str\":%s,"
        "\"same_held\":%s,\"plus\":%d,\"flag\":%s,\"pinned\":%d,\"summed\":%d,\"traced\":%d,\"std\":%ld}\n",
        copies, moves, c.v, *p, &r == &global_value ? "true" : "false", &l == &a ? "true" : "false",
        &held == &h.held ? "true" : "false", plus, flag ? "true" : "false", pinned, summed, traced,
        static_cast<long>(__cplusplus));
  } else if (scenario == "threads") {
    AGENTLOG_SPAN(3);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) threads.emplace_back(agentlog::wrap([i] { worker(i); }));
    const auto constant = agentlog::wrap([] { return 7; });  // callable as const, as a lambda is
    if (constant() != 7) std::abort();
    for (auto& t : threads) t.join();
  } else if (scenario == "thread_churn") {
    // 40 threads one after another; after each, flush(): the ended thread's buffer is free for the next one.
    // Each thread makes fewer spans than the one before, so a reused buffer holds the older thread's records
    // past the new thread's last one.
    for (int i = 0; i < 40; ++i) {
      std::thread t([i] { churn(i, 2 * (40 - i)); });
      t.join();
      agentlog::flush();
    }
    agentlog::Stats s = agentlog::stats();
    std::printf("{\"buffers\":%llu,\"reused\":%llu,\"dropped\":%llu}\n",
                static_cast<unsigned long long>(s.buffers), static_cast<unsigned long long>(s.reused),
                static_cast<unsigned long long>(s.dropped));
  } else if (scenario == "sampling") {
    for (int i = 0; i < 400; ++i) fib(2);
  } else if (scenario == "depth") {
    recurse(40);
  } else if (scenario == "reconfigure") {
    write_config(R"({"files": {}, "functions": {}})");
    greet(1, "before");
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    write_config(R"({"files": {}, "functions": {"greet": {"level": 1}}})");
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    greet(2, "after");
  } else if (scenario == "fork") {
    greet(1, "parent-before");
    greet_in_child(2, "child");
    greet(3, "parent-after");
    fork_in_span();
  } else if (scenario == "exit") {
    greet(1, "before-exit");
    std::exit(3);
  } else if (scenario == "late_exit") {
    static GreetsWhenDestroyed greets;
    std::atexit(&greet_at_exit);
    greet(7, "main");
  } else if (scenario == "terminate") {
    greet(1, "before-terminate");
    throw std::logic_error("out of main");
  } else if (scenario == "terminate_in_spans" || scenario == "terminate_called") {
    AGENTLOG_SPAN(3);
    calls_failing(scenario == "terminate_called" ? "terminate" : "throw");
  } else if (scenario == "ids") {
    // What a log line written in a span carries (the logger asks the runtime): the ids of the span, in a root
    // span and in its child, and none outside a span.
    char trace[80], span[24];
    auto print_ids = [&] {
      if (agentlog_trace_current_ids(trace, sizeof trace, span, sizeof span))
        std::printf("%s %s\n", trace, span);
      else
        std::printf("none\n");
    };
    {
      AGENTLOG_SPAN(1);
      print_ids();
      [&] {
        AGENTLOG_SPAN(1);
        print_ids();
      }();
    }
    print_ids();
  } else if (scenario == "scoped") {
    {
      agentlog::ScopedTrace trace("req-abc-123");
      greet(1, "scoped");
    }
    {
      agentlog::ScopedTrace trace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
      greet(2, "w3c");
      std::printf("%s\n", agentlog::format_traceparent(agentlog::current_context()).c_str());
    }
    std::printf("%s\n", agentlog::parse_traceparent("garbage").valid() ? "valid" : "invalid");
  } else if (scenario == "signal_abort" || scenario == "signal_term" || scenario == "signal_segv") {
    // Spans ended just before a signal ends the program without its exit handlers: on disk all the same.
    for (int i = 0; i < 3; ++i) greet(i, "before-signal");
    static volatile int* volatile nowhere = nullptr;
    if (scenario == "signal_abort") std::abort();
    if (scenario == "signal_term") std::raise(SIGTERM);
    if (scenario == "signal_segv") *nowhere = 1;
  } else if (scenario == "killed") {
    // A span every 20 us for 200 ms, how many, then 150 ms of nothing and SIGKILL: every span is on disk.
    // (A steady rate that even the sanitizer builds' writer keeps up with: the claim is about time, not
    // about the writer's speed.)
    std::printf("%ld\n", paced_spans(std::chrono::milliseconds(200), std::chrono::microseconds(20)));
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    std::raise(SIGKILL);
  } else if (scenario == "paced") {
    // A span every millisecond for 1.5 s, then how many (a program that runs while its spans are queried).
    std::printf("%ld\n", paced_spans(std::chrono::milliseconds(1500), std::chrono::microseconds(1000)));
  } else if (scenario == "many") {
    for (int i = 0; i < 200000; ++i) fib(1);
    agentlog::flush();
    agentlog::Stats s = agentlog::stats();
    std::printf("{\"dropped\":%llu,\"recorded\":%llu}\n", static_cast<unsigned long long>(s.dropped),
                static_cast<unsigned long long>(s.recorded));
  } else if (scenario == "file_limit") {
    // Under a file-size limit (ulimit -f) the span file fills up: the program runs on (SIGXFSZ killed it).
    const rlimit limit = {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    for (int i = 0; i < 20000; ++i) fib(1);
    agentlog::flush();
    std::printf("alive\n");
  } else {
    std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  return 0;
}
