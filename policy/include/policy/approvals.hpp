// Approvals (DESIGN.md, Policy 3): with TRACING_AI_REQUIRE_APPROVAL=true a gated call is parked as a pending
// approval in approvals/<id>.json; the human runs `agentlog approvals approve ID` (or deny), and the call
// proceeds when the agent retries it with the approval id (or simply calls it again with the same
// arguments). An approval is for one tool with exactly those arguments (their SHA-256), is used once, and
// expires after TRACING_APPROVAL_TTL_MINUTES. One that ended (used, denied, expired) is removed 30 days
// later; the audit log keeps every decision and use.
//
// Thread-safety: every read-modify-write holds an exclusive flock on approvals/.lock, so the server, the HTTP
// API and the CLI can share the store.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace agentlog::policy {

struct Approval {
  std::string id;  // "apr-" + 8 hex digits
  std::string tool;
  nlohmann::json arguments;  // redacted, for the human to read
  std::string args_hash;     // SHA-256 of the arguments as called (without approvalId)
  std::string agent, session;
  std::string status;  // pending | approved | denied | used | expired
  std::string reason, decided_by;
  std::int64_t created_ms = 0, expires_ms = 0, decided_ms = 0;

  nlohmann::json to_json() const;
  static Approval from_json(const nlohmann::json& j);
};

// What the guard does with a gated call.
struct ApprovalCheck {
  enum class Kind { kProceed, kPending, kDenied, kExpired, kMismatch, kUnknown, kUsed };
  Kind kind;
  Approval approval;
};

class ApprovalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ApprovalStore {
 public:
  explicit ApprovalStore(std::filesystem::path dir);

  // With `approval_id`: that approval, if it is approved for this tool and these arguments and not used or
  // expired (it is marked used). Without: an approved, unused approval for the same call (used now), else the
  // pending one for the same call, else a new pending one.
  ApprovalCheck check(const std::string& tool, const nlohmann::json& arguments,
                      const nlohmann::json& redacted, const std::string& approval_id,
                      const std::string& agent, const std::string& session, int ttl_minutes,
                      std::int64_t now_ms);

  // Every approval (pending first, then newest), with statuses brought up to date (expired); those that
  // ended more than 30 days ago are removed.
  std::vector<Approval> list(std::int64_t now_ms);
  // Approves or denies a pending approval. Throws ApprovalError naming the id and what to do when it is
  // unknown, already decided or expired.
  Approval decide(const std::string& id, bool approve, const std::string& reason, const std::string& by,
                  std::int64_t now_ms);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

}  // namespace agentlog::policy
