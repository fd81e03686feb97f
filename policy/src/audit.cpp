#include "policy/audit.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "logger/env_file.hpp"
#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "logger/log_writer.hpp"
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

constexpr std::string_view kArchivePrefix = "actions-";

std::string archive_name(std::int64_t first_seq) {
  char name[48];
  std::snprintf(name, sizeof name, "actions-%012lld.jsonl", static_cast<long long>(first_seq));
  return name;
}

// An archive's first seq and whether it is gzipped, from its name; nothing for other files (temporaries).
std::optional<std::pair<std::int64_t, bool>> parse_archive_name(const std::string& name) {
  if (name.rfind(kArchivePrefix, 0) != 0) return std::nullopt;
  std::size_t end = kArchivePrefix.size();
  std::int64_t seq = 0;
  while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end])) &&
         seq < (INT64_MAX - 9) / 10)
    seq = seq * 10 + (name[end++] - '0');
  if (end == kArchivePrefix.size() || seq <= 0) return std::nullopt;
  // Only the name agentlog gives (a copy as actions-1.jsonl.gz is no second archive of record 1).
  if (name == archive_name(seq)) return std::pair{seq, false};
  if (name == archive_name(seq) + ".gz") return std::pair{seq, true};
  return std::nullopt;
}

}  // namespace

std::vector<AuditFile> AuditLog::files() const {
  std::map<std::int64_t, fs::path> archived;
  std::error_code ec;
  for (fs::directory_iterator it(archive_dir(), ec), end; !ec && it != end; it.increment(ec)) {
    const auto parsed = parse_archive_name(it->path().filename().string());
    if (!parsed) continue;
    fs::path& slot = archived[parsed->first];
    if (slot.empty() || !parsed->second) slot = it->path();  // mid-compression: the plain file is whole
  }
  std::vector<AuditFile> out;
  for (auto& [seq, path] : archived) out.push_back({path, seq});
  if (fs::exists(log_path(), ec)) out.push_back({log_path(), 0});
  return out;
}

