// What the Claude Code hook knows about the programs a shell command runs: which only read the files they
// are given, which run code they are given, which of their words are file names, where git's subcommand is,
// and what xargs runs. Plain functions of a command's words (as parse_shell reads them); no state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace agentlog {

// git's subcommand in a command's words, past git's own options (`git -C dir --no-pager log`), and whether
// those options can make a reading subcommand run a program (`-c core.pager=...`, `--exec-path=...`).
struct GitCall {
  std::size_t subcommand;  // an index into the words, or their size when there is none
  bool configured;
};
GitCall git_call(const std::vector<std::string>& words, std::size_t git);

// The command xargs runs, with the options of xargs taken off (`xargs -I{} echo {}` runs `echo {}`; bare
// `xargs` runs echo), or nothing when xargs takes an option the hook does not know.
std::optional<std::vector<std::string>> xargs_command(const std::vector<std::string>& words);

// The files xargs reads its arguments from instead of its input (`-a FILE`, `--arg-file=FILE`).
std::vector<std::string> xargs_arg_files(const std::vector<std::string>& words);

// Programs that read files and change none (what they print may be redirected: that target is checked on
// its own), as found on PATH or in the system's folders: a program of the same name elsewhere (`/tmp/ls`)
// may be anything. sed and awk count when their script only prints.
bool reads_only(const std::vector<std::string>& words);

// A reader that stays one whatever words are added to it (`xargs cat`, `find -exec grep -l X {} +`): not sed
// (`-i`), sort (`-o FILE`), uniq (IN OUT), find (`-delete`), rg (`--pre CMD`), less, tree, git, awk.
bool given_anything(const std::vector<std::string>& words);

// The words of a command that may name files: all but a message (`git commit -m "fix .env.tracing parsing"`,
// `gh pr create --title ...`) and what a command is told to leave alone (`git clean -e .ai-agents`, `find
// -path X -prune`).
std::vector<std::string> operands(const std::string& name, const std::vector<std::string>& words);

bool is_shell(const std::string& name);

// Programs that run code they are given (a script's text or file, their input): what they run is what they
// do. Interpreters with a version in their name count (`python3.11`, `node20`).
bool runs_code(const std::string& name);

// Interpreters other than the shells, whose first operand is a script file (`python3 fix.py`).
bool interpreter(const std::string& name);

// Environment variables a read may be given without changing what it does.
bool harmless_variable(const std::string& assignment);

// Variables that are often exported already and make a reader run a program or write a file (LESSOPEN,
// PAGER, GIT_*): set alone earlier in a line, they change what the line's readers do.
bool exported_already(const std::string& assignment);

}  // namespace agentlog
