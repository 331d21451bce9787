/*
 * Axon logging (see include/axon/log.h for the contract).
 *
 * The fast path is the caller's flag or level test; everything here runs only
 * for messages that will be written. Levels and the hooks are read with
 * relaxed atomics so that an RPC changing them at run time is not a data race;
 * a message racing with the change may use either value, which is harmless.
 */
#include "axon/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Most lines fit here; longer ones are formatted into a heap buffer. */
#define LOG_LINE_STACK_SIZE 1024
/* Linux limits a task's comm name to 16 bytes including the NUL. */
#define LOG_OS_THREAD_NAME_SIZE 16
#define LOG_SYSLOG_IDENT_SIZE 64

static enum axon_log_level g_log_level = AXON_LOG_NOTICE;
static enum axon_log_level g_print_level = AXON_LOG_NOTICE;
static bool g_syslog_open;
static char g_syslog_ident[LOG_SYSLOG_IDENT_SIZE];
static axon_log_thread_name_fn g_thread_name_fn;

/*
 * Registered flags, sorted by name. Flags are registered by constructors
 * before main() and never removed, so readers need no lock.
 */
static struct axon_log_flag *g_flags;

static const struct {
	const char *name;  /* axon_log_level_to_str() and parsing */
	const char *label; /* in each line */
	int syslog_prio;
} g_levels[] = {
	[AXON_LOG_ERROR] = {"error", "ERROR", LOG_ERR},
	[AXON_LOG_WARN] = {"warn", "WARN", LOG_WARNING},
	[AXON_LOG_NOTICE] = {"notice", "NOTICE", LOG_NOTICE},
	[AXON_LOG_INFO] = {"info", "INFO", LOG_INFO},
	[AXON_LOG_DEBUG] = {"debug", "DEBUG", LOG_DEBUG},
};

static bool level_is_valid(enum axon_log_level level)
{
	return level >= AXON_LOG_DISABLED && level <= AXON_LOG_DEBUG;
}

void axon_log_set_level(enum axon_log_level level)
{
	if (level_is_valid(level)) {
		__atomic_store_n(&g_log_level, level, __ATOMIC_RELAXED);
	}
}

enum axon_log_level axon_log_get_level(void)
{
	return __atomic_load_n(&g_log_level, __ATOMIC_RELAXED);
}

void axon_log_set_print_level(enum axon_log_level level)
{
	if (level_is_valid(level)) {
		__atomic_store_n(&g_print_level, level, __ATOMIC_RELAXED);
	}
}

enum axon_log_level axon_log_get_print_level(void)
{
	return __atomic_load_n(&g_print_level, __ATOMIC_RELAXED);
}

