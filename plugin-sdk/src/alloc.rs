//! The guest's allocator: small blocks from free lists per size class, the rest from the
//! system allocator.
//!
//! A model's instance lives for one run, and most of what it allocates is small and short
//! lived: the strings and vectors of the clues it builds (kind, subject, reason, evidence
//! rows, field names) and of its own maps. wasi-libc's `dlmalloc`, behind Rust's system
//! allocator on `wasm32-wasip2`, searches and coalesces on every call, and was the guest's
//! largest cost after the model's own code (docs/benchmarks-history.md). Here a block of up to
//! [`SMALL_MAX`] bytes is popped from, and pushed back onto, the free list of its size class;
//! a class with nothing free cuts a new block from a 64 KiB slab. A freed block is reused by
//! its own class only and its memory is never handed back, which costs nothing for a run that
//! ends with its instance. Larger blocks, and blocks aligned to more than 16 bytes, go to the
//! system allocator as before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The largest block served from a size class.
pub const SMALL_MAX: usize = 1024;
/// Every small block's alignment, and the step of the classes up to 256 bytes.
const ALIGN: usize = 16;
/// Classes: 16, 32, … 256 bytes in steps of 16, then 320, 384, … 1024 in steps of 64.
const CLASSES: usize = 16 + (SMALL_MAX - 256) / 64;
/// Bytes a class with nothing free takes from the system allocator at once.
const SLAB: usize = 64 << 10;

/// The size class of a block of `size` bytes (at most [`SMALL_MAX`]), and its size.
fn class_of(size: usize) -> (usize, usize) {
    if size <= 256 {
        let n = size.div_ceil(ALIGN).max(1);
        (n - 1, n * ALIGN)
    } else {
        let n = (size - 256).div_ceil(64);
        (15 + n, 256 + n * 64)
    }
}

/// Whether a block of this layout comes from a size class.
fn is_small(layout: &Layout) -> bool {
    layout.size() <= SMALL_MAX && layout.align() <= ALIGN
}

struct Pools {
    /// Per class, the first free block; each free block holds the address of the next.
    free: [*mut u8; CLASSES],
    /// The unused part of the current slab.
    next: *mut u8,
    end: *mut u8,
}

/// Small blocks from free lists per size class over a backing allocator (the system's in a
/// guest) that serves the slabs and every other block. Not thread-safe: see
/// [`GuestAllocator`] for the single-threaded guest it is made for.
pub struct SmallBlocks<A> {
    pools: UnsafeCell<Pools>,
    backing: A,
}

impl<A: GlobalAlloc> SmallBlocks<A> {
    /// An allocator with nothing taken from `backing` yet.
    pub const fn new(backing: A) -> Self {
        SmallBlocks {
            pools: UnsafeCell::new(Pools {
                free: [ptr::null_mut(); CLASSES],
                next: ptr::null_mut(),
                end: ptr::null_mut(),
            }),
            backing,
        }
    }

