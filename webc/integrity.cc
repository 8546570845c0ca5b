// Integrity checks (docs/webc-format.md §3.2, §4.2, §5): everything a
// container stores a hash for is recomputed from the bytes and compared.
// Checks run from the most specific to the most general, so that a damaged
// file is reported by its path rather than by the section that holds it.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "webc/container.h"
#include "webc/container_internal.h"

namespace webcfs::webc {
namespace {

constexpr size_t kChunkSize = 1 << 20;

// §3.2: the checksum covers the file with bytes 24..1307 (checksum, signature
// length, signature) replaced by zeros.
constexpr uint64_t kV1HashedPrefix = 24;
constexpr uint64_t kV1HeaderSize = 1308;
constexpr uint64_t kV1ChecksumSize = 256;
constexpr std::string_view kV1ChecksumNone = "----------------";

constexpr std::string_view kSignaturePrefix = "sha256:";

class Hasher {
 public:
  explicit Hasher(const ByteSource& src) : src_(src), buffer_(kChunkSize) {}

  // Feeds [offset, offset + length) of the source into `h`, chunk by chunk.
  Result<void> Feed(Sha256& h, uint64_t offset, uint64_t length) {
    while (length > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(length, buffer_.size()));
      auto v = src_.Read(offset, n, buffer_.data());
      if (!v) return std::move(v).error();
      h.Update(*v);
      offset += n;
      length -= n;
    }
    return Ok();
  }

  Result<Sha256Digest> Of(uint64_t offset, uint64_t length) {
    Sha256 h;
    WEBCFS_RETURN_IF_ERROR(Feed(h, offset, length));
    return h.Finish();
  }

 private:
  const ByteSource& src_;
  std::vector<std::byte> buffer_;
};

std::string Mismatch(const Sha256Digest& stored, const Sha256Digest& computed) {
  return "SHA-256 mismatch (stored " + ToHex(stored) + ", computed " + ToHex(computed) + ")";
}

}  // namespace

Result<void> WalkVolume(const Volume& volume, const VolumeVisitor& visit) {
  // Depth-first in stored order with an explicit stack: depth is bounded by
  // OpenOptions::max_depth, but not by the thread's stack. One path string is
  // kept and cut back to the parent's prefix, so pending siblings cost 8 bytes
  // each, not a copy of their parent's path.
  struct Frame {
    uint32_t index;
    uint32_t depth;  // the root's children are at depth 1
  };
  std::vector<Frame> stack;
  std::vector<size_t> prefix = {0};  // prefix[d]: length of the path of the directory at depth d
  std::string path;
  // A lazy volume lists each directory here, which can fail.
  auto push_children = [&](const Entry& dir, uint32_t depth) -> Result<void> {
    auto children = volume.ListChildren(dir);
    if (!children) return std::move(children).error();
    for (auto it = children->rbegin(); it != children->rend(); ++it) {
      stack.push_back({volume.IndexOf(*it), depth});
    }
    return Ok();
  };
  WEBCFS_RETURN_IF_ERROR(push_children(volume.root(), 1));
  while (!stack.empty()) {
    const Frame f = stack.back();
    stack.pop_back();
    const Entry& e = volume.EntryAt(f.index);
    path.resize(prefix[f.depth - 1]);
    path += '/';
    path += volume.NameOf(e);
    WEBCFS_RETURN_IF_ERROR(visit(e, path));
    if (e.is_dir()) {
      prefix.resize(f.depth + 1);
      prefix[f.depth] = path.size();
      WEBCFS_RETURN_IF_ERROR(push_children(e, f.depth + 1));
    }
  }
  return Ok();
}

Result<Sha256Digest> Container::WholeFileHash() const {
  Hasher hasher(*source_);
  return hasher.Of(0, source_->size());
}

