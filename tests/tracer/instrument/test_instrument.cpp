// The instrumenter: a fixture CMake project instrumented at every level builds with -Werror, passes its own
// test, records the expected spans and is restored byte for byte; constructs that must stay untouched; the
// dry run, idempotence and re-levelling; the MCP tools with policy and progress.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "instrument/instrument.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::McpSession;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kFixtureFiles = {"CMakeLists.txt", "src/main.cpp", "src/inventory.cpp",
                                                "src/inventory.hpp", "src/checksum.c"};

void copy_fixture(const TempDir& root) {
  for (const auto& f : kFixtureFiles) {
    fs::create_directories((root / f).parent_path());
    fs::copy_file(fs::path(FIXTURE_DIR) / f, root / f);
  }
}

std::vector<json> spans_of(const TempDir& root) {
  std::vector<json> out;
  if (!fs::exists(root / ".ai-agents/logging/traces")) return out;
  for (const auto& e : fs::recursive_directory_iterator(root / ".ai-agents/logging/traces")) {
    if (e.path().extension() != ".jsonl") continue;
    std::ifstream in(e.path());
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  }
  return out;
}

std::string instrument_text(const std::string& name, const std::string& text, int level) {
  TempDir dir;
  fs::path file = dir / name;
  agentlog::test::write_text(file, text);
  agentlog::instrument::Options o;
  o.level = level;
  o.runtime_include = std::string(RUNTIME_DIR) + "/agentlog_trace.hpp";
  o.compile_args = {"-xc++", "-std=c++20"};
  auto r = agentlog::instrument::instrument(file, text, o);
  REQUIRE_MESSAGE(r.ok, (r.diagnostics.empty() ? "" : r.diagnostics[0]));
  return r.text;
}

// A project at `root` whose .env.tracing sets TRACING_DEFAULT_LEVEL to `level`, and src instrumented at that
// level as `name` in it (not yet written: the test checks the text first).
agentlog::instrument::Result instrument_in_project(const TempDir& root, const std::string& name,
                                                   const std::string& src, int level,
                                                   const std::string& std) {
  fs::create_directories(root / ".ai-agents/logging/config");
  agentlog::test::write_text(root / ".ai-agents/logging/config/.env.tracing",
                             "TRACING_DEFAULT_LEVEL=" + std::to_string(level) + "\n");
  agentlog::instrument::Options o;
  o.level = level;
  o.runtime_include = std::string(RUNTIME_DIR) + "/agentlog_trace.hpp";
  o.compile_args = {"-xc++", "-std=" + std};
  auto r = agentlog::instrument::instrument(root / name, src, o);
  REQUIRE(r.ok);
  return r;
}

// Writes the instrumented text, builds it with g++ (warnings are errors) and runs it in the project.
agentlog::test::ProcessResult build_and_run(const TempDir& root, const std::string& name,
                                            const std::string& text, const std::string& std) {
  const fs::path file = root / name, program = root / fs::path(name).stem();
  agentlog::test::write_text(file, text);
  auto built = agentlog::test::run_process({"g++", "-std=" + std, "-Wall", "-Wextra", "-Wshadow", "-Werror",
                                            "-pthread", file.string(), "-o", program.string()});
  REQUIRE_MESSAGE(built.exit_code == 0, built.err);
  auto ran = agentlog::test::run_process({program.string()}, "", root.path(),
                                         {{"AGENTLOG_ROOT", root.path().string()}});
  REQUIRE(ran.exit_code == 0);
  return ran;
}

}  // namespace

TEST_CASE("the fixture project at levels 1-5: builds with -Werror, passes its test, traces, restores") {
  TempDir root;
  copy_fixture(root);
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto configure = agentlog::test::run_process({"cmake", "-S", root.path().string(), "-B", (root / "build").string(),
                                                "-DCMAKE_BUILD_TYPE=Debug"});
  REQUIRE_MESSAGE(configure.exit_code == 0, configure.err);
  std::map<std::string, std::string> originals;
  for (const auto& f : kFixtureFiles) originals[f] = agentlog::test::read_text(root / f);

  for (int level = 1; level <= 5; ++level) {
    CAPTURE(level);
    fs::remove_all(root / ".ai-agents/logging/traces");
    auto ins = agentlog::test::run_agentlog({"instrument", "--all", "--level", std::to_string(level), "--json", "--root",
                                             root.path().string()});
    REQUIRE_MESSAGE(ins.exit_code == 0, ins.err);
    json results = json::parse(ins.out);
    CHECK(results.size() == 4);  // main.cpp, inventory.cpp, inventory.hpp (no bodies: unchanged), checksum.c
    auto build = agentlog::test::run_process({"cmake", "--build", (root / "build").string()});
    REQUIRE_MESSAGE(build.exit_code == 0, (build.out + build.err));
    auto run = agentlog::test::run_process({(root / "build/fixture").string()}, "", root.path(),
                                           {{"AGENTLOG_ROOT", root.path().string()}, {"TRACING_DEFAULT_LEVEL", "5"}});
    CHECK_MESSAGE(run.exit_code == 0, run.out);
    auto spans = spans_of(root);
    std::map<std::string, int> by_function;
    for (const auto& s : spans) {
      ++by_function[s["function"].get<std::string>()];
      CHECK(s["level"].get<int>() <= level);  // lambdas too (traced from level 3)
    }
    CHECK(by_function["main"] == 1);
    CHECK(by_function["shop::Inventory::find"] == 2);
    CHECK(by_function["shop::Inventory::Inventory"] >= 1);
    CHECK(by_function["checksum"] == 3);
    if (level >= 2)  // C returns are wrapped too (the C header's statement-expression AGENTLOG_RETURN)
      for (const auto& s : spans)
        if (s["function"] == "checksum") CHECK(s["returnValue"].is_number());
    if (level >= 2) {  // a string literal returned in C: recorded as the pointer the function returns
      std::set<std::string> parities;
      for (const auto& s : spans)
        if (s["function"] == "parity") parities.insert(s.value("returnValue", json()).dump());
      CHECK(parities == std::set<std::string>{"\"even\"", "\"odd\""});
    }
    CHECK(by_function.count("square") == 0);  // constexpr: never instrumented
    if (level >= 3) CHECK(by_function["shop::Inventory::parallel_total::<lambda()>"] == 4);  // one per thread
    if (level >= 3) {
      int comparator = 0;  // the sort's comparator lambda
      for (const auto& [fn, n] : by_function)
        if (fn.rfind("shop::Inventory::names::<lambda", 0) == 0) comparator += n;
      CHECK(comparator >= 1);
    }
    // The failed lookup is an error span; from level 2 with its type and message.
    bool found_error = false;
    for (const auto& s : spans) {
      if (s["function"] != "shop::Inventory::find" || s["error"].is_null()) continue;
      found_error = true;
      if (level >= 2) {
        CHECK(s["error"]["type"] == "std::out_of_range");
        CHECK(s["params"]["name"] == "kiwi");
      }
    }
    CHECK(found_error);
    // Every span's parent is in the same trace, and main is the root of its trace.
    std::map<std::string, json> ids;
    for (const auto& s : spans) ids[s["spanId"]] = s;
    for (const auto& s : spans)
      if (s["parentSpanId"].is_string() && ids.count(s["parentSpanId"])) CHECK(ids[s["parentSpanId"]]["traceId"] == s["traceId"]);
  }
  auto un = agentlog::test::run_agentlog({"uninstrument", "--all", "--root", root.path().string()});
  REQUIRE_MESSAGE(un.exit_code == 0, un.err);
  for (const auto& f : kFixtureFiles) CHECK_MESSAGE(agentlog::test::read_text(root / f) == originals[f], f);
}

TEST_CASE("what must stay untouched") {
  const std::string src = R"(#define MAKE(name) int name() { return 1; }
MAKE(from_macro)
constexpr int cx(int v) { return v; }
struct S {
  S() = default;
  S(const S&) = delete;
  int get() const { return 2; }
};
#if 0
int hidden() { return 3; }
#endif
int visible(int a) {
  return a;
}
)";
  std::string out = instrument_text("u.cpp", src, 2);
  CHECK(out.find("AGENTLOG_SPAN(2); /* agentlog */ return AGENTLOG_RETURN(2); } // agentlog") !=
        std::string::npos);
  CHECK(out.find("int visible(int a) { AGENTLOG_SPAN(2, a); /* agentlog */\n  AGENTLOG_RETURN_VALUE(a); /* "
                 "agentlog */ "
                 "return a;") != std::string::npos);
  // No empty line to take: the include goes first, and #line gives the lines after it their own numbers.
  CHECK(out.find("agentlog_trace.hpp\" // agentlog\n#line 1 // agentlog\n#define MAKE(name)") !=
        std::string::npos);
  CHECK(out.find("int name() { return 1; }") != std::string::npos);   // the macro body
  CHECK(out.find("constexpr int cx(int v) { return v; }") != std::string::npos);
  CHECK(out.find("S() = default;") != std::string::npos);
  CHECK(out.find("int hidden() { return 3; }") != std::string::npos);
  CHECK(agentlog::instrument::strip(out) == src);
}

