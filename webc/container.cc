#include "webc/container.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <mutex>
#include <utility>

#include "webc/base/large_array.h"
#include "webc/byte_cursor.h"
#include "webc/container_internal.h"

namespace webcfs::webc {

// ---- Volume ---------------------------------------------------------------

// A lazy volume's listing state. Listing appends to the volume's arrays under
// `mu`; a directory's child range is published by clearing its `unlisted_`
// byte with release order, so a reader that sees it cleared (acquire) also
// sees the children.
struct Volume::Lazy {
  std::mutex mu;
  std::unique_ptr<const DirectoryLister> lister;
};

Volume::Volume(std::string name, LargeArray<Entry> entries, LargeArray<char> names, bool sorted)
    : name_(std::move(name)),
      entries_(std::move(entries)),
      names_(std::move(names)),
      sorted_(sorted) {
  if (entries_.empty()) entries_.push_back(Entry{});  // root() is always valid
  ReleaseSpareCapacity(entries_);
  ReleaseSpareCapacity(names_);
}

Volume::Volume(std::string name, const Entry& root, std::unique_ptr<const DirectoryLister> lister,
               uint64_t max_entries, uint64_t max_name_bytes)
    : name_(std::move(name)), sorted_(true), lazy_(std::make_unique<Lazy>()) {
  lazy_->lister = std::move(lister);
  entries_.reserve(static_cast<size_t>(std::max<uint64_t>(max_entries, 1)));
  names_.reserve(static_cast<size_t>(max_name_bytes));
  UseSmallPages(entries_);
  UseSmallPages(names_);
  Entry r = root;
  r.name_offset = 0;
  r.name_length = 0;
  entries_.push_back(r);
}

Volume::Volume(Volume&&) noexcept = default;
Volume& Volume::operator=(Volume&&) noexcept = default;
Volume::~Volume() = default;

Result<std::span<const Entry>> Volume::ListChildren(const Entry& dir) const {
  if (!dir.is_dir()) return std::span<const Entry>();
  if (lazy_ != nullptr && !dir.listed()) {
    std::lock_guard<std::mutex> lock(lazy_->mu);
    if (dir.unlisted_ != 0) WEBCFS_RETURN_IF_ERROR(List(const_cast<Entry&>(dir)));
  }
  return std::span<const Entry>(entries_.data() + dir.first_child(), dir.child_count());
}

std::span<const Entry> Volume::Children(const Entry& dir) const {
  auto children = ListChildren(dir);
  return children ? *children : std::span<const Entry>();
}

// Appends the children of `dir` to the arrays, sorts them by name (Find and
// the snapshot's merge rely on it) and publishes the range. On any error the
// arrays are cut back, so a later call can try again.
Result<void> Volume::List(Entry& dir) const {
  const size_t first = entries_.size();
  const size_t first_name = names_.size();
  auto fail = [&](Error e) {
    entries_.resize(first);
    names_.resize(first_name);
    return std::move(e).With("volume '" + name_ + "'");
  };
  auto listed = lazy_->lister->List(
      dir.place_, [&](std::string_view name, const Entry& entry) -> Result<void> {
        if (entries_.size() == entries_.capacity() ||
            names_.size() + name.size() > names_.capacity() ||
            names_.size() + name.size() > std::numeric_limits<uint32_t>::max()) {
          return Error::ResourceLimit("more entries or names than its header can hold");
        }
        Entry e = entry;
        e.name_offset = static_cast<uint32_t>(names_.size());
        e.name_length = static_cast<uint16_t>(name.size());
        names_.insert(names_.end(), name.begin(), name.end());
        entries_.push_back(e);
        return Ok();
      });
  if (!listed) return fail(std::move(listed).error());
  const auto begin = entries_.begin() + static_cast<std::ptrdiff_t>(first);
  auto by_name = [this](const Entry& a, const Entry& b) { return NameOf(a) < NameOf(b); };
  if (!std::is_sorted(begin, entries_.end(), by_name)) std::sort(begin, entries_.end(), by_name);
  auto same = std::adjacent_find(begin, entries_.end(), [this](const Entry& a, const Entry& b) {
    return NameOf(a) == NameOf(b);
  });
  if (same != entries_.end()) {
    return fail(Error::Corrupt("directory record at offset " + std::to_string(dir.place_) +
                               ": duplicate name '" + Printable(NameOf(*same)) + "'"));
  }
  dir.place_ = (static_cast<uint64_t>(entries_.size() - first) << 32) | first;
  std::atomic_ref<uint8_t>(dir.unlisted_).store(0, std::memory_order_release);
  return Ok();
}

const Entry* Volume::Find(const Entry& dir, std::string_view name) const {
  if (!dir.is_dir()) return nullptr;
  std::span<const Entry> children = Children(dir);
  if (sorted_) {
    // Byte order, as every writer stores it (string_view compares like memcmp).
    auto it =
        std::lower_bound(children.begin(), children.end(), name,
                         [this](const Entry& e, std::string_view n) { return NameOf(e) < n; });
    if (it != children.end() && NameOf(*it) == name) return &*it;
    return nullptr;
  }
  for (const Entry& e : children) {
    if (NameOf(e) == name) return &e;
  }
  return nullptr;
}

const Entry* Volume::Lookup(std::string_view path) const {
  const Entry* at = &root();
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (segment.empty()) continue;
    at = Find(*at, segment);  // a file with segments left: Find returns nullptr
    if (at == nullptr) return nullptr;
  }
  return at;
}

// ---- ContainerBuilder -----------------------------------------------------

ContainerBuilder::ContainerBuilder(std::shared_ptr<const ByteSource> source, Version version)
    : container_(new Container()) {
  container_->source_ = std::move(source);
  container_->version_ = version;
}

