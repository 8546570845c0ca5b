// VolumeTreeBuilder: turns a format's directory records into a Volume's flat
// Entry array, breadth-first, so that every directory's children are one
// contiguous range (container.h "ID spaces").
//
// It owns every structural rule that is the same for all versions: names are
// single path components, directories are reached once (no loops, no shared
// subtrees), depth and entry counts are bounded, duplicates are refused, and
// sortedness is recorded for Volume::Find. A format reader only decodes its
// records: it implements ListFn and calls AddChild once per child.
//
// Internal to webc/. Not thread-safe (lives during Container::Open only).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "webc/base/large_array.h"
#include "webc/base/result.h"
#include "webc/container.h"

namespace webcfs::webc {

class VolumeTreeBuilder {
 public:
  // A directory that has no listing to read (v1 empty directories).
  static constexpr uint64_t kNoListing = UINT64_MAX;

  // Decodes the directory whose listing is at `ref` (a reader-defined
  // position) and calls AddChild for each child in stored order.
  using ListFn = std::function<Result<void>(uint64_t ref, VolumeTreeBuilder& builder)>;

  // `label` names the volume in errors ("volume 'atom'", "atoms volume").
  // `max_entries` is this volume's share of the container's entry budget.
  VolumeTreeBuilder(std::string volume_name, std::string label, uint32_t max_depth,
                    uint64_t max_entries);

  // Sizes the arrays for at most `entries` entries and `name_bytes` bytes of
  // names up front when the format bounds them (v2/v3: the header length), so
  // they are filled in place instead of being copied at every doubling. Only
  // the pages actually written become resident, so an overestimate costs
  // address space, not memory.
  void Reserve(uint64_t entries, uint64_t name_bytes);

  // Walks the tree from the root directory (whose metadata is `root`, listing
  // at `root_ref`) and returns the finished Volume.
  Result<Volume> Build(const Entry& root, uint64_t root_ref, const ListFn& list);

  // Adds a child to the directory being listed. `entry` carries the type and
  // the type's fields (file range, mtime, hash offset); for a directory,
  // `listing_ref` is where its own listing is (or kNoListing).
  Result<void> AddChild(std::string_view name, const Entry& entry, uint64_t listing_ref);

  // Records a hash disagreement for Verify() about the child called `name` of
  // the directory being listed (first one wins).
  void NoteIntegrityIssue(std::string_view name, const std::string& what);
  const std::optional<std::string>& integrity_issue() const { return integrity_issue_; }

  // Number of entries added so far, root included.
  uint64_t entry_count() const { return entries_.size(); }

  // Path of the directory being listed ("/" for the root), for error messages.
  std::string CurrentPath() const { return PathOf(current_); }

 private:
  std::string PathOf(uint32_t index) const;
  std::string ChildPath(std::string_view name) const;
  Error Fail(Error::Code code, const std::string& path, const std::string& what) const;
  Result<void> CheckChildOrder(uint32_t first, uint32_t count);

  const std::string volume_name_;
  const std::string label_;
  const uint32_t max_depth_;
  const uint64_t max_entries_;

  LargeArray<Entry> entries_;
  LargeArray<char> names_;
  bool sorted_ = true;
  // Build-time only, parallel to entries_.
  LargeArray<uint32_t> parent_;
  LargeArray<uint32_t> depth_;
  LargeArray<uint64_t> listing_ref_;
  std::unordered_set<uint64_t> listed_;  // listing refs already claimed by a directory
  uint32_t current_ = 0;                 // directory being listed
  std::optional<std::string> integrity_issue_;
};

}  // namespace webcfs::webc
