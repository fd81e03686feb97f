// Shared by the stdio benchmarks: a child process behind pipes (the server under test or a baseline) and
// percentiles of samples.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bench {

struct Child {
  pid_t pid = -1;
  int in = -1, out = -1;
  std::string buf;

  static Child spawn(const std::vector<std::string>& argv) {
    int a[2], b[2];
    if (pipe(a) || pipe(b)) std::abort();
    Child c;
    c.pid = fork();
    if (c.pid == 0) {
      dup2(a[0], 0);
      dup2(b[1], 1);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 2);
      close(a[1]);
      close(b[0]);
      std::vector<char*> args;
      for (auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
      args.push_back(nullptr);
      execvp(args[0], args.data());
      _exit(127);
    }
    close(a[0]);
    close(b[1]);
    c.in = a[1];
    c.out = b[0];
    return c;
  }
  void write_all(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      ssize_t n = write(in, s.data() + done, s.size() - done);
      if (n <= 0) std::abort();
      done += size_t(n);
    }
  }
  std::string read_line() {
    for (;;) {
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      char tmp[1 << 16];
      ssize_t n = read(out, tmp, sizeof tmp);
      if (n <= 0) {
        fprintf(stderr, "child closed its output\n");
        std::exit(1);
      }
      buf.append(tmp, size_t(n));
    }
  }
  void finish() {
    close(in);
    close(out);
    int st;
    waitpid(pid, &st, 0);
  }
};

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t rank = size_t(std::ceil(p / 100.0 * double(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace bench
