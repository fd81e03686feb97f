// agentlog config show: the settings of both .env files, their sources and any problems in them.
#include <cstdlib>
#include <iostream>

#include "logger/env_file.hpp"
#include "logger/event_writer.hpp"
#include "logger/project_log.hpp"
#include "tools/cli.hpp"

namespace agentlog {

namespace {

// Secrets are shown as set, never printed: whoever can run the command (an agent through its shell too) is
// not meant to read them from the human's files.
std::string shown(const EnvSettings& s, const std::string& key, const std::string& value) {
  if (key == "OPENMEMORY_API_KEY") return value.empty() ? "" : "<set, hidden>";
  if (key != "AGENTLOG_API_TOKENS") return value;
  std::string names;
  for (const auto& entry : s.get_list(key))
    names += (names.empty() ? "" : ",") +
             (entry.find(':') == std::string::npos ? std::string("?") : entry.substr(0, entry.find(':'))) +
             ":<hidden>";
  return names;
}

// The .env.tracing keys a traced program takes from its environment before the file (agentlog_trace.hpp,
// Runtime::load_settings): set in this shell, they decide for the programs started from it.
constexpr const char* kRuntimeEnvKeys[] = {
    "TRACING_ENABLED",          "TRACING_DEFAULT_LEVEL", "TRACING_SAMPLE_RATE", "TRACING_MAX_DEPTH",
    "TRACING_MAX_CAPTURE_SIZE", "TRACING_REDACT",        "TRACING_BUFFER_MB",   "TRACING_FULL_WAIT_MS",
    "TRACING_FORMAT",           "TRACING_MAX_LEVEL"};

// The environment's values of those keys, checked as the file's are, into the .env.tracing section: each
// replaces the file's value in "settings" and keeps it under "overrides".
bool add_environment(nlohmann::json& section) {
  std::string text;
  for (const char* key : kRuntimeEnvKeys)
    if (const char* v = std::getenv(key)) text += std::string(key) + "=" + v + "\n";
  if (text.empty()) return false;
  EnvSettings env = EnvSettings::from_text(text, "environment", tracing_env_keys());
  bool errors = false;
  for (const char* key : kRuntimeEnvKeys) {
    if (!std::getenv(key)) continue;
    nlohmann::json overridden = section["settings"][key];
    section["settings"][key] = {{"value", env.values().at(key)},
                                {"source", env.source(key).find("bad value") == std::string::npos
                                               ? "environment"
                                               : "environment (bad value, safe default used)"},
                                {"overrides", std::move(overridden)}};
  }
  for (EnvDiagnostic d : env.diagnostics()) {
    d.line = 0;  // (one line per variable, made up here)
    section["diagnostics"].push_back(d.to_string());
    errors |= d.severity == EnvDiagnostic::Severity::kError;
  }
  return errors;
}

}  // namespace

void add_config_commands(CLI::App& app) {
  auto* config = app.add_subcommand("config", "Show configuration");
  config->require_subcommand(1);
  auto* show = config->add_subcommand(
      "show",
      "Print every .env setting with where its value came from, and the TRACING_* environment variables "
      "that override .env.tracing for traced programs started from this shell. Exits 1 when a value is "
      "wrong (an error: line; its safe value is shown and used), 0 otherwise");
  static CliCommon common{.makes_project = true};
  add_common_options(show, common);
  show->callback([] {
    ProjectLayout layout = common.layout();
    nlohmann::json out = nlohmann::json::object();
    bool errors = false;
    for (auto [name, path, keys] : {std::tuple{".env.logging", layout.env_logging(), &logging_env_keys()},
                                    std::tuple{".env.tracing", layout.env_tracing(), &tracing_env_keys()}}) {
      EnvSettings s = EnvSettings::load(path, *keys);
      nlohmann::json section = {{"file", layout.relative(path)},
                                {"settings", nlohmann::json::object()},
                                {"diagnostics", nlohmann::json::array()}};
      for (const auto& [key, value] : s.values())
        section["settings"][key] = {{"value", shown(s, key, value)},
                                    {"source", layout.relative(s.source(key))}};
      for (const auto& d : s.diagnostics()) {
        section["diagnostics"].push_back(d.to_string());
        errors |= d.severity == EnvDiagnostic::Severity::kError;
      }
      if (keys == &tracing_env_keys()) errors |= add_environment(section);
      out[name] = section;
    }
    // logging.config.json is the agent's: a mistake in it (JSON that does not parse, a level that is not one)
    // is shown with its position, as the .env files' are.
    LoggingConfig levels = load_logging_config(layout.logging_config());
    nlohmann::json section = {{"file", layout.relative(layout.logging_config())},
                              {"settings", nlohmann::json::object()},
                              {"diagnostics", nlohmann::json::array()}};
    section["settings"]["defaultLevel"] = {
        {"value", log_level_names()[static_cast<std::size_t>(levels.default_level)]},
        {"source", levels.default_set ? "logging.config.json" : "default"}};
    for (const auto& [category, level] : levels.categories)
      section["settings"]["categories." + category] = {
          {"value", log_level_names()[static_cast<std::size_t>(level)]}, {"source", "logging.config.json"}};
    for (const auto& problem : levels.problems) section["diagnostics"].push_back(problem);
    errors |= !levels.problems.empty();
    out["logging.config.json"] = section;
    if (common.json) {
      print_json(out);
    } else {
      for (const auto& [name, section] : out.items()) {
        std::cout << section["file"].get<std::string>() << "\n";
        for (const auto& [key, v] : section["settings"].items()) {
          std::cout << "  " << key << "=" << v["value"].get<std::string>() << "   ("
                    << v["source"].get<std::string>();
          if (v.contains("overrides"))
            std::cout << "; overrides " << v["overrides"]["value"].get<std::string>() << " from "
                      << v["overrides"]["source"].get<std::string>()
                      << " for programs started from this shell";
          std::cout << ")\n";
        }
        for (const auto& d : section["diagnostics"]) std::cerr << "  " << d.get<std::string>() << "\n";
      }
    }
    if (errors) throw CLI::RuntimeError(1);
  });
}

}  // namespace agentlog
