// agentlog audit list|verify: what the AI did, and whether the record of it is intact.
#include <chrono>
#include <iostream>

#include "logger/event_writer.hpp"
#include "policy/audit.hpp"
#include "tools/cli.hpp"
#include "tools/context.hpp"
#include "tracer/store/store.hpp"

namespace agentlog {

std::string resolve_time_iso(const std::string& text) {
  auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return iso8601_ms(store::parse_time_ns(text, now) / 1000000);
}

void add_audit_commands(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "The tamper-evident record of every AI action");
  audit->require_subcommand(1);
  static CliCommon common;
  static policy::AuditFilter filter;
  static std::string since;

  auto* list = audit->add_subcommand("list", "Recorded actions, newest first");
  add_common_options(list, common);
  list->add_option("--agent", filter.agent, "Only this agent (clientInfo name, or the HTTP token's name)");
  list->add_option("--tool", filter.tool, "Only this tool");
  list->add_option("--since", since, "ISO-8601 or an age (1h, 2d)");
  list->add_flag("--denied", filter.denied_only, "Only denied (or parked) calls");
  list->add_option("--limit", filter.limit, "At most this many")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  list->callback([] {
    try {
      if (!since.empty()) filter.since = resolve_time_iso(since);
    } catch (const store::StoreError& e) {
      std::cerr << "agentlog audit: " << e.what() << "\n";
      throw CLI::RuntimeError(2);
    }
    json records = json::array();
    for (auto& r : policy::AuditLog(common.layout().audit_dir()).list(filter))
      records.push_back(std::move(r));
    if (common.json) return print_json(records);
    bool tty = stdout_is_tty();
    for (const auto& r : records) {
      bool allowed = r.value("decision", "") == "allowed";
      std::string mark = allowed ? (r.value("outcome", "") == "ok" ? "ok    " : "error ")
                         : r.value("decision", "") == "parked" ? "PARKED"
                                                               : "DENIED";
      if (tty && !allowed) mark = "\033[31m" + mark + "\033[0m";
      std::cout << r.value("time", "") << "  " << mark << "  " << r["agent"].value("name", "?") << "  "
                << r.value("tool", "") << "  " << r["arguments"].dump()
                << (r.contains("approvalId") ? "  (approval " + r["approvalId"].get<std::string>() + ")" : "")
                << "\n";
      if (r.contains("error")) std::cout << "      " << r["error"].get<std::string>() << "\n";
    }
  });

  auto* verify = audit->add_subcommand("verify", "Check the hash chain; exit 1 naming the first bad record");
  add_common_options(verify, common);
  verify->callback([] {
    const ProjectLayout layout = common.layout();
    policy::AuditLog log(layout.audit_dir());
    auto r = log.verify();
    if (const std::string lost = r.ok ? policy::witness_problem(layout.root, log) : ""; !lost.empty()) {
      r.ok = false;  // a valid chain, but shorter than, or other than, the one agentlog saw
      r.first_bad = r.records + 1;
      r.problem = lost;
    }
    if (r.ok) policy::update_witness(layout.root, log);
    const std::string file = (r.file.empty() ? log.log_path() : r.file).string();
    json out = {{"ok", r.ok},           {"records", r.records}, {"firstBad", r.first_bad},
                {"problem", r.problem}, {"file", file},         {"archives", r.archives}};
    const std::string archived =
        r.archives ? " (" + std::to_string(r.archives) + " of them in audit/archive/)" : std::string();
    if (common.json)
      print_json(out);
    else if (r.ok)
      std::cout << "audit log intact: " << r.records << " records, chain and head match" << archived << "\n";
    else
      std::cout
          << "audit log TAMPERED at record " << r.first_bad << ": " << r.problem << " (" << file
          << ")\nWhat was recorded there was changed or removed outside agentlog: keep the files as they "
             "are (they are the evidence), compare them with a backup if there is one, and find out who "
             "had access. New records go on being chained after them.\n";
    if (!r.ok) throw CLI::RuntimeError(1);
  });
}

}  // namespace agentlog