TEST_CASE("returns: wrapped so that semantics do not change") {
  const std::string src = R"(#include <memory>
#include <string>
std::unique_ptr<int> make(int v) {
  return std::unique_ptr<int>(new int(v));
}
std::string local() {
  std::string s = "x";
  return s;
}
const std::string& ref(const std::string& s) {
  return s;
}
void nothing() {
  return;
}
template <class T>
auto pick(bool b, T x, T y) {
  if constexpr (sizeof(T) > 1) {
    return b ? x : y;
  } else {
    return x;
  }
}
int use() { return pick(true, 1, 2) + *make(1) + static_cast<int>(local().size() + ref("a").size()); }
)";
  std::string out = instrument_text("r.cpp", src, 2);
  CHECK(out.find("return AGENTLOG_RETURN(std::unique_ptr<int>(new int(v))); // agentlog") != std::string::npos);
  CHECK(out.find("  AGENTLOG_RETURN_VALUE(s); /* agentlog */ return s;") != std::string::npos);  // NRVO kept
  CHECK(out.find("return AGENTLOG_RETURN(s); // agentlog") != std::string::npos);  // a reference passes through
  CHECK(out.find("  return;\n") != std::string::npos);
  CHECK(agentlog::instrument::strip(out) == src);
}

TEST_CASE(
    "a constructor's parameters that its initialisers move from are not captured (they would be empty)") {
  const std::string src = R"(#include <string>
#include <utility>
struct Shape {
  std::string name_;
  int sides_;
  Shape(std::string name, int sides) : name_(std::move(name)), sides_(sides) {}
  template <class T>
  Shape(T&& t, double) : name_(std::forward<T>(t)), sides_(0) {}
  explicit Shape(const std::string& label) : name_(label), sides_(1) {}
  template <class... A>
  Shape(int sides, A&&... parts) : name_(std::forward<A>(parts)...), sides_(sides) {}
  template <class... A>
  static int count(A... parts) { return static_cast<int>(sizeof...(parts)); }
};
)";
  std::string out = instrument_text("k.cpp", src, 2);
  CHECK(out.find("sides_(sides) { AGENTLOG_SPAN(2, sides); /* agentlog */}") != std::string::npos);
  CHECK(out.find("sides_(0) { AGENTLOG_SPAN(2); /* agentlog */}") != std::string::npos);
  CHECK(out.find("sides_(1) { AGENTLOG_SPAN(2, label); /* agentlog */}") != std::string::npos);
  CHECK(out.find("(parts)...), sides_(sides) { AGENTLOG_SPAN(2, sides); /* agentlog */}") !=
        std::string::npos);
  CHECK(out.find("{ AGENTLOG_SPAN(2, AGENTLOG_PACK(parts)); /* agentlog */ return") != std::string::npos);
  CHECK(agentlog::instrument::strip(out) == src);
}

TEST_CASE("no line is added: the include takes an empty line at file scope, else #line keeps the numbers") {
  struct Case {
    std::string why, src;
    int taken;  // the line the include takes (1-based), 0: none fits (include first, then #line)
  };
  const std::string f = "int f(int v) {\n  return v;\n}\n";
  const std::vector<Case> cases = {
      {"after the includes", "#include <string>\n\n" + f, 2},
      {"the first of several", "// head\n\n#include <string>\n\n" + f, 2},
      {"in a namespace: none", "namespace n {\n\n" + f + "}\n", 0},
      {"before the namespace", "\nnamespace n {\n\n" + f + "}\n", 1},
      {"in a block comment: none", "/* a\n\n*/\n" + f, 0},
      {"in an #if that ends before: none", "#if defined(X)\n\n#endif\n" + f, 0},
      {"in the include guard", "#ifndef G_H\n#define G_H\n\n" + f + "#endif\n", 3},
      {"after #pragma once", "// c\n\n#pragma once\n\n" + f, 4},
      {"in a declaration: none", "int x =\n\n  3;\n" + f, 0},
      {"after a line continuation: none", "#define M 1 \\\n\n" + f, 0},
      {"in a raw string: none", "const char* s = R\"(\n\n)\";\n" + f, 0},
      {"after a raw string holding #if", "const char* s = R\"x(\n#if X\n)x\";\n\n" + f, 4},
      {"after a raw string holding /*", "const char* s = R\"(/*)\";\n\n" + f, 2},
      {"after a string holding /*", "const char* s = \"/*\";\n\n" + f, 2},
      {"after the function: none", f + "\n", 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.why);
    const std::string out = instrument_text("p.cpp", c.src, 2);
    CHECK(agentlog::instrument::strip(out) == c.src);
    std::vector<std::string> lines;
    std::istringstream ss(out);
    for (std::string l; std::getline(ss, l);) lines.push_back(l);
    const auto count = static_cast<std::size_t>(std::count(c.src.begin(), c.src.end(), '\n'));
    if (c.taken > 0) {
      REQUIRE(lines.size() == count);
      CHECK(lines[static_cast<std::size_t>(c.taken - 1)].find("// agentlog: was an empty line") !=
            std::string::npos);
    } else {
      REQUIRE(lines.size() == count + 2);
      const std::size_t at = c.src.rfind("#pragma once", 0) == 0 ? 1 : 0;
      CHECK(lines[at + 1] == "#line " + std::to_string(at + 1) + " // agentlog");
    }
    // What g++ says about the instrumented file names the original lines.
    TempDir dir;
    agentlog::test::write_text(dir / "p.cpp", out + "int g() { return h(); }\n");  // h is not declared
    auto built =
        agentlog::test::run_process({"g++", "-std=c++20", "-fsyntax-only", (dir / "p.cpp").string()});
    CHECK(built.err.find("p.cpp:" + std::to_string(count + 1) + ":18: error: ") != std::string::npos);
  }
}

TEST_CASE("spans and AGENTLOG_LINE events name the lines of the original file") {
  const std::string src = R"(// a program
#include <cstdio>

int add(int a, int b)
{
  int s = a + b;
  if (s > 10)
    return s;
  return s * 2;
}

int main() {
  std::printf("%d\n", add(2, 3));
}
)";
  TempDir root;
  auto r = instrument_in_project(root, "l.cpp", src, 5, "c++17");
  CHECK(build_and_run(root, "l.cpp", r.text, "c++17").out == "10\n");
  std::map<std::string, json> by_function;
  for (const auto& s : spans_of(root)) by_function[s["function"]] = s;
  CHECK(by_function["add"]["line"] == 4);  // the name's line, not the body's '{'
  CHECK(r.text.find("{ AGENTLOG_SPAN_AT(4, 5, a, b); /* agentlog */\n") != std::string::npos);
  CHECK(by_function["main"]["line"] == 12);
  std::vector<std::string> events;
  for (const auto& e : by_function["add"]["events"])
    events.push_back(e["kind"] == "line"
                         ? std::to_string(e["line"].get<int>())
                         : e["name"].get<std::string>() + "@" + std::to_string(e["line"].get<int>()));
  CHECK(events ==
        std::vector<std::string>{"6", "s@6", "7", "9"});  // the declaration, its variable, the if, the return
  CHECK(agentlog::instrument::strip(r.text) == src);
}

TEST_CASE("levels 4-5: a macro's own declarations and statements get no events; its use gets its line") {
  // AGENTLOG_VAR(t_) went after `SWAP(x, y);`, where t_ is gone: the file was refused at levels 4 and 5.
  const std::string src = R"(#include <cstdio>
#define SWAP(a, b) do { auto t_ = a; a = b; b = t_; } while (0)
#define DECLARE(n, v) int n = v

int f(int x, int y) {
  SWAP(x, y);
  DECLARE(k, 3);
  return x - y + k;
}
int main() { std::printf("%d\n", f(1, 2)); }
)";
  for (int level : {4, 5}) {
    CAPTURE(level);
    TempDir root;
    auto r = instrument_in_project(root, "m.cpp", src, level, "c++17");
    CHECK(r.text.find("AGENTLOG_VAR(t_)") == std::string::npos);
    CHECK(r.text.find("AGENTLOG_SPAN(" + std::to_string(level) + ", x, y)") != std::string::npos);
    if (level == 5) {  // one line event for the macro's use, none for the statements inside it
      CHECK(r.text.find("  AGENTLOG_LINE(6); /* agentlog */ SWAP(x, y);\n") != std::string::npos);
      CHECK(r.text.find("AGENTLOG_LINE(6)") == r.text.rfind("AGENTLOG_LINE(6)"));
    }
    CHECK(build_and_run(root, "m.cpp", r.text, "c++17").out == "4\n");
    CHECK(agentlog::instrument::strip(r.text) == src);
  }
}

