#include "tools/hook_rules.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <sstream>

#include "tools/shell_line.hpp"

namespace agentlog {

namespace {

bool one_of(const std::string& word, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return word == n; });
}

bool short_options(const std::string& w) { return w.size() > 1 && w[0] == '-' && w[1] != '-'; }

// A long option, or its abbreviation as getopt_long accepts it (`--out=` for `--output=`), that writes a
// file or runs a program on one.
bool writing_option(const std::string& w) {
  static const char* const options[] = {
      "output", "pre", "log-file", "ext-diff", "textconv", "open-files-in-pager", "compress-program"};
  if (!w.starts_with("--") || w.size() == 2) return false;
  const std::string name = w.substr(2, w.find('=') - 2);
  if (name == "text") return false;  // grep's and diff's own option, not an abbreviation of --textconv
  return std::any_of(std::begin(options), std::end(options), [&](const char* o) {
    return w.starts_with(std::string("--") + o) || (!name.empty() && std::string(o).starts_with(name));
  });
}

// A sed script that only prints: addresses, and the commands that print, delete from what is printed, or
// move between lines (`p`, `d`, `q`, `n`, `s///` without its `w` and `e` flags, `y`, `{}`...). Not `w`, `e`,
// `r`, `W`, nor `s///w FILE` or `s///e`, nor anything this does not know.
bool sed_script_prints(const std::string& s) {
  std::size_t i = 0;
  auto skip_blanks = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  auto to_delimiter = [&](char d) {  // from after an opening delimiter to the closing one
    for (; i < s.size() && s[i] != '\n'; ++i) {
      if (s[i] == '\\')
        ++i;
      else if (s[i] == d)
        return true;
    }
    return false;
  };
  auto address = [&] {
    if (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '~')) ++i;
    } else if (i < s.size() && s[i] == '$') {
      ++i;
    } else if (i < s.size() && (s[i] == '/' || s[i] == '\\')) {
      const char d = s[i] == '\\' ? (i + 1 < s.size() ? s[++i] : '\0') : '/';
      ++i;
      if (d == '\0' || d == '\n' || !to_delimiter(d)) return false;
      ++i;
      while (i < s.size() && (s[i] == 'I' || s[i] == 'M')) ++i;
    }
    return true;
  };
  while (i < s.size()) {
    while (i < s.size() && std::strchr(" \t\n;}", s[i])) ++i;
    if (i == s.size()) break;
    if (s[i] == '#') {  // a comment
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    if (!address()) return false;
    skip_blanks();
    if (i < s.size() && s[i] == ',') {
      ++i;
      skip_blanks();
      if (i < s.size() && (s[i] == '+' || s[i] == '~')) ++i;
      if (!address()) return false;
    }
    skip_blanks();
    if (i < s.size() && s[i] == '!') ++i;
    skip_blanks();
    if (i == s.size()) return false;
    const char c = s[i++];
    if (std::strchr("pPdDnNgGhHxzlqQ={", c)) {
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;  // q5, l 70
    } else if (c == 's' || c == 'y') {
      const char d = i < s.size() ? s[i++] : '\0';
      if (d == '\0' || d == '\n' || d == '\\' || !to_delimiter(d)) return false;
      ++i;
      if (!to_delimiter(d)) return false;
      ++i;
      while (c == 's' && i < s.size() && std::strchr("gpiImM0123456789", s[i])) ++i;
    } else if (c == ':' || c == 'b' || c == 't' || c == 'T') {  // labels and jumps to them
      while (i < s.size() && s[i] != '\n' && s[i] != ';') ++i;
    } else {
      return false;
    }
  }
  return true;
}

