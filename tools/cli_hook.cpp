// agentlog hook pre-tool-use | post-tool-use: Claude Code hooks (installed by `agentlog init --claude`).
// pre-tool-use blocks (exit 2, the reason on stderr) edits of protected files and shell commands that name
// one and are not plain reads; post-tool-use records every tool use of the agent in the audit log.
#include <fnmatch.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "logger/event_writer.hpp"
#include "mcp/json_rpc.hpp"
#include "policy/audit.hpp"
#include "policy/paths.hpp"
#include "tools/cli.hpp"
#include "tools/context.hpp"
#include "tools/shell_line.hpp"

namespace agentlog {

namespace {

// File names that are agentlog's own wherever they appear in a command (a path hidden in a script's text).
const char* const kProtectedNames[] = {".env.tracing", ".env.logging", "audit/actions.jsonl",
                                       "audit/head.json"};

bool names_protected(const std::string& text) {
  for (const char* m : kProtectedNames)
    if (text.find(m) != std::string::npos) return true;
  return false;
}

// Text that may lead to a protected file: its names, or the folders holding them. Used where a command runs
// text as code (a script, what is piped into a shell) or where the hook cannot follow the shell.
bool mentions_protected(const std::string& text) {
  return names_protected(text) || text.find("ai-agents") != std::string::npos ||
         text.find(".claude") != std::string::npos;
}

// Whether `pattern`, a path component that may be a shell glob, can stand for `name` (as bash expands it: a
// leading '.' only by a '.', unless the component holds a value the hook cannot know).
bool component_matches(std::string pattern, const char* name) {
  const bool unknown = pattern.find(kUnknown) != std::string::npos;
  std::replace(pattern.begin(), pattern.end(), kUnknown, '*');
  return fnmatch(pattern.c_str(), name, unknown ? FNM_PATHNAME : FNM_PATHNAME | FNM_PERIOD) == 0;
}
bool unknown_value(const std::string& component) { return component.find(kUnknown) != std::string::npos; }

// The names of a path's folders and file, `..` and `.` resolved as written (links not followed).
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  for (const auto& part : fs::path(path).lexically_normal())
    if (!part.empty() && part != "/") parts.push_back(part.string());
  return parts;
}

// A path, a shell word, that names a protected file or a folder holding one, in any project: .ai-agents,
// .ai-agents/logging, its config/ (holding the .env files), audit/ and approvals/ and what is in them. Also
// through a glob on any component (`.ai-agent?/logging/conf*`, `.[a]i-agents`, `.??*`), since removing or
// moving the folder removes the files (and `serve` would then make permissive defaults again).
bool covers_protected(const std::string& word) {
  const std::vector<std::string> parts = components(word);
  const std::size_t n = parts.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (!component_matches(parts[i], ".ai-agents")) continue;
    // Past a value the hook cannot know, only names written out count: `"$dir"/logging/config`, not
    // `"$dir"/*` (ordinary work).
    const bool guessed = unknown_value(parts[i]);
    auto is = [&](std::size_t k, const char* name) {
      return guessed ? parts[k] == name : component_matches(parts[k], name);
    };
    if (i + 1 == n) {
      if (guessed) continue;
      return true;
    }
    if (!is(i + 1, "logging")) continue;
    if (i + 2 == n) return true;
    if (is(i + 2, "audit") || is(i + 2, "approvals")) return true;
    if (is(i + 2, "config") && (i + 3 == n || is(i + 3, ".env.tracing") || is(i + 3, ".env.logging") ||
                                parts[i + 3].starts_with(".env")))
      return true;
  }
  return false;
}

// Claude Code's settings, which register this guard (the agent turning it off would not be audited), or the
// .claude folder holding them; also through a glob.
bool claude_settings(const std::string& path) {
  const std::vector<std::string> parts = components(path);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (!component_matches(parts[i], ".claude")) continue;
    const bool guessed = unknown_value(parts[i]);  // past it, only names written out count (as above)
    auto is = [&](const char* name) {
      return guessed ? parts[i + 1] == name : component_matches(parts[i + 1], name);
    };
    if ((i + 1 == parts.size() && !guessed) ||
        (i + 2 == parts.size() && (is("settings.json") || is("settings.local.json"))))
      return true;
  }
  return false;
}

