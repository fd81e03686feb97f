// Fast scans over blocks of log text for search: a SIMD fixed-string finder (the first and last bytes of the
// needle compared 32 or 16 bytes at a time, candidates confirmed with memcmp: the approach of ripgrep's and
// Wojciech Muła's "SIMD-friendly" substring search), SIMD newline counting, and the literal a regular
// expression needs, so a regex search can look for that literal first.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace agentlog {

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

// The offset of the first occurrence of `needle` in [hay, hay + n), or kNotFound. An empty needle is at 0.
std::size_t find_literal(const char* hay, std::size_t n, std::string_view needle);

// Appends the offsets of every '\n' in [p, p + n) (n < 4 GiB) to `out`.
void find_newlines(const char* p, std::size_t n, std::vector<std::uint32_t>& out);

// The number of '\n' in [p, p + n).
std::size_t count_newlines(const char* p, std::size_t n);

// The longest string every match of the RE2 `pattern` contains, or "" when that cannot be told simply
// (alternation at the top level, case-insensitive flags, nothing literal).
std::string required_literal(std::string_view pattern);

}  // namespace agentlog
