// The tracing runtime, tested through real traced programs: each build of program.cpp (standards, compilers,
// sanitizers) runs every scenario in a fresh project and the span files are checked record by record.
#include <doctest/doctest.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

// The converter of binary span files is part of the runtime header (agentlog links it the same way).
#define AGENTLOG_NO_THROW_HOOK
#include "agentlog_trace.hpp"

using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> programs() {
  std::vector<std::string> out;
  std::ifstream in(RUNTIME_PROGRAMS_FILE);
  std::string item;
  while (std::getline(in, item))
    if (!item.empty()) out.push_back(item);
  return out;
}

struct Run {
  agentlog::test::ProcessResult process;
  std::vector<json> spans;
  std::vector<fs::path> files;
};

// The span file format of the runs: "jsonl" (written by the program), or "binary" (written by the program,
// then converted by convert_span_file). for_each_program runs some builds in both.
std::string g_format = "jsonl";

// The command that runs `program` on `scenario`.
std::vector<std::string> program_argv(const std::string& program, const std::string& scenario) {
  std::vector<std::string> argv = {program, scenario};
  if (program.find("tsan") != std::string::npos) {
    // ThreadSanitizer cannot map its shadow memory under the high ASLR entropy of some kernels: run the
    // program with address randomisation off, as its documentation advises.
    // Where the sandbox forbids changing the personality (some container profiles), run it as it is.
    struct utsname u {};
    uname(&u);
    static const bool can_setarch =
        agentlog::test::run_process({"setarch", u.machine, "-R", "true"}).exit_code == 0;
    if (can_setarch) argv.insert(argv.begin(), {"setarch", u.machine, "-R"});
  }
  return argv;
}

Run run(const std::string& program, const std::string& scenario, std::map<std::string, std::string> env = {},
        const std::string& env_tracing = "TRACING_DEFAULT_LEVEL=5\n",
        const std::string& tracing_config = "") {
  TempDir root("agentlog-runtime");
  fs::create_directories(root / ".ai-agents/logging/config");
  agentlog::test::write_text(root / ".ai-agents/logging/config/.env.tracing", env_tracing);
  if (!tracing_config.empty())
    agentlog::test::write_text(root / ".ai-agents/logging/config/tracing.config.json", tracing_config);
  env["AGENTLOG_ROOT"] = root.path().string();
  env.emplace("TRACING_FORMAT", g_format);
  Run r;
  r.process = agentlog::test::run_process(program_argv(program, scenario), "", root.path(), env);
  if (fs::exists(root / ".ai-agents/logging/traces") && env["TRACING_FORMAT"] == "binary") {
    std::vector<fs::path> binaries;
    for (const auto& e : fs::recursive_directory_iterator(root / ".ai-agents/logging/traces")) {
      CHECK(e.path().extension() != ".jsonl");  // the program writes only the binary file
      if (e.path().extension() == ".bin") binaries.push_back(e.path());
    }
    for (const auto& bin : binaries) {
      INFO(bin.string());
      agentlog::SpanFileInfo info = agentlog::inspect_span_file(bin.string());
      CHECK(info.valid);
      // Ended by exit(), return from main or terminate; not by a signal.
      CHECK(info.complete == (scenario != "killed" && scenario.rfind("signal_", 0) != 0));
      CHECK_FALSE(info.running);
      agentlog::ConvertResult converted = agentlog::convert_span_file(bin.string());
      CHECK_MESSAGE(converted.ok, converted.error);
      CHECK_FALSE(fs::exists(bin));
      CHECK(fs::exists(converted.jsonl));
    }
  }
  if (fs::exists(root / ".ai-agents/logging/traces"))
    for (const auto& e : fs::recursive_directory_iterator(root / ".ai-agents/logging/traces")) {
      if (e.path().extension() != ".jsonl") continue;
      r.files.push_back(e.path());
      std::ifstream in(e.path());
      std::string line;
      while (std::getline(in, line)) {
        INFO(line);
        r.spans.push_back(json::parse(line));
      }
    }
  return r;
}

// Runs body(program) for each program listed, one per line, in the file `list` (the builds CMake made);
// returns how many.
int for_each_listed(const char* list, const std::function<void(const std::string&)>& body) {
  std::ifstream in(list);
  int count = 0;
  for (std::string program; std::getline(in, program);) {
    if (program.empty()) continue;
    ++count;
    CAPTURE(program);
    body(program);
  }
  return count;
}

std::vector<json> named(const Run& r, const std::string& function) {
  std::vector<json> out;
  for (const auto& s : r.spans)
    if (s["function"] == function) out.push_back(s);
  return out;
}

bool is_hex(const std::string& s, std::size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(c) && !std::isupper(c); });
}

// Runs `check` once per build of program.cpp, and again with binary span files for the C++20, sanitizer and
// clang++ builds.
template <class F>
void for_each_program(F check) {
  auto list = programs();
  REQUIRE(list.size() >= 6);
  for (const auto& program : list) {
    CAPTURE(program);
    bool tsan = program.find("tsan") != std::string::npos;
    check(program, tsan);
    if (program.find("cxx20") != std::string::npos || program.find("san") != std::string::npos ||
        program.find("clang20") != std::string::npos) {
      g_format = "binary";
      CAPTURE(g_format);
      check(program, tsan);
      g_format = "jsonl";
    }
  }
}

}  // namespace