bool sed_reads(const std::vector<std::string>& words) {
  std::vector<std::string> scripts;
  bool operands = false;
  for (std::size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (w == "--") {
      operands = true;
    } else if (!operands && short_options(w)) {
      for (std::size_t j = 1; j < w.size(); ++j) {
        if (std::strchr("nErsuz", w[j])) continue;
        if (w[j] == 'e' || w[j] == 'l') {
          const std::string value = j + 1 < w.size()       ? w.substr(j + 1)
                                    : k + 1 < words.size() ? words[++k]
                                                           : "";
          if (w[j] == 'e') scripts.push_back(value);
          break;
        }
        return false;  // -i (in place), -f (a script file), what this does not know
      }
    } else if (!operands && w.starts_with("--")) {
      if (w.starts_with("--expression=")) {
        scripts.push_back(w.substr(w.find('=') + 1));
      } else if (w == "--expression" && k + 1 < words.size()) {
        scripts.push_back(words[++k]);
      } else if (!one_of(w, {"--quiet", "--silent", "--regexp-extended", "--separate", "--unbuffered",
                             "--null-data", "--posix", "--debug", "--sandbox"}) &&
                 !w.starts_with("--line-length=")) {
        return false;
      }
    } else if (scripts.empty()) {
      scripts.push_back(w);  // the script, when no -e gave one
    }
  }
  return !scripts.empty() && std::all_of(scripts.begin(), scripts.end(), sed_script_prints);
}

// An awk program that only prints: no output redirected (`print > "file"`, `printf ... >>`), no pipe to or
// from a command (`print | "sh"`, `"cmd" | getline`), no `system()`, no gawk extension (`@load`). Read as awk
// reads it: `>` outside a print statement compares (`NR>1`, `length > 200`), `||` is a logical or, and what
// is in a string or a regular expression (`/LEVEL|ENABLED/`) is neither. A `>` anywhere in a print statement
// counts, even in parentheses (`print (a > b)` is rare; a redirection is not).
bool awk_program_prints(const std::string& s) {
  if (s.find(kUnknown) != std::string::npos) return false;  // a program the hook cannot know (`awk "$P"`)
  if (s.find('@') != std::string::npos || s.find("system") != std::string::npos) return false;
  bool in_print = false;
  char last = '\0';  // the last character that was not blank, outside strings and regular expressions
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ' ' || c == '\t') continue;
    if (c == '#') {  // a comment
      while (i < s.size() && s[i] != '\n') ++i;
      in_print = false, last = '\n';
      continue;
    }
    if (c == '"' || (c == '/' && (last == '\0' || std::strchr("(,{;!~&|=\n}?:", last)))) {
      for (++i; i < s.size() && s[i] != c; ++i)  // a string, or a regular expression (not a division)
        if (s[i] == '\\') ++i;
      if (i >= s.size()) return false;  // not closed: not awk the hook can read
      last = 'x';
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      const std::string word = s.substr(i, j - i);
      if (word == "print" || word == "printf") in_print = true;
      i = j - 1, last = 'x';
      continue;
    }
    if (c == '|') {
      if (i + 1 < s.size() && s[i + 1] == '|') {
        ++i, last = '|';
        continue;
      }
      return false;  // a pipe: `print | "sh"`, `"cmd" | getline`, `|&`
    }
    if (c == '>' && in_print) return false;  // print > "file", print >> "file"
    if (c == ';' || c == '\n' || c == '}' || c == '{') in_print = false;
    last = c;
  }
  return true;
}

// An awk command that only prints: its program (the first operand) as awk_program_prints reads it; no option
// but -F and -v (`-f FILE`, `-i inplace`, `-l`, gawk's `-e` are code), and no `system` or `@` in a value.
bool awk_reads(const std::vector<std::string>& words) {
  bool program = false;
  for (std::size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (!program && (w == "-F" || w == "-v") && k + 1 < words.size()) {
      ++k;  // its value, checked as any other
      if (words[k].find('@') != std::string::npos || words[k].find("system") != std::string::npos)
        return false;
      continue;
    }
    if (!program && w == "--" && k + 1 < words.size()) {
      program = true;
      if (!awk_program_prints(words[++k])) return false;
      continue;
    }
    if (!program && w.starts_with("-") && w != "-") {
      if (!w.starts_with("-F") && !w.starts_with("-v") && !w.starts_with("--field-separator=") &&
          !w.starts_with("--assign="))
        return false;  // -f FILE, -i inplace, -l, -e (gawk) ...
      if (w.find('@') != std::string::npos || w.find("system") != std::string::npos) return false;
      continue;
    }
    if (!program) {
      program = true;
      if (!awk_program_prints(w)) return false;
    } else if (w.find('@') != std::string::npos || w.find("system") != std::string::npos) {
      return false;  // a var=value operand
    }
  }
  return program;
}

