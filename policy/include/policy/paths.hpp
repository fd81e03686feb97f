// Where the AI may point a tool: inside the project root, outside the protected set (the human-only .env
// files, the audit log, the approvals store) and outside TRACING_EXCLUDE_FILES. Every path argument is
// resolved first: absolute or relative, `.`/`..`, duplicate and trailing slashes, symlinks (of the file and of
// every parent), and hard links to a protected file (same device and inode).
//
// Thread-safety: free functions over the file system; safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "logger/project.hpp"

namespace agentlog::policy {

struct Denial {
  std::string id;       // stable: "policy.denied.protected_file", "policy.denied.outside_root", ...
  std::string message;  // says what is refused and what to do instead
};

struct PathDecision {
  std::string relative;          // project-relative, normalised (when allowed)
  std::optional<Denial> denial;  // set when refused
};

// True when `relative` (project-relative, '/'-separated) is a protected file or lies in a protected folder.
bool is_protected(const std::string& relative);

// Resolves `argument` (as the agent wrote it) and decides. `excluded` are TRACING_EXCLUDE_FILES globs.
PathDecision check_path(const ProjectLayout& layout, const std::string& argument,
                        const std::vector<std::string>& excluded);

// fnmatch-style glob match ('*' does not cross '/', '**' does); a glob without '/' matches the file name.
bool glob_match(const std::string& glob, const std::string& relative);

}  // namespace agentlog::policy
