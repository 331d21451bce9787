/*
 * The systemd notification protocol (sd_notify), for Type=notify units.
 */
#ifndef AXOND_NOTIFY_H
#define AXOND_NOTIFY_H

/**
 * Send state ("READY=1", "STOPPING=1", "STATUS=...", newline-separated) to the
 * service manager named by $NOTIFY_SOCKET. Returns 0 when sent or when no
 * manager listens (NOTIFY_SOCKET unset), else a negative errno.
 */
int axond_notify(const char *state);

#endif /* AXOND_NOTIFY_H */