// A word as a path: `$PWD`, `$HOME`, `$CLAUDE_PROJECT_DIR` and a leading `~` replaced by their values (`$PWD`
// is the folder the command runs in; `$OLDPWD` is not known).
std::string expanded(std::string w, const fs::path& cwd) {
  const char* project = std::getenv("CLAUDE_PROJECT_DIR");
  const char* home = std::getenv("HOME");
  const std::pair<const char*, std::string> vars[] = {
      {"$CLAUDE_PROJECT_DIR", project ? project : std::string(1, kUnknown)},
      {"$PWD", cwd.empty() ? std::string(1, kUnknown) : cwd.string()},
      {"$HOME", home ? home : std::string(1, kUnknown)},
      {"$OLDPWD", std::string(1, kUnknown)}};
  for (const auto& [name, value] : vars)
    for (std::size_t at; (at = w.find(name)) != std::string::npos;) w.replace(at, std::strlen(name), value);
  if (w.starts_with("~/") && home) w = home + w.substr(1);
  return w;
}

// A word names a protected file or a folder holding one: as written, and relative to the directory the
// command runs in (the agent's shell keeps the folder it went into; empty: a folder the hook cannot know,
// where `config` or `audit` may be the protected ones).
bool word_protected(std::string w, const fs::path& cwd, bool option_value = false) {
  if (names_protected(w))
    return true;  // a path hidden in a script's text (python3 -c 'open(".env.tracing")')
  if (w.starts_with("--exclude") || w.starts_with("--ignore")) return false;  // keeps the folder out
  if (const std::size_t eq = w.find('=');
      !option_value && eq != std::string::npos && word_protected(w.substr(eq + 1), cwd, true))
    return true;  // --output=PATH
  if (w.size() > 2 && w[0] == '-' && w[1] != '-')  // -t.claude, -o.ai-agents/...: a short option's value
    for (std::size_t k = 2; k < w.size() && k < 5; ++k)
      if (!option_value && word_protected(w.substr(k), cwd, true)) return true;  // (once: `-=-=-=...`)
  w = expanded(std::move(w), cwd);
  if (covers_protected(w) || claude_settings(w)) return true;
  if (w.empty() || w[0] == '/') {
    const bool through_link = w.find("/../") != std::string::npos || w.ends_with("/..");
    std::error_code ec;
    return through_link && covers_protected(fs::weakly_canonical(w, ec).string());  // link/../config
  }
  if (cwd.empty()) {
    const std::vector<std::string> parts = components(w);
    if (parts.empty() || parts[0] == "." || parts[0] == "..") return false;
    return covers_protected(".ai-agents/logging/" + w) || covers_protected(".ai-agents/logging/config/" + w);
  }
  return word_protected((cwd / w).string(), cwd);
}

// Programs that read files and change none (what they print may be redirected: that target is checked on
// its own), as found on PATH or in the system's folders: a program of the same name elsewhere
// (`/tmp/ls`) may be anything.
bool reads_only(const std::vector<std::string>& words) {
  static const char* const reads[] = {
      "cat",     "head",     "tail",     "less",      "more",    "grep",   "rg",        "wc",     "ls",
      "stat",    "du",       "file",     "find",      "jq",      "diff",   "cmp",       "sort",   "uniq",
      "cut",     "tr",       "nl",       "sha256sum", "sha1sum", "md5sum", "sha512sum", "b2sum",  "od",
      "hexdump", "strings",  "column",   "tree",      "test",    "[",      "echo",      "printf", "cd",
      "pwd",     "realpath", "readlink", "basename",  "dirname", "true",   "false",     "mkdir"};
  if (words.empty()) return false;
  const fs::path program(words[0]);
  const std::string folder = program.parent_path().string();
  if (!folder.empty() && folder != "/bin" && folder != "/usr/bin" && folder != "/usr/local/bin") return false;
  const std::string name = program.filename().string();
  for (const auto& w : words)  // options that write a file, or run a program on one
    if (w.starts_with("--output") || w.starts_with("--pre") || w.starts_with("--log-file") ||
        w.starts_with("--ext-diff") || w.starts_with("--textconv"))
      return false;
  if (name == "git")  // git's reading subcommands
    return words.size() > 1 &&
           (words[1] == "diff" || words[1] == "log" || words[1] == "show" || words[1] == "status" ||
            words[1] == "blame" || words[1] == "ls-files" || words[1] == "add" || words[1] == "grep" ||
            words[1] == "rev-parse" || words[1] == "check-ignore");
  if (std::find(std::begin(reads), std::end(reads), name) == std::end(reads)) return false;
  std::size_t operands = 0;
  for (std::size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    const bool short_options = w.size() > 1 && w[0] == '-' && w[1] != '-';
    if (w == "-delete" || w.starts_with("-exec") || w.starts_with("-ok") || w.starts_with("-fprint") ||
        w == "-fls")
      return false;  // find's actions that change files
    if ((name == "sort" || name == "tree") && short_options && w.find('o') != std::string::npos)
      return false;  // sort -o FILE, sort -uo FILE
    if ((name == "less" || name == "more") && short_options &&
        (w.find('o') != std::string::npos || w.find('O') != std::string::npos))
      return false;  // less -o FILE: a log of what it shows
    operands += !w.starts_with("-");
  }
  return !(name == "uniq" && operands > 1);  // uniq IN OUT writes OUT
}

