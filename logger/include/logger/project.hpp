// Where everything of agentlog lives inside a user's repository (DESIGN.md, "In a user's repository").
// A value type; thread-safe to copy and read.
#pragma once

#include <filesystem>
#include <optional>

namespace agentlog {

namespace fs = std::filesystem;

struct ProjectLayout {
  fs::path root;  // the project root (absolute, canonical when it exists)

  fs::path base() const { return root / ".ai-agents" / "logging"; }
  fs::path config_dir() const { return base() / "config"; }
  fs::path env_logging() const { return config_dir() / ".env.logging"; }
  fs::path env_tracing() const { return config_dir() / ".env.tracing"; }
  fs::path logging_config() const { return config_dir() / "logging.config.json"; }
  fs::path tracing_config() const { return config_dir() / "tracing.config.json"; }
  fs::path filters() const { return config_dir() / "filters.json"; }
  fs::path integrations_dir() const { return base() / "integrations"; }
  fs::path registry() const { return integrations_dir() / "registry.json"; }
  fs::path backups_dir() const { return integrations_dir() / "backups"; }
  fs::path hooks_dir() const { return integrations_dir() / "hooks"; }
  fs::path runtime_dir() const { return base() / "runtime"; }
  fs::path runtime_header() const { return runtime_dir() / "agentlog_trace.hpp"; }
  fs::path logs_dir() const { return base() / "logs"; }
  fs::path latest_log() const { return logs_dir() / "latest.log"; }
  fs::path archive_dir() const { return logs_dir() / "archive"; }
  fs::path traces_dir() const { return base() / "traces"; }
  fs::path trace_index() const { return traces_dir() / "index.sqlite"; }
  fs::path audit_dir() const { return base() / "audit"; }
  fs::path audit_log() const { return audit_dir() / "actions.jsonl"; }
  fs::path audit_head() const { return audit_dir() / "head.json"; }
  fs::path approvals_dir() const { return base() / "approvals"; }
  fs::path memory_dir() const { return base() / "memory"; }
  fs::path outbox_dir() const { return memory_dir() / "outbox"; }

  // `start` itself when it holds .ai-agents/, else the nearest parent that does, else `start`.
  static ProjectLayout discover(const fs::path& start);
  // The same without the fallback: nothing when no directory from `start` upwards holds .ai-agents/.
  static std::optional<ProjectLayout> find(const fs::path& start);
  // Exactly `root` (made absolute), no search.
  static ProjectLayout at(const fs::path& root);

  // `p` relative to the root with '/' separators when it lies inside, else `p` unchanged.
  std::string relative(const fs::path& p) const;
};

}  // namespace agentlog
