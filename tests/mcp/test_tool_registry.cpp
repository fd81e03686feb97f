#include <doctest/doctest.h>

#include "mcp/tool_registry.hpp"

using agentlog::mcp::json;
using namespace agentlog::mcp;

namespace {

Tool make_tool(const std::string& name, std::function<json(ToolCall&)> handler = nullptr) {
  Tool t;
  t.name = name;
  t.title = "Title of " + name;
  t.description = "Description of " + name;
  t.input_schema =
      json::parse(R"({"type":"object","properties":{"n":{"type":"integer","minimum":0,"maximum":5},
      "s":{"type":"string"},"list":{"type":"array","items":{"type":"string"}}},"required":["n"],"additionalProperties":false})");
  t.output_schema =
      json::parse(R"({"type":"object","properties":{"twice":{"type":"integer"}},"required":["twice"]})");
  t.annotations.read_only = true;
  t.handler = handler ? handler : [](ToolCall& c) -> json {
    return {{"twice", c.arguments["n"].get<int>() * 2}};
  };
  return t;
}

ToolResult call(const ToolRegistry& r, const std::string& tool, json args) {
  ToolCall c;
  c.tool = tool;
  c.arguments = std::move(args);
  return r.call(c);
}

}  // namespace

TEST_CASE("a valid call returns structuredContent and the same JSON as text") {
  ToolRegistry r;
  r.add(make_tool("double"));
  ToolResult res = call(r, "double", {{"n", 2}});
  CHECK_FALSE(res.is_error);
  CHECK(res.structured == json{{"twice", 4}});
  json wire = res.to_json();
  CHECK(wire["isError"] == false);
  CHECK(json::parse(wire["content"][0]["text"].get<std::string>()) == wire["structuredContent"]);
  CHECK(wire["content"][0]["type"] == "text");
}

TEST_CASE("schema violations are isError results naming the field") {
  ToolRegistry r;
  r.add(make_tool("double"));
  SUBCASE("above maximum") {
    ToolResult res = call(r, "double", {{"n", 9}});
    CHECK(res.is_error);
    CHECK(res.text.rfind("[tool.invalid_arguments] Invalid arguments for double: 'n':", 0) == 0);
  }
  SUBCASE("missing required") {
    ToolResult res = call(r, "double", json::object());
    CHECK(res.is_error);
    CHECK(res.text.find("n") != std::string::npos);
  }
  SUBCASE("wrong type in an array item names the index") {
    ToolResult res = call(r, "double", {{"n", 1}, {"list", {"a", 3}}});
    CHECK(res.is_error);
    CHECK(res.text.find("list[1]") != std::string::npos);
  }
  SUBCASE("unknown property") {
    ToolResult res = call(r, "double", {{"n", 1}, {"bogus", 1}});
    CHECK(res.is_error);
    CHECK(res.text.find("bogus") != std::string::npos);
  }
  SUBCASE("error results carry no structuredContent") {
    ToolResult res = call(r, "double", {{"n", 9}});
    CHECK_FALSE(res.to_json().contains("structuredContent"));
  }
}

TEST_CASE("unknown tool and non-object arguments are protocol errors (-32602)") {
  ToolRegistry r;
  r.add(make_tool("double"));
  try {
    call(r, "nope", json::object());
    FAIL("expected RpcError");
  } catch (const RpcError& e) {
    CHECK(e.code() == ErrorCode::kInvalidParams);
    CHECK(std::string(e.what()).find("nope") != std::string::npos);
  }
  CHECK_THROWS_AS(call(r, "double", json::array()), RpcError);
}