// The words of a command that may name files: all but a commit's message (`git commit -m "fix .env.tracing
// parsing"`) and what a command is told to leave alone (`git clean -e .ai-agents`, `find -path X -prune`).
std::vector<std::string> operands(const std::string& name, const std::vector<std::string>& words) {
  const std::string sub = name == "git" && words.size() > 1 ? words[1] : "";
  std::vector<std::string> out;
  for (std::size_t k = 0; k < words.size(); ++k) {
    const std::string& w = words[k];
    if ((sub == "commit" || sub == "tag") && (w == "-m" || w == "--message" || w == "-F" || w == "--file")) {
      ++k;
      continue;
    }
    if ((sub == "commit" || sub == "tag") && (w.starts_with("-m") || w.starts_with("--message="))) continue;
    if (sub == "clean" && (w == "-e" || w == "--exclude")) {
      ++k;
      continue;
    }
    if (sub == "clean" && (w.starts_with("-e") || w.starts_with("--exclude="))) continue;
    if (name == "find" && k + 2 < words.size() && words[k + 2] == "-prune") {
      k += 1;  // -path X -prune
      continue;
    }
    out.push_back(w);
  }
  return out;
}

// find's patterns (-name, -path and the like) that can match a protected file or folder: find then names it
// as surely as a path would (`find . -name '*.tracing' -delete`).
bool find_matches_protected(const std::vector<std::string>& words) {
  static const char* const names[] = {".env.tracing", ".env.logging", "actions.jsonl", "head.json",
                                      "config",       "audit",        "approvals",     ".ai-agents"};
  static const char* const paths[] = {"./.ai-agents/logging/config/.env.tracing",
                                      "./.ai-agents/logging/audit/actions.jsonl",
                                      "./.ai-agents/logging/approvals", "./.ai-agents"};
  for (std::size_t k = 0; k + 1 < words.size(); ++k) {
    const std::string& option = words[k];
    const bool fold = option.starts_with("-i");
    const int flags = fold ? FNM_CASEFOLD : 0;
    if (option == "-name" || option == "-iname") {
      for (const char* n : names)
        if (fnmatch(words[k + 1].c_str(), n, flags) == 0) return true;
    } else if (option == "-path" || option == "-ipath" || option == "-wholename" || option == "-iwholename") {
      for (const char* p : paths)
        if (fnmatch(words[k + 1].c_str(), p, flags) == 0) return true;
    } else if (option.find("regex") != std::string::npos) {
      return true;  // a regular expression: what it matches, the hook does not work out
    }
  }
  return false;
}

