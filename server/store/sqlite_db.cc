#include "server/store/sqlite_db.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace vmae::server {
namespace {

// The first few words of a statement, for error messages ("INSERT INTO jobs").
std::string SqlHead(absl::string_view sql) {
  std::vector<absl::string_view> words =
      absl::StrSplit(sql, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty());
  if (words.size() > 4) {
    words.resize(4);
  }
  std::string head = absl::StrJoin(words, " ");
  if (head.size() > 60) {
    head.resize(60);
  }
  return head;
}

// The file behind a connection ("" for in-memory databases).
std::string DbFile(sqlite3* db) {
  if (db == nullptr) {
    return "";
  }
  const char* name = sqlite3_db_filename(db, "main");
  return name == nullptr ? "" : name;
}

bool IsInMemory(const std::string& path) { return path.empty() || path == ":memory:"; }

}  // namespace

absl::StatusCode SqliteStatusCode(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return absl::StatusCode::kAlreadyExists;
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::StatusCode::kOk;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status SqliteError(int rc, sqlite3* db, absl::string_view sql) {
  absl::StatusCode code = SqliteStatusCode(rc);
  if (code == absl::StatusCode::kOk) {
    code = absl::StatusCode::kInternal;  // e.g. an unexpected SQLITE_ROW.
  }
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string text = absl::StrCat("sqlite: ", message, " (code ", rc, ")");
  if (!sql.empty()) {
    absl::StrAppend(&text, " in \"", SqlHead(sql), "\"");
  }
  std::string file = DbFile(db);
  if (!file.empty()) {
    absl::StrAppend(&text, " on ", file);
  }
  return absl::Status(code, text);
}

// ---- Statement --------------------------------------------------------------

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql)
    : db_(db), stmt_(stmt), sql_(std::move(sql)) {}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      sql_(std::move(other.sql_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    sql_ = std::move(other.sql_);
  }
  return *this;
}

Statement::~Statement() {
  // sqlite3_finalize(nullptr) is a harmless no-op.
  sqlite3_finalize(stmt_);
}

absl::Status Statement::CheckBind(int rc) {
  if (rc == SQLITE_OK) {
    return absl::OkStatus();
  }
  return SqliteError(rc, db_, sql_);
}

absl::Status Statement::Bind(int index, int64_t value) {
  return CheckBind(sqlite3_bind_int64(stmt_, index, value));
}

absl::Status Statement::Bind(int index, double value) {
  return CheckBind(sqlite3_bind_double(stmt_, index, value));
}

absl::Status Statement::Bind(int index, absl::string_view text) {
  // A null data pointer would bind NULL; an empty string must stay ''.
  const char* data = text.data() != nullptr ? text.data() : "";
  return CheckBind(sqlite3_bind_text64(stmt_, index, data, text.size(), SQLITE_TRANSIENT,
                                       SQLITE_UTF8));
}

absl::Status Statement::Bind(int index, Blob blob) {
  // sqlite3_bind_blob with a null pointer binds NULL, so an empty blob gets
  // zeroblob(0) to stay a (zero-length) BLOB.
  if (blob.bytes.empty()) {
    return CheckBind(sqlite3_bind_zeroblob(stmt_, index, 0));
  }
  return CheckBind(
      sqlite3_bind_blob64(stmt_, index, blob.bytes.data(), blob.bytes.size(), SQLITE_TRANSIENT));
}

absl::Status Statement::BindNull(int index) { return CheckBind(sqlite3_bind_null(stmt_, index)); }

absl::StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  absl::Status status = SqliteError(rc, db_, sql_);
  // Leaves the statement reusable; the error was captured above.
  sqlite3_reset(stmt_);
  return status;
}

absl::Status Statement::Run() {
  while (true) {
    VMAE_ASSIGN_OR_RETURN(bool row, Step());
    if (!row) {
      return absl::OkStatus();
    }
  }
}

int Statement::ColumnCount() const { return sqlite3_column_count(stmt_); }

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int index) const { return sqlite3_column_int64(stmt_, index); }

double Statement::ColumnDouble(int index) const { return sqlite3_column_double(stmt_, index); }

