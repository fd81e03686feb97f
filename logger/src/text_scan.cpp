#include "logger/text_scan.hpp"

#include <immintrin.h>

#include <cctype>
#include <cstring>

namespace agentlog {

namespace {

using FindFn = std::size_t (*)(const char*, std::size_t, std::string_view);
using CountFn = std::size_t (*)(const char*, std::size_t);

std::size_t find_tail(const char* hay, std::size_t n, std::size_t from, std::string_view needle) {
  const void* p = from <= n ? ::memmem(hay + from, n - from, needle.data(), needle.size()) : nullptr;
  return p ? static_cast<std::size_t>(static_cast<const char*>(p) - hay) : kNotFound;
}

std::size_t find_sse2(const char* hay, std::size_t n, std::string_view needle) {
  const std::size_t k = needle.size();
  const __m128i first = _mm_set1_epi8(needle.front()), last = _mm_set1_epi8(needle.back());
  std::size_t i = 0;
  for (; i + k + 15 <= n; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hay + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hay + i + k - 1));
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last))));
    while (mask) {
      const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(mask));
      if (k <= 2 || std::memcmp(hay + at + 1, needle.data() + 1, k - 2) == 0) return at;
      mask &= mask - 1;
    }
  }
  return find_tail(hay, n, i, needle);
}

__attribute__((target("avx2"))) std::size_t find_avx2(const char* hay, std::size_t n, std::string_view needle) {
  const std::size_t k = needle.size();
  const __m256i first = _mm256_set1_epi8(needle.front()), last = _mm256_set1_epi8(needle.back());
  std::size_t i = 0;
  for (; i + k + 31 <= n; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hay + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hay + i + k - 1));
    unsigned mask =
        static_cast<unsigned>(_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, last))));
    while (mask) {
      const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(mask));
      if (k <= 2 || std::memcmp(hay + at + 1, needle.data() + 1, k - 2) == 0) return at;
      mask &= mask - 1;
    }
  }
  return find_tail(hay, n, i, needle);
}

std::size_t count_sse2(const char* p, std::size_t n) {
  std::size_t count = 0, i = 0;
  const __m128i nl = _mm_set1_epi8('\n');
  for (; i + 16 <= n; i += 16)
    count += static_cast<std::size_t>(__builtin_popcount(static_cast<unsigned>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), nl)))));
  for (; i < n; ++i) count += p[i] == '\n';
  return count;
}

__attribute__((target("avx2,popcnt"))) std::size_t count_avx2(const char* p, std::size_t n) {
  std::size_t count = 0, i = 0;
  const __m256i nl = _mm256_set1_epi8('\n');
  for (; i + 32 <= n; i += 32)
    count += static_cast<std::size_t>(__builtin_popcount(static_cast<unsigned>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)), nl)))));
  for (; i < n; ++i) count += p[i] == '\n';
  return count;
}

void newlines_sse2(const char* p, std::size_t n, std::vector<std::uint32_t>& out) {
  std::size_t i = 0;
  const __m128i nl = _mm_set1_epi8('\n');
  for (; i + 16 <= n; i += 16) {
    unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), nl)));
    for (; mask; mask &= mask - 1) out.push_back(static_cast<std::uint32_t>(i + static_cast<std::size_t>(__builtin_ctz(mask))));
  }
  for (; i < n; ++i)
    if (p[i] == '\n') out.push_back(static_cast<std::uint32_t>(i));
}

__attribute__((target("avx2"))) void newlines_avx2(const char* p, std::size_t n, std::vector<std::uint32_t>& out) {
  std::size_t i = 0;
  const __m256i nl = _mm256_set1_epi8('\n');
  for (; i + 32 <= n; i += 32) {
    unsigned mask = static_cast<unsigned>(
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)), nl)));
    for (; mask; mask &= mask - 1) out.push_back(static_cast<std::uint32_t>(i + static_cast<std::size_t>(__builtin_ctz(mask))));
  }
  for (; i < n; ++i)
    if (p[i] == '\n') out.push_back(static_cast<std::uint32_t>(i));
}

const bool kAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");

}  // namespace

std::size_t find_literal(const char* hay, std::size_t n, std::string_view needle) {
  if (needle.empty()) return 0;
  if (needle.size() > n) return kNotFound;
  if (needle.size() == 1) {
    const void* p = std::memchr(hay, needle[0], n);
    return p ? static_cast<std::size_t>(static_cast<const char*>(p) - hay) : kNotFound;
  }
  return kAvx2 ? find_avx2(hay, n, needle) : find_sse2(hay, n, needle);
}

void find_newlines(const char* p, std::size_t n, std::vector<std::uint32_t>& out) {
  kAvx2 ? newlines_avx2(p, n, out) : newlines_sse2(p, n, out);
}

std::size_t count_newlines(const char* p, std::size_t n) { return kAvx2 ? count_avx2(p, n) : count_sse2(p, n); }

std::string required_literal(std::string_view pattern) {
  if (pattern.find("(?") != std::string_view::npos) return "";  // flags (case-insensitive...) or named groups
  std::string best, current;
  auto close_run = [&] {
    if (current.size() > best.size()) best = current;
    current.clear();
  };
  int depth = 0;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const char next = i + 1 < pattern.size() ? pattern[i + 1] : '\0';
    if (c == '|') {
      if (depth == 0) return "";  // top-level alternation: no single literal is required
      continue;
    }
    if (c == '(') {
      close_run();
      ++depth;
      continue;
    }
    if (c == ')') {
      --depth;
      continue;
    }
    if (depth > 0) {
      if (c == '\\') ++i;
      continue;
    }
    if (c == '[') {  // a class: skip it
      close_run();
      std::size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '^') ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;
      while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      i = j;
      continue;
    }
    char literal = 0;
    if (c == '\\') {
      if (std::isalnum(static_cast<unsigned char>(next)) || next == '\0') {  // \d \w \s \b \x.. \pN ...: not literal
        close_run();
        ++i;
        continue;
      }
      literal = next;
      ++i;
    } else if (c == '{') {  // a repeat count: skip it
      close_run();
      while (i < pattern.size() && pattern[i] != '}') ++i;
      continue;
    } else if (std::strchr(".^$*+?}", c)) {
      close_run();
      continue;
    } else {
      literal = c;
    }
    const char after = i + 1 < pattern.size() ? pattern[i + 1] : '\0';
    if (after == '*' || after == '?' || after == '{' || after == '+') {
      // The char is repeated or optional: the run ends with it ('+': one copy ends this run and starts the next).
      if (after == '+') current += literal;
      close_run();
      if (after == '+') current = std::string(1, literal);
      if (after != '{') ++i;                                                   // past the quantifier
      if (i + 1 < pattern.size() && pattern[i + 1] == '?' && after != '{') ++i;  // and a lazy '?'
      continue;
    }
    current += literal;
  }
  close_run();
  return best;
}

}  // namespace agentlog