// Why a git command would take the untracked .ai-agents tree away (the audit log and the human's .env files
// with it, and `serve` would then make permissive defaults), or empty: `git clean -f` without `-e
// .ai-agents`, `git stash -u|-a` without paths.
std::string cleans_project(const std::string& line) {
  for (const auto& cmd : parse_shell(line).commands) {
    const auto& w = cmd.words;
    auto git = std::find_if(w.begin(), w.end(),
                            [](const std::string& x) { return fs::path(x).filename() == "git"; });
    if (git == w.end() || git + 1 == w.end()) continue;
    const std::string sub = *(git + 1);
    auto short_flag = [](const std::string& x, char f) {
      return x.size() > 1 && x[0] == '-' && x[1] != '-' && x.find(f) != std::string::npos;
    };
    bool force = false, kept = false, untracked = false, paths = false;
    for (auto k = git + 2; k != w.end(); ++k) {
      if (sub == "clean") {
        if ((short_flag(*k, 'f') && !k->starts_with("-e")) || *k == "--force") force = true;
        if ((*k == "-e" || *k == "--exclude") && k + 1 != w.end() && mentions_protected(*(k + 1)))
          kept = true;
        if ((k->starts_with("-e") || k->starts_with("--exclude=")) && mentions_protected(*k)) kept = true;
      } else if (sub == "stash") {
        if (short_flag(*k, 'u') || short_flag(*k, 'a') || *k == "--include-untracked" || *k == "--all")
          untracked = true;
        if (*k == "--") paths = true;
      }
    }
    if (force && !kept)
      return "git clean -f removes the untracked .ai-agents/ tree with the audit log and the human's .env "
             "files: "
             "keep it out with -e .ai-agents (git clean -fdx -e .ai-agents), or ask the human";
    if (untracked && !paths)
      return "git stash with untracked files takes the untracked .ai-agents/ tree away with the audit log "
             "and the "
             "human's .env files: name what to stash (git stash push -u -- src/), or ask the human";
  }
  return "";
}

bool is_shell(const std::string& name) {
  return name == "sh" || name == "bash" || name == "zsh" || name == "dash" || name == "ksh";
}

// Programs that run code they are given (a script's text, their input): what they run is what they do.
bool runs_code(const std::string& name) {
  static const char* const runners[] = {"sh",     "bash",    "zsh",     "dash", "ksh",   "source", ".",
                                        "python", "python3", "python2", "perl", "ruby",  "node",   "php",
                                        "lua",    "Rscript", "awk",     "gawk", "xargs", "env",    "exec",
                                        "nohup",  "timeout", "watch",   "sudo", "su",    "script"};
  return std::find(std::begin(runners), std::end(runners), name) != std::end(runners);
}

// Environment variables a read may be given without changing what it does.
bool harmless_variable(const std::string& assignment) {
  const std::string name = assignment.substr(0, assignment.find('='));
  return name.starts_with("LC_") || name == "LANG" || name == "TZ" || name == "NO_COLOR" || name == "TERM" ||
         name == "COLUMNS" || name.starts_with("GREP_");
}

