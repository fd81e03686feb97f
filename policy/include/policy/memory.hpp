// OpenMemory (DESIGN.md, Policy 4 and "OpenMemory"): every audited action, and every pattern the agent
// records, becomes a memory. With OPENMEMORY_URL empty they go to the embedded store memory/memory.sqlite
// (SQLite FTS5: `agentlog memory search`). With a URL they go to a server: the OpenMemory 1.x REST API
// (POST /memory/add {content, tags, metadata}, header x-api-key) or, with OPENMEMORY_MODE=ai-agents, the
// OpenMemory-Code API (POST /ai-agents/state once, then /ai-agents/action and /ai-agents/pattern).
//
// Delivery goes through an on-disk outbox (memory/outbox/*.json): a record is written there first, then
// sent; it is removed only after a 2xx. A server that is down, refuses the connection or answers 5xx/429
// gets the record again later with exponential backoff (1 s doubling to 5 min); none is lost. Each outbox
// file is claimed with an exclusive flock while it is sent, so several processes flushing at once never
// send one twice (a crash between the server's 2xx and the removal is the only way to send one twice).
//
// Thread-safety: all members are thread-safe; several processes may share one memory/ directory.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "logger/env_file.hpp"
#include "logger/project.hpp"

namespace agentlog::policy {

struct MemoryConfig {
  std::string url;      // OPENMEMORY_URL; empty = the embedded store
  std::string api_key;  // OPENMEMORY_API_KEY
  std::string mode = "memory";  // OPENMEMORY_MODE: memory | ai-agents
  std::string project;  // OPENMEMORY_PROJECT, else the project folder's name
  long timeout_ms = 5000;

  static MemoryConfig from_env(const EnvSettings& logging, const ProjectLayout& layout);
  bool operator==(const MemoryConfig&) const = default;
};

struct FlushReport {
  int delivered = 0;
  int waiting = 0;  // still in the outbox (not due yet, or failed now)
  std::string last_error;
  nlohmann::json to_json() const;
};

class Memory {
 public:
  Memory(ProjectLayout layout, MemoryConfig config);
  ~Memory();  // stops the background sender (records stay in the outbox)
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;

  void configure(const MemoryConfig& config);
  MemoryConfig config() const;

  // Records one audit record (the action of an agent) / a pattern. To the embedded store at once, or into the
  // outbox for the server (sent by flush() or the background sender). Throws only when the record cannot be
  // stored at all (disk errors).
  void record_action(const nlohmann::json& audit_record);
  void record_pattern(const std::string& name, const std::string& description, const std::string& example,
                      const std::vector<std::string>& tags);

  // Sends what is due in the outbox (everything with `force`), oldest first.
  FlushReport flush(bool force = false);
  // Sends in the background: after each record and every 30 s (the server uses this).
  void start_background();

  // The embedded store, newest first; `query` is full text (every word must occur).
  nlohmann::json list(int limit) const;
  nlohmann::json search(const std::string& query, int limit) const;
  // Outbox entries (endpoint, attempts, next attempt, last error), oldest first.
  nlohmann::json outbox() const;

 private:
  struct Entry {
    std::string endpoint;
    nlohmann::json body;
    std::string kind;  // action | pattern
  };
  void store_locally(const std::string& kind, const std::string& content, const nlohmann::json& tags,
                     const nlohmann::json& metadata);
  void enqueue(const Entry& e);
  std::string project_name() const;

  ProjectLayout layout_;
  mutable std::mutex mutex_;
  MemoryConfig config_;
  std::mutex flush_mutex_;  // one flush at a time in this process
  std::thread sender_;
  std::condition_variable wake_;
  bool stop_ = false, kicked_ = false;
};

}  // namespace agentlog::policy
