// A fresh directory under $TMPDIR for one test, removed when the test ends.
#pragma once

#include <filesystem>
#include <string>

namespace agentlog::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "agentlog-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);

// Today's UTC date plus `offset_days`, as "YYYY-MM-DD": the day folders of span files in tests, which
// retention (TRACING_RETENTION_DAYS, a store's retention) would remove once a fixed date grew old.
std::string utc_day(int offset_days = 0);

}  // namespace agentlog::test