// A command that leaves the protected files as they are: each of its commands that names one, or a folder
// holding one, only reads, and so does every command its output is piped into (`| xargs sed -i` is not a
// read); nothing is redirected into one; the code it runs first (`$(...)`, backquotes) and the code it gives
// a shell (`sh -c`, `eval`, a here-doc, a pipe into `bash`) are held to the same. `touched`: whether it names
// one (its output may then be a protected path, for the command whose word it becomes).
bool plain_read(const std::string& line, fs::path cwd, int depth = 0, bool* touched = nullptr) {
  if (depth > 4) return false;
  const ShellLine parsed = parse_shell(line);
  if (parsed.opaque && mentions_protected(line)) return false;
  bool touches = false;
  bool tainted = false;       // the pipeline's earlier command read a protected file
  bool code_in_pipe = false;  // the pipeline's earlier command printed text that mentions one
  for (const auto& cmd : parsed.commands) {
    std::vector<std::string> words = cmd.words;
    bool names = false;
    for (const auto& sub : cmd.substitutions) {  // run first; their output becomes this command's words
      bool sub_touched = false;
      if (!plain_read(sub, cwd, depth + 1, &sub_touched)) return false;
      names = names || sub_touched;
    }
    // NAME=value before a command is its environment; alone, an assignment (of a path, maybe) is not a read.
    bool assigned = false, risky_environment = false;
    while (!words.empty() && words[0].find('=') != std::string::npos && words[0][0] != '=' &&
           words[0][0] != '-') {
      assigned = assigned || word_protected(words[0].substr(words[0].find('=') + 1), cwd);
      risky_environment = risky_environment || !harmless_variable(words[0]);
      words.erase(words.begin());
    }
    // What they run is the command that follows: the shell's keywords, `time -p`, `command -p`.
    static const char* const lead[] = {"time", "command", "builtin", "!", "if",   "then",  "else", "elif",
                                       "do",   "while",   "until",   "{", "exec", "nohup", "nice", "stdbuf"};
    while (!words.empty() && std::find(std::begin(lead), std::end(lead), words[0]) != std::end(lead)) {
      words.erase(words.begin());
      while (!words.empty() && words[0].size() > 1 && words[0][0] == '-') words.erase(words.begin());
    }
    for (const auto& t : cmd.targets)
      if (word_protected(t, cwd)) return false;
    const std::string name = words.empty() ? "" : fs::path(words[0]).filename().string();
    const bool shell = is_shell(name);
    if (name == "alias" || name == "function" || name == "shopt" || name == "hash" || name == "enable") {
      // What the line's commands then are, or what its globs match (`shopt -s dotglob`), the hook cannot
      // know.
      if (mentions_protected(line) || line.find("logging") != std::string::npos ||
          line.find("config") != std::string::npos)
        return false;
    }
    if (name == "eval") {  // its words, joined, are the code it runs
      std::string code;
      for (std::size_t k = 1; k < words.size(); ++k) code += words[k] + " ";
      if (!plain_read(code, cwd, depth + 1)) return false;
    } else if (shell) {  // the code it runs: -c's text, its script file, its input
      std::vector<std::string> code = cmd.inputs;
      bool dash_c = false, script = false;
      for (std::size_t k = 1; k < words.size(); ++k) {
        const std::string& w = words[k];
        if (w.size() > 1 && w[0] == '-' && !script) {
          dash_c = dash_c || (w[1] != '-' && w.find('c') != std::string::npos);
        } else if (!script) {
          script = true;
          if (dash_c) {
            code.push_back(w);
          } else if (std::ifstream in(cwd / w); in) {
            code.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
          } else if (mentions_protected(line)) {
            return false;  // a script the hook cannot read (not there yet), on a line about protected files
          }
        }
      }
      if (!script && cmd.piped && code_in_pipe) return false;  // `echo 'rm -rf .ai-agents' | bash`
      for (const auto& c : code)
        if (!plain_read(c, cwd, depth + 1)) return false;
    } else if (runs_code(name) || name == "ln") {
      // What python -c, awk or xargs are given, and where ln makes a link (a link into the folder reaches its
      // files by `link/..`), is judged by its text.
      for (const auto& t : cmd.inputs)
        if (mentions_protected(t)) return false;
      for (const auto& t : cmd.substitutions)  // `source <(echo ...)`: their output may be the code
        if (mentions_protected(t)) return false;
      if (std::any_of(words.begin(), words.end(), mentions_protected) || (cmd.piped && code_in_pipe))
        return false;
    }
    for (std::size_t k = 1; k + 2 < words.size(); ++k) {  // `find -exec sh -c '...'`, `xargs bash -c '...'`
      if (is_shell(fs::path(words[k]).filename().string()) && words[k + 1].size() > 1 &&
          words[k + 1][0] == '-' && words[k + 1].find('c') != std::string::npos &&
          !plain_read(words[k + 2], cwd, depth + 1))
        return false;
    }
    const std::vector<std::string> named = operands(name, words);
    names =
        names || assigned || (name == "find" && find_matches_protected(named)) ||
        std::any_of(named.begin(), named.end(), [&](const std::string& w) { return word_protected(w, cwd); });
    touches = touches || names;
    if (!cmd.piped) tainted = code_in_pipe = false;
    const bool tee_elsewhere = name == "tee" && !names;  // copies what it reads into files of its own
    if ((names || tainted) && (!reads_only(words) || risky_environment) && !tee_elsewhere) return false;
    tainted = tainted || names;
    code_in_pipe =
        code_in_pipe || std::any_of(named.begin(), named.end(), [](const std::string& w) {
          return mentions_protected(w) && !w.starts_with("--exclude") && !w.starts_with("--ignore");
        });
    if (name == "cd") {  // later commands run there; a folder the hook cannot know leaves it unknown
      std::size_t k = 1;
      while (k < words.size() && words[k].size() > 1 && words[k][0] == '-') ++k;
      const char* home = std::getenv("HOME");
      const std::string to = k < words.size() ? expanded(words[k], cwd) : (home ? home : "");
      if (to.empty() || to == "-" || to.find(kUnknown) != std::string::npos)
        cwd.clear();
      else
        cwd = (fs::path(to).is_absolute() ? fs::path(to) : cwd / to).lexically_normal();
    }
  }
  if (touched) *touched = touches;
  return true;
}

