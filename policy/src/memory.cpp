#include "policy/memory.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "logger/log_writer.hpp"
#include "policy/audit.hpp"

namespace agentlog::policy {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr std::int64_t kMaxBackoffMs = 5 * 60'000;

}  // namespace

// ------------------------------------------------------------------------------------------ SQLite
class Db {
 public:
  explicit Db(const fs::path& file, bool create) {
    if (create) fs::create_directories(file.parent_path());
    const int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(file.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      std::string err = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      if (create) throw std::runtime_error("cannot open the memory store " + file.string() + ": " + err);
      return;
    }
    sqlite3_busy_timeout(db_, 5000);
    if (create) {
      exec("PRAGMA journal_mode=WAL");
      exec("PRAGMA synchronous=NORMAL");
      exec(
          "CREATE VIRTUAL TABLE IF NOT EXISTS memories USING fts5(created UNINDEXED, kind UNINDEXED, "
          "content, tags, "
          "metadata UNINDEXED)");
    }
  }
  ~Db() { sqlite3_close(db_); }
  bool ok() const { return db_ != nullptr; }
  // Retries while another process holds the lock past the busy timeout's reach (switching to WAL, schema
  // changes and BEGIN IMMEDIATE can answer SQLITE_BUSY at once when several processes start together).
  void exec(const char* sql) {
    for (int attempt = 0;; ++attempt) {
      char* err = nullptr;
      const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
      if (rc == SQLITE_OK) return;
      std::string e = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && attempt < 200) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        continue;
      }
      throw std::runtime_error("memory store: " + e);
    }
  }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

namespace {

json rows(sqlite3* db, const std::string& sql, const std::vector<std::string>& binds, int limit) {
  json out = json::array();
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return out;
  int i = 1;
  for (const auto& b : binds) sqlite3_bind_text(st, i++, b.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, i, limit);
  auto col = [&](int c) {
    const unsigned char* t = sqlite3_column_text(st, c);
    return std::string(t ? reinterpret_cast<const char*>(t) : "");
  };
  while (sqlite3_step(st) == SQLITE_ROW)
    out.push_back({{"id", sqlite3_column_int64(st, 0)},
                   {"created", col(1)},
                   {"kind", col(2)},
                   {"content", col(3)},
                   {"tags", json::parse(col(4), nullptr, false)},
                   {"metadata", json::parse(col(5), nullptr, false)}});
  sqlite3_finalize(st);
  return out;
}

// ------------------------------------------------------------------------------------------- HTTP
struct HttpResult {
  long status = 0;    // 0: no answer
  std::string error;  // curl's error when there was no answer
  std::string body;
};

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

HttpResult post_json(const std::string& url, const std::string& api_key, const json& body, long timeout_ms) {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  HttpResult r;
  CURL* curl = curl_easy_init();
  if (!curl) {
    r.error = "curl_easy_init failed";
    return r;
  }
  const std::string payload = body.dump(-1, ' ', false, json::error_handler_t::replace);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (!api_key.empty()) {
    headers = curl_slist_append(headers, ("x-api-key: " + api_key).c_str());
    headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key).c_str());
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(payload.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 3000L));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  else
    r.error = error[0] ? error : curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

std::string base_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::atomic<unsigned> g_seq{0};

}  // namespace

// ----------------------------------------------------------------------------------------- config
MemoryConfig MemoryConfig::from_env(const EnvSettings& logging, const ProjectLayout& layout) {
  MemoryConfig c;
  c.url = logging.get_string("OPENMEMORY_URL");
  c.api_key = logging.get_string("OPENMEMORY_API_KEY");
  c.mode = logging.get_string("OPENMEMORY_MODE");
  c.project = logging.get_string("OPENMEMORY_PROJECT");
  if (c.project.empty()) c.project = layout.root.filename().string();
  return c;
}

json FlushReport::to_json() const {
  json j = {{"delivered", delivered}, {"waiting", waiting}, {"setAside", set_aside}};
  if (!last_error.empty()) j["lastError"] = last_error;
  return j;
}

Memory::Memory(ProjectLayout layout, MemoryConfig config)
    : layout_(std::move(layout)), config_(std::move(config)) {}

