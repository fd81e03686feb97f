// Approvals: with TRACING_AI_REQUIRE_APPROVAL=true a gated call is parked, the human approves or denies it
// with `agentlog approvals`, the retry with the id (or the same call again) runs once; mismatches, reuse,
// expiry and bad ids are refused clearly; MCP elicitation asks the human in the client; the agent cannot
// approve itself through the Bash hook nor in its shell, where `agentlog instrument|uninstrument` pass its
// policy. Everything is audited.
#include <doctest/doctest.h>
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audit_records.hpp"
#include "policy/approvals.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::McpSession;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kSource = "int add(int a, int b) {\n  return a + b;\n}\n";

void make_project(const TempDir& root) {
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path env = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(
      env, agentlog::test::read_text(env) +
               "\nTRACING_ALLOW_AI_INSTRUMENTATION=true\nTRACING_AI_REQUIRE_APPROVAL=true\n");
  fs::create_directories(root / "src");
  agentlog::test::write_text(root / "src/a.cpp", kSource);
  agentlog::test::write_text(root / "src/b.cpp", kSource);
}

std::string text_of(const json& result) { return result["content"][0]["text"].get<std::string>(); }

// The approval id named in a parked result.
std::string approval_id(const json& result) {
  const std::string t = text_of(result);
  auto at = t.find("apr-");
  REQUIRE(at != std::string::npos);
  return t.substr(at, 12);
}

// Claude Code sets CLAUDECODE=1 in the commands its Bash tool runs; the human's terminal has none.
const std::map<std::string, std::string> kHumanShell = {};
const std::map<std::string, std::string> kAgentShell = {{"CLAUDECODE", "1"}};

// `agentlog <args...> --root ROOT`, in the human's terminal or the agent's shell.
agentlog::test::ProcessResult agentlog_in(const std::map<std::string, std::string>& shell,
                                          const TempDir& root, std::vector<std::string> args) {
  args.insert(args.begin(), AGENTLOG_BINARY);
  args.push_back("--root");
  args.push_back(root.path().string());
  return agentlog::test::run_process(args, "", {}, shell);
}

agentlog::test::ProcessResult approvals(const TempDir& root, std::vector<std::string> args) {
  args.insert(args.begin(), "approvals");
  return agentlog_in(kHumanShell, root, args);
}

void set_tracing(const TempDir& root, const std::string& lines) {
  const fs::path env = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\n" + lines + "\n");
}

}  // namespace

TEST_CASE("a gated call is parked; the human approves; the retry with the id runs once") {
  TempDir root;
  make_project(root);
  McpSession mcp(root.path());
  mcp.initialize();
  const json args = {{"file", "src/a.cpp"}, {"level", 2}};
  json parked = mcp.call_tool("instrument_file", args);
  REQUIRE(parked["isError"] == true);
  CHECK(text_of(parked).rfind("[policy.approval.required]", 0) == 0);
  CHECK(text_of(parked).find("agentlog approvals approve apr-") != std::string::npos);
  const std::string id = approval_id(parked);
  CHECK(agentlog::test::read_text(root / "src/a.cpp") == kSource);   // nothing was done
  CHECK(approval_id(mcp.call_tool("instrument_file", args)) == id);  // the same call: the same approval

  auto listed = approvals(root, {"list", "--json"});
  REQUIRE(listed.exit_code == 0);
  json list = json::parse(listed.out);
  REQUIRE(list.size() == 1);
  CHECK(list[0]["id"] == id);
  CHECK(list[0]["status"] == "pending");
  CHECK(list[0]["tool"] == "instrument_file");

  json with_id = args;
  with_id["approvalId"] = id;
  CHECK(text_of(mcp.call_tool("instrument_file", with_id)).rfind("[policy.approval.required]", 0) ==
        0);  // still pending

  auto ok = approvals(root, {"approve", id, "--reason", "looks fine"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("Approved " + id) != std::string::npos);
  json ran = mcp.call_tool("instrument_file", with_id);
  CHECK_MESSAGE(ran["isError"] == false, ran.dump());
  CHECK(agentlog::test::read_text(root / "src/a.cpp").find("AGENTLOG_SPAN") != std::string::npos);
  json again = mcp.call_tool("instrument_file", with_id);
  CHECK(text_of(again).rfind("[policy.approval.used]", 0) == 0);

  auto records = audit_records(root);
  int parked_n = 0, allowed_with_id = 0, human = 0;
  for (const auto& r : records) {
    if (r["decision"] == "parked" && r.value("approvalId", "") == id) ++parked_n;
    if (r["decision"] == "allowed" && r["tool"] == "instrument_file" && r.value("approvalId", "") == id)
      ++allowed_with_id;
    if (r["tool"] == "approvals.approve" && r["arguments"]["approvalId"] == id) ++human;
  }
  CHECK(parked_n == 3);
  CHECK(allowed_with_id == 1);
  CHECK(human == 1);
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()}).exit_code == 0);
}

