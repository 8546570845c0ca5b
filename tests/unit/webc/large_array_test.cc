#include "webc/base/large_array.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <vector>

namespace webcfs::webc {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kPage = 4096;

// Number of resident pages in [begin, end) (both page-aligned), from mincore.
size_t ResidentPages(const void* begin, const void* end) {
  const auto b = reinterpret_cast<uintptr_t>(begin);
  const auto e = reinterpret_cast<uintptr_t>(end);
  std::vector<unsigned char> bits((e - b) / kPage);
  EXPECT_EQ(::mincore(const_cast<void*>(begin), e - b, bits.data()), 0);
  size_t n = 0;
  for (unsigned char bit : bits) n += bit & 1;
  return n;
}

uintptr_t PageUp(uintptr_t p) { return (p + kPage - 1) / kPage * kPage; }

TEST(LargeArrayTest, KeepsElementsWhileGrowingFromHeapToMappedStorage) {
  LargeArray<uint32_t> v;
  for (uint32_t i = 0; i < 3 * kMiB / sizeof(uint32_t); ++i) v.push_back(i * 7);
  for (uint32_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i * 7) << i;
  // Past 2 MiB the storage is a mapping of its own, aligned for huge pages.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(v.data()) % (2 * kMiB), 0u);
}

TEST(LargeArrayTest, ReleaseSpareCapacityFreesEveryPagePastTheLastElement) {
  LargeArray<uint8_t> v;
  v.reserve(8 * kMiB);
  v.resize(3 * kMiB + 100, 0xAB);
  // Touch the spare capacity too, as a huge page around the end would.
  auto* spare_begin =
      reinterpret_cast<uint8_t*>(PageUp(reinterpret_cast<uintptr_t>(v.data() + v.size())));
  uint8_t* spare_end = v.data() + v.capacity();
  for (uint8_t* p = spare_begin; p < spare_end; p += kPage)
    *reinterpret_cast<volatile uint8_t*>(p) = 1;
  ASSERT_GT(ResidentPages(spare_begin, spare_end), 0u);

  ReleaseSpareCapacity(v);

  EXPECT_EQ(ResidentPages(spare_begin, spare_end), 0u);
  EXPECT_EQ(ResidentPages(v.data(), spare_begin), (spare_begin - v.data()) / kPage);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], 0xAB) << i;
  // Still a working vector: it may grow into the released pages.
  v.push_back(0xCD);
  EXPECT_EQ(v.back(), 0xCD);
  EXPECT_EQ(v[v.size() - 2], 0xAB);
}

// A lazily filled array advised onto small pages gets no huge page however
// large its reservation, so what is resident follows what is written.
TEST(LargeArrayTest, UseSmallPagesKeepsResidencyToWhatIsWritten) {
  LargeArray<uint8_t> v;
  v.reserve(8 * kMiB);
  UseSmallPages(v);
  v.resize(3 * kPage, 0xAB);
  EXPECT_EQ(ResidentPages(v.data(), v.data() + 8 * kMiB), 3u);
}

TEST(LargeArrayTest, SmallArraysAndReleaseOnThemAreOrdinary) {
  LargeArray<uint64_t> v{1, 2, 3};
  v.reserve(100);
  ReleaseSpareCapacity(v);  // heap storage: nothing to release, nothing broken
  EXPECT_EQ(v, (LargeArray<uint64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace webcfs::webc
