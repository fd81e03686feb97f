// Transcript tests: raw JSON-RPC piped through the real `agentlog serve`, and the CLI as a human runs it.
#include <doctest/doctest.h>
#include <signal.h>

#include <map>
#include <set>
#include <thread>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::McpSession;
using agentlog::test::read_text;
using agentlog::test::run_agentlog;
using agentlog::test::TempDir;
using agentlog::test::write_text;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("a whole session: initialize, list, call, errors; stdout carries only JSON-RPC") {
  TempDir dir;
  std::string input;
  auto add = [&](const std::string& line) { input += line + "\n"; };
  add(R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"transcript","version":"1"}}})");
  add(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  add(R"({"jsonrpc":"2.0","id":2,"method":"ping"})");
  add(R"({"jsonrpc":"2.0","id":3,"method":"tools/list"})");
  add(R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"log_event","arguments":{"message":"from transcript","level":"warn","fields":{"k":"v"}}}})");
  add(R"(this is not json)");
  add(R"([{"jsonrpc":"2.0","id":5,"method":"ping"}])");
  add(R"({"jsonrpc":"2.0","id":6,"method":"bogus/method"})");
  add(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"nope","arguments":{}}})");
  add(R"({"jsonrpc":"2.0","id":8,"method":"tools/list","params":{"cursor":"garbage"}})");
  add(R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"log_event","arguments":{"level":"loud","message":"x"}}})");
  add(R"({"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"log_event","arguments":"oops"}})");
  auto r = run_agentlog({"serve", "--root", dir.path().string()}, input);
  CHECK(r.exit_code == 0);  // clean exit on stdin EOF
  std::map<std::string, json> by_id;
  std::vector<json> no_id;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    auto nl = r.out.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    json msg = json::parse(r.out.substr(pos, nl - pos));  // every stdout line is JSON
    CHECK(msg["jsonrpc"] == "2.0");
    if (msg["id"].is_null())
      no_id.push_back(msg);
    else
      by_id[msg["id"].dump()] = msg;
    pos = nl + 1;
  }
  CHECK(by_id.size() == 9);
  CHECK(by_id["1"]["result"]["protocolVersion"] == "2025-11-25");
  CHECK(by_id["1"]["result"]["serverInfo"]["name"] == "agentlog");
  CHECK(by_id["2"]["result"] == json::object());
  CHECK(by_id["3"]["result"]["tools"].size() >= 3);
  CHECK(by_id["4"]["result"]["isError"] == false);
  REQUIRE(no_id.size() == 2);
  CHECK(no_id[0]["error"]["code"] == -32700);
  CHECK(no_id[1]["error"]["code"] == -32600);
  CHECK(by_id["6"]["error"]["code"] == -32601);
  CHECK(by_id["7"]["error"]["code"] == -32602);
  CHECK(by_id["8"]["error"]["code"] == -32602);
  CHECK(by_id["9"]["result"]["isError"] == true);
  CHECK(by_id["9"]["result"]["content"][0]["text"].get<std::string>().find("'level'") != std::string::npos);
  CHECK(by_id["9"]["result"]["content"][0]["text"].get<std::string>().find("..") == std::string::npos);
  CHECK(by_id["10"]["error"]["code"] == -32602);

  std::string log = read_text(dir / ".ai-agents/logging/logs/latest.log");
  json line = json::parse(log.substr(0, log.find('\n')));
  CHECK(line["msg"] == "from transcript");
  CHECK(line["level"] == "warn");
  CHECK(line["fields"]["k"] == "v");
  CHECK(line["pid"].get<long>() > 0);
  CHECK(by_id["4"]["result"]["structuredContent"]["record"]["pid"] ==
        line["pid"]);  // the record returned was pid 0
}

TEST_CASE("tools/list pages follow nextCursor to the end") {
  TempDir dir;
  McpSession s(dir.path(), {"--page-size", "1"});
  s.initialize();
  std::vector<std::string> names;
  json params = json::object();
  for (int pages = 0; pages < 100; ++pages) {
    json r = s.request("tools/list", params);
    REQUIRE(r.contains("result"));
    REQUIRE(r["result"]["tools"].size() == 1);
    names.push_back(r["result"]["tools"][0]["name"]);
    if (!r["result"].contains("nextCursor")) break;
    params = {{"cursor", r["result"]["nextCursor"]}};
  }
  CHECK(std::find(names.begin(), names.end(), "log_event") != names.end());
  CHECK(std::find(names.begin(), names.end(), "set_tracing_config") != names.end());
  std::set<std::string> unique(names.begin(), names.end());
  CHECK(unique.size() == names.size());
}

TEST_CASE("a line over 16 MiB is refused with an error and the server keeps serving") {
  TempDir dir;
  McpSession s(dir.path());
  s.initialize();
  std::string huge =
      R"({"jsonrpc":"2.0","id":99,"method":"ping","params":{"pad":")" + std::string(17u << 20, 'a') + "\"}}";
  s.send_line(huge);
  auto err = s.read(std::chrono::seconds(30));
  REQUIRE(err);
  CHECK((*err)["error"]["code"] == -32600);
  CHECK((*err)["error"]["message"].get<std::string>().find("16 MiB") != std::string::npos);
  CHECK(s.request("ping")["result"] == json::object());
}

