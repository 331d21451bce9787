/*
 * Unit tests for lib/event subsystems and JSON configuration: dependency
 * order, cycle and unknown-name detection, start/stop sequencing, and config
 * replay in passes. The app thread is a deterministic message queue; the RPC
 * registry is a table of fake methods.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/event/subsystem.c"
#include "lib/event/json_config.c"

/* ---- test doubles: app thread as a queue ---------------------------------- */

#define QUEUE_MAX 256
static struct {
	axon_msg_fn fn;
	void *ctx;
} g_queue[QUEUE_MAX];
static int g_queue_head, g_queue_tail;
static int g_fake_thread;

struct axon_thread *axon_thread_get_app_thread(void)
{
	return (struct axon_thread *)&g_fake_thread;
}

int axon_thread_send_msg(const struct axon_thread *thread, axon_msg_fn fn, void *ctx)
{
	if (g_queue_tail - g_queue_head == QUEUE_MAX) {
		return -ENOMEM;
	}
	g_queue[g_queue_tail % QUEUE_MAX].fn = fn;
	g_queue[g_queue_tail % QUEUE_MAX].ctx = ctx;
	g_queue_tail++;
	return 0;
}

static void drain(void)
{
	while (g_queue_head != g_queue_tail) {
		int i = g_queue_head++ % QUEUE_MAX;

		g_queue[i].fn(g_queue[i].ctx);
	}
}

/* ---- test doubles: app.c hooks ------------------------------------------- */

static uint32_t g_rpc_state = AXON_RPC_STARTUP;
static bool g_initialized;
static bool g_shutdown;
static int g_resume_calls;

void app_subsystems_started(void)
{
	g_initialized = true;
	g_rpc_state = AXON_RPC_RUNTIME;
}

void app_resume_shutdown(void)
{
	g_resume_calls++;
}

bool app_shutdown_requested(void)
{
	return g_shutdown;
}

bool axon_app_is_initialized(void)
{
	return g_initialized;
}

/* ---- test doubles: RPC methods -------------------------------------------- */

static char g_calls[1024];

static const struct {
	const char *name;
	uint32_t mask;
} g_methods[] = {
	/* sorted, as axon_rpc_get_next_method promises */
	{"both_m", AXON_RPC_STARTUP | AXON_RPC_RUNTIME},
	{"fail_m", AXON_RPC_RUNTIME},
	{"runtime_m", AXON_RPC_RUNTIME},
	{"startup_m", AXON_RPC_STARTUP},
};

uint32_t axon_rpc_get_state(void)
{
	return g_rpc_state;
}

const char *axon_rpc_get_next_method(const char *prev, uint32_t *state_mask)
{
	size_t i = 0;

	if (prev != NULL) {
		while (strcmp(g_methods[i].name, prev) != 0) {
			i++;
		}
		i++;
	}
	if (i == AXON_COUNTOF(g_methods)) {
		return NULL;
	}
	*state_mask = g_methods[i].mask;
	return g_methods[i].name;
}

void axon_rpc_call_local(const char *method, const json_t *params, axon_rpc_local_cb cb, void *ctx)
{
	json_t *result, *error = NULL;

	strcat(g_calls, method);
	strcat(g_calls, " ");
	if (strcmp(method, "fail_m") == 0) {
		error = json_pack("{s:i, s:s}", "code", -32602,
				  "message", "block_size: expected a power of two, got 1000");
		cb(ctx, NULL, error);
		json_decref(error);
		return;
	}
	result = json_true();
	cb(ctx, result, NULL);
	json_decref(result);
}

/* ---- stderr capture ------------------------------------------------------- */

static char g_err[8192];
static FILE *g_err_file;
static int g_saved_err = -1;

static void capture_start(void)
{
	fflush(stderr);
	g_err_file = tmpfile();
	g_saved_err = dup(2);
	dup2(fileno(g_err_file), 2);
}

static const char *capture_end(void)
{
	size_t n;

	fflush(stderr);
	dup2(g_saved_err, 2);
	close(g_saved_err);
	rewind(g_err_file);
	n = fread(g_err, 1, sizeof(g_err) - 1, g_err_file);
	g_err[n] = '\0';
	fclose(g_err_file);
	return g_err;
}

/* ---- fixtures --------------------------------------------------------------- */

static char g_trace[1024];

