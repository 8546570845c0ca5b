// WEBC v3 writer (docs/webc-format.md §4.2, §5).
//
// Layout written, in this order: magic, index section (CBOR + zero padding),
// manifest, atoms, then one section per volume sorted by name, exactly as
// Wasmer's writer orders them.
//
// Why the file is written in several passes: every hash precedes the bytes it
// covers (section hashes before the payload, file and directory hashes in the
// volume header before the data), but host files are streamed, never held in
// memory. Every length is known up front (names, tree shape and file sizes), so
// the writer lays the whole file out first, then streams file data to its final
// place while hashing it, then patches the volume header, then reads the
// section back from the output to hash it, and finally patches the inline
// section hashes and the index. Hash values have a fixed CBOR size, so patching
// the index never moves anything.
#include "webc/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <vector>

#include "webc/base/sha256.h"
#include "webc/base/unique_fd.h"
#include "webc/base/utf8.h"
#include "webc/byte_source.h"
#include "webc/container.h"
#include "webc/format_internal.h"
#include "webc/manifest.h"

namespace webcfs::webc {
namespace {

using OrderedJson = nlohmann::ordered_json;

using format::kTagAtoms;
using format::kTagDirectory;
using format::kTagFile;
using format::kTagIndex;
using format::kTagManifest;
using format::kTagVolume;

constexpr std::string_view kMagicV3("\0webc003", 8);            // §1
constexpr uint64_t kIndexSectionHeader = 1 + 8;                 // §5.1: tag, u64 length (no hash)
constexpr uint64_t kSectionHeader = 1 + format::kHashSize + 8;  // §5.1: tag, sha256, u64 length
constexpr uint64_t kFileRecord = 1 + 8 + 8 + format::kHashSize + format::kTimestampsSize;  // §5.2
constexpr uint64_t kDirectoryRecordFixed =  // §5.2: tag, len, timestamps, hash
    1 + 8 + format::kTimestampsSize + format::kHashSize;
constexpr uint64_t kDirectoryEntryFixed =
    8 + format::kHashSize + 8;  // §5.2: offset, hash, name_len

constexpr size_t kCopyChunk = size_t{1} << 20;

void PutU64(std::vector<std::byte>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

void PutBytes(std::vector<std::byte>& out, std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

void PutDigest(std::vector<std::byte>& out, const Sha256Digest& d) {
  const auto* p = reinterpret_cast<const std::byte*>(d.data());
  out.insert(out.end(), p, p + d.size());
}

// One entry of a volume in the order it is written (pre-order, children in byte
// order of names): the volume header holds the records in this order and the
// data area holds file contents in this order too, as Wasmer writes them.
struct FlatEntry {
  const WriteNode* node = nullptr;
  std::string_view name;       // empty for the root
  uint64_t record_offset = 0;  // offset of the record in the header
  uint64_t size = 0;           // file: content length
  uint64_t data_offset = 0;    // file: offset in the data area
  std::vector<uint32_t> children;
  Sha256Digest hash{};
};

// A laid-out volume (or the atoms section, which has no name).
struct VolumeLayout {
  std::optional<std::string> name;  // nullopt for the atoms section
  std::vector<FlatEntry> entries;   // [0] = root
  uint64_t header_size = 0;
  uint64_t data_size = 0;

  uint64_t PayloadSize() const {
    uint64_t n = 8 + header_size + 8 + data_size;
    if (name) n += 8 + name->size();
    return n;
  }
};

class Flattener {
 public:
  explicit Flattener(VolumeLayout* out) : out_(out) {}

  // Adds `node` (whose children are `children`; for the atoms section the root
  // is synthetic) and everything below it.
  Result<void> Add(const WriteNode& node, const std::map<std::string, WriteNode>& children,
                   std::string_view name, uint32_t depth, const std::string& path) {
    if (depth > kMaxDepth) {
      return Error::ResourceLimit("entry '" + path + "': nesting deeper than " +
                                  std::to_string(kMaxDepth));
    }
    if (out_->entries.size() >= kMaxEntriesPerContainer) {
      return Error::ResourceLimit("more than " + std::to_string(kMaxEntriesPerContainer) +
                                  " entries");
    }
    const uint32_t index = static_cast<uint32_t>(out_->entries.size());
    FlatEntry e;
    e.node = &node;
    e.name = name;
    e.record_offset = out_->header_size;
    if (!node.is_dir) {
      if (!children.empty()) {
        return Error::InvalidArgument("entry '" + path + "': a file cannot have children");
      }
      e.size = node.contents.size();
      if (node.host_path) {
        struct stat st {};
        if (::stat(node.host_path->c_str(), &st) != 0) {
          return Error::Io("entry '" + path + "': " + *node.host_path, errno);
        }
        if (!S_ISREG(st.st_mode)) {
          return Error::InvalidArgument("entry '" + path + "': " + *node.host_path +
                                        ": not a regular file");
        }
        e.size = static_cast<uint64_t>(st.st_size);
      }
      e.data_offset = out_->data_size;
      out_->header_size += kFileRecord;
      out_->data_size += e.size;
      out_->entries.push_back(std::move(e));
      return Ok();
    }
    uint64_t record = kDirectoryRecordFixed;
    for (const auto& [child_name, child] : children) {
      auto valid = ValidateEntryName(child_name);
      if (!valid) return std::move(valid).error().With("entry '" + Join(path, child_name) + "'");
      record += kDirectoryEntryFixed + child_name.size();
    }
    out_->header_size += record;
    out_->entries.push_back(std::move(e));
    // std::map orders std::string keys like memcmp: byte order, as the format wants.
    std::vector<uint32_t> child_indices;
    child_indices.reserve(children.size());
    for (const auto& [child_name, child] : children) {
      child_indices.push_back(static_cast<uint32_t>(out_->entries.size()));
      WEBCFS_RETURN_IF_ERROR(
          Add(child, child.children, child_name, depth + 1, Join(path, child_name)));
    }
    out_->entries[index].children = std::move(child_indices);
    return Ok();
  }

 private:
  static std::string Join(const std::string& dir, std::string_view name) {
    std::string p = dir == "/" ? "" : dir;
    p += '/';
    p += name;
    return p;
  }

  VolumeLayout* out_;
};

Result<VolumeLayout> LayOut(std::optional<std::string> name, const WriteNode& root,
                            const std::map<std::string, WriteNode>& children) {
  VolumeLayout layout;
  layout.name = std::move(name);
  if (!root.is_dir) return Error::InvalidArgument("root is not a directory");
  Flattener f(&layout);
  WEBCFS_RETURN_IF_ERROR(f.Add(root, children, "", 0, "/"));
  return layout;
}

// Buffered, positioned writer over the temporary output file.
class OutputFile {
 public:
  OutputFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
    buf_.reserve(kCopyChunk);
  }

  uint64_t position() const { return pos_ + buf_.size(); }

  Result<void> Write(std::span<const std::byte> bytes) {
    if (buf_.size() + bytes.size() > kCopyChunk) WEBCFS_RETURN_IF_ERROR(Flush());
    if (bytes.size() >= kCopyChunk) return WriteAt(pos_, bytes, /*advance=*/true);
    buf_.insert(buf_.end(), bytes.begin(), bytes.end());
    return Ok();
  }
  Result<void> Write(const std::vector<std::byte>& bytes) { return Write(std::span(bytes)); }

  Result<void> WriteZeros(uint64_t n) {
    static const std::array<std::byte, 4096> kZeros{};
    while (n > 0) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, kZeros.size()));
      WEBCFS_RETURN_IF_ERROR(Write(std::span(kZeros.data(), k)));
      n -= k;
    }
    return Ok();
  }

