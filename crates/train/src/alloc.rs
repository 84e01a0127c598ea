//! The memory allocator setting for training.

/// Keeps freed memory in the process (glibc malloc: no `mmap` for large blocks, no trimming
/// of the heap). A training step allocates and frees the same activation-sized buffers
/// (tens of MB each) every step; by default glibc serves each from a fresh `mmap` and
/// unmaps it on free, so every step page-faults its activations in again: a perf profile of
/// a ResNet50 step spent 15% of its time in the kernel (page faults, page clearing),
/// PyTorch's Python process 10%. Kept, the buffers are reused: ResNet50 steps 12% faster in
/// the same run (BENCHMARKS.md). The process keeps its peak heap instead of returning it
/// between steps. Elsewhere than glibc this does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; both are valid options.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
