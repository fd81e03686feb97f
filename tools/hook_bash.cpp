// The Claude Code hook's checks of a shell line (tools/hook_bash.hpp): what decides whether a line only reads
// the protected files, cleans the project, lists the tree, copies out of it, runs a script or the human's
// approvals command. Per-program rules are in hook_rules.cpp, the shell's reading in shell_line.cpp.
#include "tools/hook_bash.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <unordered_set>
#include <vector>

#include "logger/project.hpp"
#include "policy/audit.hpp"
#include "tools/hook_rules.hpp"
#include "tools/shell_line.hpp"

namespace agentlog {

namespace {

// File names that are agentlog's own wherever they appear in a command (a path hidden in a script's text).
const char* const kProtectedNames[] = {".env.tracing",   ".env.logging",    "audit/actions.jsonl",
                                       "state/agentlog", "audit/head.json", "audit/archive"};

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
bool covers_protected(const std::string& word, bool any_env = true) {
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
                                (any_env && parts[i + 3].starts_with(".env"))))
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
  // The settings an administrator manages (`disableAllHooks` there turns every hook off), and their folder:
  // /etc/claude-code, /Library/Application Support/ClaudeCode.
  for (std::size_t i = 1; i < parts.size(); ++i) {
    const bool folder = (parts[i - 1] == "etc" && component_matches(parts[i], "claude-code")) ||
                        (parts[i - 1] == "Application Support" && component_matches(parts[i], "ClaudeCode"));
    if (folder && (i + 1 == parts.size() ||
                   (i + 2 == parts.size() && component_matches(parts[i + 1], "managed-settings.json"))))
      return true;
  }
  return false;
}

// agentlog's audit witnesses, kept outside every project (policy::update_witness): $XDG_STATE_HOME/agentlog,
// else ~/.local/state/agentlog, what is in it, and the state folder holding it. `path` is absolute.
bool witness_store(const std::string& path) {
  const auto state = policy::state_home();
  if (!state) return false;
  const std::vector<std::string> want = components(state->string()), parts = components(path);
  if (parts.size() < want.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (!component_matches(parts[i], want[i].c_str())) return false;
  return parts.size() == want.size() || component_matches(parts[want.size()], "agentlog");
}

// A folder the hook does not know but that is not in the protected tree either (`cd "$(mktemp -d)"`): its
// `config` and `audit` are the agent's. (An empty folder is one that may be anywhere, in the tree too.)
const fs::path kElsewhere = std::string(1, kUnknown);

// `$(git rev-parse --show-toplevel)`'s value in `folder`: the nearest folder holding a `.git`.
std::string git_top_level(const fs::path& folder) {
  std::error_code ec;
  if (folder.is_absolute())
    for (fs::path p = folder.lexically_normal();; p = p.parent_path()) {
      if (fs::exists(p / ".git", ec)) return p.string();
      if (p == p.parent_path()) break;
    }
  return std::string(1, kUnknown);
}

// Whether the line makes a repository (`git init`) before a command that asks for the repository's folder:
// that folder is then not the one on disk now (`cd .ai-agents/logging && git init && cd "$(git rev-parse
// --show-toplevel)"`). Set by plain_read as it reads the line's commands in order.
bool line_runs_git_init = false;

// A word as a path: `$PWD`, `$HOME`, `$CLAUDE_PROJECT_DIR`, the repository's folder and a leading `~`
// replaced by their values (`$PWD` is the folder the command runs in; `$OLDPWD` is not known).
std::string expanded(std::string w, const fs::path& cwd) {
  const char* project = std::getenv("CLAUDE_PROJECT_DIR");
  const char* home = std::getenv("HOME");
  const bool known = !cwd.empty() && cwd != kElsewhere;
  const std::pair<const char*, std::string> vars[] = {
      {"$CLAUDE_PROJECT_DIR", project ? project : std::string(1, kUnknown)},
      {"$PWD", cwd.empty() ? std::string(1, kUnknown) : cwd.string()},
      {"$HOME", home ? home : std::string(1, kUnknown)},
      {"$OLDPWD", std::string(1, kUnknown)}};
  for (const auto& [name, value] : vars)
    for (std::size_t at; (at = w.find(name)) != std::string::npos;) w.replace(at, std::strlen(name), value);
  if (w.find(kGitTopLevel) != std::string::npos) {
    const std::string top = known && !line_runs_git_init ? git_top_level(cwd) : std::string(1, kUnknown);
    for (std::size_t at; (at = w.find(kGitTopLevel)) != std::string::npos;)
      w.replace(at, std::strlen(kGitTopLevel), top);
  }
  if (w.starts_with("~/") && home) w = home + w.substr(1);
  return w;
}

// Set when a line names more paths than the hook looks up on disk: it is blocked for that, and says so.
bool g_lookups_ran_out = false;

// A path names a protected file or a folder holding one: as written, and relative to the folder the command
// runs in (the agent's shell keeps the folder it went into). In a folder the hook cannot know, `config`,
// `audit` and `config/.env.tracing` may be the protected ones (but not any `.env`: `cp .env.example .env`).
bool path_protected(std::string w, const fs::path& cwd) {
  w = expanded(std::move(w), cwd);
  if (covers_protected(w) || claude_settings(w) || (w.starts_with('/') && witness_store(w))) return true;
  if (!w.empty() && w[0] != '/') {
    if (cwd.empty()) {
      const std::vector<std::string> parts = components(w);
      if (parts.empty() || parts[0] == "." || parts[0] == "..") return false;
      return covers_protected(".ai-agents/logging/" + w, false) ||
             covers_protected(".ai-agents/logging/config/" + w, false);
    }
    w = (cwd / w).string();
    if (covers_protected(w) || claude_settings(w) || witness_store(w)) return true;
  }
  if (w.empty() || w[0] != '/' || unknown_value(w)) return false;
  // Through a link on the way (`src/logs/audit` with src/logs -> .ai-agents/logging, `link/../config`): where
  // the path leads on disk now. A few system calls per word, so a budget per hook run (a line of thousands of
  // paths is no agent's).
  static int budget = 4096;
  if (--budget < 0) {  // (fails closed: where the words lead is not known)
    g_lookups_ran_out = true;
    return true;
  }
  std::error_code ec;
  const std::string real = fs::weakly_canonical(w, ec).string();
  return !ec && (covers_protected(real) || claude_settings(real) || witness_store(real));
}

// A word names a protected file or a folder holding one: as a path, or as the value of an option
// (`--output=PATH`, `-oPATH`), or as a name in a script's text (`python3 -c 'open(".env.tracing")'`).
bool word_protected(const std::string& w, const fs::path& cwd) {
  if (names_protected(w)) return true;
  if (w.starts_with("--exclude") || w.starts_with("--ignore")) return false;  // keeps the folder out
  if (path_protected(w, cwd)) return true;
  if (const std::size_t eq = w.find('='); eq != std::string::npos && path_protected(w.substr(eq + 1), cwd))
    return true;
  if (w.size() > 2 && w[0] == '-' && w[1] != '-')  // -t.claude, -o.ai-agents/...: a short option's value
    for (std::size_t k = 2; k < w.size() && k < 5; ++k)
      if (path_protected(w.substr(k), cwd)) return true;
  return false;
}

// A path that lies in a .ai-agents tree, also through a glob (`.ai-age*/logging/traces`): a link made to it
// reaches the protected files by `link/..`.
bool in_tree(const std::string& word, const fs::path& cwd) {
  std::string w = expanded(word, cwd);
  if (!w.empty() && w[0] != '/' && !cwd.empty()) w = (cwd / w).string();
  const std::vector<std::string> parts = components(w);
  return std::any_of(parts.begin(), parts.end(), [](const std::string& part) {
    return !unknown_value(part) && component_matches(part, ".ai-agents");
  });
}

// Whether a folder holds a .ai-agents tree somewhere below it; a folder too big to look through may.
bool holds_tree(const fs::path& folder) {
  static std::size_t budget = 20000;  // entries looked at, over the whole hook
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) return false;                          // not there: nothing below it
  if (in_tree(fs::weakly_canonical(folder, ec).string(), {})) return true;  // `find link/`: in the tree
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (budget-- == 0) return true;
    if (it->path().filename() == ".ai-agents") return true;
  }
  return static_cast<bool>(ec);
}

// Whether a folder a command starts from may hold a .ai-agents tree: `.`, the project or a folder above it, a
// folder in the tree, one the hook cannot know; not `src` or `build` when none lies below them.
bool start_reaches_tree(const std::string& start, const fs::path& cwd) {
  const char* project = std::getenv("CLAUDE_PROJECT_DIR");
  auto above = [](const fs::path& folder, const fs::path& inner) {
    const fs::path rel = inner.lexically_relative(folder);
    return !rel.empty() && *rel.begin() != "..";
  };
  std::string p = expanded(start == "~+" || start.starts_with("~+/") ? "$PWD" + start.substr(2) : start, cwd);
  if (p.find(kUnknown) != std::string::npos || p.find_first_of("*?[") != std::string::npos ||
      in_tree(p, fs::path()))
    return true;
  if (p.empty() || (p[0] != '/' && (cwd.empty() || cwd == kElsewhere))) return true;
  const fs::path folder = (p[0] == '/' ? fs::path(p) : cwd / p).lexically_normal();
  return above(folder, cwd) || (project && *project && above(folder, project)) || holds_tree(folder);
}

