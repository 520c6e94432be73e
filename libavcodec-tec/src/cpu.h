/* The CPU features libtec's kernels choose from.
 *
 * Every kernel path computes the same bits (doc/design.md, "Bit-identical
 * reconstruction"), so the choice only changes speed.  Tests pin a path to
 * prove it: the environment variable TEC_CPU_FLAGS masks what the CPU has,
 * as dav1d's checkasm does with its CPU mask.
 *
 *   TEC_CPU_FLAGS unset    every feature the CPU has
 *   TEC_CPU_FLAGS=none     the portable C paths only (also "0" or "")
 *   TEC_CPU_FLAGS=avx2     at most AVX2 (a comma-separated list of names)
 *
 * A name libtec does not know enables nothing, so a typo can only ever
 * pin the portable path, never run a path the list did not name. */
#ifndef TEC_CPU_H
#define TEC_CPU_H

enum {
    TEC_CPU_AVX2 = 1 << 0,  /* x86-64 AVX2 (integer and float kernels) */
};

/* The features detected on this CPU, masked by TEC_CPU_FLAGS; read once. */
unsigned tec_cpu_flags(void);

/* Comma-separated names of the features in flags ("none" for 0), for the
 * tool's version output and test logs. */
const char *tec_cpu_flags_name(unsigned flags);

#endif
