/*
 * sandbox.h - confining the worker once it serves: no_new_privs, and a
 * seccomp filter (libseccomp) that allows only the system calls the worker
 * makes after start-up. Any other call ends the whole process with SIGSYS.
 * The list, and how it was found, is in sandbox.c.
 */
#ifndef SANDBOX_H
#define SANDBOX_H

#include <stddef.h>

/*
 * Sets no_new_privs and loads the filter into every thread of the process
 * (SECCOMP_FILTER_FLAG_TSYNC), so call it once start-up is done: keyring
 * and templates loaded, the listening socket open, the threads started.
 * Returns 0, or -1 with the reason in err. Nothing is logged.
 */
int	sandbox_install(char *err, size_t errsz)
	    __attribute__((warn_unused_result));

/*
 * What the worker calls: installs the filter when on is 1, except in
 * sanitizer builds (see sandbox.c), and logs one line saying whether the
 * sandbox is on. Returns 0, or -1 with the reason in err: the worker must
 * then not serve.
 */
int	sandbox_enter(int on, char *err, size_t errsz)
	    __attribute__((warn_unused_result));

#endif
