#include "mcp/server.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>

namespace agentlog::mcp {

namespace {

const std::array<const char*, 8> kLogLevels = {"debug", "info",     "notice", "warning",
                                               "error", "critical", "alert",  "emergency"};

int log_level_index(const std::string& level) {
  for (std::size_t i = 0; i < kLogLevels.size(); ++i)
    if (level == kLogLevels[i]) return static_cast<int>(i);
  return -1;
}

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    unsigned v = rd() & 0xff;
    out.push_back(digits[v >> 4]);
    out.push_back(digits[v & 15]);
  }
  return out;
}

bool valid_id(const json& id) { return id.is_string() || id.is_number_integer() || id.is_number_unsigned(); }

// The reply to a message that may have no readable id (not JSON, not a request). JSON-RPC 2.0 wants
// "id": null there; MCP 2025-11-25 leaves the id out instead, and its schema (RequestId: string or number)
// and the official SDK refuse a null one. So a session on an earlier protocol, whose schema says nothing
// of it, gets JSON-RPC's null; one on 2025-11-25 or later (and one not yet initialized) gets no id.
json message_error_reply(const std::string& protocol_version, const json& id, ErrorCode code,
                         const std::string& message) {
  json reply = make_error_reply(id, code, message);
  if (id.is_null() && protocol_version < "2025-11-25") reply["id"] = nullptr;  // (dates compare as text)
  return reply;
}

const json* get_param(const json& params, const char* key) {
  if (!params.is_object()) return nullptr;
  auto it = params.find(key);
  return it == params.end() ? nullptr : &*it;
}

std::optional<std::string> optional_string(const json& params, const char* key) {
  const json* v = get_param(params, key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) throw RpcError::invalid_params(std::string("'") + key + "' must be a string");
  return v->get<std::string>();
}

// The string at `key`, or `fallback` when it is absent or of another type (fields a client may leave out
// or fill wrongly without harm).
std::string string_or(const json& params, const char* key, const std::string& fallback) {
  const json* v = get_param(params, key);
  return v && v->is_string() ? v->get<std::string>() : fallback;
}

std::string required_string(const json& params, const char* key) {
  auto v = optional_string(params, key);
  if (!v) throw RpcError::invalid_params(std::string("missing required parameter '") + key + "'");
  return *v;
}

}  // namespace

Server::Server(ServerInfo info, const ToolRegistry& tools, const ResourceRegistry* resources,
               ServerOptions options)
    : info_(std::move(info)),
      tools_(tools),
      resources_(resources),
      options_(options),
      session_(random_hex(8)),
      log_level_(log_level_index("info")) {}

Server::~Server() { stop(); }

void Server::send(const json& message) {
  if (transport_) transport_->send(message);
}

void Server::stop() {
  if (transport_) transport_->stop();
}

void Server::serve(Transport& transport) {
  transport_ = &transport;
  for (unsigned i = 0; i < std::max(1u, options_.workers); ++i)
    workers_.emplace_back([this] { worker_loop(); });
  Transport::Handler handler;
  handler.on_line = [this](std::string_view line) { on_line(line); };
  handler.on_line_too_long = [this](std::size_t bytes) {
    send(message_error_reply(protocol_version_, nullptr, ErrorCode::kInvalidRequest,
                             "Message of " + std::to_string(bytes) +
                                 " bytes refused: the limit is 16 MiB per line. Send smaller requests."));
  };
  transport.run(handler);

  // Input ended: let queued and running calls finish, then return.
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    // Nobody can answer server->client requests any more.
    for (auto& [key, p] : pending_) {
      std::lock_guard pl(p->m);
      p->done = true;
      p->cv.notify_all();
    }
  }
  queue_cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(long_threads_);
  }
  for (auto& t : threads) t.join();
  transport_ = nullptr;
}

