// RAII over the SQLite C API (SQLite 3.40).
//
//  - Db owns one connection. sqlite3_open_v2 hands back a handle even when it
//    fails, and that handle must still be closed, so Db::Open adopts it at
//    once (the opposite of FFmpeg's avformat_open_input).
//  - PRAGMAs are set only in Db::Open. Before the first write (journal_mode=WAL
//    rewrites the header) it checks, read-only, that the file is a SQLite
//    database, that PRAGMA quick_check passes, and runs the caller's
//    `verify_before_write` hook, so a file that is not ours is never altered.
//  - Statement owns its finalizer; Step() returns StatusOr<bool> (true: a row).
//  - Transaction is BEGIN IMMEDIATE and rolls back unless Commit() is called.
//  - Db::Cached(sql) lends a prepared statement kept for the connection's
//    life (keyed by SQL text), so hot paths never re-prepare.
//
// Errors are absl::Status carrying sqlite3_errmsg, the SQL's first words and
// the file. Codes: SQLITE_CORRUPT/NOTADB -> DATA_LOSS, SQLITE_BUSY/LOCKED ->
// UNAVAILABLE, SQLITE_CANTOPEN/PERM/READONLY -> FAILED_PRECONDITION,
// SQLITE_CONSTRAINT_PRIMARYKEY/UNIQUE -> ALREADY_EXISTS, SQLITE_FULL ->
// RESOURCE_EXHAUSTED, anything else -> INTERNAL.
//
// Thread-compatible, not thread-safe: one connection, one writer; the owner
// (JobStore) serialises every call with its mutex. Statements (and
// ScopedStatements) must be destroyed before their Db.
#ifndef VMAE_SERVER_STORE_SQLITE_DB_H_
#define VMAE_SERVER_STORE_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae::server {

class Db;

// The absl code for an SQLite result code (primary or extended).
absl::StatusCode SqliteStatusCode(int rc);

// A status for `rc` with sqlite3_errmsg(db) (or sqlite3_errstr(rc) when db is
// null), the first words of `sql` and the database file. Never OK.
absl::Status SqliteError(int rc, sqlite3* db, absl::string_view sql);

// Marks a value to bind as a BLOB (strings bind as TEXT).
struct Blob {
  absl::string_view bytes;
};

// One prepared statement. Move-only; finalized in the destructor.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binds parameter `index` (1-based, as SQLite counts). Values are copied
  // (SQLITE_TRANSIENT), so temporaries are fine.
  absl::Status Bind(int index, int64_t value);
  absl::Status Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  absl::Status Bind(int index, double value);
  absl::Status Bind(int index, absl::string_view text);
  absl::Status Bind(int index, const std::string& text) {
    return Bind(index, absl::string_view(text));
  }
  absl::Status Bind(int index, const char* text) { return Bind(index, absl::string_view(text)); }
  absl::Status Bind(int index, Blob blob);
  absl::Status Bind(int index, std::nullptr_t) { return BindNull(index); }
  absl::Status BindBlob(int index, absl::string_view bytes) { return Bind(index, Blob{bytes}); }
  absl::Status BindNull(int index);

  // Binds args to parameters 1..N in order; stops at the first error.
  template <typename... Args>
  absl::Status BindAll(const Args&... args) {
    absl::Status status;
    int index = 1;
    auto bind_one = [&](const auto& value) {
      if (status.ok()) {
        status = Bind(index, value);
      }
      ++index;
    };
    (bind_one(args), ...);
    return status;
  }

  // Runs one step: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps until done (for statements whose rows, if any, are not needed).
  absl::Status Run();

  // Column getters for the current row; `index` is 0-based.
  int ColumnCount() const;
  bool ColumnIsNull(int index) const;
  int64_t ColumnInt64(int index) const;
  double ColumnDouble(int index) const;
  std::string ColumnText(int index) const;
  std::string ColumnBlob(int index) const;

  // Rewinds the statement and clears its bindings.
  void Reset();

  const std::string& sql() const { return sql_; }

 private:
  friend class Db;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql);
  absl::Status CheckBind(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// A statement lent by Db::Cached: reset (bindings cleared) when the loan
// ends, so no read stays open. Move-only.
class ScopedStatement {
 public:
  ScopedStatement(ScopedStatement&& other) noexcept;
  ScopedStatement& operator=(ScopedStatement&&) = delete;
  ScopedStatement(const ScopedStatement&) = delete;
  ScopedStatement& operator=(const ScopedStatement&) = delete;
  ~ScopedStatement();

  Statement* operator->() const { return stmt_; }
  Statement& operator*() const { return *stmt_; }

 private:
  friend class Db;
  ScopedStatement(Statement* stmt, bool* in_use, std::unique_ptr<Statement> owned);

  Statement* stmt_;
  bool* in_use_;                      // the cache slot's flag; null when owned_.
  std::unique_ptr<Statement> owned_;  // a fresh one when the cached one is lent.
};

// One SQLite connection.
class Db {
 public:
  struct OpenOptions {
    // Run PRAGMA quick_check before any write. Failure -> DATA_LOSS.
    bool quick_check = true;
    // Called after the read-only checks and before the first write (the
    // journal_mode switch); an error aborts the open, leaving the file as it
    // was. Must not write.
    std::function<absl::Status(Db&)> verify_before_write;
  };

  // Opens (creating when absent) `path` read-write and sets
  // journal_mode=WAL, synchronous=FULL, foreign_keys=ON, busy_timeout=5000.
  // Errors: a directory, an unreadable or read-only file -> FAILED_PRECONDITION;
  // not a SQLite file, or corrupt -> DATA_LOSS; both naming the path.
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<Db>> Open(const std::string& path,
                                                  const OpenOptions& options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements that return no rows needed (DDL).
  absl::Status Exec(absl::string_view sql);
  // Prepares one statement for a single use.
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // Lends the cached prepared statement for `sql`, preparing it the first
  // time. When that statement is already lent (nested use), a fresh one is.
  absl::StatusOr<ScopedStatement> Cached(absl::string_view sql);

  // Rows changed by the last INSERT/UPDATE/DELETE.
  int64_t Changes() const;
  bool InTransaction() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return handle_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  Db(std::unique_ptr<sqlite3, Closer> handle, std::string path);
  absl::StatusOr<Statement> PrepareWithFlags(absl::string_view sql, unsigned int flags);
  absl::Status SetPragmas(const OpenOptions& options);

  struct CacheSlot {
    std::unique_ptr<Statement> statement;
    bool in_use = false;
  };

  // Declared first, destroyed last: every cached statement is finalized
  // before the connection closes.
  std::unique_ptr<sqlite3, Closer> handle_;
  std::string path_;
  std::map<std::string, CacheSlot, std::less<>> cache_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back in the destructor unless committed.
// Move-only; no nesting.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Db& db);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  absl::Status Commit();
  // Rolls back now (also what the destructor does when not committed).
  void Rollback();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;  // null once committed, rolled back or moved from.
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_STORE_SQLITE_DB_H_
