#include "webc/base/large_array.h"

#include <sys/mman.h>

namespace webcfs::webc {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kPage = 4096;  // the smallest page madvise works on (x86-64, arm64 4K)

uintptr_t RoundUp(uintptr_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

std::byte* MapHugePages(size_t length) {
  length = RoundUp(length, kHugePage);
  // Map one huge page more than asked and trim both ends: mmap has no alignment argument.
  void* p = ::mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto* raw = static_cast<std::byte*>(p);
  auto* aligned = reinterpret_cast<std::byte*>(RoundUp(reinterpret_cast<uintptr_t>(p), kHugePage));
  const auto head = static_cast<size_t>(aligned - raw);
  if (head > 0) ::munmap(raw, head);
  if (head < kHugePage) ::munmap(aligned + length, kHugePage - head);
  (void)::madvise(aligned, length, MADV_HUGEPAGE);  // advice: THP may be off
  return aligned;
}

void UnmapHugePages(std::byte* p, size_t length) noexcept {
  if (p != nullptr) ::munmap(p, RoundUp(length, kHugePage));
}

namespace large_array_internal {

// The same size decides both ways: the standard guarantees deallocate gets
// the size that allocate was called with.
void* Allocate(size_t bytes) {
  if (bytes < kHugePage) return ::operator new(bytes);
  std::byte* p = MapHugePages(bytes);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void Deallocate(void* p, size_t bytes) noexcept {
  if (bytes < kHugePage) {
    ::operator delete(p);  // unsized: clang only declares the sized form with -fsized-deallocation
  } else {
    UnmapHugePages(static_cast<std::byte*>(p), bytes);
  }
}

void ReleaseTail(const void* data, size_t used_bytes, size_t allocated_bytes) noexcept {
  if (data == nullptr || allocated_bytes < kHugePage) return;  // heap memory: not ours to trim
  const auto base = reinterpret_cast<uintptr_t>(data);
  const uintptr_t begin = RoundUp(base + used_bytes, kPage);
  const uintptr_t end = base + RoundUp(allocated_bytes, kHugePage);
  if (begin >= end) return;
  auto* tail = reinterpret_cast<void*>(begin);
  // NOHUGEPAGE first: it splits the mapping, so khugepaged never collapses the
  // freed range back into a (resident) huge page; DONTNEED then frees it.
  (void)::madvise(tail, end - begin, MADV_NOHUGEPAGE);
  (void)::madvise(tail, end - begin, MADV_DONTNEED);
}

void UseSmallPages(const void* data, size_t allocated_bytes) noexcept {
  if (data == nullptr || allocated_bytes < kHugePage) return;  // heap memory: small pages already
  (void)::madvise(const_cast<void*>(data), RoundUp(allocated_bytes, kHugePage), MADV_NOHUGEPAGE);
}

}  // namespace large_array_internal
}  // namespace webcfs::webc
