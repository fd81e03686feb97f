#include <doctest/doctest.h>

#include "logger/files.hpp"
#include "support/temp_dir.hpp"
#include "tools/cli.hpp"
#include "tools/tools.hpp"

using namespace agentlog;
using agentlog::test::TempDir;
using agentlog::test::write_text;

namespace {

struct Project {
  TempDir dir;
  ToolsContext ctx{ProjectLayout::at(dir.path())};
  mcp::ToolRegistry registry;
  Project() {
    install_templates(ctx.layout);
    register_tools(registry, ctx);
  }
  mcp::ToolResult call(const std::string& tool, json args) {
    mcp::ToolCall c;
    c.tool = tool;
    c.arguments = std::move(args);
    return registry.call(c);
  }
};

}  // namespace

TEST_CASE("get_tracing_config without arguments gives the .env.tracing defaults and their sources") {
  Project p;
  auto r = p.call("get_tracing_config", json::object());
  REQUIRE_FALSE(r.is_error);
  CHECK(r.structured["effective"]["level"] == 2);
  CHECK(r.structured["effective"]["enabled"] == true);
  CHECK(r.structured["effective"]["sampleRate"] == 1.0);
  CHECK(r.structured["sources"]["level"] ==
        "TRACING_DEFAULT_LEVEL at .ai-agents/logging/config/.env.tracing:14");
  CHECK(r.structured["permissions"]["instrument"] == true);
  CHECK(r.structured["warnings"].empty());
  CHECK(r.structured["effective"]["format"] == "jsonl");
  CHECK(r.structured["sources"]["format"].get<std::string>().starts_with("TRACING_FORMAT at "));
}

TEST_CASE("set then get: function beats file beats default, each with its source") {
  Project p;
  auto s1 = p.call("set_tracing_config", {{"file", "src/a.cpp"}, {"level", 3}, {"captureReturn", false}});
  REQUIRE_FALSE(s1.is_error);
  CHECK(s1.structured["entry"] == json{{"level", 3}, {"captureReturn", false}});
  auto s2 = p.call("set_tracing_config", {{"file", "src/a.cpp"}, {"function", "parse"}, {"level", 5}});
  REQUIRE_FALSE(s2.is_error);

  auto file = p.call("get_tracing_config", {{"file", "src/a.cpp"}});
  CHECK(file.structured["effective"]["level"] == 3);
  CHECK(file.structured["effective"]["captureReturn"] == false);
  CHECK(file.structured["sources"]["level"] ==
        ".ai-agents/logging/config/tracing.config.json files[\"src/a.cpp\"]");

  auto fn = p.call("get_tracing_config", {{"file", "src/a.cpp"}, {"function", "parse"}});
  CHECK(fn.structured["effective"]["level"] == 5);
  CHECK(fn.structured["effective"]["captureReturn"] == false);  // inherited from the file entry
  CHECK(fn.structured["sources"]["level"].get<std::string>().find("functions[\"src/a.cpp::parse\"]") !=
        std::string::npos);

  json saved = json::parse(read_file(p.ctx.layout.tracing_config()).value());
  CHECK(saved["files"]["src/a.cpp"]["level"] == 3);
  CHECK(saved["functions"]["src/a.cpp::parse"]["level"] == 5);

  auto reset = p.call("set_tracing_config", {{"file", "src/a.cpp"}, {"function", "parse"}, {"reset", true}});
  CHECK(reset.structured["entry"].is_null());
  CHECK(p.call("get_tracing_config", {{"file", "src/a.cpp"}, {"function", "parse"}}).structured["effective"]["level"] == 3);
}

TEST_CASE("the .env.tracing limits win over tracing.config.json") {
  Project p;
  write_text(p.ctx.layout.env_tracing(), "TRACING_MAX_LEVEL=3\n");
  auto denied = p.call("set_tracing_config", {{"file", "a.cpp"}, {"level", 4}});
  CHECK(denied.is_error);
  CHECK(denied.text.rfind("[policy.denied.level_above_limit] Level 4 is above TRACING_MAX_LEVEL=3", 0) == 0);

  // A human-written entry above the ceiling is capped when read.
  write_text(p.ctx.layout.tracing_config(), R"({"files":{"a.cpp":{"level":5}}})");
  auto got = p.call("get_tracing_config", {{"file", "a.cpp"}});
  CHECK(got.structured["effective"]["level"] == 3);
  CHECK(got.structured["sources"]["level"].get<std::string>().find("(ceiling)") != std::string::npos);

  write_text(p.ctx.layout.env_tracing(), "TRACING_ENABLED=false\n");
  auto off = p.call("get_tracing_config", {{"file", "a.cpp"}});
  CHECK(off.structured["effective"]["enabled"] == false);
  CHECK(off.structured["effective"]["level"] == 0);
  auto set_off = p.call("set_tracing_config", {{"file", "a.cpp"}, {"level", 1}});
  REQUIRE_FALSE(set_off.is_error);
  CHECK(set_off.structured["warnings"].dump().find("TRACING_ENABLED=false") != std::string::npos);
}