// Words in another MCP server's tool names: one that reads (its paths may be protected files), one that runs
// a command (held to what the Bash tool is).
const char* const kReadingVerbs[] = {"read", "list", "get", "search", "view", "stat", "info", "find", "tree"};
const char* const kRunningVerbs[] = {"command", "exec", "shell", "bash", "terminal", "run", "process"};

// Whether a line runs the human's `agentlog approvals approve|deny`: agentlog's approvals command with
// anything but its listing after it, wherever it appears (a later command, a `$(...)`, a script's text), or
// agentlog given a word the hook cannot read (`agentlog $a ...`), or `approvals approve` after a program the
// hook cannot name (`$(which agentlog) approvals approve ...`).
bool runs_approvals(const std::string& line, int depth = 0) {
  if (depth > 4) return true;
  const ShellLine parsed = parse_shell(line);
  std::vector<std::string> tokens;  // the line's words as the shell passes them, across its commands
  for (const auto& cmd : parsed.commands) {
    for (const auto& text : cmd.substitutions)
      if (runs_approvals(text, depth + 1)) return true;
    for (const auto& text : cmd.inputs)
      if (runs_approvals(text, depth + 1)) return true;
    for (const auto& w : cmd.words) {
      if (w.find_first_of(" \t\n;&|") != std::string::npos && runs_approvals(w, depth + 1))
        return true;  // a script's text: sh -c '...', find -exec sh -c '...'
      tokens.push_back(fs::path(w).filename().string());
    }
    const auto& w = cmd.words;
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (fs::path(w[i]).filename() != "agentlog") continue;
      if (i + 1 == w.size()) {
        if (cmd.piped) return true;  // its arguments from the pipe (xargs)
        continue;
      }
      const std::string& sub = w[i + 1];
      if (sub.find(kUnknown) != std::string::npos) return true;
      if (sub == "approvals" &&
          !(i + 2 < w.size() && (w[i + 2] == "list" || w[i + 2] == "--help" || w[i + 2] == "-h")))
        return true;
    }
  }
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i)
    if (tokens[i] == "approvals" && (tokens[i + 1] == "approve" || tokens[i + 1] == "deny")) return true;
  return false;
}

// The project whose guard this is: --root, else the one Claude Code runs in ($CLAUDE_PROJECT_DIR), else the
// one holding the hook's cwd. (The agent's cwd alone would let it walk out of the project it guards.)
ProjectLayout layout_for(const CliCommon& common, const json& input) {
  if (!common.root.empty()) return common.layout();
  if (const char* dir = std::getenv("CLAUDE_PROJECT_DIR"); dir && *dir) return ProjectLayout::discover(dir);
  std::error_code ec;
  if (input.contains("cwd") && input["cwd"].is_string() &&
      fs::is_directory(input["cwd"].get<std::string>(), ec))
    return ProjectLayout::discover(input["cwd"].get<std::string>());
  return common.layout();
}

// The project whose .ai-agents tree `named` lies in, when it has one: a refused edit of its files is
// recorded in its audit log.
std::optional<ProjectLayout> owning_project(const fs::path& named) {
  fs::path prefix, owner;
  for (const auto& part : named.lexically_normal()) {
    if (part == ".ai-agents") owner = prefix;
    prefix /= part;
  }
  std::error_code ec;
  if (owner.empty() || !fs::is_directory(ProjectLayout::at(owner).base(), ec)) return std::nullopt;
  return ProjectLayout::at(owner);
}

// A crash (a stack overflow included: the handler has a stack of its own) or 10 s without an answer exits 2
// with a reason, as Claude Code needs to block the tool use; any other ending lets it run.
void fail_closed_on_crash() {
  static char stack[64 * 1024];
  stack_t alt{};
  alt.ss_sp = stack;
  alt.ss_size = sizeof stack;
  ::sigaltstack(&alt, nullptr);
  struct sigaction action {};
  action.sa_handler = [](int) {
    static const char reason[] =
        "agentlog: blocked: the hook could not decide on this input (it failed or took over 10 s); please "
        "report it to agentlog's developers\n";
    [[maybe_unused]] auto written = ::write(2, reason, sizeof reason - 1);
    ::_exit(2);
  };
  action.sa_flags = SA_ONSTACK;
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM}) ::sigaction(sig, &action, nullptr);
  ::alarm(10);
}

