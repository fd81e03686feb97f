// agentlog traces search|show|slow|stats|reindex|convert|export: the trace store from the command line.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>

#include "tools/cli.hpp"
#include "tools/traces.hpp"

#define AGENTLOG_NO_THROW_HOOK  // the converter of binary span files, not the tracer's exception hook
#include "agentlog_trace.hpp"

namespace agentlog {

store::SearchQuery search_query_from(const json& arguments);  // search_traces.cpp

namespace {

int terminal_width() {
  struct winsize w {};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  if (const char* c = std::getenv("COLUMNS")) return std::max(40, std::atoi(c));
  return 120;
}

// Whether converting a binary span file would write over `jsonl` (the .jsonl of its name), which holds
// something no converter has open: notes of the user's, or the lines of an earlier conversion. (A converter
// locks the .jsonl it writes; a file being converted is refused as such by the conversion itself.)
bool holds_other_lines(const std::string& jsonl) {
  int fd = ::open(jsonl.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  const bool held = ::fstat(fd, &st) == 0 && st.st_size > 0 && ::flock(fd, LOCK_SH | LOCK_NB) == 0;
  ::close(fd);
  return held;
}

// Columns of UTF-8 text (one per character).
std::size_t columns(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// At most `width` columns: cut at a character boundary, with "…" for the rest.
std::string fit(std::string s, std::size_t width) {
  if (columns(s) <= width) return s;
  std::size_t keep = width > 1 ? width - 1 : 0, at = 0;
  for (std::size_t seen = 0; at < s.size(); ++at)
    if ((static_cast<unsigned char>(s[at]) & 0xC0) != 0x80 && seen++ == keep) break;
  return s.substr(0, at) + "…";
}

// A value as JSON, strings quoted: "back\\fifthword" and a real form feed "back\fifthword" differ, and a
// string holding ", b=2" reads as one argument. printable() then escapes what JSON leaves as it is (DEL, the
// C1 controls): a traced program's strings reach a terminal.
std::string compact(const json& v) {
  return printable(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

// At most `width` columns of the end of `s`, with "…" for what is cut before it.
std::string fit_end(const std::string& s, std::size_t width) {
  const std::size_t cols = columns(s);
  if (cols <= width) return s;
  std::size_t at = 0;  // the start of the first character kept: `cut` characters in
  for (std::size_t cut = cols - (width > 1 ? width - 1 : 0); cut > 0; --cut) {
    ++at;
    while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) ++at;
  }
  return "…" + s.substr(at);
}

struct Colour {
  bool on;
  std::string operator()(const char* code, const std::string& s) const {
    return on ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
  }
};

// "  12.345 ms", "  42.000 us" or "     850 ns": 13 columns.
std::string duration_text(double ms) {
  char out[32];
  if (ms >= 1.0)
    std::snprintf(out, sizeof out, "%10.3f ms", ms);
  else if (ms >= 0.001)
    std::snprintf(out, sizeof out, "%10.3f us", ms * 1e3);
  else
    std::snprintf(out, sizeof out, "%10.0f ns", ms * 1e6);
  return out;
}

// `if_none`: what to try when spans exist but none of them answers.
void print_summaries(const json& traces, const Colour& c, store::TraceStore& index, const char* if_none) {
  if (traces.empty()) {
    if (index.summary()["spans"] == 0)
      std::cout << "No traces yet. Run a program instrumented with `agentlog instrument`, then try again.\n";
    else
      std::cout << if_none << "\n";
    return;
  }
  for (const auto& t : traces) {
    char dur[32];
    std::snprintf(dur, sizeof dur, "%10.3f ms", t["duration"].get<double>());
    std::cout << c(t["error"].get<bool>() ? "31" : "33", dur) << "  " << t["traceId"].get<std::string>()
              << "  " << c("1", t["rootFunction"].is_string() ? t["rootFunction"].get<std::string>() : "?")
              << "  " << t["spanCount"] << " spans  " << t["startTime"].get<std::string>() << "\n";
    for (const auto& m : t.value("matches", json::array()))
      std::cout << "      " << m["function"].get<std::string>() << "  "
                << duration_text(m["duration"].get<double>()) << "\n";
  }
}

// The call tree the way `uftrace graph` and `tree` read: duration, share of the parent, call, result.
void print_tree(const json& trace, const Colour& c) {
  const int width = terminal_width();
  std::map<std::string, std::pair<int, double>> depth_and_parent_ms;  // spanId -> depth, parent duration
  std::cout << c("1", "trace " + trace["traceId"].get<std::string>()) << "  "
            << trace["duration"].get<double>() << " ms, " << trace["spanCount"] << " spans\n";
  for (const auto& s : trace["spans"]) {
    int depth = 0;
    double parent_ms = 0;
    if (s["parentSpanId"].is_string()) {
      auto it = depth_and_parent_ms.find(s["parentSpanId"].get<std::string>());
      if (it != depth_and_parent_ms.end()) {
        depth = it->second.first + 1;
        parent_ms = it->second.second;
      }
    }
    double ms = s["duration"].get<double>();
    depth_and_parent_ms[s["spanId"].get<std::string>()] = {depth, ms};
    char head[64];
    const std::string took = duration_text(ms);
    if (parent_ms > 0)
      std::snprintf(head, sizeof head, "%s %5.1f%%  ", took.c_str(), 100.0 * ms / parent_ms);
    else
      std::snprintf(head, sizeof head, "%s %6s  ", took.c_str(), "");
    const std::string name = printable(s["function"].get<std::string>());
    std::string args;
    if (s["params"].is_object()) {
      json order = s.value("paramOrder", json::array());  // the signature's
      if (order.empty())
        for (const auto& [k, v] : s["params"].items()) order.push_back(k);
      for (const auto& k : order)
        args += (args.empty() ? "" : ", ") + printable(k.get<std::string>()) + "=" +
                compact(s["params"].value(k.get<std::string>(), json()));
    }
    std::string result = s["returnValue"].is_null() ? "" : " -> " + compact(s["returnValue"]);
    std::string indent(static_cast<std::size_t>(std::min(depth, 40)) * 2, ' ');
    std::size_t room = static_cast<std::size_t>(std::max(20, width - 22 - static_cast<int>(indent.size())));
    // Too long for the terminal: the arguments are cut first, then the result, then the call, so that the
    // file stays; with too little room even for it (deep in a tree), the start of its path, never its name.
    constexpr std::size_t kCallMin = 8;
    const std::string file = printable(s["file"].get<std::string>()),
                      at_line = ":" + std::to_string(s.value("line", 0));
    const std::size_t name_cols = columns(file.substr(file.rfind('/') + 1) + at_line) + 1;
    const std::string where =
        "  " + fit_end(file + at_line, std::max(room > kCallMin + 2 ? room - kCallMin - 2 : 0, name_cols));
    const std::size_t fixed = columns(name) + 2 + columns(where);
    if (fixed + columns(result) + columns(args) > room) {
      result = fit(result, std::max<std::size_t>(room > fixed ? (room - fixed) / 2 : 0, 12));
      const std::size_t used = fixed + columns(result);
      args = fit(args, room > used ? std::max<std::size_t>(room - used, 4) : 4);
    }
    const std::size_t call_room = room > columns(where) + kCallMin ? room - columns(where) : kCallMin;
    std::string line = fit(name + "(" + args + ")" + result, call_room) + where;
    bool slow = parent_ms > 0 && ms / parent_ms > 0.5;
    std::cout << c(slow ? "33" : "2", head) << indent << c(s["error"].is_null() ? "0" : "31", line) << "\n";
    if (!s["error"].is_null())
      std::cout << std::string(22, ' ') << indent << c("31", "! " + compact(s["error"])) << "\n";
    // Level 4/5 events, at their offset from the span's start.
    for (const auto& e : s.value("events", json::array())) {
      const std::string kind = e.value("kind", "");
      const json value = e.value("value", json());
      std::string text = kind == "var"          ? printable(e.value("name", "")) + " = " + compact(value)
                         : kind == "checkpoint" ? "checkpoint " + printable(e.value("name", ""))
                                                : kind + " " + compact(e.value("line", json()));
      if (kind != "line" && e.contains("line")) text += " (line " + compact(e["line"]) + ")";
      std::cout << duration_text(e.value("offsetNs", 0.0) / 1e6) << "      +  " << indent << "  "
                << c("2", fit(". " + text, room)) << "\n";
    }
  }
}

// Whether `path` (relative to the working folder) is `folder` or lies inside it, once `.`, `..` and the links
// of both are resolved.
bool lies_in(const std::filesystem::path& path, const std::filesystem::path& folder) {
  auto resolved = [](const std::filesystem::path& x) {  // (as written, when the links cannot be read)
    std::error_code ec;
    auto r = std::filesystem::weakly_canonical(std::filesystem::absolute(x), ec);
    return ec ? std::filesystem::absolute(x).lexically_normal() : r;
  };
  const auto p = resolved(path), f = resolved(folder);
  const auto [fi, pi] = std::mismatch(f.begin(), f.end(), p.begin(), p.end());
  return fi == f.end() || (fi->empty() && std::next(fi) == f.end());  // (the empty name of a trailing '/')
}

// Writes `text` into `output` through a new file beside it that is then renamed over it: a write that fails
// (a full disk) leaves the file that was there as it was, not cut short; and a link named `output` is
// replaced, not the file it leads to. Returns what went wrong, empty when written.
std::string write_replacing(const std::filesystem::path& output, const std::string& text) {
  const std::filesystem::path folder = output.has_parent_path() ? output.parent_path() : ".";
  std::string temp;
  int fd = -1;
  // A name with this process's id, not mkstemp: its file is for its owner alone, while the export should
  // get the mode the umask gives, as when it was written directly.
  for (int n = 0; fd < 0 && n < 100; ++n) {
    temp = (folder / ("." + output.filename().string() + "." + std::to_string(::getpid()) + "-" +
                      std::to_string(n) + ".tmp"))
               .string();
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) return std::strerror(errno);
  }
  if (fd < 0) return std::strerror(EEXIST);
  int error = 0;
  struct stat st {};  // a file replaced keeps its mode
  if (::stat(output.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::fchmod(fd, st.st_mode & 07777) != 0)
    error = errno;
  for (std::size_t at = 0; !error && at < text.size();) {
    const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
    if (n < 0 && errno != EINTR) error = errno;
    if (n > 0) at += static_cast<std::size_t>(n);
  }
  if (!error && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && !error) error = errno;
  if (!error && ::rename(temp.c_str(), output.c_str()) != 0) error = errno;
  if (error) ::unlink(temp.c_str());
  return error ? std::strerror(error) : "";
}

// Converts one binary span file named on the command line into the .jsonl of its name, which removes the
// binary file once every span is written (a query reads only the .jsonl). Throws StoreError with what to do.
json convert_named(const std::string& path) {
  if (::access(path.c_str(), R_OK) != 0)
    throw store::StoreError("traces.not_found", "cannot read " + path + ": " + std::strerror(errno));
  // Opening a FIFO (or a device) to read its header waits for a writer, maybe for ever.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    throw store::StoreError("traces.not_binary",
                            path +
                                " is not a regular file, so not a binary span file (TRACING_FORMAT=binary "
                                "writes <pid>-<start>.bin under traces/); name the .bin file itself");
  SpanFileInfo info = inspect_span_file(path);
  if (!info.valid && info.version)
    throw store::StoreError("traces.not_binary", unreadable_version(path, info.version));
  if (!info.valid)
    throw store::StoreError("traces.not_binary", path +
                                                     " is not a binary span file (TRACING_FORMAT=binary "
                                                     "writes <pid>-<start>.bin under traces/)");
  if (info.running)
    throw store::StoreError("traces.still_running", path + " is still being written by process " +
                                                        std::to_string(info.pid) +
                                                        ": convert it when the program has exited");
  const std::string jsonl = span_file_jsonl(path);
  if (holds_other_lines(jsonl))
    throw store::StoreError("traces.jsonl_exists",
                            jsonl + " already exists: converting " + path +
                                " would write over it; move it away (or delete it), then convert again");
  ConvertResult r = convert_span_file(path);
  if (!r.ok) throw store::StoreError("traces.convert_failed", r.error);
  const bool removed = ::access(path.c_str(), F_OK) != 0 && errno == ENOENT;
  return {
      {"file", path}, {"jsonl", r.jsonl}, {"spans", r.spans}, {"complete", r.complete}, {"removed", removed}};
}

// Runs a command body; store errors go to stderr, and exit 2 for a bad value given (as the usage errors and
// `logs search` do), else 1.
template <class F>
void run(F body) {
  try {
    body();
  } catch (const store::StoreError& e) {
    std::string message = e.what();  // written for agents: the MCP tools' names become the commands'
    for (const auto& [tool, command] :
         {std::pair<std::string, std::string>{"find_slow_traces", "`agentlog traces slow`"},
          {"search_traces", "`agentlog traces search`"},
          {"get_trace_stats", "`agentlog traces stats`"},  // (before get_trace, which it starts with)
          {"get_trace", "`agentlog traces show`"}})
      for (std::size_t at; (at = message.find(tool)) != std::string::npos;)
        message.replace(at, tool.size(), command);
    std::cerr << "agentlog traces: " << message << "\n";
    throw CLI::RuntimeError(e.id().rfind("traces.bad_", 0) == 0 ? 2 : 1);
  }
}

}  // namespace

void add_traces_commands(CLI::App& app) {
  auto* traces = app.add_subcommand("traces", "Search and show recorded traces");
  traces->require_subcommand(1);
  static CliCommon common;

  auto* search =
      traces->add_subcommand("search", "Traces whose spans match all the given filters, newest first");
  static std::string query, min_d, max_d, file, function, since, until, cursor;
  static std::vector<std::string> words;
  static bool errors_only = false;
  static int limit = 20;
  add_common_options(search, common);
  search->add_option("query", words,
                     "Words in function, file, parameters, return values or errors (all must be in one span; "
                     "case and accents are ignored, punctuation and symbols separate words)");
  search->add_option("--min-duration", min_d, "e.g. 10ms, 1.5s");
  search->add_option("--max-duration", max_d);
  search->add_option("--file", file);
  search->add_option("--function", function);
  search->add_option("--since", since, "ISO-8601 or an age (1h, 2d)");
  search->add_option("--until", until);
  search->add_flag("--errors-only", errors_only);
  search->add_option("--limit", limit, "At most this many (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  search->add_option("--cursor", cursor);
  search->callback([] {
    run([] {
      query.clear();
      for (const auto& w : words) query += (query.empty() ? "" : " ") + w;
      json a = json::object();
      for (auto [k, v] : {std::pair{"query", &query},
                          {"minDuration", &min_d},
                          {"maxDuration", &max_d},
                          {"file", &file},
                          {"function", &function},
                          {"since", &since},
                          {"until", &until},
                          {"cursor", &cursor}})
        if (!v->empty()) a[k] = *v;
      a["errorsOnly"] = errors_only;
      a["limit"] = limit;
      store::TraceStore& index = trace_store(ToolsContext{common.layout()});
      json out = index.search(search_query_from(a));
      if (common.json) return print_json(out);
      print_summaries(out["traces"], Colour{stdout_is_tty()}, index,
                      "No trace matches. Loosen the filters (agentlog traces search --help lists them).");
      if (out["nextCursor"].is_string())
        std::cout << "more: --cursor " << out["nextCursor"].get<std::string>() << "\n";
    });
  });

  auto* show =
      traces->add_subcommand("show", "The call tree of one trace with durations, arguments and results");
  static std::string trace_id;
  add_common_options(show, common);
  show->add_option("traceId", trace_id, "Trace id (from search or slow)")->required();
  show->callback([] {
    run([] {
      json t = trace_store(ToolsContext{common.layout()}).get_trace(trace_id);
      if (common.json) return print_json(t);
      print_tree(t, Colour{stdout_is_tty()});
    });
  });

  auto* slow = traces->add_subcommand("slow", "The slowest traces");
  static std::string threshold = "0";
  add_common_options(slow, common);
  slow->add_option("--threshold", threshold, "Minimum duration (ms or 250ms, 1.5s)")->capture_default_str();
  slow->add_option("--limit", limit, "At most this many (1-1000)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  slow->callback([] {
    run([] {
      store::TraceStore& index = trace_store(ToolsContext{common.layout()});
      json out = index.find_slow(store::parse_duration_ms(json(threshold)), limit);
      if (common.json) return print_json(out);
      print_summaries(out["traces"], Colour{stdout_is_tty()}, index,
                      "No trace took that long. Lower --threshold (0 lists the slowest).");
    });
  });

  auto* stats =
      traces->add_subcommand("stats", "count, mean, p50/p95/p99, max and error rate of a file or function");
  add_common_options(stats, common);
  stats->add_option("file", file, "Source file (or path suffix)")->required();
  stats->add_option("function", function, "Function (optional)");
  stats->callback([] {
    run([] {
      json s = trace_store(ToolsContext{common.layout()}).stats(file, function);
      if (common.json) return print_json(s);
      std::printf("%s%s\n  count %lld  errors %.1f%%\n", file.c_str(),
                  function.empty() ? "" : ("::" + function).c_str(), s["count"].get<long long>(),
                  100.0 * s["errorRate"].get<double>());
      // In the units `show` uses: in ms alone, a function of 500 ns read "mean 0.000  p50 0.000".
      for (const char* key : {"mean", "p50", "p95", "p99", "max"}) {
        const std::string took = duration_text(s[key].get<double>());
        std::cout << "  " << key << " " << took.substr(took.find_first_not_of(' '));
      }
      std::cout << "\n";
      for (const auto& id : s["slowestTraceIds"]) std::cout << "  slow: " << id.get<std::string>() << "\n";
    });
  });

  auto* reindex = traces->add_subcommand("reindex", "Rebuild traces/index.sqlite from the span files");
  add_common_options(reindex, common);
  reindex->callback([] {
    run([] {
      json r = trace_store(ToolsContext{common.layout()}).reindex().to_json();
      if (common.json) return print_json(r);
      std::cout << "indexed " << r["spans"] << " spans from " << r["files"] << " files (" << r["corruptLines"]
                << " corrupt lines skipped)\n";
    });
  });

  auto* convert = traces->add_subcommand(
      "convert",
      "Turn binary span files (TRACING_FORMAT=binary) into the JSONL the runtime writes by default, in the "
      ".jsonl of the same name; each .bin is removed once converted. With files, every one is tried, and "
      "the exit status is 1 if any failed (--json: an array of {file, jsonl, spans, complete, removed} or "
      "{file, error}); without, --json prints the ingest report");
  static std::vector<std::string> binaries;
  add_common_options(convert, common);
  convert->add_option("files", binaries,
                      "Binary span files (.bin), each removed once converted; default: every one under "
                      "traces/ whose program has stopped");
  convert->callback([] {
    run([] {
      if (binaries.empty()) {  // what every query does first
        json r = trace_store(ToolsContext{common.layout()}).ingest().to_json();
        if (common.json) return print_json(r);
        std::cout
            << "converted " << r["convertedFiles"] << " binary span files; " << r["waitingFiles"]
            << " of running programs (agentlog serve converts them as they grow, any agentlog once their "
               "program exits)\n";
        if (r["unreadableFiles"] > 0)
          std::cout << r["unreadableFiles"] << " binary span files left as they are; the first: "
                    << r["unreadable"].get<std::string>() << "\n";
        return;
      }
      // Every file named is tried, whatever became of the ones before it: a damaged file in the middle
      // stopped the rest, and in --json hid the files already converted (and removed).
      json out = json::array();
      bool failed = false;
      for (const auto& path : binaries) {
        try {
          json done = convert_named(path);
          if (!common.json)
            std::cout << path << " -> " << done["jsonl"].get<std::string>() << " (" << done["spans"]
                      << " spans"
                      << (done["complete"].get<bool>() ? "" : ", cut short: its program was killed")
                      << (done["removed"].get<bool>() ? "; " + path + " removed)\n" : ")\n");
          out.push_back(std::move(done));
        } catch (const std::exception& e) {  // a StoreError, or memory a damaged file asked for
          failed = true;
          const std::string message = dynamic_cast<const store::StoreError*>(&e)
                                          ? std::string(e.what())
                                          : "cannot convert " + path + ": " + e.what();
          if (!common.json) std::cerr << "agentlog traces: " << message << "\n";
          out.push_back({{"file", path}, {"error", message}});
        }
      }
      if (common.json) print_json(out);
      if (failed) throw CLI::RuntimeError(1);
    });
  });

  auto* exp =
      traces->add_subcommand("export", "Write one trace as Chrome trace-event JSON (Perfetto) or OTLP/JSON");
  static std::string format = "chrome", output;
  add_common_options(exp, common);
  exp->add_option("traceId", trace_id)->required();
  exp->add_option("--format", format, "chrome | otlp")
      ->check(CLI::IsMember({"chrome", "otlp"}))
      ->capture_default_str();
  exp->add_option("-o,--output", output,
                  "File to write, replaced whole once written (default, or -: stdout); not under "
                  ".ai-agents/logging/");
  exp->callback([] {
    run([] {
      ProjectLayout layout = common.layout();
      // The span files are the source of truth: an export written over one replaced its spans.
      if (!output.empty() && output != "-" && lies_in(output, layout.base())) {
        std::cerr << "agentlog traces export: " << output << " is inside " << layout.base().string()
                  << ", where agentlog keeps its span files, logs and index (writing there replaces what "
                     "they hold): give -o a file outside it, or - (or no -o) for stdout\n";
        throw CLI::RuntimeError(2);
      }
      auto& st = trace_store(ToolsContext{layout});
      json out = format == "chrome" ? st.export_chrome(trace_id)
                                    : st.export_otlp(trace_id, layout.root.filename().string());
      if (output.empty() || output == "-") {
        std::cout << out.dump() << "\n";
      } else {
        const std::string error = write_replacing(output, out.dump() + "\n");
        if (!error.empty()) {
          std::cerr << "agentlog traces export: cannot write " << output << ": " << error
                    << " (give -o a file in a folder that exists and that you may write, or leave -o out for "
                       "stdout)\n";
          throw CLI::RuntimeError(1);
        }
        std::cerr << "wrote " << output << "\n";
      }
    });
  });
}

}  // namespace agentlog