static void reset(void)
{
	g_registry = NULL;
	g_registry_tail = &g_registry;
	g_depend_count = 0;
	g_depend_overflow = false;
	g_duplicate = NULL;
	subsystem_reset();
	g_initialized = false;
	g_shutdown = false;
	g_rpc_state = AXON_RPC_STARTUP;
	g_trace[0] = '\0';
	g_calls[0] = '\0';
	g_queue_head = g_queue_tail = 0;
}

static void trace(const char *what, const char *name)
{
	strcat(g_trace, what);
	strcat(g_trace, name);
	strcat(g_trace, " ");
}

/* Subsystems named a..f; init of "e" fails; "d" completes init asynchronously. */
static void deferred_init_done(void *ctx)
{
	axon_subsystem_init_next(0);
}

#define DEF_SUBSYS(N)                                                             \
	static void init_##N(void)                                                \
	{                                                                         \
		trace("+", #N);                                                   \
		if (strcmp(#N, "e") == 0) {                                       \
			axon_subsystem_init_next(-EIO);                           \
		} else if (strcmp(#N, "d") == 0) {                                \
			axon_thread_send_msg(NULL, deferred_init_done, NULL);     \
		} else {                                                          \
			axon_subsystem_init_next(0);                              \
		}                                                                 \
	}                                                                         \
	static void fini_##N(void)                                                \
	{                                                                         \
		trace("-", #N);                                                   \
		axon_subsystem_fini_next();                                       \
	}                                                                         \
	static json_t *config_##N(void)                                           \
	{                                                                         \
		return json_pack("[{s:s, s:{s:s}}]", "method", "set_" #N, "params", \
				 "name", #N);                                     \
	}                                                                         \
	static struct axon_subsystem g_##N = {                                    \
		.name = #N, .init = init_##N, .fini = fini_##N, .config_json = config_##N};

DEF_SUBSYS(a)
DEF_SUBSYS(b)
DEF_SUBSYS(c)
DEF_SUBSYS(d)
DEF_SUBSYS(e)
static struct axon_subsystem g_a_again = {.name = "a"};
static struct axon_subsystem g_bare = {.name = "bare"}; /* no callbacks at all */

static const char *order_string(void)
{
	static char buf[256];
	struct axon_subsystem *s;

	buf[0] = '\0';
	for (s = axon_subsystem_get_next(NULL); s != NULL; s = axon_subsystem_get_next(s)) {
		strcat(buf, s->name);
		strcat(buf, " ");
	}
	return buf;
}

static int g_cb_rc;
static int g_cb_count;
static void done_cb(void *ctx, int rc)
{
	g_cb_rc = rc;
	g_cb_count++;
}

static int g_fini_done;
static void fini_done(void)
{
	g_fini_done++;
}

/* ---- ordering ---------------------------------------------------------------- */

static void test_order(void)
{
	const char *deps[4];

	reset();
	axon_subsystem_add_depend("a", "b"); /* declared before registration, as constructors do */
	axon_subsystem_add_depend("b", "c");
	axon_subsystem_add_depend("d", "c");
	axon_subsystem_add_depend("a", "d");
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_b);
	axon_subsystem_register(&g_c);
	axon_subsystem_register(&g_d);
	axon_subsystem_register(&g_bare);
	CU_ASSERT_EQUAL(subsystem_sort(), 0);
	CU_ASSERT_STRING_EQUAL(order_string(), "c b d a bare ");
	CU_ASSERT_PTR_EQUAL(axon_subsystem_find("d"), &g_d);
	CU_ASSERT_PTR_NULL(axon_subsystem_find("zz"));
	CU_ASSERT_EQUAL(axon_subsystem_get_depends(&g_a, deps, 4), 2);
	CU_ASSERT_STRING_EQUAL(deps[0], "b");
	CU_ASSERT_STRING_EQUAL(deps[1], "d");
	CU_ASSERT_EQUAL(axon_subsystem_get_depends(&g_a, deps, 1), 1);
	CU_ASSERT_EQUAL(axon_subsystem_get_depends(&g_c, deps, 4), 0);
}

/* Without dependencies, registration order is kept. */
static void test_order_no_deps(void)
{
	reset();
	axon_subsystem_register(&g_c);
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_b);
	CU_ASSERT_STRING_EQUAL(order_string(), "c a b ");
}

static void test_cycle(void)
{
	const char *err;

	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_b);
	axon_subsystem_register(&g_c);
	axon_subsystem_register(&g_d);
	axon_subsystem_add_depend("d", "a");
	axon_subsystem_add_depend("a", "b");
	axon_subsystem_add_depend("b", "c");
	axon_subsystem_add_depend("c", "a");
	capture_start();
	CU_ASSERT_EQUAL(subsystem_sort(), -EINVAL);
	err = capture_end();
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "subsystem dependency cycle: a -> b -> c -> a"));
	/* Nothing is started from a broken registry. */
	capture_start();
	g_cb_count = 0;
	axon_app_start_subsystems(done_cb, NULL);
	capture_end();
	CU_ASSERT_EQUAL(g_cb_count, 1);
	CU_ASSERT_EQUAL(g_cb_rc, -EINVAL);
	CU_ASSERT_STRING_EQUAL(g_trace, "");
}