  Result<void> Flush() {
    if (buf_.empty()) return Ok();
    WEBCFS_RETURN_IF_ERROR(WriteAt(pos_, buf_, /*advance=*/true));
    buf_.clear();
    return Ok();
  }

  // Overwrites already written bytes (flushes first so the patch is not lost).
  Result<void> Patch(uint64_t offset, std::span<const std::byte> bytes) {
    WEBCFS_RETURN_IF_ERROR(Flush());
    return WriteAt(offset, bytes, /*advance=*/false);
  }

  // SHA-256 of [offset, offset + n) as written.
  Result<Sha256Digest> HashRange(uint64_t offset, uint64_t n) {
    WEBCFS_RETURN_IF_ERROR(Flush());
    std::vector<std::byte> chunk(static_cast<size_t>(std::min<uint64_t>(n, kCopyChunk)));
    Sha256 h;
    while (n > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(n, chunk.size()));
      ssize_t r = ::pread(fd_, chunk.data(), want, static_cast<off_t>(offset));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Error::Io(name_ + ": read back", errno);
      }
      if (r == 0) return Error::Io(name_ + ": output shorter than written");
      h.Update(std::span(chunk.data(), static_cast<size_t>(r)));
      offset += static_cast<uint64_t>(r);
      n -= static_cast<uint64_t>(r);
    }
    return h.Finish();
  }

 private:
  Result<void> WriteAt(uint64_t offset, std::span<const std::byte> bytes, bool advance) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t r = ::pwrite(fd_, bytes.data() + done, bytes.size() - done,
                           static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Error::Io(name_ + ": write", errno);
      }
      done += static_cast<size_t>(r);
    }
    if (advance) pos_ += bytes.size();
    return Ok();
  }

  int fd_;
  std::string name_;
  uint64_t pos_ = 0;  // file position of buf_[0]
  std::vector<std::byte> buf_;
};