std::optional<std::uint64_t> AuditLog::read_lines(const fs::path& file, std::uint64_t from,
                                                  const std::function<void(std::string_view)>& each,
                                                  std::size_t* unterminated) {
  gzFile gz = gzopen(file.c_str(), "rb");  // plain files are read as they are
  // A plain archive compressed since it was listed: its .gz (there before the plain file goes).
  if (!gz && errno == ENOENT && file.extension() == ".jsonl")
    gz = gzopen((file.string() + ".gz").c_str(), "rb");
  if (!gz) return std::nullopt;
  gzbuffer(gz, 1 << 17);
  if (from > 0 && gzseek(gz, static_cast<z_off_t>(from), SEEK_SET) < 0) {
    gzclose(gz);
    return std::nullopt;
  }
  std::uint64_t done = from;
  std::string pending;
  std::vector<char> buf(1 << 17);
  int n = 0;
  while ((n = gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0) {
    pending.append(buf.data(), static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
      each(std::string_view(pending).substr(start, nl - start));
    done += start;
    pending.erase(0, start);
  }
  int error = Z_OK;
  gzerror(gz, &error);  // a gzip stream cut short: Z_BUF_ERROR
  gzclose(gz);
  if (n < 0 || error != Z_OK) return std::nullopt;
  if (unterminated) *unterminated = pending.size();
  return done;
}

namespace {

// The last record of the newest archive: where the chain goes on when the live log is new and its head was
// not written (a crash right after a rotation).
std::optional<json> last_archived_record(const AuditLog& log) {
  for (int attempt = 0; attempt < 10; ++attempt) {  // an archive compressed meanwhile is listed again
    auto files = log.files();
    if (!files.empty() && files.back().first_seq == 0) files.pop_back();
    if (files.empty()) return std::nullopt;
    std::string last;
    if (!AuditLog::read_lines(files.back().path, 0, [&](std::string_view line) { last = line; })) continue;
    json j = json::parse(last, nullptr, false);
    if (j.is_object()) return j;
  }
  return std::nullopt;
}

// Said once per process on stderr (never stdout: serve's is JSON-RPC): what keeps the audit log from its
// archive. Not a reason to refuse the record: it is written all the same.
void warn_once(const std::string& what) {
  static std::atomic<bool> said{false};
  if (!said.exchange(true)) std::fprintf(stderr, "agentlog: %s\n", what.c_str());
}

void sync_folder(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) ::fsync(fd), ::close(fd);
}

}  // namespace

std::int64_t AuditLog::first_seq_of(int fd) {
  std::string line;
  char buf[65536];
  for (off_t at = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, at);
    if (n <= 0) return 0;
    const char* nl = static_cast<const char*>(std::memchr(buf, '\n', static_cast<std::size_t>(n)));
    line.append(buf, nl ? static_cast<std::size_t>(nl - buf) : static_cast<std::size_t>(n));
    if (nl) break;
    at += n;
  }
  const json j = json::parse(line, nullptr, false);
  return j.is_object() ? j.value("seq", std::int64_t(0)) : 0;
}

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
  std::optional<SettingsCheck> settings;  // .env.logging, for AUDIT_ROTATE_MB
  std::uint64_t rotate_bytes = 0;
  std::chrono::steady_clock::time_point checked;

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
    if (log >= 0 && now != 0 && now == generation)
      return;  // no file of the folder was created, moved or removed
    generation = now;
    if (log < 0) {  // (an open log is checked under its lock: write_batch)
      fs::create_directories(dir);
      reopen(log, log_dev, log_ino, log_path, O_RDWR | O_APPEND);  // read: its first record names its archive
      written.reset();
    }
    const ino_t head_before = head_ino;
    reopen(head, head_dev, head_ino, head_path, O_RDWR);
    if (head_ino != head_before) written.reset();  // another head: not the one we wrote
  }
  // The log at its path is another file now (rotated by another process, or by this one): open it again.
  void forget_log() {
    if (log >= 0) ::close(log);
    log = -1;
    generation = 0;
    written.reset();
  }
  // Whether the live log, `size` bytes long, is due to move to the archive (AUDIT_ROTATE_MB). The setting is
  // looked at again once a second, and before a rotation (not at every append: see bench/README.md).
  bool rotation_due(const fs::path& dir, std::int64_t size) {
    if (size < 1024) return false;  // the smallest setting, 0.001 MB
    const auto now = std::chrono::steady_clock::now();
    const bool due = rotate_bytes > 0 && static_cast<std::uint64_t>(size) >= rotate_bytes;
    if (!settings || due || now - checked >= std::chrono::seconds(1)) {
      checked = now;
      if (!settings) settings.emplace(std::vector<fs::path>{dir.parent_path() / "config" / ".env.logging"});
      if (settings->changed()) {
        const auto env = EnvSettings::load(dir.parent_path() / "config" / ".env.logging", logging_env_keys());
        rotate_bytes = static_cast<std::uint64_t>(env.get_double("AUDIT_ROTATE_MB") * 1024 * 1024);
      }
    }
    return rotate_bytes > 0 && static_cast<std::uint64_t>(size) >= rotate_bytes;
  }
};

// Moves the live log (open as `fd`, locked) to the archive folder, named after its first record. Nothing when
// it cannot (a first line that is not a record, a name taken): the log goes on growing and verify says why.
std::optional<fs::path> archive_live_log(const AuditLog& log, int fd) {
  const std::int64_t seq = AuditLog::first_seq_of(fd);
  const std::string cannot = "the audit log is due to move to audit/archive/ (AUDIT_ROTATE_MB) but ";
  if (seq <= 0) {
    warn_once(cannot + "its first line is no record (run `agentlog audit verify`); it keeps growing");
    return std::nullopt;
  }
  const fs::path dest = log.archive_dir() / archive_name(seq);
  std::error_code ec;
  fs::create_directories(log.archive_dir(), ec);
  if (fs::exists(dest, ec) || fs::exists(dest.string() + ".gz", ec)) {
    warn_once(cannot + dest.string() + " exists already (run `agentlog audit verify`); it keeps growing");
    return std::nullopt;
  }
  if (::rename(log.log_path().c_str(), dest.c_str()) != 0) {
    warn_once(cannot + "cannot be moved to " + dest.string() + ": " + std::strerror(errno) +
              "; it keeps growing");
    return std::nullopt;
  }
  sync_folder(log.archive_dir());  // the move survives a power cut before the new log's first record
  sync_folder(log.log_path().parent_path());
  return dest;
}

