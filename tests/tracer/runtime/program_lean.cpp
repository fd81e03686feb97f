// A program built with -fno-exceptions -fno-rtti, and with -fno-rtti alone (then it also throws): the runtime
// works in programs built so (many codebases are). Prints the returned value; the test reads the spans.
#include <cstdio>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "agentlog_trace.hpp"

struct Point {
  int x, y;
};
std::ostream& operator<<(std::ostream& os, const Point& p) { return os << "(" << p.x << "," << p.y << ")"; }
struct Opaque {
  int v;
};

std::string greet(int id, const std::string& name, const std::vector<int>& items, Point at, Opaque opaque) {
  AGENTLOG_SPAN(2, id, name, items, at, opaque);
  (void)opaque;
  return AGENTLOG_RETURN(name + "#" + std::to_string(id + at.x + static_cast<int>(items.size())));
}

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
void fails() {
  AGENTLOG_SPAN(2);
  throw std::runtime_error("lean failure");
}
#endif

int main() {
  AGENTLOG_SPAN(1);
  std::string s = greet(7, "lean", std::vector<int>{1, 2, 3}, Point{1, 2}, Opaque{3});
  auto twice = [](int v) {  // its agentlog_span_ shadows main's: no -Wshadow warning
    AGENTLOG_SPAN(3, v);
    return AGENTLOG_RETURN(v * 2);
  };
  s += std::to_string(twice(5));
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
  try {
    fails();
  } catch (const std::exception& e) {
    s += std::string(" ") + e.what();
  }
#endif
  std::printf("%s\n", s.c_str());
  return 0;
}
