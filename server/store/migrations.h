// Versioned schema of the coordinator's database.
//
// The version lives in the file header (PRAGMA user_version). Each step
// raises it by one and runs in its own transaction together with the
// version bump, so a crash leaves the file at one version or the next.
// Version 1 is the initial schema. Never edit a released step: append one.
//
// The checks here only read. Db::Open runs CheckVmaeDatabase through its
// verify_before_write hook, before its first write (the WAL switch), so a
// file that belongs to another program, or to a newer vmae, is left exactly
// as it was.
#ifndef VMAE_SERVER_STORE_MIGRATIONS_H_
#define VMAE_SERVER_STORE_MIGRATIONS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/store/sqlite_db.h"

namespace vmae::server {

struct Migration {
  int version;          // user_version once this step has run.
  const char* summary;  // one line, for logs.
  const char* sql;      // one or more statements.
};

// The schema history, oldest first (versions 1, 2, ...).
const std::vector<Migration>& SchemaMigrations();
// The version this code writes (the last step's).
int LatestSchemaVersion();

// PRAGMA user_version.
absl::StatusOr<int> ReadSchemaVersion(Db& db);

// Read-only. OK for an empty file (fresh) or a vmae database (a `meta` table
// with key 'app' = 'vmae') whose version is at most `latest_version`.
// Otherwise FAILED_PRECONDITION naming the path: another program's SQLite
// database, or one "written by a newer vmae (schema N > M)".
absl::Status CheckVmaeDatabase(Db& db, int latest_version);
absl::Status CheckVmaeDatabase(Db& db);

// Applies the steps above the file's version, each in its own transaction.
// Returns the version reached. `steps` must be ordered 1, 2, ... (a test
// seam; the coordinator uses SchemaMigrations()).
absl::StatusOr<int> ApplyMigrations(Db& db, const std::vector<Migration>& steps);
absl::StatusOr<int> ApplyMigrations(Db& db);

}  // namespace vmae::server

#endif  // VMAE_SERVER_STORE_MIGRATIONS_H_
