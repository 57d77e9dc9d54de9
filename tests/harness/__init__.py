"""
harness - what every suite under tests/ and bench/run drives the real stack
with. Python 3 standard library only; a suite puts tests/ on sys.path and
imports the modules it needs:

  core     TestFailure, check, check_eq; the repository's paths; SHOAL_BIN;
           the time scale of a sanitizer build
  ports    the one port policy: free loopback ports below the kernel's
           ephemeral range
  procs    processes by pid: pid files, alive, stop
  stack    Stack: deploy/local/stack up/status/scale/roll/down in a run dir
           of its own, the pieces by their pid files, Redis and worker
           servers stopped and started again, workers of a test's own
  resp     the RESP client and the MONITOR reader
  fcgi     the FastCGI client, and every worker thread driven directly
  web      the HTTP client: a browser with a cookie jar and form tokens
  sid      session cookies: their parts, and the Redis key they name
  load     signed-in users, and the bounded load generator
  runner   the runner: one line per test, "N passed, M failed" at the end
"""
