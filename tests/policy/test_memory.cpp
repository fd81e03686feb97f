// OpenMemory: the embedded store by default; against a loopback server that implements the API contract
// (OpenMemory 1.x /memory/add with x-api-key: 201, 401 without the key, 5xx on demand; OpenMemory-Code
// /ai-agents/state, then /ai-agents/action and /ai-agents/pattern: 403 before the state), refused
// connections, and the outbox delivering everything once when the server is back.
#include <doctest/doctest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "policy/audit.hpp"
#include "policy/memory.hpp"
#include "support/process.hpp"
#include "support/sqlite_count.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::McpSession;
using agentlog::test::TempDir;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A loopback OpenMemory with the contract above; records what it accepted.
class FakeOpenMemory {
 public:
  explicit FakeOpenMemory(int port = 0) {
    server_.Post("/memory/add", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      if (req.get_header_value("x-api-key") != key) return reply(res, 401, R"({"err":"unauthorized"})");
      if (fail_5xx > 0) {
        --fail_5xx;
        return reply(res, 503, R"({"err":"busy"})");
      }
      accepted.push_back({{"path", req.path}, {"body", json::parse(req.body)}});
      reply(res, 201, R"({"id":"m-1"})");
    });
    server_.Post("/ai-agents/state", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      json body = json::parse(req.body);
      if (!body.contains("project_name") || !body.contains("state"))
        return reply(res, 400, R"({"err":"project_name and state required"})");
      state = true;
      ++states;
      reply(res, 200, R"({"success":true})");
    });
    for (const char* path : {"/ai-agents/action", "/ai-agents/pattern"})
      server_.Post(path, [this](const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock(mutex_);
        if (!state) return reply(res, 403, R"({"err":"no project state; POST /ai-agents/state first"})");
        accepted.push_back({{"path", req.path}, {"body", json::parse(req.body)}});
        reply(res, 200, R"({"success":true})");
      });
    // Queries: every accepted record whose text holds the query.
    auto query = [this](const httplib::Request& req, httplib::Response& res, const char* list_key) {
      std::lock_guard lock(mutex_);
      if (std::string(list_key) == "matches" && req.get_header_value("x-api-key") != key)
        return reply(res, 401, R"({"err":"unauthorized"})");
      json body = json::parse(req.body);
      queries.push_back({{"path", req.path}, {"body", body}});
      json found = json::array();
      for (const auto& r : accepted) {
        const std::string text = r["body"].dump();
        if (body.value("memory_type", "all") == "patterns" && r["path"] != "/ai-agents/pattern") continue;
        if (body.contains("filters") && r["body"].contains("tags") && r["body"]["tags"].is_array() &&
            r["body"]["tags"][0] != body["filters"]["tags"][0])
          continue;
        if (text.find(body.value("query", "")) != std::string::npos)
          found.push_back({{"content", r["body"].value("content", r["body"].value("description", text))},
                           {"score", 0.9}});
      }
      res.status = 200;
      res.set_content(json{{list_key, found}, {"success", true}}.dump(), "application/json");
    };
    server_.Post("/memory/query", [query](const httplib::Request& req, httplib::Response& res) {
      query(req, res, "matches");
    });
    server_.Post("/ai-agents/query", [query](const httplib::Request& req, httplib::Response& res) {
      query(req, res, "results");
    });
    port_ =
        port ? (server_.bind_to_port("127.0.0.1", port) ? port : -1) : server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeOpenMemory() { stop(); }
  void stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json> received() {
    std::lock_guard lock(mutex_);
    return accepted;
  }
  // Waits until `n` records were accepted.
  bool wait_for(std::size_t n, std::chrono::seconds timeout = std::chrono::seconds(15)) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (received().size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::mutex mutex_;
  std::string key = "key-123";
  int fail_5xx = 0;
  bool state = false;
  int states = 0;
  std::vector<json> accepted;
  std::vector<json> queries;

 private:
  static void reply(httplib::Response& res, int status, const char* body) {
    res.status = status;
    res.set_content(body, "application/json");
  }
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
};

void init_project(const TempDir& root, const std::string& env_extra) {
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  const fs::path env = root / ".ai-agents/logging/config/.env.logging";
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\n" + env_extra);
}

void set_env(const TempDir& root, const std::string& key, const std::string& value) {
  const fs::path env = root / ".ai-agents/logging/config/.env.logging";
  agentlog::test::write_text(env, agentlog::test::read_text(env) + "\n" + key + "=" + value + "\n");
}