// Writes the head: the count, the last hash and the size of the live log they go with. Fixed width, in
// place: a shorter head never leaves old bytes behind.
bool write_head(int fd, const Head& head) {
  std::string text = json{{"count", head.count}, {"lastHash", head.last_hash}, {"size", head.size}}.dump();
  text.resize(255, ' ');
  text += '\n';
  return ::pwrite(fd, text.data(), text.size(), 0) == static_cast<ssize_t>(text.size());
}

// Appends the records, chained in order, under one flock and in one write, then rewrites the head. When the
// live log is due to rotate it is archived first (`rotated` says where, for the caller to compress).
std::vector<json> write_batch(AuditFiles& files, const AuditLog& log, const fs::path& dir,
                              std::vector<json> records, std::optional<fs::path>& rotated) {
  for (int attempt = 0;; ++attempt) {
    files.open(dir, log.log_path(), log.head_path());
    const int fd = files.log;
    ::flock(fd, LOCK_EX);
    // The lock is the file's: one rotated by another process while this one waited is not the log any more.
    struct stat at_path {};
    if (attempt < 1000 && (::stat(log.log_path().c_str(), &at_path) != 0 || at_path.st_ino != files.log_ino ||
                           at_path.st_dev != files.log_dev)) {
      ::flock(fd, LOCK_UN);
      files.forget_log();
      continue;
    }
    try {
      // The chain continues from the log's last record. The head says where it is when the log has not grown
      // since the head was written (the common case); otherwise (a crash between the two writes) read the
      // tail. The head is rewritten in place (one pwrite of a fixed-size line) under the same lock.
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
        // The log's last record, else (a log emptied or removed behind agentlog's back) the head's count and
        // hash, so that the chain shows the gap instead of going on from the newest archive as if nothing had
        // been there; the newest archive's last record when there is no head either.
        const Head recorded = head;
        head = Head{};
        auto last = last_record(log.log_path());
        if (!last && recorded.count > 0) {
          head.count = recorded.count;
          head.last_hash = recorded.last_hash;
        } else if (!last && st.st_size == 0) {
          last = last_archived_record(log);
        }
        if (last) {
          head.count = last->value("seq", std::int64_t(0));
          head.last_hash = last->value("hash", "");
        }
      }
      if (!rotated && files.rotation_due(dir, st.st_size)) {
        // The head first, with the size of the new live log (0): a process that makes that log before this
        // one moves the old away goes on from the head. Should the move fail, the head is the log's again.
        const Head old = head;
        head.size = 0;
        if (!write_head(files.head, head))
          throw std::runtime_error("cannot write " + log.head_path().string());
        if ((rotated = archive_live_log(log, fd))) {
          ::flock(fd, LOCK_UN);
          files.forget_log();
          continue;
        }
        head = old;
      }
      std::string lines;  // every record of the batch, chained, in one write
      for (auto& record : records) {
        record["seq"] = ++head.count;
        record["prevHash"] = head.last_hash.empty() ? json(nullptr) : json(head.last_hash);
        record.erase("hash");
        // The hash covers the record without it (as verify recomputes it); the line is that same text with
        // the hash added as its last member.
        std::string text = record.dump();
        head.last_hash = sha256_hex(text);
        record["hash"] = head.last_hash;
        text.pop_back();
        lines += text + (text.size() > 1 ? "," : "") + "\"hash\":\"" + head.last_hash + "\"}\n";
      }
      // A batch is written whole or not at all: a write cut short (disk full, a file size limit) is taken
      // back, so that the log never ends in a torn record, which verify could not tell from an edit.
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
      head.size = static_cast<std::int64_t>(st.st_size + done);
      if (!write_head(files.head, head)) take_back("cannot write " + log.head_path().string());
      files.written = head;
    } catch (...) {
      ::flock(fd, LOCK_UN);
      throw;
    }
    ::flock(fd, LOCK_UN);
    return records;
  }
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
  std::optional<fs::path> rotated;
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
      std::vector<json> written = write_batch(q.files, *this, dir_, std::move(records), rotated);
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->written = std::move(written[i]);
    } catch (...) {
      for (auto* w : batch) w->error = std::current_exception();
    }
    lock.lock();
    for (auto* w : batch) w->done = true;
    q.writing = false;
    q.cv.notify_all();
  }
  lock.unlock();
  // After the lock (appends go on meanwhile): the new archive, and any left plain by a process that died or
  // found the disk full before it could compress its own.
  if (rotated)
    for (const AuditFile& f : files())
      if (f.first_seq != 0 && f.path.extension() == ".jsonl") try {
          gzip_file(f.path, /*durable=*/true);
        } catch (const std::exception& e) {
          warn_once("cannot compress " + f.path.string() + " (" + e.what() +
                    "): it stays as it is, read and verified as well; free disk space");
        }
  if (me.error) std::rethrow_exception(me.error);
  return std::move(me.written);
}

