#include "tools/http_api.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <mutex>
#include <regex>

#include "logger/env_file.hpp"
#include "logger/files.hpp"
#include "policy/audit.hpp"
#include "tools/cli.hpp"
#include "tools/embedded.hpp"
#include "tools/tools.hpp"

namespace agentlog {

bool is_loopback_address(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  if (host.rfind("::ffff:", 0) == 0) return is_loopback_address(host.substr(7));  // IPv4 on an IPv6 socket
  in_addr addr{};
  if (inet_pton(AF_INET, host.c_str(), &addr) == 1) return (ntohl(addr.s_addr) >> 24) == 127;
  return false;
}

namespace {

using Clock = std::chrono::steady_clock;

// The host of a Host header or an Origin ("http://127.0.0.1:7070", "[::1]:7070", "localhost"), without
// scheme and port.
std::string host_part(std::string value) {
  if (auto scheme = value.find("://"); scheme != std::string::npos) value.erase(0, scheme + 3);
  if (!value.empty() && value[0] == '[') return value.substr(1, value.find(']') - 1);
  return value.substr(0, value.find_first_of(":/"));
}

std::string sha256(const std::string& s) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

// The API settings of .env.logging, re-read when the file changes (the human edits it while we run).
class ApiSettings {
 public:
  struct Snapshot {
    std::map<std::string, std::string> token_hash_to_name;  // sha256(token) -> name
    std::vector<std::string> write_names;                   // empty = every token may write
    double rate = 50;
    double burst = 100;
  };

  explicit ApiSettings(fs::path env) : env_(env), check_({std::move(env)}) {}

  std::shared_ptr<const Snapshot> get() {
    std::lock_guard lock(mutex_);
    if (!check_.changed()) return current_;
    EnvSettings env = EnvSettings::load(env_, logging_env_keys());
    auto snap = std::make_shared<Snapshot>();
    for (const auto& entry : env.get_list("AGENTLOG_API_TOKENS")) {
      auto colon = entry.find(':');
      if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) continue;  // config show reports it
      snap->token_hash_to_name[sha256(entry.substr(colon + 1))] = entry.substr(0, colon);
    }
    snap->write_names = env.get_list("AGENTLOG_API_WRITE_TOKENS");
    snap->rate = env.get_double("AGENTLOG_API_RATE_LIMIT");
    snap->burst = static_cast<double>(env.get_int("AGENTLOG_API_RATE_BURST"));
    current_ = snap;
    return current_;
  }

 private:
  fs::path env_;
  std::mutex mutex_;
  SettingsCheck check_;
  std::shared_ptr<const Snapshot> current_;
};

// A token bucket per caller (token name, or remote address without a token).
class RateLimiter {
 public:
  // Returns 0 when allowed, else the seconds to wait.
  int take(const std::string& key, double rate, double burst) {
    std::lock_guard lock(mutex_);
    auto now = Clock::now();
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst, now});
    Bucket& b = it->second;
    if (!fresh) {
      double elapsed = std::chrono::duration<double>(now - b.last).count();
      b.tokens = std::min(burst, b.tokens + elapsed * rate);
      b.last = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / rate)));
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point last;
  };
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;
};

struct Route {
  std::string method;
  std::regex pattern;  // matched against the raw path, so that an encoded '/' stays inside its segment
  std::string tool;    // empty: the audit log, which is not a tool
  bool write;
  // Turns regex captures into arguments (after the query string and body are merged in).
  std::function<void(const std::smatch&, json&)> captures;
  const char* required = nullptr;  // an argument the tool may go without but this endpoint may not
  const char* refused = nullptr;   // an argument the tool takes but this endpoint does not (another one does)
};

std::string decoded(const std::ssub_match& segment) {
  return httplib::detail::decode_url(segment.str(), false);
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // With its charset, a type the HTTP library does not compress: it would use Brotli at its slowest setting
  // whenever a browser accepts it, and a 30,000-span trace took 50 s instead of 1.5.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, int status, const std::string& id, const std::string& message) {
  send_json(res, status, {{"error", {{"id", id}, {"message", message}}}});
}

// "[policy.denied.protected_file] text" -> status by the id's meaning.
int status_for(const std::string& id) {
  if (id.rfind("policy.approval", 0) == 0) return 409;
  if (id.rfind("policy.", 0) == 0) return 403;
  if (id.find("not_found") != std::string::npos || id.find("unknown") != std::string::npos) return 404;
  if (id == "tool.failed") return 500;
  if (id == "traces.index_busy") return 503;  // another process is making the index: ask again shortly
  return 400;
}

