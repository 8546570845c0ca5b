// Inode numbers: how the kernel's names for our files map onto snapshot nodes.
//
// Four ID spaces meet here (compare squashfuse's ll_inode.c):
//
//   container entry   webc::Volume::entries()[i] of one package's volume. Stable
//                     for the life of the Container. A snapshot node that shows
//                     a volume file or directory refers to it as
//                     (Snapshot source index, entry index); names and file
//                     extents are read from the entry, never copied.
//
//   node index        Snapshot::nodes()[n], the merged tree. Index 0 is the
//                     root; a directory's children are the contiguous,
//                     name-sorted range [first_child, first_child + child_count),
//                     so lookup is a binary search and a readdir offset is a
//                     child index. Stable for the life of the snapshot.
//
//   generation        Every snapshot served by a Server gets a generation
//                     number (1, 2, ... in swap order). It lives in the high 32
//                     bits of every fuse_ino_t handed to the kernel, so an inode
//                     of a replaced snapshot still names a node of *that*
//                     snapshot. A snapshot stays alive until the kernel has
//                     forgotten all of its inodes (lookup counts, see server.cc).
//
//   fuse_ino_t        What the kernel sees (and what stat() reports as st_ino):
//                       FUSE_ROOT_ID (1)         the root of the *current* snapshot;
//                                                the kernel never forgets it, so it
//                                                carries no generation.
//                       (generation << 32) | n   node n > 0 of that generation.
//                     With generation >= 1 every such number is > 2^32, so it
//                     can never collide with FUSE_ROOT_ID or with 0 (the
//                     "negative entry" marker in lookup replies).
//
// The ino is a pure function of (generation, node index): no table maps inodes
// to nodes, and a lookup allocates nothing.
#pragma once

#include <cstdint>

namespace webcfs::fuse {

inline constexpr uint64_t kRootIno = 1;  // FUSE_ROOT_ID, without pulling in fuse_lowlevel.h
inline constexpr int kGenerationShift = 32;
inline constexpr uint64_t kNodeMask = (uint64_t{1} << kGenerationShift) - 1;
// Node indices must fit below the generation bits; index 0 is the root.
inline constexpr uint64_t kMaxNodes = kNodeMask;

struct InodeRef {
  uint32_t generation = 0;  // 0 = "the current snapshot" (only for kRootIno)
  uint32_t node = 0;
};

// REQUIRES: generation >= 1, node < kMaxNodes.
inline constexpr uint64_t MakeIno(uint32_t generation, uint32_t node) {
  return node == 0 ? kRootIno : (uint64_t{generation} << kGenerationShift) | node;
}

// Splits an ino from the kernel. Malformed numbers (0, or a generation with
// node 0) come back with generation 0 and node != 0 so that lookups fail
// cleanly with ESTALE instead of aliasing the root.
inline constexpr InodeRef SplitIno(uint64_t ino) {
  if (ino == kRootIno) return {0, 0};
  const uint32_t generation = static_cast<uint32_t>(ino >> kGenerationShift);
  const uint32_t node = static_cast<uint32_t>(ino & kNodeMask);
  if (generation == 0 || node == 0) return {0, UINT32_MAX};
  return {generation, node};
}

// Catalog mounts (fuse/catalog.h) serve many snapshots, none of them at the
// root: the catalog's own directories take the numbers below 2^32 (the root
// FUSE_ROOT_ID, namespace i kFirstNamespaceIno + i), and every node of a
// package's snapshot, its root included, is (generation << 32) | node. Each
// snapshot a catalog loads gets a new generation, so the number of a dropped
// one names nothing (ESTALE) rather than another package's file.
inline constexpr uint64_t kFirstNamespaceIno = 2;
inline constexpr uint64_t kMaxNamespaces = kNodeMask - kFirstNamespaceIno;

inline constexpr bool IsCatalogDirIno(uint64_t ino) { return ino <= kNodeMask; }

// REQUIRES: generation >= 1, node < kMaxNodes.
inline constexpr uint64_t MakeCatalogIno(uint32_t generation, uint32_t node) {
  return (uint64_t{generation} << kGenerationShift) | node;
}

// A package node's number split; catalog directories (and 0) come back with
// generation 0 and node != 0, like SplitIno's malformed numbers.
inline constexpr InodeRef SplitCatalogIno(uint64_t ino) {
  const uint32_t generation = static_cast<uint32_t>(ino >> kGenerationShift);
  if (generation == 0) return {0, UINT32_MAX};
  return {generation, static_cast<uint32_t>(ino & kNodeMask)};
}

}  // namespace webcfs::fuse
