/*
 * sd_notify through libsystemd when configure found it; otherwise the
 * protocol by hand: one datagram of "KEY=VALUE" lines to the AF_UNIX socket
 * in $NOTIFY_SOCKET, where a leading '@' names an abstract socket.
 */
#include <errno.h>

#include "notify.h"

#ifdef AXON_CONFIG_SYSTEMD
#include <systemd/sd-daemon.h>

int axond_notify(const char *state)
{
	int rc = sd_notify(0, state);

	return rc < 0 ? rc : 0;
}

#else
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int axond_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len, state_len = strlen(state);
	socklen_t addr_len;
	ssize_t n;
	int fd, rc = 0;

	if (path == NULL || path[0] == '\0') {
		return 0;
	}
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(addr.sun_path)) {
		return -EINVAL;
	}
	memcpy(addr.sun_path, path, len);
	if (path[0] == '@') {
		addr.sun_path[0] = '\0';
	}
	addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	n = sendto(fd, state, state_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
	if (n < 0) {
		rc = -errno;
	} else if ((size_t)n != state_len) {
		rc = -EMSGSIZE;
	}
	close(fd);
	return rc;
}
#endif
