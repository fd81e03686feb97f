// Accountability: a corpus of attempts to reach protected files through every tool that takes a path (all
// denied, all audited; allowed paths still work), permissions from the .env flags, the audit chain against
// tampering, and appends from several processes forming one chain.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audit_records.hpp"
#include "policy/audit.hpp"
#include "policy/paths.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::McpSession;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Every way we know to name a protected file; `R` is the absolute project root.
std::vector<std::string> protected_attempts(const std::string& R) {
  return {
      ".ai-agents/logging/config/.env.tracing",
      ".ai-agents/logging/config/.env.logging",
      "./.ai-agents/logging/config/.env.tracing",
      ".ai-agents//logging///config/.env.tracing",
      ".ai-agents/logging/config/.env.tracing/",
      ".ai-agents/logging/config/./.env.logging",
      ".ai-agents/logging/logs/../config/.env.tracing",
      "src/../.ai-agents/logging/config/.env.tracing",
      "src/../../" + fs::path(R).filename().string() + "/.ai-agents/logging/config/.env.logging",
      R + "/.ai-agents/logging/config/.env.tracing",
      R + "//.ai-agents/logging/config//.env.logging",
      R + "/./.ai-agents/./logging/config/.env.tracing",
      ".ai-agents/logging/config/.env.local",  // any .env* in config/
      ".ai-agents/logging/config/.env.tracing.bak",
      ".ai-agents/logging/audit/actions.jsonl",
      ".ai-agents/logging/audit/head.json",
      ".ai-agents/logging/audit/",
      ".ai-agents/logging/audit",
      R + "/.ai-agents/logging/audit/actions.jsonl",
      ".ai-agents/logging/approvals/pending.json",
      "link-to-config/.env.tracing",            // a symlinked folder
      "link-to-env",                            // a symlink to the file
      "nested/link-to-audit/actions.jsonl",     // a symlink to the audit folder, one level down
      "link-to-traces/../config/.env.tracing",  // a link to a folder next to it, then `..`
      "link-to-traces/../audit/actions.jsonl",
      "hard-link-env.txt",    // a hard link to .env.logging
      "hard-link-audit.txt",  // a hard link to the audit log
      "../outside.txt",
      "../../etc/passwd",
      "/etc/passwd",
      "/tmp",
      "link-outside/file.txt",  // a symlink leading out of the project
  };
}

void make_tricks(const TempDir& root) {
  const fs::path base = root / ".ai-agents/logging";
  fs::create_directories(root / "nested");
  fs::create_directory_symlink(base / "config", root / "link-to-config");
  fs::create_symlink(base / "config/.env.tracing", root / "link-to-env");
  fs::create_directory_symlink(base / "audit", root / "nested/link-to-audit");
  fs::create_directory_symlink(base / "traces", root / "link-to-traces");
  fs::create_hard_link(base / "config/.env.logging", root / "hard-link-env.txt");
  fs::create_directory_symlink("/tmp", root / "link-outside");
}

json call(McpSession& mcp, const std::string& tool, const json& args) { return mcp.call_tool(tool, args); }

}  // namespace

TEST_CASE("60+ attempts on protected files through every path tool are denied and audited") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  // One audited action first, so that the audit log and its hard link exist.
  {
    McpSession mcp(root.path());
    mcp.initialize();
    call(mcp, "log_event", {{"level", "info"}, {"message", "start"}});
  }
  fs::create_hard_link(root / ".ai-agents/logging/audit/actions.jsonl", root / "hard-link-audit.txt");
  make_tricks(root);
  std::string env_before = agentlog::test::read_text(root / ".ai-agents/logging/config/.env.tracing");

  const auto attempts = protected_attempts(root.path().string());
  // Every tool that takes a path argument, with arguments that are otherwise valid.
  const std::vector<std::pair<std::string, json>> tools = {
      {"get_tracing_config", json::object()},
      {"set_tracing_config", {{"level", 1}}},
  };
  McpSession mcp(root.path());
  mcp.initialize();
  std::size_t before = audit_records(root).size();
  int denied = 0;
  for (const auto& [tool, base_args] : tools) {
    for (const auto& path : attempts) {
      CAPTURE(tool);
      CAPTURE(path);
      json args = base_args;
      args["file"] = path;
      json r = call(mcp, tool, args);
      REQUIRE(r["isError"] == true);
      std::string text = r["content"][0]["text"];
      CHECK(text.rfind("[policy.denied.", 0) == 0);
      ++denied;
    }
  }
  CHECK(denied >= 60);
  auto records = audit_records(root);
  REQUIRE(records.size() == before + static_cast<std::size_t>(denied));
  for (std::size_t i = before; i < records.size(); ++i) {
    CHECK(records[i]["decision"] == "denied");
    CHECK(records[i]["agent"]["name"] == "agentlog-tests");  // the clientInfo of McpSession
    CHECK(records[i]["errorId"].get<std::string>().rfind("policy.denied.", 0) == 0);
  }
  CHECK(agentlog::test::read_text(root / ".ai-agents/logging/config/.env.tracing") == env_before);

  // Allowed paths still work and are audited as allowed, with the resolved path.
  json ok = call(mcp, "set_tracing_config", {{"file", "./src//users.cpp"}, {"level", 3}});
  CHECK(ok["isError"] == false);
  json cfg = json::parse(agentlog::test::read_text(root / ".ai-agents/logging/config/tracing.config.json"));
  CHECK(cfg["files"]["src/users.cpp"]["level"] == 3);
  auto last = audit_records(root).back();
  CHECK(last["decision"] == "allowed");
  CHECK(last["arguments"]["file"] == "./src//users.cpp");  // as the agent wrote it
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()}).exit_code == 0);
}

TEST_CASE("path decisions as functions") {
  using agentlog::policy::glob_match;
  using agentlog::policy::is_protected;
  CHECK(is_protected(".ai-agents/logging/config/.env.tracing"));
  CHECK(is_protected(".ai-agents/logging/audit"));
  CHECK_FALSE(is_protected(".ai-agents/logging/config/tracing.config.json"));
  CHECK_FALSE(is_protected("src/.env.tracing"));  // only the human-only config folder is protected
  CHECK(glob_match("*.test.ts", "src/a.test.ts"));
  CHECK(glob_match("vendor/**", "vendor/x/y.cpp"));
  CHECK_FALSE(glob_match("*.spec.ts", "src/a.ts"));
}

TEST_CASE("permissions come from the .env flags, changes apply without a restart") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  McpSession mcp(root.path());
  mcp.initialize();
  CHECK(call(mcp, "set_tracing_config", {{"file", "a.cpp"}, {"level", 2}})["isError"] == false);
  CHECK(call(mcp, "log_event", {{"level", "info"}, {"message", "on"}})["isError"] == false);

  auto env_t = root / ".ai-agents/logging/config/.env.tracing";
  auto env_l = root / ".ai-agents/logging/config/.env.logging";
  agentlog::test::write_text(env_t, agentlog::test::read_text(env_t) + "\nTRACING_ENABLED=false\n");
  agentlog::test::write_text(env_l, agentlog::test::read_text(env_l) + "\nLOGGING_ENABLED=false\n");
  json t = call(mcp, "set_tracing_config", {{"file", "a.cpp"}, {"level", 2}});
  CHECK(t["content"][0]["text"].get<std::string>().rfind("[policy.denied.disabled]", 0) == 0);
  json l = call(mcp, "log_event", {{"level", "info"}, {"message", "off"}});
  CHECK(l["content"][0]["text"].get<std::string>().rfind("[policy.denied.disabled]", 0) == 0);
  CHECK(agentlog::test::read_text(root / ".ai-agents/logging/logs/latest.log").find("\"off\"") ==
        std::string::npos);
  // Reads stay available.
  CHECK(call(mcp, "find_slow_traces", json::object())["isError"] == false);

  // A permission flag that cannot be read means "deny", and the refusal says so (not "=false").
  CHECK(l["content"][0]["text"].get<std::string>().find("LOGGING_ENABLED=false in .env.logging") !=
        std::string::npos);
  agentlog::test::write_text(env_t, "TRACING_ENABLED=maybe\n");
  agentlog::test::write_text(env_l, "LOGGING_ENABLED=maybe\n");
  json bad_t = call(mcp, "set_tracing_config", {{"file", "a.cpp"}, {"level", 2}});
  CHECK(bad_t["isError"] == true);
  CHECK(bad_t["content"][0]["text"].get<std::string>().find(
            "TRACING_ENABLED in .env.tracing is neither true nor "
            "false") != std::string::npos);
  json bad_l = call(mcp, "log_event", {{"level", "info"}, {"message", "maybe"}});
  CHECK(bad_l["content"][0]["text"].get<std::string>().rfind("[policy.denied.disabled]", 0) == 0);
  CHECK(bad_l["content"][0]["text"].get<std::string>().find("LOGGING_ENABLED in .env.logging is neither true "
                                                            "nor false") != std::string::npos);
}

