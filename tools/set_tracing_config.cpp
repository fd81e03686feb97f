// set_tracing_config: write level / captureParams / captureReturn for a file or function into
// tracing.config.json. Never touches a .env file; never raises a level above TRACING_MAX_LEVEL.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "logger/env_file.hpp"
#include "logger/files.hpp"
#include "tools/tools.hpp"
#include "tools/tracing_config.hpp"

namespace agentlog {

namespace {

// Serialises read-modify-write of tracing.config.json across threads and processes.
class ConfigLock {
 public:
  explicit ConfigLock(const fs::path& config) {
    std::error_code ec;
    fs::create_directories(config.parent_path(), ec);
    std::string lock_path = config.string() + ".lock";
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~ConfigLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

}  // namespace

mcp::Tool make_set_tracing_config(ToolsContext& ctx) {
  mcp::Tool tool;
  tool.name = "set_tracing_config";
  tool.title = "Set tracing configuration";
  tool.description =
      "Set the tracing level (0-5) and the captureParams/captureReturn flags for a file, or for one function "
      "of a file, in .ai-agents/logging/config/tracing.config.json. Running traced programs pick the change "
      "up within a second. `reset: true` removes the entry. The human-only .env.tracing limits apply: the "
      "level cannot exceed TRACING_MAX_LEVEL.";
  tool.input_schema = tool_schema("set_tracing_config.input");
  tool.output_schema = tool_schema("set_tracing_config.output");
  tool.annotations = {.read_only = false, .destructive = false, .idempotent = true, .open_world = false};
  tool.path_arguments = {"file"};
  tool.permissions = {"tracing.configure"};
  tool.handler = [&ctx](mcp::ToolCall& call) -> json {
    const json& a = call.arguments;
    const std::string file = ctx.layout.relative(a.at("file").get<std::string>());
    const std::string function = arg_or<std::string>(a, "function", "");
    const bool reset = arg_or<bool>(a, "reset", false);
    if (!reset && !a.contains("level") && !a.contains("captureParams") && !a.contains("captureReturn"))
      throw mcp::ToolError("tracing_config.nothing_to_set",
                           "Nothing to set: pass level (0-5), captureParams or captureReturn, or reset: true");

    if (reset && (a.contains("level") || a.contains("captureParams") || a.contains("captureReturn")))
      throw mcp::ToolError(
          "tracing_config.conflicting_arguments",
          "reset: true removes the entry, so the values passed with it would be lost; pass either "
          "reset: true or the values to set");

    EnvSettings env = EnvSettings::load(ctx.layout.env_tracing(), tracing_env_keys());
    json warnings = json::array();
    std::error_code ec;
    if (!fs::exists(ctx.layout.root / file, ec))
      warnings.push_back(file +
                         " does not exist in the project: the entry is saved, but it applies only to spans "
                         "of a file by that path (check the spelling)");
    if (a.contains("level")) {
      long long max_level = env.get_int("TRACING_MAX_LEVEL");
      if (a["level"].get<long long>() > max_level)
        throw mcp::ToolError("policy.denied.level_above_limit",
                             "Level " + a["level"].dump() + " is above TRACING_MAX_LEVEL=" + std::to_string(max_level) +
                                 " set by the human in .env.tracing; use a level <= " + std::to_string(max_level) +
                                 " or ask the human to raise the limit");
    }
    if (!env.get_bool("TRACING_ENABLED"))
      warnings.push_back("TRACING_ENABLED=false in .env.tracing: the setting is saved but nothing is traced");

    const fs::path path = ctx.layout.tracing_config();
    ConfigLock lock(path);
    json config = load_tracing_config(ctx.layout);
    json& table = function.empty() ? config["files"] : config["functions"];
    const std::string key = function.empty() ? file : function_key(file, function);
    json entry = nullptr;
    const bool removed = table.contains(key);
    if (reset) {
      table.erase(key);
    } else {
      entry = table.contains(key) && table[key].is_object() ? table[key] : json::object();
      for (const char* k : {"level", "captureParams", "captureReturn"})
        if (a.contains(k)) entry[k] = a[k];
      table[key] = entry;
    }
    write_file_atomic(path, config.dump(2) + "\n");
    json out = {{"file", file},
                {"entry", entry},
                {"configFile", ctx.layout.relative(path)},
                {"warnings", warnings}};
    if (!function.empty()) out["function"] = function;
    if (reset) out["removed"] = removed;
    return out;
  };
  return tool;
}

}  // namespace agentlog