void ContainerBuilder::AddSectionHash(std::string what, uint64_t offset, uint64_t length,
                                      const Sha256Digest& expected) {
  container_->section_hashes_.push_back({std::move(what), offset, length, expected});
}

void ContainerBuilder::NoteIntegrityIssue(std::string message) {
  if (!container_->integrity_issue_) container_->integrity_issue_ = std::move(message);
}

namespace {

// From this size on, ReadBuffer maps huge pages instead of calling new.
constexpr size_t kMapThreshold = size_t{1} << 20;

}  // namespace

std::byte* ReadBuffer::Get(size_t n, bool will_fill) {
  if (n <= capacity_) return data_;
  Release();
  if (n >= kMapThreshold) {
    // Transparent huge pages where the system allows them (THP "madvise"
    // mode): a 13 MB header is then 7 page faults instead of 3,300, and in a
    // VM the first touch of each 4 KiB page can also trap to the hypervisor,
    // even after MAP_POPULATE (docs/performance.md,
    // "Fresh memory and page faults"). The buffer lives only while a container
    // is parsed.
    data_ = MapHugePages(n);
    if (data_ == nullptr) return nullptr;
    capacity_ = n;
    mapped_ = true;
    if (will_fill) (void)::madvise(data_, n, MADV_POPULATE_WRITE);  // best effort
    return data_;
  }
  data_ = new std::byte[n];
  capacity_ = n;
  return data_;
}

void ReadBuffer::Release() {
  if (mapped_) {
    UnmapHugePages(data_, capacity_);
  } else {
    delete[] data_;
  }
  data_ = nullptr;
  capacity_ = 0;
  mapped_ = false;
}

Result<ByteView> ReadRegion(const ByteSource& src, uint64_t offset, uint64_t n,
                            ReadBuffer& buffer) {
  if (!RangeWithin(offset, n, src.size())) {
    return Error::Corrupt("range [" + std::to_string(offset) + ", +" + std::to_string(n) +
                          ") is past the end of the file (" + std::to_string(src.size()) +
                          " bytes)");
  }
  std::byte* room = buffer.Get(static_cast<size_t>(n), /*will_fill=*/src.fd() >= 0);
  if (room == nullptr && n != 0) {
    return Error::ResourceLimit("cannot allocate " + std::to_string(n) + " bytes to read [" +
                                std::to_string(offset) + ", +" + std::to_string(n) + ")");
  }
  return src.Read(offset, static_cast<size_t>(n), room);
}

std::string Printable(std::string_view text) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f || c == '\\') {
      out += "\\x";
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    } else {
      out += ch;
    }
  }
  return out;
}

// ---- Container --------------------------------------------------------------

Container::~Container() = default;

namespace {

// Errors read outside-in: "<source name>: <what>". Errors that come from the
// ByteSource already start with its name.
Error WithSourceName(Error e, const std::string& name) {
  if (e.message().rfind(name + ": ", 0) == 0) return e;
  return std::move(e).With(name);
}

}  // namespace

Result<std::unique_ptr<Container>> Container::Open(std::shared_ptr<const ByteSource> source,
                                                   const OpenOptions& options) {
  if (!source) return Error::InvalidArgument("Container::Open: no source");
  const std::string& name = source->name();
  auto version = DetectVersion(*source);
  if (!version) return WithSourceName(std::move(version).error(), name);

  ContainerBuilder builder(source, *version);
  Result<void> read =
      *version == Version::kV1 ? ReadV1(builder, options) : ReadV2OrV3(builder, options);
  if (!read) return WithSourceName(std::move(read).error(), name);
  std::unique_ptr<Container> container = builder.Finish();

  if (options.verify) {
    auto verified = container->Verify();
    if (!verified) return WithSourceName(std::move(verified).error(), name);
    if (container->version_ == Version::kV1) {
      auto valid = container->CheckV1Checksum();
      if (!valid) return WithSourceName(std::move(valid).error(), name);
      container->v1_checksum_.valid = *valid;
    }
  }
  return container;
}

Result<std::unique_ptr<Container>> Container::OpenFile(const std::string& path,
                                                       const OpenOptions& options) {
  auto source = OpenContainerSource(path, options.max_decompressed_size);
  if (!source) return WithSourceName(std::move(source).error(), path);
  std::shared_ptr<const ByteSource> shared = std::move(*source);
  auto container = Open(shared, options);
  if (!container) return WithSourceName(std::move(container).error(), path);
  return container;
}

const Volume* Container::FindVolume(std::string_view name) const {
  for (const Volume& v : volumes_) {
    if (v.name() == name) return &v;
  }
  return nullptr;
}

const Entry* Container::FindAtom(std::string_view name) const {
  const Entry* e = atoms_.Find(atoms_.root(), name);
  return e != nullptr && e->is_file() ? e : nullptr;
}

Result<ByteView> Container::ReadFile(const Entry& file, uint64_t offset, size_t n,
                                     std::byte* scratch) const {
  if (!file.is_file()) return Error::InvalidArgument("not a file");
  if (offset >= file.size) return ByteView();
  const auto length = static_cast<size_t>(std::min<uint64_t>(n, file.size - offset));
  return source_->Read(file.data_offset() + offset, length, scratch);
}

Result<std::optional<Sha256Digest>> Container::StoredHash(const Entry& e) const {
  if (e.hash_offset == 0) return std::optional<Sha256Digest>();
  Sha256Digest d{};
  auto v = source_->Read(e.hash_offset, d.size(), reinterpret_cast<std::byte*>(d.data()));
  if (!v) return std::move(v).error();
  if (v->data() != reinterpret_cast<std::byte*>(d.data()))
    std::memcpy(d.data(), v->data(), d.size());
  return std::optional<Sha256Digest>(d);
}

}  // namespace webcfs::webc
