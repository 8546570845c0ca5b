// ScanCborItem: the structure-only pre-scan that guards nlohmann's recursive decoder.
#include <vector>

#include "tests/unit/webc/webc_test_util.h"
#include "webc/cbor_scan_internal.h"

namespace webcfs::webc {
namespace {

std::vector<std::byte> B(std::initializer_list<int> bytes) {
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(std::byte(static_cast<uint8_t>(b)));
  return out;
}

Result<size_t> Scan(const std::vector<std::byte>& b, uint32_t depth = 16) {
  return ScanCborItem(b, depth);
}

TEST(CborScan, LengthOfTheFirstItemIgnoresWhatFollows) {
  EXPECT_EQ(*Scan(B({0x00, 0x00, 0x00})), 1u);                    // 0, then padding
  EXPECT_EQ(*Scan(B({0x19, 0x01, 0x00})), 3u);                    // uint16
  EXPECT_EQ(*Scan(B({0x63, 'a', 'b', 'c', 0xff})), 4u);           // text
  EXPECT_EQ(*Scan(B({0x82, 0x01, 0x81, 0x02, 0x00})), 4u);        // [1, [2]]
  EXPECT_EQ(*Scan(B({0xa1, 0x61, 'k', 0xf6, 0x00})), 4u);         // {"k": null}
  EXPECT_EQ(*Scan(B({0xd8, 0x20, 0x61, 'x'})), 4u);               // tag 32 "x"
  EXPECT_EQ(*Scan(B({0x9f, 0x01, 0x9f, 0xff, 0xff, 0x00})), 5u);  // [_ 1, [_ ]]
  EXPECT_EQ(*Scan(B({0x7f, 0x61, 'a', 0x61, 'b', 0xff})), 6u);    // (_ "a", "b")
  EXPECT_EQ(*Scan(B({0xfb, 0, 0, 0, 0, 0, 0, 0, 0})), 9u);        // double
  EXPECT_EQ(*Scan(B({0x80})), 1u);                                // []
}

TEST(CborScan, MalformedInput) {
  ASSERT_ERROR(Scan(B({})), kCorrupt);
  ASSERT_ERROR(Scan(B({0x19, 0x01})), kCorrupt);                    // truncated argument
  ASSERT_ERROR(Scan(B({0x82, 0x01})), kCorrupt);                    // missing element
  ASSERT_ERROR(Scan(B({0x9f, 0x01})), kCorrupt);                    // missing break
  ASSERT_ERROR(Scan(B({0xff})), kCorrupt);                          // break outside indefinite
  ASSERT_ERROR(Scan(B({0x82, 0x01, 0xff})), kCorrupt);              // break in a definite array
  ASSERT_ERROR(Scan(B({0x1c})), kCorrupt);                          // reserved info 28
  ASSERT_ERROR(Scan(B({0x1f})), kCorrupt);                          // indefinite integer
  ASSERT_ERROR(Scan(B({0x64, 'a', 'b'})), kCorrupt);                // string past the end
  ASSERT_ERROR(Scan(B({0x9a, 0xff, 0xff, 0xff, 0xff})), kCorrupt);  // 4G elements, 0 bytes
  ASSERT_ERROR(Scan(B({0xa2, 0x01, 0x02, 0x03})), kCorrupt);        // 2 pairs need 4 bytes
}

TEST(CborScan, DepthCountsArraysMapsTagsAndIndefiniteStrings) {
  ASSERT_OK(Scan(B({0x81, 0x81, 0x81, 0x00}), 3));
  ASSERT_ERROR(Scan(B({0x81, 0x81, 0x81, 0x81, 0x00}), 3), kResourceLimit);
  ASSERT_ERROR(Scan(B({0xc0, 0xc0, 0xc0, 0xc0, 0x00}), 3), kResourceLimit);
  ASSERT_ERROR(Scan(B({0x5f, 0x5f, 0x5f, 0x5f, 0xff, 0xff, 0xff, 0xff}), 3), kResourceLimit);
  ASSERT_OK(Scan(B({0x80, 0x80}), 0));  // an empty array opens no level
}

}  // namespace
}  // namespace webcfs::webc
