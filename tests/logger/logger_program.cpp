// A user program of the installed Logger API (linked to the shared library, as users do) for what only a
// real process shows: fork(), exit, static destructors, stderr. Run by test_logger_api.cpp as
//   logger_program <scenario>   (the project is AGENTLOG_ROOT, or none: log-lines)
// and exits 0 when the scenario ran; the test then reads latest.log and stderr.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <agentlog/logger.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

const char* g_scenario = "";

// Constructed before main, so before the library's first use (and its atexit handler): destroyed after it.
struct Service {
  ~Service() {
    if (std::strcmp(g_scenario, "static-destructor") == 0)
      agentlog::Logger::get("src/service.cpp").info("service stopped");
  }
} g_service;

std::string latest_log() {
  std::ifstream in(std::string(std::getenv("AGENTLOG_ROOT")) + "/.ai-agents/logging/logs/latest.log");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Six threads log all the time while the main thread forks; every child logs at once. A child that does
// not exit within 2 s is stuck in a lock a thread of the parent held at the fork. Exits with how many were.
int fork_while_logging() {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      auto& log = agentlog::Logger::get("src/background.cpp");
      for (int i = 0; !stop; ++i) {
        log.info("background");
        if (i % 4 == 0) std::this_thread::sleep_for(100us);  // busy, but not gigabytes
      }
    });
  auto& log = agentlog::Logger::get("src/main.cpp");
  int stuck = 0;
  for (int k = 0; k < 100; ++k) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(2);
      log.warn("child", {{"k", k}});
      if (k % 10 == 0)  // (a new source is registered in registry.json: an fsync)
        agentlog::Logger::get("src/child.cpp").warn("a new logger in the child");
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    stuck += WIFSIGNALED(status) ? 1 : 0;
  }
  stop = true;
  for (auto& t : threads) t.join();
  return stuck;
}

// The parent opens logs/.lock, then four children write at once while latest.log rotates every few KB.
int fork_writers() {
  auto& log = agentlog::Logger::get("src/writers.cpp");
  log.warn("parent");
  for (int p = 0; p < 4; ++p)
    if (::fork() == 0) {
      for (int i = 0; i < 1500; ++i) log.warn("line", {{"p", p}, {"i", i}, {"pad", std::string(100, 'x')}});
      std::exit(0);
    }
  int failed = 0, status = 0;
  while (::wait(&status) > 0) failed += WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
  return failed;
}

// A forked worker logs an info line and lives on: the line must reach the file by the flush interval, not
// wait for an exit that never comes (the worker is killed).
int fork_flusher() {
  auto& log = agentlog::Logger::get("src/fork.cpp");
  log.info("parent-line");  // starts the parent's flusher
  const pid_t pid = ::fork();
  if (pid == 0) {
    log.info("child-line");
    for (;;) ::pause();
  }
  bool written = false;
  for (auto deadline = std::chrono::steady_clock::now() + 5s;
       !written && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(20ms);
    written = latest_log().find("child-line") != std::string::npos;
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  std::printf("%d\n", static_cast<int>(pid));
  return written ? 0 : 1;
}

// Info lines that cannot be written (the test makes logs/ impossible): reported by the flusher while the
// program runs and counted at exit.
int unwritable() {
  auto& log = agentlog::Logger::get("src/unwritable.cpp");
  for (int i = 0; i < 5; ++i) log.info("line", {{"i", i}});
  std::this_thread::sleep_for(600ms);  // three flush intervals
  return 0;
}

// A file-size limit (ulimit -f) smaller than what is logged: the program goes on (SIGXFSZ would kill it)
// and latest.log holds whole lines only.
int file_size_limit() {
  struct rlimit limit {
    20 << 10, 20 << 10
  };
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 3;
  auto& log = agentlog::Logger::get("src/limited.cpp");
  for (int i = 0; i < 400; ++i) log.warn("line " + std::to_string(i) + " " + std::string(100, 'x'));
  agentlog::Logger::flush_all();
  std::printf("still running\n");
  return 0;
}

// Two info lines 300 ms apart (the settings are looked at again in between) and a debug line: what goes
// where, and what is said on stderr, with or without a project and with mistakes in its config.
int log_lines() {
  auto& log = agentlog::Logger::get("src/app.cpp");
  log.info("line one");
  log.debug("a debug line");
  std::this_thread::sleep_for(300ms);
  log.info("line two");
  return 0;
}

void log_from_atexit() { agentlog::Logger::get("src/service.cpp").info("atexit handler ran"); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  g_scenario = argv[1];
  const std::string scenario = argv[1];
  if (scenario == "fork-while-logging") return fork_while_logging();
  if (scenario == "fork-writers") return fork_writers();
  if (scenario == "fork-flusher") return fork_flusher();
  if (scenario == "unwritable") return unwritable();
  if (scenario == "file-size-limit") return file_size_limit();
  if (scenario == "log-lines") return log_lines();
  if (scenario == "static-destructor") {
    std::atexit(log_from_atexit);  // registered before the library's: runs after it
    agentlog::Logger::get("src/service.cpp").info("service started");
    return 0;
  }
  return 2;
}