void Server::worker_loop() {
  // Replies to pipelined calls leave together: a worker defers its reply while the next call in the queue is
  // one of the quick ones, for at most kHold, and flushes before it waits or starts anything slower.
  constexpr double kQuickUs = 1000;
  constexpr auto kHold = std::chrono::milliseconds(1);
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> holding;  // since when this worker's replies wait
  std::string last_tool;
  double last_us = -1;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      if (last_us >= 0) {
        auto [it, fresh] = typical_us_.try_emplace(last_tool, last_us);
        if (!fresh) it->second = 0.8 * it->second + 0.2 * last_us;
      }
      if (holding) {
        auto next = queue_.empty() ? typical_us_.end() : typical_us_.find(queue_.front().tool);
        if (next == typical_us_.end() || next->second >= kQuickUs || Clock::now() - *holding >= kHold) {
          lock.unlock();
          transport_->flush();
          holding.reset();
          lock.lock();
        }
      }
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto start = Clock::now();
    if (!holding) holding = start;
    job.run();
    last_tool = std::move(job.tool);
    last_us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  }
}

void Server::on_line(std::string_view line) {
  json message;
  try {
    message = json::parse(line);
  } catch (const json::parse_error& e) {
    send(message_error_reply(protocol_version_, nullptr, ErrorCode::kParseError,
                             std::string("Parse error: the line is not JSON (") + e.what() + ")"));
    return;
  }
  if (json_nesting(line) > kMaxNesting) {  // (parsing and freeing deep values is safe; walking them is not)
    const json* id = get_param(message, "id");
    send(message_error_reply(protocol_version_, id && valid_id(*id) ? *id : json(),
                             ErrorCode::kInvalidRequest,
                             "Invalid Request: arrays and objects nest more than " +
                                 std::to_string(kMaxNesting) + " deep; send flatter arguments"));
    return;
  }
  try {
    on_message(std::move(message));
  } catch (const std::exception& e) {  // a message of unexpected shape must not end the server
    send(message_error_reply(protocol_version_, nullptr, ErrorCode::kInvalidRequest,
                             std::string("Invalid Request: ") + e.what()));
  }
}

void Server::on_message(json message) {
  if (message.is_array()) {
    send(message_error_reply(
        protocol_version_, nullptr, ErrorCode::kInvalidRequest,
        "Invalid Request: JSON-RPC batches are not supported; send one message per line"));
    return;
  }
  json id = message.is_object() && message.contains("id") ? message["id"] : json();
  bool has_id = message.is_object() && message.contains("id");
  // A response (the client's answer to an elicitation, or its error about something we sent) is never
  // answered, whatever its id: two peers answering each other's errors would not stop.
  if (message.is_object() && !message.contains("method") &&
      (message.contains("result") || message.contains("error"))) {
    if (has_id && valid_id(id)) on_response(message);
    return;
  }
  if (!message.is_object() || message.value("jsonrpc", json()) != "2.0" || (has_id && !valid_id(id))) {
    send(message_error_reply(
        protocol_version_, valid_id(id) ? id : json(), ErrorCode::kInvalidRequest,
        "Invalid Request: expected a JSON-RPC 2.0 object with \"jsonrpc\":\"2.0\", a string "
        "\"method\" and a string or integer \"id\""));
    return;
  }
  if (!message.contains("method")) {
    send(message_error_reply(protocol_version_, has_id ? id : json(), ErrorCode::kInvalidRequest,
                             "Invalid Request: no \"method\""));
    return;
  }
  if (!message["method"].is_string()) {
    send(message_error_reply(protocol_version_, has_id ? id : json(), ErrorCode::kInvalidRequest,
                             "Invalid Request: \"method\" must be a string"));
    return;
  }
  const std::string method = message["method"];
  json params = json::object();
  if (auto it = message.find("params"); it != message.end()) params = std::move(*it);

  if (!has_id) {  // notification: never answered
    if (method == "notifications/cancelled") {
      json rid = params.is_object() ? params.value("requestId", json()) : json();
      std::lock_guard lock(mutex_);
      auto it = in_flight_.find(rid.dump());
      if (it != in_flight_.end()) it->second.cancelled->store(true);
    }
    return;  // notifications/initialized and unknown notifications need nothing
  }

  if (params.is_null()) params = json::object();
  if (method == "tools/call") {
    if (!params.is_object()) {
      send(make_error_reply(id, ErrorCode::kInvalidParams, "tools/call params must be an object"));
      return;
    }
    start_tool_call(id, std::move(params));
    return;
  }
  // A trace's read or the store's search may take seconds: on a worker, as tools/call, so that ping and
  // cancellations are not held behind it.
  if (method == "resources/read" || method == "resources/list") {
    std::lock_guard lock(mutex_);
    queue_.push_back(
        Job{method, [this, id, method, params = std::move(params)] { answer(id, method, params); }});
    queue_cv_.notify_one();
    return;
  }
  answer(id, method, params);
}