// Whether the folders find starts from may hold a .ai-agents tree (start_reaches_tree).
bool find_reaches_tree(const std::vector<std::string>& words, const fs::path& cwd) {
  if (std::any_of(words.begin(), words.end(),
                  [](const std::string& w) { return w == "-L" || w == "-follow"; }))
    return true;  // it follows links
  std::vector<std::string> starts;
  for (std::size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (w == "-H" || w == "-P" || w.starts_with("-O")) continue;
    if (w == "-D") {
      ++k;
      continue;
    }
    if (w.starts_with("-") || w == "(" || w == "!") break;
    starts.push_back(w);
  }
  if (starts.empty()) starts.emplace_back(".");
  return std::any_of(starts.begin(), starts.end(),
                     [&](const std::string& start) { return start_reaches_tree(start, cwd); });
}

// find's patterns (-name, -path and the like) that can match a protected file or folder: find then names it
// as surely as a path would (`find . -name '*.tracing' -delete`), when it starts where it can find one.
bool find_matches_protected(const std::vector<std::string>& words, const fs::path& cwd) {
  static const char* const names[] = {".env.tracing",
                                      ".env.logging",
                                      "actions.jsonl",
                                      "head.json",
                                      "config",
                                      "audit",
                                      "approvals",
                                      ".ai-agents",
                                      "apr-00000001.json",
                                      "settings.json",
                                      "logging",
                                      ".claude",
                                      "archive",
                                      "actions-000000000001.jsonl.gz",
                                      "actions-000000000001.jsonl"};
  static const char* const paths[] = {"./.ai-agents/logging/config/.env.tracing",
                                      "./.ai-agents/logging/audit/actions.jsonl",
                                      "./.ai-agents/logging/audit/archive/actions-000000000001.jsonl.gz",
                                      "./.ai-agents/logging/audit/archive/actions-000000000001.jsonl",
                                      "./.ai-agents/logging/approvals/apr-00000001.json",
                                      "./.claude/settings.json",
                                      "./.ai-agents"};
  bool matches = false;
  for (std::size_t k = 0; k + 1 < words.size() && !matches; ++k) {
    const std::string& option = words[k];
    const int flags = option.starts_with("-i") ? FNM_CASEFOLD : 0;
    if (option == "-name" || option == "-iname") {
      for (const char* n : names) matches = matches || fnmatch(words[k + 1].c_str(), n, flags) == 0;
    } else if (option == "-path" || option == "-ipath" || option == "-wholename" || option == "-iwholename") {
      for (const char* p : paths) matches = matches || fnmatch(words[k + 1].c_str(), p, flags) == 0;
    } else if (option.find("regex") != std::string::npos) {
      matches = true;  // a regular expression: what it matches, the hook does not work out
    }
  }
  return matches && find_reaches_tree(words, cwd);
}

// Whether find leaves the .ai-agents tree out of what it finds: `-path ./.ai-agents -prune -o ...`, `-name
// .ai-agents -prune -o ...`, `-not -path './.ai-agents/*'`, or tests that only its name patterns pass
// (`-name '*.cpp'`) and that no `-o` or `!` turns around.
bool find_leaves_tree_out(const std::vector<std::string>& words) {
  auto path_test = [](const std::string& w) {
    return w == "-path" || w == "-ipath" || w == "-wholename" || w == "-iwholename";
  };
  auto names_tree = [&](const std::string& test, const std::string& pattern, const char* inside) {
    const int flags = test.starts_with("-i") ? FNM_CASEFOLD : 0;
    if (test == "-name" || test == "-iname") return fnmatch(pattern.c_str(), ".ai-agents", flags) == 0;
    if (!path_test(test)) return false;
    for (const char* start : {".", ""}) {  // (`find .` prints ./.ai-agents; `find` with no start too)
      const std::string tree = std::string(start) + (*start ? "/" : "") + ".ai-agents" + inside;
      if (fnmatch(pattern.c_str(), tree.c_str(), flags) == 0) return true;
    }
    return false;
  };
  bool turned = false, restricted = false;
  for (std::size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (k + 3 < words.size() && words[k + 2] == "-prune" && (words[k + 3] == "-o" || words[k + 3] == "-or") &&
        names_tree(w, words[k + 1], ""))
      return true;
    if ((w == "!" || w == "-not") && k + 2 < words.size() &&
        names_tree(words[k + 1], words[k + 2], "/logging/audit/actions.jsonl") &&
        names_tree(words[k + 1], words[k + 2], "/logging/config/.env.tracing"))
      return true;
    if (w == "-o" || w == "-or" || w == "!" || w == "-not" || w == ",") turned = true;
    if ((w == "-name" || w == "-iname" || path_test(w)) && k + 1 < words.size()) restricted = true;
  }
  return restricted && !turned && !find_matches_protected(words, {});
}

// Whether grep -r leaves the tree out: `--exclude-dir=.ai-agents` (or a pattern matching it, `.*`).
bool grep_leaves_tree_out(const std::vector<std::string>& words) {
  for (std::size_t k = 1; k < words.size(); ++k) {
    std::string pattern;
    if (words[k].starts_with("--exclude-dir=")) pattern = words[k].substr(14);
    if (words[k] == "--exclude-dir" && k + 1 < words.size()) pattern = words[k + 1];
    if (!pattern.empty() && fnmatch(pattern.c_str(), ".ai-agents", 0) == 0) return true;
  }
  return false;
}

// Whether a command goes through the folders below where it starts, the .ai-agents tree too, listing what it
// finds or changing it: grep -r (its file names; the audit log holds every command's text, so any word the
// agent searched for is in it), rg --hidden, find without a prune of the tree, ls -R, `git ls-files -o` (it
// lists ignored files), chmod/chown/chgrp/setfacl -R. What it lists piped into xargs, or as the words of
// `$(...)`, reaches the protected files as surely as their names would. Empty, or how to leave the tree out.
std::string lists_tree(const std::string& name, const std::vector<std::string>& words, const fs::path& cwd) {
  auto starts_reach = [&](std::size_t skip_first) {  // the operands past the first `skip_first`, or `.`
    std::vector<std::string> starts;
    bool options = true;
    for (std::size_t k = 1; k < words.size(); ++k) {
      const std::string& w = words[k];
      if (options && w == "--") {
        options = false;
      } else if (options && w.size() > 1 && w[0] == '-') {
        if (w.size() == 2 && std::strchr("efABCmdDt", w[1]) && k + 1 < words.size()) ++k;  // its value
      } else if (skip_first > 0) {
        --skip_first;
      } else {
        starts.push_back(w);
      }
    }
    if (starts.empty()) starts.emplace_back(".");
    return std::any_of(starts.begin(), starts.end(),
                       [&](const std::string& s) { return start_reaches_tree(s, cwd); });
  };
  auto short_flag = [&](char f) {
    return std::any_of(words.begin() + 1, words.end(), [&](const std::string& w) {
      return w.size() > 1 && w[0] == '-' && w[1] != '-' && w.find(f) != std::string::npos;
    });
  };
  auto has = [&](const char* option) { return std::find(words.begin(), words.end(), option) != words.end(); };
  if (name == "grep" || name == "egrep" || name == "fgrep") {
    const bool recursive = short_flag('r') || short_flag('R') || has("--recursive") ||
                           has("--dereference-recursive") || has("--directories=recurse");
    const bool pattern_given = short_flag('e') || short_flag('f') ||
                               std::any_of(words.begin(), words.end(), [](const std::string& w) {
                                 return w.starts_with("--regexp") || w.starts_with("--file");
                               });
    if (recursive && !grep_leaves_tree_out(words) && starts_reach(pattern_given ? 0 : 1))
      return "grep -r goes through the .ai-agents tree too (the audit log holds every command's text, so it "
             "matches any word searched for): leave it out with --exclude-dir=.ai-agents, or use git grep "
             "-l, "
             "which leaves out what .gitignore keeps out";
  } else if (name == "rg") {
    const bool hidden = has("--hidden") || has("--unrestricted") || short_flag('.') ||
                        std::any_of(words.begin(), words.end(), [](const std::string& w) {
                          return w.starts_with("-") && w.find("uu") != std::string::npos;
                        });
    if (hidden &&
        !std::any_of(words.begin(), words.end(),
                     [](const std::string& w) { return w.find("!.ai-agents") != std::string::npos; }) &&
        starts_reach(has("--files") ? 0 : 1))
      return "rg --hidden goes through the .ai-agents tree too: leave it out with -g '!.ai-agents', or use "
             "git grep -l";
  } else if (name == "find") {
    if (find_reaches_tree(words, cwd) && !find_leaves_tree_out(words))
      return "find starting here goes through the .ai-agents tree too: leave it out with "
             "find . -path ./.ai-agents -prune -o ... -print (or name what to find: -name '*.cpp')";
  } else if (name == "ls") {
    if ((short_flag('R') || has("--recursive")) && (short_flag('a') || short_flag('A')) && starts_reach(0))
      return "ls -R goes through the .ai-agents tree too: list the folders you mean";
  } else if (name == "git") {
    const GitCall call = git_call(words, 0);
    if (call.subcommand < words.size()) {
      const std::string& sub = words[call.subcommand];
      const bool others = short_flag('o') || has("--others"),
                 ignored = short_flag('i') || has("--ignored") || !has("--exclude-standard");
      if ((sub == "ls-files" && others && ignored) || (sub == "grep" && has("--no-index")))
        return "git " + sub +
               " lists what .gitignore keeps out, the .ai-agents tree too: use git ls-files -o "
               "--exclude-standard, or git grep -l";
    }
  } else if (name == "chmod" || name == "chown" || name == "chgrp" || name == "setfacl") {
    if ((short_flag('R') || has("--recursive")) && starts_reach(0))
      return name +
             " -R from here changes the .ai-agents tree too (the .env files and the audit log are "
             "kept 600): name the folders you mean (" +
             name +
             " -R ... src/), or use find . -path "
             "./.ai-agents -prune -o -type f -exec " +
             name + " ... {} +";
  }
  return "";
}

