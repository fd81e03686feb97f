// Accountability benchmark (issue: accountability), side by side in one run:
// 1. audit append throughput from one process and from four (flock + SHA-256 chain + head file), against a
//    plain O_APPEND write of the same line with no lock and no hash;
// 2. the latency the policy guard adds to a tools/call: the same registry and log_event calls, in process,
//    without and with the guard (permissions, .env reads, path checks, the audit append).
// 3. with --rotate-mb N: the append that rotates a log of N MB into audit/archive/ (gzip), and verify after.
//   bench_audit [--appends 20000] [--calls 5000] [--rotate-mb 64]
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_child.hpp"
#include "mcp/tool_registry.hpp"
#include "policy/audit.hpp"
#include "tools/cli.hpp"
#include "tools/tools.hpp"

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

nlohmann::json sample_record(int i) {
  return {{"time", "2026-11-25T10:00:00.000Z"},
          {"agent", {{"name", "bench"}, {"version", "1"}}},
          {"session", "s"},
          {"tool", "log_event"},
          {"arguments", {{"level", "info"}, {"message", "m"}, {"i", i}}},
          {"decision", "allowed"},
          {"outcome", "ok"},
          {"durationMs", 0.05},
          {"files", nlohmann::json::array()}};
}

// Runs `work(process_index)` in `processes` forked children; returns the wall time.
template <class F>
double in_processes(int processes, F work) {
  auto t0 = Clock::now();
  std::vector<pid_t> kids;
  for (int p = 0; p < processes; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      work(p);
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) waitpid(k, nullptr, 0);
  return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  int appends = 20000, calls = 5000, rotate_mb = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--appends") appends = std::atoi(argv[i + 1]);
    if (a == "--calls") calls = std::atoi(argv[i + 1]);
    if (a == "--rotate-mb") rotate_mb = std::atoi(argv[i + 1]);
  }
  fs::path dir = fs::temp_directory_path() / ("agentlog-audit-bench-" + std::to_string(getpid()));
  for (int processes : {1, 4}) {
    fs::remove_all(dir);
    double t = in_processes(processes, [&](int) {
      agentlog::policy::AuditLog log(dir / "audit");
      for (int i = 0; i < appends / processes; ++i) log.append(sample_record(i));
    });
    bool ok = agentlog::policy::AuditLog(dir / "audit").verify().ok;
    fs::create_directories(dir / "plain");
    double plain = in_processes(processes, [&](int) {
      int fd = ::open((dir / "plain/actions.jsonl").c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
      for (int i = 0; i < appends / processes; ++i) {
        std::string line = sample_record(i).dump() + "\n";
        if (::write(fd, line.data(), line.size()) < 0) std::abort();
      }
      ::close(fd);
    });
    std::printf(
        "audit append, %d process(es): %8.0f records/s (chain %s)   | plain O_APPEND write: %9.0f lines/s\n",
        processes, appends / t, ok ? "verified" : "BROKEN", appends / plain);
  }

  // The guard's added latency per call, in process.
  fs::remove_all(dir);
  fs::create_directories(dir);
  agentlog::ToolsContext ctx{agentlog::ProjectLayout::at(dir)};
  agentlog::install_templates(ctx.layout);
  for (bool guarded : {false, true}) {
    agentlog::mcp::ToolRegistry registry;
    agentlog::register_tools(registry, ctx);
    if (guarded) registry.set_guard(agentlog::make_policy_guard(ctx));
    std::vector<double> us;
    for (int i = 0; i < calls; ++i) {
      agentlog::mcp::ToolCall call;
      call.tool = "log_event";
      call.arguments = {{"level", "info"}, {"message", "bench"}, {"fields", {{"i", i}}}};
      call.client.name = "bench";
      auto t0 = Clock::now();
      auto r = registry.call(call);
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      if (r.is_error) {
        std::fprintf(stderr, "call failed: %s\n", r.text.c_str());
        return 1;
      }
    }
    std::printf("tools/call log_event in process, %-13s median %7.1f us   p99 %7.1f us\n",
                guarded ? "with guard:" : "without guard:", bench::pct(us, 50), bench::pct(us, 99));
  }
  if (rotate_mb > 0) {
    // A rotation (AUDIT_ROTATE_MB): the append that moves the live log to audit/archive/ and gzips it,
    // against the appends around it; then verify over every file.
    fs::remove_all(dir);
    fs::create_directories(dir / "config");
    std::FILE* env = std::fopen((dir / "config/.env.logging").c_str(), "w");
    std::fprintf(env, "AUDIT_ROTATE_MB=%d\n", rotate_mb);
    std::fclose(env);
    agentlog::policy::AuditLog log(dir / "audit");
    std::vector<double> us;
    double rotating = 0;
    for (int i = 0; rotating == 0 || us.size() < 1000; ++i) {
      auto t0 = Clock::now();
      log.append(sample_record(i));
      const double took = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      if (rotating == 0 && fs::exists(dir / "audit/archive"))
        rotating = took;
      else
        us.push_back(took);
    }
    auto t0 = Clock::now();
    const auto v = log.verify();
    const double verify_s = seconds_since(t0);
    std::uintmax_t archived = 0;
    for (const auto& f : fs::directory_iterator(dir / "audit/archive")) archived += f.file_size();
    std::printf(
        "rotation at %d MB: the rotating append %.0f ms (other appends: median %.1f us); archive %.1f MB "
        "gzipped; verify of %lld records over %zu file(s): %.2f s (%s)\n",
        rotate_mb, rotating / 1000, bench::pct(us, 50), archived / 1048576.0,
        static_cast<long long>(v.records), v.archives + 1, verify_s, v.ok ? "ok" : v.problem.c_str());
  }
  fs::remove_all(dir);
  return 0;
}
