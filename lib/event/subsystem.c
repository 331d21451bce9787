/*
 * Subsystem registry: subsystems register themselves (constructors), declare
 * dependencies by name, and are started in dependency order and stopped in
 * reverse, one at a time, on the app thread.
 *
 * Dependencies are declared by constructors that may run before the
 * subsystem they name registers, so they are kept by name and resolved when
 * the order is computed (subsystem_sort), which reports an unknown name or a
 * cycle by name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "axon/log.h"
#include "axon/rpc.h"
#include "event_internal.h"

#define SUBSYSTEM_MAX 64
#define SUBSYSTEM_DEPEND_MAX 256

struct subsystem_depend {
	const char *name;
	const char *depends_on;
};

enum visit_mark {
	MARK_NONE,
	MARK_VISITING, /* on the current DFS path: meeting it again is a cycle */
	MARK_DONE,
};

static struct axon_subsystem *g_registry;
static struct axon_subsystem **g_registry_tail = &g_registry;
static struct subsystem_depend g_depends[SUBSYSTEM_DEPEND_MAX];
static uint32_t g_depend_count;
static bool g_depend_overflow;
static const char *g_duplicate; /* a name registered twice */

/* The start order (valid after subsystem_sort). */
static struct axon_subsystem *g_order[SUBSYSTEM_MAX];
static uint32_t g_order_count;
static bool g_sorted;

/* Sequencing state, app thread only. */
static uint32_t g_next_init;   /* index in g_order of the one starting */
static uint32_t g_started;     /* g_order[0 .. g_started) have started */
static bool g_init_running;
static bool g_fini_running;
static void (*g_init_cb)(void *ctx, int rc);
static void *g_init_ctx;
static void (*g_fini_cb)(void);

static struct axon_subsystem *registry_find(const char *name)
{
	struct axon_subsystem *s;

	for (s = g_registry; s != NULL; s = s->next) {
		if (strcmp(s->name, name) == 0) {
			return s;
		}
	}
	return NULL;
}

void axon_subsystem_register(struct axon_subsystem *subsystem)
{
	if (registry_find(subsystem->name) != NULL) {
		/* Reported by subsystem_sort(): logging may not be ready yet. */
		g_duplicate = subsystem->name;
		return;
	}
	subsystem->next = NULL;
	*g_registry_tail = subsystem;
	g_registry_tail = &subsystem->next;
	g_sorted = false;
}

void axon_subsystem_add_depend(const char *name, const char *depends_on)
{
	if (g_depend_count == SUBSYSTEM_DEPEND_MAX) {
		/* Reported by subsystem_sort(): logging may not be ready yet. */
		g_depend_overflow = true;
		return;
	}
	g_depends[g_depend_count].name = name;
	g_depends[g_depend_count].depends_on = depends_on;
	g_depend_count++;
	g_sorted = false;
}

static int registry_index(const struct axon_subsystem *subsystem)
{
	const struct axon_subsystem *s;
	int i = 0;

	for (s = g_registry; s != NULL; s = s->next, i++) {
		if (s == subsystem) {
			return i;
		}
	}
	return -1;
}

static int check_depends(void)
{
	uint32_t i;

	if (g_depend_overflow) {
		AXON_ERRLOG("more than %d subsystem dependencies declared", SUBSYSTEM_DEPEND_MAX);
		return -EINVAL;
	}
	for (i = 0; i < g_depend_count; i++) {
		if (registry_find(g_depends[i].name) == NULL) {
			AXON_ERRLOG("a dependency is declared for unknown subsystem '%s' (on '%s')",
				    g_depends[i].name, g_depends[i].depends_on);
			return -EINVAL;
		}
		if (registry_find(g_depends[i].depends_on) == NULL) {
			AXON_ERRLOG("subsystem '%s' depends on unknown subsystem '%s'",
				    g_depends[i].name, g_depends[i].depends_on);
			return -EINVAL;
		}
	}
	return 0;
}

/* Log the cycle: the DFS path from where `again` first appears, back to it. */
static void report_cycle(struct axon_subsystem **path, uint32_t depth,
			 const struct axon_subsystem *again)
{
	char buf[512];
	size_t off = 0;
	uint32_t i = 0;

	while (i < depth && path[i] != again) {
		i++;
	}
	for (; i < depth && off < sizeof(buf); i++) {
		off += snprintf(buf + off, sizeof(buf) - off, "%s -> ", path[i]->name);
	}
	if (off < sizeof(buf)) {
		snprintf(buf + off, sizeof(buf) - off, "%s", again->name);
	}
	AXON_ERRLOG("subsystem dependency cycle: %s", buf);
}

/* Depth-first: dependencies (in declaration order) before the subsystem. */
static int visit(struct axon_subsystem *s, enum visit_mark *marks,
		 struct axon_subsystem **path, uint32_t depth)
{
	int idx = registry_index(s);
	uint32_t i;
	int rc;

	if (marks[idx] == MARK_DONE) {
		return 0;
	}
	if (marks[idx] == MARK_VISITING) {
		report_cycle(path, depth, s);
		return -EINVAL;
	}
	marks[idx] = MARK_VISITING;
	path[depth] = s;
	for (i = 0; i < g_depend_count; i++) {
		if (strcmp(g_depends[i].name, s->name) != 0) {
			continue;
		}
		rc = visit(registry_find(g_depends[i].depends_on), marks, path, depth + 1);
		if (rc != 0) {
			return rc;
		}
	}
	marks[idx] = MARK_DONE;
	g_order[g_order_count++] = s;
	return 0;
}