Memory::~Memory() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (sender_.joinable()) sender_.join();
  if (journal_fd_ >= 0) ::close(journal_fd_);
  // No ingest here: what is not indexed yet waits on disk (audit log, journal) for the next sender or reader,
  // so that a hook or a server that exits is not held up by indexing.
}

void Memory::configure(const MemoryConfig& config) {
  std::lock_guard lock(mutex_);
  config_ = config;
}

MemoryConfig Memory::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

// memory/pending.jsonl: records for the embedded store, appended (one write each, under its flock) and moved
// into SQLite in batches by ingest(). A killed process loses nothing that was appended.
fs::path Memory::journal() const { return layout_.memory_dir() / "pending.jsonl"; }

void Memory::submit(const Entry& e) {
  if (e.endpoint.empty()) {
    const std::string line =
        json{{"kind", e.kind}, {"content", e.content}, {"tags", e.tags}, {"metadata", e.metadata}}.dump(
            -1, ' ', false, json::error_handler_t::replace) +
        "\n";
    std::lock_guard journal_guard(journal_mutex_);
    if (journal_fd_ < 0) {  // kept open: the journal is emptied in place, never replaced
      fs::create_directories(layout_.memory_dir());
      journal_fd_ = ::open(journal().c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (journal_fd_ < 0)
        throw std::runtime_error("cannot open " + journal().string() + ": " + std::strerror(errno));
    }
    ::flock(journal_fd_, LOCK_EX);
    const ssize_t n = ::write(journal_fd_, line.data(), line.size());
    const int err = errno;
    ::flock(journal_fd_, LOCK_UN);
    if (n != static_cast<ssize_t>(line.size()))
      throw std::runtime_error("cannot append to " + journal().string() + ": " + std::strerror(err));
  } else {
    const fs::path dir = layout_.outbox_dir();
    fs::create_directories(dir);
    char name[96];
    std::snprintf(name, sizeof name, "%013lld-%d-%06u.json", static_cast<long long>(system_ms()),
                  static_cast<int>(::getpid()), g_seq.fetch_add(1) % 1000000);
    json entry = {
        {"endpoint", e.endpoint}, {"body", e.body}, {"kind", e.kind}, {"attempts", 0}, {"nextAttemptMs", 0}};
    write_file_atomic(dir / name, entry.dump() + "\n", 0600,
                      false);  // a killed process's file survives; no fsync
  }
  wake_sender();
}

void Memory::wake_sender() {
  // Sequentially consistent with the sender's "flag, then look": one of the two sees the other.
  records_.fetch_add(1);  // a sender that is gathering sees it at its next look
  if (!sleeping_.load()) return;
  std::lock_guard lock(mutex_);
  kicked_ = true;
  wake_.notify_all();
}

namespace {

// INSERT INTO memories, for one batch.
class MemoryInsert {
 public:
  explicit MemoryInsert(Db& db) : db_(db) {
    sqlite3_prepare_v2(db.get(),
                       "INSERT INTO memories(created, kind, content, tags, metadata) VALUES (?, ?, ?, ?, ?)",
                       -1, &stmt_, nullptr);
  }
  ~MemoryInsert() { sqlite3_finalize(stmt_); }
  MemoryInsert(const MemoryInsert&) = delete;
  MemoryInsert& operator=(const MemoryInsert&) = delete;

  // One memory row; `created` is the metadata's timestamp (now when it has none).
  void add(const std::string& kind, const std::string& content, const json& tags, const json& metadata) {
    const auto stamp = metadata.find("timestamp");
    const std::string created =
        stamp != metadata.end() && stamp->is_string() ? stamp->get<std::string>() : iso8601_now_ms();
    const std::string tags_text = tags.dump(-1, ' ', false, json::error_handler_t::replace);
    const std::string metadata_text = metadata.dump(-1, ' ', false, json::error_handler_t::replace);
    const std::string* values[] = {&created, &kind, &content, &tags_text, &metadata_text};
    for (int i = 0; i < 5; ++i)
      sqlite3_bind_text(stmt_, i + 1, values[i]->data(), static_cast<int>(values[i]->size()), SQLITE_STATIC);
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    if (rc != SQLITE_DONE)
      throw std::runtime_error(std::string("memory store: ") + sqlite3_errmsg(db_.get()));
  }

 private:
  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// The row of a state table (two numbers), or nothing.
std::optional<std::pair<long long, long long>> state_row(Db& db, const char* sql) {
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db.get(), sql, -1, &q, nullptr);
  std::optional<std::pair<long long, long long>> out;
  if (sqlite3_step(q) == SQLITE_ROW)
    out = std::make_pair(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1));
  sqlite3_finalize(q);
  return out;
}

// Runs `body` inside BEGIN IMMEDIATE (which serialises the ingesters of every process) when the stored state
// still is `seen`; false (nothing done) when another ingester moved it meanwhile.
template <class State, class Read, class Body>
bool commit_if_unchanged(Db& db, const State& seen, Read read, Body body) {
  db.exec("BEGIN IMMEDIATE");
  if (!(read() == seen)) {
    db.exec("ROLLBACK");
    return false;
  }
  try {
    body();
  } catch (...) {
    db.exec("ROLLBACK");
    throw;
  }
  db.exec("COMMIT");
  return true;
}

}  // namespace

