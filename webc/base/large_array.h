// LargeArray: std::vector whose allocations of 2 MiB or more sit on
// transparent huge pages. (Name arenas are LargeArray<char>, not a string: a
// std::string writes its terminator as soon as it reserves, which would fault
// in a huge page before UseSmallPages could advise against it.)
//
// Why: mounting a package decodes every entry into arrays of 16-40 bytes per
// entry (a volume's entries and names, a snapshot's nodes). Filled one 4 KiB
// page at a time, every first write is a page fault, and in a virtual machine
// a fault can cost more than the work done on the page (docs/performance.md,
// "Fresh memory and page faults"). Mapped 2 MiB-aligned with MADV_HUGEPAGE, a
// 4 MiB array takes 2 faults instead of 1,024. Smaller allocations go to
// operator new as usual; if the system turns THP off, the advice is ignored
// and the pages are ordinary ones.
//
// Memory: a huge page is resident as a whole once any byte of it is written,
// so spare capacity after the last element can be resident without holding
// data. Call ReleaseSpareCapacity when an array stops growing: it gives every
// page past the last element back to the kernel and keeps khugepaged from
// refilling them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <vector>

namespace webcfs::webc {

// 2 MiB-aligned anonymous read-write mapping of `length` bytes (rounded up to
// 2 MiB) advised MADV_HUGEPAGE, or nullptr when the address space is not
// there. Release with UnmapHugePages(p, length).
std::byte* MapHugePages(size_t length);
void UnmapHugePages(std::byte* p, size_t length) noexcept;

namespace large_array_internal {
void* Allocate(size_t bytes);  // throws std::bad_alloc
void Deallocate(void* p, size_t bytes) noexcept;
void ReleaseTail(const void* data, size_t used_bytes, size_t allocated_bytes) noexcept;
void UseSmallPages(const void* data, size_t allocated_bytes) noexcept;
}  // namespace large_array_internal

template <class T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    if (n > std::numeric_limits<size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(large_array_internal::Allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { large_array_internal::Deallocate(p, n * sizeof(T)); }

  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;  // stateless: any instance frees any other's memory
  }
};

template <class T>
using LargeArray = std::vector<T, HugePageAllocator<T>>;

// Returns the pages of `v`'s unused capacity to the kernel (see the top of
// this file). `v` stays valid and may still grow; the released pages read as
// zeros if it does.
template <class T>
void ReleaseSpareCapacity(const LargeArray<T>& v) {
  large_array_internal::ReleaseTail(v.data(), v.size() * sizeof(T), v.capacity() * sizeof(T));
}

// For an array reserved once up front and then filled a little at a time
// over the life of the process (a lazily listed volume, a lazily expanded
// snapshot): huge pages would make up to 2 MiB per array resident ahead of
// its data. Call right after reserve(), before anything is written.
template <class T>
void UseSmallPages(const LargeArray<T>& v) {
  large_array_internal::UseSmallPages(v.data(), v.capacity() * sizeof(T));
}

}  // namespace webcfs::webc
