// agentlog logs search|tail: the logs from the command line.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <set>
#include <sstream>
#include <fstream>
#include <iostream>
#include <thread>

#include "logger/log_writer.hpp"
#include "tools/cli.hpp"
#include "tools/tools.hpp"

namespace agentlog {

namespace {

std::string human(const json& m, bool colour) {
  std::string level = m.value("level", "");
  std::string upper = level;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const char* code = level == "error" || level == "fatal" ? "31" : level == "warn" ? "33" : level == "debug" || level == "trace" ? "2" : "0";
  std::string lvl = colour ? std::string("\033[") + code + "m" + upper + "\033[0m" : upper;
  std::string out = printable(m.value("ts", "")) + " " + lvl + " [" + printable(m.value("category", "")) +
                    "] " + printable(m.value("msg", ""));
  if (m.contains("fields") && !m["fields"].empty())
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
  search->add_option("--regex", regex, "RE2 regular expression");
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
    for (auto [k, v] : {std::pair{"query", &query}, {"regex", &regex}, {"level", &level}, {"category", &category},
                        {"source", &source}, {"since", &since}, {"until", &until}, {"filter", &filter}, {"cursor", &cursor}})
      if (!v->empty()) a[k] = *v;
    for (const auto& f : fields) {
      auto eq = f.find('=');
      if (eq == std::string::npos) throw CLI::ValidationError("--field", "expected key=value, got " + f);
      a["fields"][f.substr(0, eq)] = f.substr(eq + 1);
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
    if (out["matches"].empty())
      std::cout << "No log line matches. Loosen the filters (agentlog logs search --help lists them).\n";
    for (const auto& m : out["matches"]) std::cout << human(m, colour) << "\n";
    if (out["nextCursor"].is_string()) std::cout << "more: --cursor " << out["nextCursor"].get<std::string>() << "\n";
    const long long skipped = out.value("corruptLines", 0LL) + out.value("tornLines", 0LL);
    if (skipped > 0)  // (on stderr: the matches stay what stdout holds)
      std::cerr << skipped << " line" << (skipped == 1 ? "" : "s")
                << " skipped: cut short (a writer killed mid-line) or not log lines\n";
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
      if (rec.is_object() && !common.json)
        std::cout << human(rec, colour) << "\n";
      else
        std::cout << (common.json ? std::string(line) : printable(line)) << "\n";
    };
    // Archive folders seen so far: after a rotation, the new ones are the file being read (found by its
    // inode while it is not compressed, else the oldest new one) and files rotated out before this process
    // looked again, printed whole.
    auto archive_names = [] {
      std::set<std::string, bool (*)(const std::string&, const std::string&)> names(archive_name_less);
      std::error_code ec;
      for (const auto& d : fs::directory_iterator(common.layout().archive_dir(), ec)) names.insert(d.path().filename().string());
      return names;
    };
    int fd = -1;
    ino_t inode = 0;
    auto open_latest = [&] {
      if (fd >= 0) ::close(fd);
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      struct stat st {};
      inode = fd >= 0 && ::fstat(fd, &st) == 0 ? st.st_ino : 0;
    };
    open_latest();
    auto known = archive_names();
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
    std::string tail_text;
    off_t from = size;
    while (from > 0 && std::count(tail_text.begin(), tail_text.end(), '\n') <= lines) {
      const off_t start = std::max<off_t>(0, from - (1 << 16));
      std::string block(static_cast<std::size_t>(from - start), '\0');
      const ssize_t n = ::pread(fd, block.data(), block.size(), start);
      if (n <= 0) break;
      block.resize(static_cast<std::size_t>(n));
      tail_text = block + tail_text;
      from = start;
    }
    if (from > 0 && tail_text.find('\n') != std::string::npos) tail_text.erase(0, tail_text.find('\n') + 1);  // cut line
    std::deque<std::string_view> last;
    pending = tail_text.substr(for_each_line(tail_text, [&](std::string_view l) {
      last.push_back(l);
      if (static_cast<int>(last.size()) > lines) last.pop_front();
    }));  // a line still being written
    if (fd >= 0) ::lseek(fd, size, SEEK_SET);
    for (const auto& l : last) print(l);
    std::cout << std::flush;
    if (!follow) return;
    auto print_archive = [&](const fs::path& dir) {
      fs::path file = fs::exists(dir / "latest.log") ? dir / "latest.log" : dir / "latest.log.gz";
      gzFile gz = gzopen(file.c_str(), "rb");
      if (!gz) return;
      std::string text;
      char buf[65536];
      for (int n; (n = gzread(gz, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
      gzclose(gz);
      for_each_line(text, print);
    };
    while (true) {
      read_lines(print);
      std::cout << std::flush;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0 || st.st_ino == inode) continue;
      read_lines(print);  // rotated: the old file's last lines first
      pending.clear();
      auto now = archive_names();
      std::vector<std::string> fresh;
      for (const auto& name : now)
        if (!known.count(name)) fresh.push_back(name);
      std::size_t mine = 0;  // which fresh archive is the file just read
      for (std::size_t i = 0; i < fresh.size(); ++i) {
        struct stat a {};
        if (::stat((common.layout().archive_dir() / fresh[i] / "latest.log").c_str(), &a) == 0 && a.st_ino == inode) mine = i;
      }
      for (std::size_t i = mine + 1; i < fresh.size(); ++i) print_archive(common.layout().archive_dir() / fresh[i]);
      known = std::move(now);
      open_latest();
    }
  });
}

}  // namespace agentlog
