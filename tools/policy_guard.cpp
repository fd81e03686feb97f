// The policy guard around every tools/call (DESIGN.md, Policy): permissions from the .env flags, every path
// argument resolved and checked, then the tool, then one audit record with the decision, the outcome and the
// files touched (SHA-256 before and after). The record is on disk before the result is returned.

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <ctime>
#include <iostream>

#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "logger/log_writer.hpp"
#include "policy/approvals.hpp"
#include "policy/audit.hpp"
#include "policy/memory.hpp"
#include "policy/paths.hpp"
#include "policy/permissions.hpp"
#include "tools/tools.hpp"

namespace agentlog {

std::string error_id(const std::string& text) {
  if (text.size() > 2 && text[0] == '[') {
    auto close = text.find(']');
    if (close != std::string::npos) return text.substr(1, close - 1);
  }
  return "tool.failed";
}

namespace {

// The settings of one .env file, re-read when the human changes it (SettingsCheck), shared by all calls.
class EnvCache {
 public:
  EnvCache(std::filesystem::path path, const std::vector<EnvKeySpec>& keys)
      : path_(path), keys_(keys), check_({std::move(path)}) {}
  std::shared_ptr<const EnvSettings> get() {
    std::lock_guard lock(mutex_);
    if (check_.changed()) current_ = std::make_shared<const EnvSettings>(EnvSettings::load(path_, keys_));
    return current_;
  }

