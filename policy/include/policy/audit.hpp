// The audit log: audit/actions.jsonl, one JSON record per AI action, each carrying the SHA-256 of the
// previous record (prevHash) and its own (hash, over the record without it); audit/head.json keeps the count
// and the last hash so that removing records from the end is detected too. Appends from several processes
// (the server, hooks, the HTTP API) form one chain: they hold an exclusive flock on the log while appending.
// When actions.jsonl reaches AUDIT_ROTATE_MB (.env.logging, default 64; 0 = never) it moves to
// audit/archive/actions-<its first seq, 12 digits>.jsonl and is gzipped there; the chain goes on in a new
// actions.jsonl (seq and prevHash continue), and verify, list and the memory read every file in order.
// Nothing removes archives: the human decides when an audit trail may go.
//
// Thread-safety: AuditLog methods may be called from any thread and process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentlog::policy {

using json = nlohmann::json;

struct VerifyResult {
  bool ok = true;
  std::int64_t records = 0;
  std::int64_t first_bad = 0;  // 1-based record number (seq) of the first problem; 0 when ok
  std::string problem;         // what is wrong there
  std::filesystem::path file;  // the file holding it (an archive or actions.jsonl)
  std::size_t archives = 0;    // archived files read
};

// One file of the audit log: an archive, or the live actions.jsonl.
struct AuditFile {
  std::filesystem::path path;
  std::int64_t first_seq = 0;  // an archive's, from its name; 0 for actions.jsonl
  bool operator==(const AuditFile&) const = default;
};

struct AuditFilter {
  std::string agent, tool;
  std::optional<std::string> since;  // ISO-8601 prefix comparison ("2026-11-25", "2026-11-25T10:00")
  bool denied_only = false;
  std::size_t limit = 100;  // newest records
};

class AuditLog {
 public:
  explicit AuditLog(std::filesystem::path audit_dir);

  // Appends `record` (seq, prevHash and hash are added; "arguments" over 64 KiB of JSON are kept by size,
  // sha256 and first 4 KiB) and returns it as written: it is on disk when this returns. Threads appending at
  // once are written together (group commit). Throws on I/O errors.
  json append(json record);
  VerifyResult verify() const;
  // Newest first.
  std::vector<json> list(const AuditFilter& filter) const;

  std::filesystem::path log_path() const { return dir_ / "actions.jsonl"; }
  std::filesystem::path head_path() const { return dir_ / "head.json"; }
  std::filesystem::path archive_dir() const { return dir_ / "archive"; }
  // Oldest first: the archives in seq order, then actions.jsonl (listed when it exists). An archive being
  // compressed (its .jsonl and .jsonl.gz both there) is listed once, as the plain file.
  std::vector<AuditFile> files() const;
  // Calls `each` with every complete line (without its newline) of an audit file, plain or gzip (a plain
  // archive compressed meanwhile is read from its .gz), from uncompressed byte `from` on. Returns the offset
  // after the last complete line; nullopt when the file cannot be read (gone, or a damaged archive: then
  // `each` has seen the lines before the damage). `unterminated`: the bytes after the last newline.
  // The seq of the first record of the file open as `fd` (the live log); 0 when it has none.
  static std::int64_t first_seq_of(int fd);
  static std::optional<std::uint64_t> read_lines(const std::filesystem::path& file, std::uint64_t from,
                                                 const std::function<void(std::string_view)>& each,
                                                 std::size_t* unterminated = nullptr);

 private:
  VerifyResult verify_files(const std::vector<AuditFile>& files) const;
  std::filesystem::path dir_;
};

std::string sha256_hex(const std::string& data);
// The first at most `max_bytes` of UTF-8 `text`, cut before a character, never inside one.
std::string utf8_prefix(const std::string& text, std::size_t max_bytes);
// SHA-256 of a file's bytes; empty when it does not exist.
std::string sha256_file(const std::filesystem::path& path);
// A copy of `value` with secrets replaced: keys like password/token/secret/authorization/api_key, and
// JWT-looking strings, become "[REDACTED]" (agentlog::redact_secrets, the rule the log writer applies too).
json redact(const json& value);

// What a project's audit log held when agentlog last looked, kept outside the project ($XDG_STATE_HOME, else
// ~/.local/state, then agentlog/projects/). The hash chain shows a record changed or taken out of the middle;
// a log removed whole (`git clean -fdx`, `rm -rf .ai-agents`) or cut at its end with a head to match leaves a
// valid chain, but not this witness. A witness belongs to the project folder itself (its device, inode and
// birth time), not to its path: a folder made again at the same path (a scratch folder, a fresh clone) is
// another project, and a project moved elsewhere keeps its witness. Where the file system gives no birth
// time there is no witness.
struct AuditWitness {
  std::int64_t records = 0;
  std::string last_hash;
  std::string time;  // when it was taken
  // Where that last record ended: the file whose first record was `first_seq` (the live log then, an archive
  // since), at uncompressed byte `size`. 0 in witnesses of older versions.
  std::int64_t first_seq = 0, size = 0;
};
// The folder agentlog keeps its own state in, outside every project: $XDG_STATE_HOME, else ~/.local/state;
// nothing when neither is known. The witnesses are in its agentlog/projects/.
std::optional<std::filesystem::path> state_home();
std::optional<AuditWitness> read_witness(const std::filesystem::path& root);
// Takes the log's head as the witness: never fewer records than it holds already, nor a log in which the
// record it saw is no longer where it was, unless `replace` (the loss is recorded in the new log). Never
// throws.
void update_witness(const std::filesystem::path& root, const AuditLog& log, bool replace = false);
// Empty when the log still holds what the witness saw; else what is missing.
std::string witness_problem(const std::filesystem::path& root, const AuditLog& log);

}  // namespace agentlog::policy
