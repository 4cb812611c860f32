#include "client/cli.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/commands/commands.h"
#include "gtest/gtest.h"
#include "tests/client/test_util.h"

namespace vmae::client {
namespace {

using testing::EmptyEnv;
using testing::Vmaectl;

absl::StatusOr<ParsedCommandLine> Parse(std::vector<std::string> args,
                                        const EnvLookup& env = EmptyEnv()) {
  args.insert(args.begin(), "vmaectl");
  return ParseCommandLine(args, VerbSpecs(), env);
}

EnvLookup MapEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

TEST(CliTest, GlobalFlagsWorkBeforeAndAfterTheVerb) {
  auto p = Parse({"--server", "h:1", "get", "j-1", "-o", "json", "--token", "t"});
  ASSERT_OK(p);
  EXPECT_EQ(p->verb, "get");
  EXPECT_EQ(p->args, std::vector<std::string>{"j-1"});
  EXPECT_EQ(p->global.server, "h:1");
  EXPECT_EQ(p->global.token, "t");
  EXPECT_EQ(p->global.format, OutputFormat::kJson);
}

TEST(CliTest, AttachedValuesAreAccepted) {
  auto p = Parse({"--server=h:2", "list", "-oyaml", "--timeout=2.5"});
  ASSERT_OK(p);
  EXPECT_EQ(p->global.server, "h:2");
  EXPECT_EQ(p->global.format, OutputFormat::kYaml);
  EXPECT_EQ(p->global.timeout, absl::Milliseconds(2500));
}

TEST(CliTest, RepeatedSetKeepsEveryValueInOrder) {
  auto p = Parse({"submit", "job.yaml", "--set", "a.b=1", "--set=c=2", "--dry-run"});
  ASSERT_OK(p);
  EXPECT_EQ(p->GetAll("set"), (std::vector<std::string>{"a.b=1", "c=2"}));
  EXPECT_TRUE(p->Has("dry-run"));
  EXPECT_FALSE(p->Has("watch"));
  EXPECT_EQ(p->args, std::vector<std::string>{"job.yaml"});
}

TEST(CliTest, UnknownFlagIsAUsageErrorThatNamesTheFlag) {
  auto p = Parse({"submit", "job.yaml", "--frobnicate", "3"});
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(p.status().message().find("--frobnicate"), std::string::npos) << p.status();
  EXPECT_NE(p.status().message().find("vmaectl submit --help"), std::string::npos);

  auto q = Parse({"list", "--bogus=1"});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("unknown flag --bogus"), std::string::npos) << q.status();
}

TEST(CliTest, UnknownFlagExitsTwoWithOneErrorLine) {
  testing::RunResult r = Vmaectl({"get", "j-1", "--nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "error: unknown flag --nope for 'vmaectl get'; see 'vmaectl get --help'\n");
}

TEST(CliTest, VerbFlagBeforeTheVerbSaysWhereItGoes) {
  auto p = Parse({"--set", "a=1", "submit", "job.yaml"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("put it after the command"), std::string::npos) << p.status();
}

TEST(CliTest, EnvironmentSuppliesServerAndTokenAndFlagsWin) {
  auto env = MapEnv({{"VMAE_SERVER", "env:1"}, {"VMAE_TOKEN", "envtok"}});
  auto p = Parse({"list"}, env);
  ASSERT_OK(p);
  EXPECT_EQ(p->global.server, "env:1");
  EXPECT_EQ(p->global.token, "envtok");

  auto q = Parse({"list", "--server", "flag:2", "--token", "flagtok"}, env);
  ASSERT_OK(q);
  EXPECT_EQ(q->global.server, "flag:2");
  EXPECT_EQ(q->global.token, "flagtok");
}

TEST(CliTest, DefaultsApplyWithoutFlagsOrEnvironment) {
  auto p = Parse({"list"});
  ASSERT_OK(p);
  EXPECT_EQ(p->global.server, "127.0.0.1:7070");
  EXPECT_EQ(p->global.token, "");
  EXPECT_EQ(p->global.format, OutputFormat::kTable);
  EXPECT_EQ(p->global.timeout, absl::Seconds(30));
}

TEST(CliTest, DownloadTakesOutputAsADirectoryAnywhereOnTheLine) {
  auto p = Parse({"download", "j-1", "ckpt-9", "-o", "/tmp/out"});
  ASSERT_OK(p);
  EXPECT_EQ(p->global.output_path, "/tmp/out");
  EXPECT_EQ(p->global.format, OutputFormat::kTable);
  EXPECT_EQ(p->args, (std::vector<std::string>{"j-1", "ckpt-9"}));

  auto q = Parse({"--output", "/tmp/before", "download", "j-1"});
  ASSERT_OK(q);
  EXPECT_EQ(q->global.output_path, "/tmp/before");
}

TEST(CliTest, UnknownOutputFormatIsRejected) {
  auto p = Parse({"get", "j-1", "-o", "xml"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("'xml'"), std::string::npos);
}

TEST(CliTest, WrongArgumentCountsAreUsageErrors) {
  auto missing = Parse({"get"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("needs ID"), std::string::npos) << missing.status();

  auto extra = Parse({"get", "j-1", "j-2"});
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("'j-2'"), std::string::npos) << extra.status();
}

TEST(CliTest, FlagWithoutItsValueIsAUsageError) {
  auto p = Parse({"list", "--owner"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--owner needs a value"), std::string::npos) << p.status();
}

TEST(CliTest, ValueStartingWithADashIsTakenAsTheValue) {
  auto p = Parse({"logs", "j-1", "--rank", "-1", "-f"});
  ASSERT_OK(p);
  EXPECT_EQ(p->Get("rank"), "-1");
  EXPECT_TRUE(p->Has("follow"));
}

TEST(CliTest, DoubleDashEndsFlags) {
  auto p = Parse({"get", "--", "-weird-id"});
  ASSERT_OK(p);
  EXPECT_EQ(p->args, std::vector<std::string>{"-weird-id"});
}

TEST(CliTest, BadTimeoutIsRejected) {
  EXPECT_FALSE(Parse({"list", "--timeout", "0"}).ok());
  EXPECT_FALSE(Parse({"list", "--timeout", "soon"}).ok());
}

TEST(CliTest, TokenAndTokenFileTogetherAreRejected) {
  EXPECT_FALSE(Parse({"list", "--token", "a", "--token-file", "/tmp/t"}).ok());
}

TEST(CliTest, TokenFromASecretLosesItsNewlineAndInnerSpaceIsRefused) {
  auto p = Parse({"list"}, MapEnv({{"VMAE_TOKEN", "s3cret\n"}}));
  ASSERT_OK(p);
  EXPECT_EQ(p->global.token, "s3cret");
  auto q = Parse({"list", "--token", "two words"});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("space or control character"), std::string::npos)
      << q.status();
}

TEST(CliTest, HelpSkipsTheArgumentCheck) {
  auto p = Parse({"submit", "--help"});
  ASSERT_OK(p);
  EXPECT_TRUE(p->global.help);
}

TEST(CliTest, HelpPrintsCommandsAndExitCodes) {
  testing::RunResult r = Vmaectl({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* verb :
       {"submit", "list", "get", "describe", "cancel", "pause", "resume", "watch", "logs",
        "metrics", "checkpoints", "download", "workers", "version"}) {
    EXPECT_NE(r.out.find(std::string("  ") + verb + " "), std::string::npos) << verb;
  }
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos);

  testing::RunResult verb = Vmaectl({"download", "-h"});
  EXPECT_EQ(verb.exit_code, 0);
  EXPECT_NE(verb.out.find("-o/--output is the DIRECTORY"), std::string::npos) << verb.out;
}

TEST(CliTest, UnknownCommandExitsTwo) {
  testing::RunResult r = Vmaectl({"frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "error: unknown command 'frobnicate'; see 'vmaectl --help'\n");
}

TEST(CliTest, VersionPrintsTheVersion) {
  testing::RunResult r = Vmaectl({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("vmaectl ", 0), 0u) << r.out;
  testing::RunResult v = Vmaectl({"version"});
  EXPECT_EQ(v.out, r.out);
}

}  // namespace
}  // namespace vmae::client
