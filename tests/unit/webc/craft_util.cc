#include "tests/unit/webc/craft_util.h"

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "webc/base/sha256.h"
#include "webc/index_internal.h"

namespace webcfs::webc::testing {
namespace {

using OrderedJson = nlohmann::ordered_json;

std::string Hash32(const std::string& h) { return h.empty() ? std::string(32, '\0') : h; }

std::string Tag(uint8_t t) { return std::string(1, static_cast<char>(t)); }

struct Node {
  bool dir = true;
  std::map<std::string, Node> children;
  std::string contents;
};

struct Placed {
  uint64_t offset;
  std::string hash;
};

// Depth-first like Wasmer's writer: a directory's record, then its children.
Placed Serialize(bool v3, const Node& node, std::string& header, std::string& data) {
  const uint64_t at = header.size();
  if (!node.dir) {
    const uint64_t start = data.size();
    data += node.contents;
    std::string hash = Sha256Bytes(node.contents);
    header += FileRecord(v3, start, data.size(), hash);
    return {at, hash};
  }
  std::vector<DirEntrySpec> entries;
  for (const auto& [name, child] : node.children) entries.push_back({0, name, ""});
  header += DirRecord(v3, entries);  // placeholder of the final size
  std::string concatenated;
  size_t i = 0;
  for (const auto& [name, child] : node.children) {
    Placed p = Serialize(v3, child, header, data);
    entries[i].offset = p.offset;
    entries[i].hash = p.hash;
    concatenated += p.hash;
    ++i;
  }
  std::string hash = Sha256Bytes(concatenated);
  std::string record = DirRecord(v3, entries, hash);
  header.replace(at, record.size(), record);
  return {at, hash};
}

std::string VolumePayload(bool with_name, const VolumeSpec& v, bool v3) {
  std::string header = v.header.empty() ? BuildVolume(v3, {}).header : v.header;
  std::string out;
  if (with_name) out += U64(v.name.size()) + v.name;
  out += U64(header.size()) + header + U64(v.data.size()) + v.data;
  return out;
}

OrderedJson IndexEntry(uint64_t start, uint64_t len, const std::string& payload, bool checksum) {
  OrderedJson c;
  if (checksum) {
    std::string h = Sha256Bytes(payload);
    c = {{"tag", "checksum-sha256"},
         {"value", OrderedJson::binary(std::vector<uint8_t>(h.begin(), h.end()))}};
  } else {
    c = {{"tag", "checksum-none"}, {"value", OrderedJson::binary({})}};
  }
  return {{"span", {{"start", start}, {"len", len}}}, {"checksum", c}};
}

}  // namespace

std::string U64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::string Sha256Bytes(std::string_view bytes) {
  Sha256Digest d = Sha256::Of(bytes);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string DirRecord(bool v3, const std::vector<DirEntrySpec>& entries,
                      const std::string& own_hash, uint64_t mtime) {
  std::string body;
  if (v3) body += U64(0) + U64(mtime) + U64(0) + Hash32(own_hash);
  for (const DirEntrySpec& e : entries) {
    body += U64(e.offset);
    if (v3) body += Hash32(e.hash);
    body += U64(e.name.size()) + e.name;
  }
  return Tag(30) + U64(body.size()) + body;
}

std::string FileRecord(bool v3, uint64_t start, uint64_t end, const std::string& hash,
                       uint64_t mtime) {
  std::string r = Tag(31) + U64(start) + U64(end) + Hash32(hash);
  if (v3) r += U64(0) + U64(mtime) + U64(0);
  return r;
}

BuiltVolume BuildVolume(bool v3, const std::vector<std::pair<std::string, std::string>>& files) {
  Node root;
  for (const auto& [path, contents] : files) {
    Node* at = &root;
    size_t pos = 0;
    while (pos < path.size()) {
      size_t slash = path.find('/', pos);
      const bool last = slash == std::string::npos;
      std::string name = path.substr(pos, last ? std::string::npos : slash - pos);
      pos = last ? path.size() : slash + 1;
      if (name.empty()) continue;
      at = &at->children[name];
      if (last) {
        at->dir = false;
        at->contents = contents;
      }
    }
  }
  BuiltVolume v;
  Serialize(v3, root, v.header, v.data);
  return v;
}

std::string BuildContainer(const ContainerSpec& spec) {
  const bool v3 = spec.version == 3;
  const uint64_t section_header = 1 + (v3 ? 32 : 0) + 8;
  std::string manifest = spec.manifest_cbor.value_or("");
  if (!spec.manifest_cbor) {
    std::vector<uint8_t> cbor = OrderedJson::to_cbor(OrderedJson::parse(spec.manifest_json));
    manifest.assign(cbor.begin(), cbor.end());
  }
  std::vector<std::pair<uint8_t, std::string>> sections = {
      {1, manifest}, {3, VolumePayload(false, spec.atoms, v3)}};
  for (const VolumeSpec& v : spec.volumes) sections.push_back({4, VolumePayload(true, v, v3)});

  auto build_index = [&](uint64_t first_start, bool dummy) {
    OrderedJson index;
    uint64_t start = first_start;
    OrderedJson volumes = OrderedJson::object();
    for (size_t i = 0; i < sections.size(); ++i) {
      const uint64_t len = section_header + sections[i].second.size();
      OrderedJson e = IndexEntry(dummy ? UINT64_MAX : start, dummy ? UINT64_MAX : len,
                                 sections[i].second, spec.checksums);
      if (i == 0) index["manifest"] = e;
      if (i == 1) index["atoms"] = e;
      if (i >= 2) volumes[spec.volumes[i - 2].name] = e;
      start += len;
    }
    index["volumes"] = volumes;
    index["signature"] = {{"tag", "signature-none"}, {"value", OrderedJson::binary({})}};
    return OrderedJson::to_cbor(index);
  };
  // Reserve the index size for the widest integers, then fill in real offsets.
  const uint64_t index_payload = build_index(0, true).size() + spec.padding;
  const uint64_t first = 8 + 9 + index_payload;
  std::vector<uint8_t> index = build_index(first, false);
  std::string out = std::string("\0webc00", 7) + static_cast<char>('0' + spec.version);
  out += Tag(2) + U64(index_payload);
  out.append(index.begin(), index.end());
  out.append(index_payload - index.size(), '\0');
  for (const auto& [tag, payload] : sections) {
    out += Tag(tag);
    if (v3) out += Sha256Bytes(payload);
    out += U64(payload.size()) + payload;
  }
  return out;
}

uint64_t SectionPayloadOffset(const std::string& container, const std::string& section) {
  uint64_t len = 0;
  std::memcpy(&len, container.data() + 9, 8);
  auto index =
      DecodeIndex(ByteView(reinterpret_cast<const std::byte*>(container.data()) + 17, len));
  if (!index) return 0;
  const uint64_t header = 1 + (container[7] == '3' ? 32 : 0) + 8;
  if (section == "manifest") return index->manifest.start + header;
  if (section == "atoms") return index->atoms.start + header;
  for (const SectionRef& v : index->volumes) {
    if (v.volume_name == section) return v.start + header;
  }
  return 0;
}

std::string V1Listing(const std::vector<V1EntrySpec>& entries) {
  std::string body;
  for (const V1EntrySpec& e : entries) {
    body += U64(e.name.size() | (uint64_t{e.type} << 56)) + U64(e.start) + U64(e.end) + e.name;
  }
  return U64(body.size()) + body;
}

std::string Leb128(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v != 0) b |= 0x80;
    out += static_cast<char>(b);
  } while (v != 0);
  return out;
}