VerifyResult AuditLog::verify() const {
  // A rotation or a compression while the files are read changes them under the reader (a directory listing
  // may even miss a file renamed meanwhile): a problem is only reported when the files stayed what they were.
  VerifyResult r;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const auto before = files();
    r = verify_files(before);
    if (r.ok || files() == before) break;
  }
  return r;
}

namespace {

// An archive's records as read_lines gives them, from its one gzip stream, and whether bytes follow that
// stream: zlib's gz readers go on into them (a second stream) or pass over them (text), so text hidden there,
// or a second stream appended, would verify. nullopt: it cannot be read whole (cut short, not gzip).
struct ArchiveRead {
  std::size_t unterminated = 0;  // the bytes after the last newline
  bool bytes_after = false;
};
std::optional<ArchiveRead> read_archive(const fs::path& file,
                                        const std::function<void(std::string_view)>& each) {
  std::ifstream in(file, std::ios::binary);
  z_stream z{};
  if (!in || inflateInit2(&z, 15 + 16) != Z_OK) return std::nullopt;
  std::vector<char> input(1 << 17), output(1 << 17);
  std::string pending;
  int rc = Z_OK;
  while (rc == Z_OK) {
    if (z.avail_in == 0) {
      in.read(input.data(), static_cast<std::streamsize>(input.size()));
      if (in.gcount() == 0) break;  // the stream is cut short
      z.next_in = reinterpret_cast<unsigned char*>(input.data());
      z.avail_in = static_cast<uInt>(in.gcount());
    }
    z.next_out = reinterpret_cast<unsigned char*>(output.data());
    z.avail_out = static_cast<uInt>(output.size());
    rc = inflate(&z, Z_NO_FLUSH);
    pending.append(output.data(), output.size() - z.avail_out);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
      each(std::string_view(pending).substr(start, nl - start));
    pending.erase(0, start);
  }
  ArchiveRead read;
  read.unterminated = pending.size();
  read.bytes_after = rc == Z_STREAM_END && (z.avail_in > 0 || in.peek() != std::char_traits<char>::eof());
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return read;
}

}  // namespace

