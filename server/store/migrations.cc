#include "server/store/migrations.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace vmae::server {
namespace {

// Version 1: the initial schema. Job, event and checkpoint details are
// serialized protos (vmae.v1.Job, JobEvent, CheckpointInfo); the columns
// beside them are what queries filter and sort on.
//
// events.kind: 1 state, 2 metric, 3 checkpoint, 4 log, 5 snapshot.
// events.rank / attempt: the log line's (or state change's / checkpoint's
// attempt); NULL when the event has none.
// metrics: the primary key (job_id, name, step) is the index every series
// query uses, so reads stay fast as the table grows.
constexpr char kSchemaV1[] = R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('app', 'vmae');

CREATE TABLE jobs (
  id TEXT PRIMARY KEY NOT NULL,
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  state INTEGER NOT NULL,
  create_ms INTEGER NOT NULL,
  idempotency_key TEXT NULL,
  job BLOB NOT NULL
);
CREATE UNIQUE INDEX jobs_owner_idempotency_key ON jobs (owner, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX jobs_create ON jobs (create_ms, id);

CREATE TABLE events (
  job_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  rank INTEGER NULL,
  attempt INTEGER NULL,
  time_ms INTEGER NOT NULL,
  payload BLOB NOT NULL,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
CREATE INDEX events_kind ON events (job_id, kind, seq);

CREATE TABLE metrics (
  job_id TEXT NOT NULL,
  name TEXT NOT NULL,
  step INTEGER NOT NULL,
  value REAL NOT NULL,
  time_ms INTEGER NOT NULL,
  PRIMARY KEY (job_id, name, step)
) WITHOUT ROWID;

CREATE TABLE checkpoints (
  id TEXT PRIMARY KEY NOT NULL,
  job_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  upload_id TEXT NULL UNIQUE,
  committed INTEGER NOT NULL DEFAULT 0,
  deleting INTEGER NOT NULL DEFAULT 0,
  info BLOB NOT NULL
);
CREATE INDEX checkpoints_job_step ON checkpoints (job_id, step);

CREATE TABLE pins (
  checkpoint_id TEXT NOT NULL,
  job_id TEXT NOT NULL,
  PRIMARY KEY (checkpoint_id, job_id)
) WITHOUT ROWID;
CREATE INDEX pins_job ON pins (job_id);

CREATE TABLE kv (
  job_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  PRIMARY KEY (job_id, attempt, key)
) WITHOUT ROWID;

CREATE TABLE counters (
  name TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

absl::StatusOr<int64_t> QueryInt(Db& db, absl::string_view sql) {
  VMAE_ASSIGN_OR_RETURN(Statement stmt, db.Prepare(sql));
  VMAE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return absl::InternalError(absl::StrCat("sqlite: no row from \"", sql, "\""));
  }
  return stmt.ColumnInt64(0);
}

}  // namespace

const std::vector<Migration>& SchemaMigrations() {
  static const std::vector<Migration>* const kSteps = new std::vector<Migration>{
      {1, "initial schema", kSchemaV1},
  };
  return *kSteps;
}

int LatestSchemaVersion() { return SchemaMigrations().back().version; }

absl::StatusOr<int> ReadSchemaVersion(Db& db) {
  VMAE_ASSIGN_OR_RETURN(int64_t version, QueryInt(db, "PRAGMA user_version"));
  return static_cast<int>(version);
}

absl::Status CheckVmaeDatabase(Db& db) { return CheckVmaeDatabase(db, LatestSchemaVersion()); }

absl::Status CheckVmaeDatabase(Db& db, int latest_version) {
  VMAE_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(db));
  VMAE_ASSIGN_OR_RETURN(int64_t objects, QueryInt(db, "SELECT COUNT(*) FROM sqlite_schema"));
  if (objects == 0 && version == 0) {
    return absl::OkStatus();  // A fresh (empty) file.
  }
  VMAE_ASSIGN_OR_RETURN(
      int64_t has_meta,
      QueryInt(db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'"));
  std::string app;
  if (has_meta > 0) {
    absl::StatusOr<Statement> stmt = db.Prepare("SELECT value FROM meta WHERE key = 'app'");
    if (stmt.ok()) {
      VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (row) {
        app = stmt->ColumnText(0);
      }
    }
  }
  if (app != "vmae") {
    return absl::FailedPreconditionError(absl::StrCat(
        db.path(), ": is a SQLite database but not a vmae one (no meta 'app' = 'vmae'; ",
        objects, " schema objects, user_version ", version,
        "); refusing to modify it. Point --state-dir at an empty directory"));
  }
  if (version > latest_version) {
    return absl::FailedPreconditionError(
        absl::StrCat(db.path(), ": written by a newer vmae (schema ", version, " > ",
                     latest_version, "); upgrade vmae-coordinator"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ApplyMigrations(Db& db) { return ApplyMigrations(db, SchemaMigrations()); }

absl::StatusOr<int> ApplyMigrations(Db& db, const std::vector<Migration>& steps) {
  int latest = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].version != static_cast<int>(i) + 1) {
      return absl::InternalError(absl::StrCat("migration #", i, " has version ", steps[i].version,
                                              "; steps must be numbered 1, 2, ..."));
    }
    latest = steps[i].version;
  }
  VMAE_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(db));
  if (version > latest) {
    return absl::FailedPreconditionError(
        absl::StrCat(db.path(), ": written by a newer vmae (schema ", version, " > ", latest,
                     "); upgrade vmae-coordinator"));
  }
  for (const Migration& step : steps) {
    if (step.version <= version) {
      continue;
    }
    VMAE_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db));
    absl::Status status = db.Exec(step.sql);
    if (status.ok()) {
      // PRAGMA takes no placeholders; the version is our own integer.
      status = db.Exec(absl::StrCat("PRAGMA user_version = ", step.version));
    }
    if (status.ok()) {
      status = tx.Commit();
    }
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("migrating ", db.path(), " to schema ", step.version, " (",
                                       step.summary, "): ", status.message()));
    }
    if (version > 0) {
      LogInfo(absl::StrCat("migrated ", db.path(), " from schema ", version, " to ", step.version,
                           ": ", step.summary));
    }
    version = step.version;
  }
  return version;
}

}  // namespace vmae::server
