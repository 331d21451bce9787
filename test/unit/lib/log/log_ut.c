/* Unit tests for lib/log: levels, flags, line format, hooks, syslog routing. */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <unistd.h>

/*
 * Route log.c's syslog calls to a recorder. <syslog.h> is already included,
 * so these macros only rename the calls inside log.c.
 */
static int ut_syslog_opened;
static char ut_syslog_ident[64];
static int ut_syslog_count;
static int ut_syslog_prio;
static char ut_syslog_msg[4096];

static void ut_openlog(const char *ident, int option, int facility)
{
	ut_syslog_opened++;
	snprintf(ut_syslog_ident, sizeof(ut_syslog_ident), "%s", ident);
}

static void ut_closelog(void)
{
	ut_syslog_opened--;
}

static void __attribute__((format(printf, 2, 3))) ut_syslog(int prio, const char *fmt, ...)
{
	va_list ap;

	ut_syslog_count++;
	ut_syslog_prio = prio;
	va_start(ap, fmt);
	vsnprintf(ut_syslog_msg, sizeof(ut_syslog_msg), fmt, ap);
	va_end(ap);
}

#define openlog ut_openlog
#define closelog ut_closelog
#define syslog ut_syslog
#include "lib/log/log.c"
#undef openlog
#undef closelog
#undef syslog

AXON_LOG_REGISTER_COMPONENT(ut_zeta)
AXON_LOG_REGISTER_COMPONENT(ut_alpha)
AXON_LOG_REGISTER_COMPONENT(ut_mid)

/* ---- stderr capture ------------------------------------------------------ */

static int g_saved_stderr = -1;
static int g_capture_fd = -1;
static char g_out[1 << 20];

static void capture_begin(void)
{
	char path[] = "/tmp/axon_log_ut.XXXXXX";

	g_capture_fd = mkstemp(path);
	CU_ASSERT_FATAL(g_capture_fd >= 0);
	unlink(path);
	/* O_APPEND: writes from several threads each land at the end. */
	fcntl(g_capture_fd, F_SETFL, O_APPEND);
	fflush(stderr);
	g_saved_stderr = dup(STDERR_FILENO);
	CU_ASSERT_FATAL(g_saved_stderr >= 0);
	CU_ASSERT_FATAL(dup2(g_capture_fd, STDERR_FILENO) == STDERR_FILENO);
}

/* Restore stderr and return what was written (NUL-terminated, in g_out). */
static const char *capture_end(void)
{
	ssize_t n;

	dup2(g_saved_stderr, STDERR_FILENO);
	close(g_saved_stderr);
	lseek(g_capture_fd, 0, SEEK_SET);
	n = read(g_capture_fd, g_out, sizeof(g_out) - 1);
	close(g_capture_fd);
	g_out[n > 0 ? n : 0] = '\0';
	return g_out;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++) {
		n += *s == '\n';
	}
	return n;
}

static void reset_levels(void)
{
	axon_log_set_print_level(AXON_LOG_NOTICE);
	axon_log_set_level(AXON_LOG_NOTICE);
	axon_log_set_thread_name_fn(NULL);
	axon_log_clear_flag("all");
}

/* ---- tests --------------------------------------------------------------- */

static void test_defaults(void)
{
	CU_ASSERT_EQUAL(axon_log_get_print_level(), AXON_LOG_NOTICE);
	CU_ASSERT_EQUAL(axon_log_get_level(), AXON_LOG_NOTICE);
}

static void test_level_filter(void)
{
	const char *out;

	axon_log_set_print_level(AXON_LOG_WARN);
	CU_ASSERT_EQUAL(axon_log_get_print_level(), AXON_LOG_WARN);
	capture_begin();
	AXON_ERRLOG("e-msg %d", 1);
	AXON_WARNLOG("w-msg %d", 2);
	AXON_NOTICELOG("n-msg %d", 3);
	AXON_INFOLOG("i-msg %d", 4);
	axon_log(AXON_LOG_DEBUG, __FILE__, __LINE__, __func__, "d-msg");
	out = capture_end();
	CU_ASSERT_EQUAL(count_lines(out), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ERROR: e-msg 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "WARN: w-msg 2\n"));
	CU_ASSERT_PTR_NULL(strstr(out, "n-msg"));
	CU_ASSERT_PTR_NULL(strstr(out, "i-msg"));

	axon_log_set_print_level(AXON_LOG_DEBUG);
	capture_begin();
	AXON_INFOLOG("i-msg");
	axon_log(AXON_LOG_DEBUG, __FILE__, __LINE__, __func__, "d-msg");
	out = capture_end();
	CU_ASSERT_EQUAL(count_lines(out), 2);

	axon_log_set_print_level(AXON_LOG_DISABLED);
	capture_begin();
	AXON_ERRLOG("nothing");
	out = capture_end();
	CU_ASSERT_STRING_EQUAL(out, "");

	/* Invalid values are ignored; invalid levels are never written. */
	axon_log_set_print_level((enum axon_log_level)42);
	CU_ASSERT_EQUAL(axon_log_get_print_level(), AXON_LOG_DISABLED);
	axon_log_set_print_level(AXON_LOG_DEBUG);
	capture_begin();
	axon_log((enum axon_log_level)7, __FILE__, __LINE__, __func__, "bad");
	axon_log(AXON_LOG_DISABLED, __FILE__, __LINE__, __func__, "bad");
	out = capture_end();
	CU_ASSERT_STRING_EQUAL(out, "");
	reset_levels();
}