// `python3 -m json.tool [FILE]`: prints a JSON file indented. With a second operand it writes that file.
bool json_tool_reads(const std::vector<std::string>& words) {
  if (words.size() < 3 || words[1] != "-m" || words[2] != "json.tool") return false;
  std::size_t operands = 0;
  for (std::size_t k = 3; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (w == "--indent") {
      ++k;
    } else if (w.starts_with("-")) {
      if (!one_of(
              w, {"--sort-keys", "--compact", "--no-ensure-ascii", "--json-lines", "--tab", "--no-indent"}) &&
          !w.starts_with("--indent="))
        return false;
    } else {
      ++operands;
    }
  }
  return operands <= 1;
}

// `python3 -c CODE` that only prints what it reads from its input (`tail -n 5 actions.jsonl | python3 -c
// 'import sys, json; ...'`): given no file or other word, its code ASCII (Python folds `ｏｐｅｎ` into open),
// importing only modules that reach no file or program, and naming nothing that opens, runs or reaches one:
// no open, exec, eval, getattr, sys.modules, no name starting with `_` (`__import__`, `__builtins__`), no
// hook (sys.breakpointhook starts pdb, which would take commands from the input).
bool python_code_reads(const std::vector<std::string>& words) {
  static const char* const modules[] = {"sys",       "json",      "re",        "collections", "statistics",
                                        "math",      "itertools", "functools", "datetime",    "textwrap",
                                        "pprint",    "heapq",     "bisect",    "csv",         "decimal",
                                        "fractions", "time",      "base64",    "hashlib",     "unicodedata"};
  static const char* const anywhere[] = {"open",         "modules", "system",    "popen",     "attrgetter",
                                         "methodcaller", "codecs",  "get_field", "Formatter", "breakpoint",
                                         "subprocess",   "os",      "shutil",    "pathlib",   "io"};
  static const char* const builtins[] = {"exec",    "eval",   "compile", "getattr", "setattr", "delattr",
                                         "globals", "locals", "vars",    "help",    "input",   "memoryview"};
  const std::string name = std::filesystem::path(words[0]).filename().string();
  std::size_t k = 1;
  while (k < words.size() && one_of(words[k], {"-I", "-S", "-E", "-B", "-u", "-s", "-q", "-O", "-OO"})) ++k;
  if (!name.starts_with("python") || k + 2 != words.size() || words[k] != "-c") return false;
  const std::string& code = words[k + 1];
  if (std::any_of(code.begin(), code.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; }) ||
      code.find(kUnknown) != std::string::npos)
    return false;
  std::vector<std::pair<std::string, bool>> names;  // identifiers, and whether a '.' is before them
  for (std::size_t i = 0; i < code.size();) {
    const auto c = static_cast<unsigned char>(code[i]);
    if (std::isdigit(c)) {  // a number (`0x1f`, `1e5`): not a name
      while (i < code.size() && (std::isalnum(static_cast<unsigned char>(code[i])) || code[i] == '.')) ++i;
      continue;
    }
    if (!std::isalpha(c) && c != '_') {
      ++i;
      continue;
    }
    const std::size_t from = i;
    while (i < code.size() && (std::isalnum(static_cast<unsigned char>(code[i])) || code[i] == '_')) ++i;
    std::size_t before = from;
    while (before > 0 && (code[before - 1] == ' ' || code[before - 1] == '\t')) --before;
    names.emplace_back(code.substr(from, i - from), before > 0 && code[before - 1] == '.');
  }
  auto in = [](const std::string& n, const auto& list) {
    return std::find(std::begin(list), std::end(list), n) != std::end(list);
  };
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& [n, attribute] = names[i];
    if ((n.starts_with("_") && n != "_") || in(n, anywhere) || n.find("hook") != std::string::npos ||
        (!attribute && in(n, builtins)))
      return false;
    if (n == "from" && (i + 1 == names.size() || !in(names[i + 1].first, modules))) return false;
  }
  // `import a, b as c`: every module named (after `from M`, what `import` takes are M's names).
  for (std::size_t at = code.find("import"); at != std::string::npos; at = code.find("import", at + 6)) {
    const std::size_t end = code.find_first_of(";\n", at);
    const std::string list = code.substr(at + 6, end == std::string::npos ? end : end - at - 6);
    const std::size_t from_at = code.rfind("from", at);
    const bool after_from = from_at != std::string::npos && code.find_first_of(";\n", from_at) > at;
    if (after_from) continue;
    std::istringstream parts(list);
    for (std::string part; std::getline(parts, part, ',');) {
      std::istringstream module(part);
      std::string m;
      module >> m;
      if (!m.empty() && !in(m, modules)) return false;
    }
  }
  return true;
}

}  // namespace

