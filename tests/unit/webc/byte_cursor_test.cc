// ByteCursor and the checked arithmetic helpers.
#include "webc/byte_cursor.h"

#include <cstdint>
#include <vector>

#include "tests/unit/webc/webc_test_util.h"

namespace webcfs::webc {
namespace {

std::vector<std::byte> B(std::initializer_list<int> bytes) {
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(std::byte(static_cast<uint8_t>(b)));
  return out;
}

TEST(ByteCursor, FixedWidthReadsAdvanceOnlyOnSuccess) {
  auto bytes = B({1, 2, 3, 4, 5, 6, 7, 8, 9});
  ByteCursor c(bytes);
  uint64_t v = 0;
  ASSERT_TRUE(c.ReadU64Le(&v));
  EXPECT_EQ(v, 0x0807060504030201u);
  EXPECT_EQ(c.position(), 8u);
  EXPECT_FALSE(c.ReadU64Le(&v));
  EXPECT_EQ(c.position(), 8u);
  uint32_t w = 0;
  EXPECT_FALSE(c.ReadU32Le(&w));
  uint8_t b = 0;
  ASSERT_TRUE(c.ReadU8(&b));
  EXPECT_EQ(b, 9);
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(c.ReadU8(&b));
  EXPECT_FALSE(c.Seek(10));
  ASSERT_TRUE(c.Seek(1));
  uint64_t seven = 0;
  ASSERT_TRUE(c.ReadLe(7, &seven));
  EXPECT_EQ(seven, 0x08070605040302u);
}

TEST(ByteCursor, BytesAndSkipRefuseHugeLengths) {
  auto bytes = B({1, 2, 3});
  ByteCursor c(bytes);
  ByteView view;
  EXPECT_FALSE(c.ReadBytes(UINT64_MAX, &view));
  EXPECT_FALSE(c.ReadBytes(4, &view));
  EXPECT_FALSE(c.Skip(UINT64_MAX));
  ASSERT_TRUE(c.ReadBytes(2, &view));
  EXPECT_EQ(view.size(), 2u);
  EXPECT_EQ(view.data(), bytes.data()) << "a view, not a copy";
  EXPECT_EQ(c.remaining(), 1u);
}

TEST(ByteCursor, Uleb128) {
  uint64_t v = 0;
  auto one = B({0x00});
  ByteCursor c1(one);
  ASSERT_TRUE(c1.ReadUleb128(&v));
  EXPECT_EQ(v, 0u);
  auto multi = B({0xe5, 0x8e, 0x26});
  ByteCursor c2(multi);
  ASSERT_TRUE(c2.ReadUleb128(&v));
  EXPECT_EQ(v, 624485u);
  EXPECT_EQ(c2.position(), 3u);
  auto max = B({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01});
  ByteCursor c3(max);
  ASSERT_TRUE(c3.ReadUleb128(&v));
  EXPECT_EQ(v, UINT64_MAX);
  auto too_big = B({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02});
  ByteCursor c4(too_big);
  EXPECT_FALSE(c4.ReadUleb128(&v));
  auto too_long = B({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  ByteCursor c5(too_long);
  EXPECT_FALSE(c5.ReadUleb128(&v));
  auto truncated = B({0x80});
  ByteCursor c6(truncated);
  EXPECT_FALSE(c6.ReadUleb128(&v));
  EXPECT_EQ(c6.position(), 0u);
}

TEST(CheckedMath, OverflowIsReported) {
  uint64_t out = 0;
  EXPECT_TRUE(CheckedAdd(1, 2, &out));
  EXPECT_EQ(out, 3u);
  EXPECT_FALSE(CheckedAdd(UINT64_MAX, 1, &out));
  EXPECT_TRUE(CheckedMul(1u << 31, 1u << 31, &out));
  EXPECT_FALSE(CheckedMul(uint64_t{1} << 32, uint64_t{1} << 32, &out));
  EXPECT_TRUE(RangeWithin(0, 10, 10));
  EXPECT_TRUE(RangeWithin(10, 0, 10));
  EXPECT_FALSE(RangeWithin(11, 0, 10));
  EXPECT_FALSE(RangeWithin(5, UINT64_MAX, 10));
  EXPECT_FALSE(RangeWithin(UINT64_MAX, 2, 10));
}

}  // namespace
}  // namespace webcfs::webc
