// The audit witness: what a project's audit log held, kept outside the project, so that a log removed whole
// or cut at its end is seen. Through the binary, as a human and an agent meet it.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audit_records.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A session of three log_event calls: three audit records.
std::string three_calls() {
  std::string session =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n";
  for (int i = 0; i < 3; ++i)
    session += R"({"jsonrpc":"2.0","id":)" + std::to_string(i + 2) +
               R"(,"method":"tools/call","params":{"name":"log_event","arguments":{"message":"m"}}})"
               "\n";
  return session;
}

struct Project {
  explicit Project(fs::path at) : root(std::move(at)) {}
  TempDir state;
  fs::path root;
  agentlog::test::ProcessResult run(std::vector<std::string> args, const std::string& input = "") const {
    args.insert(args.begin(), AGENTLOG_BINARY);
    args.insert(args.end(), {"--root", root.string()});
    return agentlog::test::run_process(args, input, root, {{"XDG_STATE_HOME", state.path().string()}});
  }
};

}  // namespace

TEST_CASE(
    "an audit log cut at its end, or removed whole with the tree, is seen by verify and by the next serve") {
  TempDir dir;
  Project p(dir.path());
  REQUIRE(p.run({"init"}).exit_code == 0);
  REQUIRE(p.run({"serve"}, three_calls()).exit_code == 0);
  REQUIRE(agentlog::test::audit_records(p.root).size() == 3);
  CHECK(p.run({"audit", "verify"}).exit_code == 0);

  // Cut at its end, the head rewritten to match: the chain is valid, the witness outside the project is not.
  const fs::path log = p.root / ".ai-agents/logging/audit/actions.jsonl";
  std::string text = agentlog::test::read_text(log);
  text.erase(text.rfind('\n', text.size() - 2) + 1);
  agentlog::test::write_text(log, text);
  const json last = json::parse(text.substr(text.rfind('\n', text.size() - 2) + 1));
  agentlog::test::write_text(
      p.root / ".ai-agents/logging/audit/head.json",
      json{{"count", 2}, {"lastHash", last["hash"]}, {"size", text.size()}}.dump() + "\n");
  auto cut = p.run({"audit", "verify"});
  CHECK(cut.exit_code == 1);
  CHECK(cut.out.find("the audit log had 3 records when agentlog saw it at ") != std::string::npos);
  CHECK(cut.out.find("it has 2: records were removed from its end") != std::string::npos);

  // Removed whole, with the tree: the next serve says so, records it first in a new chain, and the .env files
  // come back failing closed.
  fs::remove_all(p.root / ".ai-agents");
  auto served = p.run({"serve"});
  CHECK(served.exit_code == 0);
  CHECK(served.err.find("the audit log had 3 records") != std::string::npos);
  CHECK(served.err.find("it is gone; check who removed it") != std::string::npos);
  auto records = agentlog::test::audit_records(p.root);
  REQUIRE_FALSE(records.empty());
  CHECK(records[0]["tool"] == "agentlog:audit_lost");
  CHECK(agentlog::test::read_text(p.root / ".ai-agents/logging/config/.env.tracing")
            .find("\nTRACING_AI_REQUIRE_APPROVAL=true") != std::string::npos);
  // Said once: the new chain is what the witness holds now.
  CHECK(p.run({"audit", "verify"}).exit_code == 0);
  auto again = p.run({"serve"});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("audit log had") == std::string::npos);
}

TEST_CASE("a project folder made again at the same path is a new project: its old witness is not applied") {
  TempDir parent;
  Project p(parent / "project");
  fs::create_directories(p.root);
  REQUIRE(p.run({"init"}).exit_code == 0);
  REQUIRE(p.run({"serve"}, three_calls()).exit_code == 0);
  REQUIRE(agentlog::test::audit_records(p.root).size() == 3);
  const fs::path witnesses = p.state / "agentlog/projects";
  REQUIRE(std::distance(fs::directory_iterator(witnesses), fs::directory_iterator()) == 1);

  // A fresh clone, or a test's scratch folder: removed and made again at once (the file system hands out the
  // same inode number again; the birth time tells them apart).
  fs::remove_all(p.root);
  fs::create_directories(p.root);
  auto init = p.run({"init"});
  CHECK(init.exit_code == 0);
  CHECK(init.err.find("audit log had") == std::string::npos);
  CHECK(agentlog::test::read_text(p.root / ".ai-agents/logging/config/.env.tracing")
            .find("\nTRACING_AI_REQUIRE_APPROVAL=false") != std::string::npos);
  REQUIRE(p.run({"serve"}, three_calls()).exit_code == 0);
  CHECK(p.run({"audit", "verify"}).exit_code == 0);
  // The old folder's witness was forgotten when the new one was first witnessed.
  CHECK(std::distance(fs::directory_iterator(witnesses), fs::directory_iterator()) == 1);

  // A project moved elsewhere keeps its witness: the folder is the same.
  const fs::path moved = parent / "moved";
  fs::rename(p.root, moved);
  fs::remove_all(moved / ".ai-agents/logging/audit");
  auto lost = agentlog::test::run_process({AGENTLOG_BINARY, "audit", "verify", "--root", moved.string()}, "",
                                          moved, {{"XDG_STATE_HOME", p.state.path().string()}});
  CHECK(lost.exit_code == 1);
  CHECK(lost.out.find("the audit log had 3 records") != std::string::npos);
}

