#include "agentlog_trace.h"

static int square(int v) {
  AGENTLOG_SPAN(2, v);
  return AGENTLOG_RETURN(v * v);
}

int helper(int x) {
  AGENTLOG_SPAN(2, x);
  return AGENTLOG_RETURN(square(x) + 1);
}
