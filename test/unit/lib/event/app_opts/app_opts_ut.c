/* Unit tests for lib/event option parsing: every common option, bad values, -h,
 * and merging a program's own options. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/event/app_opts.c"

AXON_LOG_REGISTER_COMPONENT(ut_flag)

#define MAX_ARGS 80

static char g_err[4096];
static char g_out[8192];

/* Run the parser on a NULL-terminated word list, capturing stdout and stderr. */
static int run_parse(struct axon_app_opts *opts, const char *app_getopt,
		     const struct option *app_longopts, int (*app_parse)(int, const char *),
		     void (*app_usage)(void), const char **words)
{
	char *argv[MAX_ARGS];
	FILE *err = tmpfile(), *out = tmpfile();
	int saved_err = dup(2), saved_out = dup(1);
	int argc = 0, rc;
	size_t n;

	argv[argc++] = (char *)"prog";
	while (words != NULL && *words != NULL && argc < MAX_ARGS - 1) {
		argv[argc++] = (char *)*words++;
	}
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(err), 2);
	dup2(fileno(out), 1);
	rc = axon_app_parse_args(argc, argv, opts, app_getopt, app_longopts, app_parse, app_usage);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_err, 2);
	dup2(saved_out, 1);
	close(saved_err);
	close(saved_out);
	rewind(err);
	n = fread(g_err, 1, sizeof(g_err) - 1, err);
	g_err[n] = '\0';
	rewind(out);
	n = fread(g_out, 1, sizeof(g_out) - 1, out);
	g_out[n] = '\0';
	fclose(err);
	fclose(out);
	return rc;
}

static int parse(struct axon_app_opts *opts, const char **words)
{
	axon_app_opts_init(opts, "ut");
	return run_parse(opts, NULL, NULL, NULL, NULL, words);
}

static void test_defaults(void)
{
	struct axon_app_opts o;
	const char *none[] = {NULL};

	CU_ASSERT_EQUAL(parse(&o, none), 0);
	CU_ASSERT_STRING_EQUAL(o.name, "ut");
	CU_ASSERT_STRING_EQUAL(o.reactor_mask, "0x1");
	CU_ASSERT_EQUAL(o.main_core, -1);
	CU_ASSERT_STRING_EQUAL(o.rpc_addr, AXON_DEFAULT_RPC_ADDR);
	CU_ASSERT_PTR_NULL(o.json_config_file);
	CU_ASSERT_EQUAL(o.mem_size_mb, 0);
	CU_ASSERT_FALSE(o.no_huge);
	CU_ASSERT_TRUE(o.no_pci);
	CU_ASSERT_FALSE(o.wait_for_rpc);
	CU_ASSERT_TRUE(o.adaptive_polling);
	CU_ASSERT_EQUAL(o.idle_sleep_us, 1000);
	CU_ASSERT_PTR_NULL(o.log_flags[0]);
	CU_ASSERT_EQUAL(o.print_level, AXON_LOG_NOTICE);
	CU_ASSERT_FALSE(o.use_syslog);
	CU_ASSERT_PTR_NULL(o.file_prefix);
	CU_ASSERT_STRING_EQUAL(g_err, "");
}

static void test_every_option(void)
{
	struct axon_app_opts o;
	const char *w[] = {"-m", "[0-1]", "--main-core", "1", "-r", "/tmp/x.sock", "-c",
			   "/tmp/c.json", "-s", "512", "--no-huge", "-L", "ut_flag", "-L", "all",
			   "--wait-for-rpc", "--pci-scan", "--no-adaptive-polling",
			   "--idle-sleep-us", "250", "--syslog", "--file-prefix", "pfx",
			   "--print-level", "debug", NULL};

	CU_ASSERT_EQUAL(parse(&o, w), 0);
	CU_ASSERT_STRING_EQUAL(o.reactor_mask, "[0-1]");
	CU_ASSERT_EQUAL(o.main_core, 1);
	CU_ASSERT_STRING_EQUAL(o.rpc_addr, "/tmp/x.sock");
	CU_ASSERT_STRING_EQUAL(o.json_config_file, "/tmp/c.json");
	CU_ASSERT_EQUAL(o.mem_size_mb, 512);
	CU_ASSERT_TRUE(o.no_huge);
	CU_ASSERT_STRING_EQUAL(o.log_flags[0], "ut_flag");
	CU_ASSERT_STRING_EQUAL(o.log_flags[1], "all");
	CU_ASSERT_PTR_NULL(o.log_flags[2]);
	CU_ASSERT_TRUE(o.wait_for_rpc);
	CU_ASSERT_FALSE(o.no_pci);
	CU_ASSERT_FALSE(o.adaptive_polling);
	CU_ASSERT_EQUAL(o.idle_sleep_us, 250);
	CU_ASSERT_TRUE(o.use_syslog);
	CU_ASSERT_STRING_EQUAL(o.file_prefix, "pfx");
	CU_ASSERT_EQUAL(o.print_level, AXON_LOG_DEBUG);
	CU_ASSERT_STRING_EQUAL(g_err, "");
}