TEST_CASE("exceptions from handlers become isError; ToolError keeps its id") {
  ToolRegistry r;
  r.add(make_tool("tool_error", [](ToolCall&) -> json { throw ToolError("area.what", "do this instead"); }));
  r.add(make_tool("std_error", [](ToolCall&) -> json { throw std::runtime_error("disk on fire"); }));
  ToolResult a = call(r, "tool_error", {{"n", 1}});
  CHECK(a.is_error);
  CHECK(a.text == "[area.what] do this instead");
  ToolResult b = call(r, "std_error", {{"n", 1}});
  CHECK(b.is_error);
  CHECK(b.text.rfind("[tool.failed] std_error failed: disk on fire", 0) == 0);
}

TEST_CASE("a result violating the output schema is an internal error, not a silent success") {
  ToolRegistry r;
  r.set_check_outputs(true);
  r.add(make_tool("liar", [](ToolCall&) -> json { return {{"twice", "four"}}; }));
  try {
    call(r, "liar", {{"n", 1}});
    FAIL("expected RpcError");
  } catch (const RpcError& e) {
    CHECK(e.code() == ErrorCode::kInternalError);
  }
  // Unchecked (a release build outside the tests), the result goes out as the tool made it.
  r.set_check_outputs(false);
  CHECK(call(r, "liar", {{"n", 1}}).structured == json{{"twice", "four"}});
}

TEST_CASE("the test suite checks every result against its outputSchema") {
  CHECK(ToolRegistry().check_outputs());  // AGENTLOG_CHECK_OUTPUTS=1 from ctest (tests/CMakeLists.txt)
}

TEST_CASE("the guard wraps every call (valid or not) and may deny or rewrite") {
  ToolRegistry r;
  r.add(make_tool("double"));
  std::vector<std::string> seen;
  r.set_guard([&](ToolCall& c, const Tool& t, const std::function<ToolResult(ToolCall&)>& proceed) {
    seen.push_back(t.name);
    if (c.arguments.value("s", "") == "deny") return ToolResult::error("policy.denied.test", "no");
    c.arguments["n"] = 3;  // rewrite
    ToolResult res = proceed(c);
    seen.push_back(res.is_error ? "error" : "ok");
    return res;
  });
  CHECK(call(r, "double", {{"n", 1}, {"s", "deny"}}).text == "[policy.denied.test] no");
  CHECK(call(r, "double", {{"n", 1}}).structured["twice"] == 6);
  // Arguments are validated as called, before the guard (which still sees, and may audit, the call).
  CHECK(call(r, "double", {{"n", 99}}).text.rfind("[tool.invalid_arguments]", 0) == 0);
  CHECK(seen == std::vector<std::string>{"double", "double", "ok", "double", "error"});
}

TEST_CASE("tools/list pages with a cursor; an invalid cursor is -32602") {
  ToolRegistry r;
  for (auto n : {"a", "b", "c", "d", "e"}) r.add(make_tool(n));
  json p1 = r.list(std::nullopt, 2);
  REQUIRE(p1["tools"].size() == 2);
  CHECK(p1["tools"][0]["name"] == "a");
  CHECK(p1["tools"][0]["annotations"]["readOnlyHint"] == true);
  CHECK(p1["tools"][0]["inputSchema"]["type"] == "object");
  CHECK(p1["tools"][0]["outputSchema"]["type"] == "object");
  json p2 = r.list(p1["nextCursor"].get<std::string>(), 2);
  CHECK(p2["tools"][0]["name"] == "c");
  json p3 = r.list(p2["nextCursor"].get<std::string>(), 2);
  CHECK(p3["tools"].size() == 1);
  CHECK_FALSE(p3.contains("nextCursor"));
  CHECK_THROWS_AS(r.list(std::string("zzz"), 2), RpcError);
}

TEST_CASE("registration rejects duplicates and schemas that do not compile") {
  ToolRegistry r;
  r.add(make_tool("a"));
  CHECK_THROWS_AS(r.add(make_tool("a")), std::invalid_argument);
  Tool bad = make_tool("b");
  bad.input_schema = json::parse(R"({"type":"object","properties":{"x":{"type":17}}})");
  CHECK_THROWS_AS(r.add(bad), std::invalid_argument);
}
