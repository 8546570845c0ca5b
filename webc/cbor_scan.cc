#include <string>
#include <vector>

#include "webc/cbor_scan_internal.h"

namespace webcfs::webc {
namespace {

// An open array, map, tag or indefinite-length item. `remaining` counts the
// data items still expected (a map of n pairs expects 2n); indefinite items
// end at a break byte instead.
struct Frame {
  uint64_t remaining = 0;
  bool indefinite = false;
};

constexpr uint8_t kBreak = 0xff;

Error Malformed(size_t offset, const std::string& what) {
  return Error::Corrupt("invalid CBOR at byte " + std::to_string(offset) + ": " + what);
}

}  // namespace

Result<size_t> ScanCborItem(ByteView bytes, uint32_t max_depth) {
  const size_t size = bytes.size();
  std::vector<Frame> stack;
  size_t pos = 0;
  while (true) {
    if (pos >= size) return Malformed(pos, "truncated");
    const size_t item_start = pos;
    const auto initial = static_cast<uint8_t>(bytes[pos++]);
    const uint8_t major = initial >> 5;
    const uint8_t info = initial & 0x1f;

    bool item_done = false;
    if (initial == kBreak) {
      if (stack.empty() || !stack.back().indefinite)
        return Malformed(item_start, "unexpected break");
      stack.pop_back();
      item_done = true;
    } else {
      uint64_t arg = 0;
      bool indefinite = false;
      if (info < 24) {
        arg = info;
      } else if (info <= 27) {
        const size_t width = size_t{1} << (info - 24);
        if (size - pos < width) return Malformed(item_start, "truncated argument");
        for (size_t i = 0; i < width; ++i) arg = (arg << 8) | static_cast<uint8_t>(bytes[pos + i]);
        pos += width;
      } else if (info == 31 && major >= 2 && major <= 5) {
        indefinite = true;
      } else {
        return Malformed(item_start, "reserved additional information " + std::to_string(info));
      }

      // Opening a nested item: arrays, maps, tags and indefinite strings each
      // cost one level of the decoder's recursion.
      auto push = [&](Frame f) -> Result<void> {
        if (stack.size() >= max_depth) {
          return Error::ResourceLimit("CBOR nested deeper than " + std::to_string(max_depth) +
                                      " levels (at byte " + std::to_string(item_start) + ")");
        }
        stack.push_back(f);
        return Ok();
      };

      const size_t left = size - pos;
      switch (major) {
        case 0:  // unsigned integer
        case 1:  // negative integer
        case 7:  // simple value / float: the argument bytes were the payload
          item_done = true;
          break;
        case 2:  // byte string
        case 3:  // text string
          if (indefinite) {
            WEBCFS_RETURN_IF_ERROR(push({0, true}));
          } else {
            if (arg > left) {
              return Malformed(item_start, "string of " + std::to_string(arg) + " bytes but only " +
                                               std::to_string(left) + " left");
            }
            pos += static_cast<size_t>(arg);
            item_done = true;
          }
          break;
        case 4:    // array
        case 5: {  // map
          if (indefinite) {
            WEBCFS_RETURN_IF_ERROR(push({0, true}));
            break;
          }
          // Every element takes at least one byte: larger counts are lies, and
          // checking here keeps the decoder from reserving for them.
          const uint64_t per = major == 5 ? 2 : 1;
          if (arg > left / per) {
            return Malformed(item_start, std::string(major == 5 ? "map" : "array") + " of " +
                                             std::to_string(arg) + " elements but only " +
                                             std::to_string(left) + " bytes left");
          }
          if (arg == 0) {
            item_done = true;
          } else {
            WEBCFS_RETURN_IF_ERROR(push({arg * per, false}));
          }
          break;
        }
        case 6:  // tag: wraps exactly one item
          WEBCFS_RETURN_IF_ERROR(push({1, false}));
          break;
      }
    }

    // Close every frame the finished item completes.
    while (item_done) {
      if (stack.empty()) return pos;
      Frame& top = stack.back();
      if (top.indefinite) break;
      if (--top.remaining > 0) break;
      stack.pop_back();
    }
  }
}

}  // namespace webcfs::webc
