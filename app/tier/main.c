/*
 * main.c - the shoal command, shoal_main(): serve an app (the default),
 * keygen, user add, session list/revoke, version, --help. An app's main()
 * calls it with the app (shoal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "arena.h"
#include "assets.h"
#include "config.h"
#include "db.h"
#include "index.h"
#include "keyring.h"
#include "log.h"
#include "metrics_server.h"
#include "migrate.h"
#include "oom.h"
#include "pwhash.h"
#include "redis.h"
#include "route.h"
#include "template.h"
#include "users.h"
#include "worker.h"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "0.0.0"
#endif

static void
usage(FILE *f)
{
	fputs("usage: shoal [--listen HOST:PORT | --listen /path.sock]\n"
	    "       shoal keygen [--id N]\n"
	    "       shoal user add NAME        (password on stdin)\n"
	    "       shoal session list USER\n"
	    "       shoal session revoke USER ID | shoal session revoke USER --all\n"
	    "       shoal db migrate | shoal db status   (SHOAL_DB_ADMIN)\n"
	    "       shoal metrics [DIR]        what /metrics answers [SHOAL_METRICS_DIR]\n"
	    "       shoal version | shoal --version\n"
	    "\n"
	    "Without --listen, shoal serves FastCGI on the socket it was given\n"
	    "as fd 0 (spawn-fcgi).\n\n", f);
	config_usage(f);
}

/* Exit status 2 and one line: how bad configuration ends the program. */
static int
bad_config(const char *err)
{
	const char	*p;

	/* One line, whatever a value or path in it held. */
	fputs("shoal: ", stderr);
	for (p = err; *p != '\0'; p++)
		fputc((unsigned char)*p < 0x20 ? '?' : *p, stderr);
	fputc('\n', stderr);
	return 2;
}

