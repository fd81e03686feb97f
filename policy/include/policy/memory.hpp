// OpenMemory (DESIGN.md, Policy 4 and "OpenMemory"): every audited action, and every pattern the agent
// records, becomes a memory. With OPENMEMORY_URL empty they go to the embedded store memory/memory.sqlite
// (SQLite FTS5: `agentlog memory search`), indexed in the background from the audit log (actions) and the
// journal memory/pending.jsonl (patterns). With a URL they go to a server: the OpenMemory 1.x REST API
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

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "logger/env_file.hpp"
#include "logger/project.hpp"

namespace agentlog::policy {

struct MemoryConfig {
  std::string url;              // OPENMEMORY_URL; empty = the embedded store
  std::string api_key;          // OPENMEMORY_API_KEY
  std::string mode = "memory";  // OPENMEMORY_MODE: memory | ai-agents
  std::string project;          // OPENMEMORY_PROJECT, else the project folder's name
  long timeout_ms = 5000;

  static MemoryConfig from_env(const EnvSettings& logging, const ProjectLayout& layout);
  bool operator==(const MemoryConfig&) const = default;
};

struct FlushReport {
  int delivered = 0;
  int waiting = 0;  // still in the outbox (not due yet, or failed now)
  int set_aside = 0;  // files in the outbox that are no record: renamed *.bad for the human to look at
  std::int64_t next_attempt_ms = 0;  // when the first of them is due (0: none waits)
  void wait_until(std::int64_t ms) {
    if (ms > 0 && (next_attempt_ms == 0 || ms < next_attempt_ms)) next_attempt_ms = ms;
  }
  std::string last_error;
  nlohmann::json to_json() const;
};

class Memory {
 public:
  Memory(ProjectLayout layout, MemoryConfig config);
  ~Memory();  // stops the background sender; what is not indexed or sent yet stays on disk for later
  Memory(const Memory&) = delete;
  Memory& operator=(const Memory&) = delete;

  void configure(const MemoryConfig& config);
  MemoryConfig config() const;

  // One audited action (a record as AuditLog::append returned it). For the embedded store there is nothing
  // to write: the audit log is its journal of actions, and what it gained since the stored offset is indexed
  // by the background sender once the records pause (or before any list/search). For a server it is written
  // to the outbox (sent by flush() or the background sender). Throws when it cannot be stored.
  void record_action(const nlohmann::json& audit_record);
  // One pattern: appended to the embedded store's journal memory/pending.jsonl (indexed like the actions),
  // or written to the outbox for a server. Neither waits for an fsync: a killed process loses nothing, a
  // power cut may. Throws when it cannot be stored.
  void record_pattern(const std::string& name, const std::string& description, const std::string& example,
                      const std::vector<std::string>& tags);

  // Sends what is due in the outbox (everything with `force`), oldest first.
  FlushReport flush(bool force = false);
  // Indexes and sends in the background, at nice 10: once records pause for a second (at most 10 s after
  // the first), when an outbox record is due again (its backoff), and every 30 s (the server uses this).
  void start_background();

  // The embedded store, newest first; `query` is full text (every word must occur).
  nlohmann::json list(int limit) const;
  nlohmann::json search(const std::string& query, int limit) const;
  // What earlier sessions recorded, for the agent: `kind` "pattern", "action" or "" (both). From the embedded
  // store, or asked of the server (POST /memory/query, or /ai-agents/query in ai-agents mode). Returns
  // {source: "embedded"|"server", memories: [{content, kind?, created?, tags?, score?}]}. Throws
  // std::runtime_error naming the server and the cause when it cannot be asked.
  nlohmann::json recall(const std::string& query, const std::string& kind, int limit) const;

  // Outbox entries (endpoint, attempts, next attempt, last error), oldest first.
  nlohmann::json outbox() const;

 private:
  struct Entry {
    std::string kind;  // action | pattern
    // The embedded store's row...
    std::string content;
    nlohmann::json tags, metadata;
    // ...or the server's request.
    std::string endpoint;
    nlohmann::json body;
  };
  static Entry action_entry(const nlohmann::json& audit_record, const MemoryConfig& config);
  static void for_server(Entry& e, const MemoryConfig& config, std::string ai_agents_endpoint,
                         nlohmann::json ai_agents_body);
  void submit(const Entry& e);  // into the journal or the outbox, now; wakes the sender
  void wake_sender();
  // Into the SQLite store: the journal (patterns) and the audit log's new records (actions).
  void ingest() const;
  void ingest_journal(class Db& db) const;
  void ingest_actions(class Db& db, const std::filesystem::path& audit_log) const;
  std::filesystem::path journal() const;

  ProjectLayout layout_;
  mutable std::mutex mutex_;
  MemoryConfig config_;
  std::mutex flush_mutex_;  // one flush at a time in this process
  std::thread sender_;
  std::condition_variable wake_;
  bool stop_ = false, kicked_ = false;
  std::int64_t next_attempt_ms_ = 0;       // the outbox's first due time after the sender's last flush
  std::atomic<std::uint64_t> records_{0};  // records this process made (the sender gathers them)
  std::atomic<bool> sleeping_{false};      // the sender waits for a record: wake it
  std::mutex journal_mutex_;
  int journal_fd_ = -1;  // memory/pending.jsonl, opened at the first record
  mutable std::mutex db_mutex_;
  mutable std::unique_ptr<class Db> db_;  // the embedded store, opened at the first ingest
};

}  // namespace agentlog::policy
