/*
 * sandbox.c - the worker's seccomp filter (see sandbox.h).
 *
 * The table below is every system call the worker makes once it serves:
 * requests, Redis (by address, by name, through Sentinel, reconnects after a
 * restart or a failover), PostgreSQL through libpq (below), SIGHUP keyring reloads, the SIGTERM drain and
 * the /metrics listener. It
 * was found by running the worker under strace -f through the local stack
 * (deploy/local/stack) and directly (TCP and unix sockets, Redis by name, a
 * DNS name, a name with several addresses) while driving every page, and by
 * reading glibc, hiredis, libfcgi and libsodium for the paths a test does
 * not reach (nscd, DNS over TCP, clocks without a vDSO). Start-up calls
 * (exec, dynamic loading, bind, listen, thread creation) are not in it: the
 * filter is loaded after them, so no new thread or process can be made.
 *
 * A call outside the table ends the process (SIGSYS): a worker that does
 * something new must have the call added here, with its reason. Four calls
 * are allowed only with some arguments: socket (the families below),
 * openat (read only: nothing is created or written after start-up), ioctl
 * (FIONREAD), tgkill (threads of this process). mmap and mprotect never
 * make memory executable; asking for it fails with EPERM rather than ending
 * the process, because glibc loads an NSS module (dlopen) if nsswitch.conf
 * changes under a running worker, and a module that fails to load is only
 * skipped.
 *
 * PostgreSQL (libpq, db.c) needs nothing more: a connect (socket, connect,
 * the non-blocking fcntl, setsockopt for TCP_NODELAY and keepalives,
 * getsockopt SO_ERROR, getsockname), poll with a deadline, send and recv
 * (sendto, recvfrom), close; SCRAM's nonce from OpenSSL's generator, which
 * checks getpid for a fork. Found with strace -f while a worker served
 * /healthz/db through PgBouncer, with the replica and then the primary
 * stopped and started again. OpenSSL reads openssl.cnf and seeds its
 * generator once per process: the start-up schema check (main.c) connects
 * before the filter is loaded, so that happens unconfined. A libpq that
 * negotiates TLS (sslmode with a server that offers it) may need more:
 * check with SHOAL_SANDBOX=0 and strace -f.
 *
 * This list is for Debian 12 (glibc 2.36, hiredis 0.14, libfcgi 2.4.2,
 * libsodium 1.0.18, libpq 15). Another libc, or NSS modules other than files and dns,
 * may make other calls: find them with SHOAL_SANDBOX=0 and strace -f.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

/*
 * AddressSanitizer and LeakSanitizer need calls the worker never makes:
 * LSan stops every thread with ptrace at exit, a report reads /proc and
 * runs a symboliser. Sanitizer builds therefore serve without the filter
 * (tests/unit/test_sandbox still loads it in a child); the plain build's
 * tests run every suite with it.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER	1
#endif
#endif

enum rule_action {
	RULE_ALLOW,
	RULE_EPERM,		/* fail the call, keep running */
};

struct rule {
	int			 nr;
	enum rule_action	 action;
	unsigned int		 argc;
	struct scmp_arg_cmp	 arg[2];
	int			 self;	/* arg[0] is compared to getpid() */
};

/* Argument conditions. The kernel passes ints in 64-bit registers whose
 * upper half is not defined: compare only the lower 32 bits. */
#define EQ32(i, v)	{ .arg = (i), .op = SCMP_CMP_MASKED_EQ, \
			    .datum_a = 0xffffffffu, .datum_b = (v) }
#define NONE_OF(i, bits) { .arg = (i), .op = SCMP_CMP_MASKED_EQ, \
			    .datum_a = (bits), .datum_b = 0 }
#define ALL_OF(i, bits)	{ .arg = (i), .op = SCMP_CMP_MASKED_EQ, \
			    .datum_a = (bits), .datum_b = (bits) }

