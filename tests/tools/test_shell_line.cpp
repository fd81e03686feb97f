// parse_shell as functions: how the hook sees a line's commands, words, targets, substitutions and inputs.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tools/shell_line.hpp"

using agentlog::brace_expanded;
using agentlog::kGitTopLevel;
using agentlog::kUnknown;
using agentlog::parse_shell;
using Words = std::vector<std::string>;

TEST_CASE("parse_shell splits commands and takes the quoting out") {
  auto line = parse_shell("cd a && rm -rf 'b c' \"d\\\"e\" f\\ g; ls | wc -l");
  REQUIRE(line.commands.size() == 4);
  CHECK(line.commands[0].words == Words{"cd", "a"});
  CHECK(line.commands[1].words == Words{"rm", "-rf", "b c", "d\"e", "f g"});
  CHECK(line.commands[3].piped);
  CHECK_FALSE(line.opaque);
  CHECK(parse_shell("echo 'open").opaque);  // a quote left open
  CHECK(parse_shell("cat() { rm \"$@\"; }").opaque);
}

TEST_CASE("comments and here-docs are not commands; a here-doc is its command's input") {
  auto line = parse_shell("echo a # don't\ncat > n.txt <<'EOF'\nit's\nEOF\nrm x");
  std::vector<Words> words;
  for (const auto& c : line.commands)
    if (!c.words.empty()) words.push_back(c.words);
  CHECK(words == std::vector<Words>{{"echo", "a"}, {"cat"}, {"rm", "x"}});
  for (const auto& c : line.commands)
    if (!c.words.empty() && c.words[0] == "cat") {
      CHECK(c.targets == Words{"n.txt"});
      CHECK(c.inputs == Words{"it's\n"});
    }
  CHECK(parse_shell("bash <<< 'rm -rf x'").commands[0].inputs == Words{"rm -rf x"});
  CHECK(parse_shell("cat <<-END\n\tbody\n\tEND\necho").commands[0].inputs == Words{"body\n"});
}

TEST_CASE("substitutions are read as code of their own, their value unknown") {
  auto c = parse_shell("git commit -m \"$(cat <<'EOF'\nwon't\nEOF\n)\" && echo `date`").commands;
  CHECK(c[0].words == Words{"git", "commit", "-m", std::string(1, kUnknown)});
  REQUIRE(c[0].substitutions.size() == 1);
  CHECK(c[0].substitutions[0] == "cat <<'EOF'\nwon't\nEOF\n");
  CHECK(c[1].substitutions == Words{"date"});
  CHECK(parse_shell("diff <(sort a) b").commands[0].substitutions == Words{"sort a"});
  CHECK(parse_shell("rm -rf \"$dir\"/x $PWD/y ${HOME}/z").commands[0].words ==
        Words{"rm", "-rf", std::string(1, kUnknown) + "/x", "$PWD/y", "$HOME/z"});
  CHECK(parse_shell("echo \"a$\" $'\\x2eb\\'c'").commands[0].words == Words{"echo", "a$", ".b'c"});
}

TEST_CASE("an unquoted here-doc's substitutions run first, a quoted one's are text") {
  auto notes = parse_shell("cat > n.md <<EOF\nrun `make` or $(date)\nEOF").commands[0];
  CHECK(notes.substitutions == Words{"make", "date"});
  CHECK(notes.inputs == Words{"run `make` or $(date)\n"});
  CHECK(parse_shell("cat > n.md <<'EOF'\nrun `make`\nEOF").commands[0].substitutions.empty());
  CHECK(parse_shell("cat <<\\EOF\n$(x)\nEOF").commands[0].substitutions.empty());
  CHECK(parse_shell("cat <<EOF\n\\$(x) \\`y\\`\nEOF").commands[0].substitutions.empty());  // escaped
}

TEST_CASE("the folders $(pwd) and the repository's stay known; subshells are counted") {
  CHECK(parse_shell("cd \"$(git rev-parse --show-toplevel)\"/src $(pwd) `pwd`").commands[0].words ==
        Words{"cd", std::string(kGitTopLevel) + "/src", "$PWD", "$PWD"});
  std::vector<int> depths;
  for (const auto& c : parse_shell("cd a && (cd b && (ls)) && rm x").commands)
    if (!c.words.empty()) depths.push_back(c.subshell);
  CHECK(depths == std::vector<int>{0, 1, 2, 0});
}

TEST_CASE("redirections: files written, descriptors not") {
  CHECK(parse_shell("make >& log 2>&1").commands[0].targets == Words{"log"});
  CHECK(parse_shell("printf x 1<> f").commands[0].targets == Words{"f"});
  CHECK(parse_shell("cmd &>> out 2>&- < in").commands[0].targets == Words{"out"});
  CHECK(parse_shell("cmd < in").commands[0].words == Words{"cmd", "in"});
}