TEST_CASE(
    "after approval the same call without the id runs; deny, mismatch, unknown and bad ids are refused") {
  TempDir root;
  make_project(root);
  McpSession mcp(root.path());
  mcp.initialize();
  const json a = {{"file", "src/a.cpp"}, {"level", 1}};
  const json b = {{"file", "src/b.cpp"}, {"level", 1}};
  const std::string id_a = approval_id(mcp.call_tool("instrument_file", a));
  const std::string id_b = approval_id(mcp.call_tool("instrument_file", b));
  CHECK(id_a != id_b);
  REQUIRE(approvals(root, {"approve", id_a}).exit_code == 0);
  json mismatch = b;
  mismatch["approvalId"] = id_a;
  CHECK(text_of(mcp.call_tool("instrument_file", mismatch)).rfind("[policy.approval.mismatch]", 0) == 0);
  CHECK(mcp.call_tool("instrument_file", a)["isError"] == false);  // "the next call proceeds"

  REQUIRE(approvals(root, {"deny", id_b, "--reason", "not this file"}).exit_code == 0);
  json denied = mcp.call_tool("instrument_file", b);
  CHECK(text_of(denied).rfind("[policy.approval.required]", 0) ==
        0);  // a new request: the old one was denied
  json denied_retry = b;
  denied_retry["approvalId"] = id_b;
  json d = mcp.call_tool("instrument_file", denied_retry);
  CHECK(text_of(d).rfind("[policy.approval.denied]", 0) == 0);
  CHECK(text_of(d).find("not this file") != std::string::npos);
  CHECK(agentlog::test::read_text(root / "src/b.cpp") == kSource);

  json unknown = a;
  unknown["approvalId"] = "apr-00000000";
  CHECK(text_of(mcp.call_tool("instrument_file", unknown)).rfind("[policy.approval.unknown]", 0) == 0);
  json malformed = a;
  malformed["approvalId"] = "please";
  CHECK(text_of(mcp.call_tool("instrument_file", malformed)).rfind("[tool.invalid_arguments]", 0) ==
        0);  // never parked

  auto twice = approvals(root, {"approve", id_b});
  CHECK(twice.exit_code == 1);
  CHECK(twice.err.find("denied, not pending") != std::string::npos);
  auto bad = approvals(root, {"approve", "42"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("approvals list") != std::string::npos);
  CHECK(approvals(root, {"deny", "apr-12345678"}).err.find("No approval apr-12345678") != std::string::npos);

  // Ungated tools and reads are not parked.
  CHECK(mcp.call_tool("log_event", {{"message", "hello"}})["isError"] == false);
  CHECK(mcp.call_tool("find_slow_traces", json::object())["isError"] == false);
}

TEST_CASE("approvals expire: a pending one after the TTL, an approved one a TTL after its approval") {
  TempDir dir;
  agentlog::policy::ApprovalStore store(dir.path());
  const json args = {{"file", "src/a.cpp"}};
  const std::int64_t t0 = 1'800'000'000'000;
  auto c = store.check("instrument_file", args, args, "", "agent", "s", 10, t0);
  REQUIRE(c.kind == agentlog::policy::ApprovalCheck::Kind::kPending);
  const std::string id = c.approval.id;
  CHECK_THROWS_WITH_AS(store.decide(id, true, "", "human", t0 + 10 * 60'000), doctest::Contains("expired"),
                       agentlog::policy::ApprovalError);
  auto again = store.check("instrument_file", args, args, id, "agent", "s", 10, t0 + 11 * 60'000);
  CHECK(again.kind == agentlog::policy::ApprovalCheck::Kind::kExpired);
  // Approved late: still a full TTL to use it.
  auto c2 = store.check("instrument_file", args, args, "", "agent", "s", 10, t0);
  auto approved = store.decide(c2.approval.id, true, "", "human", t0 + 9 * 60'000);
  CHECK(approved.expires_ms == t0 + 19 * 60'000);
  CHECK(store.check("instrument_file", args, args, c2.approval.id, "agent", "s", 10, t0 + 18 * 60'000).kind ==
        agentlog::policy::ApprovalCheck::Kind::kProceed);
  // Ended approvals stay 30 days, then leave the folder; a pending one stays until it expires.
  const std::int64_t day = 24LL * 3600 * 1000;
  auto pending = store.check("uninstrument_file", args, args, "", "agent", "s", 60 * 24 * 40, t0 + 20 * day);
  CHECK(store.list(t0 + 29 * day).size() == 3);
  CHECK(fs::exists(dir / (id + ".json")));
  CHECK(store.list(t0 + 31 * day).size() == 1);
  CHECK_FALSE(fs::exists(dir / (id + ".json")));
  CHECK_FALSE(fs::exists(dir / (c2.approval.id + ".json")));
  CHECK(store.list(t0 + 31 * day)[0].id == pending.approval.id);
  CHECK(store.check("instrument_file", args, args, id, "agent", "s", 10, t0 + 31 * day).kind ==
        agentlog::policy::ApprovalCheck::Kind::kUnknown);
}

TEST_CASE(
    "with the elicitation capability the human is asked in the client; yes runs the call at once, no "
    "refuses") {
  TempDir root;
  make_project(root);
  McpSession mcp(root.path());
  mcp.send({{"jsonrpc", "2.0"},
            {"id", 1},
            {"method", "initialize"},
            {"params",
             {{"protocolVersion", "2025-11-25"},
              {"capabilities", {{"elicitation", json::object()}}},
              {"clientInfo", {{"name", "elicit-client"}, {"version", "1"}}}}}});
  REQUIRE(mcp.read());
  mcp.send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  auto answer_with = [&](int call_id, const json& args, const json& reply) {
    mcp.send({{"jsonrpc", "2.0"},
              {"id", call_id},
              {"method", "tools/call"},
              {"params", {{"name", "instrument_file"}, {"arguments", args}}}});
    auto ask = mcp.read();
    REQUIRE(ask);
    REQUIRE((*ask)["method"] == "elicitation/create");
    CHECK((*ask)["params"]["message"].get<std::string>().find("instrument_file") != std::string::npos);
    CHECK((*ask)["params"]["requestedSchema"]["properties"].contains("approve"));
    mcp.send({{"jsonrpc", "2.0"}, {"id", (*ask)["id"]}, {"result", reply}});
    auto result = mcp.read();
    REQUIRE(result);
    REQUIRE((*result)["id"] == call_id);
    return (*result)["result"];
  };
  json yes = answer_with(2, {{"file", "src/a.cpp"}, {"level", 1}},
                         {{"action", "accept"}, {"content", {{"approve", true}}}});
  CHECK(yes["isError"] == false);
  CHECK(agentlog::test::read_text(root / "src/a.cpp").find("AGENTLOG_SPAN") != std::string::npos);
  json no = answer_with(3, {{"file", "src/b.cpp"}, {"level", 1}},
                        {{"action", "accept"}, {"content", {{"approve", false}, {"reason", "not now"}}}});
  CHECK(no["content"][0]["text"].get<std::string>().rfind("[policy.approval.denied]", 0) == 0);
  CHECK(agentlog::test::read_text(root / "src/b.cpp") == kSource);
  json later = answer_with(4, {{"file", "src/b.cpp"}, {"level", 2}}, {{"action", "cancel"}});
  CHECK(later["content"][0]["text"].get<std::string>().rfind("[policy.approval.required]", 0) ==
        0);  // left for the CLI
  json list = json::parse(approvals(root, {"list", "--all", "--json"}).out);
  int by_elicitation = 0;
  for (const auto& a : list) by_elicitation += a.value("decidedBy", "") == "elicitation:elicit-client";
  CHECK(by_elicitation == 2);
  std::map<std::string, int> decisions;  // and in the audit log, as the CLI's decisions are
  for (const auto& r : audit_records(root))
    if (r["agent"]["name"] == "elicitation:elicit-client") ++decisions[r["tool"].get<std::string>()];
  CHECK(decisions == std::map<std::string, int>{{"approvals.approve", 1}, {"approvals.deny", 1}});
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()}).exit_code == 0);
}

TEST_CASE("the agent cannot approve itself: the Bash hook blocks agentlog approvals approve|deny") {
  TempDir root;
  make_project(root);
  for (const char* cmd :
       {"agentlog approvals approve apr-12345678", "./build/agentlog approvals   deny apr-1 --reason x",
        "cd /tmp && agentlog approvals approve apr-abcdef12",
        // After a listing, behind a program word the hook cannot name, in a comment's shadow, in a script.
        "agentlog approvals list; CLAUDECODE= agentlog approvals approve apr-d68ff341",
        "agentlog approvals list && agentlog approvals approve apr-d68ff341",
        "$(which agentlog) approvals approve apr-1", "\"$(command -v agentlog)\" approvals approve apr-1",
        "A=agentlog; $A approvals approve apr-1", "# let's ask\nCLAUDECODE= agentlog approvals approve apr-1",
        "bash -lc 'agentlog approvals approve apr-1'",
        "env -u CLAUDECODE \"$(command -v agentlog)\" approvals appr\"\"ove apr-1"}) {
    CAPTURE(cmd);
    json input = {{"session_id", "s"},
                  {"cwd", root.path().string()},
                  {"hook_event_name", "PreToolUse"},
                  {"tool_name", "Bash"},
                  {"tool_input", {{"command", cmd}}}};
    auto r =
        agentlog::test::run_agentlog({"hook", "pre-tool-use", "--root", root.path().string()}, input.dump());
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("only the human approves") != std::string::npos);
  }
  json list_input = {{"session_id", "s"},
                     {"cwd", root.path().string()},
                     {"hook_event_name", "PreToolUse"},
                     {"tool_name", "Bash"},
                     {"tool_input", {{"command", "agentlog approvals list"}}}};
  CHECK(agentlog::test::run_agentlog({"hook", "pre-tool-use", "--root", root.path().string()},
                                     list_input.dump())
            .exit_code == 0);
}

TEST_CASE(
    "in the agent's shell approvals approve is refused and audited, deny is the agent's; a decision is the "
    "login user's, not $USER's; list --all tells who decided apart from the use") {
  TempDir root;
  make_project(root);
  McpSession mcp(root.path());
  mcp.initialize();
  const json a = {{"file", "src/a.cpp"}, {"level", 1}};
  const std::string id = approval_id(mcp.call_tool("instrument_file", a));

  auto refused = agentlog_in(kAgentShell, root, {"approvals", "approve", id});
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("approvals are the human's") != std::string::npos);
  CHECK(refused.err.find("in their own terminal") != std::string::npos);
  CHECK(json::parse(approvals(root, {"list", "--json"}).out)[0]["status"] == "pending");
  int refusals = 0;
  for (const auto& r : audit_records(root))
    refusals +=
        r["tool"] == "approvals.approve" && r["decision"] == "denied" && r["agent"]["name"] == "claude-code";
  CHECK(refusals == 1);
  // CLAUDECODE set but empty (`CLAUDECODE= agentlog approvals approve ...`) is the agent's shell still.
  CHECK(agentlog_in({{"CLAUDECODE", ""}}, root, {"approvals", "approve", id}).exit_code == 1);
  CHECK(json::parse(approvals(root, {"list", "--json"}).out)[0]["status"] == "pending");
  // Taken out of the environment on the way (Claude Code's shell runs the command and more after it, so the
  // shell stays its parent): the shell still started with it.
  for (const char* clear : {"env -u CLAUDECODE", "env -i PATH=/usr/bin:/bin"}) {
    auto r = agentlog::test::run_process(
        {"/bin/sh", "-c", std::string(clear) + " \"$0\" approvals approve \"$1\" --root \"$2\"; exit $?",
         AGENTLOG_BINARY, id, root.path().string()},
        "", {}, {{"CLAUDECODE", "1"}});
    CHECK_MESSAGE(r.exit_code == 1, clear);
    CHECK_MESSAGE(r.err.find("approvals are the human's") != std::string::npos, clear, ": ", r.err);
  }
  CHECK(json::parse(approvals(root, {"list", "--json"}).out)[0]["status"] == "pending");

  // $USER and $LOGNAME are the caller's to set; the decision is the real user's.
  const passwd* pw = ::getpwuid(::getuid());
  REQUIRE(pw);
  const std::string human = std::string("human:") + pw->pw_name;
  auto ok = agentlog::test::run_process(
      {AGENTLOG_BINARY, "approvals", "approve", id, "--root", root.path().string()}, "", {},
      {{"USER", "alice-not-me"}, {"LOGNAME", "alice-not-me"}});
  REQUIRE(ok.exit_code == 0);
  json listed = json::parse(approvals(root, {"list", "--json"}).out);
  CHECK(listed[0]["decidedBy"] == human);
  bool audited_as_human = false;
  for (const auto& r : audit_records(root))
    audited_as_human |=
        r["tool"] == "approvals.approve" && r["decision"] == "allowed" && r["agent"]["name"] == human;
  CHECK(audited_as_human);

  REQUIRE(mcp.call_tool("instrument_file", a)["isError"] == false);  // the agent uses it
  auto all = approvals(root, {"list", "--all"});
  CHECK(all.out.find("approved by " + human + " at ") != std::string::npos);
  CHECK(all.out.find("; used: the call ran once") != std::string::npos);
  CHECK(all.out.find("used by") == std::string::npos);  // (it said "used by human:..." for the agent's use)

  const std::string id_b =
      approval_id(mcp.call_tool("instrument_file", {{"file", "src/b.cpp"}, {"level", 1}}));
  auto withdrawn = agentlog_in(kAgentShell, root, {"approvals", "deny", id_b, "--reason", "not needed"});
  CHECK(withdrawn.exit_code == 0);
  for (const auto& x : json::parse(approvals(root, {"list", "--all", "--json"}).out))
    if (x["id"] == id_b) CHECK(x["decidedBy"] == "claude-code");
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()}).exit_code == 0);
}