// The notes of instrumenting `src` as `name` at `level` (C++20).
std::vector<std::string> notes_of(const std::string& name, const std::string& src, int level) {
  TempDir dir;
  agentlog::instrument::Options o;
  o.level = level;
  o.runtime_include = std::string(RUNTIME_DIR) + "/agentlog_trace.hpp";
  o.compile_args = {"-xc++", "-std=c++20"};
  auto r = agentlog::instrument::instrument(dir / name, src, o);
  REQUIRE(r.ok);
  return r.notes;
}

TEST_CASE("a braced return gets one note, the same for every form") {
  // `return {42, m};` had no note, `return {};` and `return {1};` notes about errors of a wrapping tried.
  const std::string src = R"(#include <string>
#include <vector>

struct Err { int code; std::string msg; };
Err make_err(const std::string& m) { return {42, m}; }
std::vector<int> none(bool b) {
  if (b) return {};
  return {1};
}
int plain() { return 2; }
)";
  std::vector<std::string> braced;
  for (const auto& note : notes_of("b.cpp", src, 2)) {
    CHECK(note.find("did not compile") == std::string::npos);
    if (note.find("braced") != std::string::npos) braced.push_back(note);
  }
  const std::string why = " is not recorded: a braced list (`return {...};`) is left as it is";
  CHECK(braced == std::vector<std::string>{"the return value at line 5" + why,
                                           "the return value at line 7" + why,
                                           "the return value at line 8" + why});
}

TEST_CASE("libclang's errors in a file that instrumented fine are not blamed on the file") {
  // libclang 14 rejects a lambda's capture of a structured binding (valid C++20, g++ builds it).
  const std::string src = R"(#include <map>
#include <string>

int count_long(const std::map<std::string, int>& m) {
  int n = 0;
  for (const auto& [key, value] : m) {
    auto is_long = [&] { return key.size() > 3 && value > 0; };
    if (is_long()) ++n;
  }
  return n;
}
)";
  const auto notes = notes_of("sb.cpp", src, 3);
  std::string libclang;
  for (const auto& note : notes)
    if (note.rfind("libclang", 0) == 0) libclang = note;
  CHECK(libclang.find(" in the file as it is (line 7: ") != std::string::npos);
  CHECK(libclang.find("agentlog cannot tell from limits of libclang's parser") != std::string::npos);
  CHECK(libclang.find("syntax error") == std::string::npos);
}

TEST_CASE("returns that share their line are wrapped; strip restores them, CRLF files too") {
  const std::string src = R"src(#include <string>
int fib(int n) {
  if (n < 2) return n;
  return fib(n - 1) + fib(n - 2);
}
int clamp(int v, int lo, int hi) {
  if (v < lo) return lo; if (v > hi) return hi;  // two on a line
  return v;
}
struct R { double w, h; double area() const { return w * h; } };
std::string paren(int k) { if (k) return "(" + std::to_string(k); return std::string(")") + ')'; }
int sep() { return 1'000 + 2; }  // a comment after
std::string keep(bool b) {
  std::string s = "abc";
  if (b) return s;  // a class value would be copied: left alone
  return s;
}
)src";
  std::string out = instrument_text("s.cpp", src, 2);
  CHECK(out.find("  if (n < 2) return AGENTLOG_RETURN(n); // agentlog\n") != std::string::npos);
  CHECK(out.find("  if (v < lo) return AGENTLOG_RETURN(lo); if (v > hi) return AGENTLOG_RETURN(hi);  // two "
                 "on a line "
                 "// agentlog\n") != std::string::npos);
  CHECK(out.find("/* agentlog */ return AGENTLOG_RETURN(w * h); } }; // agentlog\n") != std::string::npos);
  CHECK(out.find("return AGENTLOG_RETURN(\"(\" + std::to_string(k)); return "
                 "AGENTLOG_RETURN(std::string(\")\") + ')'); "
                 "} // agentlog\n") != std::string::npos);
  CHECK(out.find("return AGENTLOG_RETURN(1'000 + 2); }  // a comment after // agentlog\n") !=
        std::string::npos);
  CHECK(out.find("  if (b) return s;  // a class value") != std::string::npos);
  CHECK(agentlog::instrument::strip(out) == src);
  TempDir dir;
  agentlog::test::write_text(dir / "s.cpp", out);
  auto built =
      agentlog::test::run_process({"g++", "-std=c++20", "-Wall", "-fsyntax-only", (dir / "s.cpp").string()});
  CHECK_MESSAGE(built.exit_code == 0, built.err);

  std::string crlf;
  for (char c : src) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  std::string out_crlf = instrument_text("c.cpp", crlf, 2);
  CHECK(out_crlf.find("  if (n < 2) return AGENTLOG_RETURN(n); // agentlog\r\n") != std::string::npos);
  CHECK(out_crlf.find("int fib(int n) { AGENTLOG_SPAN(2, n); /* agentlog */\r\n") != std::string::npos);
  CHECK(out_crlf.find("\" // agentlog\r\n#line 1 // agentlog\r\n#include <string>\r\n") ==
        out_crlf.find('\n') - 14);  // inserted lines: CRLF too
  for (std::size_t at = 0; (at = out_crlf.find('\n', at)) != std::string::npos; ++at)
    CHECK_MESSAGE(out_crlf[at - 1] == '\r', out_crlf.substr(out_crlf.rfind('\n', at - 1) + 1, at));
  CHECK(agentlog::instrument::strip(out_crlf) == crlf);
}

TEST_CASE("a return value is recorded as the function returns it: its arithmetic type, a one-line local") {
  const std::string src = R"(#include <cstdio>
#include <string>
enum Suit { kClubs, kHearts };
int letter() { return 'A'; }
bool non_null(const int* p) { return p; }
double half() { return 3; }
char code(int k) { if (k) return 66; return 67; }
int promoted() {
  char c = 'D';
  return c;
}
long suit() { return kHearts; }
unsigned long same(unsigned long n) { return n; }
std::string word() { std::string w = "hey"; return w; }
std::string echo(std::string s) {return s;}
int split(int a, int b) {
  return a +
         b;
}
int main() {
  int x = 0;
  std::printf("%d %d %g %c %d %ld %lu\n", letter(), non_null(&x), half(), code(1), promoted(), suit(), same(7));
  std::printf("%s %s\n", word().c_str(), echo("yo").c_str());
}
)";
  TempDir root;
  auto r = instrument_in_project(root, "a.cpp", src, 2, "c++17");
  CHECK(r.text.find("return AGENTLOG_RETURN_AS(int, 'A'); } // agentlog") != std::string::npos);
  CHECK(r.text.find("return AGENTLOG_RETURN_AS(bool, p); } // agentlog") != std::string::npos);
  CHECK(r.text.find("if (k) return AGENTLOG_RETURN_AS(char, 66); return AGENTLOG_RETURN_AS(char, 67); }") !=
        std::string::npos);
  CHECK(r.text.find("  AGENTLOG_RETURN_VALUE((int)(c)); /* agentlog */ return c;") != std::string::npos);
  CHECK(r.text.find("return AGENTLOG_RETURN(n); }") != std::string::npos);  // the same type: as it was
  CHECK(r.text.find("  return AGENTLOG_RETURN(a + // agentlog\n         b); // agentlog\n") !=
        std::string::npos);
  // A class value returned by name, on a line with more: recorded before the return (NRVO kept).
  CHECK(r.text.find("std::string w = \"hey\"; AGENTLOG_RETURN_VALUE(w); /* agentlog */ return w; }") !=
        std::string::npos);
  CHECK(r.text.find(
            "{ AGENTLOG_SPAN(2, s); /* agentlog */ AGENTLOG_RETURN_VALUE(s); /* agentlog */return s;}") !=
        std::string::npos);
  CHECK(agentlog::instrument::strip(r.text) == src);

  CHECK(build_and_run(root, "a.cpp", r.text, "c++17").out == "65 1 3 B 68 1 7\nhey yo\n");
  std::map<std::string, json> returned;
  for (const auto& s : spans_of(root))
    if (s.contains("returnValue")) returned[s["function"]] = s["returnValue"];
  CHECK(returned["letter"] == 65);
  CHECK(returned["non_null"] == true);
  CHECK(returned["half"] == 3.0);
  CHECK(returned["code"] == "B");
  CHECK(returned["promoted"] == 68);
  CHECK(returned["suit"] == 1);
  CHECK(returned["same"] == 7);
  CHECK(returned["word"] == "hey");
  CHECK(returned["echo"] == "yo");
}