TEST_CASE("function names from __PRETTY_FUNCTION__, g++'s and clang++'s") {
  const std::map<std::string, std::string> names = {
      {"int main()", "main"},
      {"std::string greet(int, const std::string&)", "greet"},
      {"std::vector<int> ns::Widget::get(int) const [with T = int]", "ns::Widget::get"},
      {"bool shop::Cart::operator==(const shop::Cart&) const", "shop::Cart::operator=="},
      {"main()::<lambda(int)>", "main::<lambda(int)>"},
      {"auto run(int)::(anonymous class)::operator()(int) const", "run::<lambda>"},
      // a function pointer or an array reference returned: the name is inside the declarator
      {"int (* algo::pick_op(char))(int, int)", "algo::pick_op"},
      {"int (*algo::pick_op(char))(int, int)", "algo::pick_op"},
      {"int (& array_ref())[3]", "array_ref"},
      {"int (&array_ref())[3]", "array_ref"},
      // g++'s mutable lambda, a trailing requires-clause
      {"counter_demo()::<lambda()> mutable", "counter_demo::<lambda()>"},
      {"main()::<lambda(auto:52, auto:53)>", "main::<lambda(auto, auto)>"},  // numbered per file by g++
      {"T trailing_req(T) requires  floating_point<T> [with T = double]", "trailing_req"},
      {"T trailing_req(T) requires std::floating_point<T> [T = double]", "trailing_req"},
  };
  for (const auto& [pretty, name] : names)
    CHECK_MESSAGE(agentlog::detail::clean_function_name(pretty) == name, pretty);
}

TEST_CASE("the writer's number and id formatting matches printf") {
  using namespace agentlog::detail;
  std::vector<std::uint64_t> values = {0,
                                       1,
                                       9,
                                       10,
                                       15,
                                       16,
                                       99,
                                       100,
                                       101,
                                       999,
                                       1000,
                                       65535,
                                       1000000,
                                       0xabcdef,
                                       0x8000000000000000ULL,
                                       0xfedcba9876543210ULL,
                                       ~std::uint64_t(0)};
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 1000; ++i) values.push_back(x = x * 6364136223846793005ULL + 1442695040888963407ULL);
  for (std::uint64_t v : values) {
    CAPTURE(v);
    char got[40] = {}, want[40];
    write_hex(got, v, 16);
    std::snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(v));
    CHECK(std::string(got) == want);
    std::memset(got, 0, sizeof got);
    write_uint(got, v);
    std::snprintf(want, sizeof want, "%llu", static_cast<unsigned long long>(v));
    CHECK(std::string(got) == want);
    for (int digits = 1; digits <= 6; ++digits) {
      std::uint64_t m = v % 1000000 % static_cast<std::uint64_t>(std::pow(10, digits));
      std::memset(got, 0, sizeof got);
      write_fixed_digits(got, m, digits);
      std::snprintf(want, sizeof want, "%0*llu", digits, static_cast<unsigned long long>(m));
      CHECK(std::string(got) == want);
    }
  }
}

TEST_CASE("the clock: each new rate of the ticks goes on from where the last one ended") {
  agentlog::detail::SpanFormatter f;
  f.start_clock(1000);
  f.set_rate(0.5, 1000);  // the first rate: from the start
  CHECK(f.ns_at(1000) == 0);
  CHECK(f.ns_at(3000) == 1000);
  f.set_rate(0.6, 3000);  // measured again at the drain of tick 3000
  CHECK(f.ns_at(3000) == 1000);
  CHECK(f.ns_at(4000) == 1600);
  CHECK(f.ns_at(2000) == 500);  // a span begun before that drain keeps the rate it began with
  CHECK(f.ns_per_tick() == 0.6);
  f.set_rate(-1, 5000);  // no estimate yet: ignored
  CHECK(f.ns_per_tick() == 0.6);

  // Drains every 1000 ticks with estimates that swing by 20%: the times of later ticks are never earlier.
  agentlog::detail::SpanFormatter g;
  g.start_clock(0);
  double last = -1;
  for (std::uint64_t tick = 0; tick < 100000; tick += 7) {
    if (tick % 1000 < 7) g.set_rate(tick % 2000 < 7 ? 0.4 : 0.5, tick);
    double ns = g.ns_at(tick);
    REQUIRE(ns >= last);
    last = ns;
  }

  // Files of older writers: every rate from the start tick replaces the one before.
  agentlog::detail::SpanFormatter old;
  old.start_clock(1000);
  old.set_rate(0.5, 1000);
  old.set_rate(0.7, 1000);
  CHECK(old.ns_at(2000) == doctest::Approx(700));
  old.set_rate(0.9, 0);  // what their clock blocks say: 0, from the start
  CHECK(old.ns_at(2000) == doctest::Approx(900));
}

TEST_CASE("a recursive call tree with params and return values") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "tree");
    REQUIRE(r.process.exit_code == 0);
    REQUIRE(r.spans.size() == 9);  // fib(4) makes 9 calls
    std::map<std::string, json> by_id;
    std::set<std::string> traces;
    for (const auto& s : r.spans) {
      by_id[s["spanId"]] = s;
      traces.insert(s["traceId"].get<std::string>());
      CHECK(is_hex(s["spanId"], 16));
      CHECK(is_hex(s["traceId"], 32));
      CHECK(s["function"] == "fib");
      CHECK(s["file"].get<std::string>().ends_with(
          "tests/tracer/runtime/program.cpp"));  // outside the project root: absolute
      CHECK(s["level"] == 2);
      CHECK(s["durationNs"].get<long long>() >= 0);
      CHECK(s["duration"].get<double>() ==
            doctest::Approx(s["durationNs"].get<double>() / 1e6).epsilon(0.01));
      CHECK(s["startTime"].get<std::string>().size() == std::string("2026-11-25T14:30:25.107123Z").size());
      CHECK(s["pid"].is_number_integer());
      CHECK(s["thread"].is_number_integer());
    }
    CHECK(traces.size() == 1);
    int roots = 0;
    for (const auto& s : r.spans) {
      int n = s["params"]["n"];
      static const int fibs[] = {0, 1, 1, 2, 3};
      CHECK(s["returnValue"] == fibs[n]);
      if (s["parentSpanId"].is_null()) {
        ++roots;
        CHECK(n == 4);
      } else {
        const json& parent = by_id.at(s["parentSpanId"]);
        CHECK(parent["params"]["n"].get<int>() > n);
        CHECK(parent["startTime"] <= s["startTime"]);
        CHECK(parent["durationNs"].get<long long>() >= s["durationNs"].get<long long>());
      }
    }
    CHECK(roots == 1);
    CHECK(r.spans.back()["parentSpanId"].is_null());  // children are written before their parent
  });
}