 private:
  std::filesystem::path path_;
  const std::vector<EnvKeySpec>& keys_;
  std::mutex mutex_;
  SettingsCheck check_;
  std::shared_ptr<const EnvSettings> current_;
};

// Calls that change what is traced wait for a human when TRACING_AI_REQUIRE_APPROVAL=true.
bool needs_approval(const mcp::Tool& tool, const EnvSettings& tracing) {
  if (!tracing.get_bool("TRACING_AI_REQUIRE_APPROVAL")) return false;
  return std::any_of(tool.permissions.begin(), tool.permissions.end(),
                     [](const std::string& p) { return p.rfind("tracing.", 0) == 0; });
}

struct ApprovalOutcome {
  enum Kind { kProceed, kParked, kDenied } kind = kProceed;
  mcp::ToolResult result;  // kParked
  std::optional<policy::Denial> denial;  // kDenied
  std::string approval_id;
};

// Asks the human in the client (MCP elicitation) when the client can; true when the approval was decided.
bool elicit(ToolsContext& ctx, mcp::ToolCall& call, const policy::Approval& a) {
  if (!call.request_client || !call.client.capabilities.contains("elicitation")) return false;
  json params = {
      {"message", "The agent " + call.client.name + " asks to run " + a.tool + " with " + a.arguments.dump() +
                      " (TRACING_AI_REQUIRE_APPROVAL=true). Approve it? (approval " + a.id + ")"},
      {"requestedSchema",
       {{"type", "object"},
        {"properties",
         {{"approve", {{"type", "boolean"}, {"title", "Approve"}, {"description", "Run this call once"}}},
          {"reason", {{"type", "string"}, {"title", "Reason"}}}}},
        {"required", {"approve"}}}}};
  json answer;
  try {
    answer = call.request_client("elicitation/create", params);
  } catch (const std::exception&) {
    return false;  // no answer: the approval stays pending for the CLI
  }
  const std::string action = answer.value("action", "cancel");
  if (action == "cancel") return false;
  const json content = answer.value("content", json::object());
  const bool yes = action == "accept" && content.value("approve", false);
  mcp::ToolCall decision;  // the human's decision, in the audit log as the CLI's is (approvals.approve|deny)
  decision.tool = yes ? "approvals.approve" : "approvals.deny";
  decision.client = call.client;
  decision.client.name = "elicitation:" + call.client.name;
  decision.session = call.session;
  decision.arguments = {{"approvalId", a.id}, {"tool", a.tool}, {"reason", content.value("reason", "")}};
  try {
    policy::ApprovalStore(ctx.layout.approvals_dir())
        .decide(a.id, yes, decision.arguments["reason"], decision.client.name, system_ms());
  } catch (const policy::ApprovalError&) {
    return false;  // decided meanwhile on the CLI
  }
  audit_call(ctx, decision, policy::redact(decision.arguments), "allowed", mcp::ToolResult{}, 0);
  return true;
}

ApprovalOutcome approve_call(ToolsContext& ctx, mcp::ToolCall& call, const EnvSettings& tracing, const json& redacted,
                             const std::string& approval_id) {
  using Kind = policy::ApprovalCheck::Kind;
  policy::ApprovalStore store(ctx.layout.approvals_dir());
  const int ttl = static_cast<int>(tracing.get_int("TRACING_APPROVAL_TTL_MINUTES"));
  auto check = [&](const std::string& id) {
    return store.check(call.tool, call.arguments, redacted, id, call.client.name, call.session, ttl, system_ms());
  };
  policy::ApprovalCheck c = check(approval_id);
  if (c.kind == Kind::kPending && elicit(ctx, call, c.approval)) c = check(c.approval.id);
  ApprovalOutcome out;
  out.approval_id = c.approval.id;
  const std::string& id = c.approval.id;
  auto deny = [&](std::string denial_id, std::string message) {
    out.kind = ApprovalOutcome::kDenied;
    out.denial = policy::Denial{std::move(denial_id), std::move(message)};
    return out;
  };
  switch (c.kind) {
    case Kind::kProceed: return out;
    case Kind::kPending:
      out.kind = ApprovalOutcome::kParked;
      out.result = mcp::ToolResult::error(
          "policy.approval.required",
          call.tool + " needs a human's approval (TRACING_AI_REQUIRE_APPROVAL=true in .env.tracing). Approval " + id +
              " is pending until " + iso8601_ms(c.approval.expires_ms) + ": ask the human to run `agentlog approvals approve " +
              id + "` (or `deny " + id + "`), then call " + call.tool + " again with the same arguments and \"approvalId\": \"" +
              id + "\". Nothing was done.");
      return out;
    case Kind::kDenied:
      return deny("policy.approval.denied", "The human denied approval " + id +
                                                (c.approval.reason.empty() ? "" : " (" + c.approval.reason + ")") +
                                                "; do not retry this call");
    case Kind::kUsed:
    case Kind::kExpired:
      return deny("policy.approval." + std::string(c.kind == Kind::kUsed ? "used" : "expired"),
                  "Approval " + id + " is " + c.approval.status +
                      " (one approval runs one call); call again without approvalId to ask for a new one");
    case Kind::kMismatch:
      return deny("policy.approval.mismatch", "Approval " + id + " is for " + c.approval.tool + " with other arguments (" +
                                                  c.approval.arguments.dump() +
                                                  "); an approval runs exactly the call that was approved");
    case Kind::kUnknown:
      return deny("policy.approval.unknown", "There is no approval " + id + "; call again without approvalId to ask for one");
  }
  return out;
}

}  // namespace

void audit_call(ToolsContext& ctx, const mcp::ToolCall& call, const json& arguments,
                const std::string& decision, const mcp::ToolResult& result, double duration_ms,
                const std::string& approval_id) {
  json files = json::array();
  for (const auto& f : call.files_touched)
    files.push_back({{"path", f.path}, {"sha256Before", f.sha256_before}, {"sha256After", f.sha256_after}});
  json record = {{"time", iso8601_now_ms()},
                 {"agent", {{"name", call.client.name}, {"version", call.client.version}}},
                 {"session", call.session},
                 {"tool", call.tool},
                 {"arguments", arguments},
                 {"decision", decision},
                 {"outcome", result.is_error ? "error" : "ok"},
                 {"durationMs", duration_ms},
                 {"files", files}};
  if (!approval_id.empty()) record["approvalId"] = approval_id;
  if (result.is_error) {
    record["errorId"] = error_id(result.text);
    record["error"] = result.text;
  }
  json written;
  try {
    written = policy::AuditLog(ctx.layout.audit_dir()).append(std::move(record));
  } catch (const std::exception& e) {
    // The action happened (or was refused); say loudly that its record did not (stderr, never stdout).
    std::cerr << "agentlog: AUDIT RECORD NOT WRITTEN for " << call.tool << ": " << e.what() << std::endl;
    return;
  }
  if (!ctx.memory) return;
  try {  // and to OpenMemory (the embedded store now, or the outbox for the server)
    ctx.memory->record_action(written);
  } catch (const std::exception& e) {
    std::cerr << "agentlog: memory record not written for " << call.tool << ": " << e.what() << std::endl;
  }
}

mcp::CallGuard make_policy_guard(ToolsContext& ctx) {
  auto tracing_env = std::make_shared<EnvCache>(ctx.layout.env_tracing(), tracing_env_keys());
  auto logging_env = std::make_shared<EnvCache>(ctx.layout.env_logging(), logging_env_keys());
  if (!ctx.memory) {
    ctx.memory = std::make_shared<policy::Memory>(ctx.layout, policy::MemoryConfig::from_env(*logging_env->get(), ctx.layout));
    ctx.memory->start_background();
  }
  return [&ctx, tracing_env, logging_env](mcp::ToolCall& call, const mcp::Tool& tool,
                                          const std::function<mcp::ToolResult(mcp::ToolCall&)>& proceed) -> mcp::ToolResult {
    const auto start = std::chrono::steady_clock::now();
    // The human edits the .env files while the server runs: a change applies to the next call.
    auto tracing_ptr = tracing_env->get();
    auto logging_ptr = logging_env->get();
    const EnvSettings& tracing = *tracing_ptr;
    const EnvSettings& logging = *logging_ptr;
    json logged_arguments = policy::redact(call.arguments);

    std::optional<policy::Denial> denial = policy::check_permissions(tool.permissions, call.arguments, tracing, logging);
    std::vector<std::string> checked_paths;
    for (const auto& name : tool.path_arguments) {
      if (denial) break;
      auto it = call.arguments.find(name);
      if (it == call.arguments.end() || !it->is_string()) continue;
      auto decision = policy::check_path(ctx.layout, it->get<std::string>(), tracing.get_list("TRACING_EXCLUDE_FILES"));
      if (decision.denial) {
        denial = decision.denial;
        break;
      }
      *it = decision.relative;  // the tool sees the resolved, project-relative path
      checked_paths.push_back(decision.relative);
    }

    // Approval (TRACING_AI_REQUIRE_APPROVAL): a gated call runs only with a human's yes.
    std::string approval_id;
    if (auto it = call.arguments.find("approvalId"); it != call.arguments.end()) {
      if (it->is_string()) approval_id = it->get<std::string>();
      call.arguments.erase(it);
    }
    std::optional<mcp::ToolResult> parked;
    if (!denial && !call.invalid_arguments && needs_approval(tool, tracing)) {
      auto outcome = approve_call(ctx, call, tracing, policy::redact(call.arguments), approval_id);
      if (outcome.kind == ApprovalOutcome::kDenied) denial = outcome.denial;
      else if (outcome.kind == ApprovalOutcome::kParked) parked = outcome.result;
      approval_id = outcome.approval_id;
    }

    mcp::ToolResult result;
    std::string decision = "allowed";
    if (parked) {
      decision = "parked";
      result = *parked;
    } else if (denial) {
      decision = "denied";
      result = mcp::ToolResult::error(denial->id, denial->message);
    } else {
      std::vector<std::string> before;
      for (const auto& p : checked_paths) before.push_back(policy::sha256_file(ctx.layout.root / p));
      result = proceed(call);
      for (std::size_t i = 0; i < checked_paths.size(); ++i) {
        const auto& touched = call.files_touched;  // a tool that reported the file itself knows best
        if (std::none_of(touched.begin(), touched.end(),
                         [&](const mcp::FileTouch& t) { return t.path == checked_paths[i]; }))
          call.files_touched.push_back(
              {checked_paths[i], before[i], policy::sha256_file(ctx.layout.root / checked_paths[i])});
      }
    }

    try {  // OpenMemory follows the human's edits of .env.logging, as the policy does
      ctx.memory->configure(policy::MemoryConfig::from_env(logging, ctx.layout));
    } catch (const std::exception& e) {
      std::cerr << "agentlog: OpenMemory settings not applied: " << e.what() << std::endl;
    }
    audit_call(ctx, call, logged_arguments, decision, result,
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
               approval_id);
    return result;
  };
}

}  // namespace agentlog
