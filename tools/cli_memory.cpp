// agentlog memory list|search|flush: what OpenMemory holds for this project (the embedded store), and the
// outbox of records waiting for an OpenMemory server.
#include <iostream>

#include "logger/env_file.hpp"
#include "policy/memory.hpp"
#include "tools/cli.hpp"

namespace agentlog {

using json = nlohmann::json;

namespace {

policy::Memory open_memory(const ProjectLayout& layout) {
  return policy::Memory(layout, policy::MemoryConfig::from_env(EnvSettings::load(layout.env_logging(), logging_env_keys()), layout));
}

void print_memories(const json& items) {
  for (const auto& m : items) {
    std::cout << m.value("created", "") << "  [" << m.value("kind", "") << "]  " << m.value("content", "") << "\n";
    if (m["tags"].is_array()) std::cout << "    tags: " << m["tags"].dump() << "\n";
  }
}

void print_outbox(const json& outbox, const policy::MemoryConfig& c) {
  if (outbox.empty()) return;
  std::cout << outbox.size() << " record(s) waiting for " << (c.url.empty() ? "a server (OPENMEMORY_URL is empty)" : c.url)
            << " in .ai-agents/logging/memory/outbox/ (`agentlog memory flush` sends them now):\n";
  for (const auto& e : outbox)
    std::cout << "  " << e.value("file", "") << "  " << e.value("endpoint", "") << "  attempts " << e.value("attempts", 0)
              << (e.contains("lastError") ? "  last error: " + e["lastError"].get<std::string>() : "") << "\n";
}

}  // namespace

void add_memory_commands(CLI::App& app) {
  auto* memory = app.add_subcommand("memory", "OpenMemory: the agent's recorded actions and patterns");
  memory->require_subcommand(1);
  static CliCommon common;
  static int limit = 20;
  static std::string query;

  auto* list = memory->add_subcommand("list", "Newest memories of the embedded store, and the outbox");
  add_common_options(list, common);
  list->add_option("--limit", limit, "At most this many")
      ->check(CLI::Range(1, 100000000))
      ->capture_default_str();
  list->callback([] {
    policy::Memory m = open_memory(common.layout());
    json items = m.list(limit), outbox = m.outbox();
    if (common.json) return print_json({{"memories", items}, {"outbox", outbox}, {"server", m.config().url}});
    if (items.empty()) std::cout << "The embedded store is empty" << (m.config().url.empty() ? "." : " (records go to " + m.config().url + ").") << "\n";
    print_memories(items);
    print_outbox(outbox, m.config());
  });

  auto* search = memory->add_subcommand("search", "Full-text search of the embedded store (every word must occur)");
  add_common_options(search, common);
  search->add_option("query", query, "Words to find")->required();
  search->add_option("--limit", limit, "At most this many (1-100)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  search->callback([] {
    policy::Memory m = open_memory(common.layout());
    json items = m.search(query, limit);
    if (common.json) return print_json(items);
    if (items.empty())
      std::cout << "Nothing in the embedded store matches '" << query << "'"
                << (m.config().url.empty()
                        ? "."
                        : " (records go to " + m.config().url + "; the agent's search_memory asks it).")
                << "\n";
    print_memories(items);
  });

  auto* flush = memory->add_subcommand("flush", "Send every record waiting in the outbox to the OpenMemory server now");
  add_common_options(flush, common);
  flush->callback([] {
    policy::Memory m = open_memory(common.layout());
    policy::FlushReport r = m.flush(true);
    if (common.json) print_json(r.to_json());
    else {
      std::cout << "Delivered " << r.delivered << ", waiting " << r.waiting
                << (r.set_aside ? ", set aside " + std::to_string(r.set_aside) : "") << ".\n";
      if (!r.last_error.empty()) std::cout << "Last error: " << r.last_error << "\n";
    }
    if (r.waiting > 0 || r.set_aside > 0) throw CLI::RuntimeError(1);
  });
}

}  // namespace agentlog
