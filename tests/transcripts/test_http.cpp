// `agentlog http` through a real HTTP client (libcurl), mostly on loopback: every endpoint, authentication,
// write tokens and the audit records of refused writes, rate limiting, bodies (limits, bad JSON, none,
// form-typed), methods (405 with Allow), encoded path segments, policy denials, the port, and the embedded
// viewer files.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <doctest/doctest.h>
#include <ifaddrs.h>
#include <signal.h>

#include <chrono>
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

// How a request goes out, where it differs from a JSON body to 127.0.0.1.
struct Send {
  std::string content_type = "application/json";
  bool no_body = false;  // neither a body nor Content-Length, as `curl -X POST` sends
  std::string host = "127.0.0.1";
  std::vector<std::string> headers = {};  // more of them ("Origin: ...")
};

// A running `agentlog http --port 0` on a project, and a libcurl client for it.
class HttpServer {
 public:
  explicit HttpServer(const TempDir& root, std::vector<std::string> extra = {}, int port = 0)
      : process_(McpSession::Command{[&] {
          std::vector<std::string> args = {
              "http", "--root", root.path().string(), "--port", std::to_string(port), "--json"};
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

  int port() const { return port_; }

  Reply request(const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& token = "", const Send& send = {}) {
    Reply reply;
    CURL* curl = curl_easy_init();
    std::string url = "http://" + send.host + ":" + std::to_string(port_) + path;
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    std::string type = "Content-Type: " + send.content_type;
    curl_slist* headers = curl_slist_append(nullptr, type.c_str());
    std::string auth = "Authorization: Bearer " + token;
    if (!token.empty()) headers = curl_slist_append(headers, auth.c_str());
    for (const auto& h : send.headers) headers = curl_slist_append(headers, h.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (!send.no_body && (!body.empty() || method == "POST" || method == "PUT")) {
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

// The records `agentlog audit list --denied` shows.
json denied_records(const TempDir& root) {
  auto r =
      agentlog::test::run_agentlog({"audit", "list", "--denied", "--json", "--root", root.path().string()});
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

// An IPv4 address of this machine that is not loopback ("" when it has none).
std::string non_loopback_address() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    if (std::string(text).rfind("127.", 0) != 0) found = text;
  }
  freeifaddrs(list);
  return found;
}

void init_project(const TempDir& root, const std::string& env_logging_extra = "") {
  auto r = agentlog::test::run_agentlog({"init", "--root", root.path().string()});
  REQUIRE(r.exit_code == 0);
  if (!env_logging_extra.empty()) {
    auto env = root / ".ai-agents/logging/config/.env.logging";
    agentlog::test::write_text(env, agentlog::test::read_text(env) + "\n" + env_logging_extra + "\n");
  }
}

// A project with src/calc.cpp whose one API token is alice's ("alice-secret-1").
void init_calc_project(const TempDir& root) {
  init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
  agentlog::test::write_text(root / "src/calc.cpp", "int add(int a, int b) {\n  return a + b;\n}\n");
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
  json denied = denied_records(root);
  REQUIRE(denied.size() == 1);
  CHECK(denied[0]["agent"]["name"] == "anonymous");
  CHECK(denied[0]["tool"] == "log_event");
  CHECK(denied[0]["errorId"] == "http.unauthorized");

  auto missing = http.request("GET", "/api/nope");
  CHECK(missing.status == 404);
  CHECK(missing.error_id() == "http.not_found");
  auto wrong_method = http.request("POST", "/api/tracing/config", "{}");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.headers["allow"] == "GET");
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
  json denied = denied_records(root);
  REQUIRE(denied.size() == 1);
  CHECK(denied[0]["agent"]["name"] == "bob");
  CHECK(denied[0]["tool"] == "log_event");
  CHECK(denied[0]["arguments"]["message"] == "from bob");
  CHECK(denied[0]["errorId"] == "http.forbidden_write");

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
  for (const char* limit : {"-1", "0", "5x", "18446744073709551615"}) {
    auto bad = http.request("GET", std::string("/api/audit?limit=") + limit, "", bob);
    CHECK(bad.status == 400);
    CHECK(bad.error_id() == "http.bad_argument");
  }
  CHECK(http.request("GET", "/api/audit?limit=1", "", bob).json_body()["records"].size() == 1);
  CHECK(agentlog::test::run_agentlog({"audit", "verify", "--root", root.path().string()}).exit_code == 0);
}

TEST_CASE("instrumenting and log search over HTTP") {
  TempDir root;
  init_calc_project(root);
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

TEST_CASE("a second server on a port already taken fails and says what to do; a restart gets the port") {
  TempDir root;
  init_project(root);
  int port = 0;
  {
    HttpServer first(root);
    port = first.port();
    // Before the fix both listened (SO_REUSEPORT) and the second served until killed.
    auto second = agentlog::test::run_process(
        {AGENTLOG_BINARY, "http", "--root", root.path().string(), "--port", std::to_string(port)}, "", {}, {},
        std::chrono::seconds(10));
    CHECK(second.exit_code == 1);
    CHECK(second.err.find("(in use?); choose another with --port") != std::string::npos);
    CHECK(first.request("GET", "/api/tracing/config?file=a.cpp").status == 200);
  }
  HttpServer restarted(root, {}, port);
  CHECK(restarted.request("GET", "/api/tracing/config?file=a.cpp").status == 200);
}

TEST_CASE("anonymous reads from another host are refused once the tokens are removed") {
  const std::string address = non_loopback_address();
  if (address.empty()) {
    MESSAGE("skipped: this machine has no non-loopback IPv4 address to call from");
    return;
  }
  std::vector<std::string> binds = {"0.0.0.0"};
  // On "::" IPv4 clients arrive as ::ffff:a.b.c.d, and ::ffff:127.0.0.1 is still loopback.
  const std::filesystem::path inet6 = "/proc/net/if_inet6";  // empty or absent without IPv6
  if (std::filesystem::exists(inet6) && !agentlog::test::read_text(inet6).empty()) binds.push_back("::");
  for (const auto& bind : binds) {
    CAPTURE(bind);
    TempDir root;
    init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
    HttpServer http(root, {"--bind", bind});
    const Send from_outside{.host = address};
    CHECK(http.request("GET", "/api/tracing/config?file=a.cpp", "", "alice-secret-1", from_outside).status ==
          200);

    // The human removes the tokens while the server runs (.env.logging is read again on the next request).
    auto env = root / ".ai-agents/logging/config/.env.logging";
    std::string text = agentlog::test::read_text(env);
    text.erase(text.find("AGENTLOG_API_TOKENS=alice:alice-secret-1"));
    agentlog::test::write_text(env, text);

    auto outside = http.request("GET", "/api/tracing/config?file=a.cpp", "", "", from_outside);
    CHECK(outside.status == 401);
    CHECK(outside.error_id() == "http.unauthorized");
    CHECK(outside.json_body()["error"]["message"].get<std::string>().find("AGENTLOG_API_TOKENS") !=
          std::string::npos);
    CHECK(http.request("GET", "/api/tracing/config?file=a.cpp").status == 200);  // loopback still reads
  }
}

TEST_CASE("a JSON body is JSON whatever its Content-Type; arguments come from it and the query string") {
  TempDir root;
  init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
  HttpServer http(root);
  const std::string token = "alice-secret-1";
  const Send as_form{.content_type = "application/x-www-form-urlencoded"};  // what curl -d sends

  auto event = http.request("POST", "/api/logs/event?category=api",
                            R"({"level":"info","message":"sent as a form"})", token, as_form);
  CHECK_MESSAGE(event.status == 200, event.body);
  CHECK(event.json_body()["record"]["category"] == "api");
  auto put =
      http.request("PUT", "/api/tracing/config/file", R"({"file":"src/a.cpp","level":3})", token, as_form);
  CHECK_MESSAGE(put.status == 200, put.body);
  auto form = http.request("POST", "/api/logs/event", "level=info&message=plain+form", token, as_form);
  CHECK(form.status == 400);
  CHECK(form.error_id() == "http.bad_json");
  CHECK(agentlog::test::read_text(root / ".ai-agents/logging/logs/latest.log").find("plain form") ==
        std::string::npos);
}

TEST_CASE("POST without a body or Content-Length is an empty body") {
  TempDir root;
  init_calc_project(root);
  HttpServer http(root);
  const std::string token = "alice-secret-1";
  const Send no_body{.no_body = true};

  auto start = std::chrono::steady_clock::now();
  auto all = http.request("POST", "/api/tracing/instrument/all?level=1&dryRun=true", "", token, no_body);
  CHECK_MESSAGE(all.status == 200, all.body);
  CHECK(all.json_body()["summary"]["files"] == 1);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));  // not the read timeout
  auto missing = http.request("POST", "/api/logs/event", "", token, no_body);
  CHECK(missing.status == 400);
  CHECK(missing.error_id() == "tool.invalid_arguments");
  auto audit = http.request("POST", "/api/audit", "", token, no_body);
  CHECK(audit.status == 405);
  CHECK(audit.headers["allow"] == "GET");
}

TEST_CASE("other methods on an endpoint get 405 with Allow; the function endpoint needs a function") {
  TempDir root;
  init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
  HttpServer http(root);
  const std::string token = "alice-secret-1";

  for (const char* method : {"DELETE", "PATCH"}) {
    auto reply = http.request(method, "/api/logs/event", "", token);
    CHECK(reply.status == 405);
    CHECK(reply.error_id() == "http.method_not_allowed");
    CHECK(reply.headers["allow"] == "POST");
  }
  auto with_body = http.request("DELETE", "/api/tracing/config/file", R"({"file":"src/a.cpp"})", token);
  CHECK(with_body.status == 405);
  CHECK(with_body.headers["allow"] == "PUT");
  auto get = http.request("GET", "/api/logs/event", "", token);
  CHECK(get.status == 405);
  CHECK(get.headers["allow"] == "POST");
  CHECK(http.request("DELETE", "/api/nope", "", token).status == 404);

  auto no_function =
      http.request("PUT", "/api/tracing/config/function", R"({"file":"src/a.cpp","level":3})", token);
  CHECK(no_function.status == 400);
  CHECK(no_function.error_id() == "http.bad_argument");
  CHECK(no_function.json_body()["error"]["message"].get<std::string>().find("\"function\"") !=
        std::string::npos);
  auto with_function = http.request("PUT", "/api/tracing/config/file",
                                    R"({"file":"src/a.cpp","function":"f","level":3})", token);
  CHECK(with_function.status == 400);
  CHECK(with_function.json_body()["error"]["message"].get<std::string>().find(
            "/api/tracing/config/function") != std::string::npos);
  auto cfg = root / ".ai-agents/logging/config/tracing.config.json";
  CHECK((!std::filesystem::exists(cfg) ||
         agentlog::test::read_text(cfg).find("src/a.cpp") == std::string::npos));
}

TEST_CASE("a function name with '/' is reachable with the slash encoded") {
  TempDir root;
  init_project(root, "AGENTLOG_API_TOKENS=alice:alice-secret-1");
  const std::string day = agentlog::test::utc_day(-1);
  json span = {{"traceId", "5bf92f3577b34da6a3ce929d0e0e4736"},
               {"spanId", "10f067aa0ba902b7"},
               {"parentSpanId", nullptr},
               {"function", "operator/"},
               {"file", "src/vec.cpp"},
               {"line", 3},
               {"startTime", day + "T10:00:00.000000Z"},
               {"duration", 1.5},
               {"durationNs", 1500000},
               {"params", json::object()},
               {"returnValue", nullptr},
               {"error", nullptr}};
  std::filesystem::create_directories(root / ".ai-agents/logging/traces" / day);
  agentlog::test::write_text(root / ".ai-agents/logging/traces" / day / "1-1.jsonl", span.dump() + "\n");
  HttpServer http(root);
  const std::string token = "alice-secret-1";

  // As the viewer asks (encodeURIComponent on both), and with the file's slashes left as they are.
  for (const char* path : {"/api/tracing/stats/function/src%2Fvec.cpp/operator%2F",
                           "/api/tracing/stats/function/src/vec.cpp/operator%2F"}) {
    auto stats = http.request("GET", path, "", token);
    CHECK_MESSAGE(stats.status == 200, path << ": " << stats.body);
    CHECK(stats.json_body()["count"] == 1);
  }
}

TEST_CASE(
    "without tokens, web pages of other sites and rebound names are refused; big bodies stay small in the "
    "audit") {
  TempDir root;
  REQUIRE(agentlog::test::run_agentlog({"init", "--root", root.path().string()}).exit_code == 0);
  HttpServer server(root);
  const std::size_t denied_before = denied_records(root).size();
  // A name whose DNS points at 127.0.0.1 (its page would be same-origin), and another site's page.
  Reply rebound =
      server.request("GET", "/api/audit?limit=5", "", "", {.headers = {"Host: attacker.example"}});
  CHECK(rebound.status == 401);
  CHECK(rebound.body.find("Host and Origin must be 127.0.0.1, localhost or [::1]") != std::string::npos);
  const std::string big = json{{"level", "error"}, {"message", std::string(900000, 'A')}}.dump();
  Reply foreign = server.request("POST", "/api/logs/event", big, "",
                                 {.content_type = "text/plain", .headers = {"Origin: http://evil.example"}});
  CHECK(foreign.status == 401);
  CHECK(denied_records(root).size() == denied_before);  // not even a record: nothing to fill the log with
  // This server's own pages and programs here are served.
  CHECK(server.request("GET", "/api/audit?limit=1", "", "", {.headers = {"Host: localhost"}}).status == 200);
  CHECK(server
            .request("GET", "/api/audit?limit=1", "", "",
                     {.headers = {"Origin: http://127.0.0.1:" + std::to_string(server.port())}})
            .status == 200);
  // A refused write from here is audited, its 900 KB body by size, hash and beginning (it was whole).
  CHECK(server.request("POST", "/api/logs/event", big).status == 401);
  json denied = denied_records(root);
  REQUIRE(denied.size() == denied_before + 1);
  const json& args = denied[0]["arguments"];
  CHECK(args["truncated"] == true);
  CHECK(args["bytes"].get<std::size_t>() > 900000);
  CHECK(args["head"].get<std::string>().size() <= 4096);
  CHECK(std::filesystem::file_size(root / ".ai-agents/logging/audit/actions.jsonl") < 64 * 1024);
  // JSON goes out as it is, whatever the client accepts (Brotli at its slowest setting took minutes).
  Reply plain = server.request("GET", "/api/audit?limit=5", "", "",
                               {.headers = {"Accept-Encoding: gzip, deflate, br"}});
  CHECK(plain.status == 200);
  CHECK(plain.headers.count("content-encoding") == 0);
  CHECK(plain.headers["content-type"] == "application/json; charset=utf-8");
}
