#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>

#include "mcp/server.hpp"

using namespace agentlog::mcp;

namespace {

// A transport fed by the test: lines go in with push(), replies are collected by send().
class FakeTransport : public Transport {
 public:
  void push(const std::string& line) {
    std::lock_guard l(m_);
    in_.push_back(line);
    cv_.notify_all();
  }
  void push(const json& j) { push(j.dump()); }
  void close() {
    std::lock_guard l(m_);
    closed_ = true;
    cv_.notify_all();
  }
  void send(const json& message) override {
    std::lock_guard l(m_);
    move_held_locked();
    out_.push_back(message);
    cv_.notify_all();
  }
  // Held like the stdio transport holds them: the client sees them only at the next flush() or send().
  void send_deferred(const json& message) override {
    std::lock_guard l(m_);
    held_.push_back(message);
  }
  void flush() override {
    std::lock_guard l(m_);
    if (!held_.empty()) ++flushes_;
    move_held_locked();
    cv_.notify_all();
  }
  int flushes() {
    std::lock_guard l(m_);
    return flushes_;
  }
  void run(const Handler& h) override {
    for (;;) {
      std::string line;
      {
        std::unique_lock l(m_);
        cv_.wait(l, [&] { return closed_ || !in_.empty(); });
        if (in_.empty()) return;
        line = in_.front();
        in_.pop_front();
      }
      if (line == "<too-long>")
        h.on_line_too_long(20u << 20);
      else
        h.on_line(line);
    }
  }
  void stop() override { close(); }

  // Waits for the reply to `id` (or any message matching pred).
  json wait_for(std::function<bool(const json&)> pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    std::unique_lock l(m_);
    json found;
    cv_.wait_for(l, timeout, [&] {
      for (auto it = out_.begin(); it != out_.end(); ++it)
        if (pred(*it)) {
          found = *it;
          out_.erase(it);
          return true;
        }
      return false;
    });
    return found;
  }
  json reply(const json& id, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return wait_for([&](const json& m) { return m.contains("id") && m["id"] == id && !m.contains("method"); },
                    timeout);
  }
  std::vector<json> drain() {
    std::lock_guard l(m_);
    std::vector<json> v(out_.begin(), out_.end());
    out_.clear();
    return v;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::string> in_;
  std::deque<json> out_;
  std::vector<json> held_;
  int flushes_ = 0;
  bool closed_ = false;

  void move_held_locked() {
    out_.insert(out_.end(), held_.begin(), held_.end());
    held_.clear();
  }
};

json req(json id, const std::string& method, json params = json::object()) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}};
}

struct Fixture {
  ToolRegistry tools;
  ResourceRegistry resources;
  FakeTransport transport;
  std::unique_ptr<Server> server;
  std::thread thread;
  std::atomic<bool> release{false};
  std::atomic<bool> open_gate{false};

