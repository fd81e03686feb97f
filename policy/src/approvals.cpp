#include "policy/approvals.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "policy/audit.hpp"

namespace agentlog::policy {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string new_id() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "apr-%08x", static_cast<unsigned>(rd()));
  return buf;
}

bool valid_id(const std::string& id) {
  return id.size() == 12 && id.rfind("apr-", 0) == 0 &&
         id.find_first_not_of("0123456789abcdef", 4) == std::string::npos;
}

std::vector<Approval> load_all(const fs::path& dir) {
  std::vector<Approval> out;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec)) {
    if (f.path().extension() != ".json") continue;
    auto text = read_file(f.path());
    json j = text ? json::parse(*text, nullptr, false) : json();
    if (j.is_object()) out.push_back(Approval::from_json(j));
  }
  return out;
}

void save(const fs::path& dir, const Approval& a) {
  write_file_atomic(dir / (a.id + ".json"), a.to_json().dump(2) + "\n", 0600);
}

// Pending and approved approvals past their time become expired (saved).
void expire(const fs::path& dir, Approval& a, std::int64_t now_ms) {
  if ((a.status == "pending" || a.status == "approved") && now_ms >= a.expires_ms) {
    a.status = "expired";
    save(dir, a);
  }
}

// Approvals that ended (used, denied, expired) more than kKeepEndedMs ago leave the folder: `approvals list`
// stays readable, and every decision and use is in the audit log for good.
constexpr std::int64_t kKeepEndedMs = 30LL * 24 * 3600 * 1000;

void prune(const fs::path& dir, std::vector<Approval>& all, std::int64_t now_ms) {
  std::erase_if(all, [&](const Approval& a) {
    if (a.status == "pending" || a.status == "approved") return false;
    const std::int64_t ended = std::max({a.expires_ms, a.decided_ms, a.created_ms});
    if (now_ms - ended < kKeepEndedMs) return false;
    std::error_code ec;
    fs::remove(dir / (a.id + ".json"), ec);
    return true;
  });
}

}  // namespace

json Approval::to_json() const {
  json j = {{"id", id},
            {"tool", tool},
            {"arguments", arguments},
            {"argsHash", args_hash},
            {"agent", agent},
            {"session", session},
            {"status", status},
            {"created", iso8601_ms(created_ms)},
            {"createdMs", created_ms},
            {"expires", iso8601_ms(expires_ms)},
            {"expiresMs", expires_ms}};
  if (decided_ms) {
    j["decided"] = iso8601_ms(decided_ms);
    j["decidedMs"] = decided_ms;
    j["decidedBy"] = decided_by;
    j["reason"] = reason;
  }
  return j;
}

Approval Approval::from_json(const json& j) {
  Approval a;
  a.id = j.value("id", "");
  a.tool = j.value("tool", "");
  a.arguments = j.value("arguments", json::object());
  a.args_hash = j.value("argsHash", "");
  a.agent = j.value("agent", "");
  a.session = j.value("session", "");
  a.status = j.value("status", "pending");
  a.reason = j.value("reason", "");
  a.decided_by = j.value("decidedBy", "");
  a.created_ms = j.value("createdMs", std::int64_t{0});
  a.expires_ms = j.value("expiresMs", std::int64_t{0});
  a.decided_ms = j.value("decidedMs", std::int64_t{0});
  return a;
}

ApprovalStore::ApprovalStore(fs::path dir) : dir_(std::move(dir)) {}

ApprovalCheck ApprovalStore::check(const std::string& tool, const json& arguments, const json& redacted,
                                   const std::string& approval_id, const std::string& agent,
                                   const std::string& session, int ttl_minutes, std::int64_t now_ms) {
  using Kind = ApprovalCheck::Kind;
  const std::string hash = sha256_hex(tool + "\n" + arguments.dump());
  FileLock lock(dir_ / ".lock");
  std::vector<Approval> all = load_all(dir_);
  for (auto& a : all) expire(dir_, a, now_ms);
  prune(dir_, all, now_ms);
  auto use = [&](Approval& a) {
    a.status = "used";
    save(dir_, a);
    return ApprovalCheck{Kind::kProceed, a};
  };
  if (!approval_id.empty()) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Approval& a) { return a.id == approval_id; });
    if (it == all.end()) return {Kind::kUnknown, Approval{.id = approval_id}};
    if (it->tool != tool || it->args_hash != hash) return {Kind::kMismatch, *it};
    if (it->status == "approved") return use(*it);
    if (it->status == "pending") return {Kind::kPending, *it};
    if (it->status == "denied") return {Kind::kDenied, *it};
    if (it->status == "used") return {Kind::kUsed, *it};
    return {Kind::kExpired, *it};
  }
  for (auto& a : all)
    if (a.status == "approved" && a.tool == tool && a.args_hash == hash) return use(a);
  for (auto& a : all)
    if (a.status == "pending" && a.tool == tool && a.args_hash == hash) return {Kind::kPending, a};
  Approval a;
  do a.id = new_id();
  while (fs::exists(dir_ / (a.id + ".json")));
  a.tool = tool;
  a.arguments = redacted;
  a.args_hash = hash;
  a.agent = agent;
  a.session = session;
  a.status = "pending";
  a.created_ms = now_ms;
  a.expires_ms = now_ms + static_cast<std::int64_t>(ttl_minutes) * 60'000;
  save(dir_, a);
  return {Kind::kPending, a};
}

std::vector<Approval> ApprovalStore::list(std::int64_t now_ms) {
  FileLock lock(dir_ / ".lock");
  std::vector<Approval> all = load_all(dir_);
  for (auto& a : all) expire(dir_, a, now_ms);
  prune(dir_, all, now_ms);
  std::sort(all.begin(), all.end(), [](const Approval& a, const Approval& b) {
    const bool pa = a.status == "pending", pb = b.status == "pending";
    return pa != pb ? pa : a.created_ms > b.created_ms;
  });
  return all;
}

Approval ApprovalStore::decide(const std::string& id, bool approve, const std::string& reason,
                               const std::string& by, std::int64_t now_ms) {
  if (!valid_id(id))
    throw ApprovalError(
        "'" + id + "' is not an approval id (apr- and 8 hex digits); `agentlog approvals list` shows them");
  FileLock lock(dir_ / ".lock");
  auto text = read_file(dir_ / (id + ".json"));
  json j = text ? json::parse(*text, nullptr, false) : json();
  if (!j.is_object())
    throw ApprovalError("No approval " + id + "; `agentlog approvals list` shows the pending ones");
  Approval a = Approval::from_json(j);
  expire(dir_, a, now_ms);
  if (a.status != "pending")
    throw ApprovalError("Approval " + id + " is " + a.status + ", not pending" +
                        (a.status == "expired" ? "; the agent must ask again" : ""));
  a.status = approve ? "approved" : "denied";
  if (approve)
    a.expires_ms = std::max(a.expires_ms, now_ms + (a.expires_ms - a.created_ms));  // a full TTL to use it
  a.reason = reason;
  a.decided_by = by;
  a.decided_ms = now_ms;
  save(dir_, a);
  return a;
}

}  // namespace agentlog::policy