TEST_CASE("messages of unexpected shape get errors and the server keeps serving") {
  TempDir dir;
  McpSession s(dir.path());
  s.initialize();
  // A tool name that is not a string (the server died of these), a jsonrpc that is not a string, clientInfo
  // of the wrong types.
  for (const char* name : {"42", "null", "[]", "{}", "true"}) {
    json r = s.request("tools/call", json::parse(std::string(R"({"name":)") + name + "}"));
    CHECK(r["error"]["code"] == -32602);
    CHECK(r["error"]["message"].get<std::string>().find("string 'name'") != std::string::npos);
  }
  s.send_line(R"({"jsonrpc":2,"id":"v","method":"ping"})");
  auto wrong = s.read(std::chrono::seconds(30));
  REQUIRE(wrong);
  CHECK((*wrong)["error"]["code"] == -32600);
  {
    McpSession fresh(dir.path());
    json first = fresh.request(
        "initialize", {{"protocolVersion", 7}, {"clientInfo", {{"name", 1}, {"version", json::array()}}}});
    CHECK(first["result"]["protocolVersion"] == "2025-11-25");
  }
  CHECK(s.request("initialize", json::object())["error"]["code"] == -32600);  // once per session
  // Arguments nested 20,000 deep in a 40 KB line (the server crashed in the tool path): refused unparsed.
  const std::string deep = std::string(20000, '[') + std::string(20000, ']');
  s.send_line(
      R"({"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"get_trace","arguments":{"traceId":"x","extra":)" +
      deep + "}}}");
  auto refused = s.read(std::chrono::seconds(30));
  REQUIRE(refused);
  CHECK((*refused)["id"] == "deep");
  CHECK((*refused)["error"]["code"] == -32600);
  CHECK((*refused)["error"]["message"].get<std::string>().find("nest more than 256") != std::string::npos);
  // As deep as allowed is served (brackets inside strings do not count).
  json ok = s.call_tool("log_event",
                        {{"message", std::string(1000, '[')},
                         {"fields", {{"k", json::parse(std::string(200, '[') + std::string(200, ']'))}}}});
  CHECK(ok["isError"] == false);
  CHECK(s.request("ping")["result"] == json::object());
}

TEST_CASE(
    "a parse error's reply has no id on 2025-11-25 (MCP) and JSON-RPC's \"id\": null on earlier protocols") {
  TempDir dir;
  for (const char* version : {"2025-11-25", "2025-06-18", "2024-11-05"}) {
    McpSession s(dir.path());
    REQUIRE(s.initialize(version)["result"]["protocolVersion"] == version);
    for (const char* line :
         {"this is not json", R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"s":"\ud800"}})",
          R"([{"jsonrpc":"2.0","id":2,"method":"ping"}])"}) {
      s.send_line(line);
      auto reply = s.read(std::chrono::seconds(30));
      REQUIRE(reply);
      INFO(version, " ", line, " ", reply->dump());
      CHECK((*reply)["error"]["code"].get<int>() < 0);
      if (std::string(version) == "2025-11-25") {
        // MCP 2025-11-25: "id?: RequestId" (string or number), so null is refused by its schema and SDK.
        CHECK_FALSE(reply->contains("id"));
      } else {
        REQUIRE(reply->contains("id"));  // JSON-RPC 2.0: the id member is required, null when unreadable
        CHECK((*reply)["id"].is_null());
      }
    }
    CHECK(s.request("ping")["result"] == json::object());
  }
}

