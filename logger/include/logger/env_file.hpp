// The human-only .env files (.env.logging, .env.tracing): parsing and typed, validated settings.
//
// Syntax: `KEY=value`, `export KEY=value`, blank lines, `# comments`, inline comments after whitespace
// (`TRACING_SAMPLE_RATE=1.0  # 0.0-1.0`), single or double quotes (a quoted value keeps '#'; double quotes
// understand \n \t \" \\). An unknown key is a warning; a bad value is an error naming file, line, key and
// what is accepted, and the key's safe value is used (permission flags: deny).
//
// Thread-safety: EnvSettings is an immutable value once loaded.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentlog {

struct EnvDiagnostic {
  enum class Severity { kWarning, kError };
  Severity severity;
  std::string file;
  int line = 0;
  std::string key;
  std::string message;
  std::string to_string() const;  // "file:line: error: KEY: message"
};

struct EnvEntry {
  std::string value;
  int line = 0;
};

// Raw parse: keys to values, in file order of first appearance (a later duplicate wins, with a warning).
struct EnvParse {
  std::map<std::string, EnvEntry> entries;
  std::vector<EnvDiagnostic> diagnostics;
};
EnvParse parse_env(std::string_view text, const std::string& file_name);

enum class EnvType { kBool, kInt, kDouble, kString, kList, kEnum };

struct EnvKeySpec {
  const char* key;
  EnvType type;
  const char* default_value;
  const char* safe_value;  // used when the file's value cannot be read
  double min = 0;
  double max = 0;
  const char* choices = "";  // kEnum: '|'-separated
  const char* help = "";
  // What is wrong with a value of the right type, in the light of the whole file (empty: nothing): a
  // warning, the value is kept (the reader skips what it cannot use).
  std::string (*check)(const class EnvSettings& all, const std::string& key) = nullptr;
};

// The keys of each file (the spec's keys verbatim, plus agentlog's own).
const std::vector<EnvKeySpec>& tracing_env_keys();
const std::vector<EnvKeySpec>& logging_env_keys();

// Typed settings of one .env file with where each value came from.
class EnvSettings {
 public:
  // Missing file: every key has its default and source "default".
  static EnvSettings load(const std::filesystem::path& file, const std::vector<EnvKeySpec>& keys);
  static EnvSettings from_text(std::string_view text, const std::string& file_name,
                               const std::vector<EnvKeySpec>& keys);

  bool get_bool(const std::string& key) const;
  long long get_int(const std::string& key) const;
  double get_double(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  std::vector<std::string> get_list(const std::string& key) const;  // comma-separated, trimmed, no empties

  // "path:line" or "default" (or "safe default (bad value)").
  const std::string& source(const std::string& key) const;
  const std::vector<EnvDiagnostic>& diagnostics() const { return diagnostics_; }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  const std::string& raw(const std::string& key) const;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> sources_;
  std::vector<EnvDiagnostic> diagnostics_;
};

}  // namespace agentlog