std::string V1Volume(const std::string& header, const std::string& data) {
  return Leb128(header.size()) + header + data;
}

std::string BuildV1(const std::string& manifest_json, const std::string& atoms_volume,
                    const std::vector<std::pair<std::string, std::string>>& volumes) {
  std::string out = std::string("\0webc001", 8) + "----------------" + std::string(256, '\0') +
                    std::string(4, '\0') + std::string(1024, '\0');
  std::vector<uint8_t> cbor = OrderedJson::to_cbor(OrderedJson::parse(manifest_json));
  out += Leb128(cbor.size()) + std::string(cbor.begin(), cbor.end());
  out += Leb128(atoms_volume.size()) + atoms_volume;
  for (const auto& [name, volume] : volumes) {
    out += Leb128(name.size()) + name + Leb128(volume.size()) + volume;
  }
  return out;
}

namespace {

class Wrapper : public ByteSource {
 public:
  explicit Wrapper(std::shared_ptr<const ByteSource> base) : base_(std::move(base)) {}
  uint64_t size() const override { return base_->size(); }
  const std::string& name() const override { return base_->name(); }

 protected:
  std::shared_ptr<const ByteSource> base_;
};

class Prefix final : public Wrapper {
 public:
  Prefix(std::shared_ptr<const ByteSource> base, uint64_t size)
      : Wrapper(std::move(base)), size_(size) {}
  uint64_t size() const override { return size_; }
  Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    if (offset > size_ || n > size_ - offset) {
      return Error::Io(name() + ": read past the truncated end");
    }
    return base_->Read(offset, n, scratch);
  }

 private:
  uint64_t size_;
};

class Flip final : public Wrapper {
 public:
  Flip(std::shared_ptr<const ByteSource> base, uint64_t offset, uint8_t mask)
      : Wrapper(std::move(base)), offset_(offset), mask_(mask) {}
  Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    auto v = base_->Read(offset, n, scratch);
    if (!v || offset_ < offset || offset_ - offset >= n) return v;
    if (v->data() != scratch) std::memcpy(scratch, v->data(), n);
    scratch[offset_ - offset] ^= std::byte{mask_};
    return ByteView(scratch, n);
  }

 private:
  uint64_t offset_;
  uint8_t mask_;
};

class Failing final : public Wrapper {
 public:
  Failing(std::shared_ptr<const ByteSource> base, int good_reads)
      : Wrapper(std::move(base)), left_(good_reads) {}
  Result<ByteView> Read(uint64_t offset, size_t n, std::byte* scratch) const override {
    if (left_-- <= 0) return Error::Io(name() + ": injected read failure", EIO);
    return base_->Read(offset, n, scratch);
  }

 private:
  mutable int left_;  // tests use one thread
};

}  // namespace

std::unique_ptr<ByteSource> PrefixSource(std::shared_ptr<const ByteSource> base, uint64_t size) {
  return std::make_unique<Prefix>(std::move(base), size);
}

std::unique_ptr<ByteSource> FlipSource(std::shared_ptr<const ByteSource> base, uint64_t offset,
                                       uint8_t mask) {
  return std::make_unique<Flip>(std::move(base), offset, mask);
}

std::unique_ptr<ByteSource> FailingSource(std::shared_ptr<const ByteSource> base, int good_reads) {
  return std::make_unique<Failing>(std::move(base), good_reads);
}

}  // namespace webcfs::webc::testing