TEST_CASE("every edit of a .env file applies to the next call, even one a stat cannot tell from the last") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  McpSession mcp(root.path());
  mcp.initialize();
  const auto env_l = root / ".ai-agents/logging/config/.env.logging";
  const std::string base = agentlog::test::read_text(env_l);
  const auto mtime = fs::last_write_time(env_l);
  for (int i = 0; i < 20; ++i) {
    const bool quiet = i % 2 == 0;
    // The same size, inode and modification time each time: only the folder watch tells the edits apart.
    std::string text = base;
    text += quiet ? "\nLOG_LEVEL=error\n" : "\nLOG_LEVEL=debug\n";
    agentlog::test::write_text(env_l, text);
    fs::last_write_time(env_l, mtime);
    json r = call(mcp, "log_event", {{"level", "info"}, {"message", "edit " + std::to_string(i)}});
    INFO("edit " << i << ": " << r.dump());
    CHECK(r["structuredContent"]["written"] == !quiet);
  }
  // The audit log moved away while the server runs: the next record starts a new log.
  const auto audit = root / ".ai-agents/logging/audit";
  fs::rename(audit / "actions.jsonl", root / "old-actions.jsonl");
  CHECK(call(mcp, "log_event", {{"level", "error"}, {"message", "after the move"}})["isError"] == false);
  const std::string fresh = agentlog::test::read_text(audit / "actions.jsonl");
  CHECK(fresh.find("after the move") != std::string::npos);
  CHECK(agentlog::test::read_text(root / "old-actions.jsonl").find("after the move") == std::string::npos);
}

TEST_CASE("audit verify finds edited, removed, reordered and truncated records") {
  TempDir dir;
  agentlog::policy::AuditLog log(dir.path());
  for (int i = 0; i < 6; ++i) log.append({{"tool", "log_event"}, {"i", i}, {"decision", "allowed"}});
  REQUIRE(log.verify().ok);
  CHECK(log.verify().records == 6);
  const std::string pristine = agentlog::test::read_text(log.log_path());
  const std::string head = agentlog::test::read_text(log.head_path());
  auto lines = [&] {
    std::vector<std::string> v;
    std::stringstream ss(pristine);
    std::string l;
    while (std::getline(ss, l)) v.push_back(l);
    return v;
  }();
  auto write_lines = [&](const std::vector<std::string>& v) {
    std::string text;
    for (const auto& l : v) text += l + "\n";
    agentlog::test::write_text(log.log_path(), text);
    agentlog::test::write_text(log.head_path(), head);
  };
  SUBCASE("an edited field") {
    auto v = lines;
    v[2].replace(v[2].find("\"i\":2"), 5, "\"i\":9");
    write_lines(v);
    auto r = log.verify();
    CHECK_FALSE(r.ok);
    CHECK(r.first_bad == 3);
  }
  SUBCASE("a removed record") {
    auto v = lines;
    v.erase(v.begin() + 3);
    write_lines(v);
    CHECK(log.verify().first_bad == 4);
  }
  SUBCASE("reordered records") {
    auto v = lines;
    std::swap(v[1], v[2]);
    write_lines(v);
    CHECK(log.verify().first_bad == 2);
  }
  SUBCASE("the last record removed") {
    auto v = lines;
    v.pop_back();
    write_lines(v);
    auto r = log.verify();
    CHECK_FALSE(r.ok);
    CHECK(r.problem.find("removed from the end") != std::string::npos);
  }
  SUBCASE("a truncated line") {
    write_lines(lines);
    agentlog::test::write_text(log.log_path(), pristine.substr(0, pristine.size() - 20));
    CHECK_FALSE(log.verify().ok);
  }
  SUBCASE("a forged record with a recomputed hash still breaks the chain") {
    auto v = lines;
    json forged = json::parse(v[4]);
    forged["tool"] = "nothing_to_see";
    forged.erase("hash");
    forged["hash"] = agentlog::policy::sha256_hex(forged.dump());
    v[4] = forged.dump();
    write_lines(v);
    CHECK(log.verify().first_bad == 6);  // the next record's prevHash no longer matches
  }
}

TEST_CASE("agentlog audit verify exits 1 and names the first bad record") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  {
    McpSession mcp(root.path());
    mcp.initialize();
    for (int i = 0; i < 3; ++i)
      mcp.call_tool("log_event", {{"level", "info"}, {"message", "m" + std::to_string(i)}});
  }
  auto ok = agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("3 records") != std::string::npos);
  auto log = root / ".ai-agents/logging/audit/actions.jsonl";
  std::string text = agentlog::test::read_text(log);
  text.replace(text.find("\"m1\""), 4, "\"mX\"");
  agentlog::test::write_text(log, text);
  auto bad = agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.out.find("record 2") != std::string::npos);
  auto listed = agentlog::test::run_agentlog(
      {"audit", "list", "--json", "--tool", "log_event", "--root", root.path().string()});
  CHECK(json::parse(listed.out).size() == 3);
}

TEST_CASE("appends from four processes form one chain") {
  TempDir dir;
  std::vector<pid_t> children;
  for (int p = 0; p < 4; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      agentlog::policy::AuditLog log(dir.path());
      for (int i = 0; i < 100; ++i) log.append({{"tool", "t"}, {"process", p}, {"i", i}});
      _exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t c : children) {
    int status = 0;
    waitpid(c, &status, 0);
    CHECK(WEXITSTATUS(status) == 0);
  }
  agentlog::policy::AuditLog log(dir.path());
  auto r = log.verify();
  CHECK(r.ok);
  CHECK(r.records == 400);
}

TEST_CASE("secrets are redacted in recorded arguments") {
  json args = {{"password", "hunter2"},
               {"nested", {{"Authorization", "Bearer x"}, {"keep", 1}}},
               {"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU"},
               {"list", {"plain", "x"}}};
  json r = agentlog::policy::redact(args);
  CHECK(r["password"] == "[REDACTED]");
  CHECK(r["nested"]["Authorization"] == "[REDACTED]");
  CHECK(r["nested"]["keep"] == 1);
  CHECK(r["jwt"] == "[REDACTED]");
  CHECK(r["list"] == json::array({"plain", "x"}));
}

