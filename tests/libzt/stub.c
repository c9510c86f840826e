/*
 * Shim loaded (RTLD_GLOBAL) before the libzt 1.8.4 CPython 3.9 wheel's shared
 * object so that it can be dlopen()ed from a newer Python via ctypes.
 *
 * 1. The wheel leaves exactly these symbols undefined:
 *   - ZeroTier::LinuxNetLink::LinuxNetLink()            (complete-object ctor)
 *   - ZeroTier::LinuxNetLink::~LinuxNetLink()           (complete-object dtor)
 *   - ZeroTier::LinuxNetLink::delRoute(InetAddress const&, InetAddress const&,
 *                                      InetAddress const&, char const*)
 *   - _PyTime_AsTimeval_noraise  (private CPython helper removed in 3.11)
 *   libzt runs its own userspace stack and never touches OS routes, so the
 *   netlink members are no-ops.  The mangled C++ names are ordinary C
 *   identifiers, so plain C is enough; member functions receive `this` as
 *   their first argument.
 *
 * 2. A locking fix for IPv6 (see the bottom of this file): libzt 1.8.4 feeds
 *   received IPv6 frames to lwIP's ethernet_input() from the ZeroTier thread
 *   without taking the lwIP core lock (IPv4 frames go through tcpip_input(),
 *   which does take it).  TCP over IPv6 then races with socket calls and
 *   crashes now and then (seen: SIGSEGV in tcp_output() under lwip_send()).
 *   ethernet_input is exported and reached through the GOT/PLT, so the
 *   definition below takes its place; zt.py hands over the real one (and
 *   tcpip_inpkt and the lock) with ztcd_stub_init() right after loading.
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

/* ---- IPv6 input locking fix -------------------------------------------- */

#include <pthread.h>
#include <unistd.h>
#include <sys/syscall.h>

typedef signed char lwip_err_t;                 /* lwIP err_t is s8_t */
typedef lwip_err_t (*lwip_input_fn)(void *pbuf, void *netif);
typedef lwip_err_t (*lwip_inpkt_fn)(void *pbuf, void *netif, lwip_input_fn fn);

#define LWIP_ERR_IF (-12)                       /* caller then frees the pbuf */

static lwip_input_fn real_ethernet_input;
static lwip_inpkt_fn real_tcpip_inpkt;
/* The wheel's `lock_tcpip_core` (an lwIP sys_mutex_t, i.e. a pointer to a
 * struct whose only member is a pthread_mutex_t). */
static pthread_mutex_t **core_lock;

lwip_err_t ethernet_input(void *pbuf, void *netif);

/* Called once from zt.py with the wheel's own ethernet_input, tcpip_inpkt and
 * &lock_tcpip_core. */
int ztcd_stub_init(void *eth_input, void *inpkt, void *lock_var)
{
    if (!eth_input || !inpkt || !lock_var || eth_input == (void *)ethernet_input)
        return -1;
    real_ethernet_input = (lwip_input_fn)eth_input;
    real_tcpip_inpkt = (lwip_inpkt_fn)inpkt;
    core_lock = (pthread_mutex_t **)lock_var;
    return 0;
}

/* Whether the calling thread holds the lwIP core lock.  glibc records the
 * owner's TID in every mutex it locks (also default, non-recursive ones); a
 * racy read is fine: only this thread can make it equal to its own TID. */
static int core_lock_held_here(void)
{
    pthread_mutex_t *m = core_lock ? *core_lock : NULL;
    return m && m->__data.__owner == (int)syscall(SYS_gettid);
}

/*
 * Every frame for the wheel's lwIP ethernet_input() comes through here:
 *  - IPv4 frames via tcpip_input() -> tcpip_inpkt(), already under the lock;
 *  - IPv6 frames straight from the ZeroTier thread, without the lock: take it
 *    by going through tcpip_inpkt() (which, as built, locks, calls, unlocks);
 *  - IPv6 frames that ZeroTier answers locally while lwIP is transmitting
 *    (its NDP emulation replies synchronously to a neighbour solicitation),
 *    i.e. on a thread that already holds the lock: call straight through, as
 *    the mutex is not recursive.
 */
lwip_err_t ethernet_input(void *pbuf, void *netif)
{
    if (!real_ethernet_input || !real_tcpip_inpkt)
        return LWIP_ERR_IF;
    if (core_lock_held_here())
        return real_ethernet_input(pbuf, netif);
    return real_tcpip_inpkt(pbuf, netif, real_ethernet_input);
}