TEST_CASE("the ceiling written in the file caps the level; events at 4 and 5") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "levels");
    REQUIRE(r.process.exit_code == 0);
    REQUIRE(named(r, "level1").size() == 1);
    for (const auto& s : r.spans) {
      std::string fn = s["function"];
      int ceiling = fn.back() - '0';
      CHECK(s["level"] == ceiling);
      CHECK(s.contains("params") == (ceiling >= 2));
      if (ceiling == 2) CHECK(s["params"]["a"] == 9);
      if (ceiling == 4) {
        REQUIRE(s["events"].size() == 2);
        CHECK(s["events"][0]["kind"] == "var");
        CHECK(s["events"][0]["name"] == "x");
        CHECK(s["events"][0]["value"] == 7);
        CHECK(s["events"][0]["line"] == s["line"].get<int>() + 2);  // the lines of program.cpp's level4()
        CHECK(s["events"][1]["kind"] == "checkpoint");
        CHECK(s["events"][1]["name"] == "after-x");
        CHECK(s["events"][1]["line"] == s["line"].get<int>() + 3);
      }
      if (ceiling == 5) {
        CHECK(s["events"].size() == 256);  // bounded per span
        CHECK(s["droppedEvents"] == 44);
        CHECK(s["events"][0]["line"] == 100);
      }
    }
    auto low = run(program, "levels", {}, "TRACING_DEFAULT_LEVEL=2\n");
    for (const auto& s : low.spans) CHECK(s["level"].get<int>() <= 2);
    CHECK(low.spans.size() == 5);
  });
}

TEST_CASE("captures of every kind") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "captures");
    REQUIRE(r.process.exit_code == 0);
    json p;
    for (const auto& s : r.spans)
      if (s["function"] == "captures") p = s["params"];
    REQUIRE(p.is_object());
    CHECK(p["b"] == true);
    CHECK(p["c"] == "x");
    CHECK(p["u"] == 7);
    CHECK(p["neg"] == -12);
    CHECK(p["d"] == 2.5);
    CHECK(p["color"] == 2);
    CHECK(p["cstr"] == "c \"quoted\"");
    CHECK(p["null_cstr"].is_null());
    CHECK(p["null_ptr"].is_null());
    CHECK(p["sp"] == 11);
    CHECK(p["up"] == "owned");
    CHECK(p["pair"] == json::array({1, "p"}));
    CHECK(p["tuple"] == json::array({3, false, "t"}));
    REQUIRE(p["vec"].is_array());
    CHECK(p["vec"].size() == 17);  // first 16 items and a note of the rest
    CHECK(p["vec"][16] == "... 24 more");
    CHECK(p["map"] == json({{"one", 1}, {"two", 2}}));
    CHECK(p["opaque"].get<std::string>().find("Opaque") != std::string::npos);
    CHECK(p["printable"] == "Printable(3)");
    CHECK(p["named"] == "Named#4");
    // Implicit conversions are not called (open_handle's would have thrown): the type's name, or its own
    // operator<<.
    REQUIRE(named(r, "conversions").size() == 1);
    const json conv = named(r, "conversions")[0]["params"];
    CHECK(conv["handle"].get<std::string>().find("Handle") != std::string::npos);
    CHECK(conv["celsius"].get<std::string>().find("Celsius") != std::string::npos);
    CHECK(conv["label"].get<std::string>().find("Label") != std::string::npos);
    CHECK(conv["money"] == "750 cents");
    CHECK(conv["counter"] == "4");  // a standard library type's conversion is used
    // Bytes that are not UTF-8 (binary data in a string) are U+FFFD: the line stays JSON.
    CHECK(named(r, "binary_text")[0]["params"]["s"] ==
          "a\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz");
    CHECK(named(r, "open_handle")[0]["returnValue"].get<std::string>().find("Handle") != std::string::npos);
    std::vector<json> packs;
    for (const auto& s : named(r, "packed")) packs.push_back(s["params"]);
    CHECK(packs == std::vector<json>{json::parse(R"({"first": 1, "rest": ["s", 2.5, "moved"]})"),
                                     json::parse(R"({"first": 0, "rest": []})")});
    json c17;
    for (const auto& s : r.spans)
      if (s["function"] == "captures17") c17 = s;
    if (program.find("11") == std::string::npos && program.find("14") == std::string::npos) {
      REQUIRE(c17.is_object());
      CHECK(c17["params"]["sv"] == "view");
      CHECK(c17["params"]["some"] == 5);
      CHECK(c17["params"]["none"].is_null());
      CHECK(c17["params"]["path"] == "/tmp/a b/c.txt");  // its string, not the quoted form of operator<<
    }
    CHECK(named(r, "self_range")[0]["params"]["tree"] == "Tree(5)");
  });
}