GitCall git_call(const std::vector<std::string>& words, std::size_t git) {
  GitCall call{words.size(), false};
  for (std::size_t k = git + 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (!w.starts_with("-")) {
      call.subcommand = k;
      break;
    }
    // Settings that only change how git prints (`-c color.ui=always`); any other may name a program to run
    // (core.pager, diff.external, core.fsmonitor, alias.*).
    const std::string value = w == "-c" && k + 1 < words.size() ? words[k + 1] : "";
    const bool printing = value.starts_with("color.") || value.starts_with("core.quotepath") ||
                          value.starts_with("user.") || value.starts_with("advice.");
    if ((w == "-c" && !printing) || w == "--config-env" || w.starts_with("--config-env=") ||
        w.starts_with("--exec-path="))
      call.configured = true;
    if (one_of(w, {"-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix",
                   "--attr-source"}))
      ++k;  // its value
  }
  return call;
}

std::optional<std::vector<std::string>> xargs_command(const std::vector<std::string>& words) {
  std::size_t k = 1;
  for (; k < words.size() && words[k].starts_with("-"); ++k) {
    const std::string& w = words[k];
    if (w == "--") {
      ++k;
      break;
    }
    if (w.starts_with("--")) {
      if (one_of(w, {"--null", "--no-run-if-empty", "--verbose", "--exit", "--interactive", "--open-tty"}) ||
          w.starts_with("--max-args=") || w.starts_with("--max-lines=") || w.starts_with("--max-procs=") ||
          w.starts_with("--max-chars=") || w.starts_with("--delimiter=") || w.starts_with("--replace") ||
          w.starts_with("--eof") || w.starts_with("--arg-file="))
        continue;
      if (w == "--arg-file") {
        ++k;
        continue;
      }
      return std::nullopt;  // what this does not know
    }
    const char option = w.size() > 1 ? w[1] : '\0';
    if (std::strchr("0rtxpo", option) && w.size() == 2) continue;
    if (std::strchr("ILnPsdEa", option)) {  // their value attached, or the next word (-a FILE)
      if (w.size() == 2) ++k;
      continue;
    }
    if (option == 'i' || option == 'e' || option == 'l') continue;  // an optional value, attached
    return std::nullopt;                                            // what this does not know
  }
  if (k >= words.size()) return std::vector<std::string>{"echo"};
  return std::vector<std::string>(words.begin() + static_cast<std::ptrdiff_t>(k), words.end());
}

std::vector<std::string> xargs_arg_files(const std::vector<std::string>& words) {
  std::vector<std::string> files;
  for (std::size_t k = 1; k < words.size() && words[k].starts_with("-") && words[k] != "--"; ++k) {
    const std::string& w = words[k];
    if (w.starts_with("--arg-file=")) files.push_back(w.substr(11));
    if ((w == "--arg-file" || w == "-a") && k + 1 < words.size()) files.push_back(words[++k]);
    if (w.size() > 2 && w.starts_with("-a")) files.push_back(w.substr(2));
    if (w.size() == 2 && std::strchr("ILnPsdE", w[1])) ++k;  // (their value)
  }
  return files;
}

