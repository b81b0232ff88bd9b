// Cache-line-aligned storage for the core's large float buffers.
//
// std::vector's memory is only 16-byte aligned. A zmm load from such a buffer crosses a
// cache line three times in four; and two streams whose addresses differ by a multiple of
// 16 bytes but not of 64 overlap in their low 12 address bits an iteration or two apart,
// which makes the CPU hold a load until an earlier store to the "same" bits commits (4K
// aliasing). A variant of the Adam update that streamed four buffers sitting 16 bytes
// apart spent ~15% less time once they were aligned; the training epoch as a whole moved
// by ~2% (within this machine's noise).
//
// Buffers of 1 MiB and more are mapped on their own, 2 MiB-aligned and rounded up to whole
// 2 MiB pages, with madvise(MADV_HUGEPAGE) (Linux; a no-op where transparent huge pages
// are off). The first touch of memory costs a page fault per page: in a KVM guest on AMD
// EPYC Zen 5, ~1.5-3 us per 4 KiB page against ~0.1 ms per 2 MiB page (8 MiB touched in
// a fresh process: 3.4-4.7 ms as 4 KiB pages, 0.4-0.5 ms as huge pages), 8-15x less per
// byte; a fresh model's first fit faulted ~2000 pages (~5 ms, 2-3% of a 60,000-row epoch
// of the benchmark). Huge pages also take the streamed optimizer buffers out of the TLB's
// way. The rounding wastes less than one 2 MiB page per buffer and at most doubles one
// (a 1 MiB buffer takes a whole page); smaller buffers keep the ordinary allocator, where
// the waste could be many times the buffer (NumPy draws its line at 4 MiB). Under
// AddressSanitizer everything goes through operator new, so ASan still sees every buffer.
#pragma once
#include <cstddef>
#include <new>
#include <vector>

#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
#define PYNN_HUGE_PAGES 1
#include <sys/mman.h>

#include <cstdint>
#endif

namespace pynn {

#ifdef PYNN_HUGE_PAGES
namespace huge_pages {
constexpr std::size_t kPage = std::size_t(1) << 21;  // 2 MiB, x86-64's transparent huge page
constexpr std::size_t kFrom = kPage / 2;             // buffers of at least this many bytes

inline std::size_t rounded(std::size_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

// A fresh, zero-filled, 2 MiB-aligned mapping of rounded(bytes), or bad_alloc.
inline void* map(std::size_t bytes) {
    const std::size_t size = rounded(bytes);
    if (size < bytes) throw std::bad_alloc();  // the rounding overflowed
    // Over-map by one page and trim both ends to the aligned part.
    void* raw = ::mmap(nullptr, size + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = (start + kPage - 1) / kPage * kPage;
    if (aligned > start) ::munmap(raw, aligned - start);
    if (const std::size_t tail = start + size + kPage - (aligned + size)) ::munmap(reinterpret_cast<void*>(aligned + size), tail);
    ::madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);  // advice: failure leaves 4 KiB pages
    return reinterpret_cast<void*>(aligned);
}

inline void unmap(void* p, std::size_t bytes) { ::munmap(p, rounded(bytes)); }
}  // namespace huge_pages
#endif

template <typename T>
struct CacheAligned {
    using value_type = T;
    static constexpr std::align_val_t kAlign{64};
    CacheAligned() = default;
    template <typename U>
    CacheAligned(const CacheAligned<U>&) noexcept {}
    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
#ifdef PYNN_HUGE_PAGES
        if (n * sizeof(T) >= huge_pages::kFrom) return static_cast<T*>(huge_pages::map(n * sizeof(T)));
#endif
        return static_cast<T*>(::operator new(n * sizeof(T), kAlign));
    }
    void deallocate(T* p, std::size_t n) noexcept {
#ifdef PYNN_HUGE_PAGES
        if (n * sizeof(T) >= huge_pages::kFrom) return huge_pages::unmap(p, n * sizeof(T));
#endif
        ::operator delete(p, kAlign);
    }
    template <typename U>
    bool operator==(const CacheAligned<U>&) const noexcept { return true; }
    template <typename U>
    bool operator!=(const CacheAligned<U>&) const noexcept { return false; }
};

// A vector whose data() is 64-byte aligned.
template <typename T>
using Buffer = std::vector<T, CacheAligned<T>>;

}  // namespace pynn
