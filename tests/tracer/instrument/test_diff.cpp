// unified_diff: the dry runs' diff is a standard unified diff. Each case writes `before` to a temp dir,
// checks the diff with the real `patch -p1 --dry-run` (and `git apply --check` when git is installed),
// applies it with `patch -p1` and compares the result with `after` byte for byte.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "instrument/instrument.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using agentlog::instrument::unified_diff;
using agentlog::test::run_process;
using agentlog::test::TempDir;
namespace fs = std::filesystem;

namespace {

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::error_code ec;
    if (!dir.empty() && fs::is_regular_file(fs::path(dir) / program, ec)) return true;
  }
  return false;
}

std::string numbered(int from, int to, const std::string& prefix = "line ") {
  std::string out;
  for (int i = from; i <= to; ++i) out += prefix + std::to_string(i) + "\n";
  return out;
}

int count_of(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Within each run of changed lines, every '-' line comes before every '+' line.
bool deletions_first(const std::string& diff) {
  std::istringstream in(diff);
  bool seen_plus = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("+++ ", 0) == 0 || line.rfind("--- ", 0) == 0 || line.empty()) continue;
    if (line[0] == '+') seen_plus = true;
    if (line[0] == ' ' || line[0] == '@') seen_plus = false;
    if (line[0] == '-' && seen_plus) return false;
  }
  return true;
}

// The diff of before -> after applies cleanly (no offset, no fuzz) and gives `after` exactly.
void check_applies(const std::string& before, const std::string& after,
                   const std::string& path = "src/file.cpp") {
  const std::string diff = unified_diff(path, before, after);
  if (before == after) {
    CHECK(diff.empty());
    return;
  }
  INFO("diff:\n" << diff);
  REQUIRE(diff.rfind("--- a/" + path + "\n+++ b/" + path + "\n@@ -", 0) == 0);
  CHECK(deletions_first(diff));
  const bool has_patch = on_path("patch"), has_git = on_path("git");
  REQUIRE_MESSAGE((has_patch || has_git), "neither patch nor git is installed");

  TempDir dir;
  const fs::path work = dir / "work";
  agentlog::test::write_text(work / path, before);
  const std::string patch_file = (dir / "change.diff").string();
  agentlog::test::write_text(patch_file, diff);

  if (has_git) {
    auto check = run_process({"git", "apply", "--check", "--verbose", patch_file}, "", work);
    INFO("git apply --check: " << check.out << check.err);
    CHECK(check.exit_code == 0);
  }
  if (has_patch) {
    const std::vector<std::string> strict = {"patch", "-p1",     "-F0", "--batch", "--no-backup-if-mismatch",
                                             "-i",    patch_file};
    auto dry = strict;
    dry.push_back("--dry-run");
    auto checked = run_process(dry, "", work);
    INFO("patch --dry-run: " << checked.out << checked.err);
    CHECK(checked.exit_code == 0);
    CHECK(checked.out.find("offset") == std::string::npos);
    CHECK(checked.out.find("fuzz") == std::string::npos);
    CHECK(agentlog::test::read_text(work / path) == before);
    auto applied = run_process(strict, "", work);
    INFO("patch: " << applied.out << applied.err);
    REQUIRE(applied.exit_code == 0);
  } else {
    auto applied = run_process({"git", "apply", patch_file}, "", work);
    INFO("git apply: " << applied.out << applied.err);
    REQUIRE(applied.exit_code == 0);
  }
  REQUIRE(fs::exists(work / path));
  CHECK(agentlog::test::read_text(work / path) == after);
}

}  // namespace

TEST_CASE("unified_diff: identical texts give no diff") {
  CHECK(unified_diff("f", "", "").empty());
  CHECK(unified_diff("f", "a\nb\n", "a\nb\n").empty());
  CHECK(unified_diff("f", "a\nb", "a\nb").empty());
  CHECK(unified_diff("f", numbered(1, 500), numbered(1, 500)).empty());
}

