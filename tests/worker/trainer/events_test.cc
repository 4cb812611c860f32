#include "worker/trainer/events.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace vmae::trainer {
namespace {

std::string Drain(std::FILE* f) {
  std::rewind(f);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  return text;
}

TEST(EventWriterTest, OneJsonObjectPerLineWithNonFiniteAsNull) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  EventWriter w(f);
  StepEvent s;
  s.step = 7;
  s.total_steps = 10;
  s.loss = std::nan("");
  s.lr = 0.5;
  s.extra["restored_step"] = 6;
  s.data_errors["truncated"] = 2;
  w.Step(s);
  w.Emit("done", {{"step", 7}});
  const std::string text = Drain(f);
  std::fclose(f);
  const size_t nl = text.find('\n');
  ASSERT_NE(nl, std::string::npos);
  const nlohmann::json step = nlohmann::json::parse(text.substr(0, nl));
  EXPECT_EQ(step["event"], "step");
  EXPECT_EQ(step["step"], 7);
  EXPECT_TRUE(step["loss"].is_null());
  EXPECT_DOUBLE_EQ(step["lr"].get<double>(), 0.5);
  EXPECT_EQ(step["extra"]["restored_step"], 6);
  EXPECT_EQ(step["data_errors"]["truncated"], 2);
  const nlohmann::json done = nlohmann::json::parse(text.substr(nl + 1));
  EXPECT_EQ(done["event"], "done");
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace vmae::trainer