// Streams one file's contents into the output, returning its SHA-256. A host
// file whose size changed since it was laid out is an error, not a corrupt
// container.
Result<Sha256Digest> CopyFileData(const FlatEntry& e, OutputFile& out,
                                  std::vector<std::byte>& chunk) {
  Sha256 h;
  const WriteNode& node = *e.node;
  if (!node.host_path) {
    auto bytes = std::as_bytes(std::span(node.contents));
    h.Update(bytes);
    WEBCFS_RETURN_IF_ERROR(out.Write(bytes));
    return h.Finish();
  }
  const std::string& path = *node.host_path;
  const UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file.valid()) return Error::Io(path, errno);
  const int fd = file.get();
  uint64_t left = e.size;
  while (true) {
    // Ask for one byte more than expected at the end so growth is noticed.
    size_t want = static_cast<size_t>(std::min<uint64_t>(left + 1, chunk.size()));
    ssize_t r = ::read(fd, chunk.data(), want);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Error::Io(path, errno);
    }
    if (r == 0) break;
    if (static_cast<uint64_t>(r) > left) {
      return Error::Io(path + ": file grew while packing (expected " + std::to_string(e.size) +
                       " bytes)");
    }
    auto got = std::span(chunk.data(), static_cast<size_t>(r));
    h.Update(got);
    WEBCFS_RETURN_IF_ERROR(out.Write(got));
    left -= static_cast<uint64_t>(r);
  }
  if (left != 0) {
    return Error::Io(path + ": file shrank while packing (expected " + std::to_string(e.size) +
                     " bytes)");
  }
  return h.Finish();
}

