// A structure-only CBOR pre-scanner (RFC 8949) run on untrusted bytes before
// nlohmann-json decodes them. nlohmann's decoder recurses once per nesting
// level (arrays, maps and tags), so a 100k-deep item would overflow the stack;
// it also trusts declared lengths. The scanner walks the item iteratively and
// refuses what the decoder must not see.
//
// Internal to webc/.
#pragma once

#include <cstddef>
#include <cstdint>

#include "webc/base/result.h"
#include "webc/byte_source.h"

namespace webcfs::webc {

// Length in bytes of the first CBOR data item in `bytes` (anything after it is
// not looked at). Checks: the item is complete; every string length fits in the
// remaining input; every array/map count could fit (one byte per element); no
// reserved additional-information values; nesting of arrays, maps and tags is
// at most `max_depth`. Errors are kCorrupt (malformed) or kResourceLimit (too
// deep), with the byte offset of the problem.
Result<size_t> ScanCborItem(ByteView bytes, uint32_t max_depth);

}  // namespace webcfs::webc
