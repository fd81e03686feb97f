#include "logger/project.hpp"

#include <system_error>

namespace agentlog {

namespace {
fs::path absolute_clean(const fs::path& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) abs = p;
  fs::path canonical = fs::weakly_canonical(abs, ec);
  return ec ? abs.lexically_normal() : canonical;
}
}  // namespace

ProjectLayout ProjectLayout::at(const fs::path& root) { return ProjectLayout{absolute_clean(root)}; }

std::optional<ProjectLayout> ProjectLayout::find(const fs::path& start) {
  fs::path dir = absolute_clean(start);
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    std::error_code ec;
    if (fs::is_directory(p / ".ai-agents", ec)) return ProjectLayout{p};
    if (p == p.parent_path()) break;
  }
  return std::nullopt;
}

ProjectLayout ProjectLayout::discover(const fs::path& start) {
  if (auto found = find(start)) return *found;
  return ProjectLayout{absolute_clean(start)};
}

std::string ProjectLayout::relative(const fs::path& p) const {
  fs::path abs = p.is_absolute() ? p.lexically_normal() : (root / p).lexically_normal();
  fs::path rel = abs.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") return p.generic_string();
  return rel.generic_string();
}

}  // namespace agentlog
