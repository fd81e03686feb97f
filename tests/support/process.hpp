// Running the real agentlog binary from tests: one-shot commands, and a live MCP session over pipes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace agentlog::test {

struct ProcessResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs argv[0] with stdin fed from `input` (then closed), in `cwd`, with extra environment variables.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "",
                          const std::filesystem::path& cwd = {}, const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Forks `n` children, each running body(k) (k = 0..n-1) and exiting with what it returns (1 when it
// throws, the message on stderr); waits for all. Returns how many did not exit with 0.
int run_in_children(int n, const std::function<int(int)>& body);

// `agentlog <args...>` (the binary under test).
ProcessResult run_agentlog(const std::vector<std::string>& args, const std::string& input = "",
                           const std::filesystem::path& cwd = {});

// A running `agentlog serve` with its stdin/stdout as pipes. Reads stdout line by line.
class McpSession {
 public:
  explicit McpSession(const std::filesystem::path& root, const std::vector<std::string>& extra_args = {});
  // Any long-running `agentlog <args...>` (e.g. `http --port 0 --json`), read the same way.
  struct Command {
    std::vector<std::string> args;
  };
  explicit McpSession(const Command& command);
  ~McpSession();
  McpSession(const McpSession&) = delete;
  McpSession& operator=(const McpSession&) = delete;

  void send_line(const std::string& line);
  void send(const nlohmann::json& message) { send_line(message.dump()); }
  // The next line of stdout as JSON; nullopt on timeout or EOF.
  std::optional<nlohmann::json> read(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends a request and returns the reply with the same id (notifications before it are kept in `notes`).
  nlohmann::json request(const std::string& method, const nlohmann::json& params = nlohmann::json::object());
  // initialize + notifications/initialized.
  nlohmann::json initialize(const std::string& protocol_version = "2025-11-25");
  // tools/call; returns the CallToolResult (the "result" member), or throws on a JSON-RPC error.
  nlohmann::json call_tool(const std::string& name, const nlohmann::json& arguments);

  void close_stdin();
  void kill(int signal);
  int wait();  // exit code, or -signal
  std::string stderr_text();
  pid_t pid() const { return pid_; }

  std::vector<nlohmann::json> notes;  // notifications and unmatched messages seen by request()

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string buffer_;
  int next_id_ = 1;
  std::optional<int> status_;
};

}  // namespace agentlog::test