// Query values typed by the tool's input schema; `fields.x=y` becomes {"fields": {"x": "y"}}.
json coerce(const json& schema, const std::string& key, const std::string& value) {
  const json props = schema.value("properties", json::object());
  if (!props.contains(key)) return value;  // unknown keys fail schema validation with a clear message
  json type = props[key].value("type", json("string"));
  auto is = [&](const char* t) { return type == t || (type.is_array() && std::find(type.begin(), type.end(), t) != type.end()); };
  try {
    std::size_t used = 0;
    if (is("integer")) {
      long long v = std::stoll(value, &used);
      if (used == value.size()) return v;
    }
    if (is("number")) {
      double v = std::stod(value, &used);
      if (used == value.size()) return v;
    }
  } catch (const std::exception&) {
  }
  if (is("boolean")) {
    if (value == "true" || value == "1") return true;
    if (value == "false" || value == "0") return false;
  }
  if (is("array")) {
    json out = json::array();
    std::stringstream ss(value);
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) out.push_back(item);
    return out;
  }
  return value;  // strings, and values the schema will reject with a message naming the field
}

}  // namespace

struct HttpApi::Impl {
  ToolsContext& ctx;
  const mcp::ToolRegistry& registry;
  HttpOptions options;
  httplib::Server server;
  ApiSettings settings;
  RateLimiter limiter;
  std::vector<Route> routes;
  int port = -1;

