// For tests that link SQLite: what a database file holds, read directly and read-only (not through the code
// under test, which may change it first, e.g. by ingesting).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>

namespace agentlog::test {

// The one number `count_sql` (a SELECT count(*) ...) returns, or -1 when the file cannot be read (yet).
inline std::int64_t sqlite_count(const std::filesystem::path& db_file, const char* count_sql) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, count_sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

}  // namespace agentlog::test