TEST_CASE("a return over several lines is wrapped, and strip finds its end on a later line") {
  const std::string src = R"src(#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

std::string label(int n) {
  return std::string("(") +  // an opening "(" in a comment
         std::to_string(n) + ")" +
         /* ) */ std::string(1, ')');
}
int positives(const std::vector<int>& v) {
  return static_cast<int>(std::count_if(v.begin(), v.end(), [](int x) {
    return x > 0;
  }));
}
int later(int a)
{
  return
      a * 2;
}
int pick(bool b) {
  if (b) return 1 +
                2; return 4;
}
int main() {
  std::printf("%s %d %d %d\n", label(7).c_str(), positives({1, -1, 2}), later(4), pick(true) + pick(false));
}
)src";
  for (const bool crlf : {false, true}) {
    CAPTURE(crlf);
    std::string text = src;
    if (crlf)
      for (std::size_t at = 0; (at = text.find('\n', at)) != std::string::npos; at += 2)
        text.insert(at, 1, '\r');
    TempDir root;
    auto r = instrument_in_project(root, "m.cpp", text, 3, "c++17");
    CHECK(agentlog::instrument::strip(r.text) == text);
    if (crlf) continue;
    CHECK(r.text.find("  return AGENTLOG_RETURN(std::string(\"(\") +  // an opening \"(\" in a comment // "
                      "agentlog\n") != std::string::npos);
    CHECK(r.text.find("         /* ) */ std::string(1, ')')); // agentlog\n") != std::string::npos);
    CHECK(r.text.find("  }))); // agentlog\n") != std::string::npos);
    CHECK(r.text.find("  return\n      AGENTLOG_RETURN(a * 2); // agentlog\n") != std::string::npos);
    CHECK(r.text.find("                2); return AGENTLOG_RETURN(4); // agentlog\n") != std::string::npos);
    CHECK(build_and_run(root, "m.cpp", r.text, "c++17").out == "(7)) 2 8 7\n");
    std::map<std::string, json> returned;
    for (const auto& s : spans_of(root))
      if (s.contains("returnValue")) returned[s["function"]] = s["returnValue"];
    CHECK(returned["label"] == "(7))");
    CHECK(returned["positives"] == 2);
    CHECK(returned["later"] == 8);
  }
}

TEST_CASE("strip: a wrapped return over several lines that holds a lambda with one of its own") {
  // agentlog's tools/get_trace_stats.cpp at level 3: strip lost the outer value's ')' (and had deleted the
  // line before).
  const std::string src = R"src(#include <string>
template <class F>
std::string guarded(F f) { return f(); }
std::string stats(const std::string& file, const std::string& function) { return file + function; }
std::string handler(const std::string& a) {
  return guarded([&] {
    return stats(a + "(",
                 std::string(")"));
  });
}
)src";
  const std::string out = instrument_text("n.cpp", src, 3);
  CHECK(out.find("  return AGENTLOG_RETURN(guarded([&] { AGENTLOG_SPAN(3); /* agentlog */ // agentlog\n") !=
        std::string::npos);
  CHECK(out.find("  })); // agentlog\n") != std::string::npos);
  CHECK(agentlog::instrument::strip(out) == src);
}

TEST_CASE("a return or parameter list that cannot be wrapped is left alone; the rest of the file is traced") {
  const std::string src = R"(#include <cstdio>
#include <ostream>
#include <string>
namespace strict {  // an operator<< for every type of this namespace, which only compiles for some
struct Strict { int v; };
template <class T>
std::ostream& operator<<(std::ostream& os, const T& t) { return os << t.name(); }
}
struct Bits { unsigned f : 3; };
struct P { int a, b; };
struct Box { int v; };
P braced(int a, int b) {
  return {a, b};
}
unsigned bits(Bits& s) {
  return s.f;
}
std::string named(int x) {
  if (x) return "yes";
  return std::string("no-") + __func__;
}
decltype(auto) member(Box& b) {
  return (b.v);
}
template <class... A>
int count(A&&... a) {
  return static_cast<int>(sizeof...(a));
}
int twice(int a) {
  return a * 2;
}
int use(const strict::Strict& s, int n) {
  return s.v + n;
}
int main() {
  Bits s{5};
  Box box{1};
  member(box) = 3;  // a reference, as without tracing
  int b = braced(1, 2).b;
  unsigned f = bits(s);
  std::string no = named(0), yes = named(1);
  int n = count(1, 2), t = twice(4), u = use(strict::Strict{1}, 2);
  std::printf("%d %u %s %s %d %d %d %d\n", b, f, no.c_str(), yes.c_str(), n, t, box.v, u);
}
)";
  TempDir root;
  auto r = instrument_in_project(root, "p.cpp", src, 2, "c++20");
  const std::string& out = r.text;
  CHECK(out.find("  return {a, b};\n") != std::string::npos);
  CHECK(out.find("  return s.f;\n") != std::string::npos);
  CHECK(out.find("  return std::string(\"no-\") + __func__;\n") != std::string::npos);  // a lambda's name
  CHECK(out.find("  return (b.v);\n") != std::string::npos);                            // decltype(auto)
  CHECK(out.find("if (x) return AGENTLOG_RETURN(\"yes\"); // agentlog") != std::string::npos);
  CHECK(out.find("return AGENTLOG_RETURN(a * 2); // agentlog") != std::string::npos);
  CHECK(out.find("AGENTLOG_SPAN(2, AGENTLOG_PACK(a)); /* agentlog */") != std::string::npos);
  CHECK(out.find("AGENTLOG_SPAN(2); /* agentlog */\n  return AGENTLOG_RETURN(s.v + n);") !=
        std::string::npos);
  CHECK(out.find("AGENTLOG_SPAN(2, a, b); /* agentlog */\n  return {a, b};") != std::string::npos);
  std::string notes;
  for (const auto& n : r.notes) notes += n + "\n";
  CHECK(notes.find("the return value at line 16 is not recorded (wrapping it did not compile: ") !=
        std::string::npos);
  CHECK(notes.find(
            "the parameters of use (line 32) are not captured (capturing them did not compile: no member "
            "named 'name' in 'strict::Strict')") != std::string::npos);
  CHECK(notes.find("return values are not wrapped") == std::string::npos);  // not the whole file's
  CHECK(agentlog::instrument::strip(out) == src);

  // g++ builds it, and it records what it should.
  CHECK(build_and_run(root, "p.cpp", out, "c++20").out == "2 5 no-named yes 2 8 3 3\n");
  std::map<std::string, std::vector<json>> returned;  // function -> its spans' return values in call order
  for (const auto& s : spans_of(root)) returned[s["function"]].push_back(s.value("returnValue", json()));
  CHECK(returned.at("twice") == std::vector<json>{8});
  CHECK(returned.at("count") == std::vector<json>{2});
  CHECK(returned.at("use") == std::vector<json>{3});
  std::map<std::string, json> params;
  for (const auto& s : spans_of(root)) params[s["function"]] = s.value("params", json());
  CHECK(params.at("count") == json::parse(R"({"a": [1, 2]})"));  // a pack: its values under its name
  CHECK(params.at("use") == json::object());
  CHECK(returned.at("named") == std::vector<json>{json(), "yes"});  // only the second return is wrapped
  CHECK(returned.at("bits") == std::vector<json>{json()});
  CHECK(returned.at("braced") == std::vector<json>{json()});
}