// Why a git command would take the untracked .ai-agents tree away (the audit log and the human's .env files
// with it, and `serve` would then make permissive defaults), or empty: `git clean -f` without `-e
// .ai-agents`, `git stash -u|-a` without paths that leave the tree out; also in the code the line runs
// (`bash -c '...'`, `$(...)`, a here-doc).
// Whether a pathspec of `git clean`, run in `cwd`, can reach the protected files: the project or a folder
// above the tree (`.`, `:/`), the tree, a glob that matches into it (`*.json`: git's `*` matches `/` too);
// not `build/` nor `.ai-agents/logging/traces`. What the hook cannot place (a variable, `..`, `:(magic)`)
// can.
bool clean_pathspec_reaches(const std::string& spec, const fs::path& cwd) {
  if (spec.empty() || spec.starts_with(":") || spec.find("..") != std::string::npos ||
      spec.find(kUnknown) != std::string::npos || cwd.empty() || cwd == kElsewhere)
    return true;
  const std::string e = expanded(spec, cwd);
  const fs::path path = (e.starts_with('/') ? fs::path(e) : cwd / e).lexically_normal();
  if (in_tree(path.string(), {}))
    return covers_protected(path.string()) || path.filename() == "logging" ||
           e.find_first_of("*?[") != std::string::npos;
  const char* project = std::getenv("CLAUDE_PROJECT_DIR");
  const fs::path root = project && *project ? fs::path(project) : fs::path(git_top_level(cwd));
  if (root.string().find(kUnknown) != std::string::npos) return true;
  const fs::path tree = (root / ".ai-agents").lexically_normal();
  auto holds = [](const fs::path& folder, const fs::path& inner) {  // folder is inner or above it
    const fs::path rel = inner.lexically_relative(folder);
    return !rel.empty() && *rel.begin() != "..";
  };
  const std::string text = path.string();
  const std::size_t glob = text.find_first_of("*?[");
  if (glob == std::string::npos) return holds(path, tree);
  const fs::path literal = fs::path(text.substr(0, text.rfind('/', glob) + 1)).lexically_normal();
  if (!holds(literal, tree)) return false;
  for (const char* file : {"", "/logging", "/logging/config/.env.tracing", "/logging/audit/actions.jsonl",
                           "/logging/audit/head.json", "/logging/approvals/apr-00000001.json"})
    if (fnmatch(text.c_str(), (tree.string() + file).c_str(), 0) == 0) return true;
  return false;
}

// Whether a `git clean` exclusion pathspec (`:!.ai-agents`, `:^X`, `:(exclude)X`) keeps the whole tree out.
bool clean_pathspec_keeps_tree(const std::string& spec, const fs::path& cwd) {
  std::string p;
  if (spec.starts_with(":!") || spec.starts_with(":^"))
    p = spec.substr(2);
  else if (spec.starts_with(":(") && spec.find(')') != std::string::npos &&
           spec.substr(0, spec.find(')')).find("exclude") != std::string::npos)
    p = spec.substr(spec.find(')') + 1);
  if (p.empty() || p.find(kUnknown) != std::string::npos || cwd.empty() || cwd == kElsewhere) return false;
  const char* project = std::getenv("CLAUDE_PROJECT_DIR");
  const fs::path root = project && *project ? fs::path(project) : fs::path(git_top_level(cwd));
  const std::string e = expanded(p, cwd);
  const fs::path path = (e.starts_with('/') ? fs::path(e) : cwd / e).lexically_normal();
  const fs::path logging = (root / ".ai-agents/logging").lexically_normal();
  const fs::path rel = logging.lexically_relative(path);
  return (!rel.empty() && *rel.begin() != "..") ||
         fnmatch(path.string().c_str(), (root / ".ai-agents").lexically_normal().c_str(), 0) == 0;
}