TEST_CASE("bad values in .env.tracing surface as warnings with the safe value") {
  Project p;
  write_text(p.ctx.layout.env_tracing(), "TRACING_DEFAULT_LEVEL=high\n");
  auto r = p.call("get_tracing_config", json::object());
  CHECK(r.structured["effective"]["level"] == 0);
  REQUIRE(r.structured["warnings"].size() == 1);
  CHECK(r.structured["warnings"][0].get<std::string>().find("TRACING_DEFAULT_LEVEL: bad value 'high'") !=
        std::string::npos);
}

TEST_CASE("set_tracing_config errors tell the agent what to do") {
  Project p;
  CHECK(p.call("set_tracing_config", {{"file", "a.cpp"}}).text.rfind("[tracing_config.nothing_to_set]", 0) == 0);
  CHECK(p.call("get_tracing_config", {{"function", "f"}}).text.rfind("[tracing_config.function_without_file]", 0) == 0);
  write_text(p.ctx.layout.tracing_config(), "{broken");
  auto r = p.call("set_tracing_config", {{"file", "a.cpp"}, {"level", 1}});
  CHECK(r.is_error);
  CHECK(r.text.find("tracing.config.json is not valid JSON") != std::string::npos);
  CHECK(read_file(p.ctx.layout.tracing_config()).value() == "{broken");  // nothing lost
}

TEST_CASE(
    "entries a traced program would not take are reported, not applied; a config that is not an object is "
    "refused, not replaced") {
  Project p;
  write_text(
      p.ctx.layout.tracing_config(),
      R"({"files":{"a.cpp":{"level":"1","captureParams":"yes"},"b.cpp":5},"functions":{"a.cpp::f":{"level":9}}})");
  auto a = p.call("get_tracing_config", {{"file", "a.cpp"}, {"function", "f"}});
  REQUIRE_FALSE(a.is_error);
  CHECK(a.structured["effective"]["level"] == 2);  // the default: none of the entries' levels applies
  CHECK(a.structured["effective"]["captureParams"] == true);
  const std::string warnings = a.structured["warnings"].dump();
  CHECK(warnings.find("files[\\\"a.cpp\\\"]: level \\\"1\\\" is not a whole number from 0 to 5") !=
        std::string::npos);
  CHECK(warnings.find("captureParams \\\"yes\\\" is not true or false") != std::string::npos);
  CHECK(warnings.find("level 9 is not a whole number") != std::string::npos);
  auto b = p.call("get_tracing_config", {{"file", "b.cpp"}});
  CHECK(b.structured["warnings"].dump().find("is 5, not an object") != std::string::npos);

  write_text(p.ctx.layout.tracing_config(), "[1,2]");
  auto set = p.call("set_tracing_config", {{"file", "a.cpp"}, {"level", 1}});
  CHECK(set.is_error);
  CHECK(set.text.find("tracing.config.json is array, not a JSON object") != std::string::npos);
  CHECK(read_file(p.ctx.layout.tracing_config()).value() == "[1,2]");  // nothing lost
}

TEST_CASE("set_tracing_config: reset with values is refused, a file that is not there is warned about") {
  Project p;
  auto both = p.call("set_tracing_config", {{"file", "a.cpp"}, {"reset", true}, {"level", 3}});
  CHECK(both.text.rfind("[tracing_config.conflicting_arguments]", 0) == 0);
  auto typo = p.call("set_tracing_config", {{"file", "src/mian.cpp"}, {"level", 3}});
  REQUIRE_FALSE(typo.is_error);
  CHECK(typo.structured["warnings"].dump().find("src/mian.cpp does not exist in the project") !=
        std::string::npos);
  write_text(p.ctx.layout.root / "a.cpp", "int a() { return 1; }\n");
  auto real = p.call("set_tracing_config", {{"file", "a.cpp"}, {"level", 3}});
  CHECK(real.structured["warnings"].empty());
  CHECK(p.call("set_tracing_config", {{"file", "a.cpp"}, {"reset", true}}).structured["removed"] == true);
  CHECK(p.call("set_tracing_config", {{"file", "a.cpp"}, {"reset", true}}).structured["removed"] == false);
}