void Server::answer(const json& id, const std::string& method, const json& params) {
  try {
    if (!params.is_object()) throw RpcError::invalid_params("params must be an object");
    send(make_result_reply(id, dispatch(method, params)));
  } catch (const RpcError& e) {
    send(make_error_reply(id, e.code(), e.what(), e.data()));
  } catch (const std::exception& e) {
    send(make_error_reply(id, ErrorCode::kInternalError, std::string("Internal error: ") + e.what()));
  }
}

json Server::dispatch(const std::string& method, const json& params) {
  if (method == "initialize") return initialize(params);
  if (method == "ping") return json::object();
  if (method == "tools/list") return tools_.list(optional_string(params, "cursor"), options_.tools_page_size);
  if (method == "logging/setLevel") {
    std::string level = required_string(params, "level");
    int index = log_level_index(level);
    if (index < 0)
      throw RpcError::invalid_params(
          "Unknown log level '" + level +
          "': use debug, info, notice, warning, error, critical, alert or emergency");
    log_level_.store(index);
    return json::object();
  }
  if (resources_ && !resources_->empty()) {
    if (method == "resources/list") return resources_->list(optional_string(params, "cursor"));
    if (method == "resources/templates/list") return resources_->list_templates();
    if (method == "resources/read") return resources_->read(required_string(params, "uri"));
  }
  throw RpcError::method_not_found(method);
}

json Server::initialize(const json& params) {
  // Once: the client's name is the agent of every audit record of the session (and tool calls on other
  // threads read it).
  if (initialized_.exchange(true))
    throw RpcError(
        ErrorCode::kInvalidRequest,
        "The session is already initialized; a new client starts a new session (a new agentlog serve)");
  const std::string requested = string_or(params, "protocolVersion", "");
  auto supported = std::find(kSupportedProtocolVersions.begin(), kSupportedProtocolVersions.end(), requested);
  protocol_version_ = supported != kSupportedProtocolVersions.end() ? requested : kLatestProtocolVersion;
  if (const json* ci = get_param(params, "clientInfo"); ci && ci->is_object()) {
    client_.name = string_or(*ci, "name", "unknown");
    client_.version = string_or(*ci, "version", "");
  }
  if (const json* caps = get_param(params, "capabilities"); caps && caps->is_object())
    client_.capabilities = *caps;
  if (on_client) on_client(client_);

  json capabilities = {{"tools", {{"listChanged", false}}}, {"logging", json::object()}};
  if (resources_ && !resources_->empty())
    capabilities["resources"] = {{"subscribe", false}, {"listChanged", false}};
  json result = {{"protocolVersion", protocol_version_},
                 {"capabilities", capabilities},
                 {"serverInfo", {{"name", info_.name}, {"title", info_.title}, {"version", info_.version}}}};
  if (!info_.instructions.empty()) result["instructions"] = info_.instructions;
  return result;
}

void Server::start_tool_call(const json& id, json params) {
  std::string name = string_or(params, "name", "");  // not a string: refused by the job
  const Tool* tool = tools_.find(name);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  {
    std::lock_guard lock(mutex_);
    in_flight_[id.dump()] = InFlight{cancelled};
  }
  const bool own_thread = tool && tool->long_running;
  std::function<void()> job = [this, id, params = std::move(params), cancelled, own_thread]() mutable {
    run_tool_call(id, std::move(params), cancelled, !own_thread);
  };
  std::lock_guard lock(mutex_);
  if (own_thread) {
    long_threads_.emplace_back(std::move(job));
  } else {
    queue_.push_back(Job{tool ? std::move(name) : std::string(), std::move(job)});  // unknown names share one entry
    queue_cv_.notify_one();
  }
}