int subsystem_sort(void)
{
	enum visit_mark marks[SUBSYSTEM_MAX] = {MARK_NONE};
	struct axon_subsystem *path[SUBSYSTEM_MAX];
	struct axon_subsystem *s;
	int rc, n = 0;

	if (g_duplicate != NULL) {
		AXON_ERRLOG("subsystem '%s' is registered twice", g_duplicate);
		return -EINVAL;
	}
	for (s = g_registry; s != NULL; s = s->next) {
		n++;
	}
	if (n > SUBSYSTEM_MAX) {
		AXON_ERRLOG("more than %d subsystems registered", SUBSYSTEM_MAX);
		return -EINVAL;
	}
	rc = check_depends();
	if (rc != 0) {
		return rc;
	}
	g_order_count = 0;
	for (s = g_registry; s != NULL; s = s->next) {
		rc = visit(s, marks, path, 0);
		if (rc != 0) {
			g_order_count = 0;
			g_sorted = false;
			return rc;
		}
	}
	g_sorted = true;
	return 0;
}

void subsystem_reset(void)
{
	g_order_count = 0;
	g_sorted = false;
	g_next_init = 0;
	g_started = 0;
	g_init_running = false;
	g_fini_running = false;
}

bool subsystem_init_in_progress(void)
{
	return g_init_running;
}

/* ---- queries ------------------------------------------------------------- */

struct axon_subsystem *axon_subsystem_get_next(struct axon_subsystem *prev)
{
	uint32_t i;

	if (!g_sorted && subsystem_sort() != 0) {
		return NULL;
	}
	if (prev == NULL) {
		return g_order_count > 0 ? g_order[0] : NULL;
	}
	for (i = 0; i + 1 < g_order_count; i++) {
		if (g_order[i] == prev) {
			return g_order[i + 1];
		}
	}
	return NULL;
}

struct axon_subsystem *axon_subsystem_find(const char *name)
{
	return name != NULL ? registry_find(name) : NULL;
}

uint32_t axon_subsystem_get_depends(struct axon_subsystem *s, const char **names, uint32_t max)
{
	uint32_t i, n = 0;

	for (i = 0; i < g_depend_count; i++) {
		if (strcmp(g_depends[i].name, s->name) != 0) {
			continue;
		}
		if (n < max) {
			names[n] = g_depends[i].depends_on;
		}
		n++;
	}
	return n < max ? n : max;
}

/* ---- start and stop ------------------------------------------------------ */

static void init_finish(int rc)
{
	void (*cb)(void *ctx, int rc) = g_init_cb;

	g_init_running = false;
	g_init_cb = NULL;
	if (rc == 0) {
		app_subsystems_started();
	}
	cb(g_init_ctx, rc);
	/* A shutdown requested meanwhile waited for us. */
	app_resume_shutdown();
}

static void init_step(void *ctx)
{
	struct axon_subsystem *s;

	if (app_shutdown_requested()) {
		AXON_NOTICELOG("shutdown requested: not starting the remaining subsystems");
		init_finish(-ECANCELED);
		return;
	}
	if (g_next_init == g_order_count) {
		init_finish(0);
		return;
	}
	s = g_order[g_next_init];
	AXON_INFOLOG("starting subsystem %s", s->name);
	if (s->init != NULL) {
		s->init();
	} else {
		axon_subsystem_init_next(0);
	}
}

void axon_subsystem_init_next(int rc)
{
	struct axon_subsystem *s;

	if (!g_init_running || g_next_init >= g_order_count) {
		AXON_ERRLOG("axon_subsystem_init_next() called while no subsystem is starting");
		return;
	}
	s = g_order[g_next_init];
	if (rc != 0) {
		AXON_ERRLOG("subsystem %s failed to start: %s", s->name, strerror(-rc));
		init_finish(rc);
		return;
	}
	g_next_init++;
	g_started = g_next_init;
	/* Through a message, so that a subsystem calling us from its init()
	 * does not start the next one inside its own stack frame. */
	if (axon_thread_send_msg(axon_thread_get_app_thread(), init_step, NULL) != 0) {
		AXON_ERRLOG("cannot queue the start of the next subsystem");
		init_finish(-ENOMEM);
	}
}

void axon_app_start_subsystems(void (*cb)(void *ctx, int rc), void *ctx)
{
	int rc;

	if (g_init_running || g_started > 0 || axon_app_is_initialized()) {
		cb(ctx, -EALREADY);
		return;
	}
	if (!g_sorted) {
		rc = subsystem_sort();
		if (rc != 0) {
			cb(ctx, rc);
			return;
		}
	}
	g_init_running = true;
	g_init_cb = cb;
	g_init_ctx = ctx;
	g_next_init = 0;
	init_step(NULL);
}

static void fini_step(void *ctx)
{
	struct axon_subsystem *s;
	void (*cb)(void);

	if (g_started == 0) {
		g_fini_running = false;
		cb = g_fini_cb;
		g_fini_cb = NULL;
		cb();
		return;
	}
	s = g_order[g_started - 1];
	AXON_INFOLOG("stopping subsystem %s", s->name);
	if (s->fini != NULL) {
		s->fini();
	} else {
		axon_subsystem_fini_next();
	}
}

void axon_subsystem_fini_next(void)
{
	if (!g_fini_running || g_started == 0) {
		AXON_ERRLOG("axon_subsystem_fini_next() called while no subsystem is stopping");
		return;
	}
	g_started--;
	if (axon_thread_send_msg(axon_thread_get_app_thread(), fini_step, NULL) != 0) {
		/* The app thread's ring is full: nothing else can make progress
		 * either, so finish here rather than hang. */
		AXON_ERRLOG("cannot queue the stop of the next subsystem");
		fini_step(NULL);
	}
}

void subsystem_fini_all(void (*cb)(void))
{
	g_fini_running = true;
	g_fini_cb = cb;
	fini_step(NULL);
}