TEST_CASE(
    "level 3: lambdas given to std::thread, std::async and thread containers run in their creator's trace") {
  const std::string src = R"(#include <cstdio>
#include <functional>
#include <future>
#include <thread>
#include <vector>
int work(int b, int e) {
  int s = 0;
  for (int i = b; i < e; ++i) s += i;
  return s;
}
int parallel_sum() {
  std::vector<int> partial(2);
  std::vector<std::thread> pool;
  for (int t = 0; t < 2; ++t)
    pool.emplace_back([&, t] { partial[t] = work(t * 10, t * 10 + 10); });  // one per chunk
  for (auto& th : pool) th.join();
  std::thread single([&] {
    partial[0] += 1;
  });
  single.join();
  return partial[0] + partial[1];
}
int async_product(int a) {
  auto f = std::async(std::launch::async, [a] { return a * 3; });
  auto local = [a] { return a + 1; };  // called here: not wrapped
  return f.get() + local();
}
struct Pool {  // a hand-written thread pool: submit() queues work
  std::vector<std::thread> workers;
  void submit(std::function<void()> f) {
    workers.emplace_back([f] { f(); });
  }
  ~Pool() {
    for (auto& w : workers) w.join();
  }
};
int pooled() {
  int out = 0;
  {
    Pool pool;
    pool.submit([&out] { out = work(0, 5); });
  }
  return out;
}
int main() {
  std::printf("%d\n", parallel_sum() + async_product(2) + pooled());
}
)";
  TempDir root;
  auto r = instrument_in_project(root, "t.cpp", src, 3, "c++17");
  CHECK(r.text.find("pool.submit(AGENTLOG_WRAP [&out] {") != std::string::npos);
  CHECK(r.text.find("workers.emplace_back(AGENTLOG_WRAP [f] {") != std::string::npos);
  CHECK(r.text.find("pool.emplace_back(AGENTLOG_WRAP [&, t] {") != std::string::npos);
  CHECK(
      r.text.find("std::thread single(AGENTLOG_WRAP [&] { AGENTLOG_SPAN(3); /* agentlog */ // agentlog\n") !=
      std::string::npos);  // the marker after the lambda's span
  CHECK(r.text.find("std::async(std::launch::async, AGENTLOG_WRAP [a] {") != std::string::npos);
  CHECK(r.text.find("auto local = [a] {") != std::string::npos);
  CHECK(agentlog::instrument::strip(r.text) == src);

  CHECK(build_and_run(root, "t.cpp", r.text, "c++17").out == "210\n");
  std::map<std::string, json> by_id;
  std::set<std::string> traces;
  const auto spans = spans_of(root);
  for (const auto& s : spans) {
    by_id[s["spanId"]] = s;
    traces.insert(s["traceId"].get<std::string>());
  }
  CHECK(traces.size() == 1);  // every thread's spans in main's trace
  int lambdas = 0;
  for (const auto& s : spans) {
    const std::string fn = s["function"];
    if (fn.find("lambda") == std::string::npos) continue;
    ++lambdas;
    REQUIRE(s["parentSpanId"].is_string());
    const std::string parent = by_id.at(s["parentSpanId"])["function"];
    CHECK(parent == fn.substr(0, fn.rfind("::")));  // parallel_sum::<lambda()> under parallel_sum
  }
  CHECK(lambdas == 7);  // Pool::submit's lambda runs pooled's, under pooled
}

TEST_CASE("a header with no compile_commands.json entry is parsed with the flags of the project's sources") {
  TempDir root;
  fs::create_directories(root / "src");
  agentlog::test::write_text(
      root / "src/m.hpp",
      "#pragma once\n#include <concepts>\ntemplate <std::integral T>\nT sq(T x) {\n  return x * x;\n}\n");
  agentlog::test::write_text(root / "src/a.cpp", "#include \"m.hpp\"\nint main() { return sq(2) - 4; }\n");
  const json db = json::array({{{"directory", root.path().string()},
                                {"command", "/usr/bin/g++ -std=gnu++20 -Wall -o a.o -c src/a.cpp"},
                                {"file", "src/a.cpp"}}});
  agentlog::test::write_text(root / "compile_commands.json", db.dump());
  agentlog::instrument::Options o;
  o.level = 2;
  o.runtime_include = std::string(RUNTIME_DIR) + "/agentlog_trace.hpp";
  std::string note;
  o.compile_args =
      agentlog::instrument::compile_args_for(root / "src/m.hpp", root.path(), note);  // as the tools do
  CHECK(note.find("flags of " + (root / "src/a.cpp").string()) != std::string::npos);
  auto r =
      agentlog::instrument::instrument(root / "src/m.hpp", agentlog::test::read_text(root / "src/m.hpp"), o);
  REQUIRE_MESSAGE(r.ok, (r.diagnostics.empty() ? "" : r.diagnostics[0]));  // -std=c++17 knew no std::integral
  CHECK(r.text.find("return AGENTLOG_RETURN(x * x);") != std::string::npos);
}

TEST_CASE("a .h that C and C++ files include gets the runtime of each: both build and record") {
  const std::string header = R"(#pragma once
#ifdef __cplusplus
extern "C" {
#endif
static inline int twice(int v)
{
  int r = 2 * v;
  return r;
}
struct pt { int x, y; };
static inline struct pt nudge(struct pt p, int a, int b, int c, int d, int e, int f, int g, int h, int i) {
  struct pt q = {p.x + a + b + c + d + e + f + g + h + i, p.y};
  return q;
}
static inline int wide(int a, int b, int c, int d, int e, int f, int g, int h, int i, int j, int k, int l, int m,
                       int n, int o, int p, int q) {
  return a + b + c + d + e + f + g + h + i + j + k + l + m + n + o + p + q;
}
#ifdef __cplusplus
}
#endif
)";
  TempDir root;
  auto r = instrument_in_project(root, "shared.h", header, 2, "c++17");
  // The C runtime's header, which in C++ is the C++ runtime; after `#pragma once`, then #line.
  CHECK(r.text.find("#pragma once\n#include \"") == 0);
  CHECK(r.text.find("agentlog_trace.h\" // agentlog\n#line 2 // agentlog\n#ifdef __cplusplus\n") !=
        std::string::npos);
  CHECK(agentlog::instrument::strip(r.text) == header);
  agentlog::test::write_text(root / "shared.h", r.text);
  // As C, the struct by value and the ten parameters the C++ parse gave nudge's span build too.
  agentlog::test::write_text(
      root / "b.c",
      "#include \"shared.h\"\nint from_c(int v) {\n"
      "  return twice(v) + nudge((struct pt){0, 0}, 1, 1, 1, 1, 1, 1, 1, 1, 1).x - 9 +\n"
      "         wide(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);\n}\n");
  agentlog::test::write_text(
      root / "a.cpp",
      "#include <cstdio>\nextern \"C\" {\n#include \"shared.h\"\n}\nextern \"C\" int from_c(int);\n"
      "int main() {\n  AGENTLOG_SPAN(1);\n  std::printf(\"%d\\n\", twice(2) + from_c(3));\n}\n");
  auto c = agentlog::test::run_process({"gcc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-c",
                                        (root / "b.c").string(), "-o", (root / "b.o").string()});
  REQUIRE_MESSAGE(c.exit_code == 0, c.err);
  auto cpp = agentlog::test::run_process({"g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-pthread",
                                          (root / "a.cpp").string(), (root / "b.o").string(), "-o",
                                          (root / "prog").string()});
  REQUIRE_MESSAGE(cpp.exit_code == 0, cpp.err);
  auto ran = agentlog::test::run_process({(root / "prog").string()}, "", root.path(),
                                         {{"AGENTLOG_ROOT", root.path().string()}});
  CHECK(ran.out == "10\n");
  std::map<int, json> by_param;
  json main_span;
  json nudge;
  for (const auto& s : spans_of(root)) {
    if (s["function"] == "twice") by_param[s["params"]["v"].get<int>()] = s;
    if (s["function"] == "main") main_span = s;
    if (s["function"] == "nudge") nudge = s;
    if (s["function"] == "wide") {  // the first 16 parameters: what the C runtime takes
      CHECK(s["params"].size() == 16);
      CHECK(s["params"].contains("p"));
      CHECK_FALSE(s["params"].contains("q"));
    }
  }
  CHECK(std::any_of(r.notes.begin(), r.notes.end(), [](const std::string& n) {
    return n.find("parameters of wide after the 16th") != n.npos;
  }));
  REQUIRE(nudge.is_object());
  CHECK(nudge["params"]["p"] == "<struct>");
  CHECK(nudge["params"]["i"] == 1);
  CHECK(nudge["returnValue"] == "<struct>");
  CHECK(by_param[2]["returnValue"] == 4);  // from C++
  CHECK(by_param[3]["returnValue"] == 6);  // from C
  CHECK(r.text.find("{ AGENTLOG_SPAN_AT(5, 2, v); /* agentlog */\n") != std::string::npos);
  CHECK(by_param[2]["line"] == 5);  // the name's line (the '{' is on the next), in both runtimes
  CHECK(by_param[3]["line"] == 5);
  // Both under main: the C span (the C runtime's file) continues the C++ runtime's trace.
  REQUIRE(main_span.is_object());
  for (int v : {2, 3}) {
    CHECK(by_param[v]["parentSpanId"] == main_span["spanId"]);
    CHECK(by_param[v]["traceId"] == main_span["traceId"]);
  }
}

