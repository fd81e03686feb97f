// Writes a realistic JSON-lines log of about N MiB to a file, in agentlog's own line format: mixed levels
// (80% info, 10% debug, 6% warn, 3% error, 1% fatal), categories, sources, request ids and fields.
// One line in ~10,000 carries the request id "req-abc-123"; one in ~500 says "timed out after NNNNms".
//   gen_log <file> [MiB]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "logger/log_record.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: gen_log <file> [MiB]\n");
    return 2;
  }
  const std::size_t target = static_cast<std::size_t>(argc > 2 ? std::atol(argv[2]) : 1024) << 20;
  std::FILE* out = std::fopen(argv[1], "wb");
  if (!out) {
    std::perror(argv[1]);
    return 1;
  }
  std::mt19937_64 rng(42);
  const char* categories[] = {"api", "db", "auth", "cache", "worker", "ai-agent"};
  const char* sources[] = {"src/api/users.cpp", "src/db/pool.cpp", "src/auth/session.cpp", "src/cache/lru.cpp",
                           "src/worker/queue.cpp", "src/agent/actions.cpp"};
  const char* verbs[] = {"GET", "POST", "PUT", "DELETE"};
  std::size_t written = 0;
  std::int64_t ts = 1795651198000;
  std::string line, msg;
  while (written < target) {
    const unsigned r = static_cast<unsigned>(rng() % 100);
    const int level = r < 80 ? 2 : r < 90 ? 1 : r < 96 ? 3 : r < 99 ? 4 : 5;
    const unsigned c = static_cast<unsigned>(rng() % 6);
    const unsigned id = static_cast<unsigned>(rng() % 1000000);
    const bool needle = rng() % 10000 == 0;
    const std::string req = needle ? "req-abc-123" : "req-" + std::to_string(id);
    msg.clear();
    if (rng() % 500 == 0)
      msg = "upstream timed out after " + std::to_string(1000 + rng() % 9000) + "ms";
    else
      msg = std::string(verbs[id % 4]) + " /api/users/" + std::to_string(id % 5000) + " - " +
            (level >= 4 ? "500 Internal Server Error" : "200 OK") + " (" + std::to_string(rng() % 400) + "ms)";
    nlohmann::json fields = {{"reqId", req}, {"userId", id % 5000}};
    agentlog::LogRecord rec;
    rec.ts_ms = ts;
    ts += static_cast<std::int64_t>(rng() % 3);
    rec.level = level;
    rec.category = categories[c];
    rec.source = sources[c];
    rec.msg = msg;
    rec.fields = &fields;
    rec.pid = 4242;
    rec.tid = 4243 + static_cast<long>(c);
    line.clear();
    agentlog::append_log_line(line, rec, agentlog::LogFormat::kJson);
    std::fwrite(line.data(), 1, line.size(), out);
    written += line.size();
  }
  std::fclose(out);
  return 0;
}