  Impl(ToolsContext& c, const mcp::ToolRegistry& r, HttpOptions o)
      : ctx(c), registry(r), options(std::move(o)), settings(c.layout.env_logging()) {
    auto none = [](const std::smatch&, json&) {};
    auto add = [&](std::string method, std::string pattern, std::string tool, bool write,
                   std::function<void(const std::smatch&, json&)> captures, const char* required = nullptr,
                   const char* refused = nullptr) {
      routes.push_back({std::move(method), std::regex(pattern), std::move(tool), write, std::move(captures),
                        required, refused});
    };
    add("PUT", "/api/tracing/config/file", "set_tracing_config", true, none, nullptr, "function");
    add("PUT", "/api/tracing/config/function", "set_tracing_config", true, none, "function");
    add("GET", "/api/tracing/config", "get_tracing_config", false, none);
    add("POST", "/api/tracing/instrument/file", "instrument_file", true, none);
    add("POST", "/api/tracing/instrument/all", "instrument_all", true, none);
    add("POST", "/api/tracing/uninstrument/file", "uninstrument_file", true, none);
    add("GET", "/api/tracing/search", "search_traces", false, none);
    add("GET", "/api/tracing/trace/([^/]+)", "get_trace", false,
        [](const std::smatch& m, json& a) { a["traceId"] = decoded(m[1]); });
    add("GET", "/api/tracing/slow", "find_slow_traces", false, none);
    add("GET", "/api/tracing/stats/file/(.+)", "get_trace_stats", false,
        [](const std::smatch& m, json& a) { a["file"] = decoded(m[1]); });
    add("GET", "/api/tracing/stats/function/(.+)/([^/]+)", "get_trace_stats", false,
        [](const std::smatch& m, json& a) {
          a["file"] = decoded(m[1]);
          a["function"] = decoded(m[2]);
        });
    add("POST", "/api/logs/event", "log_event", true, none);
    add("GET", "/api/logs/search", "search_logs", false, none);
    add("GET", "/api/audit", "", false, none);

    // httplib's default adds SO_REUSEPORT, with which a second server listens on our port too and the
    // kernel spreads connections over both projects. SO_REUSEADDR alone still lets a restart bind at once.
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });

    server.set_payload_max_length(options.max_body_bytes);
    server.set_read_timeout(options.read_timeout_seconds, 0);
    server.set_write_timeout(options.write_timeout_seconds, 0);
    server.set_keep_alive_max_count(1000);
    server.set_tcp_nodelay(true);
    // Enough workers for many keep-alive clients (each connection holds a worker while it is open).
    server.new_task_queue = [] { return new httplib::ThreadPool(64); };  // headers and body go out in separate writes: no 40 ms Nagle wait
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413)
        send_error(res, 413, "http.body_too_large", "The request body is too large; send less than 1 MiB");
      else if (res.status == 404)
        send_error(res, 404, "http.not_found", "No such endpoint; see README.md, HTTP API");
      else
        send_error(res, res.status, "http.error", "HTTP error " + std::to_string(res.status));
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, 500, "http.internal", "Internal error: " + what);
    });

    server.Get("/api/.*", [this](const httplib::Request& req, httplib::Response& res) {
      dispatch("GET", req, "", res);
    });
    // Methods with a body get it unread (read_body says why). Routes or not, every method reaches dispatch(),
    // which answers 405 with Allow where the path has other methods.
    using WithBody =
        httplib::Server& (httplib::Server::*)(const std::string&, httplib::Server::HandlerWithContentReader);
    const std::pair<const char*, WithBody> with_body[] = {{"POST", &httplib::Server::Post},
                                                          {"PUT", &httplib::Server::Put},
                                                          {"PATCH", &httplib::Server::Patch},
                                                          {"DELETE", &httplib::Server::Delete}};
    for (auto [method, register_route] : with_body)
      (server.*register_route)("/api/.*", [this, method](const httplib::Request& req, httplib::Response& res,
                                                         const httplib::ContentReader& reader) {
        if (auto body = read_body(req, res, reader)) dispatch(method, req, *body, res);
      });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) { serve_asset("index.html", res); });
    server.Get("/viewer/(.+)", [](const httplib::Request& req, httplib::Response& res) {
      serve_asset(req.matches[1].str(), res);
    });
  }

  static void serve_asset(const std::string& name, httplib::Response& res) {
    for (const auto& f : embedded_viewer()) {
      if (f.path != name) continue;
      std::string type = name.ends_with(".html") ? "text/html; charset=utf-8"
                         : name.ends_with(".js") ? "text/javascript"
                         : name.ends_with(".css") ? "text/css"
                                                  : "application/octet-stream";
      res.set_content(std::string(f.data), type.c_str());
      return;
    }
    send_error(res, 404, "http.not_found", "No such file: " + name);
  }

  // Who is calling: the token's name, nullopt when the token is wrong, "anonymous" for a loopback client
  // without tokens configured.
  std::optional<std::string> authenticate(const httplib::Request& req, const ApiSettings::Snapshot& s,
                                          std::string& problem) {
    std::string auth = req.get_header_value("Authorization");
    if (s.token_hash_to_name.empty()) {
      // Checked per request: bind() saw tokens, but the human may have removed them since.
      if (!is_loopback_address(req.remote_addr)) {
        problem =
            "Without API tokens only loopback clients are served; the human sets "
            "AGENTLOG_API_TOKENS=name:token in .env.logging";
        return std::nullopt;
      }
      if (!auth.empty()) {
        problem = "No API tokens are configured; the human sets AGENTLOG_API_TOKENS=name:token in .env.logging";
        return std::nullopt;
      }
      // A web page is not the human at this machine: one on another site (its Origin), or on a name that
      // its DNS points at 127.0.0.1 (the Host it sends), would read everything and fill the audit log.
      const std::string origin = req.get_header_value("Origin");
      if (!is_loopback_address(host_part(req.get_header_value("Host"))) ||
          (!origin.empty() && !is_loopback_address(host_part(origin)))) {
        problem =
            "Without API tokens only pages of this server and programs on this machine are served (Host "
            "and Origin must be 127.0.0.1, localhost or [::1]); the human sets "
            "AGENTLOG_API_TOKENS=name:token "
            "in .env.logging to serve others";
        return std::nullopt;
      }
      return std::string("anonymous");
    }
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) != 0) {
      problem = "Send 'Authorization: Bearer <token>' with a token from AGENTLOG_API_TOKENS in .env.logging";
      return std::nullopt;
    }
    std::string digest = sha256(auth.substr(prefix.size()));
    std::optional<std::string> name;
    for (const auto& [hash, n] : s.token_hash_to_name)  // constant time per comparison, all compared
      if (CRYPTO_memcmp(hash.data(), digest.data(), digest.size()) == 0) name = n;
    if (!name) problem = "Unknown API token; use one defined in AGENTLOG_API_TOKENS in .env.logging";
    return name;
  }

  // GET /api/audit?agent=&tool=&since=&denied=true&limit=: newest records first, as `agentlog audit list`.
  void send_audit(const httplib::Request& req, httplib::Response& res) {
    policy::AuditFilter filter;
    filter.agent = req.get_param_value("agent");
    filter.tool = req.get_param_value("tool");
    filter.denied_only = req.get_param_value("denied") == "true";
    try {
      if (req.has_param("since") && !req.get_param_value("since").empty())
        filter.since = resolve_time_iso(req.get_param_value("since"));
      if (req.has_param("limit")) {
        const std::string text = req.get_param_value("limit");
        std::size_t used = 0;
        const long long n = std::stoll(text, &used);
        if (used != text.size() || n < 1 || n > 100000000)
          throw std::invalid_argument("limit must be a whole number from 1 to 100000000, not '" + text + "'");
        filter.limit = static_cast<std::size_t>(n);
      }
    } catch (const std::exception& e) {
      send_error(res, 400, "http.bad_argument", std::string("Bad since or limit: ") + e.what());
      return;
    }
    json records = json::array();
    for (auto& r : policy::AuditLog(ctx.layout.audit_dir()).list(filter)) records.push_back(std::move(r));
    send_json(res, 200, {{"records", records}});
  }

  // The body, read here rather than by httplib: it would wait for the connection to close when a request has
  // neither Content-Length nor Transfer-Encoding (such a request has no body, RFC 9112 6.3), and it would
  // parse a form-encoded body into parameters. Arguments come from the query string and a JSON body only,
  // whatever the Content-Type says (curl -d sends JSON as a form). nullopt when the reply is made.
  std::optional<std::string> read_body(const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) return std::string();
    if (req.is_multipart_form_data()) {
      reader([](const httplib::MultipartFormData&) { return true; },
             [](const char*, std::size_t) { return true; });
      send_error(res, 415, "http.unsupported_media_type",
                 "Send the arguments as a JSON object in the body or in the query string, not as "
                 "multipart/form-data");
      return std::nullopt;
    }
    std::string body;
    bool too_large = false;
    bool complete = reader([&](const char* data, std::size_t n) {
      too_large = body.size() + n > options.max_body_bytes;  // httplib limits Content-Length, not chunks
      if (!too_large) body.append(data, n);
      return !too_large;
    });
    if (complete) return body;
    if (too_large || res.status == 413)
      res.status = 413;  // the error handler says what to do
    else
      send_error(res, 400, "http.bad_body",
                 "The body ended before its Content-Length or its chunks are malformed");
    return std::nullopt;
  }

  // A write refused here never reaches the policy guard, so its audit record is made here, in the form the
  // guard gives a denial.
  void dispatch(const std::string& method, const httplib::Request& req, const std::string& body,
                httplib::Response& res) {
    auto snap = settings.get();
    std::string problem;
    auto caller = authenticate(req, *snap, problem);
    if (!caller) {
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(res, 401, "http.unauthorized", problem);
      return;
    }
    const std::string bucket = *caller == "anonymous" ? "addr:" + req.remote_addr : "token:" + *caller;
    if (int wait = limiter.take(bucket, snap->rate, snap->burst); wait > 0) {
      res.set_header("Retry-After", std::to_string(wait));
      send_error(res, 429, "http.rate_limited",
                 "Too many requests; retry after " + std::to_string(wait) + " s (AGENTLOG_API_RATE_LIMIT in .env.logging)");
      return;
    }
    const std::string path = req.target.substr(0, req.target.find('?'));  // raw: %2F inside a segment stays
    const Route* route = nullptr;
    std::smatch match;
    std::string allow;
    for (const auto& r : routes) {
      if (!std::regex_match(path, match, r.pattern)) continue;
      if (r.method == method) {
        route = &r;
        break;
      }
      if (allow.find(r.method) == std::string::npos) allow += (allow.empty() ? "" : ", ") + r.method;
    }
    if (!route) {
      if (allow.empty()) {
        send_error(res, 404, "http.not_found", "No such endpoint " + path + "; see README.md, HTTP API");
        return;
      }
      res.set_header("Allow", allow);
      send_error(res, 405, "http.method_not_allowed",
                 "Method " + method + " is not allowed on " + path + "; use " + allow);
      return;
    }
    if (route->tool.empty()) {
      send_audit(req, res);
      return;
    }
    const mcp::Tool* tool = registry.find(route->tool);
    if (!tool) {
      send_error(res, 404, "http.tool_unavailable", "This build of agentlog has no " + route->tool + " tool");
      return;
    }

    json args = json::object();
    if (!body.empty()) {
      if (mcp::json_nesting(body) > mcp::kMaxNesting) {
        send_error(res, 400, "http.bad_json",
                   "The body nests arrays and objects more than " + std::to_string(mcp::kMaxNesting) +
                       " deep; send flatter arguments");
        return;
      }
      try {
        args = json::parse(body);
      } catch (const json::parse_error& e) {
        send_error(res, 400, "http.bad_json", std::string("The body is not JSON: ") + e.what());
        return;
      }
      if (!args.is_object()) {
        send_error(res, 400, "http.bad_json", "The body must be a JSON object of the tool's arguments");
        return;
      }
    }
    for (const auto& [key, value] : req.params) {
      if (key.rfind("fields.", 0) == 0)
        args["fields"][key.substr(7)] = value;
      else
        args[key] = coerce(tool->input_schema, key, value);
    }
    route->captures(match, args);

    mcp::ToolCall call;
    call.tool = route->tool;
    call.arguments = std::move(args);
    call.client.name = *caller;
    call.client.version = "http";
    call.session = "http:" + req.remote_addr;
    call.request_id = path;
    if (route->write) {
      auto refuse = [&](int status, const std::string& id, const std::string& message) {
        audit_call(ctx, call, policy::redact(call.arguments), "denied", mcp::ToolResult::error(id, message),
                   0);
        send_error(res, status, id, message);
      };
      const auto& w = snap->write_names;
      if (*caller == "anonymous")
        return refuse(
            401, "http.unauthorized",
            "Write endpoints need a token: the human sets AGENTLOG_API_TOKENS=name:token in .env.logging");
      if (!w.empty() && std::find(w.begin(), w.end(), *caller) == w.end())
        return refuse(403, "http.forbidden_write",
                      "Token '" + *caller +
                          "' may only read; AGENTLOG_API_WRITE_TOKENS in .env.logging lists the writers");
    }
    if (route->refused && call.arguments.contains(route->refused)) {
      send_error(res, 400, "http.bad_argument",
                 method + " " + path + " does not take \"" + route->refused +
                     "\"; a function's setting goes to PUT /api/tracing/config/function");
      return;
    }
    if (route->required && !call.arguments.contains(route->required)) {
      send_error(
          res, 400, "http.bad_argument",
          method + " " + path + " needs \"" + route->required + "\" (in the JSON body or the query string)");
      return;
    }
    mcp::ToolResult result;
    try {
      result = registry.call(call);
    } catch (const mcp::RpcError& e) {
      send_error(res, e.code() == mcp::ErrorCode::kInvalidParams ? 400 : 500, "http.rpc_error", e.what());
      return;
    }
    if (!result.is_error) {
      send_json(res, 200, result.structured);
      return;
    }
    std::string id = "tool.failed", message = result.text;
    if (message.size() > 2 && message[0] == '[') {
      auto close = message.find("] ");
      if (close != std::string::npos) {
        id = message.substr(1, close - 1);
        message = message.substr(close + 2);
      }
    }
    send_error(res, status_for(id), id, message);
  }
};