static int
cmd_keygen(int argc, char **argv)
{
	char		 line[128];
	unsigned char	 rnd;
	long		 id;
	char		*end;

	if (argc == 2 && strcmp(argv[0], "--id") == 0) {
		id = strtol(argv[1], &end, 10);
		if (*argv[1] == '\0' || *end != '\0' || id < 1 || id > 255)
			return bad_config("keygen: --id must be 1 to 255");
	} else if (argc == 0) {
		/* A random id, so two keys made for a rotation rarely clash;
		 * the keyring refuses duplicates anyway. */
		do
			randombytes_buf(&rnd, 1);
		while (rnd == 0);
		id = rnd;
	} else {
		usage(stderr);
		return 2;
	}
	if (keyring_line(line, sizeof line, (uint8_t)id) != 0)
		return 1;
	fputs(line, stdout);
	sodium_memzero(line, sizeof line);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
cmd_user_add(const struct config *cfg, const char *name)
{
	char		 pw[256];
	size_t		 n;
	struct db	*db;
	int64_t		 id;
	int		 rc = 1;

	if (!user_name_valid(name)) {
		fprintf(stderr, "shoal: user name must be %d to %d of "
		    "a-z 0-9 _ -\n", USER_NAME_MIN, USER_NAME_MAX);
		return 2;
	}
	if (fgets(pw, sizeof pw, stdin) == NULL) {
		fprintf(stderr, "shoal: no password on stdin\n");
		return 2;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	if (!user_password_valid(pw)) {
		fprintf(stderr, "shoal: password must be %d to %d bytes\n",
		    USER_PASSWORD_MIN, USER_PASSWORD_MAX);
		sodium_memzero(pw, sizeof pw);
		return 2;
	}
	if (cfg->db[0] == '\0') {
		fprintf(stderr, "shoal: accounts need the database: SHOAL_DB "
		    "is not set\n");
		sodium_memzero(pw, sizeof pw);
		return 2;
	}
	db_init(cfg);
	db = db_thread();
	switch (user_create(db, name, pw, &id)) {
	case SHOAL_OK:
		printf("user %s added (account %lld)\n", name, (long long)id);
		rc = 0;
		break;
	case SHOAL_TAKEN:
		fprintf(stderr, "shoal: user %s already exists\n", name);
		break;
	case SHOAL_UNAVAILABLE:
		fprintf(stderr, "shoal: the database does not answer\n");
		break;
	default:
		fprintf(stderr, "shoal: the account could not be added\n");
		break;
	}
	sodium_memzero(pw, sizeof pw);
	db_thread_done();
	return rc;
}

/* shoal session list USER / shoal session revoke USER (ID | --all) */
static int
cmd_session(const struct config *cfg, int argc, char **argv)
{
	struct shoal_session_info *list;
	struct redis		*s;
	struct arena		 a;
	enum shoal_status	 st;
	size_t			 n, i;
	int			 rc = 1;

	if (!((argc == 2 && strcmp(argv[0], "list") == 0) ||
	    (argc == 3 && strcmp(argv[0], "revoke") == 0))) {
		usage(stderr);
		return 2;
	}
	if (!user_name_valid(argv[1])) {
		fprintf(stderr, "shoal: no such user name: %s\n", argv[1]);
		return 2;
	}
	s = redis_new(cfg);
	arena_init(&a);
	if (argc == 2) {
		st = index_list(s, &a, cfg, argv[1], &list, &n);
		for (i = 0; st == SHOAL_OK && i < n; i++)
			printf("%s\tcreated %lld\tlast seen %lld\t%s\n",
			    list[i].id, (long long)list[i].created,
			    (long long)list[i].last_seen, list[i].user_agent);
	} else if (strcmp(argv[2], "--all") == 0) {
		st = index_revoke(s, &a, cfg, argv[1], NULL, "", &n);
		if (st == SHOAL_OK)
			printf("%zu sessions ended\n", n);
	} else {
		st = index_revoke(s, &a, cfg, argv[1], argv[2], NULL, &n);
		if (st == SHOAL_OK && n == 0) {
			fprintf(stderr, "shoal: %s has no session %s\n",
			    argv[1], argv[2]);
			st = SHOAL_REJECT;
		} else if (st == SHOAL_OK)
			printf("session ended\n");
	}
	if (st == SHOAL_OK)
		rc = 0;
	else if (st == SHOAL_UNAVAILABLE)
		fprintf(stderr, "shoal: cannot reach Redis\n");
	arena_free(&a);
	redis_free(s);
	return rc;
}

/* shoal db migrate / shoal db status */
static int
cmd_db(const struct config *cfg, const struct shoal_app *app, int argc,
    char **argv)
{
	if (argc == 1 && strcmp(argv[0], "migrate") == 0)
		return migrate_run(cfg, app, stdout);
	if (argc == 1 && strcmp(argv[0], "status") == 0)
		return migrate_status(cfg, app, stdout);
	usage(stderr);
	return 2;
}

/*
 * shoal metrics [DIR]: the counters of the processes that write into DIR
 * (or SHOAL_METRICS_DIR). Exit 2 without an absolute folder, 1 when it
 * cannot be read.
 */
static int
cmd_metrics(const struct config *cfg, const struct shoal_app *app,
    const char *dir)
{
	char	err[512];

	if (dir == NULL)
		dir = cfg->metrics_dir;
	if (dir == NULL || dir[0] == '\0')
		return bad_config("metrics: no folder: give one, or set "
		    "SHOAL_METRICS_DIR");
	if (dir[0] != '/') {
		snprintf(err, sizeof err, "metrics: %s: not an absolute path",
		    dir);
		return bad_config(err);
	}
	if (metrics_print(dir, app, stdout, err, sizeof err) != 0) {
		fprintf(stderr, "shoal: %s\n", err);
		return 1;
	}
	return 0;
}

/*
 * With SHOAL_DB set, a worker serves only a schema it knows: every
 * migration it carries applied, and nothing else (migrate.h). A database
 * that does not answer is awaited SHOAL_DB_START_WAIT seconds, then the
 * worker gives up with exit status 1, so a supervisor restarts it later.
 */
static int
db_start(const struct shoal_app *app, const struct config *cfg)
{
	char	 err[512];
	int	 rc;

	if (cfg->db[0] == '\0')
		return 0;
	db_init(cfg);
	rc = migrate_check(db_thread(), cfg, app, err, sizeof err);
	db_thread_done();
	if (rc == 2)
		return bad_config(err);
	if (rc != 0)
		fprintf(stderr, "shoal: %s\n", err);
	return rc;
}

/* What an app must give; a missing part is a build mistake. */
static int
app_check(const struct shoal_app *app)
{
	const char	*missing = NULL;

	if (app == NULL)
		missing = "the app";
	else if (app->name == NULL || app->name[0] == '\0')
		missing = "a name";
	else if (app->routes == NULL)
		missing = "routes";
	else if (app->templates == NULL)
		missing = "templates";
	else if (app->data == NULL ||
	    app->data->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC)
		missing = "a session data message descriptor";
	if (missing == NULL)
		return 0;
	fprintf(stderr, "shoal: struct shoal_app: %s is missing\n", missing);
	return -1;
}

static int
serve(const struct shoal_app *app, const struct config *cfg,
    const char *listen)
{
	struct keyring	*keys = xcalloc(1, sizeof *keys);
	char		 err[512];
	int		 rc;

	if (route_table_check(app->routes, err, sizeof err) != 0) {
		free(keys);
		return bad_config(err);
	}
	if (cfg->keyring[0] == '\0') {
		free(keys);
		return bad_config("SHOAL_KEYRING: is required (path of the "
		    "keyring file; make one with: shoal keygen)");
	}
	if (keyring_load(keys, cfg->keyring, err, sizeof err) != 0) {
		char	 line[600];

		snprintf(line, sizeof line, "SHOAL_KEYRING: %s", err);
		free(keys);
		return bad_config(line);
	}
	if (assets_load(cfg->asset_manifest, cfg->static_base, err,
	    sizeof err) != 0) {
		char	 line[600];

		snprintf(line, sizeof line, "SHOAL_ASSET_MANIFEST: %s", err);
		keyring_free(keys);
		free(keys);
		return bad_config(line);
	}
	if (templates_load(app->templates, err, sizeof err) != 0) {
		fprintf(stderr, "shoal: %s\n", err);
		keyring_free(keys);
		free(keys);
		return 1;
	}
	if ((rc = db_start(app, cfg)) != 0) {
		templates_free();
		assets_free();
		keyring_free(keys);
		free(keys);
		return rc;
	}
	if (cfg->db[0] == '\0')
		log_event("warn", "accounts need the database: SHOAL_DB is not "
		    "set; sign-up, sign-in and password changes answer 503");
	users_init();
	rc = worker_run(app, cfg, keys, listen);
	templates_free();
	assets_free();
	return rc;
}

int
shoal_main(int argc, char **argv, const struct shoal_app *app)
{
	struct config	 cfg;
	char		 err[512];
	const char	*listen = NULL;
	int		 rc;

	if (app_check(app) != 0)
		return 2;
	if (sodium_init() < 0) {
		fprintf(stderr, "shoal: libsodium failed to initialise\n");
		return 1;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0)) {
		printf("shoal %s\n", SHOAL_VERSION);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return cmd_keygen(argc - 2, argv + 2);
	if (argc == 3 && strcmp(argv[1], "--listen") == 0)
		listen = argv[2];
	else if (argc >= 2 && !(argc == 4 && strcmp(argv[1], "user") == 0 &&
	    strcmp(argv[2], "add") == 0) && strcmp(argv[1], "session") != 0 &&
	    strcmp(argv[1], "db") != 0 &&
	    !(argc <= 3 && strcmp(argv[1], "metrics") == 0)) {
		usage(stderr);
		return 2;
	}
	if (config_load(&cfg, err, sizeof err) != 0)
		return bad_config(err);
	pwhash_init(cfg.hash_concurrency, cfg.hash_wait_ms);
	if (argc >= 2 && strcmp(argv[1], "session") == 0)
		rc = cmd_session(&cfg, argc - 2, argv + 2);
	else if (argc >= 2 && strcmp(argv[1], "db") == 0)
		rc = cmd_db(&cfg, app, argc - 2, argv + 2);
	else if (argc >= 2 && strcmp(argv[1], "metrics") == 0)
		rc = cmd_metrics(&cfg, app, argc == 3 ? argv[2] : NULL);
	else if (argc == 4)
		rc = cmd_user_add(&cfg, argv[3]);
	else
		rc = serve(app, &cfg, listen);
	config_free(&cfg);
	return rc;
}
