// The policy guard around every tools/call (DESIGN.md, Policy): permissions from the .env flags, every path
// argument resolved and checked, then the tool, then one audit record with the decision, the outcome and the
// files touched (SHA-256 before and after). The record is on disk before the result is returned.
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <ctime>
#include <iostream>

#include "logger/event_writer.hpp"
#include "policy/audit.hpp"
#include "policy/paths.hpp"
#include "policy/permissions.hpp"
#include "tools/tools.hpp"

namespace agentlog {

namespace {


// "[policy.denied.x] text" -> "policy.denied.x"
std::string error_id(const std::string& text) {
  if (text.size() > 2 && text[0] == '[') {
    auto close = text.find(']');
    if (close != std::string::npos) return text.substr(1, close - 1);
  }
  return "tool.failed";
}

// The settings of one .env file, re-read when the human changes it (size or mtime), shared by all calls.
class EnvCache {
 public:
  EnvCache(std::filesystem::path path, const std::vector<EnvKeySpec>& keys) : path_(std::move(path)), keys_(keys) {}
  std::shared_ptr<const EnvSettings> get() {
    struct stat st {};
    long long stamp = ::stat(path_.c_str(), &st) == 0
                          ? static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec + st.st_size * 7
                          : -1;
    std::lock_guard lock(mutex_);
    if (!current_ || stamp != stamp_) {
      current_ = std::make_shared<const EnvSettings>(EnvSettings::load(path_, keys_));
      stamp_ = stamp;
    }
    return current_;
  }

 private:
  std::filesystem::path path_;
  const std::vector<EnvKeySpec>& keys_;
  std::mutex mutex_;
  std::shared_ptr<const EnvSettings> current_;
  long long stamp_ = -2;
};

}  // namespace

mcp::CallGuard make_policy_guard(ToolsContext& ctx) {
  auto tracing_env = std::make_shared<EnvCache>(ctx.layout.env_tracing(), tracing_env_keys());
  auto logging_env = std::make_shared<EnvCache>(ctx.layout.env_logging(), logging_env_keys());
  return [&ctx, tracing_env, logging_env](mcp::ToolCall& call, const mcp::Tool& tool,
                                          const std::function<mcp::ToolResult(mcp::ToolCall&)>& proceed) -> mcp::ToolResult {
    const auto start = std::chrono::steady_clock::now();
    // The human edits the .env files while the server runs: a change applies to the next call.
    auto tracing_ptr = tracing_env->get();
    auto logging_ptr = logging_env->get();
    const EnvSettings& tracing = *tracing_ptr;
    const EnvSettings& logging = *logging_ptr;
    json logged_arguments = policy::redact(call.arguments);

    std::optional<policy::Denial> denial = policy::check_permissions(tool.permissions, call.arguments, tracing, logging);
    std::vector<std::string> checked_paths;
    for (const auto& name : tool.path_arguments) {
      if (denial) break;
      auto it = call.arguments.find(name);
      if (it == call.arguments.end() || !it->is_string()) continue;
      auto decision = policy::check_path(ctx.layout, it->get<std::string>(), tracing.get_list("TRACING_EXCLUDE_FILES"));
      if (decision.denial) {
        denial = decision.denial;
        break;
      }
      *it = decision.relative;  // the tool sees the resolved, project-relative path
      checked_paths.push_back(decision.relative);
    }

    mcp::ToolResult result;
    std::string decision = "allowed";
    if (denial) {
      decision = "denied";
      result = mcp::ToolResult::error(denial->id, denial->message);
    } else {
      std::vector<std::string> before;
      for (const auto& p : checked_paths) before.push_back(policy::sha256_file(ctx.layout.root / p));
      result = proceed(call);
      for (std::size_t i = 0; i < checked_paths.size(); ++i)
        call.files_touched.push_back({checked_paths[i], before[i], policy::sha256_file(ctx.layout.root / checked_paths[i])});
    }

    json files = json::array();
    for (const auto& f : call.files_touched)
      files.push_back({{"path", f.path}, {"sha256Before", f.sha256_before}, {"sha256After", f.sha256_after}});
    json record = {
        {"time", iso8601_now_ms()},
        {"agent", {{"name", call.client.name}, {"version", call.client.version}}},
        {"session", call.session},
        {"tool", call.tool},
        {"arguments", logged_arguments},
        {"decision", decision},
        {"outcome", result.is_error ? "error" : "ok"},
        {"durationMs", std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count()},
        {"files", files}};
    if (result.is_error) {
      record["errorId"] = error_id(result.text);
      record["error"] = result.text;
    }
    try {
      policy::AuditLog(ctx.layout.audit_dir()).append(std::move(record));
    } catch (const std::exception& e) {
      // The action happened; say loudly that its record did not (stderr, never stdout).
      std::cerr << "agentlog: AUDIT RECORD NOT WRITTEN for " << call.tool << ": " << e.what() << std::endl;
      if (denial) return result;
    }
    return result;
  };
}

}  // namespace agentlog