TEST_CASE(
    "serve: mistakes in .env.logging and logging.config.json are said once on stderr, never on stdout") {
  TempDir dir;
  REQUIRE(run_agentlog({"init", "--root", dir.path().string()}).exit_code == 0);
  const fs::path config = dir / ".ai-agents/logging/config";
  write_text(config / ".env.logging", "LOG_LEVEL=verbose\nLOG_MAX_SIZE_MB=10MB\n");
  write_text(config / "logging.config.json", R"({"defaultLevel": "debug", })");
  std::string input =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
      "\n";
  for (int id : {2, 3})
    input +=
        R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
        R"(,"method":"tools/call","params":{"name":"log_event","arguments":{"level":"debug","message":"dbg"}}})"
        "\n";
  input +=
      R"({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"log_event","arguments":{"message":"info line"}}})"
      "\n";
  auto r = run_agentlog({"serve", "--root", dir.path().string()}, input);
  CHECK(r.exit_code == 0);
  std::map<int, json> replies;
  std::size_t pos = 0;
  while (pos < r.out.size()) {
    auto nl = r.out.find('\n', pos);
    REQUIRE(nl != std::string::npos);
    json msg = json::parse(r.out.substr(pos, nl - pos));  // only JSON-RPC on stdout
    replies[msg["id"].get<int>()] = msg;
    pos = nl + 1;
  }
  REQUIRE(replies.size() == 4);
  for (const std::string& expected :
       {std::string(".env.logging:1: error: LOG_LEVEL: bad value 'verbose'"),
        std::string(
            ".env.logging:2: error: LOG_MAX_SIZE_MB: bad value '10MB'; accepted: a number from 0.001 to "
            "1048576; using the safe value '10'"),
        std::string("logging.config.json: error: not valid JSON (line 1, column 27: ")}) {
    INFO(expected, "\n", r.err);
    const auto at = r.err.find(expected);
    CHECK(at != std::string::npos);
    CHECK(r.err.find(expected, at + 1) == std::string::npos);  // once, not at every log_event
  }
  // The agent learns why its debug line is below the minimum, and what is wrong.
  const json below = replies[2]["result"]["structuredContent"];
  CHECK(below["written"] == false);
  const std::string reason = below["reason"];
  CHECK(reason.find("level debug is below the minimum info") == 0);
  CHECK(reason.find("LOG_LEVEL in .env.logging is wrong (bad value 'verbose'") != std::string::npos);
  CHECK(reason.find("logging.config.json is not valid JSON (line 1, column 27") != std::string::npos);
  CHECK(replies[3]["result"]["structuredContent"]["reason"] == reason);
  CHECK(replies[4]["result"]["structuredContent"]["written"] == true);
}

TEST_CASE(
    "log_event while LOGGING_ENABLED=false is refused as [policy.denied.disabled], as its description says") {
  TempDir dir;
  REQUIRE(run_agentlog({"init", "--root", dir.path().string()}).exit_code == 0);
  const fs::path env = dir / ".ai-agents/logging/config/.env.logging";
  write_text(env, "LOGGING_ENABLED=false\n");
  McpSession s(dir.path());
  s.initialize();
  json tool;
  const json tools = s.request("tools/list")["result"]["tools"];
  for (const auto& t : tools)
    if (t["name"] == "log_event") tool = t;
  REQUIRE(tool.is_object());
  const std::string description = tool["description"];
  CHECK(description.find("LOGGING_ENABLED=false") != std::string::npos);
  CHECK(description.find("[policy.denied.disabled]") != std::string::npos);
  // written: false is for a level below the minimum only; the schema no longer promises it for this.
  const std::string written = tool["outputSchema"]["properties"]["written"]["description"];
  CHECK(written.find("below") != std::string::npos);
  CHECK(written.find("policy.denied.disabled") != std::string::npos);

  json r = s.call_tool("log_event", {{"message", "while off"}});
  CHECK(r["isError"] == true);
  const std::string text = r["content"][0]["text"];
  CHECK(text.find("[policy.denied.disabled]") != std::string::npos);
  CHECK(text.find("LOGGING_ENABLED=false in .env.logging") != std::string::npos);
  CHECK_FALSE(r.contains("structuredContent"));
  CHECK_FALSE(fs::exists(dir / ".ai-agents/logging/logs/latest.log"));  // nothing written
}

TEST_CASE("log_event with traceId and no spanId leaves spanId out of the line and the record") {
  TempDir dir;
  McpSession s(dir.path());
  s.initialize();
  json alone = s.call_tool("log_event", {{"message", "trace only"}, {"traceId", "t-123"}});
  REQUIRE(alone["isError"] == false);
  CHECK(alone["structuredContent"]["record"]["traceId"] == "t-123");
  CHECK_FALSE(alone["structuredContent"]["record"].contains("spanId"));  // was "spanId": ""
  json both = s.call_tool(
      "log_event", {{"message", "trace and span"}, {"traceId", "t-123"}, {"spanId", "00f067aa0ba902b7"}});
  CHECK(both["structuredContent"]["record"]["spanId"] == "00f067aa0ba902b7");
  const std::string log = read_text(dir / ".ai-agents/logging/logs/latest.log");
  const std::string first = log.substr(0, log.find('\n'));
  CHECK(json::parse(first)["traceId"] == "t-123");
  CHECK(first.find("spanId") == std::string::npos);
  CHECK(json::parse(log.substr(first.size() + 1, log.find('\n', first.size() + 1) - first.size() -
                                                     1))["spanId"] == "00f067aa0ba902b7");
}

