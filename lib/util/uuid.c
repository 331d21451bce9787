/* UUIDs over libuuid; struct axon_uuid keeps libuuid's types out of our headers. */
#include "axon/util.h"

#include <errno.h>
#include <string.h>
#include <uuid/uuid.h>

AXON_STATIC_ASSERT(sizeof(struct axon_uuid) == sizeof(uuid_t), "axon_uuid is a uuid_t");

/* RFC 4122 appendix C. */
const struct axon_uuid axon_uuid_ns_dns = {{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
					    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}};
const struct axon_uuid axon_uuid_ns_url = {{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1,
					    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}};
const struct axon_uuid axon_uuid_ns_oid = {{0x6b, 0xa7, 0xb8, 0x12, 0x9d, 0xad, 0x11, 0xd1,
					    0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}};
const struct axon_uuid axon_uuid_ns_x500 = {{0x6b, 0xa7, 0xb8, 0x14, 0x9d, 0xad, 0x11, 0xd1,
					     0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}};

void axon_uuid_generate(struct axon_uuid *uuid)
{
	uuid_generate_random(uuid->u);
}

void axon_uuid_generate_sha1(struct axon_uuid *uuid, const struct axon_uuid *ns,
			     const void *name, size_t len)
{
	uuid_generate_sha1(uuid->u, ns->u, name, len);
}

int axon_uuid_parse(struct axon_uuid *uuid, const char *str)
{
	uuid_t tmp;

	/* libuuid also reads only 36 characters; make trailing junk an error. */
	if (str == NULL || strlen(str) != AXON_UUID_STRING_LEN - 1 || uuid_parse(str, tmp) != 0) {
		return -EINVAL;
	}
	memcpy(uuid->u, tmp, sizeof(uuid->u));
	return 0;
}

int axon_uuid_fmt_lower(char *buf, size_t size, const struct axon_uuid *uuid)
{
	if (buf == NULL || size < AXON_UUID_STRING_LEN) {
		return -EINVAL;
	}
	uuid_unparse_lower(uuid->u, buf);
	return 0;
}

int axon_uuid_compare(const struct axon_uuid *a, const struct axon_uuid *b)
{
	return memcmp(a->u, b->u, sizeof(a->u));
}

bool axon_uuid_is_null(const struct axon_uuid *uuid)
{
	static const struct axon_uuid null_uuid;

	return axon_uuid_compare(uuid, &null_uuid) == 0;
}
