#include "policy/audit.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "logger/redact.hpp"

namespace agentlog::policy {

namespace fs = std::filesystem;

namespace {
std::string hex_of(const unsigned char* digest, unsigned int len) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// Fetched once: EVP_sha256() looks the implementation up again on every digest (OpenSSL 3).
const EVP_MD* sha256_md() {
  static const EVP_MD* md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return md;
}
}  // namespace

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, sha256_md(), nullptr);
  return hex_of(digest, len);
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, sha256_md(), nullptr);
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0)
    EVP_DigestUpdate(ctx, buf, static_cast<std::size_t>(in.gcount()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return hex_of(digest, len);
}

namespace {

// The hash of a record covers everything but the hash itself (nlohmann orders keys, so the text is stable).
std::string record_hash(json record) {
  record.erase("hash");
  return sha256_hex(record.dump());
}

struct Head {
  std::int64_t count = 0;
  std::string last_hash;
  std::int64_t size = -1;  // the log's size when the head was written
};

Head parse_head(const std::string& text) {
  Head h;
  json j = json::parse(text, nullptr, false);
  if (j.is_object()) {
    h.count = j.value("count", std::int64_t(0));
    h.last_hash = j.value("lastHash", "");
    h.size = j.value("size", std::int64_t(-1));
  }
  return h;
}

Head read_head(const fs::path& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_head(text);
}

// The last complete line of the log (the chain's tail), read from the end.
std::optional<json> last_record(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::nullopt;
  std::streamoff size = in.tellg();
  std::streamoff from = std::max<std::streamoff>(0, size - (64 << 10));
  in.seekg(from);
  std::string tail(static_cast<std::size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  while (!tail.empty() && tail.back() == '\n') tail.pop_back();
  if (tail.empty()) return std::nullopt;
  auto nl = tail.find_last_of('\n');
  json j = json::parse(nl == std::string::npos ? tail : tail.substr(nl + 1), nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

json redact(const json& value) { return redact_secrets(value); }  // (the log writer's rule too)

AuditLog::AuditLog(fs::path audit_dir) : dir_(std::move(audit_dir)) {}

namespace {

// The open files of one audit log, kept by the group-commit queue (only its writer touches them). A log or
// head replaced on disk (another inode) is opened again.
struct AuditFiles {
  int log = -1, head = -1;
  dev_t log_dev = 0, head_dev = 0;
  ino_t log_ino = 0, head_ino = 0;
  // The head this process wrote last: still the head while the log has the size it had then (appends of
  // other processes make it longer).
  std::optional<Head> written;
  std::uint64_t generation = 0;  // the audit folder's FolderWatch generation when the files were checked

  static void reopen(int& fd, dev_t& dev, ino_t& ino, const fs::path& path, int flags) {
    struct stat now {};
    if (fd >= 0 && ::stat(path.c_str(), &now) == 0 && now.st_dev == dev && now.st_ino == ino) return;
    if (fd >= 0) ::close(fd);
    fd = ::open(path.c_str(), flags | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      throw std::runtime_error("cannot open the audit log's " + path.string() + ": " + std::strerror(errno));
    ::fstat(fd, &now);
    dev = now.st_dev;
    ino = now.st_ino;
  }
  void open(const fs::path& dir, const fs::path& log_path, const fs::path& head_path) {
    const std::uint64_t now = FolderWatch::instance().generation(dir.native());  // before the stats
    if (log >= 0 && now != 0 && now == generation) return;  // no file of the folder was created, moved or removed
    generation = now;
    if (log < 0) fs::create_directories(dir);
    const ino_t before[2] = {log_ino, head_ino};
    reopen(log, log_dev, log_ino, log_path, O_WRONLY | O_APPEND);
    reopen(head, head_dev, head_ino, head_path, O_RDWR);
    if (log_ino != before[0] || head_ino != before[1]) written.reset();  // other files: not what we wrote
  }
};

// Appends the records, chained in order, under one flock and in one write, then rewrites the head.
std::vector<json> write_batch(AuditFiles& files, const AuditLog& log, const fs::path& dir,
                              std::vector<json> records) {
  files.open(dir, log.log_path(), log.head_path());
  const int fd = files.log;
  ::flock(fd, LOCK_EX);
  try {
    // The chain continues from the log's last record. The head says where it is when the log has not grown
    // since the head was written (the common case); otherwise (a crash between the two writes) read the tail.
    // The head is rewritten in place (one pwrite of a fixed-size line) under the same lock.
    struct stat st {};
    ::fstat(fd, &st);
    Head head;
    if (files.written && files.written->size == static_cast<std::int64_t>(st.st_size)) {
      head = *files.written;
    } else {
      char head_buf[512] = {0};
      ssize_t got = ::pread(files.head, head_buf, sizeof head_buf - 1, 0);
      head = parse_head(std::string(head_buf, got > 0 ? static_cast<std::size_t>(got) : 0));
    }
    files.written.reset();
    if (head.size != static_cast<std::int64_t>(st.st_size)) {
      head = Head{};
      if (auto last = last_record(log.log_path())) {
        head.count = last->value("seq", std::int64_t(0));
        head.last_hash = last->value("hash", "");
      }
    }
    std::string lines;  // every record of the batch, chained, in one write
    for (auto& record : records) {
      record["seq"] = ++head.count;
      record["prevHash"] = head.last_hash.empty() ? json(nullptr) : json(head.last_hash);
      record.erase("hash");
      // The hash covers the record without it (as verify recomputes it); the line is that same text with the
      // hash added as its last member.
      std::string text = record.dump();
      head.last_hash = sha256_hex(text);
      record["hash"] = head.last_hash;
      text.pop_back();
      lines += text + (text.size() > 1 ? "," : "") + "\"hash\":\"" + head.last_hash + "\"}\n";
    }
    // A batch is written whole or not at all: a write cut short (disk full, a file size limit) is taken back,
    // so that the log never ends in a torn record, which verify could not tell from an edit.
    auto take_back = [&](const std::string& what) {
      const std::string why = std::strerror(errno);
      if (::ftruncate(fd, st.st_size) != 0)
        throw std::runtime_error(what + ": " + why + "; and the part written could not be taken back (" +
                                 std::strerror(errno) + "): agentlog audit verify will point at it");
      throw std::runtime_error(what + ": " + why + "; nothing of it was kept");
    };
    std::size_t done = 0;
    while (done < lines.size()) {
      ssize_t n = ::write(fd, lines.data() + done, lines.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) take_back("cannot write the audit log");
      done += static_cast<std::size_t>(n);
    }
    json h = {{"count", head.count},
              {"lastHash", head.last_hash},
              {"size", static_cast<std::int64_t>(st.st_size + done)}};
    std::string text = h.dump();
    text.resize(255, ' ');  // fixed width: a shorter head never leaves old bytes behind
    text += '\n';
    if (::pwrite(files.head, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
      take_back("cannot write " + log.head_path().string());
    head.size = static_cast<std::int64_t>(st.st_size + done);
    files.written = head;
  } catch (...) {
    ::flock(fd, LOCK_UN);
    throw;
  }
  ::flock(fd, LOCK_UN);
  return records;
}

// Group commit: threads of one process appending at once hand their records to one of them, which writes
// them all under a single lock (one open, one write, one head update). Each caller returns when its own
// record is on disk, as before.
struct AppendQueue {
  struct Waiter {
    json record;
    json written;
    std::exception_ptr error;
    bool done = false;
  };
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<Waiter*> waiting;
  bool writing = false;
  AuditFiles files;  // used by the writing thread only
};

AppendQueue& queue_for(const fs::path& log) {
  static std::mutex m;
  static auto* queues = new std::map<std::string, std::unique_ptr<AppendQueue>>;  // leaked: usable at exit
  std::lock_guard lock(m);
  auto& q = (*queues)[log.string()];
  if (!q) q = std::make_unique<AppendQueue>();
  return *q;
}

}  // namespace

std::string utf8_prefix(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

namespace {

// The arguments as a record holds them: whole up to 64 KiB of JSON; beyond, their size, hash and first 4 KiB.
// A refused 15 MiB message made a 15 MiB record, and a web page's refused requests could fill the disk.
json bounded(const json& arguments) {
  const std::string text = arguments.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() <= 64 * 1024) return arguments;
  return {{"truncated", true},
          {"bytes", text.size()},
          {"sha256", sha256_hex(text)},
          {"head", utf8_prefix(text, 4096)}};
}

}  // namespace

json AuditLog::append(json record) {
  if (auto it = record.find("arguments"); it != record.end()) *it = bounded(*it);
  AppendQueue& q = queue_for(log_path());
  AppendQueue::Waiter me{std::move(record)};
  std::unique_lock lock(q.mutex);
  q.waiting.push_back(&me);
  while (!me.done) {
    if (q.writing) {
      q.cv.wait(lock);
      continue;
    }
    q.writing = true;  // this thread writes for everyone waiting now
    std::vector<AppendQueue::Waiter*> batch;
    batch.swap(q.waiting);
    lock.unlock();
    std::vector<json> records;
    records.reserve(batch.size());
    for (auto* w : batch) records.push_back(std::move(w->record));
    try {
      std::vector<json> written = write_batch(q.files, *this, dir_, std::move(records));
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->written = std::move(written[i]);
    } catch (...) {
      for (auto* w : batch) w->error = std::current_exception();
    }
    lock.lock();
    for (auto* w : batch) w->done = true;
    q.writing = false;
    q.cv.notify_all();
  }
  if (me.error) std::rethrow_exception(me.error);
  return std::move(me.written);
}

VerifyResult AuditLog::verify() const {
  VerifyResult r;
  std::ifstream in(log_path());
  std::string line, prev;
  std::int64_t n = 0;
  auto fail = [&](std::int64_t at, std::string what) {
    r.ok = false;
    r.first_bad = at;
    r.problem = std::move(what);
    return r;
  };
  while (std::getline(in, line)) {
    ++n;
    json rec = json::parse(line, nullptr, false);
    if (rec.is_discarded() || !rec.is_object()) return fail(n, "not a JSON record (edited or truncated)");
    if (rec.value("seq", std::int64_t(-1)) != n)
      return fail(n, "sequence number " + rec.value("seq", json(nullptr)).dump() + " where " +
                         std::to_string(n) + " was expected (a record was removed or reordered)");
    json expected_prev = prev.empty() ? json(nullptr) : json(prev);
    if (rec.value("prevHash", json(nullptr)) != expected_prev)
      return fail(n,
                  "prevHash does not match the previous record (a record was removed, reordered or edited)");
    std::string hash = rec.value("hash", "");
    if (record_hash(rec) != hash) return fail(n, "the record's content does not match its hash (edited)");
    prev = hash;
  }
  r.records = n;
  Head head = read_head(head_path());
  if (head.count != n || head.last_hash != prev) {
    if (head.count > n)
      return fail(n + 1, "head.json records " + std::to_string(head.count) + " actions but the log has " +
                             std::to_string(n) + " (records were removed from the end)");
    return fail(n, "head.json does not match the last record (the log or its head was edited)");
  }
  return r;
}

std::vector<json> AuditLog::list(const AuditFilter& f) const {
  std::vector<json> out;
  std::ifstream in(log_path());
  std::string line;
  while (std::getline(in, line)) {
    json rec = json::parse(line, nullptr, false);
    if (rec.is_discarded()) continue;
    if (!f.agent.empty() && rec["agent"].value("name", "") != f.agent) continue;
    if (!f.tool.empty() && rec.value("tool", "") != f.tool) continue;
    if (f.denied_only && rec.value("decision", "") == "allowed") continue;
    if (f.since && rec.value("time", "") < *f.since) continue;
    out.push_back(std::move(rec));
  }
  std::reverse(out.begin(), out.end());
  if (out.size() > f.limit) out.resize(f.limit);
  return out;
}

namespace {

// The witness file of the project folder `root`: named after the folder's identity, not its path.
std::optional<fs::path> witness_path(const fs::path& root) {
  struct statx st {};
  if (::statx(AT_FDCWD, root.c_str(), 0, STATX_INO | STATX_BTIME, &st) != 0 || !(st.stx_mask & STATX_BTIME))
    return std::nullopt;
  const auto state = state_home();
  if (!state) return std::nullopt;
  const std::string identity = std::to_string(st.stx_dev_major) + ":" + std::to_string(st.stx_dev_minor) +
                               ":" + std::to_string(st.stx_ino) + ":" + std::to_string(st.stx_btime.tv_sec) +
                               "." + std::to_string(st.stx_btime.tv_nsec);
  return *state / "agentlog" / "projects" / (sha256_hex(identity).substr(0, 32) + ".json");
}

// Witnesses of folders that are gone or are other folders now: what they witnessed no longer exists.
void prune_witnesses(const fs::path& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::ifstream in(it->path());
    json j = json::parse(in, nullptr, false);
    const std::string root = j.is_object() ? j.value("root", "") : "";
    if (auto current = root.empty() ? std::nullopt : witness_path(root); current != it->path()) {
      std::error_code rm;
      fs::remove(it->path(), rm);
    }
  }
}

std::optional<AuditWitness> read_witness_at(const std::optional<fs::path>& path) {
  if (!path) return std::nullopt;
  std::ifstream in(*path);
  if (!in) return std::nullopt;
  json j = json::parse(in, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return AuditWitness{j.value("records", std::int64_t(0)), j.value("lastHash", ""), j.value("time", "")};
}

}  // namespace

std::optional<fs::path> state_home() {
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg && *xdg == '/') return fs::path(xdg);
  if (const char* home = std::getenv("HOME"); home && *home == '/')
    return fs::path(home) / ".local" / "state";
  return std::nullopt;
}

std::optional<AuditWitness> read_witness(const fs::path& root) { return read_witness_at(witness_path(root)); }

void update_witness(const fs::path& root, const AuditLog& log, bool replace) {
  try {
    auto path = witness_path(root);
    std::error_code ec;
    if (!path || !fs::exists(log.head_path(), ec)) return;
    const Head head = read_head(log.head_path());
    if (head.count <= 0) return;
    const auto seen = read_witness_at(path);
    if (seen && !replace &&
        (seen->records > head.count || (seen->records == head.count && seen->last_hash == head.last_hash)))
      return;
    if (!seen) {  // a project agentlog has not witnessed before: the time to forget the gone ones
      fs::create_directories(path->parent_path(), ec);
      prune_witnesses(path->parent_path());
    }
    const json j = {{"root", fs::absolute(root).lexically_normal().string()},
                    {"records", head.count},
                    {"lastHash", head.last_hash},
                    {"time", iso8601_now_ms()}};
    write_file_atomic(*path, j.dump() + "\n", 0600, /*durable=*/false);  // (lost in a power cut: only older)
  } catch (const std::exception&) {  // a witness that cannot be written is no reason to stop
  }
}

std::string witness_problem(const fs::path& root, const AuditLog& log) {
  auto seen = read_witness(root);
  if (!seen || seen->records <= 0) return "";
  std::error_code ec;
  const Head head = fs::exists(log.head_path(), ec) ? read_head(log.head_path()) : Head{};
  const std::string had =
      "the audit log had " + std::to_string(seen->records) + " records when agentlog saw it at " + seen->time;
  if (head.count <= 0) return had + "; it is gone";
  if (head.count < seen->records)
    return had + "; it has " + std::to_string(head.count) + ": records were removed from its end";
  if (head.count == seen->records && head.last_hash != seen->last_hash)
    return had + "; record " + std::to_string(seen->records) + " is not the one it saw: the log was replaced";
  return "";
}

}  // namespace agentlog::policy