    /// A block of `size` bytes from its class: the first free one, else cut from the slab.
    ///
    /// # Safety
    /// No other call into this allocator may be running (single thread, no reentrance).
    #[inline(always)]
    unsafe fn small(&self, size: usize) -> *mut u8 {
        let (class, bytes) = class_of(size);
        // SAFETY: the caller guarantees exclusive access to the pools.
        let pools = unsafe { &mut *self.pools.get() };
        let head = pools.free[class];
        if !head.is_null() {
            // SAFETY: a free block is at least 16 bytes, 16-aligned, and holds its successor.
            pools.free[class] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        if (pools.end as usize) - (pools.next as usize) < bytes {
            // The rest of the old slab (less than a block of this class) is left unused.
            // SAFETY: SLAB and ALIGN make a valid, non-zero layout.
            let slab = unsafe {
                self.backing
                    .alloc(Layout::from_size_align_unchecked(SLAB, ALIGN))
            };
            if slab.is_null() {
                return slab;
            }
            pools.next = slab;
            // SAFETY: `slab` is SLAB bytes long.
            pools.end = unsafe { slab.add(SLAB) };
        }
        let block = pools.next;
        // SAFETY: at least `bytes` are left in the slab (checked above).
        pools.next = unsafe { block.add(bytes) };
        block
    }

    /// Puts a block of `size` bytes back on its class's free list.
    ///
    /// # Safety
    /// `block` came from [`Self::small`] with the same class, and is not used again; no
    /// other call into this allocator may be running.
    #[inline(always)]
    unsafe fn release(&self, block: *mut u8, size: usize) {
        let (class, _) = class_of(size);
        // SAFETY: the caller guarantees exclusive access to the pools.
        let pools = unsafe { &mut *self.pools.get() };
        // SAFETY: the block is at least 16 bytes and 16-aligned, and now ours.
        unsafe { block.cast::<*mut u8>().write(pools.free[class]) };
        pools.free[class] = block;
    }
}

// SAFETY (for every method): the callers of a `GlobalAlloc` uphold its contract (layouts of
// non-zero size, blocks freed with the layout they were allocated with); exclusive access to
// the pools is the caller's too (`SmallBlocks` is not `Sync`; `GuestAllocator` is shared only
// in single-threaded guests).
unsafe impl<A: GlobalAlloc> GlobalAlloc for SmallBlocks<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_small(&layout) {
            unsafe { self.small(layout.size()) }
        } else {
            unsafe { self.backing.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_small(&layout) {
            let block = unsafe { self.small(layout.size()) };
            if !block.is_null() {
                unsafe { block.write_bytes(0, layout.size()) };
            }
            block
        } else {
            unsafe { self.backing.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        if is_small(&layout) {
            unsafe { self.release(block, layout.size()) }
        } else {
            unsafe { self.backing.dealloc(block, layout) }
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `GlobalAlloc::realloc`'s contract: the new size, rounded up to the
        // alignment, does not overflow isize.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (is_small(&layout), is_small(&new)) {
            (true, true) if class_of(layout.size()).0 == class_of(new_size).0 => block,
            (false, false) => unsafe { self.backing.realloc(block, layout, new_size) },
            _ => {
                let moved = unsafe { self.alloc(new) };
                if !moved.is_null() {
                    let keep = layout.size().min(new_size);
                    unsafe { ptr::copy_nonoverlapping(block, moved, keep) };
                    unsafe { self.dealloc(block, layout) };
                }
                moved
            }
        }
    }
}

/// The global allocator of a model built for a single-threaded Wasm target: [`SmallBlocks`]
/// over the system allocator. The SDK installs it (feature `allocator`, on by default).
pub struct GuestAllocator(SmallBlocks<System>);

impl GuestAllocator {
    /// The allocator, with nothing allocated yet.
    pub const fn new() -> Self {
        GuestAllocator(SmallBlocks::new(System))
    }
}

impl Default for GuestAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: a Wasm target without the `atomics` feature has one thread, so the allocator is
// never called from two threads at once; it does not call itself back.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl Sync for GuestAllocator {}

// SAFETY: forwards to `SmallBlocks`, whose contract is the same.
unsafe impl GlobalAlloc for GuestAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { self.0.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { self.0.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { self.0.dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { self.0.realloc(block, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts what reaches the backing allocator.
    #[derive(Default)]
    struct Counting {
        calls: std::cell::Cell<usize>,
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            self.calls.set(self.calls.get() + 1);
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
            unsafe { System.dealloc(block, layout) }
        }
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("valid layout")
    }

    #[test]
    fn classes_cover_every_small_size_with_little_waste() {
        let mut last = (0, 0);
        for size in 1..=SMALL_MAX {
            let (class, bytes) = class_of(size);
            assert!(class < CLASSES, "size {size}");
            assert!(
                bytes >= size && bytes % ALIGN == 0,
                "size {size} got {bytes}"
            );
            assert!(
                bytes - size < if size <= 256 { 16 } else { 64 },
                "size {size}"
            );
            assert!(
                class >= last.0 && bytes >= last.1,
                "classes grow with the size"
            );
            last = (class, bytes);
        }
        assert_eq!(class_of(SMALL_MAX), (CLASSES - 1, SMALL_MAX));
    }

    #[test]
    fn blocks_do_not_overlap_and_keep_their_bytes() {
        let a = SmallBlocks::new(System);
        // Every size class and some large blocks, each filled with its own byte.
        let sizes: Vec<usize> = (1..=40).map(|i| i * 37 % 1500 + 1).collect();
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        for round in 0..3u8 {
            for (i, &size) in sizes.iter().enumerate() {
                let l = layout(size, if i % 5 == 0 { 8 } else { 1 });
                let p = unsafe { a.alloc(l) };
                assert!(!p.is_null());
                assert_eq!(p as usize % l.align(), 0);
                let fill = (i as u8).wrapping_mul(7).wrapping_add(round);
                unsafe { p.write_bytes(fill, size) };
                live.push((p, l, fill));
            }
            // Free every other block, so the next round reuses them.
            let mut kept = Vec::new();
            for (j, b) in live.drain(..).enumerate() {
                if j % 2 == 0 {
                    unsafe { a.dealloc(b.0, b.1) };
                } else {
                    kept.push(b);
                }
            }
            live = kept;
        }
        for (p, l, fill) in &live {
            let bytes = unsafe { std::slice::from_raw_parts(*p, l.size()) };
            assert!(bytes.iter().all(|b| b == fill), "a block was overwritten");
        }
        for (p, l, _) in live {
            unsafe { a.dealloc(p, l) };
        }
    }

    #[test]
    fn a_freed_block_is_reused_by_its_class_and_slabs_are_shared() {
        let a = SmallBlocks::new(Counting::default());
        let l = layout(24, 8);
        let first = unsafe { a.alloc(l) };
        unsafe { a.dealloc(first, l) };
        // 17..=32 bytes is the same class: the freed block comes back.
        let again = unsafe { a.alloc(layout(30, 1)) };
        assert_eq!(again, first);
        // One slab serves thousands of small blocks of any class.
        let blocks: Vec<_> = (0..2000)
            .map(|i| unsafe { a.alloc(layout(1 + i % 100, 1)) })
            .collect();
        // 116,480 bytes once rounded up to their classes: two slabs of 64 KiB.
        assert_eq!(a.backing.calls.get(), 2);
        for (i, b) in blocks.into_iter().enumerate() {
            unsafe { a.dealloc(b, layout(1 + i % 100, 1)) };
        }
    }

    #[test]
    fn large_and_overaligned_blocks_go_to_the_backing_allocator() {
        let a = SmallBlocks::new(Counting::default());
        for l in [
            layout(SMALL_MAX + 1, 1),
            layout(64, 64),
            layout(1 << 20, 16),
        ] {
            let before = a.backing.calls.get();
            let p = unsafe { a.alloc(l) };
            assert_eq!(a.backing.calls.get(), before + 1, "{l:?}");
            assert_eq!(p as usize % l.align(), 0);
            unsafe { a.dealloc(p, l) };
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_across_classes_and_into_large_blocks() {
        let a = SmallBlocks::new(System);
        let mut l = layout(10, 1);
        let mut p = unsafe { a.alloc(l) };
        unsafe { p.copy_from_nonoverlapping(b"0123456789".as_ptr(), 10) };
        // Within its class the block stays where it is.
        let same = unsafe { a.realloc(p, l, 16) };
        assert_eq!(same, p);
        l = layout(16, 1);
        for new_size in [100, 700, 5000, 3000, 500, 12] {
            p = unsafe { a.realloc(p, l, new_size) };
            assert!(!p.is_null());
            l = layout(new_size, 1);
            let head = unsafe { std::slice::from_raw_parts(p, 10) };
            assert_eq!(
                head, b"0123456789",
                "after growing or shrinking to {new_size}"
            );
        }
        let z = unsafe { a.alloc_zeroed(layout(200, 8)) };
        assert!(
            unsafe { std::slice::from_raw_parts(z, 200) }
                .iter()
                .all(|b| *b == 0)
        );
        unsafe { a.dealloc(z, layout(200, 8)) };
        unsafe { a.dealloc(p, l) };
    }
}
