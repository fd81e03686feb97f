// `agentlog http` through a real HTTP client (libcurl) on loopback: every endpoint, authentication, write
// tokens, rate limiting, body limits, bad JSON, policy denials, and the embedded viewer files.
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::test::McpSession;
using agentlog::test::TempDir;
using nlohmann::json;

namespace {

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json json_body() const { return json::parse(body, nullptr, false); }
  std::string error_id() const {
    auto j = json_body();
    return j.is_object() && j.contains("error") ? j["error"].value("id", "") : "";
  }
};

size_t on_body(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n") + 1);
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

// A running `agentlog http --port 0` on a project, and a libcurl client for it.
class HttpServer {
 public:
  explicit HttpServer(const TempDir& root, std::vector<std::string> extra = {})
      : process_(McpSession::Command{[&] {
          std::vector<std::string> args = {"http", "--root", root.path().string(), "--port", "0", "--json"};
          args.insert(args.end(), extra.begin(), extra.end());
          return args;
        }()}) {
    auto hello = process_.read();
    REQUIRE_MESSAGE(hello.has_value(), "agentlog http did not start: " << process_.stderr_text());
    port_ = (*hello)["port"].get<int>();
  }
  ~HttpServer() {
    process_.kill(SIGTERM);
    process_.wait();
  }

  Reply request(const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& token = "") {
    Reply reply;
    CURL* curl = curl_easy_init();
    std::string url = "http://127.0.0.1:" + std::to_string(port_) + path;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    std::string auth = "Authorization: Bearer " + token;
    if (!token.empty()) headers = curl_slist_append(headers, auth.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (!body.empty() || method == "POST" || method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(curl);
    REQUIRE_MESSAGE(rc == CURLE_OK, curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return reply;
  }

 private:
  McpSession process_;
  int port_ = 0;
};

void init_project(const TempDir& root, const std::string& env_logging_extra = "") {
  auto r = agentlog::test::run_agentlog({"init", "--root", root.path().string()});
  REQUIRE(r.exit_code == 0);
  if (!env_logging_extra.empty()) {
    auto env = root / ".ai-agents/logging/config/.env.logging";
    agentlog::test::write_text(env, agentlog::test::read_text(env) + "\n" + env_logging_extra + "\n");
  }
}

}  // namespace

TEST_CASE("without tokens, loopback reads work and writes are refused") {
  TempDir root;
  init_project(root);
  HttpServer http(root);

  auto config = http.request("GET", "/api/tracing/config?file=src/a.cpp");
  CHECK(config.status == 200);
  CHECK(config.headers["content-type"].find("application/json") == 0);
  CHECK(config.json_body()["effective"]["level"].is_number_integer());

  auto write = http.request("POST", "/api/logs/event", R"({"level":"info","message":"hi"})");
  CHECK(write.status == 401);
  CHECK(write.error_id() == "http.unauthorized");
  CHECK(write.json_body()["error"]["message"].get<std::string>().find("AGENTLOG_API_TOKENS") !=
        std::string::npos);

  auto missing = http.request("GET", "/api/nope");
  CHECK(missing.status == 404);
  CHECK(missing.error_id() == "http.not_found");
  auto wrong_method = http.request("POST", "/api/tracing/config", "{}");
  CHECK(wrong_method.status == 405);
}

TEST_CASE("the viewer's files are served from the binary") {
  TempDir root;
  init_project(root);
  HttpServer http(root);
  auto index = http.request("GET", "/");
  CHECK(index.status == 200);
  CHECK(index.headers["content-type"].find("text/html") == 0);
  CHECK(index.body.find("/viewer/viewer.js") != std::string::npos);
  auto js = http.request("GET", "/viewer/viewer.js");
  CHECK(js.status == 200);
  CHECK(js.headers["content-type"].find("text/javascript") == 0);
  CHECK(js.body.find("waterfall") != std::string::npos);
  CHECK(http.request("GET", "/viewer/viewer.css").status == 200);
  CHECK(http.request("GET", "/viewer/nothing.js").status == 404);
}

TEST_CASE("bearer tokens: 401 without or with a wrong token, read-only tokens cannot write") {
  TempDir root;
  init_project(root,
               "AGENTLOG_API_TOKENS=alice:alice-secret-1,bob:bob-secret-2\nAGENTLOG_API_WRITE_TOKENS=alice");
  HttpServer http(root);

  auto anonymous = http.request("GET", "/api/tracing/config?file=src/a.cpp");
  CHECK(anonymous.status == 401);
  CHECK(anonymous.headers["www-authenticate"] == "Bearer");
  CHECK(http.request("GET", "/api/tracing/config?file=src/a.cpp", "", "alice-secret-X").status == 401);
  CHECK(http.request("GET", "/api/tracing/config?file=src/a.cpp", "", "bob-secret-2").status == 200);

  auto bob_write =
      http.request("POST", "/api/logs/event", R"({"level":"info","message":"from bob"})", "bob-secret-2");
  CHECK(bob_write.status == 403);
  CHECK(bob_write.error_id() == "http.forbidden_write");

  auto event = http.request("POST", "/api/logs/event",
                            R"({"level":"warn","category":"api","message":"from alice","fields":{"n":1}})",
                            "alice-secret-1");
  CHECK(event.status == 200);
  auto log = agentlog::test::read_text(root / ".ai-agents/logging/logs/latest.log");
  CHECK(log.find("from alice") != std::string::npos);
  CHECK(log.find("from bob") == std::string::npos);

  auto put = http.request("PUT", "/api/tracing/config/function",
                          R"({"file":"src/users.cpp","function":"getUser","level":3})", "alice-secret-1");
  CHECK(put.status == 200);
  auto cfg = json::parse(agentlog::test::read_text(root / ".ai-agents/logging/config/tracing.config.json"));
  CHECK(cfg["functions"]["src/users.cpp::getUser"]["level"] == 3);
  auto got =
      http.request("GET", "/api/tracing/config?file=src/users.cpp&function=getUser", "", "bob-secret-2");
  CHECK(got.json_body()["effective"]["level"] == 3);
}

TEST_CASE("bad JSON, schema violations and policy denials have ids and status codes") {
  TempDir root;
  init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
  auto env_tracing = root / ".ai-agents/logging/config/.env.tracing";
  agentlog::test::write_text(env_tracing, agentlog::test::read_text(env_tracing) + "\nTRACING_MAX_LEVEL=2\n");
  HttpServer http(root);
  const std::string token = "alice-secret-1";

  auto bad = http.request("PUT", "/api/tracing/config/file", "{not json", token);
  CHECK(bad.status == 400);
  CHECK(bad.error_id() == "http.bad_json");
  auto array = http.request("PUT", "/api/tracing/config/file", "[1,2]", token);
  CHECK(array.status == 400);

  auto invalid =
      http.request("PUT", "/api/tracing/config/file", R"({"file":"src/a.cpp","level":"high"})", token);
  CHECK(invalid.status == 400);
  CHECK(invalid.body.find("level") != std::string::npos);

  auto denied = http.request("PUT", "/api/tracing/config/file", R"({"file":"src/a.cpp","level":5})", token);
  CHECK(denied.status == 403);
  CHECK(denied.error_id().rfind("policy.denied", 0) == 0);
  CHECK(denied.json_body()["error"]["message"].get<std::string>().find("TRACING_MAX_LEVEL") !=
        std::string::npos);
}

TEST_CASE("bodies over the limit get 413") {
  TempDir root;
  init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
  HttpServer http(root);
  std::string huge = R"({"level":"info","message":")" + std::string(2u << 20, 'x') + "\"}";
  auto reply = http.request("POST", "/api/logs/event", huge, "alice-secret-1");
  CHECK(reply.status == 413);
  CHECK(reply.error_id() == "http.body_too_large");
  auto log = root / ".ai-agents/logging/logs/latest.log";
  CHECK((!std::filesystem::exists(log) ||
         agentlog::test::read_text(log).find("xxxxxxxx") == std::string::npos));
}

TEST_CASE("a token bucket per token answers 429 with Retry-After") {
  TempDir root;
  init_project(root,
               "AGENTLOG_API_TOKENS=alice:alice-secret-1,bob:bob-secret-2\nAGENTLOG_API_RATE_LIMIT=0.5\n"
               "AGENTLOG_API_RATE_BURST=3");
  HttpServer http(root);
  for (int i = 0; i < 3; ++i)
    CHECK(http.request("GET", "/api/tracing/config?file=a.cpp", "", "alice-secret-1").status == 200);
  auto limited = http.request("GET", "/api/tracing/config?file=a.cpp", "", "alice-secret-1");
  CHECK(limited.status == 429);
  CHECK(limited.error_id() == "http.rate_limited");
  CHECK(std::stoi(limited.headers["retry-after"]) >= 1);
  // Another token has its own bucket.
  CHECK(http.request("GET", "/api/tracing/config?file=a.cpp", "", "bob-secret-2").status == 200);
}

TEST_CASE("binding to a non-loopback address without tokens is refused") {
  TempDir root;
  init_project(root);
  auto r = agentlog::test::run_agentlog(
      {"http", "--root", root.path().string(), "--bind", "0.0.0.0", "--port", "0"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("AGENTLOG_API_TOKENS") != std::string::npos);
}

TEST_CASE("trace endpoints and the audit log over HTTP; the caller is the token's name") {
  TempDir root;
  init_project(root,
               "AGENTLOG_API_TOKENS=alice:alice-secret-1,bob:bob-secret-2\nAGENTLOG_API_WRITE_TOKENS=alice");
  // Two spans of one trace, in the runtime's format, in yesterday's folder (retention keeps 14 days).
  const std::string day = agentlog::test::utc_day(-1);
  json child = {{"traceId", "4bf92f3577b34da6a3ce929d0e0e4736"},
                {"spanId", "00f067aa0ba902b7"},
                {"parentSpanId", "00f067aa0ba902b6"},
                {"function", "Db::query"},
                {"file", "src/db.cpp"},
                {"line", 9},
                {"startTime", day + "T10:00:00.000100Z"},
                {"duration", 2.5},
                {"durationNs", 2500000},
                {"params", {{"sql", "SELECT 1"}}},
                {"returnValue", 1},
                {"error", nullptr}};
  json parent = child;
  parent["spanId"] = "00f067aa0ba902b6";
  parent["parentSpanId"] = nullptr;
  parent["function"] = "Api::handle";
  parent["file"] = "src/api.cpp";
  parent["startTime"] = day + "T10:00:00.000000Z";
  parent["duration"] = 4.0;
  parent["durationNs"] = 4000000;
  std::filesystem::create_directories(root / ".ai-agents/logging/traces" / day);
  agentlog::test::write_text(root / ".ai-agents/logging/traces" / day / "1-1.jsonl",
                             child.dump() + "\n" + parent.dump() + "\n");
  HttpServer http(root);
  const std::string bob = "bob-secret-2";

  auto search = http.request("GET", "/api/tracing/search?query=SELECT&minDuration=1ms", "", bob);
  REQUIRE_MESSAGE(search.status == 200, search.body);
  CHECK(search.json_body()["traces"][0]["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  auto trace = http.request("GET", "/api/tracing/trace/4bf92f3577b34da6a3ce929d0e0e4736", "", bob);
  CHECK(trace.status == 200);
  CHECK(trace.json_body()["spans"][0]["children"] == json::array({"00f067aa0ba902b7"}));
  CHECK(http.request("GET", "/api/tracing/trace/nope", "", bob).status == 404);
  auto slow = http.request("GET", "/api/tracing/slow?threshold=3ms", "", bob);
  CHECK(slow.json_body()["traces"].size() == 1);
  auto file_stats = http.request("GET", "/api/tracing/stats/file/src/db.cpp", "", bob);
  CHECK(file_stats.json_body()["count"] == 1);
  auto fn_stats = http.request("GET", "/api/tracing/stats/function/src/api.cpp/handle", "", bob);
  CHECK(fn_stats.json_body()["p99"] == 4.0);
  auto bad_duration = http.request("GET", "/api/tracing/slow?threshold=soon", "", bob);
  CHECK(bad_duration.status == 400);
  CHECK(bad_duration.error_id() == "traces.bad_duration");

  // A denied write by alice, then the audit log: newest first, the caller is the token's name.
  auto denied = http.request("PUT", "/api/tracing/config/file", R"({"file":"../etc/passwd","level":1})",
                             "alice-secret-1");
  CHECK(denied.status == 403);
  CHECK(denied.error_id() == "policy.denied.outside_root");
  auto audit = http.request("GET", "/api/audit?limit=50", "", bob);
  REQUIRE(audit.status == 200);
  json records = audit.json_body()["records"];
  REQUIRE(records.size() >= 7);
  CHECK(records[0]["agent"]["name"] == "alice");
  CHECK(records[0]["decision"] == "denied");
  CHECK(records[1]["agent"]["name"] == "bob");
  auto only_denied = http.request("GET", "/api/audit?denied=true", "", bob);
  CHECK(only_denied.json_body()["records"].size() == 1);
  CHECK(http.request("GET", "/api/audit").status == 401);
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()}).exit_code == 0);
}

TEST_CASE("instrumenting and log search over HTTP") {
  TempDir root;
  init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
  agentlog::test::write_text(root / "src/calc.cpp", "int add(int a, int b) {\n  return a + b;\n}\n");
  HttpServer http(root);
  const std::string token = "alice-secret-1";
  auto file =
      http.request("POST", "/api/tracing/instrument/file", R"({"file":"src/calc.cpp","level":2})", token);
  REQUIRE(file.status == 200);
  CHECK(file.json_body()["changed"] == true);
  CHECK(agentlog::test::read_text(root / "src/calc.cpp").find("AGENTLOG_SPAN(2, a, b)") != std::string::npos);
  auto all = http.request("POST", "/api/tracing/instrument/all", R"({"level":1,"dryRun":true})", token);
  CHECK(all.status == 200);
  CHECK(all.json_body()["summary"]["files"] == 1);
  auto un = http.request("POST", "/api/tracing/uninstrument/file", R"({"file":"src/calc.cpp"})", token);
  CHECK(un.json_body()["outcome"] == "restored");
  CHECK(agentlog::test::read_text(root / "src/calc.cpp") == "int add(int a, int b) {\n  return a + b;\n}\n");
  auto denied = http.request("POST", "/api/tracing/instrument/file",
                             R"({"file":".ai-agents/logging/config/.env.tracing","level":1})", token);
  CHECK(denied.status == 403);
  CHECK(denied.error_id() == "policy.denied.protected_file");

  CHECK(http.request("POST", "/api/logs/event",
                     R"({"level":"error","category":"api","message":"boom","fields":{"reqId":"r-1"}})", token)
            .status == 200);
  auto found = http.request("GET", "/api/logs/search?level=error&fields.reqId=r-1", "", token);
  REQUIRE(found.status == 200);
  REQUIRE(found.json_body()["matches"].size() == 1);
  CHECK(found.json_body()["matches"][0]["msg"] == "boom");
  auto bad = http.request("GET", "/api/logs/search?regex=(x", "", token);
  CHECK(bad.status == 400);
  CHECK(bad.error_id() == "logs.bad_regex");
}
