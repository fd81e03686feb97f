#include <stddef.h>
#include <string.h>

static const char* label(int code) {
  if (code == 0) return "ok";
  return "error";
}

size_t measure(const char* text, size_t limit) {
  size_t n = strlen(text);
  if (n > limit) {
    return limit;
  }
  return n;
}

_Bool present(const int* p) { return p; }

// Allman style: the span names the line of the name.
// clang-format off
int clamp_low(int v, int low)
{
  return v < low ? low : v;
}
// clang-format on

void fill(int* out, int count, int value) {
  for (int i = 0; i < count; ++i) out[i] = value;
}

int run(void) {
  int values[3];
  fill(values, 3, 4);
  if (!present(values)) return -1;
  return (int)measure(label(values[0] - 4), 10);
}