#define ANY(name)		{ SCMP_SYS(name), RULE_ALLOW, 0, { { 0 } }, 0 }
#define IF(name, c)		{ SCMP_SYS(name), RULE_ALLOW, 1, { c }, 0 }
#define IF2(name, c, d)		{ SCMP_SYS(name), RULE_ALLOW, 2, { c, d }, 0 }
#define EPERM_IF(name, c)	{ SCMP_SYS(name), RULE_EPERM, 1, { c }, 0 }
#define SELF(name)		{ SCMP_SYS(name), RULE_ALLOW, 1, \
				    { EQ32(0, 0) }, 1 }

#define OPEN_WRITES	(O_ACCMODE | O_CREAT | O_TRUNC)

static const struct rule rules[] = {
	/* Serving (worker.c, libfcgi): poll over the listening socket and
	 * the kept-alive connections; accept (libfcgi) and accept4 (the drain
	 * takes the backlog); on close libfcgi shuts a connection down and
	 * reads what is left. */
	ANY(poll),
	ANY(accept),
	ANY(accept4),
	ANY(read),
	ANY(write),
	ANY(shutdown),
	ANY(close),
	ANY(fcntl),

	/* Redis (hiredis, redis.c, sentinel.c): a non-blocking connect with
	 * a timeout, TCP_NODELAY and the read and write timeouts, SO_ERROR,
	 * the MSG_PEEK look at an idle connection. */
	IF(socket, EQ32(0, AF_UNIX)),
	IF(socket, EQ32(0, AF_INET)),
	IF(socket, EQ32(0, AF_INET6)),
	ANY(connect),
	ANY(setsockopt),
	ANY(getsockopt),
	ANY(recvfrom),
	ANY(sendto),

	/* Names (glibc getaddrinfo, when a Redis or Sentinel address is a
	 * host name): /etc/hosts, resolv.conf and nsswitch.conf read and
	 * checked for changes (openat, newfstatat, lseek), the host name
	 * (uname); DNS over UDP (sendmmsg sends A and AAAA together) and over
	 * TCP (writev); nscd when it runs (readv, recvmsg); and for a name
	 * with several addresses, the local addresses from a NETLINK_ROUTE
	 * socket (bind, getsockname, recvmsg) to sort them. */
	IF(openat, NONE_OF(2, OPEN_WRITES)),
	ANY(newfstatat),
	ANY(lseek),
	ANY(uname),
	IF(ioctl, EQ32(1, FIONREAD)),
	ANY(sendmmsg),
	ANY(writev),
	ANY(readv),
	ANY(recvmsg),
	IF2(socket, EQ32(0, AF_NETLINK), EQ32(2, NETLINK_ROUTE)),
	ANY(bind),
	ANY(getsockname),

	/* Memory: malloc and realloc (brk, mmap, mremap, madvise), argon2's
	 * working memory, libsodium's guarded allocations for the keyring on
	 * SIGHUP (mprotect, mlock, madvise), thread stacks freed at exit.
	 * Never executable memory. */
	ANY(brk),
	IF(mmap, NONE_OF(2, PROT_EXEC)),
	EPERM_IF(mmap, ALL_OF(2, PROT_EXEC)),
	IF(mprotect, NONE_OF(2, PROT_EXEC)),
	EPERM_IF(mprotect, ALL_OF(2, PROT_EXEC)),
	ANY(munmap),
	ANY(mremap),
	ANY(madvise),
	ANY(mlock),
	ANY(munlock),

	/* Threads and signals: locks and joins (futex); the main thread
	 * takes SIGHUP and SIGTERM with sigwait; at drain SIGUSR2 interrupts
	 * poll (pthread_kill is tgkill to a thread of ours, and abort() is
	 * too); a call interrupted by a stop is restarted; threads and the
	 * process exit. */
	ANY(futex),
	ANY(rt_sigprocmask),
	ANY(rt_sigtimedwait),
	ANY(rt_sigreturn),
	ANY(restart_syscall),
	SELF(tgkill),
	ANY(getpid),
	ANY(gettid),
	ANY(exit),
	ANY(exit_group),

	/* Time and randomness: clocks when the vDSO falls back to the
	 * kernel, usleep at drain and while a reload waits for requests,
	 * session IDs and CSRF nonces (libsodium's randombytes). */
	ANY(clock_gettime),
	ANY(gettimeofday),
	ANY(clock_nanosleep),
	ANY(getrandom),

	/* Drain: the listening socket replaced by /dev/null (openat above). */
	ANY(dup2),

	/* Metrics (metrics_server.c, SHOAL_METRICS_LISTEN): a scrape lists
	 * SHOAL_METRICS_DIR (getdents64) and maps each live process's file
	 * read-only (openat, fcntl F_GETLK, newfstatat, mmap above); accept4,
	 * poll, read, write and setsockopt as for requests. */
	ANY(getdents64),
};

