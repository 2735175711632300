//! Hostile lengths never turn into big allocations. A counting allocator records the
//! largest single allocation each thread makes while decoding crafted input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;

use sy_delta::{Signature, apply, apply_limited};

struct LargestAllocation;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping
// only touches a const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(layout.size())));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(new_size)));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Runs `f` and returns the largest allocation it made on this thread.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.with(|largest| largest.set(0));
    f();
    LARGEST.with(Cell::get)
}

const BOUND: usize = 1 << 20;

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

#[test]
fn deltas_declaring_huge_lengths_allocate_little() {
    let basis = vec![7u8; 4096];
    for len in [1u64 << 32, u64::MAX >> 1, u64::MAX] {
        for tag in [0x01u8, 0x02] {
            let mut delta = b"SYD\x01".to_vec();
            delta.push(tag);
            if tag == 0x01 {
                delta.extend(varint(0));
            }
            delta.extend(varint(len - 1));
            delta.extend_from_slice(&[0u8; 64]);
            let largest = largest_allocation(|| {
                assert!(apply(Cursor::new(&basis), &delta[..], &mut Vec::new()).is_err());
                assert!(
                    apply_limited(Cursor::new(&basis), &delta[..], &mut Vec::new(), 1 << 30)
                        .is_err()
                );
            });
            assert!(
                largest <= BOUND,
                "op {tag:#x} len {len}: allocated {largest} bytes"
            );
        }
    }
}

#[test]
fn signatures_declaring_huge_block_counts_allocate_little() {
    for (block_size, file_len) in [(1u32, (1u64 << 32) - 1), (700, u64::MAX / 2), (1, 1 << 31)] {
        let mut bytes = b"SYSG\x01\x10\x00\x00".to_vec();
        bytes.extend_from_slice(&block_size.to_le_bytes());
        bytes.extend_from_slice(&0u64.to_le_bytes());
        bytes.extend_from_slice(&file_len.to_le_bytes());
        bytes.extend_from_slice(&[0u8; 200]);
        let largest = largest_allocation(|| {
            assert!(Signature::from_bytes(&bytes).is_err());
            assert!(Signature::read_from(&mut &bytes[..], u64::MAX).is_err());
        });
        assert!(
            largest <= BOUND,
            "block {block_size} × {file_len}: allocated {largest} bytes"
        );
    }
}