Result<std::optional<bool>> Container::CheckV1Checksum() const {
  if (version_ != Version::kV1 || v1_checksum_.type == kV1ChecksumNone) {
    return std::optional<bool>();
  }
  Hasher hasher(*source_);
  Sha256 h;
  WEBCFS_RETURN_IF_ERROR(hasher.Feed(h, 0, kV1HashedPrefix));
  const std::string zeros(kV1HeaderSize - kV1HashedPrefix, '\0');
  h.Update(zeros);
  WEBCFS_RETURN_IF_ERROR(hasher.Feed(h, kV1HeaderSize, source_->size() - kV1HeaderSize));
  const Sha256Digest computed = h.Finish();

  std::byte stored[kV1ChecksumSize];
  auto v = source_->Read(kV1HashedPrefix, kV1ChecksumSize, stored);
  if (!v) return std::move(v).error();
  // Valid when the stored 256 bytes are the digest followed by zeros.
  std::byte expected[kV1ChecksumSize] = {};
  std::memcpy(expected, computed.data(), computed.size());
  return std::optional<bool>(std::memcmp(v->data(), expected, kV1ChecksumSize) == 0);
}

Result<void> Container::Verify() const {
  Hasher hasher(*source_);

  // Files and directories, by path: the atoms volume and every named volume.
  auto check_entry = [&](const Volume& volume, const std::string& label, const Entry& e,
                         std::string_view path) -> Result<void> {
    auto stored = StoredHash(e);
    if (!stored) return std::move(stored).error();
    if (!stored->has_value()) return Ok();
    Sha256Digest computed{};
    if (e.is_file()) {
      auto digest = hasher.Of(e.data_offset(), e.size);
      if (!digest) return std::move(digest).error();
      computed = *digest;
    } else {
      // §5.2: a directory's hash is the SHA-256 of its children's hashes.
      Sha256 h;
      for (const Entry& child : volume.Children(e)) {
        auto child_hash = StoredHash(child);
        if (!child_hash) return std::move(child_hash).error();
        if (child_hash->has_value()) {
          h.Update(ByteView(reinterpret_cast<const std::byte*>((*child_hash)->data()),
                            (*child_hash)->size()));
        }
      }
      computed = h.Finish();
    }
    if (computed != **stored) {
      return Error::Integrity(label + ": " + (e.is_file() ? "file '" : "directory '") +
                              Printable(path) + "': " + Mismatch(**stored, computed));
    }
    return Ok();
  };
  auto check_volume = [&](const Volume& volume, const std::string& label) -> Result<void> {
    WEBCFS_RETURN_IF_ERROR(check_entry(volume, label, volume.root(), "/"));
    return WalkVolume(volume, [&](const Entry& e, std::string_view path) {
      return check_entry(volume, label, e, path);
    });
  };
  WEBCFS_RETURN_IF_ERROR(check_volume(atoms_, "atoms volume"));
  for (const Volume& v : volumes_) {
    WEBCFS_RETURN_IF_ERROR(check_volume(v, "volume '" + Printable(v.name()) + "'"));
  }
  if (integrity_issue_) return Error::Integrity(*integrity_issue_);

  // Whole sections (v2/v3): index checksums and v3 inline hashes.
  for (const SectionHash& s : section_hashes_) {
    auto digest = hasher.Of(s.payload_offset, s.payload_length);
    if (!digest) return std::move(digest).error();
    if (*digest != s.expected) {
      return Error::Integrity(s.what + ": " + Mismatch(s.expected, *digest));
    }
  }

  // Atom signatures, "sha256:" + base64 of the atom's bytes (§2.2). After the
  // sections, so that a damaged manifest is reported as such.
  for (const AtomInfo& atom : manifest_.atoms) {
    if (atom.signature.rfind(kSignaturePrefix, 0) != 0) continue;
    const Entry* file = FindAtom(atom.name);
    if (file == nullptr) {
      return Error::Integrity("atom '" + Printable(atom.name) +
                              "': listed in the manifest but missing from the atoms volume");
    }
    auto digest = hasher.Of(file->data_offset(), file->size);
    if (!digest) return std::move(digest).error();
    if (atom.signature.substr(kSignaturePrefix.size()) != ToBase64(*digest)) {
      return Error::Integrity("atom '" + Printable(atom.name) + "': signature '" +
                              Printable(atom.signature) +
                              "' does not match its bytes (sha256:" + ToBase64(*digest) + ")");
    }
  }

  // The v1 whole-file checksum.
  auto v1 = CheckV1Checksum();
  if (!v1) return std::move(v1).error();
  if (v1->has_value() && !**v1) {
    return Error::Integrity("v1 whole-file checksum (" + v1_checksum_.type +
                            ") does not match the file");
  }
  return Ok();
}

}  // namespace webcfs::webc