void Memory::ingest() const {
  const fs::path audit = AuditLog(layout_.audit_dir()).log_path();
  const bool journal_exists = fs::exists(journal());
  if (!journal_exists && !fs::exists(audit)) return;
  std::lock_guard guard(db_mutex_);
  if (!db_) db_ = std::make_unique<Db>(layout_.memory_dir() / "memory.sqlite", true);
  if (journal_exists) ingest_journal(*db_);
  ingest_actions(*db_, audit);
}

// Moves pending.jsonl (patterns, and actions of older versions) into the store without holding up appenders:
// under the journal's flock only the read of the new bytes (with the offset already stored) and, when
// everything was consumed, the emptying of the file; the slow SQLite work runs without it. The insert commits
// together with the new offset, and only if the offset is still the one read: a record is never stored twice.
void Memory::ingest_journal(Db& db) const {
  // Where ingestion stands: the offset in the journal and how many times the journal was emptied (so that an
  // offset read before an emptying never matches one after it).
  db.exec(
      "CREATE TABLE IF NOT EXISTS journal_state(id INTEGER PRIMARY KEY CHECK (id = 1), offset INTEGER NOT "
      "NULL, "
      "generation INTEGER NOT NULL DEFAULT 0)");
  using State = std::pair<long long, long long>;  // offset, generation
  auto stored = [&] {
    return state_row(db, "SELECT offset, generation FROM journal_state WHERE id = 1").value_or(State{0, 0});
  };
  auto store_state = [&](const State& st) {
    db.exec(("INSERT OR REPLACE INTO journal_state(id, offset, generation) VALUES (1, " +
             std::to_string(st.first) + ", " + std::to_string(st.second) + ")")
                .c_str());
  };
  for (int attempt = 0; attempt < 5; ++attempt) {
    State seen;
    std::string text;
    {
      FileLock lock(journal(), O_APPEND);
      struct stat st {};
      ::fstat(lock.fd(), &st);
      seen = stored();
      if (seen.first > st.st_size || (seen.first == st.st_size && seen.first > 0)) {
        // All consumed (or emptied by a process that died before saying so): empty it while nobody appends.
        if (seen.first == st.st_size && ::ftruncate(lock.fd(), 0) != 0) return;
        store_state({0, seen.second + 1});
        if (seen.first == st.st_size) return;
        seen = {0, seen.second + 1};
      }
      if (st.st_size == 0) return;
      text.resize(static_cast<std::size_t>(st.st_size - seen.first));
      const ssize_t n = ::pread(lock.fd(), text.data(), text.size(), seen.first);
      text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    }
    const std::size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (complete == 0) return;  // a line still being written
    commit_if_unchanged(db, seen, stored, [&] {
      MemoryInsert insert(db);
      for (std::size_t start = 0; start < complete;) {
        const std::size_t nl = text.find('\n', start);
        json r = json::parse(text.data() + start, text.data() + nl, nullptr, false);
        start = nl + 1;
        if (!r.is_object()) continue;  // a line cut by a crash: skipped
        insert.add(r.value("kind", ""), r.value("content", ""), r.value("tags", json::array()),
                   r.value("metadata", json::object()));
      }
      store_state({seen.first + static_cast<long long>(complete), seen.second});
    });
    // Loop: empties the journal when nothing came meanwhile, else takes what did.
  }
}