agentlog::test::ProcessResult memory_cmd(const TempDir& root, const std::vector<std::string>& args) {
  std::vector<std::string> a = {"memory"};
  a.insert(a.end(), args.begin(), args.end());
  a.push_back("--root");
  a.push_back(root.path().string());
  return agentlog::test::run_agentlog(a);
}

json outbox(const TempDir& root) { return json::parse(memory_cmd(root, {"list", "--json"}).out)["outbox"]; }
// The server has a record once the sender's POST is answered; the sender removes it from the outbox just
// after. A session ended (SIGKILL) before that leaves it there, to be sent again: wait for the removal.
void wait_outbox_empty(const TempDir& root) {
  for (int i = 0; i < 200 && !outbox(root).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
}

// A PostToolUse hook call: one audited action of Claude Code.
void hook_action(const TempDir& root, int n) {
  json input = {{"session_id", "s-1"},
                {"cwd", root.path().string()},
                {"hook_event_name", "PostToolUse"},
                {"tool_name", "Read"},
                {"tool_input", {{"file_path", "src/file" + std::to_string(n) + ".cpp"}}},
                {"tool_response", {{"success", true}}}};
  REQUIRE(
      agentlog::test::run_agentlog({"hook", "post-tool-use", "--root", root.path().string()}, input.dump())
          .exit_code == 0);
}

// One audited action, as the guard writes it.
json audited(agentlog::policy::AuditLog& audit, const std::string& tool, const std::string& agent = "a",
             json arguments = json::object()) {
  return audit.append({{"time", "2026-11-30T10:00:00.000Z"},
                       {"agent", {{"name", agent}}},
                       {"tool", tool},
                       {"decision", "allowed"},
                       {"outcome", "ok"},
                       {"arguments", std::move(arguments)},
                       {"session", "s"}});
}

}  // namespace

TEST_CASE("embedded store: every action and pattern, searchable; the record mapping of DESIGN.md") {
  TempDir root;
  init_project(root, "OPENMEMORY_PROJECT=shop\n");
  {
    McpSession mcp(root.path());
    mcp.initialize();
    CHECK(mcp.call_tool("log_event", {{"message", "deployed"}})["isError"] == false);
    json p = mcp.call_tool("record_pattern", {{"pattern_name", "RAII pool guard"},
                                              {"description", "wrap every pool checkout"},
                                              {"example", "PoolGuard g(pool);"},
                                              {"tags", {"cpp"}}});
    REQUIRE(p["isError"] == false);
    CHECK(p["structuredContent"]["destination"] == "embedded");
    CHECK(p["structuredContent"]["project"] == "shop");
    // A later session recalls it.
    json recalled = mcp.call_tool("search_memory", {{"query", "pool checkout"}, {"kind", "pattern"}});
    REQUIRE(recalled["isError"] == false);
    CHECK(recalled["structuredContent"]["source"] == "embedded");
    REQUIRE(recalled["structuredContent"]["memories"].size() == 1);
    CHECK(recalled["structuredContent"]["memories"][0]["kind"] == "pattern");
    CHECK(recalled["structuredContent"]["memories"][0]["content"].get<std::string>().rfind(
              "Pattern: RAII pool guard", 0) == 0);
    json actions = mcp.call_tool("search_memory", {{"query", "log_event"}, {"kind", "action"}});
    CHECK(actions["structuredContent"]["memories"].size() >= 1);
    CHECK(mcp.call_tool("search_memory", {{"query", "nothing-like-this"}})["structuredContent"]["memories"]
              .empty());
    // Nor do the searches find each other (each is a recorded action holding the words).
    CHECK(mcp.call_tool("search_memory", {{"query", "nothing-like-this"}})["structuredContent"]["memories"]
              .empty());
  }
  json found = json::parse(memory_cmd(root, {"search", "pool checkout", "--json"}).out);
  REQUIRE(found.size() >= 1);
  bool pattern = false, action = false;
  const json listed = json::parse(memory_cmd(root, {"list", "--json"}).out);
  for (const auto& m : listed["memories"]) {
    if (m["kind"] == "pattern") {
      pattern = true;
      CHECK(m["content"].get<std::string>().rfind(
                "Pattern: RAII pool guard\nwrap every pool checkout\n\nExample:\nPoolGuard g(pool);", 0) ==
            0);
      CHECK(m["tags"] == json{"coding-pattern", "shop", "cpp"});
    }
    if (m["kind"] == "action" && m["metadata"]["action"] == "log_event (allowed, ok)") {
      action = true;
      CHECK(m["content"].get<std::string>().rfind(
                "Agent agentlog-tests performed: log_event (allowed, ok)\nContext: ", 0) == 0);
      CHECK(m["tags"] == json{"agent-action", "shop", "agentlog-tests"});
      for (const char* k : {"project_name", "agent_name", "action", "context", "timestamp"})
        CHECK(m["metadata"].contains(k));
    }
  }
  CHECK(pattern);
  CHECK(action);
  CHECK(json::parse(memory_cmd(root, {"search", "\"unbalanced AND (", "--json"}).out)
            .is_array());  // any text is safe
}