TEST_CASE("log_event says when an integer field beyond 64 bits was rounded, and how to keep it") {
  TempDir dir;
  McpSession s(dir.path());
  s.initialize();
  s.send_line(
      R"({"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"log_event","arguments":)"
      R"({"message":"order","fields":{"orderId":123456789012345678901234567890,"ok":18446744073709551615,)"
      R"("ratio":0.5,"items":[1,-99999999999999999999]}}}})");
  std::optional<json> reply;
  while ((reply = s.read()) && (*reply)["id"] != "big") {
  }
  REQUIRE(reply);
  const json& result = (*reply)["result"];
  REQUIRE(result["isError"] == false);
  const json notes = result["structuredContent"]["notes"];
  REQUIRE(notes.size() == 2);  // not the uint64 maximum, kept exactly, nor 0.5
  CHECK(notes[0].get<std::string>().starts_with("fields.items[1] is -1e+20: an integer beyond 64 bits"));
  CHECK(notes[1].get<std::string>().starts_with("fields.orderId is 1.2345678901234568e+29"));
  CHECK(notes[1].get<std::string>().find("Send it as a string") != std::string::npos);
  // The same call with the number as a string keeps every digit, and says nothing.
  json text = s.call_tool(
      "log_event", {{"message", "order"}, {"fields", {{"orderId", "123456789012345678901234567890"}}}});
  CHECK_FALSE(text["structuredContent"].contains("notes"));
  CHECK(read_text(dir / ".ai-agents/logging/logs/latest.log")
            .find("\"orderId\":\"123456789012345678901234567890\"") != std::string::npos);
}

TEST_CASE("SIGTERM ends the server cleanly; so does stdin EOF") {
  TempDir dir;
  {
    McpSession s(dir.path());
    s.initialize();
    s.kill(SIGTERM);
    CHECK(s.wait() == 0);
  }
  {
    McpSession s(dir.path());
    s.initialize();
    s.close_stdin();
    CHECK(s.wait() == 0);
  }
}

TEST_CASE("serve on a bare directory creates the tree with defaults") {
  TempDir dir;
  McpSession s(dir.path());
  s.initialize();
  CHECK(fs::is_regular_file(dir / ".ai-agents/logging/config/.env.tracing"));
  json r = s.call_tool("get_tracing_config", json::object());
  CHECK(r["structuredContent"]["effective"]["level"] == 2);
}

TEST_CASE("agentlog init: creates, then keeps; --json; --claude") {
  TempDir dir;
  auto first = run_agentlog({"init", "--root", dir.path().string()});
  CHECK(first.exit_code == 0);
  CHECK(first.out.find("created .ai-agents/logging/config/.env.tracing") != std::string::npos);
  write_text(dir / ".ai-agents/logging/config/.env.logging", "LOG_LEVEL=warn\n");
  auto second = run_agentlog({"init", "--root", dir.path().string(), "--json"});
  CHECK(second.exit_code == 0);
  json report = json::parse(second.out);
  CHECK(report["created"].empty());
  CHECK(read_text(dir / ".ai-agents/logging/config/.env.logging") == "LOG_LEVEL=warn\n");
  auto claude = run_agentlog({"init", "--claude"}, "", dir.path());
  CHECK(claude.exit_code == 0);
  json mcp = json::parse(read_text(dir / ".mcp.json"));
  CHECK(mcp["mcpServers"]["openmemory-code-global"]["args"] == json{"serve"});
  CHECK(fs::is_regular_file(dir / ".claude/settings.json"));
}

TEST_CASE("agentlog init in a git repository: what agentlog writes and the human-only files stay untracked") {
  TempDir dir;
  REQUIRE(agentlog::test::run_process({"git", "init", "-q"}, "", dir.path()).exit_code == 0);
  REQUIRE(run_agentlog({"init", "--root", dir.path().string()}).exit_code == 0);
  {
    McpSession mcp(dir.path());
    mcp.initialize();
    CHECK(mcp.call_tool("log_event", {{"message", "deployed"}})["isError"] == false);
    mcp.close_stdin();
    CHECK(mcp.wait() == 0);
  }
  // The files the check is about exist, so the status below cannot pass by their absence.
  for (const char* p : {"audit/actions.jsonl", "config/.env.tracing", "config/.env.logging"})
    REQUIRE_MESSAGE(fs::is_regular_file(dir / ".ai-agents/logging" / p), p);
  REQUIRE_FALSE(fs::is_empty(dir / ".ai-agents/logging/logs"));
  auto status =
      agentlog::test::run_process({"git", "status", "--porcelain", "--untracked-files=all"}, "", dir.path());
  REQUIRE(status.exit_code == 0);
  CHECK(status.out.find("?? .ai-agents/logging/config/tracing.config.json") != std::string::npos);
  CHECK(status.out.find("?? .ai-agents/logging/.gitignore") != std::string::npos);
  for (const char* hidden : {"/logs/", "/audit/", "/approvals/", "/memory/", "/traces/", ".env"})
    CHECK_MESSAGE(status.out.find(hidden) == std::string::npos, hidden, " is in git status:\n", status.out);
}

namespace {

// Every hook command of `event` in a .claude/settings.json.
std::vector<std::string> hook_commands(const json& settings, const char* event) {
  std::vector<std::string> out;
  for (const auto& entry : settings["hooks"][event])
    for (const auto& h : entry["hooks"]) out.push_back(h["command"]);
  return out;
}

// A copy of the agentlog binary at `path` (another install of it).
void copy_agentlog(const fs::path& path) {
  fs::create_directories(path.parent_path());
  fs::copy_file(AGENTLOG_BINARY, path, fs::copy_options::overwrite_existing);
}

}  // namespace