// Actions come from the audit log itself: it is their journal (append-only, every process writes it, and
// each record is on disk before its tool call returns). What was appended since the stored offset becomes
// memories, a batch per transaction. With a server configured the offset only moves on (the records went to
// the outbox), so that switching back to the embedded store does not replay them.
void Memory::ingest_actions(Db& db, const fs::path& audit) const {
  db.exec(
      "CREATE TABLE IF NOT EXISTS audit_state(id INTEGER PRIMARY KEY CHECK (id = 1), offset INTEGER NOT "
      "NULL, first_seq INTEGER NOT NULL DEFAULT 1)");
  // Stores of older versions have no first_seq: their offset is in the first file the log ever had.
  sqlite3_exec(db.get(), "ALTER TABLE audit_state ADD COLUMN first_seq INTEGER NOT NULL DEFAULT 1", nullptr,
               nullptr, nullptr);
  // Where ingestion stands: an offset in the audit file whose first record is first_seq (the live
  // actions.jsonl, or an archive it has become since).
  auto stored = [&] { return state_row(db, "SELECT offset, first_seq FROM audit_state WHERE id = 1"); };
  auto store_state = [&](long long offset, long long first_seq) {
    db.exec(("INSERT OR REPLACE INTO audit_state(id, offset, first_seq) VALUES (1, " +
             std::to_string(offset) + ", " + std::to_string(first_seq) + ")")
                .c_str());
  };
  const MemoryConfig c = config();
  auto remember = [&](MemoryInsert& insert, const json& audit_record) {
    if (!c.url.empty() || !audit_record.is_object()) return;  // not a record: `audit verify` reports it
    const Entry e = action_entry(audit_record, c);
    insert.add(e.kind, e.content, e.tags, e.metadata);
  };
  const AuditLog log(audit.parent_path());
  constexpr std::size_t kBatch = 8 << 20;
  for (int attempt = 0; attempt < 50; ++attempt) {
    // The stored offset before the log's size: read the other way round, another process could commit an
    // offset past the size seen here, which then looked like a shorter log; the commit below moved the offset
    // back and the records between were stored twice (a four-process test saw 12 of 1,200 twice).
    const auto seen = stored();
    const int fd = ::open(audit.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    ::fstat(fd, &st);
    long long live_first = AuditLog::first_seq_of(fd);
    // A log just rotated waits for its first record, which says which file it follows; a first line that is
    // no record is taken for the same file as before.
    if (live_first == 0 && st.st_size == 0) {
      ::close(fd);
      return;
    }
    if (live_first == 0) live_first = seen ? seen->second : 1;
    long long from = 0;
    if (seen && seen->second < live_first) {
      // The file the offset is in was archived since: the rest of it and the archives after it, then the
      // live log from its start. (Stored whole, in one transaction: an archive is AUDIT_ROTATE_MB at most.)
      // The files must follow each other up to the live log: a listing made while an archive was being
      // compressed can miss it. Read again then; archives a human removed are passed by after a few tries.
      ::close(fd);
      std::vector<json> records;
      for (int look = 0; look < 5; ++look) {
        records.clear();
        std::int64_t next = 0;  // the seq the next file must start at, once a record was read
        bool first = true, whole = true;
        for (const AuditFile& f : log.files()) {
          if (f.first_seq == 0 || f.first_seq < seen->second || f.first_seq >= live_first) continue;
          whole = whole && (first ? f.first_seq == seen->second : next == 0 || f.first_seq == next);
          first = false;
          whole = AuditLog::read_lines(f.path, f.first_seq == seen->second ? seen->first : 0,
                                       [&](std::string_view line) {
                                         json r = json::parse(line, nullptr, false);
                                         if (!r.is_object()) return;
                                         next = r.value("seq", std::int64_t(0)) + 1;
                                         records.push_back(std::move(r));
                                       }) &&
                  whole;
        }
        if (!first && whole && (next == 0 || next == live_first)) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      commit_if_unchanged(db, seen, stored, [&] {
        MemoryInsert insert(db);
        for (const json& r : records) remember(insert, r);
        store_state(0, live_first);
      });
      continue;
    }
    if (seen) {
      // A shorter log (replaced or cut), or another file than the stored one: from its end.
      from = seen->second == live_first ? std::min<long long>(seen->first, st.st_size) : st.st_size;
    } else {
      // First time. A store that already holds actions got them through the journal (an older version):
      // start at the end. A new store takes every action the log has, the archives' too.
      sqlite3_stmt* q = nullptr;
      sqlite3_prepare_v2(db.get(), "SELECT 1 FROM memories WHERE kind = 'action' LIMIT 1", -1, &q, nullptr);
      const bool has_actions = sqlite3_step(q) == SQLITE_ROW;
      sqlite3_finalize(q);
      if (has_actions) {
        from = st.st_size;
      } else if (live_first > 1) {
        ::close(fd);
        commit_if_unchanged(db, seen, stored, [&] { store_state(0, 1); });  // then the catch-up above
        continue;
      }
    }
    std::string text(static_cast<std::size_t>(std::min<long long>(st.st_size - from, kBatch)), '\0');
    ssize_t n = text.empty() ? 0 : ::pread(fd, text.data(), text.size(), from);
    text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (text.find('\n') == std::string::npos && text.size() == kBatch) {  // one record larger than a batch
      text.resize(static_cast<std::size_t>(st.st_size - from));
      n = ::pread(fd, text.data(), text.size(), from);
      text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    }
    ::close(fd);
    const std::size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (complete == 0 && seen && seen->first == from && seen->second == live_first)
      return;  // nothing new, or a record still being written
    const bool done = commit_if_unchanged(db, seen, stored, [&] {
      MemoryInsert insert(db);
      for (std::size_t start = 0; c.url.empty() && start < complete;) {  // (a server's went to its outbox)
        const std::size_t nl = text.find('\n', start);
        remember(insert, json::parse(text.data() + start, text.data() + nl, nullptr, false));
        start = nl + 1;
      }
      store_state(from + static_cast<long long>(complete), live_first);
    });
    if (done && from + static_cast<long long>(complete) >= st.st_size) return;
  }
}

// The memory of one audited action (DESIGN.md, OpenMemory): for the embedded store, or for the server.
Memory::Entry Memory::action_entry(const json& audit, const MemoryConfig& c) {
  const std::string agent = audit.contains("agent") ? audit["agent"].value("name", "unknown") : "unknown";
  std::string action = audit.value("tool", "?") + " (" + audit.value("decision", "?") + ", " +
                       audit.value("outcome", "?") + ")";
  json context = {{"arguments", audit.value("arguments", json::object())},
                  {"session", audit.value("session", "")}};
  if (audit.contains("files") && !audit["files"].empty()) context["files"] = audit["files"];
  if (audit.contains("error")) context["error"] = audit["error"];
  if (audit.contains("approvalId")) context["approvalId"] = audit["approvalId"];
  if (audit.contains("hash")) context["auditHash"] = audit["hash"];
  std::string context_text = context.dump(-1, ' ', false, json::error_handler_t::replace);
  const auto time = audit.find("time");
  std::string timestamp =
      time != audit.end() && time->is_string() ? time->get<std::string>() : iso8601_now_ms();
  Entry e{"action",
          "Agent " + agent + " performed: " + action + "\nContext: " + context_text,
          json{"agent-action", c.project, agent},
          {{"project_name", c.project},
           {"agent_name", agent},
           {"action", std::move(action)},
           {"context", std::move(context_text)},
           {"timestamp", std::move(timestamp)}},
          "",
          nullptr};
  if (!c.url.empty())
    for_server(e, c, "/ai-agents/action",
               {{"project_name", c.project},
                {"agent_name", agent},
                {"action", e.metadata["action"]},
                {"context", e.metadata["context"]},
                {"outcome", audit.value("outcome", "")}});
  return e;
}

// For a server: in ai-agents mode the OpenMemory-Code endpoint and its body, else POST /memory/add of the
// row.
void Memory::for_server(Entry& e, const MemoryConfig& c, std::string ai_agents_endpoint,
                        json ai_agents_body) {
  if (c.mode == "ai-agents") {
    e.endpoint = std::move(ai_agents_endpoint);
    e.body = std::move(ai_agents_body);
  } else {
    e.endpoint = "/memory/add";
    e.body = {{"content", e.content}, {"tags", e.tags}, {"metadata", e.metadata}};
  }
}

void Memory::record_action(const json& audit) {
  const MemoryConfig c = config();
  if (c.url.empty()) {  // the audit log is the embedded store's journal of actions: nothing to write here
    wake_sender();
    return;
  }
  submit(action_entry(audit, c));
}

void Memory::record_pattern(const std::string& name, const std::string& description,
                            const std::string& example, const std::vector<std::string>& user_tags) {
  const MemoryConfig c = config();
  const std::string content =
      "Pattern: " + name + "\n" + description + (example.empty() ? "" : "\n\nExample:\n" + example);
  json tags = {"coding-pattern", c.project};
  for (const auto& t : user_tags) tags.push_back(t);
  const json metadata = {
      {"project_name", c.project}, {"pattern_name", name}, {"timestamp", iso8601_now_ms()}};
  Entry e{"pattern", content, tags, metadata, "", nullptr};
  if (!c.url.empty())
    for_server(e, c, "/ai-agents/pattern",
               {{"project_name", c.project},
                {"pattern_name", name},
                {"description", description},
                {"example", example},
                {"tags", user_tags}});
  submit(e);
}

// What `memory list` and `memory flush` say of a file in the outbox that is not a record.
const char* const kNotARecord =
    "not an outbox record (damaged, or not written by agentlog); set aside as *.bad, never sent: "
    "look at it, then delete it";

FlushReport Memory::flush(bool force) {
  std::lock_guard one(flush_mutex_);
  FlushReport report;
  const MemoryConfig c = config();
  const fs::path dir = layout_.outbox_dir();
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(dir, ec))
    if (f.path().extension() == ".json") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) return report;
  if (c.url.empty()) {  // the human removed the URL: keep the records until one is set again
    report.waiting = static_cast<int>(files.size());
    report.last_error = "OPENMEMORY_URL is empty in .env.logging; the outbox waits for a server";
    return report;
  }
  const std::string base = base_url(c.url);
  const fs::path state_marker = dir / ".state-sent";
  bool server_down = false;
  for (const auto& file : files) {
    int fd = ::open(file.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) continue;  // sent by another process meanwhile
    struct stat st {};
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 || ::fstat(fd, &st) != 0 || st.st_nlink == 0) {
      ::close(fd);  // being sent elsewhere, or already sent and removed
      if (st.st_nlink != 0) ++report.waiting;
      continue;
    }
    auto text = read_file(file);
    json entry = text ? json::parse(*text, nullptr, false) : json();
    if (!entry.is_object()) {  // not ours to judge: keep it aside, never lose it
      fs::rename(file, file.string() + ".bad", ec);
      ::close(fd);
      ++report.set_aside;
      report.last_error = kNotARecord;
      continue;
    }
    const std::int64_t next = entry.value("nextAttemptMs", std::int64_t{0});
    const bool due = force || next <= system_ms();
    if (!due || server_down) {
      if (!due) report.wait_until(next);
      ++report.waiting;
      ::close(fd);
      continue;
    }
    const std::string endpoint = entry.value("endpoint", "/memory/add");
    if (c.mode == "ai-agents" && endpoint.rfind("/ai-agents/", 0) == 0 && !fs::exists(state_marker)) {
      HttpResult s =
          post_json(base + "/ai-agents/state", c.api_key,
                    {{"project_name", c.project},
                     {"state", {{"project_metadata", {{"name", c.project}, {"recorded_by", "agentlog"}}}}}},
                    c.timeout_ms);
      if (s.status >= 200 && s.status < 300) write_file_atomic(state_marker, base + "\n", 0600);
    }
    HttpResult r = post_json(base + endpoint, c.api_key, entry["body"], c.timeout_ms);
    if (r.status == 403 && c.mode == "ai-agents")
      fs::remove(state_marker, ec);  // the server forgot: state again next time
    if (r.status >= 200 && r.status < 300) {
      ::unlink(file.c_str());  // while holding the lock: nobody else sends it
      ++report.delivered;
    } else {
      const int attempts = entry.value("attempts", 0) + 1;
      const std::int64_t backoff =
          std::min<std::int64_t>(kMaxBackoffMs, 1000LL << std::min(attempts - 1, 20));
      entry["attempts"] = attempts;
      entry["nextAttemptMs"] = system_ms() + backoff;
      report.wait_until(entry["nextAttemptMs"]);
      entry["lastError"] = r.status ? "HTTP " + std::to_string(r.status) + " from " + base + endpoint + ": " +
                                          r.body.substr(0, 200)
                                    : r.error + " (" + base + endpoint + ")";
      report.last_error = entry["lastError"];
      write_file_atomic(file, entry.dump() + "\n", 0600);
      ++report.waiting;
      server_down = r.status == 0 || r.status >= 500;  // no point hammering it: the rest waits
    }
    ::close(fd);
  }
  return report;
}

