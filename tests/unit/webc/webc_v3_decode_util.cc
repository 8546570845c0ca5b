#include "tests/unit/webc/webc_v3_decode_util.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "webc/base/sha256.h"

namespace webcfs::webc::testing {
namespace {

std::string Hex(std::string_view bytes) {
  Sha256Digest d{};
  std::memcpy(d.data(), bytes.data(), 32);
  return ToHex(d);
}

}  // namespace

std::string Sha(std::string_view bytes) { return ToHex(Sha256::Of(bytes)); }

uint64_t U64(std::string_view s, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s.at(at + i));
  return v;
}

// Parses one volume header record tree, checking every hash rule of §5.2.
static void DecodeTree(std::string_view header, std::string_view data, uint64_t at,
                       const std::string& path, DecodedVolume& out, std::string& child_hash) {
  ASSERT_LT(at, header.size());
  const uint8_t tag = static_cast<uint8_t>(header[at]);
  DecodedEntry e;
  out.order.push_back(path);
  if (tag == 31) {
    const uint64_t start = U64(header, at + 1), end = U64(header, at + 9);
    ASSERT_LE(start, end);
    ASSERT_LE(end, data.size());
    e.contents = std::string(data.substr(start, end - start));
    e.stored_hash = Hex(header.substr(at + 17, 32));
    EXPECT_EQ(U64(header, at + 49), 0u) << path << ": accessed";
    e.mtime = U64(header, at + 57);
    EXPECT_EQ(U64(header, at + 65), 0u) << path << ": created";
    EXPECT_EQ(e.stored_hash, Sha(e.contents)) << path;
  } else {
    ASSERT_EQ(tag, 30) << path;
    const uint64_t len = U64(header, at + 1);
    EXPECT_EQ(U64(header, at + 9), 0u);
    e.is_dir = true;
    e.mtime = U64(header, at + 17);
    EXPECT_EQ(U64(header, at + 25), 0u);
    e.stored_hash = Hex(header.substr(at + 33, 32));
    uint64_t p = at + 65;
    const uint64_t end = at + 9 + len;
    std::string concat;
    std::string previous_name;
    bool first = true;
    while (p < end) {
      const uint64_t off = U64(header, p);
      const std::string entry_hash = Hex(header.substr(p + 8, 32));
      const uint64_t name_len = U64(header, p + 40);
      const std::string name(header.substr(p + 48, name_len));
      if (!first) {
        EXPECT_LT(previous_name, name) << "entries not in byte order in " << path;
      }
      first = false;
      previous_name = name;
      p += 48 + name_len;
      std::string got_hash;
      DecodeTree(header, data, off, path == "/" ? "/" + name : path + "/" + name, out, got_hash);
      EXPECT_EQ(entry_hash, got_hash) << "entry hash of " << name;
      concat += header.substr(off + (header[off] == 31 ? 17 : 33), 32);
    }
    EXPECT_EQ(p, end);
    EXPECT_EQ(e.stored_hash, Sha(concat)) << "directory hash of " << path;
  }
  child_hash = e.stored_hash;
  out.entries[path] = std::move(e);
}

static void DecodeVolumePayload(std::string_view p, bool named, std::string* name,
                                DecodedVolume& out) {
  size_t at = 0;
  if (named) {
    const uint64_t n = U64(p, 0);
    *name = std::string(p.substr(8, n));
    at = 8 + n;
  }
  const uint64_t header_len = U64(p, at);
  std::string_view header = p.substr(at + 8, header_len);
  at += 8 + header_len;
  const uint64_t data_len = U64(p, at);
  ASSERT_EQ(at + 8 + data_len, p.size()) << "payload size";
  std::string ignored;
  DecodeTree(header, p.substr(at + 8, data_len), 0, "/", out, ignored);
}

// Decodes and checks: magic, index padding, spans, inline and index checksums.
void Decode(const std::string& file, Decoded& d) {
  ASSERT_GE(file.size(), 17u);
  ASSERT_EQ(file.substr(0, 8), std::string("\0webc003", 8));
  ASSERT_EQ(static_cast<uint8_t>(file[8]), 2);
  const uint64_t index_len = U64(file, 9);
  ASSERT_LE(17 + index_len, file.size());
  const auto* begin = reinterpret_cast<const uint8_t*>(file.data()) + 17;
  // Decode one CBOR item: measure it by re-encoding (the writer's CBOR is canonical).
  d.index = OrderedJson::from_cbor(begin, begin + index_len, /*strict=*/false);
  const size_t cbor_len = OrderedJson::to_cbor(d.index).size();
  d.index_padding = index_len - cbor_len;
  for (uint64_t i = 17 + cbor_len; i < 17 + index_len; ++i) ASSERT_EQ(file[i], '\0');
  std::vector<std::string> keys;
  for (auto& [k, v] : d.index.items()) keys.push_back(k);
  ASSERT_EQ(keys, (std::vector<std::string>{"manifest", "atoms", "volumes", "signature"}));
  EXPECT_EQ(d.index["signature"]["tag"], "signature-none");

  uint64_t expected_start = 17 + index_len;
  auto section = [&](const OrderedJson& entry, uint8_t tag) -> std::string_view {
    const uint64_t start = entry["span"]["start"], len = entry["span"]["len"];
    EXPECT_EQ(start, expected_start) << "sections are contiguous";
    expected_start = start + len;
    EXPECT_LE(start + len, file.size());
    std::string_view s = std::string_view(file).substr(start, len);
    EXPECT_EQ(static_cast<uint8_t>(s[0]), tag);
    EXPECT_EQ(U64(s, 33), len - 41);
    std::string_view payload = s.substr(41);
    EXPECT_EQ(entry["checksum"]["tag"], "checksum-sha256");
    const auto& value = entry["checksum"]["value"].get_binary();
    EXPECT_EQ(Hex(std::string(value.begin(), value.end())), Sha(payload)) << "index checksum";
    EXPECT_EQ(Hex(s.substr(1, 32)), Sha(payload)) << "inline hash";
    return payload;
  };
  std::string_view manifest = section(d.index["manifest"], 1);
  d.manifest_bytes = std::string(manifest);
  d.manifest = OrderedJson::from_cbor(manifest);
  DecodeVolumePayload(section(d.index["atoms"], 3), false, nullptr, d.atoms);
  for (auto& [name, entry] : d.index["volumes"].items()) {
    std::string stored_name;
    DecodedVolume v;
    DecodeVolumePayload(section(entry, 4), true, &stored_name, v);
    EXPECT_EQ(stored_name, name);
    d.volume_order.push_back(name);
    d.volumes[name] = std::move(v);
  }
  EXPECT_EQ(expected_start, file.size()) << "no trailing bytes";
}

}  // namespace webcfs::webc::testing