static void test_self_cycle(void)
{
	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_add_depend("a", "a");
	capture_start();
	CU_ASSERT_EQUAL(subsystem_sort(), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(capture_end(), "cycle: a -> a"));
}

static void test_unknown(void)
{
	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_add_depend("a", "nope");
	capture_start();
	CU_ASSERT_EQUAL(subsystem_sort(), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(capture_end(),
				      "subsystem 'a' depends on unknown subsystem 'nope'"));

	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_add_depend("ghost", "a");
	capture_start();
	CU_ASSERT_EQUAL(subsystem_sort(), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(capture_end(), "unknown subsystem 'ghost'"));

	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_a_again);
	capture_start();
	CU_ASSERT_EQUAL(subsystem_sort(), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(capture_end(), "registered twice"));
}

/* ---- start and stop ------------------------------------------------------------ */

static void test_start_stop(void)
{
	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_b);
	axon_subsystem_register(&g_d);
	axon_subsystem_register(&g_bare);
	axon_subsystem_add_depend("a", "d");
	g_cb_count = 0;
	axon_app_start_subsystems(done_cb, NULL);
	CU_ASSERT_TRUE(subsystem_init_in_progress());
	drain();
	CU_ASSERT_FALSE(subsystem_init_in_progress());
	CU_ASSERT_EQUAL(g_cb_count, 1);
	CU_ASSERT_EQUAL(g_cb_rc, 0);
	CU_ASSERT_TRUE(g_initialized);
	CU_ASSERT_STRING_EQUAL(g_trace, "+d +a +b ");
	/* Twice is refused. */
	axon_app_start_subsystems(done_cb, NULL);
	CU_ASSERT_EQUAL(g_cb_count, 2);
	CU_ASSERT_EQUAL(g_cb_rc, -EALREADY);

	g_trace[0] = '\0';
	g_fini_done = 0;
	subsystem_fini_all(fini_done);
	drain();
	CU_ASSERT_EQUAL(g_fini_done, 1);
	CU_ASSERT_STRING_EQUAL(g_trace, "-b -a -d ");
}

/* A failing init stops the sequence; only those started are stopped. */
static void test_start_failure(void)
{
	const char *err;

	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_e);
	axon_subsystem_register(&g_b);
	g_cb_count = 0;
	capture_start();
	axon_app_start_subsystems(done_cb, NULL);
	drain();
	err = capture_end();
	CU_ASSERT_EQUAL(g_cb_count, 1);
	CU_ASSERT_EQUAL(g_cb_rc, -EIO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "subsystem e failed to start"));
	CU_ASSERT_FALSE(g_initialized);
	CU_ASSERT_STRING_EQUAL(g_trace, "+a +e ");
	g_trace[0] = '\0';
	g_fini_done = 0;
	subsystem_fini_all(fini_done);
	drain();
	CU_ASSERT_EQUAL(g_fini_done, 1);
	CU_ASSERT_STRING_EQUAL(g_trace, "-a ");
}

/* A shutdown requested during start-up stops the sequence at the next step. */
static void test_start_cancelled(void)
{
	reset();
	axon_subsystem_register(&g_d);
	axon_subsystem_register(&g_a);
	g_cb_count = 0;
	g_resume_calls = 0;
	axon_app_start_subsystems(done_cb, NULL);
	g_shutdown = true; /* d completes its init from a message */
	drain();
	CU_ASSERT_EQUAL(g_cb_rc, -ECANCELED);
	CU_ASSERT_STRING_EQUAL(g_trace, "+d ");
	CU_ASSERT_EQUAL(g_resume_calls, 1);
	g_trace[0] = '\0';
	subsystem_fini_all(fini_done);
	drain();
	CU_ASSERT_STRING_EQUAL(g_trace, "-d ");
}

/* ---- configuration ----------------------------------------------------------------- */