std::string cleans_project(const ShellLine& line, const fs::path& cwd, int depth = 0) {
  // A pattern of `git clean -e` that keeps the whole tree (`-e .ai-agents/logging/traces` keeps one folder).
  auto keeps_tree = [](std::string p) {
    if (p.starts_with("!")) return false;
    while (p.starts_with("/")) p.erase(0, 1);
    while (p.starts_with("./")) p.erase(0, 2);
    while (p.ends_with("/")) p.pop_back();
    return fnmatch(p.c_str(), ".ai-agents", FNM_PATHNAME) == 0 ||
           fnmatch(p.c_str(), ".ai-agents/logging", FNM_PATHNAME) == 0;
  };
  // A pathspec of `git stash -- ...` that takes the tree too: the whole project, an exclusion, the tree.
  auto takes_tree = [](std::string p) {
    if (p.starts_with(":!") || p.starts_with(":^") || p.find("exclude") != std::string::npos) return true;
    if (p.starts_with(":(")) p.erase(0, p.find(')') + 1);
    if (p.starts_with(":/")) p.erase(0, 2);
    while (p.starts_with("./")) p.erase(0, 2);
    while (p.ends_with("/")) p.pop_back();
    return p.empty() || p == "." || p.find("..") != std::string::npos ||
           fnmatch(p.c_str(), ".ai-agents", 0) == 0 || covers_protected(p) || in_tree(p, fs::path());
  };
  bool moved = false;  // a cd earlier in the line: where the pathspecs lead, the hook does not follow here
  for (std::size_t c = 0; c < line.commands.size(); ++c) {
    const ShellCommand& cmd = line.commands[c];
    const auto& w = cmd.words;
    if (std::any_of(w.begin(), w.end(), [](const std::string& x) { return x == "cd" || x == "pushd"; }))
      moved = true;
    if (depth < 4) {  // (a message's or a note's text is not code: only what a shell is given)
      std::vector<std::string> code = cmd.substitutions;
      if (std::any_of(w.begin(), w.end(), [](const std::string& x) {
            return is_shell(fs::path(x).filename().string()) || x == "eval";
          })) {
        code.insert(code.end(), cmd.inputs.begin(), cmd.inputs.end());
        std::copy_if(w.begin(), w.end(), std::back_inserter(code),
                     [](const std::string& x) { return x.find_first_of(" \t\n;&|") != std::string::npos; });
        if (cmd.piped && c > 0) {  // `echo 'git clean -fdx' | bash`: what the command before prints
          const ShellCommand& before = line.commands[c - 1];
          std::string printed;
          for (std::size_t k = 1; k < before.words.size(); ++k) printed += before.words[k] + "\n";
          code.push_back(printed);
          code.insert(code.end(), before.inputs.begin(), before.inputs.end());
        }
      }
      // A git alias defined or given (`git config alias.nuke 'clean -fdx'`, `git -c alias.x='!...'`): its
      // value is a git command, or with `!` a shell's.
      for (std::size_t k = 0; k < w.size(); ++k) {
        std::string value;
        if (w[k].starts_with("alias.") && w[k].find('=') != std::string::npos)
          value = w[k].substr(w[k].find('=') + 1);
        else if (w[k].starts_with("alias.") && k + 1 < w.size())
          value = w[k + 1];
        if (!value.empty()) code.push_back(value.starts_with("!") ? value.substr(1) : "git " + value);
      }
      for (const auto& text : code)
        if (std::string why = cleans_project(parse_shell(text), moved ? fs::path() : cwd, depth + 1);
            !why.empty())
          return why;
    }
    auto git = std::find_if(w.begin(), w.end(),
                            [](const std::string& x) { return fs::path(x).filename() == "git"; });
    if (git == w.end()) continue;
    const std::size_t at = git_call(w, static_cast<std::size_t>(git - w.begin())).subcommand;
    if (at == w.size()) continue;
    const std::string& sub = w[at];
    const bool configured = git_call(w, static_cast<std::size_t>(git - w.begin())).configured;
    auto short_flag = [](const std::string& x, char f) {
      return x.size() > 1 && x[0] == '-' && x[1] != '-' && x.find(f) != std::string::npos;
    };
    // git clean: -f (or -i, or `-c clean.requireForce=false`) removes; -x also what .gitignore keeps out (an
    // -e pattern still keeps its files), -X only that, and there an -e pattern adds to what is removed.
    bool force = sub == "clean" && configured, kept = false, untracked = false, paths = false,
         everything = false, ignored_only = false, plus_ignored = false, pathspec_reaches = false,
         pathspec_keeps = false, pathspecs = false, options = true;
    for (std::size_t k = at + 1; k < w.size(); ++k) {
      const std::string& x = w[k];
      if (sub == "clean") {
        const bool option = options && x.size() > 1 && x[0] == '-';
        if (options && x == "--") {
          options = false;
          continue;
        }
        std::string pattern;
        if ((x == "-e" || x == "--exclude") && k + 1 < w.size()) pattern = w[++k];
        if (x.starts_with("-e") && x.size() > 2) pattern = x.substr(2);
        if (x.starts_with("--exclude=")) pattern = x.substr(10);
        if (option && pattern.empty() && !x.starts_with("-e") && !x.starts_with("--exclude")) {
          if (short_flag(x, 'f') || short_flag(x, 'i') || x == "--force" || x == "--interactive")
            force = true;
          if (short_flag(x, 'X')) ignored_only = true;
          if (short_flag(x, 'x')) plus_ignored = true;
        }
        if (!pattern.empty()) kept = keeps_tree(pattern) || (kept && !pattern.starts_with("!"));
        if (!option) {
          pathspecs = true;
          const bool exclusion = x.starts_with(":!") || x.starts_with(":^") ||
                                 (x.starts_with(":(") && x.find("exclude") < x.find(')'));
          if (exclusion)
            pathspec_keeps = pathspec_keeps || clean_pathspec_keeps_tree(x, moved ? fs::path() : cwd);
          else
            pathspec_reaches = pathspec_reaches || clean_pathspec_reaches(x, moved ? fs::path() : cwd);
        }
      } else if (sub == "stash") {
        if (short_flag(x, 'u') || short_flag(x, 'a') || x == "--include-untracked" || x == "--all")
          untracked = true;
        if (x == "--") {
          for (std::size_t j = k + 1; j < w.size(); ++j) {
            paths = true;
            everything = everything || takes_tree(w[j]) ||  // ("$CLAUDE_PROJECT_DIR", :(icase)...)
                         clean_pathspec_reaches(w[j], moved ? fs::path() : cwd);
          }
          break;
        }
      }
    }
    // No pathspec but exclusions is the whole folder but those.
    if (!pathspecs || (pathspec_keeps && !pathspec_reaches))
      pathspec_reaches = pathspec_reaches || clean_pathspec_reaches(".", moved ? fs::path() : cwd);
    const bool spared = !pathspec_reaches || pathspec_keeps;
    if (force && ignored_only && !spared)
      return "git clean -X removes what .gitignore keeps out, and .ai-agents/logging/.gitignore keeps out "
             "the "
             "audit log, approvals and the human's .env files (an -e pattern adds to what -X removes, it "
             "does "
             "not keep anything): name what to clean (git clean -fdX build/), or leave the tree out with a "
             "pathspec (git clean -fdX -- . ':!.ai-agents'), or ask the human";
    if (force && !ignored_only && !kept && !spared)
      return std::string("git clean -f") + (plus_ignored ? " -x" : "") +
             " removes the untracked .ai-agents/ tree with the audit log and the human's .env files: keep it "
             "out with -e .ai-agents (git clean -fd" +
             (plus_ignored ? "x" : "") +
             " -e .ai-agents), or name what to clean (git clean -fdx build/), or ask the human";
    if (untracked && (!paths || everything))
      return "git stash with untracked files takes the untracked .ai-agents/ tree away with the audit log "
             "and the human's .env files: name what to stash (git stash push -u -- src/), or ask the human";
  }
  return "";
}

bool plain_read(const std::string& line, fs::path cwd, int depth = 0, bool* touched = nullptr,
                bool variables_protected = false);