TEST_CASE("brace expansion as bash does it") {
  CHECK(brace_expanded("a/{b,c}") == Words{"a/b", "a/c"});
  CHECK(brace_expanded("a/{b,}") == Words{"a/b", "a/"});
  CHECK(brace_expanded("{x,{y,z}}") == Words{"x", "y", "z"});
  CHECK(brace_expanded("{x}") == Words{"{x}"});
  CHECK(brace_expanded("{a,b}{c,d}").size() == 4);
  CHECK(brace_expanded("{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}").size() == 64);  // bounded
  // Quoted or escaped, braces are text (an awk program is one word).
  CHECK(parse_shell("awk '{print $1, $2}' f").commands[0].words == Words{"awk", "{print $1, $2}", "f"});
  CHECK(parse_shell("echo \"{a,b}\" \\{c,d\\} {e,f}").commands[0].words ==
        Words{"echo", "{a,b}", "{c,d}", "e", "f"});
}

TEST_CASE("what a third review found the parser missed") {
  // A substitution inside ${...} runs; the word is still one value the hook cannot know.
  auto c = parse_shell("echo ${x:-$(rm y)} ${z:-`rm w`}").commands;
  CHECK(c[0].substitutions == Words{"rm y", "rm w"});
  CHECK(c[0].words == Words{"echo", std::string(1, kUnknown), std::string(1, kUnknown)});
  // A line ending in `|` before a here-doc's body: the command after the body is the piped one.
  std::vector<Words> piped;
  for (const auto& cmd : parse_shell("cat <<'EOF' |\nrm x\nEOF\nbash").commands)
    if (cmd.piped) piped.push_back(cmd.words);
  CHECK(piped == std::vector<Words>{{"bash"}});
  // A quoted delimiter with a blank in it ends at its own line.
  auto q = parse_shell("cat <<\"E F\"\nx\"\nE F\nrm y").commands;
  CHECK(q[0].inputs == Words{"x\"\n"});
  CHECK(q.back().words == Words{"rm", "y"});
  CHECK_FALSE(parse_shell("cat <<\"E F\"\nx\"\nE F\nrm y").opaque);
  // A case pattern's `)` closes no subshell: the line is one the hook does not follow.
  CHECK(parse_shell("case y in y) true;; esac; (cd /tmp); rm x").opaque);
}

TEST_CASE("arithmetic is an expression, not commands; what it runs first is known") {
  // `$((...))`: its `<` and `>` compare, its `$(...)` runs first (and is marked as evaluated there).
  auto c = parse_shell("echo $(( $(wc -l < a.jsonl) + 1 )) $(date)").commands;
  REQUIRE(c.size() == 1);
  CHECK(c[0].words == Words{"echo", std::string(1, kUnknown), std::string(1, kUnknown)});
  CHECK(c[0].substitutions == Words{"wc -l < a.jsonl", "date"});
  CHECK(c[0].arithmetic);
  CHECK(c[0].arithmetic_operands == std::vector<std::size_t>{0});
  CHECK(c[0].targets.empty());
  CHECK_FALSE(parse_shell("echo $((x))").opaque);
  CHECK(parse_shell("echo $((x))").commands[0].arithmetic);
  // `$((...) )` closes with one `)`: a command's output with a subshell in it, as bash reads it.
  auto s = parse_shell("echo $((cd a; ls) )").commands[0];
  CHECK_FALSE(s.arithmetic);
  CHECK(s.substitutions == Words{"(cd a; ls) "});
  // `(( ... ))` as a command, also after `if`: one word, no redirection.
  auto t = parse_shell("if (( $(wc -l < a) > 100 )); then echo big; fi").commands;
  CHECK(t[0].words == Words{"if", "(("});
  CHECK(t[0].targets.empty());
  CHECK(t[0].arithmetic_operands == std::vector<std::size_t>{0});
  CHECK(parse_shell("((cd a; ls) )").commands[0].words.empty());  // subshells: `cd a` is a command
  // `$((` nested past any use stops being followed, in linear time.
  std::string deep = "echo ";
  for (int i = 0; i < 20000; ++i) deep += "$((";
  CHECK(parse_shell(deep).opaque);
}

TEST_CASE("a command's input file is known as such (xargs takes its words from it)") {
  auto c = parse_shell("xargs rm -f < list.txt").commands[0];
  CHECK(c.words == Words{"xargs", "rm", "-f", "list.txt"});
  CHECK(c.sources == Words{"list.txt"});
  CHECK(parse_shell("cmd <> f").commands[0].sources.empty());  // read and written: a target
}
