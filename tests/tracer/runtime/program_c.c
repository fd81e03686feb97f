/* A traced GNU C program for the runtime tests: levels 1-2 through agentlog_trace.h, in two files. */
#include <stdio.h>

#include "agentlog_trace.h"

int helper(int x); /* program_c_helper.c */

static const char* describe(const char* name, double weight, unsigned count, const char* password, void* ptr) {
  AGENTLOG_SPAN(2, name, weight, count, password, ptr);
  (void)ptr;
  return AGENTLOG_RETURN(weight > 1.0 ? "heavy" : "light");
}

struct point {
  int x, y;
};
union word {
  int i;
  float f;
};

/* A struct, a union and a complex number by value, and eleven parameters: what a header shared with C++
 * files gets, since it is instrumented as C++ with every parameter. */
static struct point shift(struct point p, union word w, _Complex double z, int a, int b, int c, int d, int e,
                          int f, int g, int h) {
  AGENTLOG_SPAN(2, p, w, z, a, b, c, d, e, f, g, h);
  struct point q = {p.x + a + b + c + d + e + f + g + h + (int)__real__ z, p.y + w.i};
  return AGENTLOG_RETURN(q);
}

/* Names that hold a secret word: a secret (apiKey, AuthToken) or not (max_tokens, secretary). */
static int names(const char* apiKey, const char* AuthToken, int max_tokens, const char* secretary) {
  AGENTLOG_SPAN(2, apiKey, AuthToken, max_tokens, secretary);
  return max_tokens > 0 && apiKey && AuthToken && secretary ? 0 : 1;
}

static int quiet(void) {
  AGENTLOG_SPAN(1);
  return 7;
}

int main(void) {
  int total = 0;
  for (int i = 0; i < 3; ++i) total += helper(i);
  describe("box \"A\"", 2.5, 3u, "hunter2", NULL);
  describe(NULL, 0.5, 0u, "x", &total);
  describe("a\xff\xc3\xa9z", 0.1, 1u, "y", NULL); /* not valid UTF-8: the line stays JSON */
  struct point moved = shift((struct point){1, 2}, (union word){.i = 3}, 0, 1, 2, 3, 4, 5, 6, 7, 8);
  total += quiet() + moved.x - 37 + moved.y - 5 + names("k-1", "t-2", 4096, "Bob");
  printf("%d\n", total);
  return 0;
}
