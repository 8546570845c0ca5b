// libFuzzer target: webc::RecordedReads::Decode (webc/recorded_reads.h) on raw
// bytes, the payload of the resolver's accepted records. Besides not
// crashing, what decodes must encode back to the same bytes, and every copy
// must be found where the encoding put it.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "webc/recorded_reads.h"

using webcfs::webc::RecordedReads;

namespace {

uint64_t LoadLe(const std::byte* p, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  std::vector<std::byte> input(bytes, bytes + size);
  auto copies = RecordedReads::Decode(input);
  if (!copies) return 0;
  if (copies->Encode() != input) __builtin_trap();
  for (size_t at = 0; at < size;) {
    const uint64_t offset = LoadLe(bytes + at, 8);
    const auto length = static_cast<size_t>(LoadLe(bytes + at + 8, 4));
    auto found = copies->Find(offset, length);
    if (!found || found->size() != length) __builtin_trap();
    if (length > 0 && (*found)[0] != bytes[at + 12]) __builtin_trap();
    at += 12 + length;
  }
  (void)copies->Find(0, 1);
  (void)copies->Find(UINT64_MAX, 1);
  return 0;
}
