/*
 * Shim loaded (RTLD_GLOBAL) before the libzt 1.8.4 CPython 3.9 wheel's shared
 * object so that it can be dlopen()ed from a newer Python via ctypes.
 *
 * The wheel leaves exactly these symbols undefined:
 *   - ZeroTier::LinuxNetLink::LinuxNetLink()            (complete-object ctor)
 *   - ZeroTier::LinuxNetLink::~LinuxNetLink()           (complete-object dtor)
 *   - ZeroTier::LinuxNetLink::delRoute(InetAddress const&, InetAddress const&,
 *                                      InetAddress const&, char const*)
 *   - _PyTime_AsTimeval_noraise  (private CPython helper removed in 3.11)
 *
 * libzt runs its own userspace stack and never touches OS routes, so the
 * netlink members are no-ops.  The mangled C++ names are ordinary C
 * identifiers, so plain C is enough; member functions receive `this` as
 * their first argument.
 *
 * Build: cc -shared -fPIC -O2 -o libztstub.so stub.c
 */
#include <stdint.h>
#include <sys/time.h>

void _ZN8ZeroTier12LinuxNetLinkC1Ev(void *self) { (void)self; }

void _ZN8ZeroTier12LinuxNetLinkD1Ev(void *self) { (void)self; }

void _ZN8ZeroTier12LinuxNetLink8delRouteERKNS_11InetAddressES3_S3_PKc(
    void *self, const void *target, const void *via, const void *src, const char *ifname)
{
    (void)self; (void)target; (void)via; (void)src; (void)ifname;
}

/*
 * CPython 3.9 semantics: convert a nanosecond count to a struct timeval,
 * rounding the sub-microsecond remainder according to `mode`
 * (0 floor, 1 ceiling, 2 half-even, 3 away from zero).  Returns 0, or -1
 * if the seconds do not fit in time_t (never on 64-bit Linux).
 */
int _PyTime_AsTimeval_noraise(int64_t ns, struct timeval *tv, int mode)
{
    int64_t us = ns / 1000;
    int64_t rem = ns % 1000; /* same sign as ns */

    if (rem != 0) {
        switch (mode) {
        case 0: /* floor */
            if (rem < 0) us -= 1;
            break;
        case 1: /* ceiling */
            if (rem > 0) us += 1;
            break;
        case 2: { /* half to even */
            int64_t mag = rem < 0 ? -rem : rem;
            int up = mag > 500 || (mag == 500 && (us & 1) != 0);
            if (up) us += (rem < 0) ? -1 : 1;
            break;
        }
        default: /* away from zero */
            us += (rem < 0) ? -1 : 1;
            break;
        }
    }

    int64_t sec = us / 1000000;
    int64_t usec = us % 1000000;
    if (usec < 0) {
        usec += 1000000;
        sec -= 1;
    }
    if (tv) {
        tv->tv_sec = (time_t)sec;
        tv->tv_usec = (suseconds_t)usec;
    }
    return 0;
}