bool given_anything(const std::vector<std::string>& words) {
  static const char* const names[] = {
      "cat",      "head",      "tail",     "wc",       "ls",        "stat",  "du",      "grep",
      "jq",       "diff",      "cmp",      "cut",      "nl",        "od",    "hexdump", "strings",
      "column",   "sha256sum", "sha1sum",  "md5sum",   "sha512sum", "b2sum", "echo",    "printf",
      "basename", "dirname",   "realpath", "readlink", "test",      "[",     "true",    "false"};
  if (words.empty() || !reads_only(words)) return false;
  const std::string name = std::filesystem::path(words[0]).filename().string();
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool reads_only(const std::vector<std::string>& words) {
  static const char* const reads[] = {
      "cat",     "head",     "tail",     "less",      "more",    "grep",   "rg",        "wc",     "ls",
      "stat",    "du",       "file",     "find",      "jq",      "diff",   "cmp",       "sort",   "uniq",
      "cut",     "tr",       "nl",       "sha256sum", "sha1sum", "md5sum", "sha512sum", "b2sum",  "od",
      "hexdump", "strings",  "column",   "tree",      "test",    "[",      "echo",      "printf", "cd",
      "pwd",     "realpath", "readlink", "basename",  "dirname", "true",   "false",     "mkdir",  "[[",
      "base64",  "pushd",    "popd",     "xxd",       "read",    "((",     "zcat",      "zgrep"};
  if (words.empty()) return false;
  const std::filesystem::path program(words[0]);
  const std::string folder = program.parent_path().string();
  if (!folder.empty() && folder != "/bin" && folder != "/usr/bin" && folder != "/usr/local/bin") return false;
  const std::string name = program.filename().string();
  if (std::any_of(words.begin(), words.end(), writing_option)) return false;
  if (name == "git") {  // git's reading subcommands, with no option that runs a program
    const GitCall call = git_call(words, 0);
    if (call.configured || call.subcommand == words.size()) return false;
    const std::string& sub = words[call.subcommand];
    if (sub == "grep" && std::any_of(words.begin(), words.end(), [](const std::string& w) {
          return short_options(w) && w.find('O') != std::string::npos;  // -O<pager>: runs it on the files
        }))
      return false;
    // `git add -f` adds what .gitignore keeps out (the .env files, the audit log): once tracked, a `git
    // stash` or `git checkout` can put back an older copy of them.
    if (sub == "add" && std::any_of(words.begin() + static_cast<std::ptrdiff_t>(call.subcommand), words.end(),
                                    [](const std::string& w) {
                                      return w == "--force" ||
                                             (short_options(w) && w.find('f') != std::string::npos);
                                    }))
      return false;
    return one_of(sub, {"diff", "log", "show", "status", "blame", "ls-files", "add", "grep", "rev-parse",
                        "check-ignore", "ls-tree", "shortlog", "rev-list", "cat-file"});
  }
  if (name == "sed") return sed_reads(words);
  if (interpreter(name)) return json_tool_reads(words) || python_code_reads(words);
  if (name == "awk" || name == "gawk" || name == "mawk") return awk_reads(words);
  if (std::find(std::begin(reads), std::end(reads), name) == std::end(reads)) return false;
  std::size_t operands = 0;
  for (std::size_t k = 1; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (name == "find" && (w == "-exec" || w == "-execdir" || w == "-ok" || w == "-okdir")) {
      // A reader find runs on what it finds (`-exec jq empty {} +`); with `+` it is given many files at once
      // (uniq IN OUT).
      std::size_t end = k + 1;
      while (end < words.size() && words[end] != ";" && words[end] != "+") ++end;
      if (end == words.size() || end == k + 1) return false;
      const std::vector<std::string> run(words.begin() + static_cast<std::ptrdiff_t>(k + 1),
                                         words.begin() + static_cast<std::ptrdiff_t>(end));
      if (!reads_only(run) || runs_code(std::filesystem::path(run[0]).filename().string()) ||
          (words[end] == "+" && !given_anything(run)))
        return false;
      k = end;
      continue;
    }
    if (name == "find" && w.find(kUnknown) != std::string::npos) return false;  // `$(echo -delete)`
    if (w == "-delete" || w.starts_with("-exec") || w.starts_with("-ok") || w.starts_with("-fprint") ||
        w == "-fls")
      return false;  // find's actions that change files
    if ((name == "sort" || name == "tree") && short_options(w) && w.find('o') != std::string::npos)
      return false;  // sort -o FILE, sort -uo FILE
    if ((name == "less" || name == "more") && short_options(w) &&
        (w.find('o') != std::string::npos || w.find('O') != std::string::npos))
      return false;  // less -o FILE: a log of what it shows
    operands += !w.starts_with("-");
  }
  if (name == "xxd" && std::any_of(words.begin(), words.end(), [](const std::string& w) {
        return short_options(w) && w.find('r') != std::string::npos;
      }))
    return false;                                               // xxd -r: a dump turned back into a file
  return !((name == "uniq" || name == "xxd") && operands > 1);  // uniq IN OUT, xxd IN OUT write OUT
}

std::vector<std::string> operands(const std::string& name, const std::vector<std::string>& words) {
  const std::size_t at = name == "git" ? git_call(words, 0).subcommand : 0;
  const std::string sub = name == "git" && at < words.size() ? words[at] : "";
  // Options whose value is a message: git's (`git revert -m` takes a parent's number: as harmless), gh's.
  const bool git_message = one_of(sub, {"commit", "tag", "stash", "merge", "notes", "revert"});
  auto message = [&](const std::string& w) {
    if (git_message)
      return one_of(w, {"-m", "--message", "-F", "--file"}) || (short_options(w) && w.ends_with('m'));  // -am
    return name == "gh" && one_of(w, {"-t", "--title", "-b", "--body"});
  };
  auto attached_message = [&](const std::string& w) {
    if (git_message) return w.starts_with("-m") || w.starts_with("--message=");
    return name == "gh" && (w.starts_with("--title=") || w.starts_with("--body="));
  };
  std::vector<std::string> out;
  for (std::size_t k = 0; k < words.size(); ++k) {
    const std::string& w = words[k];
    if (k > at && message(w)) {
      ++k;
      continue;
    }
    if (k > at && attached_message(w)) continue;
    if (sub == "clean" && (w == "-e" || w == "--exclude")) {
      ++k;
      continue;
    }
    if (sub == "clean" && (w.starts_with("-e") || w.starts_with("--exclude="))) continue;
    if (name == "find" && w.starts_with("-") && k + 3 < words.size() && words[k + 2] == "-prune" &&
        (words[k + 3] == "-o" || words[k + 3] == "-or")) {
      k += 1;  // -path X -prune -o ...: what find leaves out (not the start folder, nor `X -prune -exec`)
      continue;
    }
    out.push_back(w);
  }
  return out;
}

bool is_shell(const std::string& name) { return one_of(name, {"sh", "bash", "zsh", "dash", "ksh"}); }

bool interpreter(const std::string& name) {
  static const char* const names[] = {"python", "pypy", "perl", "ruby",   "node",
                                      "nodejs", "php",  "lua",  "Rscript"};
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) {
    return name.starts_with(n) &&
           std::all_of(name.begin() + static_cast<std::ptrdiff_t>(std::strlen(n)), name.end(),
                       [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; });
  });
}