TEST_CASE("init --claude: the hook commands are shell-quoted, so a binary in a folder with a space guards") {
  TempDir dir;
  const fs::path binary = dir / "my tools/it's agentlog";
  copy_agentlog(binary);
  const fs::path project = dir / "project";
  fs::create_directories(project);
  REQUIRE(agentlog::test::run_process({binary.string(), "init", "--claude"}, "", project).exit_code == 0);
  const json settings = json::parse(read_text(project / ".claude/settings.json"));
  const auto pre = hook_commands(settings, "PreToolUse");
  REQUIRE(pre.size() == 1);
  const std::string real = fs::canonical(binary).string();  // what /proc/self/exe names
  const std::string quoted = "'" + real.substr(0, real.rfind('\'')) + "'\\''s agentlog'";
  CHECK(pre[0] == quoted + " hook pre-tool-use");
  // Claude Code runs the command through a shell, the hook JSON on stdin: a Write of a .env file is blocked.
  const std::string env_file = (project / ".ai-agents/logging/config/.env.tracing").string();
  const json input = {
      {"session_id", "s"},
      {"cwd", project.string()},
      {"hook_event_name", "PreToolUse"},
      {"tool_name", "Write"},
      {"tool_input", {{"file_path", env_file}, {"content", "TRACING_AI_REQUIRE_APPROVAL=false\n"}}}};
  auto r = agentlog::test::run_process({"sh", "-c", pre[0]}, input.dump(), project);
  CHECK_MESSAGE(r.exit_code == 2, r.err);  // (unquoted: sh found no "/.../my", exit 127, and the Write ran)
  CHECK(r.err.find("agentlog: blocked") != std::string::npos);
  const auto post = hook_commands(settings, "PostToolUse");
  REQUIRE(post.size() == 1);
  CHECK(agentlog::test::run_process({"sh", "-c", post[0]}, input.dump(), project).exit_code == 0);
}

TEST_CASE("init --claude from another binary replaces agentlog's hooks and rules; the user's stay") {
  TempDir dir;
  fs::path first = dir / "build/agentlog", second = dir / "usr/local/bin/agentlog";
  copy_agentlog(first);
  copy_agentlog(second);
  second = fs::canonical(second);  // what /proc/self/exe names
  const fs::path project = dir / "project";
  write_text(project / ".claude/settings.json",
             R"J({"permissions":{"deny":["Bash(rm:*)","Edit(.ai-agents/logging/config/.env*)",
                 "Write(.ai-agents/logging/audit/**)"]},
                 "hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"mine pre"}]},
                   {"matcher":"Edit","hooks":[{"type":"command",
                     "command":"/opt/old agentlog/agentlog hook pre-tool-use --root /x"}]}]}})J");
  REQUIRE(agentlog::test::run_process({first.string(), "init", "--claude"}, "", project).exit_code == 0);
  REQUIRE(agentlog::test::run_process({second.string(), "init", "--claude"}, "", project).exit_code == 0);
  const json settings = json::parse(read_text(project / ".claude/settings.json"));
  CHECK(hook_commands(settings, "PreToolUse") ==
        std::vector<std::string>{"mine pre", "'" + second.string() + "' hook pre-tool-use"});
  CHECK(hook_commands(settings, "PostToolUse") ==
        std::vector<std::string>{"'" + second.string() + "' hook post-tool-use"});
  CHECK(settings["hooks"]["PreToolUse"][1]["matcher"] == "Edit|Write|MultiEdit|NotebookEdit|Bash|mcp__.*");
  // Deny rules anchored at the project (`/path`: relative to the settings file; `path` follows the session's
  // cwd); Edit rules cover every editing tool. Those an earlier init wrote are replaced, the user's kept.
  CHECK(settings["permissions"]["deny"] == json{"Bash(rm:*)", "Edit(/.ai-agents/logging/config/.env*)",
                                                "Edit(/.ai-agents/logging/audit/**)",
                                                "Edit(/.ai-agents/logging/approvals/**)"});
  json mcp = json::parse(read_text(project / ".mcp.json"));
  CHECK(mcp["mcpServers"]["openmemory-code-global"]["command"] == second.string());
  auto again = agentlog::test::run_process({second.string(), "init", "--claude", "--json"}, "", project);
  REQUIRE(again.exit_code == 0);
  CHECK(json::parse(again.out)["created"].empty());
}