static void test_long_forms(void)
{
	struct axon_app_opts o;
	const char *w[] = {"--cpumask=0x3", "--rpc-socket", "/tmp/y.sock", "--json", "a.json",
			   "--mem-size=2G", "--logflag", "ut_flag", "--pci-allowed", "0000:01:00.0",
			   NULL};

	CU_ASSERT_EQUAL(parse(&o, w), 0);
	CU_ASSERT_STRING_EQUAL(o.reactor_mask, "0x3");
	CU_ASSERT_STRING_EQUAL(o.rpc_addr, "/tmp/y.sock");
	CU_ASSERT_STRING_EQUAL(o.json_config_file, "a.json");
	CU_ASSERT_EQUAL(o.mem_size_mb, 2048);
	CU_ASSERT_STRING_EQUAL(o.log_flags[0], "ut_flag");
	CU_ASSERT_STRING_EQUAL(o.pci_allowed[0], "0000:01:00.0");
	CU_ASSERT_FALSE(o.no_pci);
}

static void test_mem_sizes(void)
{
	struct axon_app_opts o;
	const char *m1[] = {"-s", "256M", NULL};
	const char *m2[] = {"-s", "1GB", NULL};
	const char *m3[] = {"-s", "64mb", NULL};

	CU_ASSERT_EQUAL(parse(&o, m1), 0);
	CU_ASSERT_EQUAL(o.mem_size_mb, 256);
	CU_ASSERT_EQUAL(parse(&o, m2), 0);
	CU_ASSERT_EQUAL(o.mem_size_mb, 1024);
	CU_ASSERT_EQUAL(parse(&o, m3), 0);
	CU_ASSERT_EQUAL(o.mem_size_mb, 64);
}

/* Each bad value fails with -EINVAL and a message naming the option. */
static void expect_bad(const char *opt, const char *value, const char *needle)
{
	struct axon_app_opts o;
	const char *w[] = {opt, value, NULL};

	CU_ASSERT_EQUAL(parse(&o, w), -EINVAL);
	if (strstr(g_err, needle) == NULL) {
		fprintf(stderr, "\n  %s %s: message '%s' lacks '%s'\n", opt, value ? value : "",
			g_err, needle);
		CU_FAIL("message does not name the option");
	}
}

static void test_bad_values(void)
{
	expect_bad("-m", "zz", "-m zz");
	expect_bad("-m", "0x0", "-m 0x0");
	expect_bad("-m", "[3-1", "-m [3-1");
	expect_bad("--main-core", "x", "--main-core x");
	expect_bad("--main-core", "-1", "--main-core -1");
	expect_bad("--main-core", "99999", "--main-core 99999");
	expect_bad("-s", "abc", "-s abc");
	expect_bad("-s", "0", "-s 0");
	expect_bad("-s", "-5", "-s -5");
	expect_bad("-s", "12T", "-s 12T");
	expect_bad("-s", "99999999999999999999", "-s 9999");
	expect_bad("-L", "no_such_flag", "-L no_such_flag");
	expect_bad("--idle-sleep-us", "soon", "--idle-sleep-us soon");
	expect_bad("--idle-sleep-us", "20000000", "--idle-sleep-us 20000000");
	expect_bad("--print-level", "loud", "--print-level loud");
	expect_bad("--file-prefix", "a/b", "--file-prefix");
	expect_bad("--file-prefix", "", "--file-prefix");
	expect_bad("-r", "", "-r");
	expect_bad("--bogus", NULL, "--bogus");
	expect_bad("-q", NULL, "-q");
	expect_bad("-m", NULL, "-m");
	expect_bad("--cpumask", NULL, "--cpumask");
	expect_bad("--no-huge", "extra", "unexpected argument 'extra'");
}

