// agentlog config show: the settings of both .env files, their sources and any problems in them.
#include <iostream>

#include "logger/env_file.hpp"
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

}  // namespace

void add_config_commands(CLI::App& app) {
  auto* config = app.add_subcommand("config", "Show configuration");
  config->require_subcommand(1);
  auto* show = config->add_subcommand("show", "Print every .env setting with where its value came from");
  static CliCommon common{.makes_project = true};
  add_common_options(show, common);
  show->callback([] {
    ProjectLayout layout = common.layout();
    nlohmann::json out = nlohmann::json::object();
    bool errors = false;
    for (auto [name, path, keys] : {std::tuple{".env.logging", layout.env_logging(), &logging_env_keys()},
                                    std::tuple{".env.tracing", layout.env_tracing(), &tracing_env_keys()}}) {
      EnvSettings s = EnvSettings::load(path, *keys);
      nlohmann::json section = {{"file", layout.relative(path)}, {"settings", nlohmann::json::object()},
                                {"diagnostics", nlohmann::json::array()}};
      for (const auto& [key, value] : s.values())
        section["settings"][key] = {{"value", shown(s, key, value)},
                                    {"source", layout.relative(s.source(key))}};
      for (const auto& d : s.diagnostics()) {
        section["diagnostics"].push_back(d.to_string());
        errors |= d.severity == EnvDiagnostic::Severity::kError;
      }
      out[name] = section;
    }
    if (common.json) {
      print_json(out);
    } else {
      for (const auto& [name, section] : out.items()) {
        std::cout << section["file"].get<std::string>() << "\n";
        for (const auto& [key, v] : section["settings"].items())
          std::cout << "  " << key << "=" << v["value"].get<std::string>() << "   (" << v["source"].get<std::string>()
                    << ")\n";
        for (const auto& d : section["diagnostics"]) std::cerr << "  " << d.get<std::string>() << "\n";
      }
    }
    if (errors) throw CLI::RuntimeError(1);
  });
}

}  // namespace agentlog