TEST_CASE(
    "OpenMemory 1.x: records reach POST /memory/add with x-api-key; 401 and 5xx keep them in the outbox "
    "until delivered once") {
  FakeOpenMemory server;
  TempDir root;
  init_project(root,
               "OPENMEMORY_URL=" + server.url() + "\nOPENMEMORY_API_KEY=key-123\nOPENMEMORY_PROJECT=shop\n");
  {
    McpSession mcp(root.path());
    mcp.initialize();
    for (int i = 0; i < 3; ++i) mcp.call_tool("log_event", {{"message", "m" + std::to_string(i)}});
    CHECK(mcp.call_tool("record_pattern",
                        {{"pattern_name", "p"}, {"description", "d"}})["structuredContent"]["destination"] ==
          "server");
    REQUIRE(server.wait_for(5));  // the background sender
    wait_outbox_empty(root);
  }
  auto got = server.received();
  int actions = 0;
  for (const auto& r : got) {
    CHECK(r["path"] == "/memory/add");
    const json& b = r["body"];
    if (b["tags"][0] == "agent-action") {
      ++actions;
      CHECK(b["tags"] == json{"agent-action", "shop", "agentlog-tests"});
      CHECK(b["content"].get<std::string>().rfind("Agent agentlog-tests performed: ", 0) == 0);
      CHECK(b["metadata"]["project_name"] == "shop");
    }
  }
  CHECK(actions == 4);
  CHECK(outbox(root).empty());

  // A wrong key: 401, the records wait; the human fixes the key; flush delivers them, once.
  set_env(root, "OPENMEMORY_API_KEY", "wrong");
  for (int i = 0; i < 3; ++i) hook_action(root, i);
  CHECK(server.received().size() == 5);
  json waiting = outbox(root);
  REQUIRE(waiting.size() == 3);
  CHECK(waiting[0]["lastError"].get<std::string>().find("HTTP 401") != std::string::npos);
  auto failed = memory_cmd(root, {"flush"});
  CHECK(failed.exit_code == 1);
  CHECK(failed.out.find("401") != std::string::npos);
  set_env(root, "OPENMEMORY_API_KEY", "key-123");
  {
    std::lock_guard lock(server.mutex_);
    server.fail_5xx = 2;  // and the server is busy for a while
  }
  for (int attempt = 0; attempt < 5 && !outbox(root).empty(); ++attempt) memory_cmd(root, {"flush"});
  CHECK(outbox(root).empty());
  got = server.received();
  CHECK(got.size() == 8);
  std::map<std::string, int> seen;
  for (const auto& r : got)
    ++seen[r["body"]["metadata"].value("context", "") + r["body"]["metadata"].value("pattern_name", "")];
  for (const auto& [k, n] : seen) CHECK_MESSAGE(n == 1, k);  // none twice
  {  // search_memory asks the server (POST /memory/query with the key)
    McpSession mcp(root.path());
    mcp.initialize();
    json r = mcp.call_tool("search_memory", {{"query", "m1"}, {"kind", "action"}});
    REQUIRE(r["isError"] == false);
    CHECK(r["structuredContent"]["source"] == "server");
    REQUIRE(r["structuredContent"]["memories"].size() >= 1);
    CHECK(r["structuredContent"]["memories"][0]["content"].get<std::string>().find("m1") !=
          std::string::npos);
    std::lock_guard lock(server.mutex_);
    REQUIRE(server.queries.size() == 1);
    CHECK(server.queries[0]["path"] == "/memory/query");
    CHECK(server.queries[0]["body"]["filters"]["tags"][0] == "agent-action");
  }
}

