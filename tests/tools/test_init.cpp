#include <doctest/doctest.h>

#include "logger/env_file.hpp"
#include "logger/files.hpp"
#include "support/temp_dir.hpp"
#include "tools/cli.hpp"
#include "tools/embedded.hpp"

using namespace agentlog;
using agentlog::test::TempDir;
using agentlog::test::write_text;
using nlohmann::json;

TEST_CASE("install_templates creates the tree of DESIGN.md and never overwrites") {
  TempDir dir;
  ProjectLayout l = ProjectLayout::at(dir.path());
  write_text(l.env_tracing(), "TRACING_DEFAULT_LEVEL=4\n");
  InitReport r = install_templates(l);
  CHECK(read_file(l.env_tracing()).value() == "TRACING_DEFAULT_LEVEL=4\n");
  CHECK(std::find(r.kept.begin(), r.kept.end(), ".ai-agents/logging/config/.env.tracing") != r.kept.end());
  for (const fs::path& p : {l.env_logging(), l.logging_config(), l.tracing_config(), l.filters(), l.registry(),
                            l.base() / "ARCHITECTURE.md", l.base() / "ENFORCEMENT.md",
                            l.base() / "RUNTIME_TRACING_ARCHITECTURE.md", l.base() / "README.md"})
    CHECK_MESSAGE(fs::is_regular_file(p), p.string());
  for (const fs::path& p : {l.logs_dir(), l.traces_dir(), l.audit_dir(), l.memory_dir(), l.hooks_dir()})
    CHECK_MESSAGE(fs::is_directory(p), p.string());
  InitReport again = install_templates(l);
  CHECK(again.created.empty());
  // .env.logging holds API tokens: owner-only.
  CHECK((fs::status(l.env_logging()).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
}

TEST_CASE("the .env templates name every key agentlog understands, each with a valid default") {
  for (auto [file, keys] : {std::pair{"config/.env.tracing", &tracing_env_keys()},
                            std::pair{"config/.env.logging", &logging_env_keys()}}) {
    std::string text(embedded_file(embedded_templates(), file));
    EnvSettings s = EnvSettings::from_text(text, file, *keys);
    CHECK_MESSAGE(s.diagnostics().empty(), file);
    for (const auto& k : *keys)
      CHECK_MESSAGE(s.source(k.key) != "default", (std::string(file) + " lacks " + k.key));
  }
}

TEST_CASE("install_claude_files merges into existing user files") {
  TempDir dir;
  ProjectLayout l = ProjectLayout::at(dir.path());
  write_text(dir / ".mcp.json", R"({"mcpServers":{"other":{"command":"x"}}})");
  write_text(dir / ".claude/settings.json",
             R"J({"model":"opus","permissions":{"deny":["Bash(rm:*)"]},"hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"mine"}]}]}})J");
  install_claude_files(l, "/opt/agentlog");
  json mcp = json::parse(read_file(dir / ".mcp.json").value());
  CHECK(mcp["mcpServers"]["other"]["command"] == "x");
  CHECK(mcp["mcpServers"]["openmemory-code-global"]["command"] == "/opt/agentlog");
  CHECK(mcp["mcpServers"]["openmemory-code-global"]["args"] == json{"serve"});
  json settings = json::parse(read_file(dir / ".claude/settings.json").value());
  CHECK(settings["model"] == "opus");
  CHECK(settings["permissions"]["deny"][0] == "Bash(rm:*)");
  CHECK(settings["permissions"]["deny"].size() == 4);  // and one Edit rule per protected path
  CHECK(settings["hooks"]["PreToolUse"].size() == 2);
  CHECK(settings["hooks"]["PreToolUse"][0]["hooks"][0]["command"] == "mine");
  CHECK(settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"] == "'/opt/agentlog' hook post-tool-use");
  // Idempotent.
  InitReport again = install_claude_files(l, "/opt/agentlog");
  CHECK(again.created.empty());
  write_text(dir / ".mcp.json", "[1,2]");
  CHECK_THROWS_WITH_AS(install_claude_files(l, "/opt/agentlog"), doctest::Contains("must hold a JSON object"),
                       std::runtime_error);
}
