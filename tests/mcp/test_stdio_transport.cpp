#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <thread>

#include "mcp/transport.hpp"

using namespace agentlog::mcp;

namespace {

struct Pipes {
  int in[2];
  int out[2];
  Pipes() {
    REQUIRE(::pipe(in) == 0);
    REQUIRE(::pipe(out) == 0);
  }
  ~Pipes() {
    for (int fd : {in[0], in[1], out[0], out[1]})
      if (fd >= 0) ::close(fd);
  }
  void write_all(const std::string& s) {
    std::size_t done = 0;
    while (done < s.size()) done += static_cast<std::size_t>(::write(in[1], s.data() + done, s.size() - done));
  }
  void close_input() {
    ::close(in[1]);
    in[1] = -1;
  }
};

}  // namespace

TEST_CASE("lines are split on newlines, CR stripped, empty lines skipped, a last line without newline kept") {
  Pipes p;
  StdioTransport t(p.in[0], p.out[1], 1024);
  std::vector<std::string> lines;
  std::thread writer([&] {
    p.write_all("{\"a\":1}\r\n\n{\"b\":");
    p.write_all("2}\n{\"c\":3}");
    p.close_input();
  });
  t.run({[&](std::string_view l) { lines.emplace_back(l); }, nullptr});
  writer.join();
  CHECK(lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"});
}

TEST_CASE("a line over the limit is discarded without being buffered, and reading continues") {
  Pipes p;
  StdioTransport t(p.in[0], p.out[1], 100);
  std::vector<std::string> lines;
  std::vector<std::size_t> too_long;
  std::thread writer([&] {
    p.write_all(std::string(250, 'x') + "\n" + "{\"ok\":1}\n" + std::string(101, 'y'));
    p.write_all("\n");
    p.close_input();
  });
  t.run({[&](std::string_view l) { lines.emplace_back(l); }, [&](std::size_t n) { too_long.push_back(n); }});
  writer.join();
  CHECK(lines == std::vector<std::string>{"{\"ok\":1}"});
  CHECK(too_long == std::vector<std::size_t>{250, 101});
}

TEST_CASE("send writes one JSON object per line; stop() ends a blocked run") {
  Pipes p;
  StdioTransport t(p.in[0], p.out[1]);
  t.send(json{{"x", "é\u2028"}});
  char buf[256];
  ssize_t n = ::read(p.out[0], buf, sizeof buf);
  std::string got(buf, static_cast<std::size_t>(n));
  CHECK(got.back() == '\n');
  CHECK(json::parse(got)["x"] == "é\u2028");
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    t.stop();
  });
  t.run({[](std::string_view) {}, nullptr});  // returns although the input never ends
  stopper.join();
}

TEST_CASE("deferred messages wait for flush() or the next send(), in order; a large backlog is written at once") {
  Pipes p;
  REQUIRE(::fcntl(p.out[1], F_SETPIPE_SZ, 1 << 20) >= (1 << 20));  // room for more than one 64 KiB write
  StdioTransport t(p.in[0], p.out[1]);
  auto available = [&] {
    int n = 0;
    REQUIRE(::ioctl(p.out[0], FIONREAD, &n) == 0);
    return n;
  };
  auto read_lines = [&] {
    std::string got(static_cast<std::size_t>(available()), '\0');
    REQUIRE(::read(p.out[0], got.data(), got.size()) == static_cast<ssize_t>(got.size()));
    std::vector<json> lines;
    for (std::size_t at = 0, nl; (nl = got.find('\n', at)) != std::string::npos; at = nl + 1)
      lines.push_back(json::parse(got.substr(at, nl - at)));
    return lines;
  };
  t.send_deferred(json{{"n", 1}});
  t.send_deferred(json{{"n", 2}});
  CHECK(available() == 0);  // held
  t.flush();
  CHECK(read_lines() == std::vector<json>{{{"n", 1}}, {{"n", 2}}});
  t.flush();  // nothing held: writes nothing
  CHECK(available() == 0);

  t.send_deferred(json{{"n", 3}});
  t.send(json{{"n", 4}});  // carries the held one first
  CHECK(read_lines() == std::vector<json>{{{"n", 3}}, {{"n", 4}}});

  // 64 KiB of held replies leave without a flush: with the line that reached the limit.
  const std::string big(1000, 'x');
  std::size_t sent = 0, bytes = 0;
  while (available() == 0 && sent < 200) {
    const json m{{"n", sent++}, {"pad", big}};
    bytes += m.dump().size() + 1;
    t.send_deferred(m);
  }
  CHECK(static_cast<std::size_t>(available()) == bytes);
  CHECK(bytes >= 64u << 10);
  CHECK(bytes - (big.size() + 20) < 64u << 10);
  CHECK(read_lines().size() == sent);
}