TEST_CASE("unified_diff: exact format of small diffs") {
  CHECK(unified_diff("f.cpp", "a\nb\nc\n", "a\nB\nc\n") ==
        "--- a/f.cpp\n+++ b/f.cpp\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
  CHECK(unified_diff("f.cpp", "", "x\ny\n") == "--- a/f.cpp\n+++ b/f.cpp\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  CHECK(unified_diff("f.cpp", "x\ny\n", "") == "--- a/f.cpp\n+++ b/f.cpp\n@@ -1,2 +0,0 @@\n-x\n-y\n");
  CHECK(unified_diff("f.cpp", "a\nb", "a\nb\n") ==
        "--- a/f.cpp\n+++ b/f.cpp\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n");
  CHECK(unified_diff("f.cpp", "a\nb\n", "a\nb") ==
        "--- a/f.cpp\n+++ b/f.cpp\n@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n");
  // Context is 3 lines, and both sides' start lines count the lines before the hunk.
  CHECK(unified_diff("f", numbered(1, 10), numbered(1, 5) + "new\n" + numbered(6, 10)) ==
        "--- a/f\n+++ b/f\n@@ -3,6 +3,7 @@\n line 3\n line 4\n line 5\n+new\n line 6\n line 7\n line 8\n");
}

TEST_CASE("unified_diff: hunks merge when their context overlaps") {
  const std::string before = numbered(1, 40);
  std::string six_apart = before, seven_apart = before;
  six_apart.replace(six_apart.find("line 10\n"), 8, "ten\n");
  six_apart.replace(six_apart.find("line 17\n"), 8, "seventeen\n");  // 6 unchanged lines between
  seven_apart.replace(seven_apart.find("line 10\n"), 8, "ten\n");
  seven_apart.replace(seven_apart.find("line 18\n"), 8, "eighteen\n");  // 7 unchanged lines between
  CHECK(count_of(unified_diff("f", before, six_apart), "\n@@ ") == 1);
  CHECK(count_of(unified_diff("f", before, seven_apart), "\n@@ ") == 2);
  check_applies(before, six_apart);
  check_applies(before, seven_apart);
}

TEST_CASE("unified_diff: insertions only") {
  const std::string before = numbered(1, 30);
  check_applies(before, numbered(1, 12) + "inserted a\ninserted b\n" + numbered(13, 30));
  check_applies(before, numbered(1, 3) + "x\n" + numbered(4, 20) + "y\nz\n" + numbered(21, 30));
  check_applies("a\n", "a\nb\n");
}

TEST_CASE("unified_diff: deletions only") {
  const std::string before = numbered(1, 30);
  check_applies(before, numbered(1, 9) + numbered(15, 30));
  check_applies(before, numbered(1, 4) + numbered(6, 22) + numbered(24, 30));
  check_applies("a\nb\n", "b\n");
}

TEST_CASE("unified_diff: mixed edits") {
  const std::string before = numbered(1, 60);
  check_applies(before, numbered(1, 5) + "changed 6\n" + numbered(7, 9) + "new\n" + numbered(10, 30) +
                            numbered(35, 50) + "x\ny\nz\n" + numbered(53, 60));
  // Repeated lines: many equally short alignments exist; any of them must apply.
  check_applies("{\n}\n{\n}\n{\n}\n", "{\n  a;\n}\n}\n{\n  b;\n}\n{\n");
  check_applies("a\nb\nc\na\nb\nb\na\n", "c\nb\na\nb\na\nc\n");  // Myers' own example
}

TEST_CASE("unified_diff: changes at the start and at the end") {
  const std::string before = numbered(1, 20);
  check_applies(before, "first\n" + before);
  check_applies(before, numbered(2, 20));
  check_applies(before, "changed 1\n" + numbered(2, 20));
  check_applies(before, before + "last\n");
  check_applies(before, numbered(1, 19));
  check_applies(before, numbered(1, 19) + "changed 20\n");
  check_applies(before, "top\n" + numbered(2, 19) + "bottom\n");
  check_applies("only\n", "other\n");
}

TEST_CASE("unified_diff: a missing final newline on either side") {
  const std::string body = numbered(1, 10);
  check_applies(body + "end", body + "end\n");        // newline added
  check_applies(body + "end\n", body + "end");        // newline removed
  check_applies(body + "end", body + "END");          // last line changed, neither has one
  check_applies(body + "end", body + "more\nend");    // last line kept as context without one
  check_applies("x\n" + body + "end", body + "end");  // change far from the unterminated last line
  check_applies(body + "end", body);
  check_applies(body, body + "end");
  check_applies("end", "");
  check_applies("", "end");
  check_applies("a", "b");
}

TEST_CASE("unified_diff: empty before or after") {
  check_applies("", numbered(1, 8));
  check_applies(numbered(1, 8), "");
  check_applies("", "\n");
  check_applies("\n\n", "");
}

TEST_CASE("unified_diff: random edits of files with many repeated lines") {
  std::mt19937 rng(20240611);
  const std::vector<std::string> vocabulary = {"{\n", "}\n", "\n", "  return 0;\n", "  x++;\n", "int f();\n"};
  auto random_lines = [&](int count) {
    std::vector<std::string> lines;
    for (int i = 0; i < count; ++i) lines.push_back(vocabulary[rng() % vocabulary.size()]);
    return lines;
  };
  auto join = [](const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l;
    return out;
  };
  for (int round = 0; round < 25; ++round) {
    auto lines = random_lines(static_cast<int>(rng() % 40));
    const std::string before = join(lines);
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const auto at = lines.empty() ? 0 : rng() % (lines.size() + 1);
      switch (rng() % 3) {
        case 0:
          lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), random_lines(1)[0]);
          break;
        case 1:
          if (at < lines.size()) lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        default:
          if (at < lines.size()) lines[at] = "changed " + std::to_string(e) + "\n";
      }
    }
    std::string after = join(lines);
    if (rng() % 4 == 0 && !after.empty()) after.pop_back();  // sometimes no final newline
    CAPTURE(round);
    check_applies(before, after);
  }
}