TEST_CASE("under a file-size limit the span file stops growing and the program runs on (no SIGXFSZ)") {
  for (const auto& program : programs()) {
    CAPTURE(program);
    TempDir root("agentlog-runtime");
    fs::create_directories(root / ".ai-agents/logging/config");
    for (const char* format : {"jsonl", "binary"}) {
      CAPTURE(format);
      const auto r =
          agentlog::test::run_process(program_argv(program, "file_limit"), "", root.path(),
                                      {{"AGENTLOG_ROOT", root.path().string()}, {"TRACING_FORMAT", format}});
      CHECK(r.exit_code == 0);
      CHECK(r.out == "alive\n");
    }
  }
}

TEST_CASE("secrets are redacted unless TRACING_REDACT=false") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "secrets");
    REQUIRE(r.spans.size() == 1);
    const json& p = r.spans[0]["params"];
    CHECK(p["password"] == "[REDACTED]");
    CHECK(p["api_key"] == "[REDACTED]");
    CHECK(p["jwt"] == "[REDACTED]");
    CHECK(p["plain"] == "visible");
    CHECK(p["refreshToken"] == "[REDACTED]");
    CHECK(p["max_tokens"] == 4096);  // a count of tokens, and a name that only holds a secret word, stay
    CHECK(p["secretary"] == "Bob");
    auto open = run(program, "secrets", {}, "TRACING_DEFAULT_LEVEL=5\nTRACING_REDACT=false\n");
    REQUIRE(open.spans.size() == 1);
    CHECK(open.spans[0]["params"]["password"] == "hunter2");
  });
}

TEST_CASE("long captures are truncated at TRACING_MAX_CAPTURE_SIZE") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "truncate", {}, "TRACING_DEFAULT_LEVEL=2\nTRACING_MAX_CAPTURE_SIZE=64\n");
    REQUIRE(r.spans.size() == 2);
    std::string text = named(r, "long_text").at(0)["params"]["text"];
    CHECK(text == std::string(64, 'a') + "...(truncated, 5000 bytes)");
    json s = named(r, "long_texts").at(0);
    CHECK(s["params"]["utf8"] == std::string(63, 'a') + "...(truncated, 83 bytes)");  // whole characters only
    std::string escaped = "\"";  // 60 control characters are 362 bytes of JSON: cut as text
    for (int i = 0; i < 60; ++i) escaped += "\\u0001";
    escaped += "\"";
    CHECK(s["params"]["controls"] == escaped.substr(0, 64) + "...(truncated, 362 bytes)");
    std::string ptr = s["params"]["ptr"];
    CHECK(ptr.rfind("0x", 0) == 0);
    CHECK(ptr.size() > 3);
    CHECK(s["returnValue"] == std::string(64, 'r') + "...(truncated, 100 bytes)");
    CHECK(s["params"]["over"] == std::string(64, 'o') + "...(truncated, 65 bytes)");
    CHECK(s["params"]["at"] == std::string(64, 'e'));
  });
}

TEST_CASE("a capture that throws keeps the parameters before it; a char array is read to its end only") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "capture_throws");
    REQUIRE(r.process.exit_code == 0);
    auto spans = named(r, "capture_throws");
    REQUIRE(spans.size() == 1);  // one line, whole JSON
    CHECK(spans[0]["params"] == json({{"s", "hello"}, {"n", 10}}));
    CHECK(spans[0]["error"]["type"] == "std::runtime_error");
    CHECK_FALSE(spans[0].contains("events"));
    auto arrays = named(r, "char_array");
    REQUIRE(arrays.size() == 1);
    CHECK(arrays[0]["params"]["raw"] == "abcd");
  });
}

TEST_CASE("a container in an event is cut by its own length, not by the text before it") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "var_container", {}, "TRACING_DEFAULT_LEVEL=4\nTRACING_MAX_CAPTURE_SIZE=16\n");
    REQUIRE(r.process.exit_code == 0);
    auto spans = named(r, "var_container");
    REQUIRE(spans.size() == 1);  // the line is whole JSON
    REQUIRE(spans[0]["events"].size() == 1);
    // Its first entries (the text before it no longer stops it at none: {,"...":100}), then, longer than the
    // limit, cut as text.
    std::string value = spans[0]["events"][0]["value"];
    CHECK(value.rfind("{\"k0\":0,\"k1\":1,", 0) == 0);
    CHECK(value.find("...(truncated, ") != std::string::npos);
  });
}

TEST_CASE("exceptions mark every span they leave") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "exceptions");
    REQUIRE(r.process.exit_code == 0);
    auto std_spans = named(r, "throws_std");
    REQUIRE(std_spans.size() == 3);
    for (const auto& s : std_spans) {
      CHECK(s["error"]["type"] == "std::invalid_argument");
      CHECK(s["error"]["message"] == "bad input 42");
    }
    for (const auto& s : r.spans) {
      std::string fn = s["function"];
      if (fn.find("throws_int") != std::string::npos) {
        CHECK(s["error"]["type"] == "int");
        CHECK_FALSE(s["error"].contains("message"));
      }
      if (fn.find("throws_level1") != std::string::npos) CHECK(s["error"] == json({{"type", "exception"}}));
    }
  });
}