// The hook's JSON; what nests deeper than an MCP message may is left out (and said), so that nothing after
// this walks it recursively.
json read_input(bool& too_deep) {
  std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  too_deep = false;
  return json::parse(
      raw,
      [&](int depth, json::parse_event_t, json&) {
        if (depth <= static_cast<int>(mcp::kMaxNesting)) return true;
        too_deep = true;
        return false;
      },
      false);
}

void audit(const ProjectLayout& layout, const json& input, const std::string& decision, const std::string& error) {
  const json tool_input = policy::redact(input.value("tool_input", json::object()));
  std::string args = tool_input.dump(-1, ' ', false, json::error_handler_t::replace);
  json arguments = tool_input;
  if (args.size() > 4000) arguments = policy::utf8_prefix(args, 4000) + "...";  // (the record stays UTF-8)
  json record = {{"time", iso8601_now_ms()},
                 {"agent", {{"name", "claude-code"}, {"version", "hook"}}},
                 {"session", input.value("session_id", "")},
                 {"tool", "claude:" + input.value("tool_name", "?")},
                 {"arguments", std::move(arguments)},
                 {"decision", decision},
                 {"outcome", decision == "allowed" ? "ok" : "error"},
                 {"durationMs", 0},
                 {"files", json::array()}};
  if (!error.empty()) record["error"] = error;
  remember_action(layout, policy::AuditLog(layout.audit_dir()).append(std::move(record)), "agentlog");
}

// Why the tool use must not happen, or empty; `layout` becomes the project whose files it would change.
// Throws on input that is not Claude Code's (a field of another type): the caller blocks that too.
std::string block_reason(ProjectLayout& layout, const json& input) {
  const std::string tool = input.value("tool_name", "");
  const json tool_input = input.value("tool_input", json::object());
  const fs::path cwd = input.contains("cwd") ? fs::path(input["cwd"].get<std::string>()) : fs::current_path();
  if (tool == "Write" || tool == "Edit" || tool == "MultiEdit" || tool == "NotebookEdit") {
    const std::string path = tool_input.value("file_path", tool_input.value("notebook_path", ""));
    if (path.empty())
      return names_protected(tool_input.dump())
                 ? "the " + tool + " input has no file_path but mentions a protected file"
                 : "";
    // As named (any project's protected files, a link's own name), then as resolved (a link or hard link
    // to one of this project's).
    const fs::path named = fs::path(path).is_absolute() ? fs::path(path) : cwd / path;
    if (covers_protected(named.string())) {
      if (auto owner = owning_project(named)) layout = *owner;
      return named.lexically_normal().string() +
             " is one of agentlog's human-only files (.env files, the audit log, approvals): only the human "
             "may change it";
    }
    if (claude_settings(named.string()))
      return named.lexically_normal().string() +
             " is Claude Code's settings, where agentlog's guard is registered: ask the human to change it";
    auto d = policy::check_path(layout, named.string(), {});  // (relative: to the cwd, as the tool takes it)
    if (d.denial && d.denial->id == "policy.denied.protected_file") return d.denial->message;
  } else if (tool == "Bash") {
    const std::string command = tool_input.value("command", "");
    if (!plain_read(command, cwd))
      return "the command names a protected file (.env files, the audit log, approvals, Claude Code's "
             "settings) "
             "or a folder holding one, and is not a plain read (cat, head, tail, grep, rg, jq, ls, find "
             "without "
             "-delete or -exec, git diff/log/show/status and the like, piped into reads only, nothing "
             "redirected "
             "into such a file); only the human may change these files";
    if (std::string why = cleans_project(command); !why.empty()) return why;
    if (runs_approvals(command))
      return "only the human approves or denies: `agentlog approvals approve|deny` is not for the agent; "
             "ask the human to run it";
  } else if (tool.starts_with("mcp__") && !tool.starts_with("mcp__openmemory-code-global__")) {
    // Another MCP server's tool (a filesystem server's write_file, a desktop server's execute_command): its
    // string arguments are held to what an editor's path and the shell's command are (agentlog's own
    // server checks its arguments itself).
    std::vector<std::string> parts(1);  // the tool's own name in words: read_file, readFile -> read, file
    for (std::size_t k = tool.rfind("__") + 2; k < tool.size(); ++k) {
      const auto c = static_cast<unsigned char>(tool[k]);
      if (!std::isalnum(c) ||
          (std::isupper(c) && k > 0 && std::islower(static_cast<unsigned char>(tool[k - 1]))))
        parts.emplace_back();
      if (std::isalnum(c)) parts.back() += static_cast<char>(std::tolower(c));
    }
    auto has = [&](const auto& verbs) {
      return std::any_of(std::begin(verbs), std::end(verbs), [&](const char* v) {
        return std::find(parts.begin(), parts.end(), v) != parts.end();
      });
    };
    const bool reads = has(kReadingVerbs), runs = has(kRunningVerbs);
    std::string reason;
    // The arguments that are paths or commands by their names (a file's content may mention anything).
    auto named_like = [](std::string key, std::initializer_list<const char*> words) {
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
      return std::any_of(words.begin(), words.end(),
                         [&](const char* w) { return key.find(w) != std::string::npos; });
    };
    std::function<void(const json&, const std::string&)> walk = [&](const json& v, const std::string& key) {
      if (!reason.empty()) return;
      if (v.is_object())
        for (const auto& [k, item] : v.items()) walk(item, k);
      if (v.is_array())
        for (const auto& item : v) walk(item, key);
      if (!v.is_string()) return;
      const std::string text = v.get<std::string>();
      const bool command = runs && named_like(key, {"command", "cmd", "script"});
      const bool path =
          named_like(key, {"path", "file", "dir", "source", "dest", "target", "src", "dst", "folder"});
      if (command ? !plain_read(text, cwd) : (path && !reads && word_protected(text, cwd)))
        reason = tool + " is given `" + policy::utf8_prefix(text, 200) +
                 "`, which names a protected file (.env files, the audit log, approvals, Claude Code's "
                 "settings) or a folder holding one; only the human may change these files";
    };
    walk(tool_input, "");
    return reason;
  }
  return "";
}

}  // namespace

