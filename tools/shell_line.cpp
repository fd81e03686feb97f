#include "tools/shell_line.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace agentlog {

std::vector<std::string> brace_expanded(const std::string& word, std::size_t& budget);

std::vector<std::string> brace_expanded(const std::string& word) {
  std::size_t budget = 4096;  // expansions tried: `x{a,b}{a,b}...` would take 2^n
  return brace_expanded(word, budget);
}

std::vector<std::string> brace_expanded(const std::string& word, std::size_t& budget) {
  if (budget == 0) return {word};
  --budget;
  for (std::size_t open = word.find('{'); open != std::string::npos; open = word.find('{', open + 1)) {
    int depth = 0;
    std::vector<std::size_t> commas;
    std::size_t close = std::string::npos;
    for (std::size_t j = open; j < word.size() && close == std::string::npos; ++j) {
      if (word[j] == '{') ++depth;
      if (word[j] == ',' && depth == 1) commas.push_back(j);
      if (word[j] == '}' && --depth == 0) close = j;
    }
    if (close == std::string::npos) return {word};
    if (commas.empty()) continue;  // `{x}` is literal
    commas.push_back(close);
    std::vector<std::string> out;
    for (std::size_t from = open + 1; std::size_t comma : commas) {
      for (auto& w : brace_expanded(
               word.substr(0, open) + word.substr(from, comma - from) + word.substr(close + 1), budget)) {
        if (out.size() == 64) return out;
        out.push_back(std::move(w));
      }
      from = comma + 1;
    }
    return out;
  }
  return {word};
}

namespace {

// Braces and commas that were quoted (or escaped) while a word is read, so that brace_expanded leaves them
// alone (`awk '{print $1, $2}'` is one word); put back when the word is done.
constexpr char kQuotedOpen = '\x02', kQuotedClose = '\x03', kQuotedComma = '\x04';

void add_quoted(std::string& word, char c) {
  word += c == '{' ? kQuotedOpen : c == '}' ? kQuotedClose : c == ',' ? kQuotedComma : c;
}

std::string unquoted(std::string word) {
  for (char& c : word) c = c == kQuotedOpen ? '{' : c == kQuotedClose ? '}' : c == kQuotedComma ? ',' : c;
  return word;
}

std::string trimmed(const std::string& text) {
  const std::size_t from = text.find_first_not_of(" \t\n");
  return from == std::string::npos ? "" : text.substr(from, text.find_last_not_of(" \t\n") - from + 1);
}

// parse_shell's reader: one pass over the text, nested for `$(...)` and for the body of a here-doc whose
// delimiter is not quoted.
class ShellReader {
 public:
  explicit ShellReader(const std::string& text, int depth = 0) : s_(text), depth_(depth) {}

  ShellLine read() {
    ShellLine line;
    read_commands(line, false);
    return line;
  }

 private:
  struct HereDoc {
    std::size_t command;
    std::string delimiter;
    bool strip_tabs;
    bool quoted;  // `<<'EOF'`: the body is text; `<<EOF`: bash expands its `$(...)` and backquotes
  };

  bool at(std::size_t j, char c) const { return j < s_.size() && s_[j] == c; }
  static bool only_keywords(const std::vector<std::string>& words) {
    return std::all_of(words.begin(), words.end(), [](const std::string& w) {
      return w == "if" || w == "elif" || w == "while" || w == "until" || w == "!" || w == "then" ||
             w == "do" || w == "else" || w == "time";
    });
  }
  static bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

