#include <algorithm>
#include <limits>
#include <utility>

#include "webc/container_internal.h"
#include "webc/volume_tree_internal.h"
#include "webc/writer.h"

namespace webcfs::webc {
namespace {

constexpr uint32_t kNoParent = std::numeric_limits<uint32_t>::max();

}  // namespace

VolumeTreeBuilder::VolumeTreeBuilder(std::string volume_name, std::string label, uint32_t max_depth,
                                     uint64_t max_entries)
    : volume_name_(std::move(volume_name)),
      label_(std::move(label)),
      max_depth_(max_depth),
      max_entries_(max_entries) {}

void VolumeTreeBuilder::Reserve(uint64_t entries, uint64_t name_bytes) {
  const auto n = static_cast<size_t>(std::min(entries, max_entries_));
  entries_.reserve(n);
  parent_.reserve(n);
  depth_.reserve(n);
  listing_ref_.reserve(n);
  names_.reserve(static_cast<size_t>(name_bytes));
}

std::string VolumeTreeBuilder::PathOf(uint32_t index) const {
  if (index == 0) return "/";
  std::vector<uint32_t> chain;
  for (uint32_t i = index; i != 0 && i != kNoParent; i = parent_[i]) chain.push_back(i);
  std::string path;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    const Entry& e = entries_[*it];
    path += "/";
    path += Printable(std::string_view(names_.data() + e.name_offset, e.name_length));
  }
  return path;
}

std::string VolumeTreeBuilder::ChildPath(std::string_view name) const {
  std::string path = current_ == 0 ? std::string() : PathOf(current_);
  return path + "/" + Printable(name);
}

Error VolumeTreeBuilder::Fail(Error::Code code, const std::string& path,
                              const std::string& what) const {
  return Error(code, label_ + ": entry '" + path + "': " + what);
}

Result<void> VolumeTreeBuilder::AddChild(std::string_view name, const Entry& entry,
                                         uint64_t listing_ref) {
  // The writer's rules (docs/architecture.md, "Safety rules"): what we would
  // not write, we do not read.
  if (auto valid = ValidateEntryName(name); !valid) {
    return Fail(Error::Code::kCorrupt, ChildPath(name), valid.error().message());
  }
  if (entries_.size() >= max_entries_) {
    return Error::ResourceLimit(label_ + ": more than " + std::to_string(max_entries_) +
                                " entries (limit)");
  }
  const uint32_t depth = depth_[current_] + 1;
  if (depth > max_depth_) {
    return Fail(Error::Code::kResourceLimit, ChildPath(name),
                "directories nested deeper than " + std::to_string(max_depth_) + " levels");
  }
  if (entry.is_dir() && listing_ref != kNoListing && !listed_.insert(listing_ref).second) {
    return Fail(Error::Code::kCorrupt, ChildPath(name),
                "directory record at offset " + std::to_string(listing_ref) +
                    " is reached twice (a loop or a shared directory)");
  }
  if (names_.size() + name.size() > std::numeric_limits<uint32_t>::max() ||
      entries_.size() >= std::numeric_limits<uint32_t>::max()) {
    return Error::ResourceLimit(label_ + ": names or entries exceed 4 GiB");
  }
  Entry e = entry;
  e.name_offset = static_cast<uint32_t>(names_.size());
  e.name_length = static_cast<uint16_t>(name.size());
  if (e.is_dir()) e.SetChildren(0, 0);
  names_.insert(names_.end(), name.begin(), name.end());
  entries_.push_back(e);
  parent_.push_back(current_);
  depth_.push_back(depth);
  listing_ref_.push_back(entry.is_dir() ? listing_ref : kNoListing);
  return Ok();
}

void VolumeTreeBuilder::NoteIntegrityIssue(std::string_view name, const std::string& what) {
  if (!integrity_issue_) integrity_issue_ = label_ + ": entry '" + ChildPath(name) + "': " + what;
}

Result<void> VolumeTreeBuilder::CheckChildOrder(uint32_t first, uint32_t count) {
  auto name_at = [&](uint32_t i) {
    const Entry& e = entries_[i];
    return std::string_view(names_.data() + e.name_offset, e.name_length);
  };
  bool ascending = true;
  for (uint32_t i = first + 1; i < first + count; ++i) {
    const int c = name_at(i - 1).compare(name_at(i));
    if (c == 0) return Fail(Error::Code::kCorrupt, PathOf(i), "duplicate name in directory");
    if (c > 0) ascending = false;
  }
  if (ascending) return Ok();
  // Unsorted listings are allowed (Find falls back to a linear scan) but must
  // still not hold one name twice.
  sorted_ = false;
  std::vector<uint32_t> order(count);
  for (uint32_t i = 0; i < count; ++i) order[i] = first + i;
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return name_at(a) < name_at(b); });
  for (uint32_t i = 1; i < count; ++i) {
    if (name_at(order[i - 1]) == name_at(order[i])) {
      return Fail(Error::Code::kCorrupt, PathOf(order[i]), "duplicate name in directory");
    }
  }
  return Ok();
}

Result<Volume> VolumeTreeBuilder::Build(const Entry& root, uint64_t root_ref, const ListFn& list) {
  Entry r = root;
  r.type = EntryType::kDirectory;
  r.name_offset = 0;
  r.name_length = 0;
  entries_.push_back(r);
  parent_.push_back(kNoParent);
  depth_.push_back(0);
  listing_ref_.push_back(root_ref);
  if (root_ref != kNoListing) listed_.insert(root_ref);

  // Breadth-first: children of entry i are appended as one range, so the loop
  // terminates once every directory has been listed exactly once.
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (!entries_[i].is_dir() || listing_ref_[i] == kNoListing) continue;
    current_ = static_cast<uint32_t>(i);
    const auto first = static_cast<uint32_t>(entries_.size());
    auto listed = list(listing_ref_[i], *this);
    if (!listed) {
      Error e = std::move(listed).error();
      // Record-level errors name the directory; AddChild's already name the entry.
      if (e.message().rfind(label_, 0) == 0) return e;
      return std::move(e).With(label_ + ": directory '" + PathOf(current_) + "'");
    }
    const auto count = static_cast<uint32_t>(entries_.size() - first);
    entries_[i].SetChildren(first, count);
    WEBCFS_RETURN_IF_ERROR(CheckChildOrder(first, count));
  }
  // No shrink_to_fit: copying the arrays to trim them would fault in a second
  // copy. Volume gives the pages of the spare capacity back instead.
  return Volume(volume_name_, std::move(entries_), std::move(names_), sorted_);
}

}  // namespace webcfs::webc