TEST_CASE("idempotent, re-levels, and a dry run writes nothing") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const std::string src = "int twice(int v) {\n  int r = v * 2;\n  return r;\n}\n";
  agentlog::test::write_text(root / "t.cpp", src);
  const std::string r = root.path().string();
  auto dry = agentlog::test::run_agentlog({"instrument", "t.cpp", "--level", "2", "--dry-run", "--root", r});
  CHECK(dry.exit_code == 0);
  CHECK(dry.out.find("+int twice(int v) { AGENTLOG_SPAN(2, v); /* agentlog */") != std::string::npos);
  CHECK(agentlog::test::read_text(root / "t.cpp") == src);
  // The level in the file is a ceiling: the text output says the configuration records less.
  auto capped =
      agentlog::test::run_agentlog({"instrument", "t.cpp", "--level", "4", "--dry-run", "--root", r});
  CHECK(capped.err.find("note: spans of this file record at level 2 (TRACING_DEFAULT_LEVEL at ") !=
        std::string::npos);
  // A file outside the project is refused, and stays as it was.
  TempDir outside;
  agentlog::test::write_text(outside / "o.cpp", src);
  auto refused = agentlog::test::run_agentlog({"instrument", (outside / "o.cpp").string(), "--root", r});
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("is outside the project") != std::string::npos);
  CHECK(agentlog::test::read_text(outside / "o.cpp") == src);
  // Symbolic links stay links: one to a file outside is refused, one inside names its file instead; --all
  // skips both (it was writing an instrumented copy of the outside file into the project).
  fs::create_symlink(outside / "o.cpp", root / "ext.cpp");
  fs::create_symlink("t.cpp", root / "alias.cpp");
  auto via_link = agentlog::test::run_agentlog({"instrument", "ext.cpp", "--root", r});
  CHECK(via_link.exit_code != 0);
  CHECK(via_link.err.find("through a symbolic link), outside the project") != std::string::npos);
  auto alias = agentlog::test::run_agentlog({"instrument", "alias.cpp", "--root", r});
  CHECK(alias.exit_code != 0);
  CHECK(alias.err.find("alias.cpp is a symbolic link to t.cpp; name t.cpp instead") != std::string::npos);
  auto all = agentlog::test::run_agentlog({"instrument", "--all", "--dry-run", "--json", "--root", r});
  CHECK(all.exit_code == 0);
  CHECK(all.out.find("ext.cpp") == std::string::npos);
  CHECK(all.out.find("alias.cpp") == std::string::npos);
  CHECK(all.out.find("t.cpp") != std::string::npos);
  CHECK(fs::is_symlink(root / "ext.cpp"));
  CHECK(fs::is_symlink(root / "alias.cpp"));
  CHECK(agentlog::test::read_text(outside / "o.cpp") == src);
  fs::remove(root / "ext.cpp");
  fs::remove(root / "alias.cpp");
  // A file that begins with a UTF-8 byte order mark keeps it first: instrumented, stripped after an edit.
  const std::string bom = "\xEF\xBB\xBF";
  agentlog::test::write_text(root / "bom.cpp", bom + src);
  auto marked = agentlog::test::run_agentlog({"instrument", "bom.cpp", "--level", "2", "--root", r});
  CHECK_MESSAGE(marked.exit_code == 0, marked.err);
  std::string with_bom = agentlog::test::read_text(root / "bom.cpp");
  CHECK(with_bom.rfind(bom, 0) == 0);
  CHECK(with_bom.find(bom, 1) == std::string::npos);
  CHECK(with_bom.find("AGENTLOG_SPAN(2, v)") != std::string::npos);
  agentlog::test::write_text(root / "bom.cpp", with_bom + "// edited\n");
  CHECK(agentlog::test::run_agentlog({"uninstrument", "bom.cpp", "--root", r}).exit_code == 0);
  CHECK(agentlog::test::read_text(root / "bom.cpp") == bom + src + "// edited\n");

  McpSession mcp(root.path());
  mcp.initialize();
  json first = mcp.call_tool("instrument_file", {{"file", "t.cpp"}, {"level", 2}});
  REQUIRE(first["isError"] == false);
  CHECK(first["structuredContent"]["changed"] == true);
  const std::string level2 = agentlog::test::read_text(root / "t.cpp");
  json again = mcp.call_tool("instrument_file", {{"file", "t.cpp"}, {"level", 2}});
  CHECK(again["structuredContent"]["changed"] == false);
  CHECK(agentlog::test::read_text(root / "t.cpp") == level2);
  json relevel = mcp.call_tool("instrument_file", {{"file", "t.cpp"}, {"level", 4}});
  CHECK(relevel["structuredContent"]["changed"] == true);
  std::string level4 = agentlog::test::read_text(root / "t.cpp");
  CHECK(level4.find("AGENTLOG_SPAN(4, v)") != std::string::npos);
  CHECK(level4.find("  int r = v * 2; AGENTLOG_VAR(r); /* agentlog */\n") != std::string::npos);
  CHECK(level4.find("AGENTLOG_SPAN(2") == std::string::npos);
  auto undry = agentlog::test::run_agentlog({"uninstrument", "t.cpp", "--dry-run", "--root", r});
  CHECK(undry.out.find("-int twice(int v) { AGENTLOG_SPAN(4, v); /* agentlog */") !=
        std::string::npos);  // the diff, in text mode too
  CHECK(agentlog::test::read_text(root / "t.cpp") == level4);
  json restored = mcp.call_tool("uninstrument_file", {{"file", "t.cpp"}});
  CHECK(restored["structuredContent"]["outcome"] == "restored");
  CHECK(agentlog::test::read_text(root / "t.cpp") == src);
  json none = mcp.call_tool("uninstrument_file", {{"file", "t.cpp"}});
  CHECK(none["structuredContent"]["outcome"] == "not_instrumented");

  // Edited after instrumenting: exactly the inserted text goes, the edit stays.
  mcp.call_tool("instrument_file", {{"file", "t.cpp"}, {"level", 1}});
  agentlog::test::write_text(root / "t.cpp", agentlog::test::read_text(root / "t.cpp") + "int added() { return 1; }\n");
  json stripped = mcp.call_tool("uninstrument_file", {{"file", "t.cpp"}});
  CHECK(stripped["structuredContent"]["outcome"] == "stripped");
  CHECK(agentlog::test::read_text(root / "t.cpp") == src + "int added() { return 1; }\n");

  // restore: true gives back the original bytes, and the edits it takes out of the file are kept, not lost.
  mcp.call_tool("instrument_file", {{"file", "t.cpp"}, {"level", 1}});
  const std::string edited = agentlog::test::read_text(root / "t.cpp") + "int more() { return 2; }\n";
  agentlog::test::write_text(root / "t.cpp", edited);
  json forced = mcp.call_tool("uninstrument_file", {{"file", "t.cpp"}, {"restore", true}});
  REQUIRE(forced["isError"] == false);
  CHECK(forced["structuredContent"]["outcome"] == "restored");
  CHECK(forced["structuredContent"]["editsDiscarded"] == true);
  CHECK(agentlog::test::read_text(root / "t.cpp") == src + "int added() { return 1; }\n");
  const std::string kept = forced["structuredContent"].value("editsSavedTo", "");
  REQUIRE(!kept.empty());
  CHECK(agentlog::test::read_text(root / kept) ==
        src + "int added() { return 1; }\nint more() { return 2; }\n");
  // The CLI says it, naming the copy.
  mcp.call_tool("instrument_file", {{"file", "t.cpp"}, {"level", 1}});
  agentlog::test::write_text(root / "t.cpp", agentlog::test::read_text(root / "t.cpp") + "// note\n");
  auto cli = agentlog::test::run_agentlog({"uninstrument", "t.cpp", "--restore", "--root", r});
  CHECK_MESSAGE(cli.exit_code == 0, cli.err);
  CHECK(cli.err.find("t.cpp: restored (the edits made since it was instrumented are kept in .ai-agents/") !=
        std::string::npos);
}