static void test_line_format(void)
{
	const char *out;
	int y, mo, d, h, mi, s;
	long us;
	char label[16];

	axon_log_set_thread_name_fn(NULL);
	prctl(PR_SET_NAME, "ut_os_thread");
	capture_begin();
	AXON_ERRLOG("hello %s\n", "world"); /* trailing newline is not doubled */
	out = capture_end();
	CU_ASSERT_EQUAL(sscanf(out, "[%d-%d-%d %d:%d:%d.%ld] ut_os_thread %15[A-Z]: ", &y, &mo,
			       &d, &h, &mi, &s, &us, label), 8);
	CU_ASSERT_STRING_EQUAL(label, "ERROR");
	CU_ASSERT(us >= 0 && us < 1000000);
	CU_ASSERT_EQUAL(count_lines(out), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "] ut_os_thread ERROR: hello world\n"));
	/* no source location on non-debug lines */
	CU_ASSERT_PTR_NULL(strstr(out, "log_ut.c"));

	/* An OS thread without a name shows "-". */
	prctl(PR_SET_NAME, "");
	capture_begin();
	AXON_ERRLOG("anon");
	out = capture_end();
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "] - ERROR: anon\n"));
	prctl(PR_SET_NAME, "log_ut");
	reset_levels();
}

static const char *g_hook_name;
static const char *ut_thread_name(void)
{
	return g_hook_name;
}

static void test_thread_name_hook(void)
{
	const char *out;

	prctl(PR_SET_NAME, "os_name");
	axon_log_set_thread_name_fn(ut_thread_name);
	g_hook_name = "app_thread";
	capture_begin();
	AXON_WARNLOG("on thread");
	out = capture_end();
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "] app_thread WARN: on thread\n"));

	/* The hook returns NULL off any axon_thread: fall back to the OS name. */
	g_hook_name = NULL;
	capture_begin();
	AXON_WARNLOG("off thread");
	out = capture_end();
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "] os_name WARN: off thread\n"));
	prctl(PR_SET_NAME, "log_ut");
	reset_levels();
}

static void test_flags(void)
{
	struct axon_log_flag *f;
	const char *names[3] = {"ut_alpha", "ut_mid", "ut_zeta"};
	int i = 0;

	/* Sorted registry (other flags may be registered too; ours are in order). */
	for (f = axon_log_get_next_flag(NULL); f != NULL; f = axon_log_get_next_flag(f)) {
		if (f->next != NULL) {
			CU_ASSERT(strcmp(f->name, f->next->name) < 0);
		}
		if (i < 3 && strcmp(f->name, names[i]) == 0) {
			i++;
		}
	}
	CU_ASSERT_EQUAL(i, 3);

	/* Registering the same flag again does not duplicate it. */
	axon_log_register_flag(&axon_log_flag_ut_mid);
	i = 0;
	for (f = axon_log_get_next_flag(NULL); f != NULL; f = axon_log_get_next_flag(f)) {
		i += strcmp(f->name, "ut_mid") == 0;
	}
	CU_ASSERT_EQUAL(i, 1);

	CU_ASSERT_FALSE(axon_log_get_flag("ut_mid"));
	CU_ASSERT_EQUAL(axon_log_set_flag("ut_mid"), 0);
	CU_ASSERT_TRUE(axon_log_get_flag("ut_mid"));
	CU_ASSERT_TRUE(axon_log_flag_ut_mid.enabled);
	CU_ASSERT_FALSE(axon_log_get_flag("ut_alpha"));
	CU_ASSERT_EQUAL(axon_log_clear_flag("ut_mid"), 0);
	CU_ASSERT_FALSE(axon_log_get_flag("ut_mid"));

	CU_ASSERT_EQUAL(axon_log_set_flag("all"), 0);
	CU_ASSERT_TRUE(axon_log_get_flag("ut_alpha"));
	CU_ASSERT_TRUE(axon_log_get_flag("ut_mid"));
	CU_ASSERT_TRUE(axon_log_get_flag("ut_zeta"));
	CU_ASSERT_EQUAL(axon_log_clear_flag("all"), 0);
	CU_ASSERT_FALSE(axon_log_get_flag("ut_alpha"));
	CU_ASSERT_FALSE(axon_log_get_flag("ut_zeta"));

	CU_ASSERT_EQUAL(axon_log_set_flag("nope"), -ENOENT);
	CU_ASSERT_EQUAL(axon_log_clear_flag("nope"), -ENOENT);
	CU_ASSERT_EQUAL(axon_log_set_flag(NULL), -ENOENT);
	CU_ASSERT_FALSE(axon_log_get_flag("nope"));
	CU_ASSERT_FALSE(axon_log_get_flag(NULL));
	CU_ASSERT_FALSE(axon_log_get_flag("ut_alph")); /* no prefix match */
}