VerifyResult AuditLog::verify_files(const std::vector<AuditFile>& all) const {
  VerifyResult r;
  std::string prev;
  std::int64_t n = 0;
  auto fail = [&](std::int64_t at, const fs::path& file, std::string what) {
    r.ok = false;
    r.first_bad = at;
    r.file = file;
    r.problem = std::move(what);
    return r;
  };
  // An archive folder that cannot be listed would look like archives removed.
  if (std::error_code ec; fs::exists(archive_dir(), ec) && ::access(archive_dir().c_str(), R_OK | X_OK) != 0)
    return fail(1, archive_dir(), std::string("the archive folder cannot be read: ") + std::strerror(errno));
  fs::path previous;  // the file read before
  // Records n+1 .. first-1 are not there: cut from the end of the file before, or a whole archive removed.
  auto gap = [&](std::int64_t first, const fs::path& file) {
    return fail(n + 1, file,
                "records " + std::to_string(n + 1) + "-" + std::to_string(first - 1) + " are missing (" +
                    file.filename().string() + " starts at record " + std::to_string(first) + "): " +
                    (!previous.empty() ? "removed from the end of " + previous.filename().string() +
                                             ", or an archive holding them was removed"
                     : file == log_path() ? std::string("removed from it, or with the log that held them")
                                          : std::string("the archive holding them was removed")));
  };
  for (const AuditFile& f : all) {
    if (f.first_seq != 0) ++r.archives;
    if (f.first_seq != 0 && f.first_seq != n + 1) {
      if (f.first_seq > n + 1) return gap(f.first_seq, f.path);
      return fail(n + 1, f.path,
                  "an archive named for record " + std::to_string(f.first_seq) + " where record " +
                      std::to_string(n + 1) + " was expected (renamed, or a copy of another)");
    }
    const std::int64_t before = n;
    bool bad = false;
    auto check = [&](std::string_view line) {
      if (bad) return;
      ++n;
      json rec = json::parse(line, nullptr, false);
      if (rec.is_discarded() || !rec.is_object())
        return void((bad = true, fail(n, f.path, "not a JSON record (edited or truncated)")));
      // The live log starting after a gap: its records are there, those before it are not.
      if (const auto seq = rec.value("seq", std::int64_t(-1));
          n == before + 1 && f.first_seq == 0 && seq > n) {
        --n;
        return void((bad = true, gap(seq, f.path)));
      }
      if (rec.value("seq", std::int64_t(-1)) != n)
        return void(
            (bad = true, fail(n, f.path,
                              "sequence number " + rec.value("seq", json(nullptr)).dump() + " where " +
                                  std::to_string(n) + " was expected (a record was removed or reordered)")));
      json expected_prev = prev.empty() ? json(nullptr) : json(prev);
      if (rec.value("prevHash", json(nullptr)) != expected_prev)
        return void((bad = true, fail(n, f.path,
                                      "prevHash does not match the previous record (a record was removed, "
                                      "reordered or edited)")));
      std::string hash = rec.value("hash", "");
      if (record_hash(rec) != hash)
        return void((bad = true, fail(n, f.path, "the record's content does not match its hash (edited)")));
      prev = hash;
    };
    // An archive is read once: its records, and what follows its compressed stream.
    std::size_t unterminated = 0;
    std::optional<ArchiveRead> archive;
    const bool gz = f.path.extension() == ".gz";
    const bool read = gz ? (archive = read_archive(f.path, check)).has_value()
                         : read_lines(f.path, 0, check, &unterminated).has_value();
    if (bad) return r;
    if (archive && archive->bytes_after)
      return fail(n + 1, f.path, "bytes after the end of the archive's compressed records (appended to it)");
    if (archive) unterminated = archive->unterminated;
    if (!read && ::access(f.path.c_str(), R_OK) != 0 && errno != ENOENT)
      return fail(n + 1, f.path, std::string("cannot be read: ") + std::strerror(errno));
    if (!read)
      return fail(n + 1, f.path,
                  f.first_seq != 0 ? "the archive cannot be read whole (cut short, or not gzip): damaged"
                                   : "the log cannot be read");
    if (unterminated > 0) {
      check(std::string_view());  // text after the last newline: a torn or edited record
      if (bad) return r;
    }
    if (f.first_seq != 0 && n == before) return fail(n + 1, f.path, "the archive holds no record");
    previous = f.path;
  }
  r.records = n;
  Head head = read_head(head_path());
  if (head.count != n || head.last_hash != prev) {
    if (head.count > n)
      return fail(n + 1, log_path(),
                  "head.json records " + std::to_string(head.count) + " actions but the log has " +
                      std::to_string(n) + " (records were removed from the end)");
    return fail(n, log_path(), "head.json does not match the last record (the log or its head was edited)");
  }
  return r;
}

