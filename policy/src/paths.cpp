#include "policy/paths.hpp"

#include <fnmatch.h>
#include <sys/stat.h>

#include <filesystem>

namespace agentlog::policy {

namespace fs = std::filesystem;

namespace {

// Resolves symlinks of the longest existing prefix, then appends the rest lexically. The prefix is taken as
// written, not normalised first: `link/../config` is the config folder next to where the link points, as the
// kernel resolves it, not ./config.
fs::path resolve(const fs::path& p) {
  std::error_code ec;
  fs::path normal = p;
  while (!normal.empty() && normal.filename().empty() && normal != normal.root_path()) normal = normal.parent_path();
  fs::path existing = normal, rest;
  while (!existing.empty() && !fs::exists(fs::symlink_status(existing, ec))) {
    rest = existing.filename() / rest;
    existing = existing.parent_path();
  }
  fs::path canonical = existing.empty() ? fs::path("/") : fs::canonical(existing, ec);
  if (ec) canonical = existing;
  fs::path out = rest.empty() ? canonical : (canonical / rest).lexically_normal();
  std::string s = out.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();  // "a/b/" names the same file as "a/b"
  return s;
}

std::vector<fs::path> protected_files(const ProjectLayout& layout) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(layout.config_dir(), ec))
    if (e.path().filename().string().rfind(".env", 0) == 0) out.push_back(e.path());
  for (const fs::path& dir : {layout.audit_dir(), layout.base() / "approvals"})
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) out.push_back(e.path());
  return out;
}

}  // namespace

bool is_protected(const std::string& relative) {
  const std::string base = ".ai-agents/logging/";
  if (relative.rfind(base, 0) != 0) return false;
  std::string rest = relative.substr(base.size());
  if (rest.rfind("config/.env", 0) == 0) return true;
  for (const char* dir : {"audit", "approvals"})
    if (rest == dir || rest.rfind(std::string(dir) + "/", 0) == 0) return true;
  return false;
}

bool glob_match(const std::string& glob, const std::string& relative) {
  if (glob.empty()) return false;
  std::string name = relative.substr(relative.find_last_of('/') + 1);
  if (glob.find('/') == std::string::npos) return fnmatch(glob.c_str(), name.c_str(), 0) == 0;
  std::string g = glob;
  for (std::size_t p; (p = g.find("**")) != std::string::npos;) g.replace(p, 2, "*");  // '*' crosses '/' below
  return fnmatch(g.c_str(), relative.c_str(), 0) == 0;
}

PathDecision check_path(const ProjectLayout& layout, const std::string& argument,
                        const std::vector<std::string>& excluded) {
  PathDecision d;
  if (argument.empty()) {
    d.denial = Denial{"policy.denied.bad_path", "An empty path; pass a project-relative file path"};
    return d;
  }
  if (argument.find('\0') != std::string::npos) {
    d.denial = Denial{"policy.denied.bad_path", "The path contains a NUL byte"};
    return d;
  }
  const fs::path root = resolve(layout.root);
  fs::path given(argument);
  fs::path resolved = resolve(given.is_absolute() ? given : layout.root / given);
  // Inside the root?
  auto [r, p] = std::mismatch(root.begin(), root.end(), resolved.begin(), resolved.end());
  if (r != root.end()) {
    d.denial = Denial{"policy.denied.outside_root",
                      "'" + argument + "' resolves to " + resolved.string() + ", outside the project " + root.string() +
                          "; pass a path inside the project"};
    return d;
  }
  fs::path rel = resolved.lexically_relative(root);
  d.relative = rel == "." ? std::string() : rel.generic_string();
  if (is_protected(d.relative)) {
    d.denial = Denial{"policy.denied.protected_file",
                      "'" + argument + "' is " + d.relative +
                          ", which only the human may change (the .env files, the audit log and approvals are "
                          "protected); ask the human to edit it"};
    return d;
  }
  // A hard link (or any other name) of a protected file.
  struct stat target {};
  if (::stat(resolved.c_str(), &target) == 0) {
    for (const auto& f : protected_files(layout)) {
      struct stat st {};
      if (::stat(f.c_str(), &st) == 0 && st.st_dev == target.st_dev && st.st_ino == target.st_ino) {
        d.denial = Denial{"policy.denied.protected_file",
                          "'" + argument + "' is another name (a link) of the protected " +
                              fs::path(f).lexically_relative(root).generic_string() + "; ask the human to edit it"};
        return d;
      }
    }
  }
  for (const auto& glob : excluded) {
    if (glob_match(glob, d.relative)) {
      d.denial = Denial{"policy.denied.excluded", "'" + d.relative + "' matches TRACING_EXCLUDE_FILES (" + glob +
                                                      ") in .env.tracing; the human decides what is excluded"};
      return d;
    }
  }
  return d;
}

}  // namespace agentlog::policy
