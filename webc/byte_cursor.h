// ByteCursor: a consuming, bounds-checked reader over bytes already in memory
// (LevelDB util/coding.h style). Every Read* returns false past the end and
// advances only on success, so the format readers never do pointer arithmetic.
//
// Also the one place where sums and products of untrusted numbers are checked.
//
// Internal to webc/. Not thread-safe (a cursor is a local variable).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "webc/byte_source.h"

namespace webcfs::webc {

// a + b without wrap-around; false on overflow.
[[nodiscard]] inline bool CheckedAdd(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// a * b without wrap-around; false on overflow.
[[nodiscard]] inline bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

// Whether [offset, offset + length) lies inside [0, size), without overflow.
inline bool RangeWithin(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

inline std::string_view AsChars(ByteView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

class ByteCursor {
 public:
  explicit ByteCursor(ByteView bytes) : bytes_(bytes) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  bool empty() const { return pos_ == bytes_.size(); }

  // Moves to an absolute position inside the bytes; false past the end.
  bool Seek(uint64_t pos) {
    if (pos > bytes_.size()) return false;
    pos_ = static_cast<size_t>(pos);
    return true;
  }

  bool Skip(uint64_t n) {
    if (n > remaining()) return false;
    pos_ += static_cast<size_t>(n);
    return true;
  }

  bool ReadU8(uint8_t* out) {
    if (remaining() < 1) return false;
    *out = static_cast<uint8_t>(bytes_[pos_]);
    pos_ += 1;
    return true;
  }

  bool ReadU32Le(uint32_t* out) { return ReadFixedLe(out); }
  bool ReadU64Le(uint64_t* out) { return ReadFixedLe(out); }

  // `width` bytes (1..8) as a little-endian unsigned integer (v1's 7-byte name length).
  template <typename T>
  bool ReadLe(size_t width, T* out) {
    if (remaining() < width) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) {
      v |= uint64_t{static_cast<uint8_t>(bytes_[pos_ + i])} << (8 * i);
    }
    pos_ += width;
    *out = static_cast<T>(v);
    return true;
  }

  // A whole little-endian T in one load on little-endian hosts (GCC does not
  // fuse ReadLe's byte loop: it was a fifth of decoding a volume header).
  template <typename T>
  bool ReadFixedLe(T* out) {
    if constexpr (std::endian::native != std::endian::little) return ReadLe(sizeof(T), out);
    if (remaining() < sizeof(T)) return false;
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  // Unsigned LEB128 (v1 section lengths, §3.3); false when truncated or wider than 64 bits.
  bool ReadUleb128(uint64_t* out) {
    uint64_t v = 0;
    size_t p = pos_;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= bytes_.size()) return false;
      auto b = static_cast<uint8_t>(bytes_[p++]);
      uint64_t payload = b & 0x7f;
      // The tenth byte may only carry the top bit of a u64.
      if (shift == 63 && payload > 1) return false;
      v |= payload << shift;
      if ((b & 0x80) == 0) {
        pos_ = p;
        *out = v;
        return true;
      }
    }
    return false;
  }

  // A view of the next n bytes (no copy).
  bool ReadBytes(uint64_t n, ByteView* out) {
    if (n > remaining()) return false;
    *out = bytes_.subspan(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }

 private:
  ByteView bytes_;
  size_t pos_ = 0;
};

}  // namespace webcfs::webc