std::string Statement::ColumnText(int index) const {
  // Pointer first, then the size (SQLite's documented order).
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  int size = sqlite3_column_bytes(stmt_, index);
  if (text == nullptr) {
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::string Statement::ColumnBlob(int index) const {
  const void* data = sqlite3_column_blob(stmt_, index);
  int size = sqlite3_column_bytes(stmt_, index);
  if (data == nullptr) {
    return std::string();
  }
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

// ---- ScopedStatement --------------------------------------------------------

ScopedStatement::ScopedStatement(Statement* stmt, bool* in_use, std::unique_ptr<Statement> owned)
    : stmt_(stmt), in_use_(in_use), owned_(std::move(owned)) {}

ScopedStatement::ScopedStatement(ScopedStatement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)),
      in_use_(std::exchange(other.in_use_, nullptr)),
      owned_(std::move(other.owned_)) {}

ScopedStatement::~ScopedStatement() {
  if (stmt_ != nullptr) {
    stmt_->Reset();
  }
  if (in_use_ != nullptr) {
    *in_use_ = false;
  }
}

// ---- Db ---------------------------------------------------------------------

void Db::Closer::operator()(sqlite3* db) const {
  // close_v2 also copes with statements still alive (it defers the close).
  int rc = sqlite3_close_v2(db);
  if (rc != SQLITE_OK) {
    LogWarning(absl::StrCat("sqlite3_close_v2 failed: ", sqlite3_errstr(rc)));
  }
}

Db::Db(std::unique_ptr<sqlite3, Closer> handle, std::string path)
    : handle_(std::move(handle)), path_(std::move(path)) {}

Db::~Db() {
  // Finalize every cached statement before the connection closes.
  cache_.clear();
}

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path) {
  return Open(path, OpenOptions());
}

absl::StatusOr<std::unique_ptr<Db>> Db::Open(const std::string& path,
                                             const OpenOptions& options) {
  struct stat st;
  if (!IsInMemory(path) && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": is a directory, not a database file"));
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXRESCODE,
                           nullptr);
  // Unlike most C libraries, sqlite3_open_v2 returns a handle even when it
  // fails (null only when out of memory), and that handle must be closed:
  // adopt it before looking at rc.
  std::unique_ptr<sqlite3, Closer> handle(raw);
  if (rc != SQLITE_OK) {
    int err = raw != nullptr ? sqlite3_system_errno(raw) : 0;
    const char* message = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    std::string text = absl::StrCat("cannot open database ", path, ": ", message);
    if (err != 0) {
      absl::StrAppend(&text, " (", std::strerror(err), ")");
    }
    absl::StatusCode code = SqliteStatusCode(rc);
    return absl::Status(code == absl::StatusCode::kOk ? absl::StatusCode::kInternal : code, text);
  }
  // SQLite silently falls back to read-only when the file is not writable;
  // the coordinator must write, so say so now rather than at the first commit.
  if (sqlite3_db_readonly(raw, "main") == 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("database ", path, " could only be opened read-only; check its permissions"));
  }
  std::unique_ptr<Db> db(new Db(std::move(handle), path));
  VMAE_RETURN_IF_ERROR(db->SetPragmas(options));
  return db;
}

absl::Status Db::SetPragmas(const OpenOptions& options) {
  // Connection settings first: they do not touch the file.
  VMAE_RETURN_IF_ERROR(Exec("PRAGMA busy_timeout = 5000"));
  VMAE_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys = ON"));

  // Read page 1: a file that is not SQLite fails here with SQLITE_NOTADB
  // (at prepare or at step), before anything could be written.
  {
    absl::Status probe;
    absl::StatusOr<Statement> stmt = Prepare("SELECT COUNT(*) FROM sqlite_schema");
    if (!stmt.ok()) {
      probe = stmt.status();
    } else {
      probe = stmt->Run();
    }
    if (!probe.ok()) {
      int rc = sqlite3_extended_errcode(handle());
      if ((rc & 0xff) == SQLITE_NOTADB) {
        return absl::DataLossError(absl::StrCat(path_, ": not a SQLite database (", probe.message(),
                                                "); refusing to touch it"));
      }
      return probe;
    }
  }

  if (options.quick_check) {
    VMAE_ASSIGN_OR_RETURN(Statement check, Prepare("PRAGMA quick_check"));
    std::vector<std::string> problems;
    while (true) {
      absl::StatusOr<bool> row = check.Step();
      if (!row.ok()) {
        return absl::DataLossError(
            absl::StrCat(path_, ": integrity check failed: ", row.status().message()));
      }
      if (!*row) {
        break;
      }
      std::string line = check.ColumnText(0);
      if (line != "ok" && problems.size() < 5) {
        problems.push_back(std::move(line));
      }
    }
    if (!problems.empty()) {
      return absl::DataLossError(absl::StrCat(path_, ": integrity check (PRAGMA quick_check) failed: ",
                                              absl::StrJoin(problems, "; ")));
    }
  }

  if (options.verify_before_write) {
    VMAE_RETURN_IF_ERROR(options.verify_before_write(*this));
  }

  // The first write: journal_mode=WAL rewrites the file header.
  {
    VMAE_ASSIGN_OR_RETURN(Statement wal, Prepare("PRAGMA journal_mode = WAL"));
    VMAE_ASSIGN_OR_RETURN(bool row, wal.Step());
    std::string mode = row ? absl::AsciiStrToLower(wal.ColumnText(0)) : "";
    VMAE_RETURN_IF_ERROR(wal.Run());
    if (mode != "wal" && !IsInMemory(path_)) {
      return absl::FailedPreconditionError(absl::StrCat(
          path_, ": cannot switch to WAL journaling (journal_mode is '", mode,
          "'); keep the state dir on local block storage, not NFS"));
    }
  }
  VMAE_RETURN_IF_ERROR(Exec("PRAGMA synchronous = FULL"));
  return absl::OkStatus();
}

