// unified_diff (see instrument.hpp): Myers' greedy O((N+M)D) line diff, printed as a standard unified diff
// (3 lines of context, GNU hunk conventions) that `patch -p1` and `git apply` accept.
#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "instrument/instrument.hpp"

namespace agentlog::instrument {

namespace {

constexpr std::ptrdiff_t kContext = 3;
// Past this many differing lines the frontiers would take ~64 MB: the diff then replaces the whole differing
// middle (after the common first and last lines), which is as valid, only longer.
constexpr std::ptrdiff_t kMaxRounds = 4000;

// Lines keep their '\n': a last line without one differs from the same text with one, as in diff(1).
std::vector<std::string_view> split_lines(const std::string& text) {
  std::vector<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t end = rest.find('\n');
    end = end == std::string_view::npos ? rest.size() : end + 1;
    lines.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  return lines;
}

enum class Op { kEqual, kDelete, kInsert };

struct Edit {
  Op op;
  std::ptrdiff_t a;  // old lines before this edit (the old line's index for kEqual/kDelete)
  std::ptrdiff_t b;  // new lines before this edit (the new line's index for kEqual/kInsert)
};

// Equal first and last lines, the rest of a deleted and the rest of b inserted.
std::vector<Edit> replace_middle(const std::vector<int>& a, const std::vector<int>& b) {
  const auto n = static_cast<std::ptrdiff_t>(a.size()), m = static_cast<std::ptrdiff_t>(b.size());
  std::ptrdiff_t head = 0, tail = 0;
  while (head < n && head < m && a[head] == b[head]) ++head;
  while (tail < n - head && tail < m - head && a[n - 1 - tail] == b[m - 1 - tail]) ++tail;
  std::vector<Edit> script;
  for (std::ptrdiff_t i = 0; i < head; ++i) script.push_back({Op::kEqual, i, i});
  for (std::ptrdiff_t x = head; x < n - tail; ++x) script.push_back({Op::kDelete, x, head});
  for (std::ptrdiff_t y = head; y < m - tail; ++y) script.push_back({Op::kInsert, n - tail, y});
  for (std::ptrdiff_t i = 0; i < tail; ++i) script.push_back({Op::kEqual, n - tail + i, m - tail + i});
  return script;
}

// The shortest edit script from a to b (Myers 1986, section 2), in order. Keeps the frontier of every
// round d (its d+1 diagonals) to walk the path back: O(D^2) <= O((N+M)D) memory, up to kMaxRounds.
std::vector<Edit> shortest_edit_script(const std::vector<int>& a, const std::vector<int>& b) {
  const auto n = static_cast<std::ptrdiff_t>(a.size()), m = static_cast<std::ptrdiff_t>(b.size());
  const std::ptrdiff_t max = n + m;
  std::vector<std::ptrdiff_t> v(2 * max + 3, 0);  // v[k + offset]: furthest x reached on diagonal k = x - y
  const std::ptrdiff_t offset = max + 1;
  std::vector<std::vector<std::ptrdiff_t>> trace;  // trace[d][(k + d) / 2] = v[k] after round d
  auto goes_down = [](std::ptrdiff_t k, std::ptrdiff_t d, std::ptrdiff_t left, std::ptrdiff_t right) {
    return k == -d || (k != d && left < right);  // down: an insertion; else right: a deletion
  };
  std::ptrdiff_t rounds = 0;
  for (std::ptrdiff_t d = 0; d <= max; ++d) {
    if (d > kMaxRounds) return replace_middle(a, b);
    bool done = false;
    std::vector<std::ptrdiff_t> frontier;
    frontier.reserve(static_cast<std::size_t>(d) + 1);
    for (std::ptrdiff_t k = -d; k <= d; k += 2) {
      std::ptrdiff_t x = d == 0                                                  ? 0
                         : goes_down(k, d, v[k - 1 + offset], v[k + 1 + offset]) ? v[k + 1 + offset]
                                                                                 : v[k - 1 + offset] + 1;
      std::ptrdiff_t y = x - k;
      while (x < n && y < m && a[x] == b[y]) ++x, ++y;
      v[k + offset] = x;
      frontier.push_back(x);
      if (x >= n && y >= m) done = true;
    }
    trace.push_back(std::move(frontier));
    if (done) {
      rounds = d;
      break;
    }
  }

  std::vector<Edit> script;
  script.reserve(static_cast<std::size_t>(std::max(n, m) + rounds));
  std::ptrdiff_t x = n, y = m;
  for (std::ptrdiff_t d = rounds; d > 0; --d) {
    const auto& prev = trace[d - 1];  // diagonals -(d-1)..(d-1)
    auto at = [&](std::ptrdiff_t k) { return prev[(k + d - 1) / 2]; };
    const std::ptrdiff_t k = x - y;
    const bool down = k == -d || (k != d && at(k - 1) < at(k + 1));
    const std::ptrdiff_t prev_k = down ? k + 1 : k - 1;
    const std::ptrdiff_t prev_x = at(prev_k), prev_y = prev_x - prev_k;
    for (; x > prev_x && y > prev_y; --x, --y) script.push_back({Op::kEqual, x - 1, y - 1});
    if (down) {
      --y;
      script.push_back({Op::kInsert, x, y});
    } else {
      --x;
      script.push_back({Op::kDelete, x, y});
    }
  }
  for (; x > 0 && y > 0; --x, --y) script.push_back({Op::kEqual, x - 1, y - 1});
  std::reverse(script.begin(), script.end());
  return script;
}

void append_line(std::string& out, char mark, std::string_view line) {
  out += mark;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

// "l,s": the first line of the range, or for an empty range the line after which it sits (0 = before all).
std::string range(std::ptrdiff_t before, std::ptrdiff_t count) {
  return std::to_string(count == 0 ? before : before + 1) + "," + std::to_string(count);
}

}  // namespace

std::string unified_diff(const std::string& path, const std::string& before, const std::string& after) {
  const auto old_lines = split_lines(before), new_lines = split_lines(after);
  // Compare small integers, not strings: equal lines get the same id.
  std::unordered_map<std::string_view, int> ids;
  auto intern = [&](const std::vector<std::string_view>& lines) {
    std::vector<int> out;
    out.reserve(lines.size());
    for (auto line : lines) out.push_back(ids.emplace(line, static_cast<int>(ids.size())).first->second);
    return out;
  };
  const auto a = intern(old_lines);
  const auto b = intern(new_lines);
  const auto script = shortest_edit_script(a, b);
  const auto size = static_cast<std::ptrdiff_t>(script.size());

  std::string out;
  std::ptrdiff_t i = 0;
  while (i < size) {
    if (script[i].op == Op::kEqual) {
      ++i;
      continue;
    }
    // One hunk: this change and every later one whose context touches the previous one's.
    const std::ptrdiff_t first = std::max<std::ptrdiff_t>(0, i - kContext);
    std::ptrdiff_t last_change = i;  // one past the last changed edit in the hunk
    for (std::ptrdiff_t j = i; j < size && j - last_change <= 2 * kContext; ++j)
      if (script[j].op != Op::kEqual) last_change = j + 1;
    const std::ptrdiff_t end = std::min(size, last_change + kContext);

    std::ptrdiff_t old_count = 0, new_count = 0;
    for (std::ptrdiff_t j = first; j < end; ++j) {
      old_count += script[j].op != Op::kInsert;
      new_count += script[j].op != Op::kDelete;
    }
    if (out.empty()) out = "--- a/" + path + "\n+++ b/" + path + "\n";
    out += "@@ -" + range(script[first].a, old_count) + " +" + range(script[first].b, new_count) + " @@\n";
    for (std::ptrdiff_t j = first; j < end;) {
      if (script[j].op == Op::kEqual) {
        append_line(out, ' ', old_lines[script[j].a]);
        ++j;
        continue;
      }
      // One change: its deletions, then its insertions.
      std::ptrdiff_t change_end = j;
      while (change_end < end && script[change_end].op != Op::kEqual) ++change_end;
      for (std::ptrdiff_t c = j; c < change_end; ++c)
        if (script[c].op == Op::kDelete) append_line(out, '-', old_lines[script[c].a]);
      for (std::ptrdiff_t c = j; c < change_end; ++c)
        if (script[c].op == Op::kInsert) append_line(out, '+', new_lines[script[c].b]);
      j = change_end;
    }
    i = end;
  }
  return out;
}

}  // namespace agentlog::instrument