TEST_CASE("init --claude refuses a settings file or .mcp.json it cannot merge into, and writes nothing") {
  struct Case {
    const char* file;
    const char* text;
    std::string says;
  };
  for (const Case& c :
       {Case{".claude/settings.json", R"({"model":"opus",})", "is not valid JSON"},
        Case{".claude/settings.json", R"({"hooks":[]})", "`hooks` must be an object, not array"},
        Case{".claude/settings.json", R"({"hooks":{"PreToolUse":{"matcher":"*"}}})",
             "`hooks.PreToolUse` must be an array of objects, not object"},
        Case{".claude/settings.json", R"({"hooks":{"PreToolUse":["x"]}})",
             "`hooks.PreToolUse[0]` must be an object, not string"},
        Case{".claude/settings.json", R"({"hooks":{"PostToolUse":[{"hooks":"x"}]}})",
             "`hooks.PostToolUse[0].hooks` must be an array of objects, not string"},
        Case{".claude/settings.json", R"({"permissions":{"deny":"Bash"}})",
             "`permissions.deny` must be an array of rules, not string"},
        Case{".claude/settings.json", R"({"permissions":[]})", "`permissions` must be an object"},
        Case{".mcp.json", R"({"mcpServers":[]})", "`mcpServers` must be an object, not array"},
        Case{".mcp.json", "[1,2]", "must hold a JSON object"}}) {
    CAPTURE(c.text);
    TempDir dir;
    write_text(dir / c.file, c.text);
    auto r = run_agentlog({"init", "--claude"}, "", dir.path());
    CHECK(r.exit_code == 1);
    CHECK(r.err.find((dir / c.file).string()) != std::string::npos);
    CHECK(r.err.find(c.says) != std::string::npos);
    CHECK(r.err.find("Nothing was written.") != std::string::npos);
    CHECK(read_text(dir / c.file) == c.text);
    CHECK_FALSE(fs::exists(dir / (std::string(c.file) == ".mcp.json" ? ".claude" : ".mcp.json")));
    CHECK_FALSE(fs::exists(dir / ".ai-agents"));
  }
}

TEST_CASE("init --claude writes through a symlinked settings file and .mcp.json: the links stay") {
  TempDir dir;
  const fs::path project = dir / "project", dotfiles = dir / "dotfiles";
  write_text(dotfiles / "settings.json", R"({"model":"opus"})");
  write_text(dotfiles / "mcp.json", R"({"mcpServers":{"other":{"command":"x"}}})");
  fs::create_directories(project / ".claude");
  fs::create_symlink(dotfiles / "settings.json", project / ".claude/settings.json");
  fs::create_symlink("../dotfiles/mcp.json", project / ".mcp.json");  // relative to the link's folder
  auto r = run_agentlog({"init", "--claude"}, "", project);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(fs::is_symlink(project / ".claude/settings.json"));
  CHECK(fs::is_symlink(project / ".mcp.json"));
  const json settings = json::parse(read_text(dotfiles / "settings.json"));
  CHECK(settings["model"] == "opus");
  CHECK(hook_commands(settings, "PreToolUse").size() == 1);
  const json mcp = json::parse(read_text(dotfiles / "mcp.json"));
  CHECK(mcp["mcpServers"]["other"]["command"] == "x");
  CHECK(mcp["mcpServers"].contains("openmemory-code-global"));
}

