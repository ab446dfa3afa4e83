// Keep large freed blocks in the process heap so that they are reused, not returned to the OS.
//
// glibc serves blocks above its mmap threshold (128 KiB, raised adaptively up to 32 MiB) with a
// fresh mmap and unmaps them on free, and trims the heap top beyond its trim threshold. A
// training step allocates many activation-sized numpy arrays per op, so each one came back as
// fresh pages and paid a first-touch fault per 4 KiB (~2 us each here): a LeNet step at batch 64
// spent ~25 % of its time in page faults. Raising both thresholds keeps those pages mapped and
// recycled, as a framework's caching allocator would. This is process-wide (it also serves any
// other library in the process); DLK_MALLOC_TUNING=0 in the environment leaves glibc as it is.
#pragma once

namespace dlk {

// Applies the tuning once (glibc only); returns whether it is in effect.
bool tune_malloc_for_reuse();

}  // namespace dlk