void Memory::start_background() {
  std::lock_guard lock(mutex_);
  if (sender_.joinable()) return;
  sender_ = std::thread([this] {
    // Indexing and delivery are background work: this thread (only) yields to the tool calls when the CPU
    // is busy, and catches up when they pause. Records wait safely in the audit log and the journal.
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
    std::unique_lock lock(mutex_);
    std::uint64_t taken = 0;  // records_ when the last ingest began
    while (!stop_) {
      // Asleep until a record comes, or an outbox record is due again (30 s at most: records other
      // processes left), unless some came meanwhile.
      if (records_.load(std::memory_order_relaxed) == taken) {
        std::int64_t sleep_ms = 30000;
        if (next_attempt_ms_ > 0)
          sleep_ms = std::clamp<std::int64_t>(next_attempt_ms_ - system_ms(), 0, sleep_ms);
        sleeping_.store(true);
        if (records_.load() == taken)  // none came between the look and the flag
          wake_.wait_for(lock, std::chrono::milliseconds(sleep_ms), [&] { return stop_ || kicked_; });
        sleeping_.store(false);
        kicked_ = false;
      }
      if (stop_) break;
      // Stay out of a burst's way: index once the records pause for a second (or after 10 s without a
      // pause), in one transaction for all of them: each commit adds a segment to the full-text index that
      // later has to be merged. Readers (search_memory, `memory list`) ingest first, so they never miss a
      // record that is still waiting; the records themselves are on disk already (audit log, journal).
      const auto first = std::chrono::steady_clock::now();
      for (;;) {
        const std::uint64_t before = records_.load(std::memory_order_relaxed);
        wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
        if (stop_ || records_.load(std::memory_order_relaxed) == before ||
            std::chrono::steady_clock::now() - first >= std::chrono::seconds(10))
          break;
      }
      if (stop_) break;  // what waits is indexed by the next sender or reader
      taken = records_.load(std::memory_order_relaxed);
      lock.unlock();
      std::int64_t next = 0;
      try {
        ingest();
        next = flush(false).next_attempt_ms;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "agentlog: memory: %s\n", e.what());
      }
      lock.lock();
      next_attempt_ms_ = next;
    }
  });
}