// A script a command runs from a file (`bash fix.sh`, `./fix.sh`, `source fix.sh`, `python3 fix.py`): held
// to what its text does when the hook can read it (a shell's as a shell line, another interpreter's by the
// paths it mentions). One that the line writes first (`cat > fix.sh <<'EOF'`) or that is not there yet is
// not a plain read if the line mentions a protected path; a compiled program is not the hook's to read.
bool script_plain(const std::string& word, const fs::path& cwd, bool shell, bool line_mentions_protected,
                  const std::unordered_set<std::string>& written, int depth) {
  static std::size_t budget = 4 << 20;  // bytes of scripts read, over the whole hook
  const std::string w = expanded(word, cwd);
  if (w.empty() || w.find(kUnknown) != std::string::npos ||
      (w[0] != '/' && (cwd.empty() || cwd == kElsewhere)))
    return !line_mentions_protected;
  const fs::path file = (w[0] == '/' ? fs::path(w) : cwd / w).lexically_normal();
  std::ifstream in(file, std::ios::binary);
  if (!in || written.contains(file.string())) return !line_mentions_protected;
  std::string text(std::min<std::size_t>(budget, 1 << 20), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  budget -= text.size();
  if (in.peek() != EOF) return !line_mentions_protected;  // more than the hook reads
  if (text.find('\0') != std::string::npos && !text.starts_with("#!")) return true;
  const std::string first = text.substr(0, text.find('\n'));
  if (shell || !first.starts_with("#!") || first.ends_with("sh") || first.find("sh ") != std::string::npos)
    return plain_read(text, cwd, depth + 1);
  return !mentions_protected(text);
}

// Whether a command prints only numbers: its last command is `wc` or `grep -c` given no word the hook cannot
// know (a glob's file names are printed too). (`$(( $(wc -l < actions.jsonl) + 1 ))`.)
bool prints_count(const std::string& command) {
  const ShellLine parsed = parse_shell(command);
  if (parsed.opaque || parsed.commands.empty()) return false;
  const std::vector<std::string>& words = parsed.commands.back().words;
  if (words.empty() || std::any_of(words.begin(), words.end(), [](const std::string& w) {
        return w.find(kUnknown) != std::string::npos || w.find_first_of("*?[") != std::string::npos;
      }))
    return false;
  const std::string name = fs::path(words[0]).filename().string();
  return reads_only(words) &&
         (name == "wc" ||
          (name == "grep" && std::any_of(words.begin() + 1, words.end(), [](const std::string& w) {
             return w == "--count" ||
                    (w.size() > 1 && w[0] == '-' && w[1] != '-' && w.find('c') != std::string::npos);
           })));
}

// What plain_read knows of a line while it reads the line's commands in order.
struct LineReading {
  bool line_mentions;          // the line mentions a protected path
  bool dotglob_matters;        // what `*` would then match (`.ai-agents` too) may be what the line is about
  bool tainted = false;        // the pipeline's earlier command read a protected file
  bool code_in_pipe = false;   // the pipeline's earlier command printed text that mentions one
  bool exported = false;       // a variable that may change what a reader does was set earlier in the line
  bool all_export = false;     // `set -a`: every variable set is exported
  bool loop_variable = false;  // a variable held a protected path or text: a loop's (it keeps the last one
                               // after it), or one assigned alone (`LEVEL=$(grep ... .env.tracing)`)
  std::unordered_set<std::string> written;  // files the line writes (a script it may then run)
  std::vector<std::string> shell_startup;   // what BASH_ENV= or ENV= was set to: a shell runs it first
};

// The command's environment (NAME=value before it) taken off its words: `assigned`, whether a value names a
// protected path (an assignment alone is not a read); `risky`, whether a value may change what a reader does.
// False when the line changes what its globs match (GLOBIGNORE turns on dotglob).
bool take_environment(std::vector<std::string>& words, LineReading& r, const fs::path& cwd, bool& assigned,
                      bool& risky) {
  auto assignment = [](const std::string& w) {
    return w.find('=') != std::string::npos && w[0] != '=' && w[0] != '-';
  };
  const bool alone = std::all_of(words.begin(), words.end(), assignment);
  std::size_t k = 0;  // (the assignments are taken off at once: one at a time from the front costs n^2)
  for (; k < words.size() && assignment(words[k]); ++k) {
    const std::string value = words[k].substr(words[k].find('=') + 1);
    // A command's text held for later (`c='rm -rf .ai-agents/logging/audit'; $c`) mentions the tree.
    assigned = assigned || word_protected(value, cwd) ||
               (value.find_first_of(" \t\n;|&()<>") != std::string::npos && mentions_protected(value));
    risky = risky || !harmless_variable(words[k]);
    // Set alone, a variable reaches later commands if it was exported already (LESSOPEN, PAGER, GIT_*).
    if (alone && (r.all_export ? !harmless_variable(words[k]) : exported_already(words[k])))
      r.exported = true;
    if (words[k].starts_with("GLOBIGNORE=") && r.dotglob_matters) return false;
  }
  words.erase(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(k));
  const std::string name = words.empty() ? "" : words[0];
  if (name == "set" && std::any_of(words.begin(), words.end(), [](const std::string& w) {
        return w == "allexport" ||
               (w.size() > 1 && w[0] == '-' && w[1] != '-' && w.find('a') != std::string::npos);
      }))
    r.all_export = true;
  if (name == "export" || name == "declare" || name == "typeset" || name == "readonly" || name == "local") {
    for (const auto& w : words) {
      if (w.find('=') != std::string::npos && !harmless_variable(w)) r.exported = true;
      if (w.starts_with("GLOBIGNORE=") && r.dotglob_matters) return false;
    }
  }
  return true;
}

// The words before the program that only say how it runs: the shell's keywords, `time -p`, `command -p`.
void take_keywords(std::vector<std::string>& words) {
  static const char* const lead[] = {"time", "command", "builtin", "!", "if",   "then",  "else", "elif",
                                     "do",   "while",   "until",   "{", "exec", "nohup", "nice", "stdbuf"};
  std::size_t k = 0;  // (taken off at once: one at a time from the front costs n^2 for `{ { { ...`)
  while (k < words.size() && std::find(std::begin(lead), std::end(lead), words[k]) != std::end(lead)) {
    ++k;
    while (k < words.size() && words[k].size() > 1 && words[k][0] == '-') ++k;
  }
  words.erase(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(k));
}

// The word a command of a loop starts with, past the keywords before it (`do for f in ...`).
std::string loop_word(const ShellCommand& cmd) {
  for (const auto& w : cmd.words)
    if (w != "do" && w != "then" && w != "else" && w != "{" && w != "!" && w != "time") return w;
  return "";
}

// Whether the body of the loop whose `for` (or `done`) is command `at` only reads: its variable holds a
// protected path (`for f in .ai-agents/logging/config/.env.*; do cat "$f"; done`), or its input a protected
// file's lines (`while read -r l; do ...; done < .env.tracing`), which a command that writes (`rm "$f"`) or
// runs code (`$(rm "$f")`) would take as its own.
bool loop_reads(const ShellLine& parsed, std::size_t at, const fs::path& cwd, int line_depth) {
  const bool forward = loop_word(parsed.commands[at]) != "done";
  std::size_t first = at, last = at;
  int depth = 0;
  // (past 1000 commands a loop is not followed: each would cost the length of the line)
  for (std::size_t j = at, n = 0; j < parsed.commands.size() && n < 1000; j = forward ? j + 1 : j - 1, ++n) {
    const std::string w = loop_word(parsed.commands[j]);
    const bool starts = w == "for" || w == "while" || w == "until" || w == "select";
    depth += forward ? (starts ? 1 : w == "done" ? -1 : 0) : (w == "done" ? 1 : starts ? -1 : 0);
    (forward ? last : first) = j;
    if (depth == 0) break;
  }
  if (depth != 0) return false;  // not closed
  for (std::size_t j = first + 1; j < last; ++j) {
    const ShellCommand& cmd = parsed.commands[j];
    std::vector<std::string> words = cmd.words;
    words.erase(words.begin(), std::find_if(words.begin(), words.end(), [](const std::string& w) {
                  return w.find('=') == std::string::npos;
                }));
    take_keywords(words);
    const std::string name = words.empty() ? "" : words[0];
    const bool loop_syntax = name.empty() || name == "read" || name == "done" || name == "for" ||
                             name == "continue" || name == "break" || name == ":";
    // (What its substitutions run is held to the same: `$(wc -l < "$f")` reads, `$(rm "$f")` does not.)
    if ((!loop_syntax && !reads_only(words)) || cmd.arithmetic ||
        std::any_of(
            cmd.substitutions.begin(), cmd.substitutions.end(),
            [&](const std::string& s) { return !plain_read(s, cwd, line_depth + 1, nullptr, true); }) ||
        std::any_of(cmd.targets.begin(), cmd.targets.end(),
                    [](const std::string& t) { return t.find(kUnknown) != std::string::npos; }))
      return false;
  }
  return true;
}

// A word as the file it names, for remembering what the line writes (not known: empty).
std::string file_named(const std::string& word, const fs::path& cwd) {
  const std::string e = expanded(word, cwd);
  if (e.empty() || e.starts_with("-") || (e[0] != '/' && cwd.empty())) return "";
  return (e[0] == '/' ? fs::path(e) : cwd / e).lexically_normal().string();
}

// The names of the modules Python code imports (`import a, b.c`, `from d import e`: a, b.c, d), as far as a
// reading of its words finds them.
std::vector<std::string> python_imports(const std::string& code) {
  std::vector<std::string> tokens, modules;
  std::string token;
  for (const char c : code + " ") {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.') {
      token += c;
    } else {
      if (!token.empty()) tokens.push_back(std::move(token));
      token.clear();
      if (c == ',') tokens.emplace_back(",");
      if (c == '\n' || c == ';') tokens.emplace_back(";");
    }
  }
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    if (tokens[k] == "from" && k + 1 < tokens.size()) {  // (what it imports from the module are names)
      modules.push_back(tokens[k + 1]);
      while (k < tokens.size() && tokens[k] != ";") ++k;
    } else if (tokens[k] == "import") {
      for (++k; k < tokens.size() && tokens[k] != ";"; ++k) {
        if (tokens[k] == "as")
          ++k;  // (`import a as b`: b is a name)
        else if (tokens[k] != ",")
          modules.push_back(tokens[k]);
      }
    }
  }
  return modules;
}

// Files a program runs as code though its words do not give them as its script, and whether each is a
// shell's: make's makefile (`-f FILE`, else ./Makefile, in `-C DIR`), what BASH_ENV or ENV names for a shell,
// the module `python -m` runs and those `python -c` imports from the folder it runs in, and the hooks the
// line writes for git (`.git/hooks/pre-commit`, a core.hooksPath folder) when it then runs git.
std::vector<std::pair<std::string, bool>> files_run(const std::vector<std::string>& words,
                                                    const std::string& name, const fs::path& cwd,
                                                    const LineReading& r) {
  std::vector<std::pair<std::string, bool>> files;
  if (name == "make" || name == "gmake") {
    std::string folder = ".";
    std::vector<std::string> makefiles;
    for (std::size_t k = 1; k < words.size(); ++k) {
      const std::string& w = words[k];
      const bool file = w == "-f" || w == "--file" || w == "--makefile", in = w == "-C" || w == "--directory";
      if ((file || in) && k + 1 < words.size()) {
        if (file)
          makefiles.push_back(words[++k]);
        else
          folder = words[++k];
      } else if (w.starts_with("--file=") || w.starts_with("--makefile="))
        makefiles.push_back(w.substr(w.find('=') + 1));
      else if (w.starts_with("--directory="))
        folder = w.substr(12);
      else if (w.size() > 2 && w.starts_with("-f"))
        makefiles.push_back(w.substr(2));
      else if (w.size() > 2 && w.starts_with("-C"))
        folder = w.substr(2);
    }
    if (makefiles.empty()) {  // the first of these that is there (or that the line writes)
      for (const char* m : {"GNUmakefile", "makefile", "Makefile"}) {
        const std::string file = folder + "/" + m, named = file_named(file, cwd);
        std::error_code ec;
        if (named.empty() || r.written.contains(named) || fs::exists(named, ec)) {
          makefiles.push_back(m);
          break;
        }
      }
    }
    for (const auto& m : makefiles)
      if (m != "-") files.emplace_back(m.starts_with("/") ? m : folder + "/" + m, true);
  } else if (is_shell(name)) {
    for (const auto& file : r.shell_startup) files.emplace_back(file, true);
  } else if (name.starts_with("python") && interpreter(name)) {
    std::vector<std::string> modules;
    for (std::size_t k = 1; k + 1 < words.size(); ++k) {
      if (words[k] == "-m") modules.push_back(words[k + 1]);
      if (words[k] == "-c") modules = python_imports(words[k + 1]);
      if (words[k] == "-m" || words[k] == "-c" || !words[k].starts_with("-")) break;
    }
    for (std::string module : modules) {
      std::replace(module.begin(), module.end(), '.', '/');
      const std::string package = module.substr(0, module.find('/'));
      for (const std::string& file :
           {module + ".py", module + "/__init__.py", module + "/__main__.py", package + "/__init__.py"}) {
        const std::string named = file_named(file, cwd);
        std::error_code ec;
        if (!named.empty() && (r.written.contains(named) || fs::exists(named, ec)))
          files.emplace_back(file, false);
      }
    }
  } else if (name == "git") {
    for (const auto& file : r.written) {
      const std::string parent = fs::path(file).parent_path().filename().string();
      if (parent == "hooks" || parent == ".githooks" || parent == "githooks" || parent == ".husky")
        files.emplace_back(file, false);
    }
  }
  return files;
}

