/*
 * Transport IDs: parsing the "key:value ..." form users type, and printing it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "nvme_internal.h"

/* Longest "key:value" token we look at (a traddr or NQN fits). */
#define TRID_TOKEN_MAX 512

static const struct {
	enum axon_nvme_trtype type;
	const char *name;
} g_trtypes[] = {
	{AXON_NVME_TRTYPE_PCIE, "PCIe"},
	{AXON_NVME_TRTYPE_TCP, "TCP"},
	{AXON_NVME_TRTYPE_RDMA, "RDMA"},
};

static const struct {
	enum axon_nvme_adrfam fam;
	const char *name;
} g_adrfams[] = {
	{AXON_NVME_ADRFAM_IPV4, "IPv4"},
	{AXON_NVME_ADRFAM_IPV6, "IPv6"},
	{AXON_NVME_ADRFAM_IB, "IB"},
	{AXON_NVME_ADRFAM_FC, "FC"},
	{AXON_NVME_ADRFAM_INTRA_HOST, "intra_host"},
};

int axon_nvme_trtype_parse(const char *str, enum axon_nvme_trtype *trtype)
{
	size_t i;

	for (i = 0; str != NULL && i < AXON_COUNTOF(g_trtypes); i++) {
		if (strcasecmp(str, g_trtypes[i].name) == 0) {
			*trtype = g_trtypes[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

const char *axon_nvme_trtype_str(enum axon_nvme_trtype trtype)
{
	size_t i;

	for (i = 0; i < AXON_COUNTOF(g_trtypes); i++) {
		if (g_trtypes[i].type == trtype) {
			return g_trtypes[i].name;
		}
	}
	return "none";
}

int axon_nvme_adrfam_parse(const char *str, enum axon_nvme_adrfam *adrfam)
{
	size_t i;

	for (i = 0; str != NULL && i < AXON_COUNTOF(g_adrfams); i++) {
		if (strcasecmp(str, g_adrfams[i].name) == 0) {
			*adrfam = g_adrfams[i].fam;
			return 0;
		}
	}
	return -EINVAL;
}

const char *axon_nvme_adrfam_str(enum axon_nvme_adrfam adrfam)
{
	size_t i;

	for (i = 0; i < AXON_COUNTOF(g_adrfams); i++) {
		if (g_adrfams[i].fam == adrfam) {
			return g_adrfams[i].name;
		}
	}
	return "none";
}

__attribute__((format(printf, 3, 4))) static int trid_error(char *errbuf, size_t errlen,
							    const char *fmt, ...)
{
	char msg[TRID_TOKEN_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (errbuf != NULL && errlen > 0) {
		snprintf(errbuf, errlen, "%s", msg);
	} else {
		AXON_ERRLOG("transport ID: %s\n", msg);
	}
	return -EINVAL;
}

/* Copy value into a field of size bytes, or fail naming key. */
static int trid_copy(char *dst, size_t size, const char *key, const char *value, char *errbuf,
		     size_t errlen)
{
	if (*value == '\0') {
		return trid_error(errbuf, errlen, "key '%s' has an empty value", key);
	}
	if (axon_strscpy(dst, value, size) < 0) {
		return trid_error(errbuf, errlen, "key '%s': value longer than %zu bytes", key,
				  size - 1);
	}
	return 0;
}

static int trid_check_nqn(const char *key, const char *value, char *errbuf, size_t errlen)
{
	if (strncmp(value, "nqn.", 4) != 0) {
		return trid_error(errbuf, errlen, "key '%s': '%s' is not an NQN (nqn.yyyy-mm.domain...)",
				  key, value);
	}
	if (strlen(value) > AXON_NVMF_NQN_MAX_LEN) {
		return trid_error(errbuf, errlen, "key '%s': NQN longer than %d bytes", key,
				  AXON_NVMF_NQN_MAX_LEN);
	}
	return 0;
}

/* Bit per key, to refuse duplicates. */
enum trid_key {
	KEY_TRTYPE = 1 << 0,
	KEY_ADRFAM = 1 << 1,
	KEY_TRADDR = 1 << 2,
	KEY_TRSVCID = 1 << 3,
	KEY_SUBNQN = 1 << 4,
	KEY_HOSTNQN = 1 << 5,
	KEY_HOSTID = 1 << 6,
	KEY_NS = 1 << 7,
};

static const struct {
	const char *name;
	enum trid_key key;
} g_keys[] = {
	{"trtype", KEY_TRTYPE}, {"adrfam", KEY_ADRFAM},   {"traddr", KEY_TRADDR},
	{"trsvcid", KEY_TRSVCID}, {"subnqn", KEY_SUBNQN}, {"hostnqn", KEY_HOSTNQN},
	{"hostid", KEY_HOSTID}, {"ns", KEY_NS},
};

static int trid_apply(struct axon_nvme_trid *trid, enum trid_key key, const char *name,
		      const char *value, char *errbuf, size_t errlen)
{
	struct axon_uuid uuid;
	long nsid;

	switch (key) {
	case KEY_TRTYPE:
		if (axon_nvme_trtype_parse(value, &trid->trtype) != 0) {
			return trid_error(errbuf, errlen,
					  "key 'trtype': unknown transport '%s' (PCIe, TCP, RDMA)",
					  value);
		}
		snprintf(trid->trstring, sizeof(trid->trstring), "%s",
			 axon_nvme_trtype_str(trid->trtype));
		return 0;
	case KEY_ADRFAM:
		if (axon_nvme_adrfam_parse(value, &trid->adrfam) != 0) {
			return trid_error(errbuf, errlen,
					  "key 'adrfam': unknown address family '%s' "
					  "(IPv4, IPv6, IB, FC, intra_host)", value);
		}
		return 0;
	case KEY_TRADDR:
		return trid_copy(trid->traddr, sizeof(trid->traddr), name, value, errbuf, errlen);
	case KEY_TRSVCID:
		return trid_copy(trid->trsvcid, sizeof(trid->trsvcid), name, value, errbuf, errlen);
	case KEY_SUBNQN:
		if (trid_check_nqn(name, value, errbuf, errlen) != 0) {
			return -EINVAL;
		}
		return trid_copy(trid->subnqn, sizeof(trid->subnqn), name, value, errbuf, errlen);
	case KEY_HOSTNQN:
		if (trid_check_nqn(name, value, errbuf, errlen) != 0) {
			return -EINVAL;
		}
		return trid_copy(trid->hostnqn, sizeof(trid->hostnqn), name, value, errbuf, errlen);
	case KEY_HOSTID:
		if (axon_uuid_parse(&uuid, value) != 0) {
			return trid_error(errbuf, errlen, "key 'hostid': '%s' is not a UUID", value);
		}
		return trid_copy(trid->hostid, sizeof(trid->hostid), name, value, errbuf, errlen);
	case KEY_NS:
		if (axon_strtol(value, 10, &nsid) != 0 || nsid < 1 || nsid > 0xfffffffeL) {
			return trid_error(errbuf, errlen,
					  "key 'ns': '%s' is not a namespace id (1..4294967294)",
					  value);
		}
		trid->nsid = (uint32_t)nsid;
		return 0;
	}
	return -EINVAL;
}

/* One "key:value" token. seen accumulates the keys given. */
static int trid_parse_token(struct axon_nvme_trid *trid, char *tok, uint32_t *seen,
			    char *errbuf, size_t errlen)
{
	char *sep = tok + strcspn(tok, ":=");
	const char *value;
	size_t i;

	if (*sep == '\0') {
		return trid_error(errbuf, errlen, "'%s' is not key:value", tok);
	}
	*sep = '\0';
	value = sep + 1;
	for (i = 0; i < AXON_COUNTOF(g_keys); i++) {
		if (strcasecmp(tok, g_keys[i].name) != 0) {
			continue;
		}
		if (*seen & g_keys[i].key) {
			return trid_error(errbuf, errlen, "key '%s' given twice", g_keys[i].name);
		}
		*seen |= g_keys[i].key;
		return trid_apply(trid, g_keys[i].key, g_keys[i].name, value, errbuf, errlen);
	}
	return trid_error(errbuf, errlen,
			  "unknown key '%s' (trtype, adrfam, traddr, trsvcid, subnqn, hostnqn, "
			  "hostid, ns)", tok);
}

static int trid_finish(struct axon_nvme_trid *trid, uint32_t seen, char *errbuf, size_t errlen)
{
	if (!(seen & KEY_TRTYPE)) {
		return trid_error(errbuf, errlen, "key 'trtype' is missing");
	}
	if (!(seen & KEY_TRADDR)) {
		return trid_error(errbuf, errlen, "key 'traddr' is missing");
	}
	if (trid->trtype == AXON_NVME_TRTYPE_PCIE) {
		if (seen & (KEY_SUBNQN | KEY_TRSVCID)) {
			return trid_error(errbuf, errlen, "key '%s' does not apply to PCIe",
					  (seen & KEY_SUBNQN) ? "subnqn" : "trsvcid");
		}
		return 0;
	}
	if (!(seen & KEY_ADRFAM)) {
		trid->adrfam = strchr(trid->traddr, ':') != NULL ? AXON_NVME_ADRFAM_IPV6
								 : AXON_NVME_ADRFAM_IPV4;
	}
	if (!(seen & KEY_TRSVCID)) {
		snprintf(trid->trsvcid, sizeof(trid->trsvcid), "%s", AXON_NVME_DEFAULT_TRSVCID);
	}
	if (!(seen & KEY_SUBNQN)) {
		snprintf(trid->subnqn, sizeof(trid->subnqn), "%s", AXON_NVME_DISCOVERY_NQN);
	}
	return 0;
}

int axon_nvme_trid_parse(struct axon_nvme_trid *trid, const char *str, char *errbuf,
			 size_t errlen)
{
	char tok[TRID_TOKEN_MAX + 1];
	uint32_t seen = 0;
	const char *p;
	size_t n;
	int rc;

	if (trid == NULL || str == NULL) {
		return trid_error(errbuf, errlen, "no transport ID given");
	}
	memset(trid, 0, sizeof(*trid));
	p = str;
	for (;;) {
		while (isspace((unsigned char)*p)) {
			p++;
		}
		if (*p == '\0') {
			break;
		}
		n = strcspn(p, " \t\n\r\f\v");
		if (n > TRID_TOKEN_MAX) {
			return trid_error(errbuf, errlen, "'%.32s...' is too long", p);
		}
		memcpy(tok, p, n);
		tok[n] = '\0';
		p += n;
		rc = trid_parse_token(trid, tok, &seen, errbuf, errlen);
		if (rc != 0) {
			return rc;
		}
	}
	return trid_finish(trid, seen, errbuf, errlen);
}

int axon_nvme_trid_fmt(const struct axon_nvme_trid *trid, char *buf, size_t len)
{
	int n;

	if (trid->trtype == AXON_NVME_TRTYPE_PCIE) {
		n = snprintf(buf, len, "trtype:PCIe traddr:%s", trid->traddr);
	} else {
		n = snprintf(buf, len, "trtype:%s adrfam:%s traddr:%s trsvcid:%s subnqn:%s",
			     axon_nvme_trtype_str(trid->trtype), axon_nvme_adrfam_str(trid->adrfam),
			     trid->traddr, trid->trsvcid, trid->subnqn);
	}
	if (n < 0 || (size_t)n >= len) {
		return -ENOSPC;
	}
	return n;
}

/* Copy a fixed-size, space-padded discovery field into a C string. */
static void disc_field_copy(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t n = strnlen(src, srclen);

	while (n > 0 && src[n - 1] == ' ') {
		n--;
	}
	if (n >= dstlen) {
		n = dstlen - 1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void axon_nvme_trid_from_disc_entry(struct axon_nvme_trid *trid,
				    const struct nvmf_disc_log_entry *entry)
{
	memset(trid, 0, sizeof(*trid));
	switch (entry->trtype) {
	case NVMF_TRTYPE_RDMA:
		trid->trtype = AXON_NVME_TRTYPE_RDMA;
		break;
	case NVMF_TRTYPE_TCP:
		trid->trtype = AXON_NVME_TRTYPE_TCP;
		break;
	default:
		trid->trtype = AXON_NVME_TRTYPE_NONE;
		break;
	}
	snprintf(trid->trstring, sizeof(trid->trstring), "%s", axon_nvme_trtype_str(trid->trtype));
	trid->adrfam = (enum axon_nvme_adrfam)entry->adrfam;
	disc_field_copy(trid->traddr, sizeof(trid->traddr), entry->traddr, sizeof(entry->traddr));
	disc_field_copy(trid->trsvcid, sizeof(trid->trsvcid), entry->trsvcid,
			sizeof(entry->trsvcid));
	disc_field_copy(trid->subnqn, sizeof(trid->subnqn), entry->subnqn, sizeof(entry->subnqn));
}