static void test_debuglog(void)
{
	const char *out;

	axon_log_set_print_level(AXON_LOG_DEBUG);
	capture_begin();
	AXON_DEBUGLOG(ut_alpha, "hidden");
	out = capture_end();
	CU_ASSERT_STRING_EQUAL(out, "");

	axon_log_set_flag("ut_alpha");
	capture_begin();
	AXON_DEBUGLOG(ut_alpha, "shown %d", 7);
	AXON_DEBUGLOG(ut_zeta, "other flag");
	out = capture_end();
	CU_ASSERT_EQUAL(count_lines(out), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " DEBUG log_ut.c:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, " test_debuglog: shown 7\n"));

	/* The flag alone is not enough: the print level must allow debug. */
	axon_log_set_print_level(AXON_LOG_INFO);
	capture_begin();
	AXON_DEBUGLOG(ut_alpha, "level too low");
	out = capture_end();
	CU_ASSERT_STRING_EQUAL(out, "");
	reset_levels();
}

static void test_level_strings(void)
{
	enum axon_log_level l;

	for (int i = AXON_LOG_DISABLED; i <= AXON_LOG_DEBUG; i++) {
		l = (enum axon_log_level)99;
		CU_ASSERT_EQUAL(axon_log_level_from_str(axon_log_level_to_str(i), &l), 0);
		CU_ASSERT_EQUAL(l, i);
	}
	CU_ASSERT_STRING_EQUAL(axon_log_level_to_str(AXON_LOG_ERROR), "error");
	CU_ASSERT_STRING_EQUAL(axon_log_level_to_str(AXON_LOG_WARN), "warn");
	CU_ASSERT_STRING_EQUAL(axon_log_level_to_str(AXON_LOG_DEBUG), "debug");
	CU_ASSERT_STRING_EQUAL(axon_log_level_to_str((enum axon_log_level)42), "unknown");
	CU_ASSERT_EQUAL(axon_log_level_from_str("WARNING", &l), 0);
	CU_ASSERT_EQUAL(l, AXON_LOG_WARN);
	CU_ASSERT_EQUAL(axon_log_level_from_str("Notice", &l), 0);
	CU_ASSERT_EQUAL(l, AXON_LOG_NOTICE);
	CU_ASSERT_EQUAL(axon_log_level_from_str("DISABLED", &l), 0);
	CU_ASSERT_EQUAL(l, AXON_LOG_DISABLED);
	l = AXON_LOG_INFO;
	CU_ASSERT_EQUAL(axon_log_level_from_str("verbose", &l), -EINVAL);
	CU_ASSERT_EQUAL(axon_log_level_from_str("", &l), -EINVAL);
	CU_ASSERT_EQUAL(axon_log_level_from_str("debugx", &l), -EINVAL);
	CU_ASSERT_EQUAL(axon_log_level_from_str(NULL, &l), -EINVAL);
	CU_ASSERT_EQUAL(l, AXON_LOG_INFO); /* untouched on error */
}

static void test_long_line(void)
{
	size_t n = 5000;
	char *msg = malloc(n + 1);
	const char *out;

	CU_ASSERT_FATAL(msg != NULL);
	memset(msg, 'x', n);
	msg[n] = '\0';
	capture_begin();
	AXON_ERRLOG("<%s>", msg);
	out = capture_end();
	CU_ASSERT_EQUAL(count_lines(out), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ERROR: <"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "x>\n"));
	CU_ASSERT_EQUAL(strchr(out, '<')[n + 1], '>');
	free(msg);
	reset_levels();
}

#define UT_THREADS 4
#define UT_LINES 300

static void *writer(void *arg)
{
	long id = (long)arg;
	char payload[1500]; /* some lines on the stack path, some on the heap path */
	size_t len = id % 2 ? 100 : sizeof(payload) - 1;

	memset(payload, 'a' + id, len);
	payload[len] = '\0';
	for (int i = 0; i < UT_LINES; i++) {
		AXON_ERRLOG("T%ld %s E", id, payload);
	}
	return NULL;
}

static void test_concurrent_lines(void)
{
	pthread_t t[UT_THREADS];
	const char *out, *p;
	int lines = 0;

	capture_begin();
	for (long i = 0; i < UT_THREADS; i++) {
		CU_ASSERT_FATAL(pthread_create(&t[i], NULL, writer, (void *)i) == 0);
	}
	for (int i = 0; i < UT_THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	out = capture_end();
	/* Every line is whole: "...ERROR: T<id> <payload of one letter> E". */
	for (p = out; *p; lines++) {
		const char *nl = strchr(p, '\n');
		const char *m = strstr(p, "ERROR: T");
		long id;

		CU_ASSERT_FATAL(nl != NULL && m != NULL && m < nl);
		id = m[8] - '0';
		CU_ASSERT_FATAL(id >= 0 && id < UT_THREADS);
		bool same = true;
		for (const char *c = m + 10; c < nl - 2; c++) {
			same = same && *c == 'a' + id;
		}
		CU_ASSERT_FATAL(same);
		CU_ASSERT_FATAL(nl[-2] == ' ' && nl[-1] == 'E');
		p = nl + 1;
	}
	CU_ASSERT_EQUAL(lines, UT_THREADS * UT_LINES);
	reset_levels();
}

static void test_syslog(void)
{
	const char *out;

	ut_syslog_count = 0;
	capture_begin();
	AXON_ERRLOG("before open");
	capture_end();
	CU_ASSERT_EQUAL(ut_syslog_count, 0);

	axon_log_open_syslog("axon_ut");
	CU_ASSERT_EQUAL(ut_syslog_opened, 1);
	CU_ASSERT_STRING_EQUAL(ut_syslog_ident, "axon_ut");
	axon_log_set_level(AXON_LOG_WARN);
	axon_log_set_print_level(AXON_LOG_ERROR);
	axon_log_set_thread_name_fn(ut_thread_name);
	g_hook_name = "reactor_0";

	capture_begin();
	AXON_WARNLOG("to syslog only %d", 5);
	out = capture_end();
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_EQUAL(ut_syslog_count, 1);
	CU_ASSERT_EQUAL(ut_syslog_prio, LOG_WARNING);
	/* syslog stamps time itself; no newline either */
	CU_ASSERT_STRING_EQUAL(ut_syslog_msg, "reactor_0 WARN: to syslog only 5");

	capture_begin();
	AXON_NOTICELOG("below both");
	AXON_ERRLOG("both");
	out = capture_end();
	CU_ASSERT_EQUAL(ut_syslog_count, 2);
	CU_ASSERT_EQUAL(ut_syslog_prio, LOG_ERR);
	CU_ASSERT_EQUAL(count_lines(out), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "reactor_0 ERROR: both\n"));

	axon_log_close();
	CU_ASSERT_EQUAL(ut_syslog_opened, 0);
	axon_log_close(); /* harmless twice */
	CU_ASSERT_EQUAL(ut_syslog_opened, 0);
	capture_begin();
	AXON_ERRLOG("after close");
	capture_end();
	CU_ASSERT_EQUAL(ut_syslog_count, 2);
	reset_levels();
}

int main(void)
{
	CU_pSuite suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("log", NULL, NULL);
	CU_ADD_TEST(suite, test_defaults);
	CU_ADD_TEST(suite, test_level_filter);
	CU_ADD_TEST(suite, test_line_format);
	CU_ADD_TEST(suite, test_thread_name_hook);
	CU_ADD_TEST(suite, test_flags);
	CU_ADD_TEST(suite, test_debuglog);
	CU_ADD_TEST(suite, test_level_strings);
	CU_ADD_TEST(suite, test_long_line);
	CU_ADD_TEST(suite, test_concurrent_lines);
	CU_ADD_TEST(suite, test_syslog);

	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures ? 1 : 0;
}