int axon_log_level_from_str(const char *str, enum axon_log_level *level)
{
	if (str == NULL || level == NULL) {
		return -EINVAL;
	}
	if (strcasecmp(str, "disabled") == 0) {
		*level = AXON_LOG_DISABLED;
		return 0;
	}
	if (strcasecmp(str, "warning") == 0) {
		*level = AXON_LOG_WARN;
		return 0;
	}
	for (int i = AXON_LOG_ERROR; i <= AXON_LOG_DEBUG; i++) {
		if (strcasecmp(str, g_levels[i].name) == 0) {
			*level = (enum axon_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *axon_log_level_to_str(enum axon_log_level level)
{
	if (level == AXON_LOG_DISABLED) {
		return "disabled";
	}
	if (!level_is_valid(level)) {
		/* Never NULL: callers print the result with %s. */
		return "unknown";
	}
	return g_levels[level].name;
}

/* ---- component flags ---------------------------------------------------- */

void axon_log_register_flag(struct axon_log_flag *flag)
{
	struct axon_log_flag **pos = &g_flags;

	while (*pos != NULL && strcmp((*pos)->name, flag->name) < 0) {
		pos = &(*pos)->next;
	}
	if (*pos == flag) {
		return; /* registered twice (e.g. by a test): keep one entry */
	}
	flag->next = *pos;
	*pos = flag;
}

static int log_flag_set_value(const char *name, bool value)
{
	bool all = strcmp(name, "all") == 0;
	bool found = false;

	for (struct axon_log_flag *flag = g_flags; flag != NULL; flag = flag->next) {
		if (all || strcmp(flag->name, name) == 0) {
			flag->enabled = value;
			found = true;
		}
	}
	return (found || all) ? 0 : -ENOENT;
}

int axon_log_set_flag(const char *name)
{
	return name == NULL ? -ENOENT : log_flag_set_value(name, true);
}

int axon_log_clear_flag(const char *name)
{
	return name == NULL ? -ENOENT : log_flag_set_value(name, false);
}

bool axon_log_get_flag(const char *name)
{
	if (name == NULL) {
		return false;
	}
	for (struct axon_log_flag *flag = g_flags; flag != NULL; flag = flag->next) {
		if (strcmp(flag->name, name) == 0) {
			return flag->enabled;
		}
	}
	return false;
}

struct axon_log_flag *axon_log_get_next_flag(struct axon_log_flag *prev)
{
	return prev == NULL ? g_flags : prev->next;
}

/* ---- syslog and hooks --------------------------------------------------- */

void axon_log_open_syslog(const char *ident)
{
	/* openlog() keeps the pointer, so keep our own copy of the ident. */
	snprintf(g_syslog_ident, sizeof(g_syslog_ident), "%s", ident ? ident : "axon");
	openlog(g_syslog_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	__atomic_store_n(&g_syslog_open, true, __ATOMIC_RELEASE);
}

void axon_log_close(void)
{
	if (__atomic_exchange_n(&g_syslog_open, false, __ATOMIC_ACQ_REL)) {
		closelog();
	}
}

void axon_log_set_thread_name_fn(axon_log_thread_name_fn fn)
{
	__atomic_store_n(&g_thread_name_fn, fn, __ATOMIC_RELEASE);
}

/* ---- writing ------------------------------------------------------------ */

static const char *log_thread_name(char os_name[LOG_OS_THREAD_NAME_SIZE])
{
	axon_log_thread_name_fn fn = __atomic_load_n(&g_thread_name_fn, __ATOMIC_ACQUIRE);
	const char *name = fn ? fn() : NULL;

	if (name != NULL) {
		return name;
	}
	memset(os_name, 0, LOG_OS_THREAD_NAME_SIZE);
	if (prctl(PR_GET_NAME, os_name) != 0 || os_name[0] == '\0') {
		return "-";
	}
	return os_name;
}

static const char *log_basename(const char *file)
{
	const char *slash = file ? strrchr(file, '/') : NULL;

	if (file == NULL) {
		return "?";
	}
	return slash ? slash + 1 : file;
}

/* write() the whole line, resuming after signals and short writes. */
static void log_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return; /* nowhere to report a failing stderr */
		}
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Format "<prefix><message>\n" into buf, or into a heap buffer when it does
 * not fit (*heap is then set and must be freed). Returns the length, without
 * the NUL; a trailing newline in the message is not doubled.
 */
__attribute__((format(printf, 5, 0))) static size_t
log_format(char *buf, size_t size, char **heap, const char *prefix, const char *fmt, va_list ap)
{
	size_t plen = strlen(prefix);
	char *out = buf;
	va_list aq;
	int mlen;

	*heap = NULL;
	va_copy(aq, ap);
	mlen = vsnprintf(buf + plen, size > plen ? size - plen : 0, fmt, aq);
	va_end(aq);
	if (mlen < 0) {
		mlen = 0;
	}
	if (plen + (size_t)mlen + 2 > size) {
		*heap = malloc(plen + (size_t)mlen + 2);
		if (*heap != NULL) {
			out = *heap;
			vsnprintf(out + plen, (size_t)mlen + 1, fmt, ap);
		} else {
			mlen = (int)(size - plen - 2); /* keep what fitted */
		}
	}
	memcpy(out, prefix, plen);
	if (mlen > 0 && out[plen + (size_t)mlen - 1] == '\n') {
		mlen--;
	}
	out[plen + (size_t)mlen] = '\n';
	out[plen + (size_t)mlen + 1] = '\0';
	return plen + (size_t)mlen + 1;
}

static void log_prefix(char *buf, size_t size, enum axon_log_level level, const char *file,
		       int line, const char *func, bool with_time)
{
	char os_name[LOG_OS_THREAD_NAME_SIZE];
	const char *thread = log_thread_name(os_name);
	char stamp[48] = "";
	struct timespec ts;
	struct tm tm;

	if (with_time) {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		size_t n = strftime(stamp, sizeof(stamp), "[%Y-%m-%d %H:%M:%S", &tm);
		snprintf(stamp + n, sizeof(stamp) - n, ".%06ld] ", ts.tv_nsec / 1000);
	}
	if (level == AXON_LOG_DEBUG) {
		snprintf(buf, size, "%s%s %s %s:%d %s: ", stamp, thread, g_levels[level].label,
			 log_basename(file), line, func ? func : "?");
	} else {
		snprintf(buf, size, "%s%s %s: ", stamp, thread, g_levels[level].label);
	}
}

__attribute__((format(printf, 7, 0))) static void
log_emit(enum axon_log_level level, bool to_stderr, bool to_syslog, const char *file, int line,
	 const char *func, const char *fmt, va_list ap)
{
	char prefix[256];
	char buf[LOG_LINE_STACK_SIZE];
	char *heap;
	size_t len;

	if (to_stderr) {
		va_list aq;

		va_copy(aq, ap);
		log_prefix(prefix, sizeof(prefix), level, file, line, func, true);
		len = log_format(buf, sizeof(buf), &heap, prefix, fmt, aq);
		va_end(aq);
		/* One write() per line: concurrent OS threads never interleave. */
		log_write_all(STDERR_FILENO, heap ? heap : buf, len);
		free(heap);
	}
	if (to_syslog) {
		/* syslog stamps the time itself. */
		log_prefix(prefix, sizeof(prefix), level, file, line, func, false);
		len = log_format(buf, sizeof(buf), &heap, prefix, fmt, ap);
		syslog(g_levels[level].syslog_prio, "%.*s", (int)len - 1, heap ? heap : buf);
		free(heap);
	}
}

void axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...)
{
	bool to_stderr, to_syslog;
	va_list ap;

	if (level < AXON_LOG_ERROR || level > AXON_LOG_DEBUG || fmt == NULL) {
		return;
	}
	to_stderr = level <= axon_log_get_print_level();
	to_syslog = __atomic_load_n(&g_syslog_open, __ATOMIC_ACQUIRE) &&
		    level <= axon_log_get_level();
	if (!to_stderr && !to_syslog) {
		return;
	}
	va_start(ap, fmt);
	log_emit(level, to_stderr, to_syslog, file, line, func, fmt, ap);
	va_end(ap);
}