json Memory::list(int limit) const {
  ingest();
  Db db(layout_.memory_dir() / "memory.sqlite", false);
  if (!db.ok()) return json::array();
  return rows(
      db.get(),
      "SELECT rowid, created, kind, content, tags, metadata FROM memories ORDER BY rowid DESC LIMIT ?", {},
      limit);
}

json Memory::search(const std::string& query, int limit) const {
  ingest();
  Db db(layout_.memory_dir() / "memory.sqlite", false);
  if (!db.ok()) return json::array();
  // Every word as a quoted FTS5 string: no query syntax from the caller can break the statement.
  std::string match;
  std::string word;
  auto add = [&] {
    if (word.empty()) return;
    std::string q;
    for (char ch : word) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    match += (match.empty() ? "" : " ") + ("\"" + q + "\"");
    word.clear();
  };
  for (char ch : query) {
    if (std::isspace(static_cast<unsigned char>(ch)))
      add();
    else
      word += ch;
  }
  add();
  if (match.empty()) return list(limit);
  // The searches themselves are recorded actions too, whose arguments hold the words: they are left out (the
  // MCP tool's and Claude Code's records of it), or each search would find the ones before it.
  return rows(db.get(),
              "SELECT rowid, created, kind, content, tags, metadata FROM memories WHERE memories MATCH ? "
              "AND NOT (kind = 'action' AND content GLOB 'Agent * performed: *search_memory (*') "
              "ORDER BY rowid DESC LIMIT ?",
              {match}, limit);
}