bool runs_code(const std::string& name) {
  static const char* const runners[] = {"sh",      "bash",  "zsh",  "dash",  "ksh",   "source", ".",
                                        "awk",     "gawk",  "mawk", "xargs", "env",   "exec",   "nohup",
                                        "timeout", "watch", "sudo", "su",    "script"};
  return interpreter(name) || std::find(std::begin(runners), std::end(runners), name) != std::end(runners);
}

bool exported_already(const std::string& assignment) {
  const std::string name = assignment.substr(0, assignment.find('='));
  return name.starts_with("LESS") || name.ends_with("PAGER") || name.starts_with("GIT_") ||
         name.starts_with("LD_") || name.starts_with("RIPGREP_") || name.starts_with("GREP_OPT") ||
         one_of(name, {"BASH_ENV", "ENV", "SHELL", "EDITOR", "VISUAL", "SHELLOPTS", "BASHOPTS", "IFS",
                       "TAR_OPTIONS"});
}

bool harmless_variable(const std::string& assignment) {
  const std::string name = assignment.substr(0, assignment.find('='));
  return name.starts_with("LC_") || name == "LANG" || name == "TZ" || name == "NO_COLOR" || name == "TERM" ||
         name == "COLUMNS" || name.starts_with("GREP_");
}

}  // namespace agentlog