  // Reads commands up to the end, or (nested: the text of a `$(`) up to its unmatched ')'.
  void read_commands(ShellLine& line, bool nested) {
    auto& out = line.commands;
    out.emplace_back();
    std::string word;
    bool in_word = false, target_next = false, input_next = false, source_next = false;
    std::vector<HereDoc> heredocs;
    int parens = 0;
    auto end_word = [&] {
      if (!in_word) return;
      if (target_next)
        out.back().targets.push_back(unquoted(word));
      else if (input_next)
        out.back().inputs.push_back(unquoted(word));
      else {
        if (source_next) out.back().sources.push_back(unquoted(word));
        if (word == "case" && out.back().words.empty())
          line.opaque = true;  // its patterns' `)` close no subshell: where a later `cd` ends is not followed
        for (auto& w : brace_expanded(word)) out.back().words.push_back(unquoted(std::move(w)));
      }
      word.clear();
      in_word = target_next = input_next = source_next = false;
    };
    auto next_command = [&](bool piped) {
      end_word();
      out.emplace_back();
      out.back().piped = piped;
      out.back().subshell = std::max(parens, 0);
    };
    for (; i_ < s_.size(); ++i_) {
      const char c = s_[i_];
      if (c == '\\' && i_ + 1 < s_.size()) {
        if (s_[i_ + 1] != '\n') add_quoted(word, s_[i_ + 1]), in_word = true;  // (a line continuation joins)
        ++i_;
      } else if (c == '\'') {
        single_quoted(word, false, line);
        in_word = true;
      } else if (c == '"') {
        double_quoted(word, line);
        in_word = true;
      } else if (c == '$' || c == '`') {
        expansion(word, line, false);
        in_word = true;
      } else if (c == '#' && !in_word) {
        while (i_ + 1 < s_.size() && s_[i_ + 1] != '\n') ++i_;
      } else if (c == ' ' || c == '\t') {
        end_word();
      } else if (c == '\n') {
        // After `|`, `&&` or `;` the next line's command is the one already begun (`cat <<'EOF' |`, the
        // here-doc's body, then `bash`: piped).
        if (in_word || !out.back().words.empty() || !out.back().targets.empty() || !out.back().inputs.empty())
          next_command(false);
        for (const auto& h : heredocs) out[h.command].inputs.push_back(heredoc_body(h, out[h.command], line));
        heredocs.clear();
      } else if (c == '(' && at(i_ + 1, '(') && !in_word && only_keywords(out.back().words) &&
                 arithmetic(line, 2)) {  // `(( n > 3 ))`, `if (( n > 3 ))`: a command of its own
        out.back().words.emplace_back("((");
      } else if (c == ';' || c == '(' || c == ')') {
        if (c == '(' && in_word) line.opaque = true;  // `name()`: a function defined
        if (c == '(') ++parens;
        if (c == ')' && parens == 0 && nested) {
          end_word();
          return;
        }
        if (c == ')') parens = std::max(parens - 1, 0);  // (a `case` pattern's is not one: see end_word)
        next_command(false);
      } else if (c == '&' || c == '|') {
        const bool doubled = at(i_ + 1, c);
        if (c == '&' && at(i_ + 1, '>')) continue;              // &> : the '>' follows
        if (c == '|' && i_ > 0 && s_[i_ - 1] == '>') continue;  // >| : a redirection
        next_command(c == '|' && !doubled);
        if (doubled || (c == '|' && at(i_ + 1, '&'))) ++i_;    // || && |&
      } else if ((c == '<' || c == '>') && at(i_ + 1, '(')) {  // <(...) >(...)
        word += kUnknown;
        in_word = true;
        i_ += 2;
        substitution(line);
      } else if (c == '<' && at(i_ + 1, '<')) {
        end_word();
        if (at(i_ + 2, '<')) {  // <<< word: the command's input
          i_ += 2;
          input_next = true;
          continue;
        }
        i_ += 2;
        const bool strip_tabs = at(i_, '-');
        if (strip_tabs) ++i_;
        while (at(i_, ' ') || at(i_, '\t')) ++i_;
        std::string delimiter;
        bool quoted = false;
        // A word, its quotes taken out (`<<"E F"` ends at the line `E F`, `<<E\ F` too).
        for (char open = '\0'; i_ < s_.size() && (open || !std::strchr(" \t\n;&|<>()", s_[i_])); ++i_) {
          const char d = s_[i_];
          if (open ? d == open : (d == '\'' || d == '"')) {
            open = open ? '\0' : d;
            quoted = true;
          } else if (d == '\\' && open != '\'' && i_ + 1 < s_.size()) {
            delimiter += s_[++i_];
            quoted = true;
          } else {
            delimiter += d;
          }
        }
        --i_;
        heredocs.push_back({out.size() - 1, delimiter, strip_tabs, quoted});
      } else if (c == '>' || c == '<') {
        if (in_word && std::all_of(word.begin(), word.end(),
                                   [](char d) { return std::isdigit(static_cast<unsigned char>(d)); }))
          word.clear(), in_word = false;  // 2> : the descriptor, not a word
        end_word();
        const bool read_write = c == '<' && at(i_ + 1, '>');  // <> opens the file for writing too
        while (at(i_ + 1, '>') || at(i_ + 1, '|')) ++i_;
        if (at(i_ + 1, '&')) {  // >&2, 2>&1, >&- : to a descriptor; >& FILE : to a file
          std::size_t j = i_ + 2;
          while (at(j, ' ')) ++j;
          std::size_t k = j;
          while (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k]))) ++k;
          if ((k > j || at(j, '-')) && (k == s_.size() || std::strchr(" \t\n;&|)<>", s_[k]) || at(j, '-'))) {
            i_ = at(j, '-') ? j : k - 1;
            continue;
          }
          i_ = j - 1;
        }
        target_next = c == '>' || read_write;  // what `<` reads is a word like any (a read)
        source_next = !target_next;
      } else {
        word += c;
        in_word = true;
      }
    }
    end_word();
    for (const auto& h : heredocs) out[h.command].inputs.push_back(heredoc_body(h, out[h.command], line));
    if (nested) line.opaque = true;  // a `$(` never closed
  }

  // At a quote (or the quote of `$'`): its text into word, up to the closing quote; `$'...'`'s escapes
  // decoded.
  void single_quoted(std::string& word, bool ansi, ShellLine& line) {
    for (++i_; i_ < s_.size() && s_[i_] != '\''; ++i_) {
      if (!ansi || s_[i_] != '\\' || i_ + 1 >= s_.size()) {
        add_quoted(word, s_[i_]);
        continue;
      }
      const char e = s_[++i_];
      int base = e == 'x' ? 16 : (e >= '0' && e <= '7') ? 8 : 0;
      if (!base) {
        static const std::string from = "ntrabfve", to = "\n\t\r\a\b\f\v\x1b";
        const std::size_t k = from.find(e);
        add_quoted(word, k == std::string::npos ? e : to[k]);
        continue;
      }
      std::size_t j = e == 'x' ? i_ + 1 : i_, end = j + (e == 'x' ? 2 : 3);
      int value = 0;
      for (; j < end && j < s_.size() && std::isxdigit(static_cast<unsigned char>(s_[j])) &&
             (base == 16 || (s_[j] >= '0' && s_[j] <= '7'));
           ++j)
        value = value * base + std::stoi(std::string(1, s_[j]), nullptr, 16);
      add_quoted(word, static_cast<char>(value));
      i_ = j - 1;
    }
    if (i_ >= s_.size()) line.opaque = true;  // a quote left open
  }

  void double_quoted(std::string& word, ShellLine& line) {
    for (++i_; i_ < s_.size() && s_[i_] != '"'; ++i_) {
      const char c = s_[i_];
      if (c == '\\' && i_ + 1 < s_.size() && std::strchr("$`\"\\\n", s_[i_ + 1])) {
        if (s_[++i_] != '\n') word += s_[i_];
      } else if (c == '$' || c == '`') {
        expansion(word, line, true);
      } else {
        add_quoted(word, c);
      }
    }
    if (i_ >= s_.size()) line.opaque = true;
  }

  // At a '$' or a backquote: what the word gets from it (`quoted`: inside "...", where `$'` and `$"` are
  // plain text).
  void expansion(std::string& word, ShellLine& line, bool quoted) {
    if (s_[i_] == '`') {
      const std::size_t close = s_.find('`', i_ + 1);
      const std::string text = s_.substr(i_ + 1, close == std::string::npos ? close : close - i_ - 1);
      substitution_text(line, text);
      if (close == std::string::npos) line.opaque = true;
      i_ = close == std::string::npos ? s_.size() : close;
      word += known_output(text);
      return;
    }
    const char next = i_ + 1 < s_.size() ? s_[i_ + 1] : '\0';
    if (next == '\'' && !quoted) {
      ++i_;
      single_quoted(word, true, line);
    } else if (next == '"' && !quoted) {
      ++i_;
      double_quoted(word, line);
    } else if (next == '(' && at(i_ + 2, '(') && arithmetic(line)) {
      word += kUnknown;
    } else if (next == '(') {
      i_ += 2;
      word += known_output(substitution(line));
    } else if (next == '{' || name_char(next) || std::strchr("?#@*!$-", next)) {
      std::string name;
      if (next == '{') {  // up to its '}', past the expansions in it (`${x:-$(rm ...)}` runs the rm)
        std::string ignored;
        for (i_ += 2; i_ < s_.size() && s_[i_] != '}'; ++i_) {
          const char d = s_[i_];
          if (d == '\\')
            ++i_;
          else if (d == '$' || d == '`')
            expansion(ignored, line, true);
          else if (d == '"')
            double_quoted(ignored, line);
          else if (d == '\'' && !quoted)
            single_quoted(ignored, false, line);
          else
            name += d;
        }
        if (i_ >= s_.size()) line.opaque = true;  // never closed
      } else if (name_char(next)) {
        for (++i_; i_ < s_.size() && name_char(s_[i_]); ++i_) name += s_[i_];
        --i_;
      } else {
        ++i_;
      }
      if (name == "PATH") line.opaque = true;
      if (name == "PWD" || name == "HOME" || name == "OLDPWD" || name == "CLAUDE_PROJECT_DIR")
        word += "$" + name;
      else
        word += kUnknown;
    } else {
      word += '$';
    }
  }

  // At `$((` (`opener` 3) or a command's `((` (2): arithmetic when it closes with `))` (bash reads `$((cd x;
  // ls) )` as a command's output, `((cd x; ls) )` as subshells); false, with nothing read, when it is not.
  // Its `$(...)`, backquotes and `${...}` run first: they become the command's substitutions. The rest is an
  // expression, not commands: `<` and `>` there compare (`$(( $(wc -l < f) + 1 ))`).
  bool arithmetic(ShellLine& line, std::size_t opener = 3) {
    if (depth_ >= 32) return false;  // (then read as `$(`, which stops there)
    const std::size_t close = arithmetic_end(i_ + opener);
    if (close == std::string::npos) return false;
    ++depth_;
    if (line.commands.empty()) line.commands.emplace_back();
    const std::size_t first = line.commands.back().substitutions.size();
    std::string ignored;
    for (i_ += opener; i_ < close; ++i_) {
      if (s_[i_] == '$' || s_[i_] == '`')
        expansion(ignored, line, true);
      else if (s_[i_] == '"')
        double_quoted(ignored, line);
      else if (s_[i_] == '\\')
        ++i_;
    }
    --depth_;
    if (i_ == close)
      ++i_;  // (at its last ')')
    else
      line.opaque = true;  // its quotes or substitutions end past where its `))` seemed to be
    ShellCommand& cmd = line.commands.back();
    cmd.arithmetic = true;
    for (std::size_t k = first; k < cmd.substitutions.size(); ++k) cmd.arithmetic_operands.push_back(k);
    return true;
  }

  // Where the `))` closing an arithmetic expansion whose text starts at `from` is (at its first ')'), past
  // parentheses and quotes; npos when a ')' closes it alone or nothing does. (Not a full reading: one that
  // disagrees makes the line opaque.) Past a budget for the line, npos: `((((...` unclosed would cost n^2.
  std::size_t arithmetic_end(std::size_t from) {
    int parens = 0;
    for (std::size_t j = from; j < s_.size(); ++j) {
      if (arithmetic_budget_ == 0) return std::string::npos;
      --arithmetic_budget_;
      const char c = s_[j];
      if (c == '\\') {
        ++j;
      } else if (c == '\'' || c == '"') {
        for (++j; j < s_.size() && s_[j] != c; ++j)
          if (c == '"' && s_[j] == '\\') ++j;
      } else if (c == '(') {
        ++parens;
      } else if (c == ')' && parens > 0) {
        --parens;
      } else if (c == ')') {
        return at(j + 1, ')') ? j : std::string::npos;
      }
    }
    return std::string::npos;
  }

  // What a word gets from a substitution with this text: the folder it names when the hook can know it.
  static std::string known_output(const std::string& text) {
    const std::string command = trimmed(text);
    if (command == "pwd" || command == "pwd -L" || command == "pwd -P") return "$PWD";
    if (command == "git rev-parse --show-toplevel") return kGitTopLevel;
    return std::string(1, kUnknown);
  }

  // After `$(` or `<(`: its commands up to the matching ')', read as a line of their own; its text.
  std::string substitution(ShellLine& line) {
    const std::size_t from = i_;
    if (++depth_ > 32) {  // nested past any real use: not followed (and each level costs the stack)
      line.opaque = true;
      i_ = s_.size();
      return "";
    }
    ShellLine inner;
    read_commands(inner, true);
    std::string text = s_.substr(from, std::min(i_, s_.size()) - from);
    substitution_text(line, text);
    line.opaque = line.opaque || inner.opaque;
    --depth_;
    return text;
  }
  void substitution_text(ShellLine& line, std::string text) {
    if (line.commands.empty()) line.commands.emplace_back();
    line.commands.back().substitutions.push_back(std::move(text));
  }

  // At the newline after a command with a here-doc: its body, up to the line that is its delimiter. Unless
  // the delimiter is quoted, the body's substitutions are code that `cmd` runs first (bash expands them as in
  // "...": a Markdown note with `rm -rf x` in backquotes runs it).
  std::string heredoc_body(const HereDoc& h, ShellCommand& cmd, ShellLine& line) {
    std::string body;
    while (i_ + 1 < s_.size()) {
      const std::size_t from = i_ + 1, eol = std::min(s_.find('\n', from), s_.size());
      std::string text = s_.substr(from, eol - from);
      i_ = eol;
      if (h.strip_tabs) text.erase(0, text.find_first_not_of('\t'));
      if (text == h.delimiter) break;
      body += text + "\n";
    }
    if (!h.quoted && body.find_first_of("$`") != std::string::npos) {
      ShellLine expanded;
      ShellReader(body, depth_).expansions(expanded);
      for (auto& c : expanded.commands)
        for (auto& text : c.substitutions)
          cmd.substitutions.push_back(std::move(text)), cmd.expands_heredoc = true;
      line.opaque = line.opaque || expanded.opaque;
    }
    return body;
  }

  // The expansions of a text read as the body of a here-doc (quotes are plain text there).
  void expansions(ShellLine& line) {
    std::string ignored;
    for (; i_ < s_.size(); ++i_) {
      if (s_[i_] == '\\')
        ++i_;  // \$ \` \\ are literal
      else if (s_[i_] == '$' || s_[i_] == '`')
        expansion(ignored, line, true);
    }
  }

  const std::string& s_;
  std::size_t i_ = 0;
  int depth_;
  std::size_t arithmetic_budget_ = 1 << 22;  // characters looked at for the end of an arithmetic expression
};

}  // namespace

ShellLine parse_shell(const std::string& text) { return ShellReader(text).read(); }

}  // namespace agentlog