TEST_CASE(
    "Claude Code hooks: the guard holds wherever the agent's shell is, through quoting, globs and pipes") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const std::string R = root.path().string();
  const std::string env_tracing = R + "/.ai-agents/logging/config/.env.tracing";
  // The hook as Claude Code runs it: in the project, $CLAUDE_PROJECT_DIR set, the agent's cwd in the input.
  auto hook = [&](const char* which, const std::string& cwd, const std::string& tool, const json& tool_input,
                  bool project_dir = true) {
    json input = {{"session_id", "s-2"}, {"cwd", cwd}, {"tool_name", tool}, {"tool_input", tool_input}};
    std::map<std::string, std::string> env;
    if (project_dir) env["CLAUDE_PROJECT_DIR"] = R;
    return agentlog::test::run_process({AGENTLOG_BINARY, "hook", which}, input.dump(), root.path(), env);
  };
  auto pre = [&](const std::string& cwd, const std::string& tool, const json& tool_input,
                 bool project_dir = true) {
    return hook("pre-tool-use", cwd, tool, tool_input, project_dir).exit_code;
  };
  auto bash = [&](const std::string& command, const std::string& cwd = "") {
    return pre(cwd.empty() ? R : cwd, "Bash", {{"command", command}});
  };

  // The agent's cwd elsewhere: in a folder of the project holding an .ai-agents of its own, outside the
  // project, gone. The project's files stay guarded (they were not: the cwd chose the project).
  fs::create_directories(root / "sub/.ai-agents");
  fs::create_directories(root / "elsewhere");
  const std::string outside = (fs::temp_directory_path() / "agentlog-hook-elsewhere").string();
  fs::create_directories(outside);
  for (const std::string& cwd : {R + "/sub", outside, std::string("/nonexistent")}) {
    CAPTURE(cwd);
    CHECK(pre(cwd, "Write", {{"file_path", env_tracing}, {"content", "TRACING_AI_REQUIRE_APPROVAL=false"}}) ==
          2);
    CHECK(pre(cwd, "Write", {{"file_path", env_tracing}, {"content", "x"}}, false) ==
          2);  // by its name alone
  }
  CHECK_FALSE(fs::exists("/nonexistent"));  // nor was a project made where the cwd said
  // A .env file that is a link to a file outside the project: guarded by the name the agent uses.
  fs::rename(root / ".ai-agents/logging/config/.env.logging", fs::path(outside) / "env.logging");
  fs::create_symlink(fs::path(outside) / "env.logging", root / ".ai-agents/logging/config/.env.logging");
  CHECK(pre(R, "Edit",
            {{"file_path", R + "/.ai-agents/logging/config/.env.logging"},
             {"old_string", "a"},
             {"new_string", "b"}}) == 2);
  // post-tool-use records in the project Claude Code runs in, not in a stray one made where the cwd was.
  const std::size_t records = audit_records(root).size();
  CHECK(hook("post-tool-use", R + "/sub", "Bash", {{"command", "ls"}}).exit_code == 0);
  CHECK(audit_records(root).size() == records + 1);
  CHECK_FALSE(fs::exists(root / "sub/.ai-agents/logging"));

  // Writing commands, however the path is spelt or passed on.
  for (const std::string cmd :
       {"find .ai-agents/logging/config -name .env.tracing | xargs sed --in-place s/true/false/",
        "ls .ai-agents/logging/config/.env.tracing | xargs -I{} cp /tmp/evil {}",
        "grep -l x .ai-agents/logging/config/.env.tracing | xargs rm",
        "grep -l x .ai-agents/logging/config/.env.tracing |& xargs rm",
        "cp /tmp/evil .ai-agent?/logging/conf*/.env.l*", "rm -rf .[a]i-agents",
        "cd .ai-age*/logging && rm -rf conf*", "echo X >> .ai-agents/logging/config/.en\\v.logging",
        "rm -rf .??*", "rm -r \".ai-agents\"/logging/audit",
        "F=.ai-agents/logging/config/.env.tracing; echo x > $F",
        "cat .ai-agents/logging/config/.env.tracing > /tmp/copy && cp /tmp/copy "
        "/x/.ai-agents-old/p/.ai-agents/logging/config/.env.tracing",
        "echo '{\"disableAllHooks\":true}' > .claude/settings.local.json",
        // A second review's: braces, a cd earlier in the line, quoted separators, sh -c, the .claude folder.
        "rm -rf .ai-agents/logging/{audit,approvals}", "cd .ai-agents/logging/logs && rm -rf ../audit",
        "sed -i -e 's/true/false/' -e '#;cat' .ai-agents/logging/config/.env.tracing",
        "sh -c 'rm -rf .ai-agents'", "bash -c \"echo x > .ai-agents/logging/config/.env.tracing\"",
        "rm -rf .claude", "mv .claude .claude.off", "cp x .claude/settings*.json",
        "cp x --target-directory=.ai-agents/logging/audit"}) {
    CAPTURE(cmd);
    CHECK(bash(cmd) == 2);
  }
  // From inside the tree (the agent's shell went there earlier), its relative paths are its files.
  const std::string inside = R + "/.ai-agents/logging";
  CHECK(bash("rm -rf config", inside) == 2);
  CHECK(bash("echo x > ../logging/config/.env.tracing", inside + "/runtime") == 2);
  CHECK(bash("cat config/.env.tracing", inside) == 0);
  CHECK(bash("rm -rf traces", inside) == 0);
  // The approvals, in any quoting.
  for (const std::string cmd :
       {"agentlog approvals 'approve' apr-1", "agentlog approvals \"approve\" apr-1",
        "agentlog approvals appro\\ve apr-1", "X=approve; agentlog approvals $X apr-1",
        "echo approve apr-1 | xargs agentlog approvals", "USER=alice agentlog approvals deny apr-1",
        "agentlog {approvals,approve} apr-1", "agentlog appr$'o'vals approve apr-1",
        "a=approvals; agentlog $a approve apr-1"}) {
    CAPTURE(cmd);
    CHECK(bash(cmd) == 2);
  }
  // Claude Code's settings, where the guard is registered.
  CHECK(pre(R, "Write",
            {{"file_path", R + "/.claude/settings.local.json"}, {"content", "{\"disableAllHooks\":true}"}}) ==
        2);
  // The user's own files and ordinary commands pass (they were blocked by a name's substring, or by a '>'
  // anywhere in a command that also listed the tree).
  for (const std::string cmd :
       {"cp .env.example config/.env", "vim app/config/.env.production",
        "mkdir -p src/logging/audit && touch src/logging/audit/mod.rs",
        "ls .ai-agents && echo done > notes.txt",
        "cat .ai-agents/logging/config/.env.tracing 2>/dev/null | grep LEVEL", "agentlog approvals list",
        "cat .claude/settings.json", "cat docs/approvals.md",
        // Ordinary work a text match blocked: a quoted '|', the word approvals, reads piped
        // on, ignoring the tree, a cd earlier in the line.
        "grep -E 'LEVEL|ENABLED' .ai-agents/logging/config/.env.tracing",
        "jq '.records | length' .ai-agents/logging/audit/head.json", "grep -rn approvals src/",
        "git commit -am \"Add approvals page\"",
        "cut -d= -f1 .ai-agents/logging/config/.env.tracing | sort | uniq",
        "LC_ALL=C grep -c . .ai-agents/logging/audit/actions.jsonl 2> /dev/null",
        "echo '.ai-agents/' >> .gitignore", "git diff .ai-agents/logging/config",
        "cd .ai-agents/logging && cat config/.env.tracing"}) {
    CAPTURE(cmd);
    CHECK(bash(cmd) == 0);
  }

  // Input that is not Claude Code's is blocked (it ran the tool: exit 1, or a crash on deep nesting).
  for (const json& odd :
       {json{{"cwd", 42}, {"tool_name", "Write"}, {"tool_input", {{"file_path", env_tracing}}}},
        json{{"tool_name", "Write"}, {"tool_input", {{"file_path", json::array({env_tracing})}}}},
        json{{"tool_name", "Bash"}, {"tool_input", {{"command", json::array({"rm", env_tracing})}}}},
        json{{"tool_name", "Write"}, {"tool_input", env_tracing}}}) {
    CAPTURE(odd.dump());
    auto r = agentlog::test::run_process({AGENTLOG_BINARY, "hook", "pre-tool-use"}, odd.dump(), root.path());
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("agentlog: blocked: the hook input is not Claude Code's PreToolUse JSON") == 0);
  }
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  auto nested = [&](const char* which, const std::string& tool) {
    return agentlog::test::run_process({AGENTLOG_BINARY, "hook", which},
                                       "{\"cwd\":\"" + R + "\",\"tool_name\":\"" + tool +
                                           "\",\"tool_input\":{\"file_path\":\"" + env_tracing +
                                           "\",\"extra\":" + deep + "}}",
                                       root.path());
  };
  auto deep_pre = nested("pre-tool-use", "Write");
  CHECK(deep_pre.exit_code == 2);
  CHECK(deep_pre.err.find("nests deeper than 256 levels") != std::string::npos);
  CHECK(nested("post-tool-use", "mcp__x__y").exit_code == 0);  // recorded, without what is too deep
  CHECK(audit_records(root).back()["error"].get<std::string>().rfind("[hook.input_too_deep]", 0) == 0);

  // A long input in a language written with more than one byte a character is recorded (cut on a character,
  // it was dropped as invalid UTF-8).
  std::string text = "a";
  for (int i = 0; i < 3000; ++i) text += "\xc3\xa9";
  CHECK(hook("post-tool-use", R, "Write", {{"file_path", R + "/notes.md"}, {"content", text}}).exit_code ==
        0);
  auto last = audit_records(root).back();
  CHECK(last["tool"] == "claude:Write");
  CHECK(last["arguments"].get<std::string>().size() <= 4003);
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", R}).exit_code == 0);
  fs::remove_all(outside);
}

