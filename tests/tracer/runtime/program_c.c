/* A traced GNU C program for the runtime tests: levels 1-2 through agentlog_trace.h, in two files. */
#include <stdio.h>

#include "agentlog_trace.h"

int helper(int x); /* program_c_helper.c */

static const char* describe(const char* name, double weight, unsigned count, const char* password, void* ptr) {
  AGENTLOG_SPAN(2, name, weight, count, password, ptr);
  (void)ptr;
  return AGENTLOG_RETURN(weight > 1.0 ? "heavy" : "light");
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
  total += quiet();
  printf("%d\n", total);
  return 0;
}
