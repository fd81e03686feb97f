// The audit records of a project, oldest first, across its archives and the live log: what the tests of the
// policy read back after driving the binary.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "policy/audit.hpp"
#include "support/temp_dir.hpp"

namespace agentlog::test {

inline std::vector<nlohmann::json> audit_records(const std::filesystem::path& root) {
  const policy::AuditLog log(root / ".ai-agents/logging/audit");
  std::vector<nlohmann::json> out;
  for (const auto& file : log.files())
    REQUIRE(policy::AuditLog::read_lines(
        file.path, 0, [&](std::string_view line) { out.push_back(nlohmann::json::parse(line)); }));
  return out;
}

inline std::vector<nlohmann::json> audit_records(const TempDir& root) { return audit_records(root.path()); }

}  // namespace agentlog::test
