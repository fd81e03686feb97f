// The libclang instrumenter: computes the edits that insert the tracing runtime's macros into one C/C++
// file (DESIGN.md, Tracing), applies them to the text, and checks the result still parses with no new
// errors. No line is added, so that the edited text's lines are the original's: the include takes an empty
// line (`// agentlog: was an empty line`), else it goes first with a `#line` after it; the rest goes on
// existing lines. Inserted text is always marked (`/* agentlog */` after an inserted statement, `// agentlog`
// at the end of a line with a wrapped return or lambda, or of an inserted line) so that strip() removes
// exactly it.
//
// Thread-safety: every function is independent (each parse has its own CXIndex); call from any thread.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace agentlog::instrument {

struct FunctionEdit {
  std::string name;  // as clang spells it (qualified for methods)
  int line = 0;      // of the function's body in the original text
  int level = 0;
  bool returns_wrapped = false;
};

struct Result {
  std::string text;                   // the instrumented text (== input when nothing applies)
  std::vector<FunctionEdit> functions;
  std::vector<std::string> diagnostics;  // errors the instrumented text has that the original had not
  std::vector<std::string> notes;        // e.g. "no compile_commands.json: parsed with -std=c++17"
  bool ok = true;                        // false: the edit would break the file; nothing should be written
  bool source_broken = false;  // with !ok: the diagnostics are the file's own (it does not parse as it is)
};

struct Options {
  int level = 1;                        // 1..5
  std::vector<std::string> functions;   // only these (plain or qualified names); empty = all
  std::string runtime_include;          // the #include path, relative to the file
  std::vector<std::string> compile_args;  // flags for parsing (empty: found or guessed, see compile_args_for)
};

// Instruments `text` (the content of `path`, already stripped of earlier instrumentation).
Result instrument(const std::filesystem::path& path, const std::string& text, const Options& options);

// Removes every inserted line and statement; unwraps AGENTLOG_RETURN(...). Only the exact text instrument()
// inserts, in code: the same text in a string literal or a comment stays. Returns the text unchanged when it
// holds no instrumentation.
std::string strip(const std::string& text);
// Whether the text holds the runtime's include line as instrument() writes it (in code), as every
// instrumented file does.
bool is_instrumented(const std::string& text);

// Flags for parsing `path`: from a compile_commands.json in the file's folder or above (also in build*/
// folders there), else defaults. `note` says which.
std::vector<std::string> compile_args_for(const std::filesystem::path& path, const std::filesystem::path& project_root,
                                          std::string& note);

// A unified diff of two texts (for dry runs).
std::string unified_diff(const std::string& path, const std::string& before, const std::string& after);

}  // namespace agentlog::instrument
