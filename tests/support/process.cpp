#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace agentlog::test {

namespace {

pid_t spawn(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
            const std::map<std::string, std::string>& env, int& in_w, int& out_r, int& err_r) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) _exit(127);
    // The same results when the tests run inside a Claude Code session (its Bash tool sets these; the
    // hooks and the human-only commands read them): a test that wants them says so in `env`.
    ::unsetenv("CLAUDECODE");
    ::unsetenv("CLAUDE_PROJECT_DIR");
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  in_w = in[1];
  out_r = out[0];
  err_r = err[0];
  return pid;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input,
                          const std::filesystem::path& cwd, const std::map<std::string, std::string>& env,
                          std::chrono::milliseconds timeout) {
  int in_w, out_r, err_r;
  pid_t pid = spawn(argv, cwd, env, in_w, out_r, err_r);
  ProcessResult result;
  std::size_t written = 0;
  if (input.empty()) {
    ::close(in_w);
    in_w = -1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out_r >= 0 || err_r >= 0) {
    std::vector<pollfd> fds;
    if (out_r >= 0) fds.push_back({out_r, POLLIN, 0});
    if (err_r >= 0) fds.push_back({err_r, POLLIN, 0});
    if (in_w >= 0) fds.push_back({in_w, POLLOUT, 0});
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (auto& f : fds) {
      if (!f.revents) continue;
      if (f.fd == in_w) {
        ssize_t n = ::write(in_w, input.data() + written, input.size() - written);
        if (n > 0) written += static_cast<std::size_t>(n);
        if (n < 0 || written == input.size()) {
          ::close(in_w);
          in_w = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t n = ::read(f.fd, buf, sizeof buf);
      std::string& sink = f.fd == out_r ? result.out : result.err;
      if (n > 0) {
        sink.append(buf, static_cast<std::size_t>(n));
      } else {
        ::close(f.fd);
        (f.fd == out_r ? out_r : err_r) = -1;
      }
    }
  }
  if (in_w >= 0) ::close(in_w);
  if (out_r >= 0) ::close(out_r);
  if (err_r >= 0) ::close(err_r);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = decode_status(status);
  return result;
}

ProcessResult run_agentlog(const std::vector<std::string>& args, const std::string& input,
                           const std::filesystem::path& cwd) {
  std::vector<std::string> argv = {AGENTLOG_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, input, cwd);
}

McpSession::McpSession(const std::filesystem::path& root, const std::vector<std::string>& extra_args)
    : McpSession(Command{[&] {
        std::vector<std::string> args = {"serve", "--root", root.string()};
        args.insert(args.end(), extra_args.begin(), extra_args.end());
        return args;
      }()}) {}

McpSession::McpSession(const Command& command) {
  std::vector<std::string> argv = {AGENTLOG_BINARY};
  argv.insert(argv.end(), command.args.begin(), command.args.end());
  ::signal(SIGPIPE, SIG_IGN);
  pid_ = spawn(argv, {}, {}, in_, out_, err_);
  ::fcntl(err_, F_SETFL, O_NONBLOCK);
}

McpSession::~McpSession() {
  if (in_ >= 0) ::close(in_);
  if (!status_) {
    ::kill(pid_, SIGKILL);
    wait();
  }
  if (out_ >= 0) ::close(out_);
  if (err_ >= 0) ::close(err_);
}

void McpSession::send_line(const std::string& line) {
  std::string data = line + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(in_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("write to agentlog failed: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

std::optional<nlohmann::json> McpSession::read(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return nlohmann::json::parse(line);  // throws if the server wrote anything but JSON
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd fd{out_, POLLIN, 0};
    int r = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      return std::nullopt;
    }
    char buf[65536];
    ssize_t n = ::read(out_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

nlohmann::json McpSession::request(const std::string& method, const nlohmann::json& params) {
  int id = next_id_++;
  send({{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
  for (;;) {
    auto msg = read();
    if (!msg) throw std::runtime_error("no reply to " + method + "; stderr: " + stderr_text());
    if (msg->contains("id") && (*msg)["id"] == id && !msg->contains("method")) return *msg;
    notes.push_back(*msg);
  }
}

nlohmann::json McpSession::initialize(const std::string& protocol_version) {
  auto reply = request("initialize", {{"protocolVersion", protocol_version},
                                      {"capabilities", nlohmann::json::object()},
                                      {"clientInfo", {{"name", "agentlog-tests"}, {"version", "1.0"}}}});
  send({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}});
  return reply;
}

nlohmann::json McpSession::call_tool(const std::string& name, const nlohmann::json& arguments) {
  auto reply = request("tools/call", {{"name", name}, {"arguments", arguments}});
  if (reply.contains("error")) throw std::runtime_error("tools/call " + name + " failed: " + reply["error"].dump());
  return reply["result"];
}

void McpSession::close_stdin() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

void McpSession::kill(int signal) { ::kill(pid_, signal); }

int McpSession::wait() {
  if (status_) return *status_;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  status_ = decode_status(status);
  return *status_;
}

std::string McpSession::stderr_text() {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err_, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

int run_in_children(int n, const std::function<int(int)>& body) {
  std::vector<pid_t> kids;
  for (int k = 0; k < n; ++k) {
    pid_t pid = ::fork();
    if (pid < 0) return n;
    if (pid == 0) {
      int code = 1;
      try {
        code = body(k);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", k, e.what());
      } catch (...) {
      }
      ::_exit(code);
    }
    kids.push_back(pid);
  }
  int failed = 0;
  for (pid_t pid : kids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  return failed;
}

}  // namespace agentlog::test