TEST_CASE(
    "in the agent's shell agentlog instrument|uninstrument pass the agent's policy: parked, refused, "
    "audited; the human's are unchanged") {
  TempDir root;
  make_project(root);  // TRACING_AI_REQUIRE_APPROVAL=true
  auto parked = agentlog_in(kAgentShell, root, {"instrument", "src/a.cpp", "--level", "2"});
  CHECK(parked.exit_code == 1);
  CHECK(parked.err.find("[policy.approval.required]") != std::string::npos);
  CHECK(agentlog::test::read_text(root / "src/a.cpp") == kSource);  // nothing was done
  json pending = json::parse(approvals(root, {"list", "--json"}).out);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0]["tool"] == "instrument_file");
  CHECK(pending[0]["arguments"] == json{{"file", "src/a.cpp"}, {"level", 2}});  // the MCP call's arguments
  REQUIRE(approvals(root, {"approve", pending[0]["id"]}).exit_code == 0);
  auto ran = agentlog_in(kAgentShell, root, {"instrument", "src/a.cpp", "--level", "2"});  // the same command
  CHECK_MESSAGE(ran.exit_code == 0, ran.err);
  CHECK(agentlog::test::read_text(root / "src/a.cpp").find("AGENTLOG_SPAN") != std::string::npos);

  // uninstrument --all asks for the instrumented file only.
  auto un = agentlog_in(kAgentShell, root, {"uninstrument", "--all"});
  CHECK(un.exit_code == 1);
  CHECK(un.err.find("src/a.cpp: [policy.approval.required]") != std::string::npos);
  CHECK(un.err.find("src/b.cpp") == std::string::npos);
  CHECK(agentlog::test::read_text(root / "src/a.cpp").find("AGENTLOG_SPAN") != std::string::npos);

  std::map<std::string, int> by_agent;  // tool/decision of the agent's shell calls, as its MCP calls are
  for (const auto& r : audit_records(root))
    if (r["agent"]["name"] == "claude-code")
      ++by_agent[r["tool"].get<std::string>() + "/" + r["decision"].get<std::string>()];
  CHECK(by_agent == std::map<std::string, int>{{"instrument_file/parked", 1},
                                               {"instrument_file/allowed", 1},
                                               {"uninstrument_file/parked", 1}});

  // TRACING_ALLOW_AI_INSTRUMENTATION=false refuses the agent, not the human.
  set_tracing(root, "TRACING_ALLOW_AI_INSTRUMENTATION=false\nTRACING_AI_REQUIRE_APPROVAL=false");
  for (std::vector<std::string> args :
       {std::vector<std::string>{"instrument", "src/b.cpp"}, {"instrument", "--all", "--level", "1"}}) {
    CAPTURE(args[1]);
    auto denied = agentlog_in(kAgentShell, root, args);
    CHECK(denied.exit_code == 1);
    CHECK(denied.err.find("[policy.denied.permission] Instrumenting files is not allowed: "
                          "TRACING_ALLOW_AI_INSTRUMENTATION is false") != std::string::npos);
    CHECK(agentlog::test::read_text(root / "src/b.cpp") == kSource);
  }
  int denied_records = 0;
  for (const auto& r : audit_records(root))
    denied_records += r["agent"]["name"] == "claude-code" && r["decision"] == "denied" &&
                      r.value("errorId", "") == "policy.denied.permission";
  CHECK(denied_records == 2);
  auto human = agentlog_in(kHumanShell, root, {"instrument", "src/b.cpp"});
  CHECK_MESSAGE(human.exit_code == 0, human.err);
  CHECK(agentlog::test::read_text(root / "src/b.cpp").find("AGENTLOG_SPAN") != std::string::npos);
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()}).exit_code == 0);
}