void add_hook_commands(CLI::App& app) {
  auto* hook = app.add_subcommand("hook", "Claude Code hooks: guard protected files, record every agent tool use");
  hook->require_subcommand(1);
  static CliCommon common{.makes_project = true};

  auto* pre = hook->add_subcommand("pre-tool-use", "Reads the PreToolUse JSON on stdin; exit 2 blocks the tool use");
  add_common_options(pre, common);
  pre->callback([] {
    // A guard fails closed: whatever it cannot read or decide is blocked (Claude Code runs the tool on any
    // exit status but 2), a crash or a hang too.
    fail_closed_on_crash();
    auto block = [](const std::string& reason) {
      std::cerr << "agentlog: blocked: " << reason << "\n";
      throw CLI::RuntimeError(2);
    };
    bool too_deep = false;
    json input = read_input(too_deep);
    if (input.is_discarded() || !input.is_object())
      block(
          "the hook input is not a JSON object; `agentlog hook pre-tool-use` reads Claude Code's "
          "PreToolUse JSON on stdin (see .ai-agents/logging/integrations/hooks/)");
    if (too_deep)
      block("the hook input nests deeper than " + std::to_string(mcp::kMaxNesting) +
            " levels; no tool Claude Code guards here takes such input");
    std::string reason;
    ProjectLayout layout;
    try {
      layout = layout_for(common, input);
      reason = block_reason(layout, input);
    } catch (const std::exception& e) {
      block(std::string("the hook input is not Claude Code's PreToolUse JSON (") + e.what() +
            "); `agentlog hook pre-tool-use` reads it on stdin");
    }
    if (reason.empty()) return;
    try {
      audit(layout, input, "denied", "[policy.denied.protected_file] " + reason);
    } catch (const std::exception& e) {
      std::cerr << "agentlog: audit record not written: " << e.what() << "\n";
    }
    block(reason);
  });

  auto* post = hook->add_subcommand("post-tool-use", "Reads the PostToolUse JSON on stdin; records it in the audit log");
  add_common_options(post, common);
  post->callback([] {
    bool too_deep = false;
    json input = read_input(too_deep);
    if (input.is_discarded() || !input.is_object()) {
      std::cerr << "agentlog: post-tool-use input is not JSON; nothing recorded\n";
      return;
    }
    try {
      audit(layout_for(common, input), input, "allowed",
            too_deep ? "[hook.input_too_deep] what the tool input held below " +
                           std::to_string(mcp::kMaxNesting) + " levels is not recorded"
                     : "");
    } catch (const std::exception& e) {
      std::cerr << "agentlog: audit record not written: " << e.what() << "\n";
    }
  });
}

}  // namespace agentlog