void Server::run_tool_call(const json& id, json params, std::shared_ptr<std::atomic<bool>> cancelled,
                           bool deferred) {
  json reply;
  try {
    const json* name = get_param(params, "name");
    if (!name || !name->is_string()) throw RpcError::invalid_params("tools/call needs a string 'name'");
    ToolCall call;
    call.tool = name->get<std::string>();
    if (auto args = params.find("arguments"); args != params.end() && !args->is_null())
      call.arguments = std::move(*args);
    call.client = client_;
    call.session = session_;
    call.request_id = id;
    call.cancel_flag = cancelled;
    json token;
    if (const json* meta = get_param(params, "_meta");
        meta && meta->is_object() && meta->contains("progressToken"))
      token = (*meta)["progressToken"];
    if (!token.is_null()) {
      call.progress = [this, token, cancelled](double progress, std::optional<double> total,
                                               const std::string& message) {
        if (cancelled->load()) return;  // the client has forgotten the token: no progress after a cancel
        json p = {{"progressToken", token}, {"progress", progress}};
        if (total) p["total"] = *total;
        if (!message.empty()) p["message"] = message;
        send({{"jsonrpc", "2.0"}, {"method", "notifications/progress"}, {"params", p}});
      };
    }
    call.log = [this, tool = call.tool](const std::string& level, const json& data) {
      notify_log(level, tool, data);
    };
    call.request_client = [this](const std::string& method, const json& p) {
      return request_client(method, p);
    };
    reply = make_result_reply(id, tools_.call(call).to_json());
  } catch (const RpcError& e) {
    reply = make_error_reply(id, e.code(), e.what(), e.data());
  } catch (const std::exception& e) {
    reply = make_error_reply(id, ErrorCode::kInternalError, std::string("Internal error: ") + e.what());
  }
  {
    std::lock_guard lock(mutex_);
    in_flight_.erase(id.dump());
  }
  if (cancelled->load() || !transport_) return;
  if (deferred) transport_->send_deferred(reply);
  else transport_->send(reply);
}

json Server::request_client(const std::string& method, const json& params) {
  std::string id = "agentlog-" + std::to_string(next_request_id_.fetch_add(1));
  auto pending = std::make_shared<Pending>();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw RpcError(ErrorCode::kRequestCancelled, "the client has disconnected");
    pending_[json(id).dump()] = pending;
  }
  send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
  std::unique_lock lock(pending->m);
  bool answered = pending->cv.wait_for(lock, options_.client_request_timeout, [&] { return pending->done; });
  {
    std::lock_guard guard(mutex_);
    pending_.erase(json(id).dump());
  }
  if (!answered || pending->response.is_null())
    throw RpcError(ErrorCode::kRequestCancelled, "the client did not answer " + method);
  if (pending->response.contains("error"))
    throw RpcError(
        ErrorCode::kInternalError,
        method + " failed on the client: " + pending->response["error"].value("message", "unknown error"));
  return pending->response.value("result", json::object());
}

void Server::on_response(const json& message) {
  std::shared_ptr<Pending> pending;
  {
    std::lock_guard lock(mutex_);
    auto it = pending_.find(message["id"].dump());
    if (it == pending_.end()) return;  // late or unknown: ignore
    pending = it->second;
  }
  std::lock_guard lock(pending->m);
  pending->response = message;
  pending->done = true;
  pending->cv.notify_all();
}

void Server::notify_log(const std::string& level, const std::string& logger, const json& data) {
  int index = log_level_index(level);
  if (index < 0) index = log_level_index("info");
  if (index < log_level_.load()) return;
  send({{"jsonrpc", "2.0"},
        {"method", "notifications/message"},
        {"params",
         {{"level", kLogLevels[static_cast<std::size_t>(index)]}, {"logger", logger}, {"data", data}}}});
}

}  // namespace agentlog::mcp