json Memory::recall(const std::string& query, const std::string& kind, int limit) const {
  const MemoryConfig c = config();
  json memories = json::array();
  if (c.url.empty()) {
    for (auto& m : search(query, kind.empty() ? limit : limit * 10)) {  // newest first, then the kind
      if (!kind.empty() && m.value("kind", "") != kind) continue;
      if (static_cast<int>(memories.size()) == limit) break;
      memories.push_back(
          {{"content", m["content"]}, {"kind", m["kind"]}, {"created", m["created"]}, {"tags", m["tags"]}});
    }
    return {{"source", "embedded"}, {"memories", memories}};
  }
  const bool agents = c.mode == "ai-agents";
  const std::string endpoint = agents ? "/ai-agents/query" : "/memory/query";
  json body = agents ? json{{"project_name", c.project},
                            {"query", query},
                            {"memory_type", kind == "pattern"  ? "patterns"
                                            : kind == "action" ? "actions"
                                                               : "all"},
                            {"k", limit}}
                     : json{{"query", query}, {"k", limit}};
  if (!agents && !kind.empty())
    body["filters"] = {{"tags", {kind == "pattern" ? "coding-pattern" : "agent-action", c.project}}};
  HttpResult r = post_json(base_url(c.url) + endpoint, c.api_key, body, c.timeout_ms);
  if (r.status < 200 || r.status >= 300)
    throw std::runtime_error(
        "cannot ask " + base_url(c.url) + endpoint + ": " +
        (r.status ? "HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200) : r.error) +
        " (check OPENMEMORY_URL and OPENMEMORY_API_KEY in .env.logging)");
  json answer = json::parse(r.body, nullptr, false);
  const json* list = nullptr;
  for (const char* k : {"matches", "results", "memories"})
    if (answer.is_object() && answer.contains(k) && answer[k].is_array()) list = &answer[k];
  if (list)
    for (const auto& m : *list) {
      if (static_cast<int>(memories.size()) == limit) break;
      json item = {{"content", m.is_object() ? m.value("content", "") : m.dump()}};
      if (m.is_object() && m.contains("score")) item["score"] = m["score"];
      if (m.is_object() && m.contains("tags")) item["tags"] = m["tags"];
      memories.push_back(std::move(item));
    }
  return {{"source", "server"}, {"memories", memories}};
}

json Memory::outbox() const {
  json out = json::array();
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(layout_.outbox_dir(), ec))
    if (f.path().extension() == ".json" || f.path().extension() == ".bad") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto text = read_file(f);
    json e = text && f.extension() == ".json" ? json::parse(*text, nullptr, false) : json();
    if (!e.is_object()) {
      out.push_back({{"file", f.filename().string()}, {"unreadable", true}, {"lastError", kNotARecord}});
      continue;
    }
    json item = {{"file", f.filename().string()},
                 {"endpoint", e.value("endpoint", "")},
                 {"kind", e.value("kind", "")},
                 {"attempts", e.value("attempts", 0)}};
    if (e.value("nextAttemptMs", std::int64_t{0}) > 0)
      item["nextAttempt"] = iso8601_ms(e["nextAttemptMs"].get<std::int64_t>());
    if (e.contains("lastError")) item["lastError"] = e["lastError"];
    out.push_back(item);
  }
  return out;
}

}  // namespace agentlog::policy