TEST_CASE("Claude Code hooks: protected edits and writing commands are blocked and audited, reads pass") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  make_tricks(root);
  const std::string R = root.path().string();
  auto pre = [&](const json& input) {
    return agentlog::test::run_agentlog({"hook", "pre-tool-use"}, input.dump());
  };
  auto hook_input = [&](const std::string& tool, const json& tool_input) {
    return json{{"session_id", "s-1"},
                {"cwd", R},
                {"hook_event_name", "PreToolUse"},
                {"tool_name", tool},
                {"tool_input", tool_input}};
  };
  std::size_t before = audit_records(root).size();
  int blocked = 0;
  // Every protected-path trick through each editing tool (paths outside the project are not the hook's
  // business: Claude Code asks the user for those).
  for (const char* tool : {"Write", "Edit", "MultiEdit"}) {
    for (const auto& path : protected_attempts(R)) {
      bool outside = path.find("etc/passwd") != std::string::npos || path == "/tmp" ||
                     path == "../outside.txt" || path.rfind("link-outside", 0) == 0 ||
                     path == "hard-link-audit.txt";
      if (outside) continue;
      CAPTURE(tool);
      CAPTURE(path);
      auto r =
          pre(hook_input(tool, {{"file_path", path}, {"content", "TRACING_ALLOW_AI_INSTRUMENTATION=true"}}));
      CHECK(r.exit_code == 2);
      CHECK(r.err.find("blocked") != std::string::npos);
      ++blocked;
    }
  }
  CHECK(pre(hook_input("NotebookEdit", {{"notebook_path", ".ai-agents/logging/config/.env.tracing"}}))
            .exit_code == 2);
  ++blocked;
  for (const char* cmd :
       {"echo TRACING_ENABLED=true >> .ai-agents/logging/config/.env.tracing",
        "sed -i s/false/true/ .ai-agents/logging/config/.env.tracing",
        "rm .ai-agents/logging/audit/actions.jsonl", "cp /tmp/x .ai-agents/logging/config/.env.logging",
        "cat x | tee .ai-agents/logging/config/.env.logging", "python3 -c 'open(\".env.tracing\",\"w\")'",
        "mv .ai-agents/logging/audit/head.json /tmp",
        // A folder holding protected files, removed or moved whole (serve would then
        // make permissive defaults again), also through a glob or a cd.
        "rm -rf .ai-agents/logging/config", "rm -rf .ai-agents", "rm -rf ./.ai-agents/logging/",
        "find .ai-agents -name '.env*' -delete", "mv .ai-agents/logging/config /tmp/x",
        "rm -rf .ai-agents/logging/conf*", "cd .ai-agents/logging && rm -rf config",
        "find .ai-agents -exec rm {} +", "rm -r \".ai-agents/logging/approvals\""}) {
    CAPTURE(cmd);
    CHECK(pre(hook_input("Bash", {{"command", cmd}})).exit_code == 2);
    ++blocked;
  }
  CHECK(blocked >= 60);
  CHECK(audit_records(root).size() == before + static_cast<std::size_t>(blocked));
  // Input that is not a hook's JSON fails closed (with nothing to record), whatever it mentions.
  for (const char* raw :
       {"{\"tool_name\": \"Write\", \"file_path\": \".env.tracing\"", "not json at all", "", "[1]"}) {
    CAPTURE(raw);
    auto r = agentlog::test::run_agentlog({"hook", "pre-tool-use"}, raw);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("PreToolUse JSON on stdin") != std::string::npos);
  }
  CHECK(audit_records(root).size() == before + static_cast<std::size_t>(blocked));

  // Reads and ordinary work pass.
  for (const char* cmd :
       {"cat .ai-agents/logging/config/.env.tracing",
        "grep LEVEL .ai-agents/logging/config/.env.tracing | wc -l", "make test",
        "tail -n 5 .ai-agents/logging/audit/actions.jsonl", "ls -la .ai-agents/logging/config",
        "find .ai-agents -name '*.jsonl'", "rm -rf .ai-agents/logging/traces",
        "rm -rf .ai-agents/logging/logs/archive", "g++ -I.ai-agents/logging/runtime -c src/main.cpp",
        // Redirections and in-place edits of other files are the agent's ordinary work.
        "make test 2>&1 | tail -5", "echo done > notes.txt", "sed -i s/a/b/ src/main.cpp", "ls $(pwd)"}) {
    CAPTURE(cmd);
    CHECK(pre(hook_input("Bash", {{"command", cmd}})).exit_code == 0);
  }
  CHECK(pre(hook_input("Write", {{"file_path", "src/main.cpp"}, {"content", "int main() {}"}})).exit_code ==
        0);
  CHECK(pre(hook_input("Read", {{"file_path", ".ai-agents/logging/config/.env.tracing"}})).exit_code == 0);

  // post-tool-use records every tool use; the chain stays intact.
  json post = {{"session_id", "s-1"},
               {"cwd", R},
               {"hook_event_name", "PostToolUse"},
               {"tool_name", "Bash"},
               {"tool_input", {{"command", "make test"}, {"api_key", "sk-123"}}},
               {"tool_response", {{"stdout", "ok"}}}};
  CHECK(agentlog::test::run_agentlog({"hook", "post-tool-use"}, post.dump()).exit_code == 0);
  auto last = audit_records(root).back();
  CHECK(last["tool"] == "claude:Bash");
  CHECK(last["agent"]["name"] == "claude-code");
  CHECK(last["arguments"]["api_key"] == "[REDACTED]");
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", R}).exit_code == 0);

  // The config folder removed anyway (a command the hook could not read): the next server makes the .env
  // files again with their defaults, says so, and the audit log records it.
  fs::remove_all(root / ".ai-agents/logging/config");
  auto served = agentlog::test::run_agentlog({"serve", "--root", R}, "");
  CHECK(served.exit_code == 0);
  CHECK(served.err.find("missing from a project with an audit log") != std::string::npos);
  auto restored = audit_records(root).back();
  CHECK(restored["tool"] == "agentlog:restore_config");
  CHECK(restored["files"] ==
        json::array({".ai-agents/logging/config/.env.logging", ".ai-agents/logging/config/.env.tracing"}));
  CHECK(restored["error"].get<std::string>().find("[config.restored]") == 0);
  // Made again failing closed: every AI operation waits for the human's approval until they review the file.
  const std::string tracing_env = agentlog::test::read_text(root / ".ai-agents/logging/config/.env.tracing");
  CHECK(tracing_env.rfind("# Made again by agentlog at ", 0) == 0);
  CHECK(tracing_env.find("\nTRACING_AI_REQUIRE_APPROVAL=true") != std::string::npos);
  CHECK(tracing_env.find("TRACING_AI_REQUIRE_APPROVAL=false") == std::string::npos);
  agentlog::test::McpSession mcp(root.path());
  mcp.initialize();
  agentlog::test::write_text(root / "src/a.cpp", "int a() {\n  return 1;\n}\n");
  json parked = mcp.call_tool("instrument_file", {{"file", "src/a.cpp"}, {"level", 1}});
  CHECK(parked["isError"] == true);
  CHECK(parked["content"][0]["text"].get<std::string>().rfind("[policy.approval.required]", 0) == 0);
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", R}).exit_code == 0);
  const std::size_t records = audit_records(root).size();
  CHECK(agentlog::test::run_agentlog({"serve", "--root", R}, "").err.find("missing") == std::string::npos);
  CHECK(audit_records(root).size() == records);  // present again: nothing to say
}