HttpApi::HttpApi(ToolsContext& ctx, const mcp::ToolRegistry& registry, HttpOptions options)
    : impl_(std::make_unique<Impl>(ctx, registry, std::move(options))) {}

HttpApi::~HttpApi() { stop(); }

int HttpApi::bind() {
  auto snap = impl_->settings.get();
  if (!is_loopback_address(impl_->options.bind) && snap->token_hash_to_name.empty())
    throw std::runtime_error("Refusing to listen on " + impl_->options.bind +
                             " without API tokens: the human sets AGENTLOG_API_TOKENS=name:token in .env.logging, "
                             "or bind to 127.0.0.1");
  int port = impl_->options.port == 0 ? impl_->server.bind_to_any_port(impl_->options.bind)
                                      : (impl_->server.bind_to_port(impl_->options.bind, impl_->options.port)
                                             ? impl_->options.port
                                             : -1);
  if (port < 0)
    throw std::runtime_error("Cannot listen on " + impl_->options.bind + ":" + std::to_string(impl_->options.port) +
                             " (in use?); choose another with --port");
  impl_->port = port;
  return port;
}

void HttpApi::run() { impl_->server.listen_after_bind(); }

void HttpApi::stop() {
  if (impl_) impl_->server.stop();
}

}  // namespace agentlog