TEST_CASE("uninstrument leaves a file that was never instrumented byte for byte, markers in strings too") {
  // A code generator and a test that hold the instrumenter's text in string literals, raw strings and
  // comments (agentlog's own instrument.cpp and test_instrument.cpp). `uninstrument --all` was stripping
  // them.
  const std::string gen = R"src(#include <string>

// A code generator that writes instrumented code, e.g.:
//   int f(int a) { AGENTLOG_SPAN(2, a); /* agentlog */
/* #include "runtime/agentlog_trace.hpp" // agentlog
   return AGENTLOG_RETURN(x); // agentlog */
std::string span_line(const std::string& params) {
  return " AGENTLOG_SPAN(" + params + "); /* agentlog */";
}
const char* expected = R"(#include "../agentlog_trace.hpp" // agentlog: was an empty line
#line 1 // agentlog
int g() { AGENTLOG_SPAN(1); /* agentlog */
  return AGENTLOG_RETURN(1); // agentlog
})";
int flag = 1; // agentlog
char quote() { return '"'; } const char* after = " AGENTLOG_VAR(v); /* agentlog */";
int main() { return span_line("2, a").empty() ? 1 : 0; }
)src";
  CHECK_FALSE(agentlog::instrument::is_instrumented(gen));
  CHECK(agentlog::instrument::strip(gen) == gen);

  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const std::string r = root.path().string();
  agentlog::test::write_text(root / "gen.cpp", gen);
  auto all = agentlog::test::run_agentlog({"uninstrument", "--all", "--json", "--root", r});
  CHECK_MESSAGE(all.exit_code == 0, all.err);
  CHECK(json::parse(all.out) == json::array());  // --all lists only what it took instrumentation out of
  CHECK(agentlog::test::read_text(root / "gen.cpp") == gen);
  auto one = agentlog::test::run_agentlog({"uninstrument", "gen.cpp", "--json", "--root", r});
  CHECK_MESSAGE(one.exit_code == 0, one.err);
  CHECK(json::parse(one.out)[0]["outcome"] == "not_instrumented");
  CHECK(agentlog::test::read_text(root / "gen.cpp") == gen);

  // Instrumented, then edited: stripping takes out what the instrumenter inserted, and only that.
  auto in = agentlog::test::run_agentlog({"instrument", "gen.cpp", "--level", "2", "--root", r});
  CHECK_MESSAGE(in.exit_code == 0, in.err);
  const std::string instrumented = agentlog::test::read_text(root / "gen.cpp");
  CHECK(instrumented.find("AGENTLOG_SPAN(2, params); /* agentlog */") != std::string::npos);
  CHECK(agentlog::instrument::is_instrumented(instrumented));
  agentlog::test::write_text(root / "gen.cpp", instrumented + "// edited\n");
  auto stripped = agentlog::test::run_agentlog({"uninstrument", "gen.cpp", "--json", "--root", r});
  CHECK_MESSAGE(stripped.exit_code == 0, stripped.err);
  CHECK(json::parse(stripped.out)[0]["outcome"] == "stripped");
  CHECK(agentlog::test::read_text(root / "gen.cpp") == gen + "// edited\n");
}

TEST_CASE("compile_commands.json: a command is split as the shell does, arguments are taken as they are") {
  // CMake writes -DVERSION=\"1.0\" for the shell: libclang was getting the backslashes, found an error that
  // is not in the file, and the return of VERSION went unrecorded.
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const std::string r = root.path().string();
  const std::string src = "const char* version() { return VERSION; }\nconst char* name() { return NAME; }\n";
  agentlog::test::write_text(root / "ver.cpp", src);
  agentlog::test::write_text(root / "arg.cpp", src);
  const json db = json::array(
      {{{"directory", r},
        {"command",
         "/usr/bin/c++ -DVERSION=\\\"1.0\\\" '-DNAME=\"a b\"' -std=c++20 -o ver.o -c " + r + "/ver.cpp"},
        {"file", r + "/ver.cpp"}},
       {{"directory", r},
        {"arguments", {"c++", "-DVERSION=\"1.0\"", "-DNAME=\"a b\"", "-std=c++20", "-c", "arg.cpp"}},
        {"file", "arg.cpp"}}});
  agentlog::test::write_text(root / "compile_commands.json", db.dump());
  for (const std::string file : {"ver.cpp", "arg.cpp"}) {
    CAPTURE(file);
    auto out = agentlog::test::run_agentlog({"instrument", file, "--level", "2", "--json", "--root", r});
    REQUIRE_MESSAGE(out.exit_code == 0, out.err);
    const json result = json::parse(out.out)[0];
    CHECK(result["notes"].dump().find("error") == std::string::npos);
    REQUIRE(result["functions"].size() == 2);
    for (const auto& f : result["functions"]) CHECK(f["returnsWrapped"] == true);
  }
}

TEST_CASE("the tools: named functions, bad input, policy, instrument_all with progress") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  agentlog::test::write_text(root / "a.cpp", "int one() {\n  return 1;\n}\nint two() {\n  return 2;\n}\n");
  agentlog::test::write_text(root / "b.cpp", "int three() {\n  return 3;\n}\n");
  agentlog::test::write_text(root / "broken.cpp", "int broken( {\n");
  agentlog::test::write_text(root / "vendor/lib.cpp", "int lib() {\n  return 0;\n}\n");
  McpSession mcp(root.path());
  mcp.initialize();
  json named = mcp.call_tool("instrument_file", {{"file", "a.cpp"}, {"level", 1}, {"functions", {"two"}}});
  REQUIRE(named["isError"] == false);
  CHECK(named["structuredContent"]["functions"].size() == 1);
  CHECK(named["structuredContent"]["functions"][0]["name"] == "two");
  {  // the audit record names the file once, with its hashes before and after (it was listed twice)
    json record;
    std::istringstream audit(agentlog::test::read_text(root / ".ai-agents/logging/audit/actions.jsonl"));
    for (std::string line; std::getline(audit, line);)
      if (json r = json::parse(line); r["tool"] == "instrument_file") record = r;
    REQUIRE(record["files"].size() == 1);
    CHECK(record["files"][0]["path"] == "a.cpp");
    CHECK(record["files"][0]["sha256Before"] != record["files"][0]["sha256After"]);
  }
  // A name that matches nothing is said (it was silent), also in a file that does not parse (that was "would
  // introduce compile errors").
  json misspelt =
      mcp.call_tool("instrument_file",
                    {{"file", "b.cpp"}, {"level", 1}, {"functions", {"thre", "three"}}, {"dryRun", true}});
  REQUIRE(misspelt["isError"] == false);
  CHECK(misspelt["structuredContent"]["functions"].size() == 1);
  CHECK(misspelt["structuredContent"]["notes"].dump().find(
            "no function named 'thre' was instrumented in b.cpp") != std::string::npos);
  json none = mcp.call_tool("instrument_file",
                            {{"file", "broken.cpp"}, {"level", 1}, {"functions", {"zz"}}, {"dryRun", true}});
  REQUIRE(none["isError"] == false);
  CHECK(none["structuredContent"]["changed"] == false);
  CHECK(none["structuredContent"]["notes"].dump().find("no function named 'zz'") != std::string::npos);
  // A file that does not parse as it is: said so, not blamed on instrumenting.
  const std::string broken_text =
      mcp.call_tool("instrument_file", {{"file", "broken.cpp"}, {"level", 1}})["content"][0]["text"];
  CHECK(broken_text.rfind("[instrument.source_broken] broken.cpp does not compile as it is", 0) == 0);
  CHECK(mcp.call_tool("instrument_file", {{"file", "missing.cpp"}, {"level", 1}})["content"][0]["text"].get<std::string>().find(
            "instrument.file_not_found") != std::string::npos);
  CHECK(mcp.call_tool("instrument_file", {{"file", "notes.txt"}, {"level", 1}})["isError"] == true);
  CHECK(mcp.call_tool("instrument_file", {{"file", "a.cpp"}, {"level", 9}})["isError"] == true);
  CHECK(mcp.call_tool("instrument_file", {{"file", ".ai-agents/logging/config/.env.tracing"}, {"level", 1}})["content"][0]["text"]
            .get<std::string>()
            .rfind("[policy.denied.protected_file]", 0) == 0);

  json req = {{"jsonrpc", "2.0"}, {"id", 99}, {"method", "tools/call"},
              {"params", {{"name", "instrument_all"}, {"arguments", {{"level", 2}}}, {"_meta", {{"progressToken", "p1"}}}}}};
  mcp.send(req);
  json reply;
  int progress = 0;
  while (auto msg = mcp.read()) {
    if (msg->value("method", "") == "notifications/progress") ++progress;
    if (msg->contains("id") && (*msg)["id"] == 99) {
      reply = *msg;
      break;
    }
  }
  REQUIRE(reply.contains("result"));
  json all = reply["result"]["structuredContent"];
  CHECK(progress == 3);  // a.cpp, b.cpp, broken.cpp; vendor/ is skipped
  std::map<std::string, std::string> outcome;
  for (const auto& f : all["files"]) outcome[f["file"]] = f["outcome"];
  CHECK(outcome["b.cpp"] == "instrumented");
  CHECK(outcome["broken.cpp"] == "failed");
  CHECK(outcome.count("vendor/lib.cpp") == 0);
  CHECK(agentlog::test::read_text(root / "broken.cpp") == "int broken( {\n");

  auto env = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\nTRACING_ALLOW_AI_INSTRUMENTATION=false\n");
  json denied = mcp.call_tool("instrument_file", {{"file", "b.cpp"}, {"level", 3}});
  CHECK(denied["content"][0]["text"].get<std::string>().rfind("[policy.denied.permission]", 0) == 0);

  // `agentlog instrument --all` (the human's) leaves out what TRACING_EXCLUDE_FILES names, as instrument_all
  // does.
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\nTRACING_EXCLUDE_FILES=b.cpp,*.hpp\n");
  agentlog::test::write_text(root / "c.hpp", "inline int four() {\n  return 4;\n}\n");
  fs::remove(root / "broken.cpp");
  auto cli = agentlog::test::run_agentlog(
      {"instrument", "--all", "--dry-run", "--json", "--level", "1", "--root", root.path().string()});
  REQUIRE_MESSAGE(cli.exit_code == 0, cli.err);
  std::set<std::string> listed;
  for (const auto& f : json::parse(cli.out)) listed.insert(f["file"].get<std::string>());
  CHECK(listed == std::set<std::string>{"a.cpp"});
  // --functions takes one comma-separated value: the files may follow it.
  auto named_cli = agentlog::test::run_agentlog({"instrument", "--level", "1", "--functions", "one,two",
                                                 "a.cpp", "--dry-run", "--root", root.path().string()});
  CHECK_MESSAGE(named_cli.exit_code == 0, named_cli.err);
  CHECK(named_cli.out.find("a.cpp") != std::string::npos);
}