TEST_CASE("agentlog config show reports values, sources and bad values (exit 1)") {
  TempDir dir;
  run_agentlog({"init", "--root", dir.path().string()});
  auto ok = run_agentlog({"config", "show", "--root", dir.path().string(), "--json"});
  CHECK(ok.exit_code == 0);
  json cfg = json::parse(ok.out);
  CHECK(cfg[".env.tracing"]["settings"]["TRACING_SAMPLE_RATE"]["value"] == "1.0");
  CHECK(cfg[".env.tracing"]["settings"]["TRACING_SAMPLE_RATE"]["source"].get<std::string>().find(
            ".env.tracing:") != std::string::npos);
  write_text(dir / ".ai-agents/logging/config/.env.tracing", "TRACING_SAMPLE_RATE=2\n");
  auto bad = run_agentlog({"config", "show", "--root", dir.path().string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("TRACING_SAMPLE_RATE: bad value '2'; accepted: a number from 0 to 1") !=
        std::string::npos);
}

TEST_CASE(
    "agentlog config show reports logging.config.json that is not valid JSON, with the position (exit 1)") {
  TempDir dir;
  run_agentlog({"init", "--root", dir.path().string()});
  const fs::path file = dir / ".ai-agents/logging/config/logging.config.json";
  write_text(file, R"({"defaultLevel": "warn", "categories": {"api": "debug"}})");
  auto ok = run_agentlog({"config", "show", "--root", dir.path().string(), "--json"});
  CHECK(ok.exit_code == 0);
  json section = json::parse(ok.out)["logging.config.json"];
  CHECK(section["settings"]["defaultLevel"]["value"] == "warn");
  CHECK(section["settings"]["categories.api"]["value"] == "debug");
  CHECK(section["diagnostics"].empty());

  write_text(file, "{\"defaultLevel\": \"debug\",\n }");
  auto bad = run_agentlog({"config", "show", "--root", dir.path().string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find(file.string() + ": error: not valid JSON (line 2, column 2: syntax error") !=
        std::string::npos);
  CHECK(bad.out.find("defaultLevel=info   (default)") != std::string::npos);  // what applies meanwhile

  write_text(file, R"({"defaultLevel": "verbose", "categories": {"db": 3}})");
  auto levels = run_agentlog({"config", "show", "--root", dir.path().string(), "--json"});
  CHECK(levels.exit_code == 1);
  const json diagnostics = json::parse(levels.out)["logging.config.json"]["diagnostics"];
  REQUIRE(diagnostics.size() == 2);
  CHECK(diagnostics[0].get<std::string>().find("defaultLevel is \"verbose\", not a level") !=
        std::string::npos);
  CHECK(diagnostics[1].get<std::string>().find("categories.db is 3, not a level") != std::string::npos);
}

TEST_CASE("agentlog config show reports the TRACING_* variables that override .env.tracing, and says so") {
  TempDir dir;
  run_agentlog({"init", "--root", dir.path().string()});
  auto show = [&](const std::map<std::string, std::string>& env, bool as_json) {
    std::vector<std::string> argv = {AGENTLOG_BINARY, "config", "show", "--root", dir.path().string()};
    if (as_json) argv.push_back("--json");
    return agentlog::test::run_process(argv, "", {}, env);
  };
  // A traced program started from this shell records level 4 and writes binary span files: the file's 2
  // and jsonl were listed as what applies.
  auto r = show({{"TRACING_DEFAULT_LEVEL", "4"}, {"TRACING_FORMAT", "binary"}}, true);
  CHECK(r.exit_code == 0);
  const json settings = json::parse(r.out)[".env.tracing"]["settings"];
  CHECK(settings["TRACING_DEFAULT_LEVEL"]["value"] == "4");
  CHECK(settings["TRACING_DEFAULT_LEVEL"]["source"] == "environment");
  CHECK(settings["TRACING_DEFAULT_LEVEL"]["overrides"]["value"] == "2");
  CHECK(settings["TRACING_DEFAULT_LEVEL"]["overrides"]["source"].get<std::string>().find(".env.tracing:") !=
        std::string::npos);
  CHECK(settings["TRACING_FORMAT"]["value"] == "binary");
  CHECK_FALSE(settings["TRACING_SAMPLE_RATE"].contains("overrides"));
  auto text = show({{"TRACING_DEFAULT_LEVEL", "4"}}, false);
  CHECK(text.out.find("TRACING_DEFAULT_LEVEL=4   (environment; overrides 2 from .ai-agents/logging/config/"
                      ".env.tracing:") != std::string::npos);
  // A bad value in the environment is an error as in the file: the program takes the safe value.
  auto bad = show({{"TRACING_MAX_LEVEL", "9"}}, false);
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("environment: error: TRACING_MAX_LEVEL: bad value '9'") != std::string::npos);
  CHECK(bad.out.find("TRACING_MAX_LEVEL=0   (environment (bad value, safe default used)") !=
        std::string::npos);
  // The exit status is in the help.
  CHECK(run_agentlog({"config", "show", "--help"}).out.find("Exits 1 when a value is wrong") !=
        std::string::npos);
}

TEST_CASE("agentlog config show hides secrets and reports API token entries it cannot use") {
  TempDir dir;
  run_agentlog({"init", "--root", dir.path().string()});
  const fs::path env = dir / ".ai-agents/logging/config/.env.logging";
  write_text(env, read_text(env) + "\nAGENTLOG_API_TOKENS=alice:s3cret-a,bare-t0ken,bob:,:orphan-t0ken\n" +
                      "AGENTLOG_API_WRITE_TOKENS=alcie\nOPENMEMORY_API_KEY=om-k3y\n");
  for (bool as_json : {false, true}) {
    std::vector<std::string> args = {"config", "show", "--root", dir.path().string()};
    if (as_json) args.push_back("--json");
    auto r = run_agentlog(args);
    CHECK(r.exit_code == 0);  // warnings: the usable entries are kept
    for (const char* secret : {"s3cret-a", "bare-t0ken", "orphan-t0ken", "om-k3y"}) {
      CHECK(r.out.find(secret) == std::string::npos);
      CHECK(r.err.find(secret) == std::string::npos);
    }
    const std::string all = r.out + r.err;
    CHECK(all.find("entry 2, 3, 4 is not name:token") != std::string::npos);
    CHECK(all.find("no token in AGENTLOG_API_TOKENS is named 'alcie'") != std::string::npos);
    if (as_json) {
      json cfg = json::parse(r.out);
      CHECK(cfg[".env.logging"]["settings"]["AGENTLOG_API_TOKENS"]["value"] ==
            "alice:<hidden>,?:<hidden>,bob:<hidden>,:<hidden>");
      CHECK(cfg[".env.logging"]["settings"]["OPENMEMORY_API_KEY"]["value"] == "<set, hidden>");
    }
  }
}

TEST_CASE("usage errors exit 2 with a message") {
  auto r = run_agentlog({"frobnicate"});
  CHECK(r.exit_code == 2);
  CHECK_FALSE(r.err.empty());
  // Numbers out of range are refused, not taken as another (--limit 0 acted as 1, --port 99999 listened on
  // 34463 while it printed 99999).
  TempDir dir;
  REQUIRE(run_agentlog({"init", "--root", dir.path().string()}).exit_code == 0);
  for (std::vector<std::string> args : {std::vector<std::string>{"logs", "search", "--limit", "0"},
                                        {"logs", "search", "--limit", "1001"},
                                        {"traces", "search", "x", "--limit", "0"},
                                        {"traces", "slow", "--limit", "-3"},
                                        {"memory", "list", "--limit", "-1"},
                                        {"memory", "search", "x", "--limit", "0"},
                                        {"audit", "list", "--limit", "0"},
                                        {"http", "--port", "99999"},
                                        {"http", "--port", "-5"},
                                        {"logs", "tail", "-n", "-1"}}) {
    CAPTURE(args[0] + " " + args[1]);
    args.insert(args.end(), {"--root", dir.path().string()});
    auto bad = run_agentlog(args);
    CHECK(bad.exit_code == 2);
    CHECK(bad.err.find("not in range") != std::string::npos);
  }
}

TEST_CASE(
    "a --root that is no folder is a usage error; commands that read a project refuse a folder that is "
    "none") {
  TempDir dir;
  const std::string missing = (dir / "no-such-folder").string();
  for (std::vector<std::string> args : {std::vector<std::string>{"logs", "search"},
                                        {"audit", "verify"},
                                        {"traces", "search", "x"},
                                        {"serve"},
                                        {"config", "show"}}) {
    CAPTURE(args[0]);
    args.insert(args.end(), {"--root", missing});
    auto r = run_agentlog(args);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("Directory does not exist: " + missing) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(missing));  // serve made nothing there
  // An existing folder with no .ai-agents/logging: "audit verify" said "intact: 0 records", "traces search"
  // made the tree.
  for (std::vector<std::string> args : {std::vector<std::string>{"logs", "search"},
                                        {"logs", "tail"},
                                        {"audit", "verify"},
                                        {"audit", "list"},
                                        {"traces", "search", "x"},
                                        {"traces", "slow"},
                                        {"memory", "list"},
                                        {"approvals", "list"}}) {
    CAPTURE(args[0] + " " + args[1]);
    args.insert(args.end(), {"--root", dir.path().string()});
    auto r = run_agentlog(args);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("no project at " + dir.path().string()) != std::string::npos);
    CHECK(r.err.find("agentlog init") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(dir / ".ai-agents"));
  // init makes the folder it is given.
  CHECK(run_agentlog({"init", "--root", missing}).exit_code == 0);
  CHECK(run_agentlog({"audit", "verify", "--root", missing}).exit_code == 0);
}

TEST_CASE("log://latest is JSON lines, or text/plain when LOG_FORMAT=text") {
  TempDir root;
  REQUIRE(run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const auto env = root / ".ai-agents/logging/config/.env.logging";
  McpSession mcp(root.path());
  mcp.initialize();
  REQUIRE(mcp.call_tool("log_event", {{"message", "as json"}})["isError"] == false);
  json read = mcp.request("resources/read", {{"uri", "log://latest"}});
  CHECK(read["result"]["contents"][0]["mimeType"] == "application/x-ndjson");
  const std::string lines = read["result"]["contents"][0]["text"];
  CHECK(json::parse(lines.substr(0, lines.find('\n')))["msg"] == "as json");
  write_text(env, read_text(env) + "\nLOG_FORMAT=text\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // (settings are looked at once a second)
  REQUIRE(mcp.call_tool("log_event", {{"message", "as text"}})["isError"] == false);
  read = mcp.request("resources/read", {{"uri", "log://latest"}});
  CHECK(read["result"]["contents"][0]["mimeType"] == "text/plain");
  CHECK(read["result"]["contents"][0]["text"].get<std::string>().find("] INFO [ai-agent] as text") !=
        std::string::npos);
}

TEST_CASE("logs tail --json prints JSON records with LOG_FORMAT=text too") {
  TempDir root;
  REQUIRE(run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const auto env = root / ".ai-agents/logging/config/.env.logging";
  write_text(env, read_text(env) + "\nLOG_FORMAT=text\n");
  {
    McpSession mcp(root.path());
    mcp.initialize();
    REQUIRE(mcp.call_tool("log_event", {{"message", "hello"}, {"fields", {{"k", 1}}}})["isError"] == false);
  }
  const auto tail = run_agentlog({"logs", "tail", "-n", "1", "--json", "--root", root.path().string()});
  REQUIRE(tail.exit_code == 0);
  const json rec = json::parse(tail.out);
  CHECK(rec["msg"] == "hello");
  CHECK(rec["level"] == "info");
  CHECK(rec["fields"] == json{{"k", 1}});
}