  explicit Fixture(unsigned workers = 2) {
    Tool echo;
    echo.name = "echo";
    echo.title = "Echo";
    echo.description = "echoes";
    echo.input_schema = {{"type", "object"}};
    echo.output_schema = {{"type", "object"}};
    echo.handler = [](ToolCall& c) -> json { return {{"args", c.arguments}, {"client", c.client.name}}; };
    tools.add(echo);

    Tool slow = echo;
    slow.name = "slow";
    slow.long_running = true;
    slow.handler = [this](ToolCall& c) -> json {
      for (int i = 0; i < 3; ++i) c.report_progress(i + 1, 3, "step");
      c.log("warning", json{{"note", "halfway"}});
      while (!release.load() && !c.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      c.report_progress(4, 4, "last");  // a tool may report once more before it sees the cancel
      return {{"cancelled", c.cancelled()}};
    };
    tools.add(slow);

    Tool ask = echo;
    ask.name = "ask";
    ask.handler = [](ToolCall& c) -> json { return c.request_client("elicitation/create", {{"message", "ok?"}}); };
    tools.add(ask);

    Tool gate = echo;  // on a worker: holds it until the test opens the gate
    gate.name = "gate";
    gate.handler = [this](ToolCall&) -> json {
      while (!open_gate.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return json::object();
    };
    tools.add(gate);

    Tool nap = echo;  // on a worker, 600 ms
    nap.name = "nap";
    nap.handler = [](ToolCall&) -> json {
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      return json::object();
    };
    tools.add(nap);

    Resource latest;
    latest.uri = "log://latest";
    latest.name = "latest";
    latest.read = [](const std::string& uri) { return ResourceContents{uri, "text/plain", "hello"}; };
    resources.add(latest);
    Resource big = latest;  // a read that takes a while (a trace of 200,000 spans)
    big.uri = "log://big";
    big.name = "big";
    big.read = [this](const std::string& uri) {
      while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      return ResourceContents{uri, "text/plain", "big"};
    };
    resources.add(big);

    ServerInfo info;
    info.version = "1.2.3";
    info.instructions = "use it";
    ServerOptions options;
    options.workers = workers;
    server = std::make_unique<Server>(info, tools, &resources, options);
    thread = std::thread([this] { server->serve(transport); });
  }
  ~Fixture() {
    release = true;
    transport.close();
    thread.join();
  }
};

}  // namespace

TEST_CASE("initialize negotiates the protocol version") {
  for (auto [asked, expected] : std::vector<std::pair<std::string, std::string>>{{"2025-11-25", "2025-11-25"},
                                                                                {"2025-06-18", "2025-06-18"},
                                                                                {"2025-03-26", "2025-03-26"},
                                                                                {"2024-11-05", "2024-11-05"},
                                                                                {"1999-01-01", "2025-11-25"}}) {
    Fixture f;
    f.transport.push(req(asked, "initialize",
                         {{"protocolVersion", asked}, {"capabilities", json::object()},
                          {"clientInfo", {{"name", "tester"}, {"version", "9"}}}}));
    json r = f.transport.reply(asked);
    REQUIRE(r.contains("result"));
    CHECK(r["result"]["protocolVersion"] == expected);
    CHECK(r["result"]["serverInfo"]["version"] == "1.2.3");
    CHECK(r["result"]["instructions"] == "use it");
    CHECK(r["result"]["capabilities"].contains("tools"));
    CHECK(r["result"]["capabilities"].contains("logging"));
    CHECK(r["result"]["capabilities"].contains("resources"));
    CHECK(f.server->client().name == "tester");
  }
}

TEST_CASE("a second initialize is refused: the client an audit record names cannot change mid-session") {
  Fixture f;
  f.transport.push(
      req(1, "initialize", {{"protocolVersion", "2025-11-25"}, {"clientInfo", {{"name", "claude-code"}}}}));
  REQUIRE(f.transport.reply(1).contains("result"));
  f.transport.push(
      req(2, "initialize", {{"protocolVersion", "2025-06-18"}, {"clientInfo", {{"name", "someone-else"}}}}));
  json again = f.transport.reply(2);
  CHECK(again["error"]["code"] == -32600);
  CHECK(again["error"]["message"].get<std::string>().find("already initialized") != std::string::npos);
  CHECK(f.server->client().name == "claude-code");
  CHECK(f.server->protocol_version() == "2025-11-25");
  f.transport.push(req(3, "tools/call", {{"name", "echo"}, {"arguments", json::object()}}));
  CHECK(f.transport.reply(3)["result"]["structuredContent"]["client"] == "claude-code");
}

TEST_CASE("error codes") {
  Fixture f;
  f.transport.push(std::string("{not json"));
  json parse = f.transport.wait_for([](const json& m) { return m.contains("error"); });
  CHECK(parse["error"]["code"] == -32700);
  CHECK_FALSE(parse.contains("id"));  // not null: the 2025-11-25 schema has a RequestId or nothing
  // A response, even an error about something the client could not read, is not answered.
  f.transport.push(
      json{{"jsonrpc", "2.0"}, {"id", nullptr}, {"error", {{"code", -32700}, {"message", "x"}}}});

  f.transport.push(std::string("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]"));
  json batch = f.transport.wait_for([](const json& m) {
    return m.contains("error") &&
           m["error"]["message"].get<std::string>().find("batches") != std::string::npos;
  });
  CHECK(batch["error"]["code"] == -32600);
  CHECK(
      f.transport.wait_for([](const json& m) { return m.contains("error"); }, std::chrono::milliseconds(300))
          .is_null());  // (the error response above got no answer)

  f.transport.push(json{{"jsonrpc", "1.0"}, {"id", 2}, {"method", "ping"}});
  json wrong_version = f.transport.reply(2);
  CHECK(wrong_version["error"]["code"] == -32600);

  f.transport.push(json{{"jsonrpc", "2.0"}, {"id", 3}});
  CHECK(f.transport.reply(3)["error"]["code"] == -32600);

  f.transport.push(json{{"jsonrpc", "2.0"}, {"id", 4}, {"method", 17}});
  CHECK(f.transport.reply(4)["error"]["code"] == -32600);

  f.transport.push(req(5, "no/such/method"));
  json nm = f.transport.reply(5);
  CHECK(nm["error"]["code"] == -32601);
  CHECK(nm["error"]["message"].get<std::string>().find("no/such/method") != std::string::npos);

  f.transport.push(req(6, "tools/call", {{"name", "missing"}}));
  CHECK(f.transport.reply(6)["error"]["code"] == -32602);

  f.transport.push(req(7, "tools/call", {{"arguments", json::object()}}));
  CHECK(f.transport.reply(7)["error"]["code"] == -32602);

  f.transport.push(req(8, "tools/list", {{"cursor", "not-a-tool"}}));
  CHECK(f.transport.reply(8)["error"]["code"] == -32602);

  f.transport.push(req(9, "logging/setLevel", {{"level", "loud"}}));
  CHECK(f.transport.reply(9)["error"]["code"] == -32602);

  f.transport.push(req(10, "resources/read", {{"uri", "log://nope"}}));
  CHECK(f.transport.reply(10)["error"]["code"] == -32002);

  f.transport.push(req(11, "ping", json::array()));
  CHECK(f.transport.reply(11)["error"]["code"] == -32602);

  f.transport.push(std::string("<too-long>"));
  json too_long = f.transport.wait_for([](const json& m) { return m.contains("error"); });
  CHECK(too_long["error"]["code"] == -32600);
  CHECK(too_long["error"]["message"].get<std::string>().find("16 MiB") != std::string::npos);
}

TEST_CASE("notifications are never answered") {
  Fixture f;
  f.transport.push(json{{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  f.transport.push(json{{"jsonrpc", "2.0"}, {"method", "notifications/whatever"}});
  f.transport.push(req(1, "ping"));
  json pong = f.transport.reply(1);
  CHECK(pong["result"] == json::object());
  CHECK(f.transport.drain().empty());
}

TEST_CASE("tools/call carries the client and returns a CallToolResult") {
  Fixture f;
  f.transport.push(req(1, "initialize", {{"protocolVersion", "2025-11-25"}, {"clientInfo", {{"name", "claude-code"}}}}));
  f.transport.reply(1);
  f.transport.push(req(2, "tools/call", {{"name", "echo"}, {"arguments", {{"x", 1}}}}));
  json r = f.transport.reply(2);
  CHECK(r["result"]["isError"] == false);
  CHECK(r["result"]["structuredContent"]["client"] == "claude-code");
  CHECK(r["result"]["structuredContent"]["args"]["x"] == 1);
}

TEST_CASE("replies to pipelined quick calls leave together") {
  Fixture f;
  f.transport.push(req(1, "tools/call", {{"name", "gate"}, {"arguments", json::object()}}));  // one worker waits
  for (int i = 100; i < 140; ++i) f.transport.push(req(i, "tools/call", {{"name", "echo"}, {"arguments", {{"i", i}}}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the other worker runs the echoes
  f.open_gate = true;
  CHECK(f.transport.reply(1)["result"]["isError"] == false);
  for (int i = 100; i < 140; ++i) CHECK(f.transport.reply(i)["result"]["structuredContent"]["args"]["i"] == i);
  CHECK(f.transport.flushes() < 20);  // not one write per reply (about 3 on a quiet machine)
}

TEST_CASE("a reply is not held back while a slow call runs") {
  Fixture f(1);  // one worker: the held reply and the slow call are on the same thread
  f.transport.push(req(1, "tools/call", {{"name", "echo"}, {"arguments", json::object()}}));
  f.transport.reply(1);  // echo is known to be quick from now on
  for (int round = 0; round < 2; ++round) {  // nap unknown, then known to be slow
    INFO("round " << round);
    f.open_gate = false;
    const int id = 10 * (round + 1);
    f.transport.push(req(id, "tools/call", {{"name", "gate"}, {"arguments", json::object()}}));
    f.transport.push(req(id + 1, "tools/call", {{"name", "echo"}, {"arguments", json::object()}}));
    f.transport.push(req(id + 2, "tools/call", {{"name", "nap"}, {"arguments", json::object()}}));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // echo and nap wait behind the gate
    f.open_gate = true;
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(f.transport.reply(id + 1, std::chrono::milliseconds(400)).is_null());  // before nap ends
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(400));
    CHECK_FALSE(f.transport.reply(id + 2).is_null());
    CHECK_FALSE(f.transport.reply(id).is_null());
  }
}

TEST_CASE("progress, log notifications above the level, and ping while a long call runs") {
  Fixture f;
  f.transport.push(req(1, "logging/setLevel", {{"level", "warning"}}));
  CHECK(f.transport.reply(1)["result"] == json::object());
  f.transport.push(req(2, "tools/call", {{"name", "slow"}, {"arguments", json::object()}, {"_meta", {{"progressToken", "tok"}}}}));
  for (int i = 1; i <= 3; ++i) {
    json p = f.transport.wait_for([&](const json& m) {
      return m.value("method", "") == "notifications/progress" && m["params"]["progress"] == i;
    });
    CHECK(p["params"]["progressToken"] == "tok");
    CHECK(p["params"]["total"] == 3);
  }
  json log = f.transport.wait_for([](const json& m) { return m.value("method", "") == "notifications/message"; });
  CHECK(log["params"]["level"] == "warning");
  CHECK(log["params"]["data"]["note"] == "halfway");
  f.transport.push(req(3, "ping"));
  CHECK(f.transport.reply(3)["result"] == json::object());  // answered while "slow" still runs
  f.release = true;
  CHECK(f.transport.reply(2)["result"]["structuredContent"]["cancelled"] == false);
}

TEST_CASE("log notifications below the client's level are not sent") {
  Fixture f;
  f.transport.push(req(1, "logging/setLevel", {{"level", "error"}}));
  f.transport.reply(1);
  f.release = true;
  f.transport.push(req(2, "tools/call", {{"name", "slow"}, {"arguments", json::object()}}));
  f.transport.reply(2);
  for (const auto& m : f.transport.drain()) CHECK(m.value("method", "") != "notifications/message");
}

TEST_CASE("a cancelled request gets no reply") {
  Fixture f;
  f.transport.push(
      req("c1", "tools/call",
          {{"name", "slow"}, {"arguments", json::object()}, {"_meta", {{"progressToken", "t1"}}}}));
  f.transport.push(json{{"jsonrpc", "2.0"}, {"method", "notifications/cancelled"}, {"params", {{"requestId", "c1"}}}});
  f.transport.push(req(2, "ping"));
  f.transport.reply(2);
  f.release = true;  // the tool returns; its reply must still be suppressed
  json none = f.transport.reply("c1", std::chrono::milliseconds(300));
  CHECK(none.is_null());
  // Nor any progress after the cancel: the client has forgotten the token (the SDK reports an error).
  for (const auto& m : f.transport.drain())
    if (m.value("method", "") == "notifications/progress") CHECK(m["params"]["progress"] != 4);
}

TEST_CASE("server-to-client requests get the client's answer") {
  Fixture f;
  f.transport.push(req(1, "tools/call", {{"name", "ask"}, {"arguments", json::object()}}));
  json ask = f.transport.wait_for([](const json& m) { return m.value("method", "") == "elicitation/create"; });
  REQUIRE(ask.contains("id"));
  f.transport.push(json{{"jsonrpc", "2.0"}, {"id", ask["id"]}, {"result", {{"action", "accept"}}}});
  CHECK(f.transport.reply(1)["result"]["structuredContent"]["action"] == "accept");
}

TEST_CASE("resources list and read") {
  Fixture f;
  f.transport.push(req(1, "resources/list"));
  json list = f.transport.reply(1);
  CHECK(list["result"]["resources"][0]["uri"] == "log://latest");
  f.transport.push(req(2, "resources/read", {{"uri", "log://latest"}}));
  CHECK(f.transport.reply(2)["result"]["contents"][0]["text"] == "hello");
  // A slow read runs beside the rest: ping and tool calls are answered meanwhile (they waited behind it).
  f.transport.push(req(3, "resources/read", {{"uri", "log://big"}}));
  f.transport.push(req(4, "ping"));
  CHECK(f.transport.reply(4, std::chrono::milliseconds(2000)).contains("result"));
  f.transport.push(req(5, "tools/call", {{"name", "echo"}, {"arguments", json::object()}}));
  CHECK(f.transport.reply(5, std::chrono::milliseconds(2000)).contains("result"));
  f.release = true;
  CHECK(f.transport.reply(3)["result"]["contents"][0]["text"] == "big");
}

TEST_CASE("input end waits for calls in flight, then serve returns") {
  ToolRegistry tools;
  Tool t;
  t.name = "wait";
  t.input_schema = {{"type", "object"}};
  t.output_schema = {{"type", "object"}};
  t.handler = [](ToolCall&) -> json {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return {{"done", true}};
  };
  tools.add(t);
  FakeTransport transport;
  Server server(ServerInfo{}, tools);
  transport.push(req(1, "tools/call", {{"name", "wait"}}));
  transport.close();
  server.serve(transport);  // returns only after the reply was sent
  json r = transport.reply(1);
  CHECK(r["result"]["structuredContent"]["done"] == true);
}
