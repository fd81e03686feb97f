// agentlog approvals list|approve|deny: the human's side of TRACING_AI_REQUIRE_APPROVAL. Each decision is
// also appended to the audit log (agent "human:<user>"), so the chain tells who allowed what.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "logger/event_writer.hpp"
#include "logger/log_writer.hpp"
#include "policy/approvals.hpp"
#include "policy/audit.hpp"
#include "tools/cli.hpp"

namespace agentlog {

using json = nlohmann::json;

namespace {

std::string human_name() {
  const char* user = std::getenv("USER");
  if (!user || !*user) user = std::getenv("LOGNAME");
  return std::string("human:") + (user && *user ? user : std::to_string(::getuid()));
}

void print_approval(const policy::Approval& a, bool tty) {
  std::string status = a.status;
  if (tty && status == "pending") status = "\033[33m" + status + "\033[0m";
  std::cout << a.id << "  " << status << "  " << a.tool << " " << a.arguments.dump() << "\n"
            << "    asked by " << a.agent << " at " << iso8601_ms(a.created_ms) << ", expires " << iso8601_ms(a.expires_ms);
  if (a.decided_ms) std::cout << "; " << a.status << " by " << a.decided_by << (a.reason.empty() ? "" : ": " + a.reason);
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
      policy::Approval a;
      try {
        a = policy::ApprovalStore(layout.approvals_dir()).decide(id, approve, reason, human_name(), system_ms());
      } catch (const policy::ApprovalError& e) {
        std::cerr << "agentlog approvals: " << e.what() << "\n";
        throw CLI::RuntimeError(1);
      }
      try {
        json written =
            policy::AuditLog(layout.audit_dir())
                .append({{"time", iso8601_now_ms()},
                         {"agent", {{"name", human_name()}, {"version", ""}}},
                         {"session", ""},
                         {"tool", approve ? "approvals.approve" : "approvals.deny"},
                         {"arguments", {{"approvalId", a.id}, {"tool", a.tool}, {"reason", reason}}},
                         {"decision", "allowed"},
                         {"outcome", "ok"},
                         {"durationMs", 0},
                         {"files", json::array()}});
        remember_action(layout, written, "agentlog approvals");
      } catch (const std::exception& e) {
        std::cerr << "agentlog approvals: the decision is saved but its audit record is not: " << e.what() << "\n";
      }
      if (common.json) return print_json(a.to_json());
      std::cout << (approve ? "Approved " : "Denied ") << a.id << ": " << a.tool << " " << a.arguments.dump() << "\n"
                << (approve ? "The agent's next call with the same arguments (or with approvalId) runs once, until " +
                                  iso8601_ms(a.expires_ms) + ".\n"
                            : "The agent is told not to retry.\n");
    });
  }
}

}  // namespace agentlog