// Whether the file xargs takes its arguments from (`xargs rm < list.txt`, `xargs -a list.txt rm`) may name a
// protected file: one the line writes first holds what the line put there (the tree's paths, if it named the
// tree or went through it: `grep -rl X . > l; xargs sed -i ... < l`); one on disk, by what it holds; one the
// hook cannot read or place, when the line mentions a protected path. `touched`: the line named one so far.
bool list_names_protected(const std::string& word, const fs::path& cwd, const LineReading& r, bool touched) {
  static std::size_t budget = 4 << 20;  // bytes of lists read, over the whole hook
  if (word_protected(word, cwd)) return true;
  const std::string file = file_named(word, cwd);
  if (file.empty() || file.find(kUnknown) != std::string::npos || r.written.contains(file))
    return touched || r.line_mentions;
  std::ifstream in(file, std::ios::binary);
  if (!in) return touched || r.line_mentions;
  std::string text(std::min<std::size_t>(budget, 1 << 20), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  budget -= text.size();
  if (in.peek() != EOF) return true;  // more than the hook reads: what it names is not known
  if (mentions_protected(text)) return true;
  // Its words as paths (through a link: `src/logs/audit`), as far as the lookups' budget goes.
  std::istringstream words(text);
  std::size_t looked = 0;
  for (std::string w; words >> w && looked < 256; ++looked)
    if (word_protected(w, cwd)) return true;
  return false;
}

// What cp, mv, install and ln write, remembered as the line's (`cp fix.sh .git/hooks/pre-commit`): their
// last operand, or in it, when it is a folder, their sources' names.
void remember_copies(const std::vector<std::string>& words, const fs::path& cwd, LineReading& r) {
  std::vector<std::string> operands;
  for (std::size_t k = 1; k < words.size(); ++k)
    if (!words[k].starts_with("-")) operands.push_back(words[k]);
  if (operands.size() < 2) return;
  const std::string target = file_named(operands.back(), cwd);
  if (target.empty()) return;
  std::error_code ec;
  if (!operands.back().ends_with("/") && !fs::is_directory(target, ec)) {
    r.written.insert(target);
    return;
  }
  for (std::size_t k = 0; k + 1 < operands.size(); ++k)
    r.written.insert((fs::path(target) / fs::path(operands[k]).filename()).lexically_normal().string());
}

// The code a command runs, held to what the line is: eval's words, a shell's -c text, script and input, an
// interpreter's code and script, what is piped into them, where ln makes a link, `find -exec sh -c '...'`.
// `words` and `name`: the command as it runs (past its environment and keywords; what xargs runs).
bool code_plain(const ShellCommand& cmd, const std::vector<std::string>& words, const std::string& name,
                bool from_input, const fs::path& cwd, const LineReading& r, int depth) {
  const bool shell = is_shell(name);
  if (name == "eval") {  // its words, joined, are the code it runs
    std::string code;
    for (std::size_t k = 1; k < words.size(); ++k) code += words[k] + " ";
    if (!plain_read(code, cwd, depth + 1)) return false;
  } else if (shell || name == "source" || name == ".") {  // -c's text, its script, its input
    std::vector<std::string> code = from_input ? std::vector<std::string>{} : cmd.inputs;
    bool dash_c = false, script = false;
    for (std::size_t k = 1; k < words.size(); ++k) {
      const std::string& w = words[k];
      if (w.size() > 1 && w[0] == '-' && !script && shell) {
        dash_c = dash_c || (w[1] != '-' && w.find('c') != std::string::npos);
      } else if (!script) {
        script = true;
        if (dash_c)
          code.push_back(w);
        else if (!script_plain(w, cwd, true, r.line_mentions, r.written, depth))
          return false;
      }
    }
    if (!script && cmd.piped && r.code_in_pipe) return false;  // `echo 'rm -rf .ai-agents' | bash`
    for (const auto& c : code)
      if (!plain_read(c, cwd, depth + 1)) return false;
  } else if ((runs_code(name) && !reads_only(words)) || name == "ln") {
    // What python -c, awk or xargs are given, and where ln makes a link (a link into the folder reaches its
    // files by `link/..`), is judged by its text.
    for (const auto& t : cmd.inputs)
      if (mentions_protected(t)) return false;
    for (const auto& t : cmd.substitutions)  // `source <(echo ...)`: their output may be the code
      if (mentions_protected(t)) return false;
    if (std::any_of(words.begin(), words.end(), mentions_protected) || (cmd.piped && r.code_in_pipe))
      return false;
    if (name == "ln" &&
        std::any_of(words.begin() + 1, words.end(), [&](const std::string& w) { return in_tree(w, cwd); }))
      return false;
    if (interpreter(name)) {  // its script file: the first operand, unless -c, -e or -m gave the code
      for (std::size_t k = 1; k < words.size(); ++k) {
        const std::string& w = words[k];
        if (w == "-c" || w == "-e" || w == "-E" || w == "-m" || w == "-p" || w == "-") break;
        if (w.starts_with("-")) continue;
        if (!script_plain(w, cwd, false, r.line_mentions, r.written, depth)) return false;
        break;
      }
    }
  } else if (!words.empty() && words[0].find('/') != std::string::npos && !reads_only(words) &&
             !script_plain(words[0], cwd, false, r.line_mentions, r.written, depth)) {
    return false;  // `./fix.sh`: the script it is
  }
  for (std::size_t k = 1; k + 2 < words.size(); ++k) {  // `find -exec sh -c '...'`, `xargs bash -c '...'`
    if (is_shell(fs::path(words[k]).filename().string()) && words[k + 1].size() > 1 &&
        words[k + 1][0] == '-' && words[k + 1].find('c') != std::string::npos &&
        !plain_read(words[k + 2], cwd, depth + 1))
      return false;
  }
  // A makefile, a BASH_ENV script, a module, a git hook: one the line writes first is not a plain read if the
  // line mentions a protected path (as `./fix.sh`); one on disk is held to what its text does.
  for (const auto& [file, shell_text] : files_run(words, name, cwd, r))
    if (!script_plain(file, cwd, shell_text, r.line_mentions, r.written, depth)) return false;
  return true;
}

// Whether a substitution makes a new temporary folder (`cd "$(mktemp -d)"`), which is not in the tree.
bool new_temporary_folder(const std::string& command) {
  const std::size_t from = command.find_first_not_of(" \t\n");
  return from != std::string::npos && command.compare(from, 7, "mktemp ") == 0 &&
         command.find_first_of("/$`") == std::string::npos && command.find("-p") == std::string::npos &&
         command.find("--tmpdir") == std::string::npos && !mentions_protected(command);
}

// The folder the commands after `cd` run in: a folder the hook cannot know (a variable's value) as empty, a
// new temporary folder as kElsewhere.
// `cdpath`: CDPATH may be set (a relative folder is then looked for along it).
fs::path after_cd(const std::vector<std::string>& words, const ShellCommand& cmd, fs::path cwd, bool cdpath) {
  std::size_t k = 1;
  while (k < words.size() && words[k].size() > 1 && words[k][0] == '-') ++k;
  const char* home = std::getenv("HOME");
  std::string word = k < words.size() ? words[k] : "~";
  if (word == "~" || word.starts_with("~+"))  // the home folder; the folder it is in (~+ is $PWD)
    word = (word == "~" ? std::string("$HOME") : "$PWD") + word.substr(word == "~" ? 1 : 2);
  else if (word.starts_with("~") && !word.starts_with("~/"))
    return {};  // ~- (the folder before), ~user
  if (cdpath && !word.starts_with("/") && !word.starts_with("$") && !word.starts_with(".")) return {};
  const std::string to = k < words.size() || home ? expanded(word, cwd) : "";
  if (k < words.size() && words[k] == std::string(1, kUnknown) && cmd.substitutions.size() == 1 &&
      new_temporary_folder(cmd.substitutions[0]))
    return kElsewhere;
  if (to.empty() || to == "-" || to.find(kUnknown) != std::string::npos) return {};
  // `cd -P` goes where the links on the way lead (`cd -P src/logs/..` with src/logs -> .ai-agents/logging).
  const bool physical = std::any_of(words.begin() + 1, words.begin() + static_cast<std::ptrdiff_t>(k),
                                    [](const std::string& o) { return o.find('P') != std::string::npos; });
  if (physical && (fs::path(to).is_absolute() || !cwd.empty())) {
    std::error_code ec;
    cwd = fs::weakly_canonical(fs::path(to).is_absolute() ? fs::path(to) : cwd / to, ec);
    if (ec || cwd.is_relative()) return {};
  } else if (fs::path(to).is_absolute()) {
    cwd = fs::path(to).lexically_normal();
  } else if (!cwd.empty()) {  // (below a folder the hook cannot know is one it cannot know either)
    cwd = (cwd / to).lexically_normal();
  }
  if (cwd.is_relative() && !cwd.empty() && *cwd.begin() != kElsewhere) return {};  // above the temporary one
  if (cwd.native().size() > 1024) return {};  // deeper than real folders: `cd a; cd a; ...` would cost n^2
  return cwd;
}

// How a line that went through the .ai-agents tree (grep -r, find, chmod -R) can leave it out, for the reason
// the hook gives when it blocks the line (lists_tree's last answer).
std::string g_tree_listing_advice;

// `cp` copying out of the tree (`cp .ai-agents/logging/config/.env.tracing /tmp/env.bak`): a read of the
// sources when the destination is no protected path nor one the hook cannot know, and cp makes no link to
// them (-l, -s: writing the link would write the file).
bool copies_out(const std::vector<std::string>& words, const fs::path& cwd) {
  if (words.empty() || fs::path(words[0]).filename() != "cp") return false;
  std::string target;
  std::vector<std::string> files;
  bool options = true;
  for (std::size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (options && w == "--") {
      options = false;
    } else if (options && w.starts_with("--")) {
      if (w.starts_with("--link") || w.starts_with("--symbolic") || w.starts_with("--target-directory") ||
          w.starts_with("--suffix") || w.starts_with("--backup") || w.starts_with("--reflink=never") ||
          w.starts_with("--attributes"))
        return false;  // (a target or a backup name given apart: not worth following)
    } else if (options && w.size() > 1 && w[0] == '-') {
      if (w.find_first_of("lsSbt") != std::string::npos) return false;
    } else {
      files.push_back(w);
    }
  }
  if (files.size() < 2) return false;
  target = files.back();
  return target.find(kUnknown) == std::string::npos && !word_protected(target, cwd) && !in_tree(target, cwd);
}

// A command that leaves the protected files as they are: each of its commands that names one, or a folder
// holding one, only reads, and so does every command its output is piped into (`| xargs sed -i` is not a
// read); nothing is redirected into one; the code it runs first (`$(...)`, backquotes) and the code it gives
// a shell (`sh -c`, `eval`, a here-doc, a pipe into `bash`, a script file) are held to the same. `touched`:
// whether it names one (its output may then be a protected path, for the command whose word it becomes).
// `variables_protected`: the line is a substitution run where a variable holds a protected path or text (a
// loop's, `$(wc -l < "$f")`): a word of unknown value names one.
bool plain_read(const ShellLine& parsed, const std::string& line, fs::path cwd, int depth = 0,
                bool* touched = nullptr, bool variables_protected = false) {
  if (depth > 4) return false;
  LineReading r{.line_mentions = mentions_protected(line), .loop_variable = variables_protected};
  r.dotglob_matters = r.line_mentions || line.find("logging") != std::string::npos ||
                      line.find("config") != std::string::npos;
  if (parsed.opaque && r.line_mentions) return false;
  bool touches = false;
  std::vector<fs::path> outer;  // the folders the `( ... )` subshells around this command started in
  const bool cdpath = line.find("CDPATH") != std::string::npos || std::getenv("CDPATH");
  // What the groups open around a command printed (`( ... )`, `{ ...; }`, a loop, an if), and what the
  // groups just closed did: a `|` after a group is fed by all its commands (`{ ls ...; echo; } | xargs rm`).
  struct Printed {
    bool tainted = false, code = false;
  };
  std::vector<Printed> groups;
  Printed closed;
  for (std::size_t i = 0; i < parsed.commands.size(); ++i) {
    const ShellCommand& cmd = parsed.commands[i];
    {
      int opens = std::max(0, cmd.subshell - static_cast<int>(outer.size()));
      int closes = std::max(0, static_cast<int>(outer.size()) - cmd.subshell);
      std::size_t w = 0;
      for (; w < cmd.words.size(); ++w) {
        const std::string& x = cmd.words[w];
        if (x == "{")
          ++opens;
        else if (x == "}" || x == "done" || x == "fi" || x == "esac")
          ++closes;
        else if (x != "!" && x != "then" && x != "do" && x != "else" && x != "elif" && x != "time")
          break;
      }
      if (w < cmd.words.size() &&
          (cmd.words[w] == "for" || cmd.words[w] == "while" || cmd.words[w] == "until" ||
           cmd.words[w] == "select" || cmd.words[w] == "if" || cmd.words[w] == "case"))
        ++opens;
      if (closes == 0 && !cmd.piped) closed = {};
      for (; closes > 0 && !groups.empty(); --closes) {
        const Printed inner = groups.back();
        closed.tainted = closed.tainted || inner.tainted;
        closed.code = closed.code || inner.code;
        groups.pop_back();
        if (!groups.empty())  // (what a group printed, the group around it printed too)
          groups.back().tainted = groups.back().tainted || inner.tainted,
          groups.back().code = groups.back().code || inner.code;
      }
      if (cmd.piped) r.tainted = r.tainted || closed.tainted, r.code_in_pipe = r.code_in_pipe || closed.code;
      groups.resize(groups.size() + static_cast<std::size_t>(opens));
    }
    // A `cd` in a subshell ends with it.
    while (static_cast<int>(outer.size()) < cmd.subshell) outer.push_back(cwd);
    while (static_cast<int>(outer.size()) > cmd.subshell) cwd = outer.back(), outer.pop_back();
    bool names = false;
    bool counted_only = true;  // every substitution that read a protected file printed a count
    for (std::size_t k = 0; k < cmd.substitutions.size(); ++k) {  // run first; their output: its words
      const std::string& sub = cmd.substitutions[k];
      bool sub_touched = false;
      if (!plain_read(sub, cwd, depth + 1, &sub_touched, r.loop_variable)) return false;
      counted_only = counted_only && !(sub_touched && !prints_count(sub));
      // Arithmetic runs the `$(...)` in an array subscript of what it evaluates, so what a read of a
      // protected file prints there (the audit log holds the agent's own text) may be code: only a count is a
      // number.
      if (sub_touched && !prints_count(sub) &&
          std::find(cmd.arithmetic_operands.begin(), cmd.arithmetic_operands.end(), k) !=
              cmd.arithmetic_operands.end())
        return false;
      names = names || sub_touched;
    }
    auto unknown = [](const std::string& w) { return w.find(kUnknown) != std::string::npos; };
    // (`$(rm "$f")` is held to what it does above.) Arithmetic takes a variable's value as an expression,
    // whose array subscript runs what it holds: `x='a[$(rm ...)]'; echo $((x))`.
    if (r.loop_variable &&
        (cmd.arithmetic || std::any_of(cmd.substitutions.begin(), cmd.substitutions.end(),
                                       [](const std::string& s) { return s.starts_with("("); })))
      return false;
    std::vector<std::string> words = cmd.words;
    bool assigned = false, risky_environment = r.exported;
    if (!take_environment(words, r, cwd, assigned, risky_environment)) return false;
    // PWD set (`PWD=$OLDPWD`): what `$PWD` holds after it is not followed.
    const bool sets_pwd =
        words.empty() && std::any_of(cmd.words.begin(), cmd.words.end(),
                                     [](const std::string& w) { return w.starts_with("PWD="); });
    take_keywords(words);
    for (const auto& t : cmd.targets) {
      if (word_protected(t, cwd) || (r.loop_variable && unknown(t))) return false;
      if (std::string file = file_named(t, cwd); !file.empty()) r.written.insert(std::move(file));
    }
    std::string name = words.empty() ? "" : fs::path(words[0]).filename().string();
    // What the line's commands then are, or what its globs match (`shopt -s dotglob`), the hook cannot know.
    if ((name == "alias" || name == "function" || name == "shopt" || name == "hash" || name == "enable") &&
        r.dotglob_matters)
      return false;
    // xargs runs a command with words from its input: held to what that command does with such words.
    bool from_input = false;
    if (name == "xargs") {
      std::vector<std::string> lists = xargs_arg_files(words);  // (`-a FILE`, else `< FILE`)
      if (lists.empty()) lists = cmd.sources;
      if (auto command = xargs_command(words)) {
        words = std::move(*command);
        name = fs::path(words[0]).filename().string();
        from_input = true;
        names = names || std::any_of(cmd.inputs.begin(), cmd.inputs.end(), mentions_protected) ||
                (cmd.piped && r.code_in_pipe) ||
                std::any_of(lists.begin(), lists.end(),
                            [&](const std::string& f) { return list_names_protected(f, cwd, r, touches); });
      }
    }
    for (const auto& w : cmd.words)  // (as the command's environment, `export`'s or `env`'s words)
      if (w.starts_with("BASH_ENV=") || w.starts_with("ENV="))
        r.shell_startup.push_back(w.substr(w.find('=') + 1));
    if (!code_plain(cmd, words, name, from_input, cwd, r, depth)) return false;
    const std::vector<std::string> named = operands(name, words);
    // A reader xargs runs must stay one whatever words its input adds (`echo -i ... | xargs sed s/a/b/`); a
    // command of assignments only (`LEVEL=$(grep ... .env.tracing)`) reads, and its variable is remembered.
    const bool assignments_only = words.empty() && !cmd.words.empty() && cmd.targets.empty();
    // `source FILE` whose text code_plain found to be a plain read (the human's .env.tracing: assignments).
    const bool sources_plain = (name == "source" || name == ".") && !from_input && words.size() == 2;
    // `export $(grep -v '^#' .env.tracing | xargs)`: it sets variables (remembered as below), no file.
    const bool exports_only = name == "export" && !from_input && cmd.targets.empty() &&
                              std::all_of(words.begin() + 1, words.end(), [](const std::string& w) {
                                return w == "-n" || w == "-p" || w == "--" || !w.starts_with("-");
                              });
    if (exports_only && std::any_of(words.begin(), words.end(), unknown)) r.exported = true;
    const bool reads = (reads_only(words) && (!from_input || given_anything(words))) ||
                       (!from_input && copies_out(words, cwd)) || assignments_only || sources_plain ||
                       exports_only;
    // A list printed into xargs (`cat paths.txt | xargs rm -rf`) is held to what it holds, as `xargs rm <
    // paths.txt` is.
    if (reads && (name == "cat" || name == "head" || name == "tail" || name == "sort" || name == "uniq") &&
        i + 1 < parsed.commands.size() && parsed.commands[i + 1].piped &&
        !parsed.commands[i + 1].words.empty() &&
        fs::path(parsed.commands[i + 1].words[0]).filename() == "xargs")
      for (std::size_t k = 1; k < words.size() && !names; ++k)
        names = !words[k].starts_with("-") && list_names_protected(words[k], cwd, r, touches);
    const std::string listing = lists_tree(name, words, cwd);
    if (!listing.empty()) g_tree_listing_advice = listing;
    names = names || assigned || (name == "find" && find_matches_protected(named, cwd)) ||
            (r.loop_variable && std::any_of(words.begin(), words.end(), unknown)) ||
            std::any_of(named.begin(), named.end(), [&](const std::string& w) {
              // a script's text given to a program (`flock L -c '...'`, `git config alias.x '!...'`)
              return word_protected(w, cwd) ||
                     (w.find_first_of(" \t\n;|&()<>") != std::string::npos && mentions_protected(w));
            });
    // A here-doc given to a program that is not a reader may be its code (`make -f - <<EOF`, `git apply`);
    // a message (`git commit -F - <<EOF`, `gh pr create --body-file -`) is not.
    if (!from_input && !reads_only(words) && name != "gh" &&
        std::any_of(cmd.inputs.begin(), cmd.inputs.end(), mentions_protected)) {
      const std::size_t sub = name == "git" ? git_call(words, 0).subcommand : words.size();
      names = names || !(sub < words.size() &&
                         (words[sub] == "commit" || words[sub] == "tag" || words[sub] == "notes"));
    }
    touches = touches || names || !listing.empty();
    if (!cmd.piped) r.tainted = r.code_in_pipe = false;
    const bool tee_elsewhere = name == "tee" && !names;  // copies what it reads into files of its own
    // A loop over protected paths, or over a protected file's lines, whose body only reads.
    const bool reading_loop =
        (names || r.tainted) &&
        (name == "for" ||
         (name == "done" && std::none_of(cmd.inputs.begin(), cmd.inputs.end(), mentions_protected))) &&
        loop_reads(parsed, i, cwd, depth);
    // (Assignments alone run nothing, unless they set what a reader later runs: GIT_PAGER, LESSOPEN.)
    if ((names || r.tainted) &&
        (!(reads || reading_loop) || (assignments_only ? r.exported : risky_environment)) && !tee_elsewhere)
      return false;
    if (!listing.empty() && !reads) return false;  // find . -delete, chmod -R . (what it goes through)
    // (`read` after a pipe that read a protected file holds a line of it: `cat F | while read -r l; do`.)
    // (`n=$(wc -l < actions.jsonl)` holds a number: arithmetic over it later runs nothing.)
    const bool holds_count = assignments_only && !assigned && counted_only;
    r.loop_variable = r.loop_variable ||
                      ((name == "for" || assignments_only || exports_only) && names && !holds_count) ||
                      (name == "read" && (names || r.tainted));
    if (name == "cp" || name == "mv" || name == "install" || name == "ln") remember_copies(words, cwd, r);
    if (name == "tee")
      for (std::size_t k = 1; k < words.size(); ++k)
        if (std::string file = file_named(words[k], cwd); !file.empty()) r.written.insert(std::move(file));
    r.tainted = r.tainted || names || !listing.empty();
    r.code_in_pipe =
        r.code_in_pipe || std::any_of(cmd.inputs.begin(), cmd.inputs.end(), mentions_protected) ||
        std::any_of(named.begin(), named.end(), [](const std::string& w) {
          return mentions_protected(w) && !w.starts_with("--exclude") && !w.starts_with("--ignore");
        });
    if (!groups.empty())  // (the innermost only: it passes it on when it closes; all at once cost n^2)
      groups.back().tainted = groups.back().tainted || r.tainted,
      groups.back().code = groups.back().code || r.code_in_pipe;
    // Later commands run where cd went; one in a pipeline runs in a subshell of its own.
    const bool pipeline = cmd.piped || (i + 1 < parsed.commands.size() && parsed.commands[i + 1].piped);
    if (name == "cd" && !pipeline) cwd = after_cd(words, cmd, cwd, cdpath);
    // pushd DIR goes where cd would; popd, and pushd's other forms (+N, none: a swap), to a folder of the
    // stack, which the hook does not keep.
    if (name == "pushd" && !pipeline)
      cwd = words.size() == 2 && words[1][0] != '+' && words[1][0] != '-' ? after_cd(words, cmd, cwd, cdpath)
                                                                          : fs::path();
    if (name == "popd" && !pipeline) cwd = fs::path();
    if (sets_pwd && !pipeline) cwd = fs::path();
    if (name == "git") {
      const std::size_t sub = git_call(words, 0).subcommand;
      line_runs_git_init = line_runs_git_init || (sub < words.size() && words[sub] == "init");
    }
  }
  if (touched) *touched = touches;
  return true;
}

bool plain_read(const std::string& line, fs::path cwd, int depth, bool* touched, bool variables_protected) {
  return plain_read(parse_shell(line), line, std::move(cwd), depth, touched, variables_protected);
}

// Whether a line runs the human's `agentlog approvals approve|deny`: agentlog's approvals command with
// anything but its listing after it, wherever it appears (a later command, a `$(...)`, a script's text), or
// agentlog given a word the hook cannot read (`agentlog $a ...`), or `approvals approve` after a program the
// hook cannot name (`$(which agentlog) approvals approve ...`).
bool runs_approvals(const ShellLine& parsed, int depth = 0);
bool runs_approvals(const std::string& line, int depth) { return runs_approvals(parse_shell(line), depth); }
bool runs_approvals(const ShellLine& parsed, int depth) {
  if (depth > 4) return true;
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

}  // namespace

namespace hook_bash {

bool names_protected(const std::string& text) { return agentlog::names_protected(text); }
bool mentions_protected(const std::string& text) { return agentlog::mentions_protected(text); }
bool covers_protected(const std::string& path) { return agentlog::covers_protected(path); }
bool claude_settings(const std::string& path) { return agentlog::claude_settings(path); }
bool witness_store(const std::string& path) { return agentlog::witness_store(path); }
bool word_protected(const std::string& word, const fs::path& cwd) {
  return agentlog::word_protected(word, cwd);
}
bool plain_read(const ShellLine& parsed, const std::string& line, const fs::path& cwd) {
  return agentlog::plain_read(parsed, line, cwd);
}
bool plain_read(const std::string& line, const fs::path& cwd) { return agentlog::plain_read(line, cwd); }
std::string cleans_project(const ShellLine& parsed, const fs::path& cwd) {
  return agentlog::cleans_project(parsed, cwd);
}
bool runs_approvals(const ShellLine& parsed) { return agentlog::runs_approvals(parsed); }
bool lookups_ran_out() { return g_lookups_ran_out; }
const std::string& tree_listing_advice() { return g_tree_listing_advice; }

}  // namespace hook_bash

}  // namespace agentlog
