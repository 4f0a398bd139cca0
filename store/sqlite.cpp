#include "store/sqlite.hpp"

#include <sqlite3.h>

#include <filesystem>

namespace rostersync::store {

Connection::Connection(const std::string& path, Mode mode, int busy_timeout_ms) : path_(path) {
  if (mode == Mode::read_write) {
    auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  }
  int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr); rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    const int primary = (db_ ? sqlite3_extended_errcode(db_) : rc) & 0xff;
    sqlite3_close(db_);
    throw StoreError(path + ": cannot open state database: " + msg,
                     primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || primary == SQLITE_IOERR);
  }
  sqlite3_busy_timeout(db_, busy_timeout_ms);
}

Connection::~Connection() { sqlite3_close(db_); }

void Connection::fail(int rc, const std::string& what, const std::string& sqlite_message) {
  const int primary = rc & 0xff;
  const bool corrupt = primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB || primary == SQLITE_IOERR;
  const std::string ours = path_ + (what.empty() ? "" : ": " + what);
  const std::string theirs = sqlite_message.empty() ? std::string(sqlite3_errmsg(db_)) : sqlite_message;
  StoreError error(ours, theirs, corrupt, primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_FULL);
  if (corrupt && unusable_.empty()) unusable_ = error.what();
  throw error;
}

void Connection::exec(const std::string& sql) {
  char* err = nullptr;
  if (int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    sqlite3_free(err);
    fail(sqlite3_extended_errcode(db_), "");
  }
}

int Connection::changes() const { return sqlite3_changes(db_); }
std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

Stmt::Stmt(Connection& db, const std::string& sql) : db_(db) {
  if (sqlite3_prepare_v2(db.raw(), sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
    db.fail(sqlite3_extended_errcode(db.raw()), "preparing statement failed");
  }
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Stmt& Stmt::bind_or_null(int i, const std::string& v) { return v.empty() ? bind_null(i) : bind(i, v); }

bool Stmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // Reset at once: a statement left active would make the next COMMIT fail
  // with "SQL statements in progress" (a half-finished transaction).
  const int code = sqlite3_extended_errcode(db_.raw());
  const std::string message = sqlite3_errmsg(db_.raw());
  sqlite3_reset(stmt_);
  db_.fail(code, "", message);
}

void Stmt::run() {
  while (step()) {
  }
  reset();
}

void Stmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int Stmt::columns() const { return sqlite3_column_count(stmt_); }
std::string Stmt::column_name(int col) const { return sqlite3_column_name(stmt_, col); }

Stmt::Type Stmt::type(int col) const {
  switch (sqlite3_column_type(stmt_, col)) {
    case SQLITE_INTEGER: return Type::integer;
    case SQLITE_NULL: return Type::null;
    default: return Type::text;
  }
}

std::string Stmt::text(int col) const {
  auto* p = sqlite3_column_text(stmt_, col);
  return p ? reinterpret_cast<const char*>(p) : "";
}

std::int64_t Stmt::integer(int col) const { return sqlite3_column_int64(stmt_, col); }

Transaction::Transaction(Connection& db) : db_(db) {
  try {
    db_.exec("BEGIN IMMEDIATE");
  } catch (const StoreError& e) {
    throw StoreError(e.ours() + " (BEGIN IMMEDIATE)", e.sqlite_text(), e.unusable(), e.busy());
  }
}

Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace rostersync::store