absl::Status Db::Exec(absl::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(handle(), text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteError(rc, handle(), sql);
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Db::PrepareWithFlags(absl::string_view sql, unsigned int flags) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(handle(), sql.data(), static_cast<int>(sql.size()), flags, &raw,
                              &tail);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);  // null on error, but harmless.
    return SqliteError(rc, handle(), sql);
  }
  if (raw == nullptr) {
    return absl::InternalError(absl::StrCat("sqlite: empty statement: \"", sql, "\""));
  }
  Statement statement(handle(), raw, std::string(sql));
  absl::string_view rest =
      tail == nullptr ? absl::string_view() : sql.substr(static_cast<size_t>(tail - sql.data()));
  if (!absl::StripAsciiWhitespace(rest).empty()) {
    return absl::InternalError(
        absl::StrCat("sqlite: more than one statement in \"", SqlHead(sql), "\"; use Exec"));
  }
  return statement;
}

absl::StatusOr<Statement> Db::Prepare(absl::string_view sql) { return PrepareWithFlags(sql, 0); }

absl::StatusOr<ScopedStatement> Db::Cached(absl::string_view sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    VMAE_ASSIGN_OR_RETURN(Statement statement, PrepareWithFlags(sql, SQLITE_PREPARE_PERSISTENT));
    CacheSlot slot;
    slot.statement = std::make_unique<Statement>(std::move(statement));
    it = cache_.emplace(std::string(sql), std::move(slot)).first;
  }
  CacheSlot& slot = it->second;
  if (slot.in_use) {
    // Nested use of the same SQL: lend a one-off statement instead.
    VMAE_ASSIGN_OR_RETURN(Statement statement, Prepare(sql));
    auto owned = std::make_unique<Statement>(std::move(statement));
    Statement* ptr = owned.get();
    return ScopedStatement(ptr, nullptr, std::move(owned));
  }
  slot.in_use = true;
  return ScopedStatement(slot.statement.get(), &slot.in_use, nullptr);
}

int64_t Db::Changes() const { return sqlite3_changes64(handle()); }

bool Db::InTransaction() const { return sqlite3_get_autocommit(handle()) == 0; }

// ---- Transaction ------------------------------------------------------------

absl::StatusOr<Transaction> Transaction::Begin(Db& db) {
  if (db.InTransaction()) {
    return absl::InternalError(
        absl::StrCat("sqlite: nested transaction on ", db.path(), " (not supported)"));
  }
  // IMMEDIATE takes the write lock now, so a busy database fails here
  // (after busy_timeout) instead of at the first write or at COMMIT.
  VMAE_ASSIGN_OR_RETURN(ScopedStatement begin, db.Cached("BEGIN IMMEDIATE"));
  VMAE_RETURN_IF_ERROR(begin->Run());
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() { Rollback(); }

absl::Status Transaction::Commit() {
  if (db_ == nullptr) {
    return absl::FailedPreconditionError("sqlite: transaction already finished");
  }
  absl::Status status;
  {
    absl::StatusOr<ScopedStatement> commit = db_->Cached("COMMIT");
    status = commit.ok() ? (*commit)->Run() : commit.status();
  }
  if (status.ok() || !db_->InTransaction()) {
    // Committed, or SQLite already rolled back on its own.
    db_ = nullptr;
  }
  return status;
}

void Transaction::Rollback() {
  if (db_ == nullptr) {
    return;
  }
  Db* db = std::exchange(db_, nullptr);
  // After some errors (SQLITE_FULL, IOERR, ...) SQLite has already rolled
  // back; a second ROLLBACK would fail with "no transaction is active".
  if (!db->InTransaction()) {
    return;
  }
  absl::Status status;
  {
    absl::StatusOr<ScopedStatement> rollback = db->Cached("ROLLBACK");
    status = rollback.ok() ? (*rollback)->Run() : rollback.status();
  }
  if (!status.ok()) {
    LogWarning(absl::StrCat("sqlite: ROLLBACK failed: ", status.ToString()));
  }
}

}  // namespace vmae::server
