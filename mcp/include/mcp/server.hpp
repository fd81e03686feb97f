// The MCP server: lifecycle (initialize with version negotiation, initialized, ping), tools, resources,
// logging (logging/setLevel + notifications/message), progress and cancellation, over any Transport.
//
// Threading: serve() runs the transport's read loop on the calling thread. Quick methods are answered
// there; tools/call runs on the worker threads in arrival order, or on a thread of its own for tools marked
// long_running, so ping and notifications/cancelled are handled while tools work. A cancelled request gets
// no reply. A worker's replies to pipelined quick calls leave together (Transport::send_deferred), never
// held longer than 1 ms nor while anything slower runs. serve() returns after the input ends (or stop()) and
// every call in flight has finished.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mcp/resource_registry.hpp"
#include "mcp/tool_registry.hpp"
#include "mcp/transport.hpp"

namespace agentlog::mcp {

inline constexpr const char* kLatestProtocolVersion = "2025-11-25";
// Versions answered as asked; any other request gets the latest.
inline const std::vector<std::string> kSupportedProtocolVersions = {"2025-11-25", "2025-06-18", "2025-03-26",
                                                                    "2024-11-05"};

struct ServerInfo {
  std::string name = "agentlog";
  std::string title = "agentlog";
  std::string version = "0.0.0";
  std::string instructions;
};

struct ServerOptions {
  std::size_t tools_page_size = 100;
  // Threads running tools/call (replies to pipelined requests may come in any order, as JSON-RPC allows).
  unsigned workers = 2;
  std::chrono::seconds client_request_timeout{300};
};

class Server {
 public:
  Server(ServerInfo info, const ToolRegistry& tools, const ResourceRegistry* resources = nullptr,
         ServerOptions options = {});
  ~Server();

  void serve(Transport& transport);
  void stop();  // async-signal-safe only through Transport::stop(); call from a normal thread

  // Called once the client has sent initialize (its clientInfo and capabilities).
  std::function<void(const ClientInfo&)> on_client;

  const ClientInfo& client() const { return client_; }
  const std::string& protocol_version() const { return protocol_version_; }
  const std::string& session_id() const { return session_; }

  // notifications/message, sent when `level` is at or above the level the client set.
  void notify_log(const std::string& level, const std::string& logger, const json& data);

 private:
  struct InFlight {
    std::shared_ptr<std::atomic<bool>> cancelled;
  };

  void on_line(std::string_view line);
  void on_message(json message);  // moved through: a call's arguments are never copied on the way
  void on_response(const json& message);
  json dispatch(const std::string& method, const json& params);
  json initialize(const json& params);
  void start_tool_call(const json& id, json params);
  // Replies to a request other than tools/call (its result, or its error).
  void answer(const json& id, const std::string& method, const json& params);
  // `deferred`: the reply may wait in the transport for the worker's next flush (see worker_loop).
  void run_tool_call(const json& id, json params, std::shared_ptr<std::atomic<bool>> cancelled, bool deferred);
  json request_client(const std::string& method, const json& params);
  void send(const json& message);
  void worker_loop();

  ServerInfo info_;
  const ToolRegistry& tools_;
  const ResourceRegistry* resources_;
  ServerOptions options_;
  Transport* transport_ = nullptr;

  std::atomic<bool> initialized_{false};
  ClientInfo client_;
  std::string protocol_version_ = kLatestProtocolVersion;
  std::string session_;
  std::atomic<int> log_level_;  // index into the MCP level list

  std::mutex mutex_;  // guards in_flight_, queue_, pending_, long_threads_
  std::condition_variable queue_cv_;
  struct Job {
    std::string tool;
    std::function<void()> run;
  };
  std::deque<Job> queue_;
  // How long each tool's calls took lately (microseconds, a moving average): a worker lets its replies wait
  // in the transport only while it runs calls that are known to be quick.
  std::map<std::string, double, std::less<>> typical_us_;
  bool stopping_ = false;
  std::map<std::string, InFlight> in_flight_;  // by id.dump()
  std::vector<std::thread> long_threads_;
  std::vector<std::thread> workers_;

  struct Pending {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    json response;
  };
  std::map<std::string, std::shared_ptr<Pending>> pending_;
  std::atomic<long> next_request_id_{1};
};

}  // namespace agentlog::mcp
