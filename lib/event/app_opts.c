/*
 * The command-line options every Axon program takes, merged with the
 * program's own. Errors name the option and the bad value.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "axon/log.h"
#include "axon/util.h"
#include "event_internal.h"

#define COMMON_SHORT_OPTS "m:r:c:s:L:h"
#define OPTSTRING_MAX 128
#define LONGOPTS_MAX 64
/* Bounds for --idle-sleep-us: up to 10 s. */
#define IDLE_SLEEP_US_MAX 10000000ULL
/* -s: up to 1 TiB, in MiB. */
#define MEM_SIZE_MB_MAX (1024ULL * 1024)
#define DEFAULT_IDLE_SLEEP_US 1000

enum common_long_opt {
	OPT_NO_HUGE = 0x100,
	OPT_WAIT_FOR_RPC,
	OPT_MAIN_CORE,
	OPT_PCI_SCAN,
	OPT_PCI_ALLOWED,
	OPT_NO_ADAPTIVE_POLLING,
	OPT_IDLE_SLEEP_US,
	OPT_SYSLOG,
	OPT_FILE_PREFIX,
	OPT_PRINT_LEVEL,
};

static const struct option g_common_longopts[] = {
	{"cpumask", required_argument, NULL, 'm'},
	{"rpc-socket", required_argument, NULL, 'r'},
	{"config", required_argument, NULL, 'c'},
	{"json", required_argument, NULL, 'c'},
	{"mem-size", required_argument, NULL, 's'},
	{"logflag", required_argument, NULL, 'L'},
	{"help", no_argument, NULL, 'h'},
	{"no-huge", no_argument, NULL, OPT_NO_HUGE},
	{"wait-for-rpc", no_argument, NULL, OPT_WAIT_FOR_RPC},
	{"main-core", required_argument, NULL, OPT_MAIN_CORE},
	{"pci-scan", no_argument, NULL, OPT_PCI_SCAN},
	{"pci-allowed", required_argument, NULL, OPT_PCI_ALLOWED},
	{"no-adaptive-polling", no_argument, NULL, OPT_NO_ADAPTIVE_POLLING},
	{"idle-sleep-us", required_argument, NULL, OPT_IDLE_SLEEP_US},
	{"syslog", no_argument, NULL, OPT_SYSLOG},
	{"file-prefix", required_argument, NULL, OPT_FILE_PREFIX},
	{"print-level", required_argument, NULL, OPT_PRINT_LEVEL},
};

void axon_app_opts_init(struct axon_app_opts *opts, const char *name)
{
	memset(opts, 0, sizeof(*opts));
	opts->name = name != NULL ? name : "axon";
	opts->reactor_mask = "0x1";
	opts->main_core = -1;
	opts->rpc_addr = AXON_DEFAULT_RPC_ADDR;
	opts->no_pci = true;
	opts->adaptive_polling = true;
	opts->idle_sleep_us = DEFAULT_IDLE_SLEEP_US;
	opts->print_level = AXON_LOG_NOTICE;
}

static void usage(const char *prog, void (*app_usage)(void))
{
	printf("Usage: %s [options]\n\n", prog);
	printf("Common options:\n");
	printf(" -m, --cpumask MASK        reactor cores: a mask (0x3) or a list ([0-1], 0,1); default 0x1\n");
	printf("     --main-core CORE      core of the app thread; default: lowest core of the mask\n");
	printf(" -r, --rpc-socket PATH     JSON-RPC Unix socket; default %s\n", AXON_DEFAULT_RPC_ADDR);
	printf(" -c, --config FILE         replay a JSON configuration (save_config output) at start\n");
	printf(" -s, --mem-size SIZE       memory in MiB (suffixes M, G accepted); default: EAL's\n");
	printf("     --no-huge             use ordinary memory instead of hugepages\n");
	printf("     --file-prefix NAME    hugepage file prefix, unique per instance; default <name>_<pid>\n");
	printf("     --pci-scan            probe PCI devices (off by default)\n");
	printf("     --pci-allowed BDF     probe only this PCI device (repeatable; implies --pci-scan)\n");
	printf("     --wait-for-rpc        wait for framework_start_init before starting subsystems\n");
	printf("     --no-adaptive-polling never sleep: reactors poll all the time\n");
	printf("     --idle-sleep-us US    idle time before a reactor sleeps in epoll; default %d\n",
	       DEFAULT_IDLE_SLEEP_US);
	printf(" -L, --logflag FLAG        enable debug messages of a component (repeatable; 'all')\n");
	printf("     --print-level LEVEL   stderr threshold: error, warn, notice, info, debug\n");
	printf("     --syslog              also log to syslog\n");
	printf(" -h, --help                show this help\n");
	if (app_usage != NULL) {
		printf("\n%s options:\n", prog);
		app_usage();
	}
}

