/*
 * Axon logging: levels, per-component debug flags, stderr or syslog output,
 * and the name of the current axon_thread in every line.
 *
 * Two thresholds, as storage operators expect from SPDK-style daemons:
 *  - the *log level* decides what reaches syslog (when syslog is open);
 *  - the *print level* decides what is written to stderr.
 * Debug messages additionally need their component flag enabled
 * (axon_log_set_flag("bdev"), or "all").
 */
#ifndef AXON_LOG_H
#define AXON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum axon_log_level {
	AXON_LOG_DISABLED = -1,
	AXON_LOG_ERROR = 0,
	AXON_LOG_WARN,
	AXON_LOG_NOTICE,
	AXON_LOG_INFO,
	AXON_LOG_DEBUG,
};

/** A component flag. Define one per component with AXON_LOG_REGISTER_COMPONENT. */
struct axon_log_flag {
	const char *name;
	bool enabled;
	struct axon_log_flag *next; /* registry link, owned by lib/log */
};

/**
 * Write one message. Prefer the AXON_*LOG macros, which fill file/line/func.
 * Safe to call from any OS thread; lines are never interleaved.
 */
void axon_log(enum axon_log_level level, const char *file, int line, const char *func,
	      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#define AXON_ERRLOG(...) axon_log(AXON_LOG_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define AXON_WARNLOG(...) axon_log(AXON_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define AXON_NOTICELOG(...) axon_log(AXON_LOG_NOTICE, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define AXON_INFOLOG(...) axon_log(AXON_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)

/** Register a component flag named FLAG (an identifier) at program start. */
void axon_log_register_flag(struct axon_log_flag *flag);
#define AXON_LOG_REGISTER_COMPONENT(FLAG)                                              \
	struct axon_log_flag axon_log_flag_##FLAG = {.name = #FLAG, .enabled = false};  \
	__attribute__((constructor)) static void axon_log_flag_register_##FLAG(void)   \
	{                                                                              \
		axon_log_register_flag(&axon_log_flag_##FLAG);                          \
	}

/** Debug message for component FLAG; costs one branch when the flag is off. */
#define AXON_DEBUGLOG(FLAG, ...)                                                       \
	do {                                                                           \
		extern struct axon_log_flag axon_log_flag_##FLAG;                      \
		if (axon_log_flag_##FLAG.enabled) {                                    \
			axon_log(AXON_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__); \
		}                                                                      \
	} while (0)

/** Threshold for syslog output. */
void axon_log_set_level(enum axon_log_level level);
enum axon_log_level axon_log_get_level(void);
/** Threshold for stderr output. */
void axon_log_set_print_level(enum axon_log_level level);
enum axon_log_level axon_log_get_print_level(void);

/** "error", "warn"/"warning", "notice", "info", "debug", "disabled" (any case). Returns -EINVAL if unknown. */
int axon_log_level_from_str(const char *str, enum axon_log_level *level);
const char *axon_log_level_to_str(enum axon_log_level level);

/**
 * Enable or disable a component flag by name; "all" addresses every flag.
 * Returns 0, or -ENOENT if no flag has that name.
 */
int axon_log_set_flag(const char *name);
int axon_log_clear_flag(const char *name);
/** Returns true if the flag exists and is enabled. */
bool axon_log_get_flag(const char *name);
/** Iterate over registered flags in name order: pass NULL to get the first. */
struct axon_log_flag *axon_log_get_next_flag(struct axon_log_flag *prev);

/** Start sending messages at or above the log level to syslog (ident "axond" etc.). */
void axon_log_open_syslog(const char *ident);
void axon_log_close(void);

/**
 * lib/thread installs this so every line names the axon_thread it came from.
 * The function returns NULL when the caller is on no axon_thread.
 */
typedef const char *(*axon_log_thread_name_fn)(void);
void axon_log_set_thread_name_fn(axon_log_thread_name_fn fn);

#ifdef __cplusplus
}
#endif
#endif /* AXON_LOG_H */
