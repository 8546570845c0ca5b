#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>

#include "webc/cbor_scan_internal.h"
#include "webc/container_internal.h"
#include "webc/index_internal.h"

namespace webcfs::webc {
namespace {

using Json = nlohmann::ordered_json;

// The index is a few levels deep ({volumes: {name: {span: {start}}}}); anything
// deeper is not an index.
constexpr uint32_t kMaxIndexDepth = 8;

// Checksum tags (§2.3).
constexpr std::string_view kChecksumNone = "checksum-none";
constexpr std::string_view kChecksumSha256 = "checksum-sha256";

Error Bad(const std::string& path, const std::string& what) {
  return Error::Corrupt("index: " + path + ": " + what);
}

const Json* Field(const Json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Result<uint64_t> Unsigned(const Json& obj, const char* key, const std::string& path) {
  const Json* v = Field(obj, key);
  if (v == nullptr) return Bad(path + "." + key, "missing");
  if (!v->is_number_unsigned()) return Bad(path + "." + key, "expected an unsigned integer");
  return v->get<uint64_t>();
}

Result<SectionRef> DecodeEntry(const Json& entry, const std::string& path, std::string what) {
  if (!entry.is_object()) return Bad(path, "expected a map");
  SectionRef ref;
  ref.what = std::move(what);
  const Json* span = Field(entry, "span");
  if (span == nullptr) return Bad(path + ".span", "missing");
  auto start = Unsigned(*span, "start", path + ".span");
  if (!start) return std::move(start).error();
  auto len = Unsigned(*span, "len", path + ".span");
  if (!len) return std::move(len).error();
  ref.start = *start;
  ref.length = *len;

  const Json* checksum = Field(entry, "checksum");
  if (checksum == nullptr || checksum->is_null()) return ref;
  const Json* tag = Field(*checksum, "tag");
  if (tag == nullptr || !tag->is_string()) return Bad(path + ".checksum.tag", "expected a string");
  const auto& tag_text = tag->get_ref<const std::string&>();
  if (tag_text == kChecksumNone) return ref;
  if (tag_text != kChecksumSha256) {
    return Error::Unsupported("index: " + path + ".checksum: unknown checksum type '" +
                              Printable(tag_text) + "'");
  }
  const Json* value = Field(*checksum, "value");
  if (value == nullptr || !value->is_binary() || value->get_binary().size() != 32) {
    return Bad(path + ".checksum.value", "expected a 32-byte byte string");
  }
  Sha256Digest digest{};
  std::memcpy(digest.data(), value->get_binary().data(), digest.size());
  ref.checksum = digest;
  return ref;
}

}  // namespace

Result<Index> DecodeIndex(ByteView payload) {
  auto item_length = ScanCborItem(payload, kMaxIndexDepth);
  if (!item_length) return std::move(item_length).error().With("index");
  Json root;
  try {
    const auto* begin = reinterpret_cast<const uint8_t*>(payload.data());
    root = Json::from_cbor(begin, begin + *item_length, /*strict=*/true,
                           /*allow_exceptions=*/true, Json::cbor_tag_handler_t::ignore);
  } catch (const std::exception& e) {
    return Error::Corrupt(std::string("index: invalid CBOR: ") + e.what());
  }
  if (!root.is_object()) return Error::Corrupt("index: expected a map");

  Index index;
  // Readers ignore what follows the CBOR item (§4.2); writers fill it with zeros.
  index.padding = payload.size() - *item_length;

  const Json* manifest = Field(root, "manifest");
  if (manifest == nullptr) return Bad("manifest", "missing");
  auto m = DecodeEntry(*manifest, "manifest", "manifest section");
  if (!m) return std::move(m).error();
  index.manifest = std::move(*m);

  const Json* atoms = Field(root, "atoms");
  if (atoms == nullptr) return Bad("atoms", "missing");
  auto a = DecodeEntry(*atoms, "atoms", "atoms section");
  if (!a) return std::move(a).error();
  index.atoms = std::move(*a);

  const Json* volumes = Field(root, "volumes");
  if (volumes != nullptr && !volumes->is_null()) {
    if (!volumes->is_object()) return Bad("volumes", "expected a map");
    for (const auto& [name, entry] : volumes->items()) {
      const std::string what = "volume '" + Printable(name) + "'";
      auto v = DecodeEntry(entry, "volumes." + Printable(name), what);
      if (!v) return std::move(v).error();
      v->volume_name = name;
      index.volumes.push_back(std::move(*v));
    }
  }
  return index;
}

}  // namespace webcfs::webc