TEST_CASE("AGENTLOG_RETURN adds no copy or move, keeps move-only values, references and void") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    // Level 1 passes values through unrecorded, level 5 records them on the way: neither copies nor moves.
    for (const char* level : {"TRACING_DEFAULT_LEVEL=1\n", "TRACING_DEFAULT_LEVEL=5\n"}) {
      CAPTURE(level);
      auto r = run(program, "returns", {}, level);
      REQUIRE(r.process.exit_code == 0);
      json out = json::parse(r.process.out);
      CHECK(out["copies"] == 0);
      CHECK(out["moves"] == 0);
      CHECK(out["value"] == 3);
      CHECK(out["unique"] == 4);
      CHECK(out["same_ref"] == true);
      CHECK(out["same_str"] == true);
      CHECK(out["same_held"] == true);
      CHECK(out["plus"] == 8);
      CHECK(out["flag"] == true);
      const long std = out["std"];
      CHECK(out["pinned"] == (std >= 201703L ? 9 : 0));
      CHECK(out["summed"] == (std >= 201402L ? 3 : 0));
      CHECK(out["traced"] == 6);
      // use_traced captured a Traced through its traced operator<<: that span counted for depth only.
      CHECK(named(r, "use_traced").size() == 1);
      CHECK(named(r, "operator<<").empty());
      std::map<std::string, json> returned;  // function -> returnValue (null: none recorded)
      for (const auto& s : r.spans) {
        std::string fn = s["function"];
        returned[fn.substr(0, fn.find('('))] = s.contains("returnValue") ? s["returnValue"] : json();
      }
      if (std::string(level).find('1') != std::string::npos) {
        for (const auto& [fn, value] : returned) CHECK_MESSAGE(value.is_null(), fn);
        continue;
      }
      CHECK(returned.at("make_counted") == "Counted(3)");
      CHECK(returned.at("make_unique_int") == 4);
      CHECK(returned.at("ref_to_global") == 5);
      CHECK(returned.at("longest") == "longer");
      CHECK(returned.at("Holder::get") == "Counted(7)");
      CHECK(returned.at("Holder::plus") == 8);
      CHECK(returned.at("call_through").is_null());                     // void
      if (std >= 201703L) CHECK(returned.at("make_pinned").is_null());  // cannot be moved: passed, unrecorded
      if (std >= 201402L) CHECK(returned.at("sum_auto") == 3);
      if (std >= 201703L) CHECK(returned.at("no_value").is_null());  // not "<std::nullopt_t>"
      CHECK(returned.at("use_traced") == 6);
      CHECK(named(r, "use_traced").at(0)["params"]["t"] == "Traced(6)");
    }
  });
}

TEST_CASE("eight threads carry the context across std::thread") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "threads");
    REQUIRE(r.process.exit_code == 0);
    REQUIRE(r.spans.size() == 1 + 8 + 8 * 50);
    json root;
    for (const auto& s : r.spans)
      if (s["parentSpanId"].is_null()) root = s;
    REQUIRE(root.is_object());
    CHECK(root["function"] == "main");
    std::map<std::string, json> by_id;
    std::set<long long> threads;
    for (const auto& s : r.spans) {
      by_id[s["spanId"]] = s;
      CHECK(s["traceId"] == root["traceId"]);
      threads.insert(s["thread"].get<long long>());
    }
    CHECK(threads.size() == 9);
    for (const auto& s : r.spans) {
      std::string fn = s["function"];
      if (fn.find("worker") != std::string::npos) CHECK(s["parentSpanId"] == root["spanId"]);
      if (fn.find("greet") != std::string::npos) {
        const json& parent = by_id.at(s["parentSpanId"]);
        CHECK(parent["function"].get<std::string>().find("worker") != std::string::npos);
        CHECK(parent["thread"] == s["thread"]);
      }
    }
  });
}

TEST_CASE("a thread started after another ended gets its buffer; stale bytes in it are never read") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "thread_churn", {}, "TRACING_DEFAULT_LEVEL=2\n");
    REQUIRE(r.process.exit_code == 0);
    json st = json::parse(r.process.out);
    // The first thread's buffer, and maybe one the writer made ahead (it does once a third thread starts);
    // the main thread records no span.
    CHECK(st["buffers"] >= 1);
    CHECK(st["buffers"] <= 2);
    CHECK(st["reused"] == 39);
    CHECK(st["dropped"] == 0);
    // Every span of every thread once, each thread's tree whole: thread i made churn(i, 2 * (40 - i)) and its
    // greets, and no record a thread before it left in the buffer.
    REQUIRE(r.spans.size() == 40 + 40 * 41);
    std::map<std::string, json> by_id;
    std::map<long long, int> per_thread, expected;
    for (const auto& s : r.spans) {
      CHECK(by_id.emplace(s["spanId"].get<std::string>(), s).second);
      ++per_thread[s["thread"].get<long long>()];
      if (s["function"].get<std::string>().find("churn") != std::string::npos)
        expected[s["thread"].get<long long>()] = 1 + s["params"]["n"].get<int>();
    }
    CHECK(per_thread.size() == 40);
    CHECK(per_thread == expected);
    for (const auto& s : r.spans) {
      if (s["function"].get<std::string>().find("greet") == std::string::npos) continue;
      const json& parent = by_id.at(s["parentSpanId"].get<std::string>());
      CHECK(parent["function"].get<std::string>().find("churn") != std::string::npos);
      CHECK(parent["thread"] == s["thread"]);
      CHECK(parent["traceId"] == s["traceId"]);
    }
  });
}

TEST_CASE("sampling keeps or drops whole traces") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "sampling", {}, "TRACING_DEFAULT_LEVEL=2\nTRACING_SAMPLE_RATE=0.5\n");
    std::map<std::string, int> per_trace;
    for (const auto& s : r.spans) ++per_trace[s["traceId"]];
    CHECK(per_trace.size() > 120);  // 400 traces at 0.5: far from 0 and from 400
    CHECK(per_trace.size() < 280);
    for (const auto& kv : per_trace) CHECK(kv.second == 3);  // fib(2): all three spans or none
    auto none = run(program, "sampling", {}, "TRACING_SAMPLE_RATE=0\n");
    CHECK(none.spans.empty());
  });
}

TEST_CASE("TRACING_MAX_DEPTH caps the depth") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "depth", {}, "TRACING_MAX_DEPTH=10\n");
    CHECK(r.spans.size() == 10);
    for (const auto& s : r.spans) CHECK_FALSE(s.contains("params"));  // recurse() is written at level 1
  });
}

