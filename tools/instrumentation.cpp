#include "tools/instrumentation.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "instrument/instrument.hpp"
#include "logger/event_writer.hpp"
#include "logger/files.hpp"
#include "policy/audit.hpp"
#include "policy/paths.hpp"
#include "tools/cli.hpp"
#include "tools/tracing_config.hpp"

namespace agentlog {

namespace fs = std::filesystem;

namespace {

// Read-modify-write of integrations/registry.json under an exclusive lock; keeps every other key.
template <class F>
void update_registry(const ProjectLayout& layout, F change) {
  update_json_file_locked(layout.registry(), [&](json& registry) {
    if (!registry.contains("instrumented") || !registry["instrumented"].is_object()) registry["instrumented"] = json::object();
    change(registry["instrumented"]);
  });
}

json registry_entry(const ProjectLayout& layout, const std::string& file) {
  if (auto text = read_file(layout.registry())) {
    json r = json::parse(*text, nullptr, false);
    if (r.is_object() && r.contains("instrumented") && r["instrumented"].contains(file)) return r["instrumented"][file];
  }
  return nullptr;
}

fs::path backup_path(const ProjectLayout& layout, const std::string& file) { return layout.backups_dir() / (file + ".orig"); }

std::string read_source(const ProjectLayout& layout, const std::string& file) {
  if (fs::path(file).is_absolute() || file.rfind("..", 0) == 0)
    throw mcp::ToolError("instrument.outside_project",
                         file + " is outside the project (" + layout.root.string() +
                             "): only the project's own files are instrumented");
  if (!is_source_file(file))
    throw mcp::ToolError("instrument.not_source", file + " is not a C or C++ source file (.c .cc .cpp .cxx .h .hh .hpp .hxx)");
  // Written in place by renaming a new file over it: a symbolic link would become a copy of what it names
  // (a file outside the project, too). The file it names is instrumented under its own path.
  const fs::path abs = layout.root / file;
  std::error_code ec;
  const fs::path real = fs::canonical(abs, ec);
  if (!ec) {
    const std::string rel = real.lexically_relative(fs::canonical(layout.root, ec)).generic_string();
    if (rel.empty() || rel.rfind("..", 0) == 0)
      throw mcp::ToolError("instrument.outside_project",
                           file + " is " + real.string() +
                               " (through a symbolic link), outside the project: only "
                               "the project's own files are instrumented");
    if (fs::is_symlink(abs))
      throw mcp::ToolError("instrument.symlink",
                           file + " is a symbolic link to " + rel + "; name " + rel +
                               " instead (a link is never replaced by a copy of its file)");
  }
  auto text = read_file(abs);
  if (!text) throw mcp::ToolError("instrument.file_not_found", "No file " + file + " in the project; pass a project-relative path");
  return *text;
}

// The UTF-8 byte order mark some editors write first (Windows ones): it stays the file's first bytes, and
// the instrumenter and strip() work on the text after it (the include line went before it, where a compiler
// takes it for a stray character).
std::string_view bom_of(std::string_view text) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  return text.substr(0, kBom.size()) == kBom ? kBom : std::string_view();
}

// strip() of what follows the mark, after the mark.
std::string strip_keeping_bom(const std::string& text) {
  const std::string_view bom = bom_of(text);
  return std::string(bom) + instrument::strip(text.substr(bom.size()));
}

}  // namespace

void for_each_on_workers(std::size_t count, unsigned workers, const std::function<void(std::size_t)>& task) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < count;) task(i);
  };
  workers = std::max(1u, std::min<unsigned>(workers, static_cast<unsigned>(count)));
  std::vector<std::thread> pool;
  for (unsigned w = 1; w < workers; ++w) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

bool is_source_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (const char* e : {".c", ".cc", ".cpp", ".cxx", ".c++", ".h", ".hh", ".hpp", ".hxx"})
    if (ext == e) return true;
  return false;
}