static int parse_u64(const char *arg, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (arg == NULL || *arg == '\0' || *arg == '-') {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v > max) {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* "256", "256M", "256MB", "2G", "2GB" -> MiB. */
static int parse_mem_size(const char *arg, size_t *mb)
{
	char num[32];
	size_t len = strlen(arg);
	uint64_t v, mult = 1;

	if (len == 0 || len >= sizeof(num)) {
		return -EINVAL;
	}
	memcpy(num, arg, len + 1);
	if (len > 1 && (num[len - 1] == 'B' || num[len - 1] == 'b')) {
		num[--len] = '\0';
	}
	if (len > 1 && (num[len - 1] == 'G' || num[len - 1] == 'g')) {
		mult = 1024;
		num[--len] = '\0';
	} else if (len > 1 && (num[len - 1] == 'M' || num[len - 1] == 'm')) {
		num[--len] = '\0';
	}
	if (parse_u64(num, MEM_SIZE_MB_MAX / mult, &v) != 0 || v == 0) {
		return -EINVAL;
	}
	*mb = (size_t)(v * mult);
	return 0;
}

static bool log_flag_exists(const char *name)
{
	struct axon_log_flag *f;

	if (strcmp(name, "all") == 0) {
		return true;
	}
	for (f = axon_log_get_next_flag(NULL); f != NULL; f = axon_log_get_next_flag(f)) {
		if (strcmp(f->name, name) == 0) {
			return true;
		}
	}
	return false;
}

static int add_to_list(const char **list, size_t max, const char *value)
{
	size_t i;

	for (i = 0; i < max; i++) {
		if (list[i] == NULL) {
			list[i] = value;
			return 0;
		}
	}
	return -E2BIG;
}

#define OPT_ERR(...)                                                   \
	do {                                                           \
		fprintf(stderr, "%s: ", opts->name);                   \
		fprintf(stderr, __VA_ARGS__);                          \
		fprintf(stderr, "\n");                                 \
		return -EINVAL;                                        \
	} while (0)

/* Apply one common option. Returns 0, 1 for -h, or -EINVAL (message printed). */
static int parse_common(int ch, const char *arg, struct axon_app_opts *opts)
{
	struct axon_cpuset set;
	enum axon_log_level level;
	uint64_t v;

	switch (ch) {
	case 'm':
		if (axon_cpuset_parse(&set, arg) != 0 || axon_cpuset_count(&set) == 0) {
			OPT_ERR("-m %s: expected a core mask (0x3) or a core list ([0-1], 0,1)", arg);
		}
		opts->reactor_mask = arg;
		return 0;
	case OPT_MAIN_CORE:
		if (parse_u64(arg, AXON_CPUSET_SIZE - 1, &v) != 0) {
			OPT_ERR("--main-core %s: expected a core number below %d", arg, AXON_CPUSET_SIZE);
		}
		opts->main_core = (int)v;
		return 0;
	case 'r':
		if (*arg == '\0') {
			OPT_ERR("-r: expected a socket path");
		}
		opts->rpc_addr = arg;
		return 0;
	case 'c':
		opts->json_config_file = arg;
		return 0;
	case 's':
		if (parse_mem_size(arg, &opts->mem_size_mb) != 0) {
			OPT_ERR("-s %s: expected a memory size in MiB (e.g. 256, 512M, 2G)", arg);
		}
		return 0;
	case 'L':
		if (!log_flag_exists(arg)) {
			OPT_ERR("-L %s: unknown log flag", arg);
		}
		if (add_to_list(opts->log_flags, AXON_COUNTOF(opts->log_flags), arg) != 0) {
			OPT_ERR("-L %s: at most %zu log flags", arg, AXON_COUNTOF(opts->log_flags));
		}
		return 0;
	case 'h':
		return 1;
	case OPT_NO_HUGE:
		opts->no_huge = true;
		return 0;
	case OPT_WAIT_FOR_RPC:
		opts->wait_for_rpc = true;
		return 0;
	case OPT_PCI_SCAN:
		opts->no_pci = false;
		return 0;
	case OPT_PCI_ALLOWED:
		if (add_to_list(opts->pci_allowed, AXON_COUNTOF(opts->pci_allowed), arg) != 0) {
			OPT_ERR("--pci-allowed %s: at most %zu devices", arg,
				AXON_COUNTOF(opts->pci_allowed));
		}
		opts->no_pci = false;
		return 0;
	case OPT_NO_ADAPTIVE_POLLING:
		opts->adaptive_polling = false;
		return 0;
	case OPT_IDLE_SLEEP_US:
		if (parse_u64(arg, IDLE_SLEEP_US_MAX, &v) != 0) {
			OPT_ERR("--idle-sleep-us %s: expected microseconds from 0 to %llu", arg,
				IDLE_SLEEP_US_MAX);
		}
		opts->idle_sleep_us = v;
		return 0;
	case OPT_SYSLOG:
		opts->use_syslog = true;
		return 0;
	case OPT_FILE_PREFIX:
		if (*arg == '\0' || strchr(arg, '/') != NULL) {
			OPT_ERR("--file-prefix '%s': expected a non-empty name without '/'", arg);
		}
		opts->file_prefix = arg;
		return 0;
	case OPT_PRINT_LEVEL:
		if (axon_log_level_from_str(arg, &level) != 0) {
			OPT_ERR("--print-level %s: expected error, warn, notice, info, debug or disabled",
				arg);
		}
		opts->print_level = level;
		return 0;
	default:
		return -ENOENT; /* not a common option */
	}
}

/* Common short options plus the program's; a clash is a programming error. */
static int build_optstring(char *buf, size_t len, const char *app_getopt)
{
	const char *p;

	for (p = app_getopt != NULL ? app_getopt : ""; *p != '\0'; p++) {
		if (*p != ':' && strchr(COMMON_SHORT_OPTS, *p) != NULL) {
			fprintf(stderr, "option -%c is both a common and a program option\n", *p);
			return -EINVAL;
		}
	}
	/* Leading ':' : report a missing argument as ':' rather than '?'. */
	if ((size_t)snprintf(buf, len, ":%s%s", COMMON_SHORT_OPTS,
			     app_getopt != NULL ? app_getopt : "") >= len) {
		return -EINVAL;
	}
	return 0;
}

static int build_longopts(struct option *out, size_t max, const struct option *app_longopts)
{
	size_t n = AXON_COUNTOF(g_common_longopts);
	size_t i;

	memcpy(out, g_common_longopts, sizeof(g_common_longopts));
	for (i = 0; app_longopts != NULL && app_longopts[i].name != NULL; i++) {
		if (n + 1 >= max) {
			fprintf(stderr, "too many program options\n");
			return -EINVAL;
		}
		out[n++] = app_longopts[i];
	}
	memset(&out[n], 0, sizeof(out[n]));
	return 0;
}

static int report_bad_option(const struct axon_app_opts *opts, int ch, char **argv)
{
	const char *word = argv[optind - 1];

	if (ch == ':') {
		fprintf(stderr, "%s: option %s needs a value\n", opts->name, word);
	} else if (optopt != 0) {
		fprintf(stderr, "%s: unknown option -%c\n", opts->name, optopt);
	} else {
		fprintf(stderr, "%s: unknown option %s\n", opts->name, word);
	}
	fprintf(stderr, "Try '%s --help' for the list of options.\n", opts->name);
	return -EINVAL;
}

int axon_app_parse_args(int argc, char **argv, struct axon_app_opts *opts,
			const char *app_getopt, const struct option *app_longopts,
			int (*app_parse_arg)(int ch, const char *arg),
			void (*app_usage)(void))
{
	char optstring[OPTSTRING_MAX];
	struct option longopts[LONGOPTS_MAX];
	bool help = false;
	int ch, rc;

	if (build_optstring(optstring, sizeof(optstring), app_getopt) != 0 ||
	    build_longopts(longopts, LONGOPTS_MAX, app_longopts) != 0) {
		return -EINVAL;
	}
	optind = 0; /* full re-initialisation: the parser may run more than once */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		if (ch == '?' || ch == ':') {
			return report_bad_option(opts, ch, argv);
		}
		rc = parse_common(ch, optarg, opts);
		if (rc == 1) {
			help = true;
			continue;
		}
		if (rc == -ENOENT && app_parse_arg != NULL) {
			rc = app_parse_arg(ch, optarg);
			if (rc != 0) {
				fprintf(stderr, "Try '%s --help' for the list of options.\n", opts->name);
				return -EINVAL;
			}
		}
		if (rc != 0) {
			return -EINVAL;
		}
	}
	if (help) {
		usage(argv[0], app_usage);
		return 1;
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", opts->name, argv[optind]);
		return -EINVAL;
	}
	return 0;
}