// The settings as `agentlog config show` and get_tracing_config report them: TRACING_MAX_LEVEL caps every
// level; a value out of its range takes the safe value (a level: 0); an entry of tracing.config.json of the
// wrong kind is left out alone, the file's other entries applied.
TEST_CASE("TRACING_MAX_LEVEL caps the levels; bad values and entries are read as the server reports them") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto capped = run(program, "levels", {}, "TRACING_DEFAULT_LEVEL=5\nTRACING_MAX_LEVEL=2\n",
                      R"({"functions":{"level5":{"level":5}}})");
    REQUIRE(capped.spans.size() == 5);
    for (const auto& s : capped.spans) CHECK(s["level"].get<int>() <= 2);
    auto bad = run(program, "levels", {}, "TRACING_DEFAULT_LEVEL=9\n");
    CHECK(bad.process.exit_code == 0);
    CHECK(bad.spans.empty());
    auto entries = run(program, "levels", {}, "TRACING_DEFAULT_LEVEL=5\n",
                       R"({"files":{"x.cpp":5,"y.cpp":{"level":"1","captureParams":"no"}},)"
                       R"("functions":{"level3":{"level":1},"level4":{"level":7}}})");
    REQUIRE(entries.spans.size() == 5);
    for (const auto& s : entries.spans) {
      if (s["function"] == "level3") CHECK(s["level"] == 1);  // applied, though other entries are bad
      if (s["function"] == "level4") CHECK(s["level"] == 4);  // level 7 left out: the default 5, ceiling 4
    }
  });
}

TEST_CASE("tracing.config.json changes apply while the program runs") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "reconfigure");
    REQUIRE(r.spans.size() == 2);
    CHECK(r.spans[0]["level"] == 2);
    CHECK(r.spans[0]["params"]["name"] == "before");
    CHECK(r.spans[1]["level"] == 1);
    CHECK_FALSE(r.spans[1].contains("params"));
  });
}

TEST_CASE("TRACING_ENABLED=false records nothing") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "tree", {}, "TRACING_ENABLED=false\n");
    CHECK(r.process.exit_code == 0);
    CHECK(r.files.empty());
  });
}

// Disabled, a span stores nothing in its frame (the constructor returns at once) and must read none of its
// members; memcheck reports a branch on an unset member. Every scenario that uses a span's level or flags:
// parameters, return values of every kind, events, exceptions, threads, and a fork.
TEST_CASE("TRACING_ENABLED=false: a span reads none of its unset members (valgrind memcheck)") {
  std::string program;
  for (const auto& p : programs())
    if (p.find("cxx11") != std::string::npos) program = p;
  REQUIRE_FALSE(program.empty());
  for (const char* scenario : {"tree", "levels", "captures", "returns", "var_container", "exceptions",
                               "threads", "fork", "capture_throws"}) {
    CAPTURE(scenario);
    TempDir root("agentlog-runtime-off");
    fs::create_directories(root / ".ai-agents/logging/config");
    agentlog::test::write_text(root / ".ai-agents/logging/config/.env.tracing", "TRACING_ENABLED=false\n");
    auto p = agentlog::test::run_process(
        {"valgrind", "-q", "--error-exitcode=97", "--trace-children=no", "--track-fds=no", program, scenario},
        "", root.path(), {{"AGENTLOG_ROOT", root.path().string()}});
    INFO(p.err);
    CHECK(p.exit_code != 97);
    CHECK(p.err.find("uninitialised") == std::string::npos);
    CHECK_FALSE(fs::exists(root / ".ai-agents/logging/traces"));
  }
}

TEST_CASE("exit paths: exit(), an exception out of main") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto e = run(program, "exit");
    CHECK(e.process.exit_code == 3);
    REQUIRE(e.spans.size() == 1);
    CHECK(e.spans[0]["params"]["name"] == "before-exit");
    auto t = run(program, "terminate");
    CHECK(t.process.exit_code != 0);
    REQUIRE(t.spans.size() == 1);
    CHECK(t.spans[0]["params"]["name"] == "before-terminate");
    // An exception no handler catches, three spans deep: terminate ends the spans it left open, innermost
    // first, each with the error (the one that threw with its type and message, at level 2).
    for (const char* how : {"terminate_in_spans", "terminate_called"}) {
      CAPTURE(how);
      const bool called = std::string(how) == "terminate_called";
      auto d = run(program, how);
      CHECK(d.process.exit_code != 0);
      REQUIRE(d.spans.size() == 4);  // greet (ended normally), fails_deep, calls_failing, the scenario's span
      CHECK(d.spans[0]["function"] == "greet");
      CHECK(d.spans[0]["error"].is_null());
      const json deep = d.spans[1], caller = d.spans[2], outer = d.spans[3];
      CHECK(deep["function"] == "fails_deep");
      CHECK(deep["params"]["code"] == 42);
      CHECK(deep["error"]["type"] == (called ? "std::terminate" : "std::runtime_error"));
      CHECK(deep["error"]["message"] ==
            (called ? "std::terminate was called without an exception" : "deep failure 42"));
      CHECK(caller["function"] == "calls_failing");
      CHECK(caller["error"] == json({{"type", "exception"}}));  // level 1: marked, not described
      CHECK(outer["error"] == deep["error"]);
      CHECK(deep["parentSpanId"] == caller["spanId"]);
      CHECK(caller["parentSpanId"] == outer["spanId"]);
      CHECK(outer["durationNs"].get<long long>() >= caller["durationNs"].get<long long>());
    }
    // Calls from atexit handlers and static destructors that run after the runtime's exit handler.
    auto late = run(program, "late_exit");
    CHECK(late.process.exit_code == 0);
    std::vector<std::string> names;
    for (const auto& s : named(late, "greet")) names.push_back(s["params"]["name"]);
    CHECK(names == std::vector<std::string>{"main", "atexit handler", "static destructor"});
  });
}