static void test_too_many_flags(void)
{
	struct axon_app_opts o;
	const char *w[2 * 33 + 1];
	int i;

	for (i = 0; i < 33; i++) {
		w[2 * i] = "-L";
		w[2 * i + 1] = "ut_flag";
	}
	w[66] = NULL;
	CU_ASSERT_EQUAL(parse(&o, w), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(g_err, "at most 32 log flags"));
}

static void app_usage_ut(void)
{
	printf(" -x NUM   the ut option\n");
}

static int g_app_x;
static int g_app_long;
static int app_parse_ut(int ch, const char *arg)
{
	switch (ch) {
	case 'x':
		g_app_x = atoi(arg);
		return 0;
	case AXON_APP_OPT_BASE:
		g_app_long++;
		return 0;
	case 'y':
		fprintf(stderr, "ut: -y is refused\n");
		return -EINVAL;
	default:
		return -EINVAL;
	}
}

static const struct option g_app_longopts[] = {
	{"ut-long", no_argument, NULL, AXON_APP_OPT_BASE},
	{NULL, 0, NULL, 0},
};

static void test_help(void)
{
	struct axon_app_opts o;
	const char *w[] = {"-h", NULL};
	const char *w2[] = {"-m", "0x3", "--help", NULL};

	axon_app_opts_init(&o, "ut");
	CU_ASSERT_EQUAL(run_parse(&o, "x:y", g_app_longopts, app_parse_ut, app_usage_ut, w), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(g_out, "Usage: prog"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g_out, "--no-adaptive-polling"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g_out, "--idle-sleep-us"));
	CU_ASSERT_PTR_NOT_NULL(strstr(g_out, "the ut option"));
	CU_ASSERT_STRING_EQUAL(g_err, "");
	CU_ASSERT_EQUAL(parse(&o, w2), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(g_out, "--cpumask"));
}

static void test_app_options(void)
{
	struct axon_app_opts o;
	const char *w[] = {"-x", "7", "-m", "0x2", "--ut-long", "--no-huge", NULL};
	const char *bad[] = {"-y", NULL};

	axon_app_opts_init(&o, "ut");
	g_app_x = 0;
	g_app_long = 0;
	CU_ASSERT_EQUAL(run_parse(&o, "x:y", g_app_longopts, app_parse_ut, app_usage_ut, w), 0);
	CU_ASSERT_EQUAL(g_app_x, 7);
	CU_ASSERT_EQUAL(g_app_long, 1);
	CU_ASSERT_STRING_EQUAL(o.reactor_mask, "0x2");
	CU_ASSERT_TRUE(o.no_huge);

	axon_app_opts_init(&o, "ut");
	CU_ASSERT_EQUAL(run_parse(&o, "x:y", g_app_longopts, app_parse_ut, app_usage_ut, bad),
			-EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(g_err, "-y is refused"));

	/* A program option that shadows a common one is refused. */
	axon_app_opts_init(&o, "ut");
	CU_ASSERT_EQUAL(run_parse(&o, "m:", NULL, app_parse_ut, NULL, w), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(g_err, "-m is both"));
}

/* Parsing twice in one process starts from scratch each time. */
static void test_reparse(void)
{
	struct axon_app_opts o;
	const char *w1[] = {"-m", "0x3", "--no-huge", NULL};
	const char *w2[] = {"-s", "128", NULL};

	CU_ASSERT_EQUAL(parse(&o, w1), 0);
	CU_ASSERT_EQUAL(parse(&o, w2), 0);
	CU_ASSERT_EQUAL(o.mem_size_mb, 128);
	CU_ASSERT_FALSE(o.no_huge);
	CU_ASSERT_STRING_EQUAL(o.reactor_mask, "0x1");
}

int main(void)
{
	CU_pSuite suite;
	unsigned int n;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("app_opts", NULL, NULL);
	CU_ADD_TEST(suite, test_defaults);
	CU_ADD_TEST(suite, test_every_option);
	CU_ADD_TEST(suite, test_long_forms);
	CU_ADD_TEST(suite, test_mem_sizes);
	CU_ADD_TEST(suite, test_bad_values);
	CU_ADD_TEST(suite, test_too_many_flags);
	CU_ADD_TEST(suite, test_help);
	CU_ADD_TEST(suite, test_app_options);
	CU_ADD_TEST(suite, test_reparse);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	n = CU_get_number_of_failures();
	CU_cleanup_registry();
	return n ? 1 : 0;
}
