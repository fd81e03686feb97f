// agentlog logs search|tail: the logs from the command line.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "logger/log_search.hpp"
#include "logger/log_writer.hpp"
#include "tools/cli.hpp"
#include "tools/tools.hpp"

namespace agentlog {

namespace {

// A line's value as text: tail prints lines of other programs too (a number or null where agentlog writes a
// string must not stop it).
std::string text_of(const json& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string human(const json& m, bool colour) {
  std::string level = text_of(m, "level");
  std::string upper = level;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* code = level == "error" || level == "fatal"   ? "31"
                     : level == "warn"                      ? "33"
                     : level == "debug" || level == "trace" ? "2"
                                                            : "0";
  std::string lvl = colour ? std::string("\033[") + code + "m" + upper + "\033[0m" : upper;
  std::string out = printable(text_of(m, "ts")) + " " + lvl + " [" + printable(text_of(m, "category")) +
                    "] " + printable(text_of(m, "msg"));
  if (m.contains("fields") && m["fields"].is_object() && !m["fields"].empty())
    out += " " + m["fields"].dump(-1, ' ', false, json::error_handler_t::replace);  // (JSON escapes controls)
  return out;
}

// Calls `each` with every whole line of `text` (without its '\n'); returns where the unfinished rest starts.
std::size_t for_each_line(std::string_view text, const std::function<void(std::string_view)>& each) {
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string_view::npos; start = nl + 1)
    each(text.substr(start, nl - start));
  return start;
}

}  // namespace

void add_logs_commands(CLI::App& app) {
  auto* logs = app.add_subcommand("logs", "Search and follow the logs");
  logs->require_subcommand(1);
  static CliCommon common;

  auto* search = logs->add_subcommand("search", "Search latest.log and the archives, newest first");
  static std::string query, regex, level, category, source, since, until, filter, cursor;
  static std::vector<std::string> fields;
  static int limit = 50;
  add_common_options(search, common);
  search->add_option("query", query, "Fixed string");
  search->add_option("--regex", regex, "RE2 regular expression over the message");
  search->add_option("--level", level, "Minimum level");
  search->add_option("--category", category);
  search->add_option("--source", source, "Glob over the source");
  search->add_option("--since", since, "ISO-8601 or an age (1h, 2d)");
  search->add_option("--until", until);
  search->add_option("--field", fields, "key=value equality (repeatable)");
  search->add_option("--filter", filter, "Saved filter of config/filters.json");
  search->add_option("--limit", limit, "At most this many (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  search->add_option("--cursor", cursor);
  search->callback([] {
    json a = json::object();
    for (auto [k, v] : {std::pair{"query", &query},
                        {"regex", &regex},
                        {"level", &level},
                        {"category", &category},
                        {"source", &source},
                        {"since", &since},
                        {"until", &until},
                        {"filter", &filter},
                        {"cursor", &cursor}})
      if (!v->empty()) a[k] = *v;
    for (const auto& f : fields) {
      auto eq = f.find('=');
      if (eq == std::string::npos) throw CLI::ValidationError("--field", "expected key=value, got " + f);
      // The value as JSON when it is JSON (n=100, ok=true, u={"id":7}), else as text: MCP's fields are
      // compared by one rule (a string spelling a number equals it either way).
      const std::string text = f.substr(eq + 1);
      json value = json::parse(text, nullptr, false);
      a["fields"][f.substr(0, eq)] = value.is_discarded() ? json(text) : std::move(value);
    }
    a["limit"] = limit;
    json out;
    try {
      out = run_log_search(ToolsContext{common.layout()}, a);
    } catch (const mcp::ToolError& e) {
      std::cerr << "agentlog logs: [" << e.id() << "] " << e.what() << "\n";
      throw CLI::RuntimeError(2);
    }
    if (common.json) return print_json(out);
    bool colour = stdout_is_tty();
    const json damaged = out.value("damagedFiles", json::array());
    if (out["matches"].empty() && !damaged.empty())  // (the filters may not be the reason: see stderr)
      std::cout << "No log line matches in what could be read: " << damaged.size() << " file"
                << (damaged.size() == 1 ? "" : "s") << " could not be read whole (below).\n";
    else if (out["matches"].empty())
      std::cout << "No log line matches. Loosen the filters (agentlog logs search --help lists them).\n";
    for (const auto& m : out["matches"]) std::cout << human(m, colour) << "\n";
    if (out["nextCursor"].is_string())
      std::cout << "more: --cursor " << out["nextCursor"].get<std::string>() << "\n";
    const long long skipped = out.value("corruptLines", 0LL) + out.value("tornLines", 0LL);
    if (skipped > 0)  // (on stderr: the matches stay what stdout holds)
      std::cerr << skipped << " line" << (skipped == 1 ? "" : "s")
                << " skipped: cut short (a writer killed mid-line) or not log lines\n";
    for (const auto& d : damaged) {
      const std::string file = d.value("file", "");
      if (file.find("/archive/") == std::string::npos) {  // latest.log
        const long long read = d.value("linesRead", 0LL);
        std::cerr << "agentlog logs: " << file << " could not be read: " << d.value("problem", "") << "; "
                  << (read == 0 ? "none" : "only the first " + std::to_string(read))
                  << " of its lines were searched. Make it a readable file, or move it away (agentlog starts "
                     "a new latest.log when there is none)\n";
        continue;
      }
      std::cerr
          << "agentlog logs: the archive " << file << " is damaged: " << d.value("problem", "")
          << "; only its first " << d.value("linesRead", 0LL)
          << " lines were searched. Restore it from a backup, or delete its folder if its lines are not "
             "needed\n";
    }
  });

  auto* tail = logs->add_subcommand("tail", "Print the end of latest.log; -f follows it across rotations");
  static bool follow = false;
  static int lines = 20;
  add_common_options(tail, common);
  tail->add_flag("-f,--follow", follow, "Keep printing new lines (Ctrl-C to stop)");
  tail->add_option("-n,--lines", lines, "Lines to print first")
      ->check(CLI::Range(0, 100000000))
      ->capture_default_str();
  tail->callback([] {
    const auto path = common.layout().latest_log();
    bool colour = stdout_is_tty();
    auto print = [&](std::string_view line) {
      json rec = json::parse(line, nullptr, false);
      if (common.json) {  // JSON for every line: a text-form line as the JSON one would be, else a string
        if (rec.is_object())
          std::cout << line << "\n";
        else
          std::cout << parse_text_line(line, system_ms()).value_or(json(std::string(line))).dump() << "\n";
      } else {
        std::cout << (rec.is_object() ? human(rec, colour) : printable(line)) << "\n";
      }
    };
    // Archive folders seen so far. After a rotation, the new ones are, in the order of their names (a
    // rotation names its folder after every existing one), the file being read and the files rotated out
    // before this process looked again, printed whole.
    auto archive_names = [] {
      std::set<std::string, bool (*)(const std::string&, const std::string&)> names(archive_name_less);
      std::error_code ec;
      for (const auto& d : fs::directory_iterator(common.layout().archive_dir(), ec))
        names.insert(d.path().filename().string());
      return names;
    };
    decltype(archive_names()) known(archive_name_less);
    int fd = -1;
    ino_t inode = 0;
    std::optional<std::uint64_t> rotations;  // the log's rotations when latest.log was opened (unknown: none)
    // Opens latest.log and lists the archives as one step: writers rotate holding logs/.lock, so holding it
    // (shared, for a directory listing) means no rotation falls between the two and every new folder is
    // known to be newer than the file opened.
    auto open_latest = [&] {
      const int lock = ::open((common.layout().logs_dir() / ".lock").c_str(), O_RDONLY | O_CLOEXEC);
      if (lock >= 0)
        while (::flock(lock, LOCK_SH) != 0 && errno == EINTR) {
        }
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      inode = fd >= 0 && ::fstat(fd, &st) == 0 ? st.st_ino : 0;
      known = archive_names();
      rotations = log_rotation_count(common.layout().logs_dir());
      if (lock >= 0) ::close(lock);  // (releases the lock)
    };
    open_latest();
    std::string pending;  // read but not yet a whole line
    auto read_lines = [&](const std::function<void(std::string_view)>& each) {
      char buf[65536];
      for (ssize_t n; fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0;) {
        pending.append(buf, static_cast<std::size_t>(n));
        pending.erase(0, for_each_line(pending, each));
      }
    };
    // The last `lines` lines, read backwards from the end in blocks (a log of gigabytes starts at once).
    struct stat st0 {};
    const off_t size = fd >= 0 && ::fstat(fd, &st0) == 0 ? st0.st_size : 0;
    // Blocks are counted as read and joined once (prepending each to the text read so far was quadratic).
    std::vector<std::string> blocks;  // last block first
    long long newlines = 0;
    off_t from = size;
    while (from > 0 && newlines <= lines) {
      const off_t start = std::max<off_t>(0, from - (1 << 16));
      std::string block(static_cast<std::size_t>(from - start), '\0');
      const ssize_t n = ::pread(fd, block.data(), block.size(), start);
      if (n <= 0) break;
      block.resize(static_cast<std::size_t>(n));
      newlines += std::count(block.begin(), block.end(), '\n');
      blocks.push_back(std::move(block));
      from = start;
    }
    std::string tail_text;
    for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) tail_text += *it;
    blocks.clear();
    if (from > 0 && tail_text.find('\n') != std::string::npos)
      tail_text.erase(0, tail_text.find('\n') + 1);  // cut line
    std::deque<std::string_view> last;
    pending = tail_text.substr(for_each_line(tail_text, [&](std::string_view l) {
      last.push_back(l);
      if (static_cast<int>(last.size()) > lines) last.pop_front();
    }));  // a line still being written
    if (fd >= 0) ::lseek(fd, size, SEEK_SET);
    for (const auto& l : last) print(l);
    std::cout << std::flush;
    if (!follow) return;
    auto print_archive = [&](const fs::path& dir) -> bool {
      // The plain file, or its .gz when the writer's compression finished meanwhile (the .gz is there before
      // the plain file goes).
      gzFile gz = gzopen((dir / "latest.log").c_str(), "rb");
      if (!gz) gz = gzopen((dir / "latest.log.gz").c_str(), "rb");
      if (!gz) return false;
      std::string text;
      char buf[65536];
      for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
      gzclose(gz);
      for_each_line(text, print);
      return true;
    };
    while (true) {
      // Emptied or cut in place (`: > latest.log`): read again from its start, as tail -F does.
      if (struct stat now{}; fd >= 0 && ::fstat(fd, &now) == 0 && now.st_size < ::lseek(fd, 0, SEEK_CUR)) {
        std::cerr << "agentlog logs: latest.log was cut short in place; reading it again from its start\n";
        ::lseek(fd, 0, SEEK_SET);
        pending.clear();
      }
      read_lines(print);
      std::cout << std::flush;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0 || st.st_ino == inode) continue;
      read_lines(print);  // rotated: the old file's last lines first (it is complete: it was renamed)
      pending.clear();
      const bool had_file = fd >= 0;
      const ino_t read_inode = inode;
      // Kept open until its folder is found: closed, its inode could be taken by a newer file once the
      // compression removed it, which was then taken for it and skipped (a whole file missing under load).
      const int read_fd = fd;
      const auto before = known;
      const auto rotations_before = rotations;
      open_latest();  // first: rotations from here on are seen at the next look
      std::vector<std::string> fresh;
      for (const auto& name : known)
        if (!before.count(name)) fresh.push_back(name);
      // Files rotated out since the last look, when the writers count them: retention removes the oldest
      // first, so fewer new folders than that means the oldest of them are gone (the file just read first).
      const std::optional<std::size_t> rotated =
          rotations_before && rotations && *rotations > *rotations_before
              ? std::optional<std::size_t>(*rotations - *rotations_before)
              : std::nullopt;
      const bool read_file_gone = had_file && rotated && fresh.size() < *rotated;
      // The file just read is the oldest new folder (found by its inode while it is not compressed); with
      // no file open (latest.log did not exist yet), every new folder is unread.
      std::size_t first_unread = had_file && !fresh.empty() && !read_file_gone ? 1 : 0;
      for (std::size_t i = 0; had_file && i < fresh.size(); ++i) {
        struct stat a {};
        if (::stat((common.layout().archive_dir() / fresh[i] / "latest.log").c_str(), &a) == 0 &&
            a.st_ino == read_inode)
          first_unread = i + 1;
      }
      if (read_fd >= 0) ::close(read_fd);
      std::size_t removed =
          rotated && *rotated > fresh.size() ? *rotated - fresh.size() - (had_file ? 1 : 0) : 0;
      for (std::size_t i = first_unread; i < fresh.size(); ++i)
        if (!print_archive(common.layout().archive_dir() / fresh[i])) ++removed;  // removed since listed
      if (removed > 0)
        std::cerr
            << "agentlog logs: retention (LOG_MAX_ARCHIVES, LOG_RETENTION_DAYS or LOG_MAX_TOTAL_MB) removed "
            << removed << " rotated file(s) before tail could read them; their lines are not shown\n";
    }
  });
}

}  // namespace agentlog
