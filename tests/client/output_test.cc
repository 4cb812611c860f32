#include "client/output.h"

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/test_util.h"
#include "vmae/v1/types.pb.h"

namespace vmae::client {
namespace {

TEST(OutputTest, AgeUsesTheLargestWholeUnit) {
  EXPECT_EQ(FormatAge(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatAge(absl::Seconds(59)), "59s");
  EXPECT_EQ(FormatAge(absl::Seconds(60)), "1m");
  EXPECT_EQ(FormatAge(absl::Minutes(3) + absl::Seconds(59)), "3m");
  EXPECT_EQ(FormatAge(absl::Minutes(59)), "59m");
  EXPECT_EQ(FormatAge(absl::Hours(2)), "2h");
  EXPECT_EQ(FormatAge(absl::Hours(23) + absl::Minutes(59)), "23h");
  EXPECT_EQ(FormatAge(absl::Hours(49)), "2d");
  EXPECT_EQ(FormatAge(absl::Seconds(-5)), "0s");
}

TEST(OutputTest, TimestampAgeIsADashWhenUnset) {
  google::protobuf::Timestamp unset;
  EXPECT_EQ(FormatTimestampAge(unset, absl::Now()), "-");
  google::protobuf::Timestamp ts;
  ts.set_seconds(1'700'000'000);
  EXPECT_EQ(FormatTimestampAge(ts, absl::FromUnixSeconds(1'700'000'000 + 180)), "3m");
  EXPECT_EQ(FormatTimestamp(ts), "2023-11-14T22:13:20Z");
}

TEST(OutputTest, EtaShowsTwoUnits) {
  EXPECT_EQ(FormatEta(absl::Seconds(45)), "45s");
  EXPECT_EQ(FormatEta(absl::Seconds(312)), "5m12s");
  EXPECT_EQ(FormatEta(absl::Seconds(3723)), "1h02m");
  EXPECT_EQ(FormatEta(absl::Seconds(90061)), "1d01h");
  EXPECT_EQ(FormatEta(absl::Milliseconds(59600)), "1m00s");
}

TEST(OutputTest, BytesUseBinaryUnits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(12 * 1024 * 1024), "12.0 MiB");
  EXPECT_EQ(FormatBytes(int64_t{3} * 1024 * 1024 * 1024 / 2), "1.5 GiB");
}

TEST(OutputTest, TableColumnsAreLeftAlignedWithCapitalHeaders) {
  Table table({"id", "name", "state"});
  table.AddRow({"j-1", "a", "RUNNING"});
  table.AddRow({"j-22", "bbbbbb", "QUEUED"});
  EXPECT_EQ(table.Render(),
            "ID     NAME     STATE\n"
            "j-1    a        RUNNING\n"
            "j-22   bbbbbb   QUEUED\n");
}

TEST(OutputTest, TableCountsUtf8CharactersNotBytes) {
  Table table({"name", "x"});
  table.AddRow({"\xC3\xA9t\xC3\xA9", "1"});  // "été": 3 characters, 5 bytes.
  table.AddRow({"abcd", "2"});
  EXPECT_EQ(table.Render(),
            "NAME   X\n"
            "\xC3\xA9t\xC3\xA9    1\n"
            "abcd   2\n");
}

TEST(OutputTest, JsonUsesProtoFieldNamesAndPrintsDefaults) {
  v1::Job job;
  job.set_id("j-1");
  job.set_state(v1::JOB_STATE_RUNNING);
  job.mutable_create_time()->set_seconds(1'700'000'000);
  auto json = MessageToJson(job, /*pretty=*/false);
  ASSERT_OK(json);
  auto parsed = nlohmann::json::parse(*json);
  EXPECT_EQ(parsed["id"], "j-1");
  EXPECT_EQ(parsed["state"], "JOB_STATE_RUNNING");
  EXPECT_EQ(parsed["total_steps"], "0");  // int64 is a string in proto JSON.
  EXPECT_EQ(parsed["loss"], 0);
  EXPECT_EQ(parsed["create_time"], "2023-11-14T22:13:20Z");
  EXPECT_FALSE(parsed.contains("totalSteps"));
  EXPECT_EQ(json->find('\n'), std::string::npos);
}

TEST(OutputTest, YamlShowsTheSameFieldsAsJson) {
  auto value = nlohmann::ordered_json::parse(
      R"({"b": 1, "a": "true", "list": [], "map": {}, "nested": {"x": "z", "r": 0.5, "y": "y"},
          "items": ["p", "q"], "none": null})");
  EXPECT_EQ(JsonToYaml(value),
            "b: 1\n"
            "a: \"true\"\n"
            "list: []\n"
            "map: {}\n"
            "nested:\n"
            "  x: z\n"
            "  r: 0.5\n"
            "  \"y\": \"y\"\n"
            "items:\n"
            "  - p\n"
            "  - q\n"
            "none: ~");
}

TEST(OutputTest, ListsPrintAsJsonArrayAndYamlSequence) {
  v1::MetricPoint a;
  a.set_name("loss");
  a.set_step(1);
  a.set_value(0.5);
  v1::MetricPoint b = a;
  b.set_step(2);
  auto json = FormatMessageList({&a, &b}, OutputFormat::kJson);
  ASSERT_OK(json);
  auto parsed = nlohmann::json::parse(*json);
  ASSERT_TRUE(parsed.is_array());
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[1]["step"], "2");

  auto yaml = FormatMessageList({&a, &b}, OutputFormat::kYaml);
  ASSERT_OK(yaml);
  EXPECT_EQ(yaml->rfind("- name: loss\n  step: 1\n  value: 0.5\n", 0), 0u) << *yaml;

  auto empty = FormatMessageList({}, OutputFormat::kJson);
  ASSERT_OK(empty);
  EXPECT_EQ(*empty, "[]\n");
}

TEST(OutputTest, JobStatesParseInAnyCase) {
  EXPECT_EQ(*ParseJobState("running"), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(*ParseJobState("FAILED"), v1::JOB_STATE_FAILED);
  EXPECT_EQ(*ParseJobState("JOB_STATE_PAUSED"), v1::JOB_STATE_PAUSED);
  EXPECT_FALSE(ParseJobState("unspecified").ok());
  EXPECT_FALSE(ParseJobState("sleeping").ok());
  EXPECT_EQ(JobStateName(v1::JOB_STATE_CANCELLING), "CANCELLING");
  EXPECT_EQ(JobKindName(v1::JOB_KIND_FINETUNE), "finetune");
}

}  // namespace
}  // namespace vmae::client