std::vector<json> AuditLog::list(const AuditFilter& f) const {
  std::vector<json> out;  // newest first: the live log, then the archives from the newest
  const auto all = files();
  for (auto file = all.rbegin(); file != all.rend() && out.size() < f.limit; ++file) {
    std::vector<json> matched;
    read_lines(file->path, 0, [&](std::string_view line) {
      json rec = json::parse(line, nullptr, false);
      if (!rec.is_object()) return;
      if (!f.agent.empty() && (!rec.contains("agent") || rec["agent"].value("name", "") != f.agent)) return;
      if (!f.tool.empty() && rec.value("tool", "") != f.tool) return;
      if (f.denied_only && rec.value("decision", "") == "allowed") return;
      if (f.since && rec.value("time", "") < *f.since) return;
      matched.push_back(std::move(rec));
    });
    for (auto rec = matched.rbegin(); rec != matched.rend() && out.size() < f.limit; ++rec)
      out.push_back(std::move(*rec));
  }
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
  return AuditWitness{j.value("records", std::int64_t(0)), j.value("lastHash", ""), j.value("time", ""),
                      j.value("firstSeq", std::int64_t(0)), j.value("size", std::int64_t(0))};
}

// The live log's first record number and size now; {0, 0} when it has none.
std::pair<std::int64_t, std::int64_t> live_extent(const AuditLog& log) {
  const int fd = ::open(log.log_path().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {0, 0};
  struct stat st {};
  ::fstat(fd, &st);
  const std::int64_t first = AuditLog::first_seq_of(fd);
  ::close(fd);
  return {first, static_cast<std::int64_t>(st.st_size)};
}

// Whether the record a witness saw is no longer where it ended then: in the live log when it still starts
// with the same record, else in the archive named after that record (one decompression, once per rotation).
// A log emptied and written again, or archives removed with it, leave a chain that verifies, with as many
// records or more, but not this record at its place. Unknown (an older witness, a log being rotated): false.
// `live_first`: the live log's first record number now (live_extent).
bool witnessed_record_gone(const AuditLog& log, const AuditWitness& seen, std::int64_t live_first) {
  const std::string end = "\"hash\":\"" + seen.last_hash + "\"}\n";
  if (seen.first_seq <= 0 || seen.size < static_cast<std::int64_t>(end.size())) return false;
  fs::path file = log.log_path();
  if (live_first != seen.first_seq) {
    file = log.archive_dir() / archive_name(seen.first_seq);
    std::error_code ec;
    if (!fs::exists(file, ec)) file += ".gz";
    if (!fs::exists(file, ec)) return true;  // (agentlog never removes an archive)
  }
  gzFile gz = gzopen(file.c_str(), "rb");
  if (!gz) return false;
  std::string at(end.size(), '\0');
  const bool placed = gzseek(gz, static_cast<z_off_t>(seen.size - end.size()), SEEK_SET) >= 0;
  const int got = placed ? gzread(gz, at.data(), static_cast<unsigned>(at.size())) : -1;
  gzclose(gz);
  return got != static_cast<int>(at.size()) || at != end;
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
    const auto [first_seq, size] = live_extent(log);
    // Not moved on over a loss: fewer records, a last record that is another, or the one it saw gone.
    if (seen && !replace && (seen->records >= head.count || witnessed_record_gone(log, *seen, first_seq)))
      return;
    if (!seen) {  // a project agentlog has not witnessed before: the time to forget the gone ones
      fs::create_directories(path->parent_path(), ec);
      prune_witnesses(path->parent_path());
    }
    json j = {{"root", fs::absolute(root).lexically_normal().string()},
              {"records", head.count},
              {"lastHash", head.last_hash},
              {"time", iso8601_now_ms()}};
    if (size == head.size && first_seq > 0) {  // (else being appended or rotated now: no place to keep)
      j["firstSeq"] = first_seq;
      j["size"] = size;
    }
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
  if (witnessed_record_gone(log, *seen, live_extent(log).first))
    return had + "; record " + std::to_string(seen->records) +
           " is no longer where it was: the log, or archives of it, were removed and written again";
  return "";
}

}  // namespace agentlog::policy
