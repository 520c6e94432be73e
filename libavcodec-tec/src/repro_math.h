/* exp and log that give the same bits on every machine.
 *
 * A libm's exp and log may differ in the last bit between libraries,
 * versions and even CPUs of one library (glibc picks an FMA variant at run
 * time on x86-64).  What decides a decoded sample must not: these use only
 * IEEE additions, multiplications and divisions in a fixed order, plus the
 * exact frexp, ldexp and floor.  Their relative error stays below 1e-14,
 * far below the float precision the models work in. */
#ifndef TEC_REPRO_MATH_H
#define TEC_REPRO_MATH_H

/* Natural logarithm of a positive finite x (other inputs: NaN). */
double tec_repro_log(double x);
/* e^x for |x| <= 700 (beyond: clamped to that range). */
double tec_repro_exp(double x);

#endif