#define NRULES	(sizeof rules / sizeof rules[0])

static int
fail(char *err, size_t errsz, const char *what, int rc)
{
	snprintf(err, errsz, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
	return -1;
}

/*
 * Whether this kernel can end a process from a filter. It cannot under
 * valgrind either, which does not know the seccomp call: there, as on a
 * kernel without seccomp, the worker runs only with SHOAL_SANDBOX=0.
 */
static int
usable(char *err, size_t errsz)
{
	uint32_t	 action = SECCOMP_RET_KILL_PROCESS;

	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0)
		return 0;
	snprintf(err, errsz, "seccomp cannot end a process here (%s): a "
	    "kernel without it, or valgrind; SHOAL_SANDBOX=0 runs without "
	    "the sandbox", strerror(errno));
	return -1;
}

int
sandbox_install(char *err, size_t errsz)
{
	scmp_filter_ctx		 ctx;
	const struct rule	*r;
	struct scmp_arg_cmp	 arg[2];
	uint32_t		 action;
	int			 rc;

	if (usable(err, errsz) != 0)
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return fail(err, errsz, "no_new_privs", errno);
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		snprintf(err, errsz, "seccomp_init failed");
		return -1;
	}
	/* A call made through another ABI (x32, i386) ends the process too. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0) {
		fail(err, errsz, "seccomp bad-arch action", rc);
		goto out;
	}
	/* Every thread, including those already running. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0) {
		fail(err, errsz, "seccomp thread sync", rc);
		goto out;
	}
	/* A binary tree rather than a list: speed only, so a libseccomp
	 * without it is no reason to stop. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (r = rules; r < rules + NRULES; r++) {
		memcpy(arg, r->arg, sizeof arg);
		if (r->self)
			arg[0].datum_b = (scmp_datum_t)getpid();
		action = r->action == RULE_EPERM ? SCMP_ACT_ERRNO(EPERM) :
		    SCMP_ACT_ALLOW;
		if ((rc = seccomp_rule_add_array(ctx, action, r->nr, r->argc,
		    arg)) != 0) {
			char	*name = seccomp_syscall_resolve_num_arch(
			    SCMP_ARCH_NATIVE, r->nr);
			char	 what[64];

			snprintf(what, sizeof what, "seccomp rule for %s",
			    name ? name : "?");
			free(name);
			fail(err, errsz, what, rc);
			goto out;
		}
	}
	if ((rc = seccomp_load(ctx)) != 0)
		fail(err, errsz, "seccomp_load", rc);
out:
	seccomp_release(ctx);
	return rc == 0 ? 0 : -1;
}

int
sandbox_enter(int on, char *err, size_t errsz)
{
	if (!on) {
		log_event("warn", "sandbox off: SHOAL_SANDBOX=0");
		return 0;
	}
#ifdef SANDBOX_SANITIZER
	(void)err;
	(void)errsz;
	log_event("warn", "sandbox off: sanitizer build (the sanitizers "
	    "need calls the filter does not allow)");
	return 0;
#else
	if (sandbox_install(err, errsz) != 0)
		return -1;
	log_event("info", "sandbox on: no_new_privs, seccomp filter of %zu "
	    "rules, any other system call ends the process", NRULES);
	return 0;
#endif
}