json instrument_one(const ToolsContext& ctx, const InstrumentRequest& req, std::vector<mcp::FileTouch>* touched) {
  const ProjectLayout& layout = ctx.layout;
  const std::string text = read_source(layout, req.file);
  const std::string original = strip_keeping_bom(text);
  const std::string_view bom = bom_of(original);
  install_templates(layout);  // the runtime headers the include points at
  const fs::path abs = layout.root / req.file;
  const bool c_file = abs.extension() == ".c";
  instrument::Options options;
  options.level = req.level;
  options.functions = req.functions;
  options.runtime_include =
      (layout.runtime_dir() / (c_file ? "agentlog_trace.h" : "agentlog_trace.hpp")).lexically_relative(abs.parent_path()).generic_string();
  std::string note;
  options.compile_args = instrument::compile_args_for(abs, layout.root, note);
  instrument::Result r = instrument::instrument(abs, original.substr(bom.size()), options);
  if (!r.ok) {
    std::string errors;
    for (const auto& d : r.diagnostics) errors += (errors.empty() ? "" : "; ") + d;
    if (r.source_broken)
      throw mcp::ToolError("instrument.source_broken",
                           req.file + " does not compile as it is, so nothing was written: " + errors +
                               ". Fix the file, or give compile_commands.json the flags it is built with.");
    throw mcp::ToolError("instrument.would_break",
                         "Instrumenting " + req.file +
                             " would introduce compile errors, so nothing was written: " + errors +
                             ". Try a lower level or name the functions to instrument.");
  }
  r.text.insert(0, bom);
  json functions = json::array();
  for (const auto& f : r.functions)
    functions.push_back({{"name", f.name}, {"line", f.line}, {"level", f.level}, {"returnsWrapped", f.returns_wrapped}});
  json notes = json::array();
  notes.push_back(note);
  for (const auto& n : r.notes)
    if (n != note) notes.push_back(n);
  // The level in the file is a ceiling: say so when the configuration records less.
  const json config = effective_tracing_config(layout, req.file, "");
  const long long configured = config["effective"]["level"].get<long long>();
  if (configured < req.level)
    notes.push_back(
        "spans of this file record at level " + std::to_string(configured) + " (" +
        config["sources"]["level"].get<std::string>() + "), not " + std::to_string(req.level) +
        ": the level written in the file is a ceiling. Raise the file's level with set_tracing_config "
        "(tracing.config.json) or TRACING_DEFAULT_LEVEL");
  const bool changed = r.text != text;
  json out = {{"file", req.file}, {"level", req.level}, {"changed", changed}, {"functions", functions}, {"notes", notes}};
  if (req.dry_run) {
    out["dryRun"] = true;
    out["diff"] = instrument::unified_diff(req.file, text, r.text);
    return out;
  }
  if (!changed) return out;
  // Keep the true original: the first backup stays while the file's stripped text still matches it.
  const std::string original_hash = policy::sha256_hex(original);
  json entry = registry_entry(layout, req.file);
  fs::path backup = backup_path(layout, req.file);
  if (entry.is_null() || entry.value("originalSha256", "") != original_hash || !fs::exists(backup))
    write_file_atomic(backup, original);
  const std::string before_hash = policy::sha256_hex(text);
  write_file_atomic(abs, r.text);
  const std::string after_hash = policy::sha256_hex(r.text);
  update_registry(layout, [&](json& instrumented) {
    instrumented[req.file] = {{"level", req.level}, {"originalSha256", original_hash}, {"instrumentedSha256", after_hash},
                              {"backup", layout.relative(backup)}, {"functions", functions.size()}};
  });
  if (touched) touched->push_back({req.file, before_hash, after_hash});
  out["backup"] = layout.relative(backup);
  return out;
}

json uninstrument_one(const ToolsContext& ctx, const std::string& file, bool restore, bool dry_run,
                      std::vector<mcp::FileTouch>* touched) {
  const ProjectLayout& layout = ctx.layout;
  const std::string text = read_source(layout, file);
  json entry = registry_entry(layout, file);
  fs::path backup = backup_path(layout, file);
  auto backup_text = read_file(backup);
  // Only a file the registry or a backup names, or that holds the runtime's include line, was instrumented:
  // any other is left byte for byte (a code generator's or a test's text may hold the markers).
  const std::string stripped = strip_keeping_bom(text);
  if (stripped == text || (entry.is_null() && !backup_text && !instrument::is_instrumented(text)))
    return {{"file", file}, {"outcome", "not_instrumented"}, {"changed", false}};
  const bool unedited = !entry.is_null() && entry.value("instrumentedSha256", "") == policy::sha256_hex(text);
  std::string result;
  std::string outcome;
  bool edits_kept = false;
  if (backup_text && (unedited || restore)) {
    result = *backup_text;  // byte for byte
    outcome = "restored";
  } else {
    result = stripped;  // exactly the inserted text goes; the human's or agent's edits stay
    outcome = "stripped";
    edits_kept = true;
  }
  json out = {{"file", file}, {"outcome", outcome}, {"changed", true}, {"editsKept", edits_kept}};
  const bool discards_edits = !unedited && restore && backup_text;
  if (discards_edits) out["editsDiscarded"] = true;
  if (dry_run) {
    out["dryRun"] = true;
    out["diff"] = instrument::unified_diff(file, text, result);
    return out;
  }
  if (discards_edits) {  // restore: the edits leave the file but are not lost: they stay beside the backup
    std::string stamp = iso8601_now_ms();
    std::replace(stamp.begin(), stamp.end(), ':', '-');
    const fs::path kept = layout.backups_dir() / (file + ".edited-" + stamp);
    write_file_atomic(kept, strip_keeping_bom(text));
    out["editsSavedTo"] = layout.relative(kept);
  }
  write_file_atomic(layout.root / file, result);
  update_registry(layout, [&](json& instrumented) { instrumented.erase(file); });
  std::error_code ec;
  fs::remove(backup, ec);
  if (touched) touched->push_back({file, policy::sha256_hex(text), policy::sha256_hex(result)});
  return out;
}

std::vector<std::string> project_sources(const ToolsContext& ctx, const std::vector<std::string>& include,
                                         const std::vector<std::string>& exclude) {
  std::vector<std::string> out;
  std::error_code ec;
  const fs::path root = ctx.layout.root;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory()) {
      if (name.rfind("build", 0) == 0 || name == "third_party" || name == "vendor" || name == "external" ||
          name == "node_modules" || name == ".git" || name == ".ai-agents" || name == "cmake-build-debug" ||
          name == "cmake-build-release")
        it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink()) continue;  // its file, when in the project, is listed under its own path
    std::string rel = ctx.layout.relative(it->path());
    if (!is_source_file(rel)) continue;
    bool included = include.empty();
    for (const auto& g : include) included |= policy::glob_match(g, rel);
    bool excluded = false;
    for (const auto& g : exclude) excluded |= policy::glob_match(g, rel);
    if (included && !excluded) out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> sources_to_instrument(const ToolsContext& ctx,
                                               const std::vector<std::string>& include,
                                               std::vector<std::string> exclude) {
  EnvSettings env = EnvSettings::load(ctx.layout.env_tracing(), tracing_env_keys());
  for (const auto& g : env.get_list("TRACING_EXCLUDE_FILES")) exclude.push_back(g);
  return project_sources(ctx, include, exclude);
}

}  // namespace agentlog