static void test_config_json(void)
{
	json_t *doc;
	char *text;

	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_bare);
	axon_subsystem_register(&g_b);
	axon_subsystem_add_depend("a", "b");
	doc = axon_app_config_json();
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	CU_ASSERT_STRING_EQUAL(text,
		"{\"subsystems\":["
		"{\"config\":[{\"method\":\"set_b\",\"params\":{\"name\":\"b\"}}],\"subsystem\":\"b\"},"
		"{\"config\":[{\"method\":\"set_a\",\"params\":{\"name\":\"a\"}}],\"subsystem\":\"a\"},"
		"{\"config\":[],\"subsystem\":\"bare\"}]}");
	free(text);
	json_decref(doc);
}

static json_t *load_doc(const char *text)
{
	json_error_t err;
	json_t *doc = json_loads(text, 0, &err);

	CU_ASSERT_PTR_NOT_NULL(doc);
	return doc;
}

#define DOC_ALL                                                                         \
	"{\"subsystems\":["                                                             \
	"{\"subsystem\":\"a\",\"config\":[{\"method\":\"runtime_m\"},"                  \
	"{\"method\":\"startup_m\",\"params\":{\"x\":1}}]},"                            \
	"{\"subsystem\":\"bare\",\"config\":null},"                                     \
	"{\"subsystem\":\"b\",\"config\":[{\"method\":\"both_m\"},{\"method\":\"runtime_m\"}]}]}"

/* Startup methods first, then the subsystems, then runtime methods, each in document order. */
static void test_config_load_passes(void)
{
	json_t *doc = load_doc(DOC_ALL);

	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_b);
	g_cb_count = 0;
	axon_app_json_config_load(doc, true, done_cb, NULL);
	CU_ASSERT_TRUE(config_load_in_progress());
	drain();
	CU_ASSERT_FALSE(config_load_in_progress());
	CU_ASSERT_EQUAL(g_cb_count, 1);
	CU_ASSERT_EQUAL(g_cb_rc, 0);
	CU_ASSERT_STRING_EQUAL(g_calls, "startup_m both_m runtime_m runtime_m ");
	CU_ASSERT_STRING_EQUAL(g_trace, "+a +b ");
	json_decref(doc);
}

/* -c with --wait-for-rpc: startup pass now, runtime pass after framework_start_init. */
static void test_config_load_deferred(void)
{
	json_t *doc = load_doc(DOC_ALL);

	reset();
	axon_subsystem_register(&g_a);
	config_load(doc, CONFIG_PASS_STARTUP | CONFIG_PASS_DEFER_RUNTIME, "f.json", done_cb, NULL);
	drain();
	CU_ASSERT_EQUAL(g_cb_rc, 0);
	CU_ASSERT_STRING_EQUAL(g_calls, "startup_m both_m ");
	g_calls[0] = '\0';
	g_rpc_state = AXON_RPC_RUNTIME;
	config_load(doc, CONFIG_PASS_RUNTIME | CONFIG_PASS_AFTER_STARTUP, "f.json", done_cb, NULL);
	drain();
	CU_ASSERT_EQUAL(g_cb_rc, 0);
	CU_ASSERT_STRING_EQUAL(g_calls, "runtime_m runtime_m ");
	json_decref(doc);
}

/* At runtime, startup-only methods are skipped with a warning; the rest runs. */
static void test_config_load_runtime(void)
{
	json_t *doc = load_doc(DOC_ALL);
	const char *err;

	reset();
	g_rpc_state = AXON_RPC_RUNTIME;
	capture_start();
	axon_app_json_config_load(doc, true, done_cb, NULL);
	drain();
	err = capture_end();
	CU_ASSERT_EQUAL(g_cb_rc, 0);
	CU_ASSERT_STRING_EQUAL(g_calls, "runtime_m both_m runtime_m ");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "skipping startup_m"));
	CU_ASSERT_STRING_EQUAL(g_trace, "");
	json_decref(doc);
}

/* A failing method stops the replay; nothing after it runs; the log names it. */
static void test_config_load_failure(void)
{
	json_t *doc = load_doc("{\"subsystems\":[{\"subsystem\":\"a\",\"config\":["
			       "{\"method\":\"startup_m\"},{\"method\":\"fail_m\",\"params\":{}},"
			       "{\"method\":\"runtime_m\"}]}]}");
	const char *err;

	reset();
	axon_subsystem_register(&g_a);
	g_resume_calls = 0;
	capture_start();
	config_load(doc, CONFIG_PASS_STARTUP | CONFIG_PASS_INIT | CONFIG_PASS_RUNTIME, "bad.json",
		    done_cb, NULL);
	drain();
	err = capture_end();
	CU_ASSERT_EQUAL(g_cb_rc, -EINVAL);
	CU_ASSERT_STRING_EQUAL(g_calls, "startup_m fail_m ");
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "bad.json: subsystem a: method fail_m failed: "
					   "block_size: expected a power of two, got 1000"));
	/* Once when the subsystems finished starting, once when the replay ended. */
	CU_ASSERT_STRING_EQUAL(g_trace, "+a ");
	CU_ASSERT_EQUAL(g_resume_calls, 2);
	json_decref(doc);
}

