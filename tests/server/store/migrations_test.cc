#include "server/store/migrations.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_db.h"
#include "tests/server/store/store_test_util.h"

namespace vmae::server {
namespace {

using ::testing::HasSubstr;
using ::vmae::server::testing::RawExec;
using ::vmae::server::testing::StatusIs;
using ::vmae::server::testing::TempDir;

std::unique_ptr<Db> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Db>> db = Db::Open(path);
  EXPECT_OK(db);
  return db.ok() ? std::move(*db) : nullptr;
}

int64_t QueryInt(Db& db, const std::string& sql) {
  absl::StatusOr<Statement> stmt = db.Prepare(sql);
  EXPECT_OK(stmt);
  if (!stmt.ok()) {
    return -1;
  }
  absl::StatusOr<bool> row = stmt->Step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  return row.ok() && *row ? stmt->ColumnInt64(0) : -1;
}

bool HasTable(Db& db, const std::string& name) {
  return QueryInt(db, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = '" +
                          name + "'") == 1;
}

TEST(MigrationsTest, StepsAreNumberedFromOne) {
  const std::vector<Migration>& steps = SchemaMigrations();
  ASSERT_FALSE(steps.empty());
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].version, static_cast<int>(i) + 1);
  }
  EXPECT_EQ(LatestSchemaVersion(), steps.back().version);
}

TEST(MigrationsTest, FreshDatabaseGetsTheWholeSchema) {
  TempDir dir;
  std::unique_ptr<Db> db = OpenOrDie(dir.File("a.db"));
  ASSERT_NE(db, nullptr);
  EXPECT_OK(CheckVmaeDatabase(*db));
  absl::StatusOr<int> version = ApplyMigrations(*db);
  ASSERT_OK(version);
  EXPECT_EQ(*version, 1);
  EXPECT_EQ(*ReadSchemaVersion(*db), 1);
  for (const char* table :
       {"meta", "jobs", "events", "metrics", "checkpoints", "pins", "kv", "counters"}) {
    EXPECT_TRUE(HasTable(*db, table)) << table;
  }
  EXPECT_EQ(QueryInt(*db, "SELECT COUNT(*) FROM meta WHERE key = 'app' AND value = 'vmae'"), 1);
  // Metric queries use the (job_id, name, step) primary key.
  absl::StatusOr<Statement> plan = db->Prepare(
      "EXPLAIN QUERY PLAN SELECT step, value FROM metrics WHERE job_id = 'j' AND name = 'loss' "
      "AND step BETWEEN 0 AND 10 ORDER BY step");
  ASSERT_OK(plan);
  std::string details;
  while (*plan->Step()) {
    details += plan->ColumnText(3) + "\n";
  }
  EXPECT_THAT(details, HasSubstr("PRIMARY KEY"));
  EXPECT_THAT(details, ::testing::Not(HasSubstr("TEMP B-TREE")));
  // And the existing database still passes the check.
  EXPECT_OK(CheckVmaeDatabase(*db));
}

TEST(MigrationsTest, ApplyingAgainDoesNothing) {
  TempDir dir;
  std::unique_ptr<Db> db = OpenOrDie(dir.File("a.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_OK(ApplyMigrations(*db));
  absl::StatusOr<int> again = ApplyMigrations(*db);
  ASSERT_OK(again);
  EXPECT_EQ(*again, 1);
}

TEST(MigrationsTest, LaterStepAppliesOnTopOfExistingVersion) {
  TempDir dir;
  std::unique_ptr<Db> db = OpenOrDie(dir.File("a.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_OK(ApplyMigrations(*db));
  std::vector<Migration> steps = SchemaMigrations();
  steps.push_back({2, "add extra", "CREATE TABLE extra (a INTEGER NOT NULL)"});
  absl::StatusOr<int> version = ApplyMigrations(*db, steps);
  ASSERT_OK(version);
  EXPECT_EQ(*version, 2);
  EXPECT_TRUE(HasTable(*db, "extra"));
  EXPECT_EQ(*ReadSchemaVersion(*db), 2);
}

TEST(MigrationsTest, FailingStepRollsBackAndKeepsTheVersion) {
  TempDir dir;
  std::unique_ptr<Db> db = OpenOrDie(dir.File("a.db"));
  ASSERT_NE(db, nullptr);
  std::vector<Migration> steps = SchemaMigrations();
  steps.push_back({2, "broken", "CREATE TABLE half (a INTEGER); THIS IS NOT SQL"});
  absl::StatusOr<int> version = ApplyMigrations(*db, steps);
  EXPECT_THAT(version, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(std::string(version.status().message()), HasSubstr("schema 2 (broken)"));
  // Step 1 committed on its own; step 2 left nothing behind.
  EXPECT_EQ(*ReadSchemaVersion(*db), 1);
  EXPECT_TRUE(HasTable(*db, "jobs"));
  EXPECT_FALSE(HasTable(*db, "half"));
  EXPECT_FALSE(db->InTransaction());
}

TEST(MigrationsTest, MisnumberedStepsAreRefused) {
  TempDir dir;
  std::unique_ptr<Db> db = OpenOrDie(dir.File("a.db"));
  ASSERT_NE(db, nullptr);
  std::vector<Migration> steps = {{2, "skips one", "CREATE TABLE x (a)"}};
  EXPECT_THAT(ApplyMigrations(*db, steps), StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(*ReadSchemaVersion(*db), 0);
}

TEST(MigrationsTest, NewerSchemaIsRefused) {
  TempDir dir;
  std::unique_ptr<Db> db = OpenOrDie(dir.File("a.db"));
  ASSERT_NE(db, nullptr);
  ASSERT_OK(ApplyMigrations(*db));
  ASSERT_OK(db->Exec("PRAGMA user_version = 7"));
  absl::Status check = CheckVmaeDatabase(*db);
  EXPECT_THAT(check, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(check.message()),
              HasSubstr("written by a newer vmae (schema 7 > 1); upgrade vmae-coordinator"));
  EXPECT_THAT(ApplyMigrations(*db), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(*ReadSchemaVersion(*db), 7);
}

TEST(MigrationsTest, ForeignDatabaseIsRefused) {
  TempDir dir;
  const std::string path = dir.File("other.db");
  RawExec(path, "CREATE TABLE foo (a INTEGER)");
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  std::unique_ptr<Db> db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  absl::Status check = CheckVmaeDatabase(*db);
  EXPECT_THAT(check, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(check.message()), HasSubstr(path));
}

TEST(MigrationsTest, MetaTableOfAnotherAppIsRefused) {
  TempDir dir;
  const std::string path = dir.File("other.db");
  RawExec(path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
                "INSERT INTO meta (key, value) VALUES ('app', 'something-else')");
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  std::unique_ptr<Db> db = OpenOrDie(path);
  ASSERT_NE(db, nullptr);
  EXPECT_THAT(CheckVmaeDatabase(*db), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace vmae::server