TEST_CASE(
    "the hook keeps the agent away from the witnesses: removing or writing them is blocked, reading passes") {
  TempDir dir, home;
  Project p(dir.path());
  REQUIRE(p.run({"init"}).exit_code == 0);
  const std::string state = (home / ".local/state/agentlog/projects").string();
  auto hook = [&](const std::string& tool, const json& tool_input) {
    const json input = {{"session_id", "s-1"},
                        {"cwd", p.root.string()},
                        {"hook_event_name", "PreToolUse"},
                        {"tool_name", tool},
                        {"tool_input", tool_input}};
    // No XDG_STATE_HOME: the witnesses are in ~/.local/state/agentlog.
    return agentlog::test::run_process({AGENTLOG_BINARY, "hook", "pre-tool-use"}, input.dump(), p.root,
                                       {{"HOME", home.path().string()}, {"XDG_STATE_HOME", ""}});
  };
  for (const std::string& cmd :
       {std::string("rm -rf ~/.local/state/agentlog"),
        std::string("rm -rf $HOME/.local/state/agentlog/projects/*"), std::string("rm -rf ~/.local/state"),
        "echo {} > " + state + "/x.json", std::string("cd ~/.local/state && rm -rf agent*"),
        std::string("python3 -c \"import shutil, os; "
                    "shutil.rmtree(os.path.expanduser('~/.local/state/agentlog'))\"")}) {
    auto r = hook("Bash", {{"command", cmd}});
    CHECK_MESSAGE(r.exit_code == 2, cmd);
  }
  CHECK(hook("Write", {{"file_path", state + "/x.json"}, {"content", "{}"}}).exit_code == 2);
  for (const std::string& cmd : {std::string("ls ~/.local/state/agentlog/projects"),
                                 "cat " + state + "/x.json", std::string("rm -rf ~/.local/state/other-tool")})
    CHECK_MESSAGE(hook("Bash", {{"command", cmd}}).exit_code == 0, cmd);
  CHECK(hook("Write", {{"file_path", (home / ".local/state/other/x.json").string()}, {"content", "{}"}})
            .exit_code == 0);
}

TEST_CASE(
    "the records the hooks write move the witness: an audit log restored from an older backup is seen") {
  TempDir dir, backup;
  Project p(dir.path());
  REQUIRE(p.run({"init"}).exit_code == 0);
  REQUIRE(p.run({"serve"}, three_calls()).exit_code == 0);
  const fs::path audit = p.root / ".ai-agents/logging/audit";
  fs::copy(audit, backup / "audit", fs::copy_options::recursive);
  for (const char* command : {"ls", "make"}) {
    const json input = {{"session_id", "s-1"},
                        {"cwd", p.root.string()},
                        {"hook_event_name", "PostToolUse"},
                        {"tool_name", "Bash"},
                        {"tool_input", {{"command", command}}},
                        {"tool_response", "done"}};
    REQUIRE(agentlog::test::run_process({AGENTLOG_BINARY, "hook", "post-tool-use"}, input.dump(), p.root,
                                        {{"XDG_STATE_HOME", p.state.path().string()}})
                .exit_code == 0);
  }
  REQUIRE(agentlog::test::audit_records(p.root).size() == 5);
  fs::remove_all(audit);
  fs::copy(backup / "audit", audit, fs::copy_options::recursive);
  auto restored = p.run({"audit", "verify"});
  CHECK(restored.exit_code == 1);
  CHECK(restored.out.find("the audit log had 5 records") != std::string::npos);
  CHECK(restored.out.find("it has 3: records were removed from its end") != std::string::npos);
}

TEST_CASE(
    "the audit log emptied, or removed with its head and newest archives, then written again is seen by "
    "verify, however many records follow") {
  TempDir dir;
  Project p(dir.path());
  REQUIRE(p.run({"init"}).exit_code == 0);
  const fs::path audit = p.root / ".ai-agents/logging/audit";
  auto hook = [&](int n) {
    const json input = {{"session_id", "s-1"},
                        {"cwd", p.root.string()},
                        {"hook_event_name", "PostToolUse"},
                        {"tool_name", "Read"},
                        {"tool_input", {{"file_path", "src/f" + std::to_string(n) + ".cpp"}}},
                        {"tool_response", {{"success", true}}}};
    REQUIRE(p.run({"hook", "post-tool-use"}, input.dump()).exit_code == 0);
  };
  SUBCASE("the live log removed, its head kept: the chain goes on from the head and shows the gap") {
    REQUIRE(p.run({"serve"}, three_calls()).exit_code == 0);
    fs::remove(audit / "actions.jsonl");
    for (int i = 0; i < 5; ++i) hook(i);
    auto r = p.run({"audit", "verify"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("TAMPERED at record 1: records 1-3 are missing (actions.jsonl starts at record 4): "
                     "removed from it, or with the log that held them") != std::string::npos);
  }
  SUBCASE("rotating: the live log, its head and the newest archives removed, more records written after") {
    std::string env = agentlog::test::read_text(p.root / ".ai-agents/logging/config/.env.logging");
    env.replace(env.find("AUDIT_ROTATE_MB=64"), 18, "AUDIT_ROTATE_MB=0.002");
    agentlog::test::write_text(p.root / ".ai-agents/logging/config/.env.logging", env);
    for (int i = 0; i < 30; ++i) hook(i);
    REQUIRE(p.run({"audit", "verify"}).exit_code == 0);
    std::vector<fs::path> archives;
    for (const auto& f : fs::directory_iterator(audit / "archive")) archives.push_back(f.path());
    std::sort(archives.begin(), archives.end());
    REQUIRE(archives.size() >= 4);
    fs::remove(audit / "actions.jsonl");
    fs::remove(audit / "head.json");
    fs::remove(archives.back());
    fs::remove(archives[archives.size() - 2]);
    for (int i = 30; i < 60; ++i) hook(i);  // as many records again as were removed, and more
    auto r = p.run({"audit", "verify"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("is no longer where it was") != std::string::npos);
  }
}