// Directory hash = SHA-256 of the children's hashes in entry order (§5.2).
// Children have larger indices than their parent (pre-order), so one reverse
// pass sees every child before its parent.
void ComputeDirectoryHashes(VolumeLayout& layout) {
  for (size_t i = layout.entries.size(); i-- > 0;) {
    FlatEntry& e = layout.entries[i];
    if (!e.node->is_dir) continue;
    Sha256 h;
    for (uint32_t c : e.children) {
      const auto& d = layout.entries[c].hash;
      h.Update(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
    }
    e.hash = h.Finish();
  }
}

std::vector<std::byte> SerializeHeader(const VolumeLayout& layout) {
  std::vector<std::byte> out;
  out.reserve(static_cast<size_t>(layout.header_size));
  for (const FlatEntry& e : layout.entries) {
    // §5.2 timestamps: accessed, modified, created; like webc >= 8 only `modified`.
    if (e.node->is_dir) {
      uint64_t len = kDirectoryRecordFixed - 1 - 8;
      for (uint32_t c : e.children) len += kDirectoryEntryFixed + layout.entries[c].name.size();
      out.push_back(static_cast<std::byte>(kTagDirectory));
      PutU64(out, len);
      PutU64(out, 0);
      PutU64(out, e.node->mtime);
      PutU64(out, 0);
      PutDigest(out, e.hash);
      for (uint32_t c : e.children) {
        const FlatEntry& child = layout.entries[c];
        PutU64(out, child.record_offset);
        PutDigest(out, child.hash);
        PutU64(out, child.name.size());
        PutBytes(out, child.name);
      }
    } else {
      out.push_back(static_cast<std::byte>(kTagFile));
      PutU64(out, e.data_offset);
      PutU64(out, e.data_offset + e.size);
      PutDigest(out, e.hash);
      PutU64(out, 0);
      PutU64(out, e.node->mtime);
      PutU64(out, 0);
    }
  }
  return out;
}

struct SectionPlan {
  std::string index_name;  // "manifest", "atoms" or the volume name
  uint8_t tag = 0;
  uint64_t payload_size = 0;
  uint64_t start = 0;  // absolute offset of the tag byte
  Sha256Digest hash{};
  const VolumeLayout* volume = nullptr;  // atoms and volumes
};

OrderedJson Checksum(const Sha256Digest& d) {
  return OrderedJson{{"tag", "checksum-sha256"},
                     {"value", OrderedJson::binary(std::vector<uint8_t>(d.begin(), d.end()))}};
}

// The index (§4.2) with every span shifted by `base`.
std::vector<uint8_t> EncodeIndex(const std::vector<SectionPlan>& sections, uint64_t base) {
  auto entry = [&](const SectionPlan& s) {
    return OrderedJson{
        {"span", {{"start", s.start + base}, {"len", kSectionHeader + s.payload_size}}},
        {"checksum", Checksum(s.hash)}};
  };
  OrderedJson index;
  index["manifest"] = entry(sections[0]);
  index["atoms"] = entry(sections[1]);
  OrderedJson volumes = OrderedJson::object();
  for (size_t i = 2; i < sections.size(); ++i) volumes[sections[i].index_name] = entry(sections[i]);
  index["volumes"] = std::move(volumes);
  index["signature"] = {{"tag", "signature-none"}, {"value", OrderedJson::binary({})}};
  return OrderedJson::to_cbor(index);
}

Result<void> WriteVolumeSection(SectionPlan& s, VolumeLayout& layout, OutputFile& out,
                                std::vector<std::byte>& chunk) {
  const uint64_t section_start = out.position();
  std::vector<std::byte> head;
  head.push_back(static_cast<std::byte>(s.tag));
  head.resize(head.size() + 32);  // inline hash, patched below
  PutU64(head, s.payload_size);
  if (layout.name) {
    PutU64(head, layout.name->size());
    PutBytes(head, *layout.name);
  }
  PutU64(head, layout.header_size);
  WEBCFS_RETURN_IF_ERROR(out.Write(head));
  const uint64_t header_at = out.position();
  WEBCFS_RETURN_IF_ERROR(out.WriteZeros(layout.header_size));
  std::vector<std::byte> data_len;
  PutU64(data_len, layout.data_size);
  WEBCFS_RETURN_IF_ERROR(out.Write(data_len));
  for (FlatEntry& e : layout.entries) {
    if (e.node->is_dir) continue;
    auto hash = CopyFileData(e, out, chunk);
    if (!hash) return std::move(hash).error();
    e.hash = *hash;
  }
  ComputeDirectoryHashes(layout);
  std::vector<std::byte> header = SerializeHeader(layout);
  WEBCFS_RETURN_IF_ERROR(out.Patch(header_at, header));
  const uint64_t payload_at = section_start + kSectionHeader;
  if (out.position() != payload_at + s.payload_size) {
    return Error::Io("internal: section '" + s.index_name + "' has an unexpected size");
  }
  auto hash = out.HashRange(payload_at, s.payload_size);
  if (!hash) return std::move(hash).error();
  s.hash = *hash;
  return out.Patch(section_start + 1, std::as_bytes(std::span(s.hash)));
}

Result<void> WriteAll(const std::vector<std::byte>& manifest, std::vector<VolumeLayout>& layouts,
                      OutputFile& out) {
  // Sections: manifest, atoms (layouts[0]), volumes (layouts[1..], sorted).
  std::vector<SectionPlan> sections;
  sections.push_back({"manifest", kTagManifest, manifest.size(), 0, {}, nullptr});
  for (size_t i = 0; i < layouts.size(); ++i) {
    SectionPlan s;
    s.index_name = i == 0 ? "atoms" : *layouts[i].name;
    s.tag = i == 0 ? kTagAtoms : kTagVolume;
    s.payload_size = layouts[i].PayloadSize();
    s.volume = &layouts[i];
    sections.push_back(std::move(s));
  }
  uint64_t at = 0;
  for (auto& s : sections) {
    s.start = at;
    at += kSectionHeader + s.payload_size;
  }

  // Index padding exactly as Wasmer computes it (§4.2): estimate the section
  // from spans relative to the end of the index, reserve a fifth more, pad.
  const uint64_t estimate = kIndexSectionHeader + EncodeIndex(sections, 0).size();
  const uint64_t allocated = estimate + estimate / 5;
  const uint64_t base = kMagicV3.size() + kIndexSectionHeader + allocated;
  std::vector<uint8_t> index = EncodeIndex(sections, base);
  if (index.size() >= allocated) {
    return Error::Io("internal: index of " + std::to_string(index.size()) +
                     " bytes does not fit its reservation of " + std::to_string(allocated));
  }

  std::vector<std::byte> head;
  PutBytes(head, kMagicV3);
  head.push_back(static_cast<std::byte>(kTagIndex));
  PutU64(head, allocated);
  WEBCFS_RETURN_IF_ERROR(out.Write(head));
  WEBCFS_RETURN_IF_ERROR(out.WriteZeros(allocated));  // index patched at the end

  std::vector<std::byte> chunk(kCopyChunk);
  for (size_t i = 0; i < sections.size(); ++i) {
    SectionPlan& s = sections[i];
    if (out.position() != base + s.start) return Error::Io("internal: section misplaced");
    if (i == 0) {
      s.hash = Sha256::Of(std::span(manifest));
      std::vector<std::byte> h;
      h.push_back(static_cast<std::byte>(s.tag));
      PutDigest(h, s.hash);
      PutU64(h, s.payload_size);
      WEBCFS_RETURN_IF_ERROR(out.Write(h));
      WEBCFS_RETURN_IF_ERROR(out.Write(manifest));
      continue;
    }
    auto r = WriteVolumeSection(s, layouts[i - 1], out, chunk);
    if (!r) {
      std::string what = i == 1 ? "atoms" : "volume '" + s.index_name + "'";
      return std::move(r).error().With(what);
    }
  }
  index = EncodeIndex(sections, base);
  return out.Patch(kMagicV3.size() + kIndexSectionHeader, std::as_bytes(std::span(index)));
}

// Directory of `path` for the temporary file ("." when there is none).
std::string DirectoryOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<void> ValidateEntryName(std::string_view name) {
  // Fast path, one pass: almost every real name is plain ASCII. A mount checks
  // every entry's name, so this is per-entry cost at 100k entries.
  bool plain = !name.empty() && name.size() <= kMaxNameLength && name != "." && name != "..";
  for (size_t i = 0; plain && i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    plain = c != 0 && c != '/' && c < 0x80;
  }
  if (plain) return Ok();
  if (name.empty()) return Error::InvalidArgument("empty name");
  if (name == "." || name == "..") return Error::InvalidArgument("name is '.' or '..'");
  if (name.find('/') != std::string_view::npos) return Error::InvalidArgument("name contains '/'");
  if (name.find('\0') != std::string_view::npos) return Error::InvalidArgument("name contains NUL");
  if (name.size() > kMaxNameLength) {
    return Error::InvalidArgument("name longer than " + std::to_string(kMaxNameLength) + " bytes");
  }
  if (!IsValidUtf8(name)) return Error::InvalidArgument("name is not valid UTF-8");
  return Ok();
}

Result<void> WriteV3(const WriteInput& input, const std::string& out_path) {
  auto manifest = EncodeManifestJson(input.manifest_json);
  if (!manifest) return std::move(manifest).error().With(out_path + ": manifest");

  // Atoms: a root directory with one file per atom (§4.4). The root is
  // synthetic; the atom nodes are referenced, not copied.
  std::vector<VolumeLayout> layouts;
  WriteNode atoms_root;
  atoms_root.is_dir = true;
  for (const auto& [name, node] : input.atoms) {
    if (node.is_dir)
      return Error::InvalidArgument(out_path + ": atom '" + name + "' is a directory");
  }
  auto atoms = LayOut(std::nullopt, atoms_root, input.atoms);
  if (!atoms) return std::move(atoms).error().With(out_path + ": atoms");
  layouts.push_back(std::move(*atoms));

  std::vector<const WriteVolume*> volumes;
  for (const auto& v : input.volumes) volumes.push_back(&v);
  std::sort(volumes.begin(), volumes.end(),
            [](const WriteVolume* a, const WriteVolume* b) { return a->name < b->name; });
  for (size_t i = 0; i < volumes.size(); ++i) {
    const WriteVolume& v = *volumes[i];
    if (v.name.empty()) return Error::InvalidArgument(out_path + ": a volume has an empty name");
    if (i > 0 && volumes[i - 1]->name == v.name) {
      return Error::InvalidArgument(out_path + ": duplicate volume '" + v.name + "'");
    }
    auto layout = LayOut(v.name, v.root, v.root.children);
    if (!layout) return std::move(layout).error().With(out_path + ": volume '" + v.name + "'");
    layouts.push_back(std::move(*layout));
  }

  // Temp file next to the target so rename() is atomic.
  std::string tmpl = DirectoryOf(out_path) + "/.webcfs-pack-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    return Error::Io(out_path + ": create temporary file in " + DirectoryOf(out_path), errno);
  OutputFile out(fd, tmpl);
  Result<void> r = WriteAll(*manifest, layouts, out);
  if (r) r = out.Flush();
  if (r && ::fchmod(fd, 0644) != 0) r = Error::Io(tmpl + ": chmod", errno);
  if (r && ::fsync(fd) != 0) r = Error::Io(tmpl + ": fsync", errno);
  if (::close(fd) != 0 && r) r = Error::Io(tmpl + ": close", errno);
  if (r && ::rename(tmpl.c_str(), out_path.c_str()) != 0)
    r = Error::Io(out_path + ": rename", errno);
  if (!r) {
    ::unlink(tmpl.c_str());
    Error e = std::move(r).error();
    // Errors from the writing helpers name the temp file or nothing; name the target.
    if (e.message().rfind(out_path, 0) != 0) return std::move(e).With(out_path);
    return e;
  }
  return Ok();
}

}  // namespace webcfs::webc