// What a review of the hook found getting through (each verified to change a protected file when run), and
// everyday commands it used to block. The hook reads the shell as bash does: comments, here-docs,
// substitutions inside double quotes, `>&`, `<>`, braces with empty or nested alternatives, `cd` options,
// `$PWD`, nested shells and scripts, option values attached to short options, links followed by `..`.
TEST_CASE("the hook reads shell lines as bash does: what writes a protected file is blocked, reads pass") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const std::string R = root.path().string();
  fs::create_directory_symlink(root / ".ai-agents/logging/traces", root / "t");  // made by an earlier call
  agentlog::test::write_text(root / "cleanup.sh", "rm -rf .ai-agents/logging/audit\n");
  fs::create_directory(root / ".git");  // a repository: `$(git rev-parse --show-toplevel)` is the project
  agentlog::test::write_text(root / "src/a.json", "{}");
  fs::create_directories(root / "vendor/lib/.ai-agents/logging/config");  // another project's tree
  fs::create_directory_symlink(root / ".ai-agents/logging", root / "src/logs");
  agentlog::test::write_text(root / "paths.txt", ".ai-agents/logging/audit\n");  // lists xargs reads
  agentlog::test::write_text(root / "linked.txt", "src/logs/audit\n");
  agentlog::test::write_text(root / "build-list.txt", "build\ndist\n");
  auto hook = [&](const std::string& tool, const json& tool_input, const std::string& cwd) {
    json input = {{"session_id", "s"},
                  {"cwd", cwd},
                  {"hook_event_name", "PreToolUse"},
                  {"tool_name", tool},
                  {"tool_input", tool_input}};
    return agentlog::test::run_process({AGENTLOG_BINARY, "hook", "pre-tool-use"}, input.dump(), {},
                                       {{"CLAUDE_PROJECT_DIR", R}});
  };
  auto pre = [&](const std::string& cmd, const std::string& cwd) {
    return hook("Bash", {{"command", cmd}}, cwd);
  };
  const std::string env = ".ai-agents/logging/config/.env.tracing";
  const std::vector<std::string> blocked = {
      // Read-listed programs with options that write or run a program.
      "git log -1 --format=tformat:TRACING_AI_REQUIRE_APPROVAL=false --output=" + env,
      "git diff --no-index --output=" + env + " /tmp/a /tmp/b", "uniq /tmp/evil.env " + env,
      "sort --output=" + env + " /tmp/evil.env", "sort -uo " + env + " /tmp/evil.env", "rg --pre rm x " + env,
      "LESSOPEN='|rm %s' less " + env, "less -o " + env + " /etc/hostname",
      // Comments and here-docs no longer hide the lines after an apostrophe.
      "echo cleaning up # don't worry\nrm -rf .ai-agents/logging/config # it's fine",
      "cat > notes.txt <<EOF\ndon't\nEOF\nrm -rf .ai-agents/logging/audit\necho 'done'",
      "bash <<'EOF'\nrm -rf .ai-agents/logging/audit\nEOF",
      // Substitutions inside double quotes and backquotes, process substitutions.
      "echo \"$(rm -rf .ai-agents/logging/audit)\"", "echo `rm -rf .ai-agents/logging/config`",
      "x=\"$(rm -rf .ai-agents/logging/audit && echo ok)\"", "rm -rf $(find .ai-agents -name '*.env*')",
      "source <(echo 'rm -rf .ai-agents/logging/audit')", "tee >(cat > " + env + ") < /tmp/x",
      // Redirections into a file.
      "echo TRACING_AI_REQUIRE_APPROVAL=false >& " + env, "echo TRACING_AI_REQUIRE_APPROVAL=false >&" + env,
      "printf 'TRACING_AI_REQUIRE_APPROVAL=false\\n#' 1<> " + env,
      // Braces, variables, $PWD, cd's options.
      "rm -rf .ai-agents/logging/{traces,}", "rm -rf ${PWD}/.ai-agents/logging/{traces,config}",
      "rm -rf {x,{y,.ai-agents}}", "rm -rf \"$dir\"/logging/config",
      "cd -P .ai-agents/logging && rm -rf config", "cd -- .ai-agents/logging && rm -rf config audit",
      "cd .ai-agents/logging && rm -rf \"$PWD/audit\"", "cd \"$somewhere\" && rm -rf config",
      // Nested shells, scripts, interpreters, pipes into a shell.
      "bash -lc 'rm -rf .ai-agents/logging/config'", "sh -ec 'rm -rf .ai-agents/logging/audit'",
      "echo 'rm -rf .ai-agents/logging/config' | bash", "bash <<< 'rm -rf .ai-agents/logging/config'",
      "python3 -c 'import shutil; shutil.rmtree(\".ai-agents/logging/audit\")'", "bash cleanup.sh",
      "eval rm -rf .ai-agents/logging/audit",
      // Option values attached, links, functions, programs named like readers, ANSI-C quoting.
      "cp -t.claude /tmp/s/settings.json", "curl -so.ai-agents/logging/approvals/apr-00000001.json file:///x",
      "ln -s .ai-agents/logging/traces u && sed -i s/true/false/ u/../config/.env.t*",
      "sed -i s/true/false/ t/../config/.env.tracing", "rm -rf t/../audit",
      "cat() { command rm -rf \"$@\"; }; cat .ai-agents/logging/config",
      "/tmp/ls -rf .ai-agents/logging/config", "rm -rf $'\\x2eai-agents/logging/config'",
      "echo $'\\'' ; rm -rf .ai-agents/logging/config ; echo ''", "rm -rf \".ai-age\\\nnts/logging/config\"",
      "shopt -s dotglob; rm -rf */logging/config",
      "find . -path '*ai-agents*' -name config -exec rm -rf {} +", "find . -name '*.tracing' -delete",
      // The audit log's archives (an adversarial review of the rotation): by name, by path, in Python.
      "find . -name 'actions-*' -delete", "find . -name '*.jsonl.gz' -delete", "find . -name '*.gz' -delete",
      "find . -path '*audit/arch*' -delete",
      "python3 -c \"import shutil; shutil.rmtree('.ai-agents/logging/audit/archive/')\"",
      "rm .ai-agents/logging/audit/archive/actions-000000000001.jsonl.gz",
      // A variable holding a protected file's text (the audit log holds the agent's own), evaluated by
      // arithmetic, runs what an array subscript in it says; a count is a number.
      "x=$(tail -n 1 .ai-agents/logging/audit/actions.jsonl); echo $((x + 1))",
      "n=$(wc -l < .ai-agents/logging/audit/actions.jsonl) t=$(tail -n 1 .ai-agents/logging/audit/x.jsonl); "
      "echo $((t))",
      // The whole untracked tree with it.
      "git clean -fdx", "git clean -fdxq && make", "git stash -u", "git stash push --include-untracked",
      "git stash --all",
      // Found by a second review: keywords before the program, a script given to find -exec.
      "if true; then bash -c \"rm -rf .ai-agents/logging/audit\"; fi",
      "{ eval \"rm -rf .ai-agents/logging/audit\"; }",
      "find src -name '*.cpp' -exec sh -c 'x; rm -rf .ai-agents/logging/approvals' _ {} \\;",
      "nohup rm -rf .ai-agents/logging/config",
      // Found by a third look: the tree reached through the folders the hook now knows ($(pwd), the
      // repository's), find starting above a tree, sed and awk scripts that write or run a command.
      "cd \"$(git rev-parse --show-toplevel)\"/.ai-agents/logging && rm -rf audit",
      "cd \"$(pwd)/.ai-agents/logging\" && rm -rf config", "cd \"$(mktemp -d)\" && cd .. && rm -rf config",
      "find vendor -name config -exec rm -rf {} +", "find src/logs/ -name config -exec rm -rf {} +",
      "find -L src -name config -delete", "sed -n 's/a/b/w " + env + "' /etc/hostname",
      "sed 's/a/b/e' " + env, "sed -n '1e rm -rf .ai-agents/logging/audit' /etc/hostname",
      "sed -i -n p " + env, "awk '{system(\"rm \" FILENAME)}' " + env,
      "awk '{print $1, $2 > \"" + env + "\"}' /etc/hostname",
      // git's options that run a program; a script's text given to a program that is not a shell.
      "git -c core.pager='rm -rf .ai-agents/logging/audit' log -p " + env, "git --exec-path=/tmp log " + env,
      "flock /tmp/l -c 'rm -rf .ai-agents/logging/audit'",
      "python3.11 -c \"import shutil; shutil.rmtree('.ai-agents/logging/audit')\"",
      "git config alias.wipe '!rm -rf .ai-agents/logging/audit' && git wipe",
      "tar -xf t.tar --to-command='rm -rf .ai-agents/logging/audit'",
      "make -f - <<EOF\nall:\n\trm -rf .ai-agents/logging/audit\nEOF",
      // A script written by a here-doc, then run; backquotes and $(...) in an unquoted here-doc run.
      "cat <<'EOF' | bash\nrm -rf .ai-agents/logging/audit\nEOF",
      "cat > fix.sh <<'EOF'\nrm -rf .ai-agents/logging/audit\nEOF\nchmod +x fix.sh && ./fix.sh",
      "cat > fix.sh <<'EOF'\nrm -rf .ai-agents/logging/approvals\nEOF\nsource fix.sh",
      "cat > fix.sh <<'EOF'\nrm -rf .ai-agents/logging/approvals\nEOF\n. ./fix.sh",
      "cat > /tmp/fix.py <<'EOF'\nimport shutil\nshutil.rmtree('.ai-agents/logging/audit')\nEOF\n"
      "python3 /tmp/fix.py",
      "./cleanup.sh", "source cleanup.sh",
      "cat > docs/notes.md <<EOF\nTo reset: `rm -rf .ai-agents/logging/audit`\nEOF",
      "cat > docs/notes.md <<EOF\nreset: $(rm -rf .ai-agents/logging/config)\nEOF",
      // git clean and stash past git's own options, keeping a subfolder only, stashing everything.
      "git -C \"$CLAUDE_PROJECT_DIR\" clean -fdx", "git --no-pager clean -fd",
      "git clean -fdxq -e .ai-agents/logging/traces", "git stash -u -- .", "git stash push --all -- ':/'",
      "bash -c 'git clean -fdx'", "echo \"$(git stash -u)\"",
      // A cd in a subshell or a pipeline stays there; a link made through a glob; a pager, an
      // abbreviated --output, GLOBIGNORE (which makes * take dotfiles).
      "cd .ai-agents/logging && (cd traces && ls) && rm -rf audit",
      "cd .ai-agents/logging && cd traces | true && rm -rf audit",
      "ln -s .ai-age*/logging/traces T && rm -rf T/../audit", "export LESSOPEN='|rm %s'; less " + env,
      "LESSOPEN='|rm %s'; less " + env,  // (set alone: less sees it when it was exported already)
      "sort --out=" + env + " /etc/hostname", "git grep --no-index -Orm TRACING -- " + env,
      "GLOBIGNORE=x; rm -rf */logging/audit",
      // Loops over protected paths or a protected file's lines, whose body (or what follows) writes.
      "for f in .ai-agents/logging/config/.env.*; do sed -i s/true/false/ \"$f\"; done",
      "for f in .ai-agents/logging/config/.env.*; do echo x > \"$f\"; done",
      "for d in .ai-agents/logging/audit; do :; done; rm -rf \"$d\"",
      "for d in .ai-agents/logging/audit; do :; done; echo $(rm -rf \"$d\")",
      "while read -r l; do rm -rf \"$l\"; done <<< .ai-agents/logging/audit",
      // Through links already on disk (src/logs -> .ai-agents/logging), and code piped into a shell.
      "rm -rf src/logs/audit", "echo x > src/logs/config/.env.tracing", "cd src/logs && rm -rf approvals",
      "mv src/logs/config /tmp/c", "echo 'git clean -fdx' | bash", "printf 'git stash -u\\n' | sh",
      "cat <<'EOF' | bash\ngit clean -fdxq\nEOF",
      // Found by a third review: git clean -X removes what .gitignore keeps out (the protected files), and an
      // -e pattern adds to that; a pattern negated after; clean.requireForce off; a glob reaching the tree.
      "git clean -fdX", "git clean -fdX -e .ai-agents", "git clean -fdx -e .ai-agents -e '!.ai-agents'",
      "git -c clean.requireForce=false clean -dX", "git clean -fdx '*.json'",
      "git clean -fdX -- src .ai-agents",
      // Recursive listings into a writer (the audit log holds every word searched for), recursive writers
      // from a folder holding the tree, words xargs adds that make a reader write, find -prune with an
      // action.
      "grep -rl OldWidget . | xargs sed -i s/OldWidget/NewWidget/g", "sed -i s/a/b/ $(grep -rl OldWidget .)",
      "grep -rn OldWidget . | cut -d: -f1 | xargs sed -i s/a/b/", "rg --hidden -l foo | xargs sed -i s/a/b/",
      "git ls-files -o | xargs rm -f", "find . -type f -exec chmod 644 {} +", "chmod -R a+rX .",
      "chown -R nobody \"$CLAUDE_PROJECT_DIR\"", "find . -type d -empty -delete",
      "find . -type f -newer CMakeLists.txt -delete", "echo '-i " + env + "' | xargs sed s/true/false/",
      "echo " + env + " | xargs uniq /etc/hostname", "echo -delete | xargs find .ai-agents/logging/audit",
      "echo '-o" + env + "' | xargs sort /etc/hostname",
      "find .ai-agents/logging/audit -prune -exec rm -rf {} +",
      "find . -name .ai-agents -prune -exec rm -rf {} +", "find . -name logging -type d -exec rm -rf {} +",
      "find . -name 'apr-*' -delete", "find . -name '*.json' -exec uniq {} +",
      // git add -f tracks what .gitignore keeps out (a git stash can then put back an older copy); copying
      // into the tree, a hard link out of it; a command kept in a variable; awk's output redirections.
      "git add -f .ai-agents/logging/config/", "git add --force " + env, "cp /tmp/env.bak " + env,
      "cp -l " + env + " /tmp/x", "c='rm -rf .ai-agents/logging/audit'; $c",
      "c='rm -rf .ai-agents/logging/audit'; eval \"$c\"",
      "GIT_PAGER='rm -rf .ai-agents/logging/audit'; git log",
      "d=$(ls -d .ai-agents/logging/audit); rm -rf \"$d\"", "awk '{print $1 > \"x\"}' " + env,
      "awk '{print | \"sh\"}' " + env, "awk 'NR>1 {print > $1}' " + env,
      // What the parser missed: a substitution in ${...}, a pipe at the end of a here-doc's line, a quoted
      // delimiter, a case pattern's `)`, a group's output piped on, cd ~- and CDPATH.
      "echo ${x:-$(rm -rf .ai-agents/logging/audit)}", "echo \"${x:-`rm -rf .ai-agents/logging/audit`}\"",
      "cat <<'EOF' |\nrm -rf .ai-agents/logging/audit\nEOF\nbash",
      "cat <<'EOF' |\ngit clean -fdxq\nEOF\nbash", "cat <<\"E F\"\nx\"\nE F\nrm -rf .ai-agents/logging/audit",
      "cat <<E\\ F\nx\"\nE F\nrm -rf .ai-agents/logging/audit",
      "cd .ai-agents/logging; case y in y) true;; esac; (cd /tmp); rm -rf audit",
      "{ ls .ai-agents/logging/config/.env.*; } | xargs rm -f",
      "(ls .ai-agents/logging/config/.env.*) | xargs rm -f",
      "for f in .ai-agents/logging/config/.env.*; do echo \"$f\"; done | xargs rm -f",
      "{ echo 'rm -rf .ai-agents/logging/audit'; } | bash",
      "{ ls .ai-agents/logging/config; echo; } | xargs rm -rf",
      "cd .ai-agents/logging && cd /tmp && cd ~- && rm -rf audit",
      "CDPATH=.:.ai-agents/logging cd audit && rm -f ./*", "pushd .ai-agents/logging && rm -rf audit",
      "pushd .ai-agents/logging && pushd /tmp && popd && rm -rf config", "xxd -r /tmp/hex " + env,
      // git aliases, stash pathspecs the hook now places, find given an action it cannot read.
      "git config alias.nuke 'clean -fdx' && git nuke", "git -c alias.x='!git clean -fdx' x",
      "git stash -a -- \"$CLAUDE_PROJECT_DIR\"", "git stash --all -- ':(icase).AI-AGENTS'",
      "find .ai-agents/logging/audit -type f $(echo -delete)",
      // Where the line goes: PWD set, a repository made on the way, links followed by cd -P; arithmetic
      // runs what an array's subscript holds.
      "cd .ai-agents/logging && cd /tmp && PWD=$OLDPWD && rm -rf \"$PWD/audit\"",
      "cd .ai-agents/logging && git init -q && cd \"$(git rev-parse --show-toplevel)\" && rm -rf audit",
      "cd -P src/logs/.. && rm -rf logging/audit", "x='a[$(rm -rf .ai-agents/logging/audit)]'; echo $((x))",
      // Review 3's leftovers. Arithmetic runs the `$(...)` in an array subscript of what it evaluates, so a
      // read of a protected file there must print a count (the audit log holds the agent's own text).
      "echo $(( $(tail -1 .ai-agents/logging/audit/actions.jsonl | jq -r .tool) + 1 ))",
      "(( $(tail -1 .ai-agents/logging/audit/actions.jsonl) ))",
      "x='a[$(rm -rf .ai-agents/logging/audit)]'; (( x ))",
      // xargs taking its words from a file: one the line wrote from the tree, one that names it.
      "ls .ai-agents/logging/config/.env.* > /tmp/l && xargs rm -f < /tmp/l",
      "grep -rl OldWidget . > l.txt; xargs sed -i s/a/b/ < l.txt", "xargs rm -rf < paths.txt",
      "xargs -a paths.txt rm -rf", "xargs --arg-file=paths.txt rm -rf", "xargs rm -rf < linked.txt",
      // A file the line writes, then runs through make, BASH_ENV, python -m / import, a git hook.
      "cat > Makefile <<'EOF'\nwipe:\n\trm -rf .ai-agents/logging/audit\nEOF\nmake wipe",
      "cat > x.mk <<'EOF'\nall:\n\trm -rf .ai-agents/logging/audit\nEOF\nmake -f x.mk",
      "cat > /tmp/x.sh <<'EOF'\nrm -rf .ai-agents/logging/audit\nEOF\nBASH_ENV=/tmp/x.sh bash -c true",
      "BASH_ENV=cleanup.sh bash -c true", "export BASH_ENV=cleanup.sh; bash -c 'make test'",
      "cat > fix.py <<'EOF'\nimport shutil\nshutil.rmtree('.ai-agents/logging/audit')\nEOF\npython3 -m fix",
      "cat > fix.py <<'EOF'\nimport shutil\nshutil.rmtree('.ai-agents/logging/audit')\nEOF\n"
      "python3 -c 'import sys, fix'",
      "cat > .git/hooks/pre-commit <<'EOF'\n#!/bin/sh\nrm -rf .ai-agents/logging/audit\nEOF\n"
      "chmod +x .git/hooks/pre-commit && git commit -qm x",
      "cp /tmp/hook .git/hooks/ && git commit -m 'Read .env.tracing once'",
      // What a loop's variable or a piped `read` holds is a protected path or line: a write of it.
      "for f in .ai-agents/logging/audit/*.jsonl; do echo \"$f: $(rm \"$f\")\"; done",
      "cat .ai-agents/logging/audit/actions.jsonl | while read -r l; do rm -f \"$l\"; done",
      "export X=.ai-agents/logging/audit; rm -rf $X",
      // Python given a protected file's lines: code that reaches a file or a program is no read.
      "cat " + env + " | python3 -c 'import sys; sys.modules[\"os\"].system(\"rm -rf .ai-agents\")'",
      "cat " + env + " | python3 -c 'import json; json.codecs.open(\".ai-agents/x\", \"w\")'",
      "cat " + env + " | python3 -c '\xef\xbd\x8f\xef\xbd\x90\xef\xbd\x85\xef\xbd\x8e(\"x\", \"w\")'",
      "cat " + env + " | python3 -c 'import sys; sys.breakpointhook()'",
      // A list on disk printed into xargs; the settings an administrator manages (they can turn hooks off).
      "cat paths.txt | xargs rm -rf", "sort -u linked.txt | xargs rm -rf",
      "echo '{\"disableAllHooks\": true}' > /etc/claude-code/managed-settings.json"};
  for (const auto& cmd : blocked) {
    CAPTURE(cmd);
    auto r = pre(cmd, R);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("agentlog: blocked: ") == 0);
  }
  CHECK(pre("rm -rf config", R + "/.ai-agents/logging").exit_code == 2);  // in the folder already
  CHECK(hook("Write", {{"file_path", "/etc/claude-code/managed-settings.json"}, {"content", "{}"}}, R)
            .exit_code == 2);
  CHECK(pre("rm -rf \"$PWD/config\"", R + "/.ai-agents/logging").exit_code == 2);
  CHECK(pre("git clean -fdx", R).err.find("-e .ai-agents") != std::string::npos);  // says what to do
  CHECK(pre("git stash -u", R).err.find("git stash push -u -- src/") != std::string::npos);
  CHECK(pre("git clean -fdX", R).err.find("':!.ai-agents'") != std::string::npos);  // -e would not keep it
  CHECK(pre("git clean -fdX", R).err.find("-e .ai-agents") == std::string::npos);
  CHECK(pre("grep -rl x . | xargs sed -i s/x/y/", R).err.find("--exclude-dir=.ai-agents") !=
        std::string::npos);
  CHECK(pre("find . -type d -empty -delete", R).err.find("-path ./.ai-agents -prune") != std::string::npos);
  CHECK(pre("cat > notes.md <<EOF\nrun `rm -rf .ai-agents/logging/audit`\nEOF", R).err.find("(<<'EOF')") !=
        std::string::npos);  // says why text in a here-doc is code
  // The repository's folder from a subfolder: the project, where the tree is and where `.env` is the agent's.
  CHECK(pre("cd \"$(git rev-parse --show-toplevel)\" && rm -rf .ai-agents/logging/audit", R + "/src")
            .exit_code == 2);
  CHECK(pre("cd \"$(git rev-parse --show-toplevel)\" && cp .env.example .env", R + "/src").exit_code == 0);
  // Input the hook took seconds over or crashed on (Claude Code runs the tool on any status but 2): 28 brace
  // groups in a word, 14,000 nested $(.
  std::string braces = "echo x", nested = "rm -rf x; echo ";
  for (int i = 0; i < 28; ++i) braces += "{a,b}";
  for (int i = 0; i < 14000; ++i) nested += "$(";
  nested += std::string(14000, ')');
  // (and 100,000 `{ ` or `x=1 ` before a program: they were taken off the front one at a time)
  std::string keywords, assignments;
  for (int i = 0; i < 100000; ++i) keywords += "{ ", assignments += "x=1 ";
  keywords += "ls", assignments += "ls";
  for (const std::string& odd : {braces, nested, keywords, assignments}) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = pre(odd, R);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
    CHECK((r.exit_code == 0 || r.exit_code == 2));
    CHECK(r.err.find("could not decide") == std::string::npos);  // decided, not by the safety net
  }

  const std::vector<std::string> pass = {
      "git commit -m \"Fix parsing of .env.tracing comments\"",
      "git commit -m \"$(cat <<'EOF'\nRead .env.tracing once; don't re-read it\n\nCo-Authored-By: "
      "x\nEOF\n)\"",
      "cat > docs/setup.md <<'EOF'\nEdit .ai-agents/logging/config/.env.tracing by hand.\nEOF",
      "make build # config lives in .ai-agents/logging/config",
      "ls .ai-agents/logging/config && echo \"checked at $(date)\"",
      "diff <(sort " + env + ") <(sort /tmp/other.env)",
      "grep -c . .ai-agents/logging/audit/actions.jsonl | tee /tmp/count", "time cat " + env, "md5sum " + env,
      "mkdir -p .claude", "git add .ai-agents",
      "grep -rl foo . --exclude-dir=.ai-agents | xargs sed -i s/foo/bar/",
      "find . -path ./.ai-agents -prune -o -name '*.cpp' -exec clang-format -i {} +",
      "rsync -a --exclude=.ai-agents ./ /tmp/copy/", "git clean -fdx -e .ai-agents", "git clean -n",
      "git stash", "git stash push -u -- src/", "git stash pop", "echo \"-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=\"",
      "rm -rf \"$BUILD_DIR\"/*", "rm -rf \"$tmp\"", "cd \"$(mktemp -d)\" && git init .",
      "LC_ALL=C grep -c x " + env, "echo \"it's $HOME\" > notes.txt", "bash -c 'make test'",
      "agentlog approvals list; agentlog audit list",
      // Found by a third look: everyday commands that were blocked. A cd the hook follows (to the
      // repository's folder) or that cannot lead into the tree; its config and .env are the agent's.
      "cd \"$(git rev-parse --show-toplevel)\" && cp .env.example .env && rm -rf config audit",
      "cd \"$(mktemp -d)\" && git init -q && echo \"{}\" > config",
      "cd \"$REPO_DIR\" && cp .env.example .env", "cd \"$(pwd)\" && rm -rf build",
      // find starting where no tree lies; messages; git's own options; xargs running a reader.
      "find src -name '*.json' -exec jq . {} +", "find build -name '*.json' -delete",
      "find tests -type d -name config -exec rm -rf {} +", "find src -regex '.*\\.json' -delete",
      "gh pr create --title \"Fix .env.tracing parsing\" --body \"Fixes #12\"",
      "gh issue create -t \"Document .env.logging\" -b \"see .ai-agents/logging/README.md\"",
      "git stash push -m \"tweak .env.tracing handling\"",
      "git merge --no-ff feature -m \"Merge: .env.tracing defaults\"",
      "git commit -am \"Fix .env.tracing parsing\"", "X=1; grep -c x " + env,
      "git commit -m \"Say to run git clean -fdx -e .ai-agents, not git clean -fdx\"",
      "git notes add -m \"reads .env.tracing\"", "git commit -F - <<'EOF'\nRead .env.tracing once\nEOF",
      "git --no-pager diff " + env, "git -C .ai-agents log --oneline", "git -c color.ui=always log -p " + env,
      "ls .ai-agents/logging/config | xargs -I{} echo {}",
      "ls .ai-agents/logging/config | xargs -n1 basename",
      // sed and awk scripts that only print.
      "sed -n 'p' " + env, "sed -n '/LEVEL/p' " + env, "sed -n '2,5p' " + env, "sed 's/=.*//' " + env,
      "awk '{print}' " + env, "awk -F= '{print $1, $2}' " + env, "awk 'NR==1' " + env,
      "grep --text LEVEL " + env,
      // Scripts and here-docs that do not touch the tree; a cd in a subshell ends with it.
      "cat > t.sh <<'EOF'\nmake test\nEOF\nchmod +x t.sh && ./t.sh", "./configure && make",
      "cat > docs/notes.md <<EOF\nBuilt on $(date) by `whoami`\nEOF",
      "(cd .ai-agents/logging && ls) && rm -rf config",
      // Loops that only read.
      "for f in .ai-agents/logging/config/.env.*; do echo \"== $f\"; cat \"$f\"; done",
      "while read -r line; do echo \"$line\"; done < " + env, "rm -rf src/logs/traces/2026-01-01",
      "echo 'git status' | bash", "echo 'git clean -fdx' > notes.txt",
      // Found by a third review: git clean that cannot reach the tree; recursive work that leaves it out.
      "git clean -fdx build/", "git clean -fdX -- . ':!.ai-agents'", "git clean -fdX build",
      "git clean -fdx -- src tests", "git clean -fdx .ai-agents/logging/traces",
      "git grep -l OldWidget | xargs sed -i s/OldWidget/NewWidget/g", "grep -rn OldWidget .",
      "grep -rl foo src | xargs sed -i s/foo/bar/",
      "find . -path ./.ai-agents -prune -o -type d -empty -delete",
      "find . -path ./.ai-agents -prune -o -type f -exec chmod 644 {} +", "chmod -R a+rX src",
      "find . -name '*.cpp' -exec clang-format -i {} +", "ls .ai-agents/logging/config | xargs cat",
      // Everyday reads that were blocked: a variable set from a read, [[ ]], json.tool, awk's comparisons,
      // find -exec running a reader, a copy out of the tree, git's plumbing.
      "LEVEL=$(grep -o 'LEVEL=.*' " + env + " | cut -d= -f2); echo \"$LEVEL\"",
      "count=$(wc -l < .ai-agents/logging/audit/actions.jsonl); echo \"$count records\"",
      "[[ -f " + env + " ]] && echo present", "python3 -m json.tool .ai-agents/logging/audit/head.json",
      "awk 'NR>1' .ai-agents/logging/audit/actions.jsonl", "awk -F= '$2 > 0 {print $1}' " + env,
      "awk '/LEVEL|ENABLED/' " + env, "awk 'length > 200 || NR == 1' .ai-agents/logging/audit/actions.jsonl",
      "find . -name '*.json' -not -path './node_modules/*' -exec jq empty {} +",
      "cp " + env + " /tmp/env.bak", "git ls-tree HEAD .ai-agents/",
      "git rev-list --count HEAD -- .ai-agents", "if [ -f " + env + " ]; then make build; fi",
      "{ ls .ai-agents/logging/config; } | wc -l", "echo \"${x:-default}\" ${HOME}/x", "cd ~ && ls",
      "cat <<'EOF' |\nmake test\nEOF\nbash", "set -a; source " + env + "; set +a",
      "pushd .ai-agents/logging >/dev/null && ls && popd >/dev/null",
      "xxd .ai-agents/logging/audit/actions.jsonl | head", "echo $((1 + 2))", "cd -P src && ls",
      // Review 3's leftovers: arithmetic over a count of a protected file, xargs given a list that names
      // none of them, scripts that do not touch the tree, loops and `read` that only read, an export.
      "echo $(( $(wc -l < .ai-agents/logging/audit/actions.jsonl) + 1 ))",
      "n=$(( $(grep -c tool .ai-agents/logging/audit/actions.jsonl) * 2 )); echo \"$n\"",
      "(( $(wc -l < .ai-agents/logging/audit/actions.jsonl) > 100 )) && echo big",
      "count=$(wc -l < .ai-agents/logging/audit/actions.jsonl); echo $((count + 1))",
      "for i in 1 2 3; do echo $((i * 2)); done", "xargs rm -rf < build-list.txt",
      "xargs -a build-list.txt rm -rf", "grep -rl OldWidget src > l.txt; xargs sed -i s/a/b/ < l.txt",
      "cat > Makefile <<'EOF'\nall:\n\techo hi\nEOF\nmake", "make -C build", "python3 -m pytest -q",
      "python3 -c 'import sys, json; print(1)'", "BASH_ENV=/dev/null bash -c 'make test'",
      "cat > .git/hooks/pre-commit <<'EOF'\nmake lint\nEOF\ngit commit -m x",
      "for f in .ai-agents/logging/audit/*.jsonl; do echo \"$f: $(wc -l < \"$f\")\"; done",
      "cat .ai-agents/logging/audit/actions.jsonl | while read -r l; do echo \"$l\" | jq -r .tool; done",
      "export $(grep -v '^#' " + env + " | xargs)",
      "tail -n 5 .ai-agents/logging/audit/actions.jsonl | python3 -c 'import sys, json; "
      "[print(json.loads(l)[\"tool\"]) for l in sys.stdin]'",
      "cat build-list.txt | xargs rm -rf", "cat paths.txt | xargs cat",
      "cat /etc/claude-code/managed-settings.json",
      // The audit log's archives are read as the log is.
      "ls -la .ai-agents/logging/audit/archive",
      "zcat .ai-agents/logging/audit/archive/actions-000000000001.jsonl.gz | tail -n 3",
      "find . -name '*.gz' -newer CMakeLists.txt"};
  for (const auto& cmd : pass) {
    CAPTURE(cmd);
    auto r = pre(cmd, R);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
  }

  // Other MCP servers' tools (the matcher `init --claude` installs takes mcp__.*): their path arguments as an
  // editor's, their commands as the Bash tool's; reads, contents and agentlog's own server pass.
  auto tool = [&](const std::string& name, const json& args) { return hook(name, args, R).exit_code; };
  CHECK(tool("mcp__filesystem__write_file", {{"path", env}, {"content", "TRACING_ENABLED=false"}}) == 2);
  CHECK(tool("mcp__filesystem__move_file",
             {{"source", "/tmp/s.json"}, {"destination", ".claude/settings.json"}}) == 2);
  CHECK(tool("mcp__fs__editFile",
             {{"edits", {{{"filePath", R + "/.ai-agents/logging/audit/actions.jsonl"}}}}}) == 2);
  CHECK(tool("mcp__desktop-commander__execute_command", {{"command", "rm -rf .ai-agents/logging/audit"}}) ==
        2);
  CHECK(tool("mcp__filesystem__set_target", {{"path", env}}) == 2);  // "target" is not "get"
  CHECK(tool("mcp__filesystem__read_file", {{"path", env}}) == 0);
  // Code in another language, a process's input, a command's arguments given apart.
  const std::string audit = ".ai-agents/logging/audit";
  CHECK(tool("mcp__ide__executeCode", {{"code", "import shutil; shutil.rmtree('" + audit + "')"}}) == 2);
  CHECK(tool("mcp__desktop-commander__interact_with_process", {{"input", "rm -rf " + audit}}) == 2);
  CHECK(tool("mcp__shell__run_command", {{"command", "rm"}, {"args", {"-rf", audit}}}) == 2);
  CHECK(tool("mcp__jupyter__execute_code", {{"code", "print(1 + 1)"}}) == 0);
  CHECK(tool("mcp__filesystem__write_file",
             {{"path", "docs/a.md"}, {"content", "edit .env.tracing by hand"}}) == 0);
  CHECK(tool("mcp__desktop-commander__execute_command", {{"command", "cat " + env}}) == 0);
  CHECK(tool("mcp__openmemory-code-global__log_event",
             {{"message", "changed .env.tracing"}, {"file", env}}) == 0);
}