TEST_CASE("a fork child writes its own file") {
  for_each_program([](const std::string& program, bool tsan) {
    if (tsan) return;  // ThreadSanitizer does not support fork() from a threaded program
    auto r = run(program, "fork");
    REQUIRE(r.process.exit_code == 0);
    CHECK(r.files.size() == 3);  // the parent's and its two children's
    std::set<long long> pids;
    for (const auto& s : r.spans) pids.insert(s["pid"].get<long long>());
    CHECK(pids.size() == 3);
    REQUIRE(r.spans.size() == 5);
    REQUIRE(named(r, "fork_in_span").size() == 1);
    const json parent = named(r, "fork_in_span")[0];
    for (const auto& g : named(r, "greet"))
      if (g["params"]["name"] == "child-in-span") {
        CHECK(g["parentSpanId"] == parent["spanId"]);
        CHECK(g["traceId"] == parent["traceId"]);  // the parent's trace id, not zeros
      }
  });
}

TEST_CASE("a program-chosen trace id and W3C traceparent") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "scoped");
    REQUIRE(r.spans.size() == 2);
    CHECK(r.spans[0]["traceId"] == "req-abc-123");
    CHECK(r.spans[0]["parentSpanId"].is_null());
    CHECK(r.spans[1]["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(r.spans[1]["parentSpanId"] == "00f067aa0ba902b7");
    CHECK(r.process.out == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\ninvalid\n");
  });
}

TEST_CASE("the ids a log line written in a span carries are the span's") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "ids", {}, "TRACING_DEFAULT_LEVEL=1\n");
    REQUIRE(r.spans.size() == 2);
    std::map<std::string, json> by_id;
    for (const auto& s : r.spans) by_id[s["spanId"]] = s;
    std::istringstream out(r.process.out);
    std::string trace, span, none;
    for (int i = 0; i < 2; ++i) {
      out >> trace >> span;
      REQUIRE(by_id.count(span) == 1);
      CHECK(by_id[span]["traceId"] == trace);
    }
    CHECK(by_id[span]["parentSpanId"].is_string());  // the second line is the child's
    out >> none;
    CHECK(none == "none");
  });
}

TEST_CASE("SIGKILL loses no span finished 100 ms before") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    auto r = run(program, "killed", {}, "TRACING_DEFAULT_LEVEL=1\n");
    CHECK(r.process.exit_code != 0);
    long before = std::atol(r.process.out.c_str());
    CHECK(before > 0);
    CHECK(static_cast<long>(r.spans.size()) >= before);
  });
}

TEST_CASE("a signal that ends the program (abort, a crash, SIGTERM) loses no span ended before it") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    const bool sanitizer = program.find("san") != std::string::npos;
    for (const auto& how : std::vector<std::pair<std::string, int>>{
             {"signal_abort", SIGABRT}, {"signal_term", SIGTERM}, {"signal_segv", SIGSEGV}}) {
      CAPTURE(how.first);
      // The sanitizers handle SIGSEGV themselves; the runtime leaves a signal the program handles alone.
      if (sanitizer && how.second == SIGSEGV) continue;
      auto r = run(program, how.first);
      CHECK(r.process.exit_code == -how.second);  // the signal's own end, after the runtime's wait
      REQUIRE(r.spans.size() == 3);
      for (const auto& s : r.spans) CHECK(s["params"]["name"] == "before-signal");
    }
  });
}

TEST_CASE("many spans: none dropped, every one on disk") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    // A buffer that holds the whole run: the test is about nothing being lost at exit, whatever the speed of
    // the writer on a loaded CI machine (sanitizer builds write ~10x slower).
    auto r = run(program, "many", {}, "TRACING_DEFAULT_LEVEL=1\nTRACING_BUFFER_MB=128\n");
    REQUIRE(r.process.exit_code == 0);
    CHECK(json::parse(r.process.out)["dropped"] == 0);
    CHECK(json::parse(r.process.out)["recorded"] == 200000);  // agentlog::flush() wrote every one
    CHECK(r.spans.size() == 200000);
  });
}

TEST_CASE("a small buffer that wraps many times: the thread waits for room, nothing lost or out of order") {
  for_each_program([](const std::string& program, bool tsan) {
    (void)tsan;
    // 1 MiB against 200,000 spans of about 90 bytes (level 2, two captures): the ring wraps 17 times and
    // fills up, so spans take the paths of the wrap, of a full ring and of the writer woken at half full. The
    // generous wait keeps a slow sanitizer writer from dropping any.
    auto r = run(program, "many", {},
                 "TRACING_DEFAULT_LEVEL=2\nTRACING_BUFFER_MB=1\nTRACING_FULL_WAIT_MS=10000\n");
    REQUIRE(r.process.exit_code == 0);
    CHECK(json::parse(r.process.out)["dropped"] == 0);
    REQUIRE(r.spans.size() == 200000);
    std::set<std::string> ids, traces;
    std::string last_start;
    bool ordered = true, captured = true;
    for (const auto& s : r.spans) {
      ids.insert(s["spanId"].get<std::string>());
      traces.insert(s["traceId"].get<std::string>());
      captured = captured && s["level"] == 2 && s["params"]["n"] == 1 && s["returnValue"] == 1;
      const std::string start = s["startTime"];  // fixed width: compared as text
      ordered = ordered && start >= last_start;  // one thread: its spans are written in the order they end
      last_start = start;
    }
    CHECK(captured);
    CHECK(ordered);
    CHECK(ids.size() == 200000);
    CHECK(traces.size() == 200000);  // every fib(1) is a root: a trace of its own
  });
}

