// The one thin layer over the SQLite C API that every file of store/ uses:
// a connection, prepared statements and transactions, all throwing
// StoreError with the database path and SQLite's message. Not used outside
// store/ (the rest of the program speaks domain operations and reports).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace rostersync::store {

// Any failure of the state database: open, lock timeout, disk full, corrupt
// file. The message names the database path and the failing operation.
// `unusable`: the file is corrupt, not a database, or the disk fails
// (SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_IOERR): nothing more can be
// trusted to it, and a daemon must stop (exit 3) rather than go on without it.
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& what, bool unusable = false, bool busy = false)
      : std::runtime_error(what), ours_(what), unusable_(unusable), busy_(busy) {}
  // Our text (the file, what was asked) and SQLite's own, kept apart.
  StoreError(const std::string& ours, const std::string& sqlite_text, bool unusable, bool busy)
      : std::runtime_error(sqlite_text.empty() ? ours : ours + ": " + sqlite_text), ours_(ours),
        sqlite_text_(sqlite_text), unusable_(unusable), busy_(busy) {}
  const std::string& ours() const { return ours_; }
  const std::string& sqlite_text() const { return sqlite_text_; }
  bool unusable() const { return unusable_; }
  // Worth trying again soon: another process held the database longer than
  // the busy timeout (SQLITE_BUSY, SQLITE_LOCKED), or the disk is full (SQLITE_FULL).
  bool busy() const { return busy_; }

 private:
  std::string ours_, sqlite_text_;
  bool unusable_ = false;
  bool busy_ = false;
};

class Connection {
 public:
  enum class Mode { read_write, read_only };
  // Opens `path` (creating it and its directory in read_write mode) with a
  // busy timeout of `busy_timeout_ms`. Throws StoreError.
  Connection(const std::string& path, Mode mode, int busy_timeout_ms);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& path() const { return path_; }
  // Runs one or more statements without results. Throws StoreError.
  void exec(const std::string& sql);
  int changes() const;
  std::int64_t last_insert_rowid() const;
  sqlite3* raw() const { return db_; }  // for Stmt, and file controls of the store
  // Throws the StoreError for SQLite result `rc` ("<path>: <what>: <SQLite's message>");
  // a corrupt-class error is also remembered in unusable().
  [[noreturn]] void fail(int rc, const std::string& what, const std::string& sqlite_message = "");
  // "" while the file works; else the first error that made it unusable.
  const std::string& unusable() const { return unusable_; }

 private:
  std::string path_;
  std::string unusable_;
  sqlite3* db_ = nullptr;
};

// A prepared statement, finalized on scope exit. Binds are 1-based like SQL's.
class Stmt {
 public:
  Stmt(Connection& db, const std::string& sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v);
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind_null(int i);
  // Binds text, or NULL when `v` is empty.
  Stmt& bind_or_null(int i, const std::string& v);
  // True while a row is available; throws StoreError on failure.
  bool step();
  // Steps to the end, then resets for the next binds.
  void run();
  void reset();

  int columns() const;
  std::string column_name(int col) const;
  enum class Type { integer, text, null };
  Type type(int col) const;
  std::string text(int col) const;
  std::int64_t integer(int col) const;

 private:
  Connection& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back if the scope exits without commit().
class Transaction {
 public:
  explicit Transaction(Connection& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Connection& db_;
  bool done_ = false;
};

// SQL for "now" as UTC ISO 8601 with milliseconds, the form every timestamp column holds.
inline constexpr const char* kSqlNow = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

}  // namespace rostersync::store
