#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "mcp/transport.hpp"

namespace agentlog::mcp {

StdioTransport::StdioTransport(int in_fd, int out_fd, std::size_t max_line_bytes)
    : in_fd_(in_fd), out_fd_(out_fd), max_line_(max_line_bytes) {
  if (::pipe(wake_pipe_) != 0) wake_pipe_[0] = wake_pipe_[1] = -1;
}

StdioTransport::~StdioTransport() {
  for (int fd : wake_pipe_)
    if (fd >= 0) ::close(fd);
}

std::size_t StdioTransport::queue(const json& message) {
  std::string line = message.dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  std::lock_guard lock(out_mutex_);
  out_ += line;
  return out_.size();
}

void StdioTransport::flush() {
  std::lock_guard writing(write_mutex_);  // one write at a time: the stream keeps the order of queue()
  std::string batch;
  {
    std::lock_guard lock(out_mutex_);
    batch.swap(out_);
  }
  const char* p = batch.data();
  std::size_t left = batch.size();
  while (left > 0) {
    ssize_t n = ::write(out_fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // the client went away; nothing useful to do with the replies
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  batch.clear();
  std::lock_guard lock(out_mutex_);
  if (out_.empty()) out_.swap(batch);  // keeps the buffer's capacity
}

void StdioTransport::send(const json& message) {
  queue(message);
  flush();
}

void StdioTransport::send_deferred(const json& message) {
  if (queue(message) >= kMaxDeferred) flush();
}

void StdioTransport::stop() {
  stopped_.store(true);
  if (wake_pipe_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], &c, 1);
  }
}

void StdioTransport::run(const Handler& handler) {
  std::string line;
  bool discarding = false;  // inside a line that exceeded the limit
  std::size_t discarded = 0;
  std::vector<char> buf(1 << 16);
  while (!stopped_.load()) {
    pollfd fds[2] = {{in_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    int ready = ::poll(fds, wake_pipe_[0] >= 0 ? 2 : 1, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (stopped_.load()) return;
    ssize_t n = ::read(in_fd_, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return;
    }
    if (n == 0) break;  // EOF
    if (after_read) after_read();
    const char* p = buf.data();
    const char* end = p + n;
    while (p < end) {
      const char* nl = static_cast<const char*>(memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* chunk_end = nl ? nl : end;
      std::size_t chunk = static_cast<std::size_t>(chunk_end - p);
      if (discarding) {
        discarded += chunk;
      } else if (line.size() + chunk > max_line_) {
        discarding = true;
        discarded = line.size() + chunk;
        std::string().swap(line);
      } else {
        line.append(p, chunk);
      }
      if (!nl) break;
      if (discarding) {
        if (handler.on_line_too_long) handler.on_line_too_long(discarded);
        discarding = false;
        discarded = 0;
      } else {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) handler.on_line(line);
        line.clear();
      }
      p = nl + 1;
    }
  }
  if (!line.empty() && !discarding) handler.on_line(line);  // last line without a newline
}

}  // namespace agentlog::mcp
