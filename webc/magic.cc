// Version detection from the first 8 bytes (docs/webc-format.md §1): the
// magic "\0webc" and three ASCII digits. Nothing else is looked at.
#include <cstring>

#include "webc/container.h"
#include "webc/container_internal.h"
#include "webc/format_internal.h"

namespace webcfs::webc {
namespace {

constexpr char kMagic[5] = {'\0', 'w', 'e', 'b', 'c'};
using format::kMagicSize;

}  // namespace

Result<Version> DetectVersion(const ByteSource& source) {
  if (source.size() < kMagicSize) {
    return Error::Corrupt("not a WEBC container: " + std::to_string(source.size()) +
                          " bytes is shorter than the 8-byte magic");
  }
  std::byte scratch[kMagicSize];
  auto head = source.Read(0, kMagicSize, scratch);
  if (!head) return std::move(head).error();
  const auto* bytes = reinterpret_cast<const char*>(head->data());
  if (std::memcmp(bytes, kMagic, sizeof(kMagic)) != 0) {
    return Error::Corrupt("not a WEBC container (bad magic)");
  }
  const std::string_view version(bytes + 5, 3);
  if (version == "001") return Version::kV1;
  if (version == "002") return Version::kV2;
  if (version == "003") return Version::kV3;
  return Error::Unsupported("unsupported WEBC version '" + Printable(version) + "'");
}

}  // namespace webcfs::webc
