#include "worker/agent/line_buffer.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::worker {
namespace {

using Lines = std::vector<std::pair<std::string, bool>>;

class LineBufferTest : public ::testing::Test {
 protected:
  LineBuffer::Emit Collect() {
    return [this](absl::string_view l, bool t) { lines_.emplace_back(std::string(l), t); };
  }
  Lines lines_;
};

TEST_F(LineBufferTest, SplitsAcrossChunksAndStripsCarriageReturns) {
  LineBuffer b(100);
  auto emit = Collect();
  b.Append("hel", emit);
  b.Append("lo\r\nwor", emit);
  b.Append("ld\n\nlast", emit);
  b.Finish(emit);
  EXPECT_EQ(lines_, (Lines{{"hello", false}, {"world", false}, {"", false}, {"last", false}}));
}

TEST_F(LineBufferTest, CutsOverlongLinesAndDropsTheirTail) {
  LineBuffer b(8);
  auto emit = Collect();
  b.Append("0123456789abcdef", emit);
  b.Append("ghij\nok\n", emit);
  EXPECT_EQ(lines_, (Lines{{"01234567", true}, {"ok", false}}));
}

TEST_F(LineBufferTest, LineOfExactlyTheLimitIsWhole) {
  LineBuffer b(4);
  auto emit = Collect();
  b.Append("abcd", emit);
  b.Append("\nx\n", emit);
  EXPECT_EQ(lines_, (Lines{{"abcd", false}, {"x", false}}));
}

TEST_F(LineBufferTest, HugeInputUsesBoundedMemory) {
  LineBuffer b;  // 64 KiB
  auto emit = Collect();
  std::string mb(1 << 20, 'x');
  for (int i = 0; i < 8; ++i) b.Append(mb, emit);
  b.Append("\n", emit);
  b.Finish(emit);
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].first.size(), LineBuffer::kDefaultMaxLine);
  EXPECT_TRUE(lines_[0].second);
}

}  // namespace
}  // namespace vmae::worker
