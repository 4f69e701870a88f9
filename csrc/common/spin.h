/* The spin lock of the native abuse tables (csrc/rrl/rrl.c, csrc/cookies/cookies.c): held for a few
   dozen instructions, so spinning beats sleeping; but a holder the scheduler took off its
   CPU would make others spin a whole time slice, so after a while a waiter yields. */
#ifndef GD_FASTSPIN_H
#define GD_FASTSPIN_H

#include <sched.h>
#include <stdatomic.h>

static inline void gd_spin_lock(atomic_flag *lock)
{
    unsigned spins = 0;
    while (atomic_flag_test_and_set_explicit(lock, memory_order_acquire))
        if (++spins % 64 == 0)
            sched_yield();
}

static inline void gd_spin_unlock(atomic_flag *lock)
{
    atomic_flag_clear_explicit(lock, memory_order_release);
}

#endif
