// A shell line read as bash would split and expand it, for the Claude Code hook's checks of what a command
// touches: its commands, their words without the quoting, redirection targets, the code they run first
// (substitutions) and what they read as input (here-docs). Not a shell: what is known only when the line runs
// (a variable's value, a command's output) is kUnknown.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace agentlog {

// What a shell word becomes where the hook cannot know its value: a variable, a command's output. It matches
// any component, even one with a leading '.', except on its own at the end of a path (`rm -rf "$dir"` is
// ordinary work; `"$dir"/logging/config` is not).
constexpr char kUnknown = '\x01';

// What `$(git rev-parse --show-toplevel)` becomes in a word: the folder holding the repository of the folder
// the command runs in, which the hook can find (agents go to the project's root this way).
constexpr const char* kGitTopLevel = "\x05git-top-level\x05";

// One command of a shell line as the shell would run it: its words with the quoting taken out (brace
// expansions expanded, a value the hook cannot know as kUnknown), the files it redirects its output into,
// the code it runs first (`$(...)`, backquotes, `<(...)`, `>(...)`, and those in a here-doc whose delimiter
// is not quoted), what it reads as its input (here-docs and here-strings), whether its input is the output
// of the command before it (`|`), and how many `( ... )` subshells it runs in (a `cd` there ends with them).
struct ShellCommand {
  std::vector<std::string> words;
  std::vector<std::string> targets;
  std::vector<std::string> substitutions;
  std::vector<std::string> inputs;
  std::vector<std::string> sources;  // files it reads as its input (`< FILE`); they are among its words too
  bool piped = false;
  int subshell = 0;
  bool expands_heredoc = false;  // a here-doc's body had substitutions bash runs (`<<EOF`, not `<<'EOF'`)
  // It evaluates arithmetic (`$((...))`, `((...))`): bash takes a variable's value there as an expression,
  // and an array subscript in it runs the `$(...)` it holds (`x='a[$(rm ...)]'; echo $((x))`); so does the
  // output of a `$(...)` written in it. Those are among its substitutions (`arithmetic_operands`: their
  // indices); the expression is not read as commands (its `<` and `>` compare).
  bool arithmetic = false;
  std::vector<std::size_t> arithmetic_operands;
};

// A shell line read as commands, and whether it holds what the hook does not follow (a function or alias
// defined, a quote left open, `shopt`, PATH changed): such a line is not a plain read if it mentions a
// protected path at all.
struct ShellLine {
  std::vector<ShellCommand> commands;
  bool opaque = false;
};

// `{a,b}` in a word, expanded as bash does (`.ai-agents/logging/{audit,approvals}`, `{x,{y,z}}`, `{a,}`);
// at most 64 words.
std::vector<std::string> brace_expanded(const std::string& word);

// Reads a shell line as bash would split it: commands at ; && || & | newlines and parentheses outside quotes,
// `#` comments, here-docs, quoting (`'...'`, `"..."`, `$'...'` with its escapes, `$"..."`, backslashes), and
// expansions: `$(...)`, backquotes and process substitutions are read as commands of their own (their text
// in `substitutions`); `$PWD`, `$HOME`, `$OLDPWD` and `$CLAUDE_PROJECT_DIR` stay as written, and so do
// `$(pwd)` (as `$PWD`) and `$(git rev-parse --show-toplevel)` (as kGitTopLevel); any other variable or
// substitution becomes kUnknown. Braces and commas that are quoted are not expanded.
ShellLine parse_shell(const std::string& text);

}  // namespace agentlog