TEST_CASE(
    "a server that is down: records wait in the outbox; when it is back, two flushes at once deliver each "
    "once") {
  int port;
  {
    FakeOpenMemory probe;  // a free port, then nothing listens there
    port = probe.port();
  }
  TempDir root;
  init_project(root,
               "OPENMEMORY_URL=http://127.0.0.1:" + std::to_string(port) + "\nOPENMEMORY_API_KEY=key-123\n");
  for (int i = 0; i < 20; ++i) hook_action(root, i);  // connection refused each time
  json waiting = outbox(root);
  REQUIRE(waiting.size() == 20);
  CHECK(waiting[0]["lastError"].get<std::string>().find("127.0.0.1") != std::string::npos);
  FakeOpenMemory server(port);
  std::vector<std::thread> flushers;
  for (int i = 0; i < 2; ++i) flushers.emplace_back([&] { memory_cmd(root, {"flush"}); });
  for (auto& t : flushers) t.join();
  memory_cmd(root, {"flush"});  // whatever one of them skipped while the other held it
  CHECK(outbox(root).empty());
  auto got = server.received();
  CHECK(got.size() == 20);
  std::map<std::string, int> seen;
  for (const auto& r : got) ++seen[r["body"]["metadata"]["context"].get<std::string>()];
  CHECK(seen.size() == 20);
}

TEST_CASE(
    "OpenMemory-Code (OPENMEMORY_MODE=ai-agents): state once, then actions and patterns; a 403 sends the "
    "state again") {
  FakeOpenMemory server;
  TempDir root;
  init_project(root,
               "OPENMEMORY_URL=" + server.url() + "\nOPENMEMORY_MODE=ai-agents\nOPENMEMORY_PROJECT=shop\n");
  {
    McpSession mcp(root.path());
    mcp.initialize();
    mcp.call_tool("log_event", {{"message", "a"}});
    mcp.call_tool(
        "record_pattern",
        {{"pattern_name", "guard"}, {"description", "use guards"}, {"example", "G g;"}, {"tags", {"cpp"}}});
    REQUIRE(server.wait_for(3));
    wait_outbox_empty(root);
  }
  CHECK(server.states == 1);
  {
    McpSession mcp(root.path());
    mcp.initialize();
    json r = mcp.call_tool("search_memory", {{"query", "use guards"}, {"kind", "pattern"}});
    REQUIRE(r["isError"] == false);
    CHECK(r["structuredContent"]["memories"].size() == 1);
    std::lock_guard lock(server.mutex_);
    CHECK(server.queries.back()["path"] == "/ai-agents/query");
    CHECK(server.queries.back()["body"]["memory_type"] == "patterns");
    CHECK(server.queries.back()["body"]["project_name"] == "shop");
  }
  bool pattern = false;
  for (const auto& r : server.received()) {
    const json& b = r["body"];
    CHECK(b["project_name"] == "shop");
    if (r["path"] == "/ai-agents/pattern") {
      pattern = true;
      CHECK(b["pattern_name"] == "guard");
      CHECK(b["description"] == "use guards");
      CHECK(b["example"] == "G g;");
      CHECK(b["tags"] == json{"cpp"});
    } else {
      CHECK(r["path"] == "/ai-agents/action");
      CHECK(b["agent_name"] == "agentlog-tests");
      CHECK(b.contains("action"));
      CHECK(b.contains("context"));
    }
  }
  CHECK(pattern);
  {
    std::lock_guard lock(server.mutex_);
    server.state = false;  // the server lost its state: the next action gets 403
  }
  hook_action(root, 1);
  CHECK(outbox(root).size() == 1);
  CHECK(outbox(root)[0]["lastError"].get<std::string>().find("HTTP 403") != std::string::npos);
  CHECK(memory_cmd(root, {"flush"}).exit_code == 0);  // the state first, then the action
  CHECK(server.states == 2);
  CHECK(outbox(root).empty());
}

