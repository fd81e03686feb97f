#include "tools/tracing_config.hpp"

#include <stdexcept>

#include "logger/files.hpp"

namespace agentlog {

std::string function_key(const std::string& file, const std::string& function) { return file + "::" + function; }

nlohmann::json load_tracing_config(const ProjectLayout& layout) {
  auto text = read_file(layout.tracing_config());
  nlohmann::json config = nlohmann::json::object();
  if (text && !text->empty()) {
    try {
      config = nlohmann::json::parse(*text);
    } catch (const nlohmann::json::parse_error& e) {
      throw std::runtime_error(layout.relative(layout.tracing_config()) + " is not valid JSON (" + e.what() +
                               "); fix or delete it");
    }
  }
  if (!config.is_object())
    throw std::runtime_error(
        layout.relative(layout.tracing_config()) + " is " + config.type_name() +
        ", not a JSON object ({\"files\": {...}, \"functions\": {...}}); fix or delete it");
  for (const char* key : {"files", "functions"})
    if (!config.contains(key) || !config[key].is_object()) config[key] = nlohmann::json::object();
  return config;
}

nlohmann::json effective_tracing_config(const ProjectLayout& layout, const std::string& file,
                                        const std::string& function) {
  EnvSettings env = EnvSettings::load(layout.env_tracing(), tracing_env_keys());
  nlohmann::json config = load_tracing_config(layout);
  const std::string env_name = layout.relative(layout.env_tracing());
  const std::string cfg_name = layout.relative(layout.tracing_config());

  auto env_source = [&](const std::string& key) {
    const std::string& s = env.source(key);
    return s == "default" ? std::string("default (") + key + ")" : key + " at " + layout.relative(s);
  };

  nlohmann::json effective = {{"enabled", env.get_bool("TRACING_ENABLED")},
                              {"level", env.get_int("TRACING_DEFAULT_LEVEL")},
                              {"captureParams", true},
                              {"captureReturn", true},
                              {"sampleRate", env.get_double("TRACING_SAMPLE_RATE")},
                              {"maxDepth", env.get_int("TRACING_MAX_DEPTH")},
                              {"maxCaptureSize", env.get_int("TRACING_MAX_CAPTURE_SIZE")},
                              {"format", env.get_string("TRACING_FORMAT")}};
  nlohmann::json sources = {{"enabled", env_source("TRACING_ENABLED")},
                            {"level", env_source("TRACING_DEFAULT_LEVEL")},
                            {"captureParams", "default"},
                            {"captureReturn", "default"},
                            {"sampleRate", env_source("TRACING_SAMPLE_RATE")},
                            {"maxDepth", env_source("TRACING_MAX_DEPTH")},
                            {"maxCaptureSize", env_source("TRACING_MAX_CAPTURE_SIZE")},
                            {"format", env_source("TRACING_FORMAT")}};

  // Most specific last: the file entry, then the function entry. A value a traced program would not take (a
  // level that is not a whole number 0-5, a flag that is not true or false) is left out, and said.
  nlohmann::json warnings = nlohmann::json::array();
  auto apply = [&](const nlohmann::json& entry, const std::string& where) {
    if (!entry.is_object()) {
      warnings.push_back(cfg_name + " " + where + " is " + entry.dump() +
                         ", not an object such as {\"level\": 2}; it is ignored, by traced programs too");
      return;
    }
    for (const char* key : {"level", "captureParams", "captureReturn"}) {
      if (!entry.contains(key)) continue;
      const nlohmann::json& v = entry[key];
      const bool level = std::string(key) == "level";
      if (level ? !(v.is_number_integer() && v.get<long long>() >= 0 && v.get<long long>() <= 5)
                : !v.is_boolean()) {
        warnings.push_back(cfg_name + " " + where + ": " + key + " " + v.dump() + " is not " +
                           (level ? "a whole number from 0 to 5" : "true or false") +
                           "; it is ignored, by traced programs too");
        continue;
      }
      effective[key] = v;
      sources[key] = cfg_name + " " + where;
    }
  };
  if (!file.empty()) {
    if (config["files"].contains(file)) apply(config["files"][file], "files[\"" + file + "\"]");
    if (!function.empty()) {
      std::string key = function_key(file, function);
      if (config["functions"].contains(key)) apply(config["functions"][key], "functions[\"" + key + "\"]");
    }
  }
  long long max_level = env.get_int("TRACING_MAX_LEVEL");
  if (effective["level"].get<long long>() > max_level) {
    effective["level"] = max_level;
    sources["level"] = env_source("TRACING_MAX_LEVEL") + " (ceiling)";
  }
  if (!effective["enabled"].get<bool>()) {
    effective["level"] = 0;
    sources["level"] = env_source("TRACING_ENABLED") + " (tracing disabled)";
  }
  nlohmann::json env_values = nlohmann::json::object();
  for (const auto& [key, value] : env.values()) env_values[key] = value;
  for (const auto& d : env.diagnostics()) warnings.push_back(d.to_string());
  nlohmann::json permissions = {
      {"instrument", env.get_bool("TRACING_ALLOW_AI_INSTRUMENTATION") && env.get_bool("TRACING_ENABLED")},
      {"wrap", env.get_bool("TRACING_ALLOW_AI_WRAP")},
      {"unwrap", env.get_bool("TRACING_ALLOW_AI_UNWRAP")},
      {"requireApproval", env.get_bool("TRACING_AI_REQUIRE_APPROVAL")}};
  nlohmann::json out = {{"effective", effective},
                        {"sources", sources},
                        {"permissions", permissions},
                        {"env", env_values},
                        {"warnings", warnings}};
  if (!file.empty()) out["file"] = file;
  if (!function.empty()) out["function"] = function;
  (void)env_name;
  return out;
}

}  // namespace agentlog