/* Checked whole before anything runs. */
static void expect_rejected(const char *text, bool init, const char *needle)
{
	json_t *doc = load_doc(text);
	const char *err;

	reset();
	axon_subsystem_register(&g_a);
	g_cb_count = 0;
	capture_start();
	axon_app_json_config_load(doc, init, done_cb, NULL);
	drain();
	err = capture_end();
	CU_ASSERT_EQUAL(g_cb_count, 1);
	CU_ASSERT_EQUAL(g_cb_rc, -EINVAL);
	CU_ASSERT_STRING_EQUAL(g_calls, "");
	CU_ASSERT_STRING_EQUAL(g_trace, "");
	if (strstr(err, needle) == NULL) {
		fprintf(stderr, "\n  expected '%s' in '%s'\n", needle, err);
		CU_FAIL("rejection message");
	}
	json_decref(doc);
}

static void test_config_load_rejects(void)
{
	expect_rejected("[]", true, "expected an object with a \"subsystems\" array");
	expect_rejected("{\"subsystems\":{}}", true, "\"subsystems\" array");
	expect_rejected("{\"subsystems\":[{\"config\":[]}]}", true,
			"subsystems[0]: expected an object with a \"subsystem\" string");
	expect_rejected("{\"subsystems\":[{\"subsystem\":\"a\",\"config\":{}}]}", true,
			"subsystem a: \"config\" must be an array");
	expect_rejected("{\"subsystems\":[{\"subsystem\":\"a\",\"config\":[{\"method\":1}]}]}",
			true, "config[0]: expected an object with a \"method\" string");
	expect_rejected("{\"subsystems\":[{\"subsystem\":\"a\",\"config\":["
			"{\"method\":\"startup_m\"},{\"method\":\"nope_m\"}]}]}",
			true, "subsystem a: unknown method nope_m");
	expect_rejected("{\"subsystems\":[{\"subsystem\":\"a\",\"config\":["
			"{\"method\":\"startup_m\",\"params\":7}]}]}",
			true, "\"params\" must be an object or an array");
	expect_rejected("{\"subsystems\":[{\"subsystem\":\"a\",\"config\":["
			"{\"method\":\"startup_m\"},{\"method\":\"runtime_m\"}]}]}",
			false, "method runtime_m can run only after framework_start_init");
}

/* A shutdown during a replay stops it before the next method. */
static void test_config_load_cancelled(void)
{
	json_t *doc = load_doc(DOC_ALL);

	reset();
	axon_subsystem_register(&g_a);
	axon_subsystem_register(&g_b);
	capture_start();
	axon_app_json_config_load(doc, true, done_cb, NULL);
	g_shutdown = true;
	drain();
	capture_end();
	CU_ASSERT_EQUAL(g_cb_rc, -ECANCELED);
	CU_ASSERT_STRING_EQUAL(g_calls, "");
	json_decref(doc);
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("subsystem", NULL, NULL);
	CU_ADD_TEST(suite, test_order);
	CU_ADD_TEST(suite, test_order_no_deps);
	CU_ADD_TEST(suite, test_cycle);
	CU_ADD_TEST(suite, test_self_cycle);
	CU_ADD_TEST(suite, test_unknown);
	CU_ADD_TEST(suite, test_start_stop);
	CU_ADD_TEST(suite, test_start_failure);
	CU_ADD_TEST(suite, test_start_cancelled);
	suite = CU_add_suite("json_config", NULL, NULL);
	CU_ADD_TEST(suite, test_config_json);
	CU_ADD_TEST(suite, test_config_load_passes);
	CU_ADD_TEST(suite, test_config_load_deferred);
	CU_ADD_TEST(suite, test_config_load_runtime);
	CU_ADD_TEST(suite, test_config_load_failure);
	CU_ADD_TEST(suite, test_config_load_rejects);
	CU_ADD_TEST(suite, test_config_load_cancelled);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