TEST_CASE("a server that comes back gets the waiting record at its next backoff, not at a 30 s wake-up") {
  int port;
  {
    FakeOpenMemory probe;
    port = probe.port();
  }
  TempDir root;
  init_project(root,
               "OPENMEMORY_URL=http://127.0.0.1:" + std::to_string(port) + "\nOPENMEMORY_API_KEY=key-123\n");
  McpSession mcp(root.path());
  mcp.initialize();
  mcp.call_tool("log_event", {{"message", "while the server is down"}});
  auto tried = [&] {  // the sender tried and failed
    json o = outbox(root);
    return o.size() == 1 && o[0].value("attempts", 0) >= 1;
  };
  for (int i = 0; i < 200 && !tried(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  REQUIRE(tried());
  FakeOpenMemory server(port);
  const auto up = std::chrono::steady_clock::now();
  REQUIRE(server.wait_for(1, std::chrono::seconds(20)));  // backoff 1, 2, 4, 8 s: at most ~9 s after now
  CHECK(std::chrono::steady_clock::now() - up < std::chrono::seconds(20));
  CHECK(server.received()[0]["body"]["content"].get<std::string>().find("log_event") != std::string::npos);
}

TEST_CASE("the human's approval decisions reach the OpenMemory server like the agent's actions") {
  FakeOpenMemory server;
  TempDir root;
  init_project(root, "OPENMEMORY_URL=" + server.url() + "\nOPENMEMORY_API_KEY=key-123\n");
  const fs::path env_tracing = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(env_tracing,
                             agentlog::test::read_text(env_tracing) + "\nTRACING_AI_REQUIRE_APPROVAL=true\n");
  std::string id;
  {
    McpSession mcp(root.path());
    mcp.initialize();
    json parked = mcp.call_tool("set_tracing_config", {{"file", "src/a.cpp"}, {"level", 2}});
    const std::string text = parked["content"][0]["text"];
    REQUIRE(text.find("apr-") != std::string::npos);
    id = text.substr(text.find("apr-"), 12);
  }
  auto approved = agentlog::test::run_agentlog({"approvals", "approve", id, "--root", root.path().string()});
  REQUIRE(approved.exit_code == 0);
  CHECK(approved.err.empty());
  bool decision = false;
  for (const auto& r : server.received())
    decision =
        decision || r["body"]["content"].get<std::string>().find("approvals.approve") != std::string::npos;
  CHECK(decision);  // sent by the command itself
}

TEST_CASE("a damaged outbox file is shown by memory list, set aside (not lost) by flush, which says so") {
  FakeOpenMemory server;
  TempDir root;
  init_project(root, "OPENMEMORY_URL=" + server.url() + "\nOPENMEMORY_API_KEY=key-123\n");
  const fs::path damaged = root / ".ai-agents/logging/memory/outbox/0001-cut.json";
  fs::create_directories(damaged.parent_path());
  agentlog::test::write_text(damaged, "{\"endpoint\":\"/memory/ad");
  json listed = outbox(root);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["unreadable"] == true);
  CHECK(listed[0]["lastError"].get<std::string>().find("not an outbox record") != std::string::npos);
  auto flushed = memory_cmd(root, {"flush"});
  CHECK(flushed.exit_code == 1);
  CHECK(flushed.out.find("set aside 1") != std::string::npos);
  CHECK(flushed.out.find("look at it") != std::string::npos);
  CHECK(agentlog::test::read_text(damaged.string() + ".bad") == "{\"endpoint\":\"/memory/ad");
  CHECK(outbox(root).size() == 1);  // still shown
  CHECK(server.received().empty());
}

// A project with the embedded memory store (project "p"), for the tests of its ingestion.
struct EmbeddedStore {
  TempDir root;
  agentlog::ProjectLayout layout = agentlog::ProjectLayout::at(root.path());
  agentlog::policy::MemoryConfig config = [] {
    agentlog::policy::MemoryConfig c;
    c.project = "p";
    return c;
  }();
};

TEST_CASE_FIXTURE(
    EmbeddedStore,
    "embedded store: four processes auditing and ingesting at once store every action exactly once") {
  const int failed = agentlog::test::run_in_children(4, [&](int k) {
    agentlog::policy::Memory memory(layout, config);
    agentlog::policy::AuditLog audit(layout.audit_dir());
    for (int i = 0; i < 300; ++i) {
      memory.record_action(audited(audit, "t", "a" + std::to_string(k), {{"i", i}, {"k", k}}));
      if (i % 50 == 0) memory.list(1);  // ingests while the others append
      if (k == 0 && i == 150)
        memory.record_pattern("p", "a pattern among the actions", "", {});  // the journal, meanwhile
    }
    return 0;  // what is not indexed yet waits in the audit log and the journal
  });
  CHECK(failed == 0);
  agentlog::policy::Memory memory(layout, config);
  json all = memory.list(5000);
  CHECK(all.size() == 1201);
  std::set<std::string> distinct;
  for (const auto& m : all) distinct.insert(m["content"].get<std::string>());
  CHECK(distinct.size() == 1201);
  // Each action's memory names its audit record.
  json found = memory.search("auditHash", 5000);
  CHECK(found.size() == 1200);
}

TEST_CASE_FIXTURE(
    EmbeddedStore,
    "embedded store: actions come from the audit log, once, whoever ingests; torn records wait; a server's "
    "are not replayed") {
  agentlog::policy::AuditLog audit(layout.audit_dir());
  auto act = [&](const std::string& tool) { return audited(audit, tool); };
  act("before_any_store");  // audited while no memory store existed: taken in by the first ingest
  {
    agentlog::policy::Memory memory(layout, config);
    CHECK(memory.search("before_any_store", 10).size() == 1);
    memory.record_action(act("second"));
    CHECK(memory.search("second", 10).size() == 1);
    CHECK(memory.list(10).size() == 2);
  }
  {
    agentlog::policy::Memory other(layout, config);  // another process's view: nothing twice
    CHECK(other.list(10).size() == 2);
  }
  // A half-written record is taken once it is complete.
  {
    std::ofstream out(audit.log_path(), std::ios::app);
    out << R"({"agent":{"name":"a"},"tool":"torn_then_whole","decision":"allowed","outcome":"ok")";
  }
  agentlog::policy::Memory memory(layout, config);
  CHECK(memory.list(10).size() == 2);
  {
    std::ofstream out(audit.log_path(), std::ios::app);
    out << R"(,"time":"2026-11-30T10:00:01.000Z"})"
        << "\n";
  }
  CHECK(memory.search("torn_then_whole", 10).size() == 1);
  // With a server configured, actions go to its outbox, not to the embedded store, even later.
  config.url = "http://127.0.0.1:9";
  memory.configure(config);
  memory.record_action(act("for_the_server"));
  CHECK(memory.outbox().size() == 1);
  CHECK(memory.list(10).size() == 3);  // an ingest meanwhile (the sender's, or a process's last) passes it by
  config.url.clear();
  memory.configure(config);
  CHECK(memory.search("for_the_server", 10).empty());
  CHECK(memory.list(10).size() == 3);
}

// Rows in the embedded store, read without ingesting (list and search would ingest first).
int stored_rows(const agentlog::ProjectLayout& layout) {
  return static_cast<int>(
      agentlog::test::sqlite_count(layout.memory_dir() / "memory.sqlite", "SELECT count(*) FROM memories"));
}

TEST_CASE_FIXTURE(
    EmbeddedStore,
    "embedded store: the background sender indexes the actions once they pause, without a reader") {
  agentlog::policy::AuditLog audit(layout.audit_dir());
  agentlog::policy::Memory memory(layout, config);
  memory.start_background();
  for (int i = 0; i < 50; ++i) memory.record_action(audited(audit, "t" + std::to_string(i)));
  const auto start = std::chrono::steady_clock::now();
  while (stored_rows(layout) < 50 && std::chrono::steady_clock::now() - start < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(stored_rows(layout) == 50);
  // Not at once: it waited for the calls to pause for a second.
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(900));
}

TEST_CASE_FIXTURE(
    EmbeddedStore,
    "embedded store: a store whose actions came through the journal (an older version) is not replayed") {
  agentlog::policy::AuditLog audit(layout.audit_dir());
  for (const char* tool : {"old_one", "old_two"}) audited(audit, tool);
  fs::create_directories(layout.memory_dir());
  agentlog::test::write_text(layout.memory_dir() / "pending.jsonl",
                             json{{"kind", "action"},
                                  {"content", "Agent a performed: old_two (allowed, ok)"},
                                  {"tags", {"agent-action", "p", "a"}},
                                  {"metadata", {{"timestamp", "2026-11-30T10:00:00.000Z"}}}}
                                     .dump() +
                                 "\n");
  agentlog::policy::Memory memory(layout, config);
  CHECK(memory.list(10).size() == 1);
  CHECK(memory.search("old_one", 10).empty());
}