TEST_CASE("programs built with -fno-exceptions -fno-rtti, or -fno-rtti alone") {
  const int built = for_each_listed(RUNTIME_LEAN_PROGRAMS_FILE, [](const std::string& program) {
    const bool throws = program.find("exceptions") == std::string::npos;  // -fno-rtti alone
    auto r = run(program, "", {}, "TRACING_DEFAULT_LEVEL=2\n");
    REQUIRE(r.process.exit_code == 0);
    CHECK(r.process.out == (throws ? "lean#1110 lean failure\n" : "lean#1110\n"));
    REQUIRE(r.spans.size() == (throws ? 4 : 3));
    int lambdas = 0;
    for (const auto& s : r.spans)
      if (s["function"].get<std::string>().find("lambda") != std::string::npos) {
        ++lambdas;
        CHECK(s["returnValue"] == 10);
      }
    CHECK(lambdas == 1);
    const json greet = named(r, "greet").at(0);
    CHECK(greet["params"]["id"] == 7);
    CHECK(greet["params"]["name"] == "lean");
    CHECK(greet["params"]["items"] == json::array({1, 2, 3}));
    CHECK(greet["params"]["at"] == "(1,2)");
    CHECK(greet["params"]["opaque"] == "<Opaque>");
    CHECK(greet["returnValue"] == "lean#11");
    CHECK(named(r, "main").at(0)["spanId"] == greet["parentSpanId"]);
    if (throws)  // the type and what() from the throw hook, which names std::exception without typeid
      CHECK(named(r, "fails").at(0)["error"] == json({{"type", "std::runtime_error"}, {"message", "lean failure"}}));
  });
  CHECK(built >= 2);
}

TEST_CASE("a GNU C file compiled by a relative path records its path in the project, as C++ files do") {
  TempDir root("agentlog-runtime-c");
  fs::create_directories(root / ".ai-agents/logging/config");
  agentlog::test::write_text(root / ".ai-agents/logging/config/.env.tracing", "TRACING_DEFAULT_LEVEL=2\n");
  const fs::path here = fs::path(__FILE__).parent_path();
  fs::create_directories(root / "src");
  for (const char* name : {"program_c.c", "program_c_helper.c"})
    fs::copy_file(here / name, root / "src" / name);
  auto built = agentlog::test::run_process(
      {"gcc", "-std=gnu11", "-O1", "-pthread", "-I" + (here / "../../../tracer/runtime").string(),
       "program_c.c", "program_c_helper.c", "-o", "prog"},
      "", root / "src");
  REQUIRE_MESSAGE(built.exit_code == 0, built.err);
  auto ran = agentlog::test::run_process({(root / "src/prog").string()}, "", root / "src",
                                         {{"AGENTLOG_ROOT", root.path().string()}});
  REQUIRE(ran.exit_code == 0);
  std::set<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root / ".ai-agents/logging/traces"))
    if (e.path().extension() == ".jsonl") {
      std::istringstream in(agentlog::test::read_text(e.path()));
      for (std::string line; std::getline(in, line);)
        if (json s = json::parse(line); s.contains("file")) files.insert(s["file"].get<std::string>());
    }
  CHECK(files == std::set<std::string>{"src/program_c.c", "src/program_c_helper.c"});  // were "program_c.c"
}

TEST_CASE("GNU C programs: levels 1-2 through agentlog_trace.h, across files") {
  const int built = for_each_listed(RUNTIME_C_PROGRAMS_FILE, [](const std::string& program) {
    auto r = run(program, "", {}, "TRACING_DEFAULT_LEVEL=2\n");
    REQUIRE(r.process.exit_code == 0);
    CHECK(r.process.out == "15\n");
    REQUIRE(r.spans.size() == 12);
    std::map<std::string, json> by_id;
    for (const auto& s : r.spans) by_id[s["spanId"]] = s;
    int describes = 0;
    for (const auto& s : r.spans) {
      CHECK(is_hex(s["traceId"], 32));
      std::string fn = s["function"];
      if (fn == "square") {
        const json& parent = by_id.at(s["parentSpanId"]);
        CHECK(parent["function"] == "helper");  // the parent was opened in another .c file
        CHECK(s["returnValue"] == s["params"]["v"].get<int>() * s["params"]["v"].get<int>());
      }
      if (fn == "describe") {
        ++describes;
        CHECK(s["params"]["password"] == "[REDACTED]");
        CHECK((s["params"]["name"] == "box \"A\"" || s["params"]["name"].is_null() ||
               s["params"]["name"] == "a\xef\xbf\xbd\xc3\xa9z"));  // U+FFFD for the byte that is not UTF-8
        CHECK((s["returnValue"] == "heavy" || s["returnValue"] == "light"));
      }
      if (fn == "shift") {  // a struct, a union and a complex number by value, eleven parameters
        CHECK(s["params"] ==
              json::parse(R"({"p": "<struct>", "w": "<union>", "z": "<complex>", "a": 1, "b": 2,
                                             "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8})"));
        CHECK(s["returnValue"] == "<struct>");
      }
      if (fn == "names")
        CHECK(s["params"] == json({{"apiKey", "[REDACTED]"},
                                   {"AuthToken", "[REDACTED]"},
                                   {"max_tokens", 4096},
                                   {"secretary", "Bob"}}));
      if (fn == "quiet") {
        CHECK(s["level"] == 1);
        CHECK_FALSE(s.contains("params"));
      }
    }
    CHECK(describes == 3);
    auto off = run(program, "", {}, "TRACING_ENABLED=false\n");
    CHECK(off.process.out == "15\n");
    CHECK(off.files.empty());
  });
  CHECK(built >= 1);
}
