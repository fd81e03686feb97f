// agentlog approvals list|approve|deny: the human's side of TRACING_AI_REQUIRE_APPROVAL. Each decision is
// also appended to the audit log (agent "human:<login name>"), so the chain tells who allowed what. In the
// agent's shell (CLAUDECODE set) `approve` is refused and audited as refused; `deny` is allowed there (the
// agent withdrawing its own request is safe) and is recorded as the agent's.
#include <pwd.h>
#include <unistd.h>

#include <iostream>

#include "logger/event_writer.hpp"
#include "logger/log_writer.hpp"
#include "policy/approvals.hpp"
#include "policy/audit.hpp"
#include "tools/cli.hpp"

namespace agentlog {

using json = nlohmann::json;

namespace {

// Who decides: the login name of the real user, which the caller cannot set ($USER and $LOGNAME it can); in
// the agent's shell, the agent.
std::string decider_name() {
  if (in_agent_shell()) return "claude-code";
  const passwd* pw = ::getpwuid(::getuid());
  return std::string("human:") +
         (pw && pw->pw_name && *pw->pw_name ? pw->pw_name : std::to_string(::getuid()));
}

// The audit record of a decision, or of a refused attempt at one. Never throws.
void audit_decision(const ProjectLayout& layout, bool approve, const policy::Approval& a,
                    const std::string& id, const std::string& reason, const std::string& error) {
  try {
    json record = {{"time", iso8601_now_ms()},
                   {"agent", {{"name", decider_name()}, {"version", in_agent_shell() ? "shell" : ""}}},
                   {"session", ""},
                   {"tool", approve ? "approvals.approve" : "approvals.deny"},
                   {"arguments", {{"approvalId", id}, {"tool", a.tool}, {"reason", reason}}},
                   {"decision", error.empty() ? "allowed" : "denied"},
                   {"outcome", error.empty() ? "ok" : "error"},
                   {"durationMs", 0},
                   {"files", json::array()}};
    if (!error.empty()) record["error"] = error;
    remember_action(layout, policy::AuditLog(layout.audit_dir()).append(std::move(record)),
                    "agentlog approvals");
  } catch (const std::exception& e) {
    std::cerr << "agentlog approvals: " << (error.empty() ? "the decision is saved but its" : "the")
              << " audit record is not: " << e.what() << "\n";
  }
}

void print_approval(const policy::Approval& a, bool tty) {
  std::string status = a.status;
  if (tty && status == "pending") status = "\033[33m" + status + "\033[0m";
  std::cout << a.id << "  " << status << "  " << a.tool << " " << a.arguments.dump() << "\n"
            << "    asked by " << a.agent << " at " << iso8601_ms(a.created_ms) << ", expires " << iso8601_ms(a.expires_ms);
  // Who decided, and apart from that whether the agent's call has used the approval (its status after a yes:
  // approved, used, or expired unused).
  if (a.decided_ms)
    std::cout << "; " << (a.status == "denied" ? "denied" : "approved") << " by " << a.decided_by << " at "
              << iso8601_ms(a.decided_ms) << (a.reason.empty() ? "" : ": " + a.reason);
  if (a.status == "used") std::cout << "; used: the call ran once";
  std::cout << "\n";
}

}  // namespace

void add_approvals_commands(CLI::App& app) {
  auto* approvals = app.add_subcommand("approvals", "Approve or deny what the AI asked to do (TRACING_AI_REQUIRE_APPROVAL)");
  approvals->require_subcommand(1);
  static CliCommon common;
  static bool all = false;
  static std::string id, reason;

  auto* list = approvals->add_subcommand("list", "Pending approvals first, then the decided ones");
  add_common_options(list, common);
  list->add_flag("--all", all, "Also used, denied and expired approvals");
  list->callback([] {
    json out = json::array();
    bool tty = stdout_is_tty();
    std::size_t shown = 0;
    for (const auto& a : policy::ApprovalStore(common.layout().approvals_dir()).list(system_ms())) {
      if (!all && a.status != "pending" && a.status != "approved") continue;
      ++shown;
      if (common.json) out.push_back(a.to_json());
      else print_approval(a, tty);
    }
    if (common.json) return print_json(out);
    if (shown == 0) std::cout << "No pending approvals." << (all ? "" : " (--all shows decided ones)") << "\n";
  });

  for (bool approve : {true, false}) {
    auto* cmd = approvals->add_subcommand(approve ? "approve" : "deny",
                                          approve ? "Let the agent run the parked call once (it retries with the id)"
                                                  : "Refuse the parked call; the agent is told not to retry");
    add_common_options(cmd, common);
    cmd->add_option("id", id, "The approval id (apr-xxxxxxxx)")->required();
    cmd->add_option("--reason", reason, "Why (shown to the agent and in the audit log)");
    cmd->callback([approve] {
      const ProjectLayout layout = common.layout();
      if (approve && in_agent_shell()) {
        const std::string why =
            "approvals are the human's: this runs in the AI agent's shell (CLAUDECODE is set), and the agent "
            "may not approve what it asked to do. The human runs `agentlog approvals approve " +
            id + "` in their own terminal";
        audit_decision(layout, approve, {}, id, reason, "[policy.denied.agent_shell] " + why);
        std::cerr << "agentlog approvals: refused: " << why << "\n";
        throw CLI::RuntimeError(1);
      }
      policy::Approval a;
      try {
        a = policy::ApprovalStore(layout.approvals_dir())
                .decide(id, approve, reason, decider_name(), system_ms());
      } catch (const policy::ApprovalError& e) {
        std::cerr << "agentlog approvals: " << e.what() << "\n";
        throw CLI::RuntimeError(1);
      }
      audit_decision(layout, approve, a, a.id, reason, "");
      if (common.json) return print_json(a.to_json());
      std::cout << (approve ? "Approved " : "Denied ") << a.id << ": " << a.tool << " " << a.arguments.dump() << "\n"
                << (approve ? "The agent's next call with the same arguments (or with approvalId) runs once, until " +
                                  iso8601_ms(a.expires_ms) + ".\n"
                            : "The agent is told not to retry.\n");
    });
  }
}

}  // namespace agentlog
