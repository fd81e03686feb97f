// How JSON-RPC messages enter and leave the server.
//
// Thread-safety: send() may be called from any thread at any time (replies, notifications and progress come
// from worker threads); run() is called once, from one thread, and returns when the input ends or stop() is
// called. stop() is async-signal-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "mcp/json_rpc.hpp"

namespace agentlog::mcp {

class Transport {
 public:
  // Receives each complete input line (without its newline). `too_long` is set instead when a line exceeded
  // the transport's limit; its bytes were discarded.
  struct Handler {
    std::function<void(std::string_view line)> on_line;
    std::function<void(std::size_t discarded_bytes)> on_line_too_long;
  };

  virtual ~Transport() = default;
  // Writes the message, after any deferred ones.
  virtual void send(const json& message) = 0;
  // Queues the message to go out with the next send() or flush(): replies to pipelined requests leave in
  // one write instead of one each. The caller must flush() before it waits for anything.
  virtual void send_deferred(const json& message) { send(message); }
  virtual void flush() {}
  virtual void run(const Handler& handler) = 0;
  virtual void stop() = 0;
};

// Newline-delimited JSON over two file descriptors (normally stdin and a private duplicate of stdout).
// Lines longer than max_line_bytes are skipped without being held in memory.
class StdioTransport final : public Transport {
 public:
  static constexpr std::size_t kDefaultMaxLine = 16u << 20;  // 16 MiB

  StdioTransport(int in_fd, int out_fd, std::size_t max_line_bytes = kDefaultMaxLine);
  ~StdioTransport() override;

  // Called after each read of the input, before the lines read are handled (from run()'s thread).
  std::function<void()> after_read;

  void send(const json& message) override;
  void send_deferred(const json& message) override;
  void flush() override;
  void run(const Handler& handler) override;
  void stop() override;

 private:
  static constexpr std::size_t kMaxDeferred = 64u << 10;  // written at once beyond this
  std::size_t queue(const json& message);  // the bytes waiting now

  int in_fd_;
  int out_fd_;
  int wake_pipe_[2] = {-1, -1};  // stop() writes here to interrupt a blocked read
  std::size_t max_line_;
  std::mutex write_mutex_;  // held while writing
  std::mutex out_mutex_;    // guards out_
  std::string out_;         // messages not yet written
  std::atomic<bool> stopped_{false};
};

}  // namespace agentlog::mcp