TEST_CASE("unified_diff: a 20,000-line file with a few scattered insertions is fast") {
  const std::string before = numbered(1, 20000, "  int value_");
  std::string after;
  for (int i = 1; i <= 20000; ++i) {
    if (i == 1 || i == 4321 || i == 12000 || i == 19999) after += "  AGENTLOG_SPAN(1); // agentlog\n";
    after += "  int value_" + std::to_string(i) + "\n";
  }
  after += "}\n";
  const auto start = std::chrono::steady_clock::now();
  const std::string diff = unified_diff("big.cpp", before, after);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::seconds(5));  // O(N*M) would take far longer
  CHECK(count_of(diff, "\n+  AGENTLOG_SPAN(1); // agentlog\n") == 4);
  CHECK(count_of(diff, "\n+}\n") == 1);
  CHECK(count_of(diff, "\n-") == 0);  // nothing deleted ("--- a/" starts the text)
  CHECK(count_of(diff, "\n@@ ") == 4);
  check_applies(before, after, "big.cpp");

  // A few scattered deletions and replacements too.
  std::string edited = before;
  edited.replace(edited.find("  int value_777\n"), 16, "");
  edited.replace(edited.find("  int value_15000\n"), 18, "  int changed_15000\n");
  check_applies(before, edited, "big.cpp");
}

TEST_CASE("unified_diff: files that differ in most lines replace their differing middle") {
  // 12,000 differing lines: past the rounds the shortest script may take, the diff replaces the middle.
  const std::string before = "same first\n" + numbered(1, 6000, "old ") + "same last\n";
  const std::string after = "same first\n" + numbered(1, 6000, "new ") + "same last\n";
  const std::string diff = unified_diff("whole.txt", before, after);
  CHECK(count_of(diff, "\n@@ ") == 1);
  CHECK(count_of(diff, "\n-old ") == 6000);
  CHECK(count_of(diff, "\n+new ") == 6000);
  check_applies(before, after, "whole.txt");
}