// The corpus: one input per language and its expected output at each level (corpus/<input>.L<n>), so any
// change to what is inserted shows up as a reviewable diff. AGENTLOG_UPDATE_CORPUS=1 rewrites the expected
// files (then review them with git diff before committing).
TEST_CASE("corpus: every construct, expected output per level, C and C++") {
  struct Input {
    std::string name;
    std::string header;
    std::vector<std::string> args;
    int max_level;
  };
  const std::vector<Input> inputs = {{"constructs.cpp", "agentlog_trace.hpp", {"-xc++", "-std=c++20"}, 5},
                                     {"constructs.c", "agentlog_trace.h", {"-xc", "-std=gnu11"}, 2}};
  const bool update = std::getenv("AGENTLOG_UPDATE_CORPUS") != nullptr;
  for (const auto& in : inputs) {
    const std::string src = agentlog::test::read_text(fs::path(CORPUS_DIR) / in.name);
    for (int level = 1; level <= in.max_level; ++level) {
      CAPTURE(in.name);
      CAPTURE(level);
      TempDir dir;
      fs::copy_file(fs::path(RUNTIME_DIR) / in.header, dir / in.header);
      agentlog::test::write_text(dir / in.name, src);
      agentlog::instrument::Options o;
      o.level = level;
      o.runtime_include = in.header;
      o.compile_args = in.args;
      auto r = agentlog::instrument::instrument(dir / in.name, src, o);
      REQUIRE_MESSAGE(r.ok, (r.diagnostics.empty() ? "" : r.diagnostics[0]));
      const fs::path expected = fs::path(CORPUS_DIR) / (in.name + ".L" + std::to_string(level));
      if (update) agentlog::test::write_text(expected, r.text);
      REQUIRE(fs::exists(expected));
      CHECK(r.text == agentlog::test::read_text(expected));
      CHECK(agentlog::instrument::strip(r.text) == src);
      // What is inserted compiles, warnings as errors.
      agentlog::test::write_text(dir / in.name, r.text);
      const bool c_file = in.header == "agentlog_trace.h";
      auto compiled =
          agentlog::test::run_process({c_file ? "gcc" : "g++", c_file ? "-std=gnu11" : "-std=c++20", "-Wall",
                                       "-Wextra", "-Werror", "-fsyntax-only", (dir / in.name).string()});
      CHECK_MESSAGE(compiled.exit_code == 0, compiled.err);
      // No line is added: the include takes an empty line's place, and AGENTLOG_LINE(n) is on line n, the
      // line its statement has in the original file.
      auto lines_of = [](const std::string& text) {
        std::vector<std::string> out;
        std::istringstream ss(text);
        for (std::string l; std::getline(ss, l);) out.push_back(l);
        return out;
      };
      const auto lines = lines_of(r.text), original_lines = lines_of(src);
      REQUIRE(lines.size() == original_lines.size());
      const auto blank = std::find(original_lines.begin(), original_lines.end(), "") - original_lines.begin();
      REQUIRE(blank < static_cast<std::ptrdiff_t>(lines.size()));
      CHECK(lines[static_cast<std::size_t>(blank)] ==
            "#include \"" + in.header + "\" // agentlog: was an empty line");
      int events = 0;
      for (std::size_t k = 0; k < lines.size(); ++k) {
        CHECK(agentlog::instrument::strip(lines[k]) == original_lines[k]);
        for (std::size_t at = 0; (at = lines[k].find("AGENTLOG_LINE(", at)) != std::string::npos;
             ++at, ++events)
          CHECK_MESSAGE(std::stoul(lines[k].substr(at + 14)) == k + 1, lines[k]);
      }
      CHECK((level == 5) == (events > 0));
      // The same level again changes nothing (the tools strip first, then instrument).
      CHECK(agentlog::instrument::instrument(dir / in.name, agentlog::instrument::strip(r.text), o).text == r.text);
    }
  }
}

TEST_CASE("TRACING_AUTO_INSTRUMENT=true instruments the project when the server starts, audited") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  auto env = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\nTRACING_AUTO_INSTRUMENT=true\nTRACING_DEFAULT_LEVEL=1\n");
  agentlog::test::write_text(root / "src/a.cpp", "int a() {\n  return 1;\n}\n");
  {
    McpSession mcp(root.path());
    mcp.initialize();
    json r = mcp.call_tool("get_tracing_config", json::object());  // the server answers meanwhile
    CHECK(r["isError"] == false);
    for (int i = 0; i < 300 && agentlog::test::read_text(root / "src/a.cpp").find("AGENTLOG_SPAN(1)") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // The audit record follows the rewrite: the server, at end of input, waits for the instrumenter (the
    // session's destructor would kill it at once, and on a busy machine before the record was written).
    mcp.close_stdin();
    CHECK(mcp.wait() == 0);
  }
  CHECK(agentlog::test::read_text(root / "src/a.cpp").find("int a() { AGENTLOG_SPAN(1); /* agentlog */") !=
        std::string::npos);
  auto audit = agentlog::test::read_text(root / ".ai-agents/logging/audit/actions.jsonl");
  CHECK(audit.find("\"tool\":\"instrument_all\"") != std::string::npos);
  CHECK(audit.find("TRACING_AUTO_INSTRUMENT") != std::string::npos);
}

TEST_CASE("instrument_all stops cleanly when the client cancels it") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const int files = 24;
  for (int i = 0; i < files; ++i)
    agentlog::test::write_text(root / ("src/f" + std::to_string(i) + ".cpp"),
                               "#include <string>\n#include <vector>\nint f" + std::to_string(i) + "(int v) {\n  return v + 1;\n}\n");
  McpSession mcp(root.path());
  mcp.initialize();
  mcp.send({{"jsonrpc", "2.0"}, {"id", 7}, {"method", "tools/call"},
            {"params", {{"name", "instrument_all"}, {"arguments", {{"level", 1}, {"workers", 1}}}, {"_meta", {{"progressToken", "c"}}}}}});
  // After the first file, cancel.
  while (auto msg = mcp.read()) {
    if (msg->value("method", "") == "notifications/progress") break;
  }
  mcp.send({{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", 7}, {"reason", "test"}}}});
  json pong = mcp.request("ping");  // the server keeps answering; the cancelled call never replies
  CHECK(pong.contains("result"));
  bool replied = false;
  for (const auto& n : mcp.notes) replied |= n.contains("id") && n["id"] == 7;
  // Give the worker time to notice, then count what was instrumented: some files, not all.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  int instrumented = 0;
  for (int i = 0; i < files; ++i)
    instrumented += agentlog::test::read_text(root / ("src/f" + std::to_string(i) + ".cpp")).find("AGENTLOG_SPAN") != std::string::npos;
  CHECK(instrumented >= 1);
  CHECK(instrumented < files);
  CHECK_FALSE(replied);
  // Every file is either untouched or wholly instrumented (no torn writes).
  for (int i = 0; i < files; ++i) {
    std::string text = agentlog::test::read_text(root / ("src/f" + std::to_string(i) + ".cpp"));
    CHECK(agentlog::instrument::strip(text).find("return v + 1;") != std::string::npos);
  }
}
