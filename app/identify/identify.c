/*
 * identify: connect to one NVMe controller (or discovery controller) given
 * as a transport ID and print its Identify Controller data, its active
 * namespaces, and for a discovery controller the discovery log; readable
 * text by default, JSON with --json.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "axon/env.h"
#include "axon/event.h"
#include "axon/log.h"
#include "axon/nvme.h"
#include "axon/util.h"

struct identify_opts {
	struct axon_nvme_trid trid;
	bool have_trid;
	bool json;
	bool hdgst;
	bool ddgst;
	const char *hostnqn;
};

/* A fixed-width, space-padded identify string as a C string. */
static void field_str(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	size_t n = strnlen(src, srclen);

	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0')) {
		n--;
	}
	n = AXON_MIN(n, dstlen - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void hex_str(char *dst, const uint8_t *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		sprintf(dst + 2 * i, "%02x", src[i]);
	}
	dst[2 * len] = '\0';
}

static json_t *ctrlr_json(struct axon_nvme_ctrlr *ctrlr)
{
	const struct nvme_id_ctrl *cd = axon_nvme_ctrlr_get_data(ctrlr);
	union axon_nvme_vs vs = axon_nvme_ctrlr_get_vs(ctrlr);
	char sn[24], mn[44], fr[12], nqn[260];

	field_str(sn, sizeof(sn), cd->sn, sizeof(cd->sn));
	field_str(mn, sizeof(mn), cd->mn, sizeof(cd->mn));
	field_str(fr, sizeof(fr), cd->fr, sizeof(cd->fr));
	field_str(nqn, sizeof(nqn), cd->subnqn, sizeof(cd->subnqn));
	return json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:I, s:i, s:i, "
			 "s:i, s:b}",
			 "transport", axon_nvme_ctrlr_get_trid(ctrlr)->trstring,
			 "vid", cd->vid, "ssvid", cd->ssvid, "serial_number", sn, "model_number", mn,
			 "firmware_revision", fr, "subnqn", nqn, "cntlid",
			 axon_nvme_ctrlr_get_cntlid(ctrlr), "version_major", vs.bits.mjr,
			 "version_minor", vs.bits.mnr,
			 "max_xfer_size", (json_int_t)axon_nvme_ctrlr_get_max_xfer_size(ctrlr),
			 "num_namespaces", cd->nn, "ioccsz", cd->ioccsz, "iorcsz", cd->iorcsz,
			 "discovery", axon_nvme_ctrlr_is_discovery(ctrlr));
}

static json_t *ns_json(struct axon_nvme_ns *ns)
{
	const struct nvme_id_ns *d = axon_nvme_ns_get_data(ns);
	char nguid[33], eui[17];

	hex_str(nguid, d->nguid, sizeof(d->nguid));
	hex_str(eui, d->eui64, sizeof(d->eui64));
	return json_pack("{s:i, s:I, s:I, s:i, s:i, s:s, s:s}", "nsid", axon_nvme_ns_get_id(ns),
			 "num_sectors", (json_int_t)axon_nvme_ns_get_num_sectors(ns),
			 "size_bytes",
			 (json_int_t)(axon_nvme_ns_get_num_sectors(ns) *
				      axon_nvme_ns_get_sector_size(ns)),
			 "sector_size", axon_nvme_ns_get_sector_size(ns), "md_size",
			 axon_nvme_ns_get_md_size(ns), "nguid", nguid, "eui64", eui);
}

static const char *disc_trtype_str(uint8_t t)
{
	switch (t) {
	case NVMF_TRTYPE_RDMA:
		return "RDMA";
	case NVMF_TRTYPE_TCP:
		return "TCP";
	case NVMF_TRTYPE_FC:
		return "FC";
	case NVMF_TRTYPE_LOOP:
		return "loop";
	default:
		return "unknown";
	}
}

static const char *disc_subtype_str(uint8_t t)
{
	switch (t) {
	case NVME_NQN_DISC:
		return "referral";
	case NVME_NQN_NVME:
		return "nvme subsystem";
	case NVME_NQN_CURR:
		return "current discovery subsystem";
	default:
		return "unknown";
	}
}

static json_t *disc_json(const struct nvmf_discovery_log *log)
{
	json_t *entries = json_array();
	struct axon_nvme_trid trid;
	uint64_t i;

	for (i = 0; i < log->numrec; i++) {
		axon_nvme_trid_from_disc_entry(&trid, &log->entries[i]);
		json_array_append_new(entries, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i}",
				      "trtype", disc_trtype_str(log->entries[i].trtype), "adrfam",
				      axon_nvme_adrfam_str(trid.adrfam), "subtype",
				      disc_subtype_str(log->entries[i].subtype), "traddr",
				      trid.traddr, "trsvcid", trid.trsvcid, "portid",
				      log->entries[i].portid, "cntlid", log->entries[i].cntlid));
		json_object_set_new(json_array_get(entries, json_array_size(entries) - 1), "subnqn",
				    json_string(trid.subnqn));
	}
	return json_pack("{s:I, s:I, s:o}", "genctr", (json_int_t)log->genctr, "numrec",
			 (json_int_t)log->numrec, "entries", entries);
}

static void print_text(json_t *root)
{
	const char *key, *k2;
	json_t *value, *ns, *v2, *e;
	size_t i;

	printf("Controller\n");
	json_object_foreach(json_object_get(root, "controller"), key, value) {
		if (json_is_string(value)) {
			printf("  %-20s %s\n", key, json_string_value(value));
		} else if (json_is_boolean(value)) {
			printf("  %-20s %s\n", key, json_is_true(value) ? "yes" : "no");
		} else {
			printf("  %-20s %" JSON_INTEGER_FORMAT "\n", key, json_integer_value(value));
		}
	}
	json_array_foreach(json_object_get(root, "namespaces"), i, ns) {
		printf("Namespace %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(ns, "nsid")));
		json_object_foreach(ns, k2, v2) {
			if (json_is_string(v2)) {
				printf("  %-20s %s\n", k2, json_string_value(v2));
			} else {
				printf("  %-20s %" JSON_INTEGER_FORMAT "\n", k2,
				       json_integer_value(v2));
			}
		}
	}
	value = json_object_get(root, "discovery_log");
	if (value == NULL) {
		return;
	}
	printf("Discovery log (generation %" JSON_INTEGER_FORMAT ", %" JSON_INTEGER_FORMAT
	       " entries)\n", json_integer_value(json_object_get(value, "genctr")),
	       json_integer_value(json_object_get(value, "numrec")));
	json_array_foreach(json_object_get(value, "entries"), i, e) {
		printf("  Entry %zu\n", i);
		json_object_foreach(e, k2, v2) {
			if (json_is_string(v2)) {
				printf("    %-10s %s\n", k2, json_string_value(v2));
			} else {
				printf("    %-10s %" JSON_INTEGER_FORMAT "\n", k2,
				       json_integer_value(v2));
			}
		}
	}
}

static int identify(const struct identify_opts *o)
{
	struct axon_nvme_ctrlr_opts copts;
	struct nvmf_discovery_log *log = NULL;
	struct axon_nvme_ctrlr *ctrlr;
	struct axon_nvme_ns *ns = NULL;
	json_t *root, *nss;
	int rc = 0;

	axon_nvme_ctrlr_opts_init(&copts);
	copts.header_digest = o->hdgst;
	copts.data_digest = o->ddgst;
	copts.num_io_queues = 1;
	if (o->hostnqn != NULL) {
		snprintf(copts.hostnqn, sizeof(copts.hostnqn), "%s", o->hostnqn);
	}
	ctrlr = axon_nvme_ctrlr_connect(&o->trid, &copts);
	if (ctrlr == NULL) {
		fprintf(stderr, "identify: could not connect to the controller\n");
		return 1;
	}
	root = json_object();
	json_object_set_new(root, "controller", ctrlr_json(ctrlr));
	nss = json_array();
	while ((ns = axon_nvme_ctrlr_get_next_active_ns(ctrlr, ns)) != NULL) {
		json_array_append_new(nss, ns_json(ns));
	}
	json_object_set_new(root, "namespaces", nss);
	if (axon_nvme_ctrlr_is_discovery(ctrlr)) {
		rc = axon_nvme_ctrlr_read_discovery_log_sync(ctrlr, &log);
		if (rc != 0) {
			fprintf(stderr, "identify: reading the discovery log failed: %s\n",
				strerror(-rc));
		} else {
			json_object_set_new(root, "discovery_log", disc_json(log));
			free(log);
		}
	}
	if (o->json) {
		json_dumpf(root, stdout, JSON_INDENT(2));
		printf("\n");
	} else {
		print_text(root);
	}
	json_decref(root);
	axon_nvme_ctrlr_detach(ctrlr);
	return rc != 0 ? 1 : 0;
}

enum { OPT_HOSTNQN = AXON_APP_OPT_BASE };

static struct identify_opts g_opts;

static int identify_parse_arg(int ch, const char *arg)
{
	switch (ch) {
	case 'j':
		g_opts.json = true;
		return 0;
	case 'H':
		g_opts.hdgst = true;
		return 0;
	case 'D':
		g_opts.ddgst = true;
		return 0;
	case OPT_HOSTNQN:
		g_opts.hostnqn = arg;
		return 0;
	default:
		return -EINVAL;
	}
}

static void identify_usage(void)
{
	printf(" -r, --trid TRID      controller, e.g. 'trtype:TCP traddr:127.0.0.1 trsvcid:4420 "
	       "subnqn:nqn...'\n");
	printf("                      or 'trtype:PCIe traddr:0000:00:04.0'\n");
	printf("                      (no subnqn: the discovery controller and its log)\n");
	printf(" -j, --json           print JSON\n");
	printf(" -H, --hdgst          NVMe/TCP header digest\n");
	printf(" -D, --ddgst          NVMe/TCP data digest\n");
	printf("     --hostnqn NQN    host NQN (default: /etc/nvme/hostnqn)\n");
}

/*
 * -r is the common RPC-socket option and --json the common config-file option
 * elsewhere, but NVMe tools take the TRID as -r and identify promises --json
 * output: take both out of argv before the common parser sees them.
 * Returns the new argc, or -EINVAL after printing why.
 */
static int take_trid_option(int argc, char **argv, char **rest)
{
	char err[256];
	int n = 0;

	rest[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *value = NULL;

		if (strcmp(argv[i], "--json") == 0) {
			g_opts.json = true;
			continue;
		}
		if (strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--trid") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "identify: %s needs a TRID\n", argv[i]);
				return -EINVAL;
			}
			value = argv[++i];
		} else if (strncmp(argv[i], "-r", 2) == 0) {
			value = argv[i] + 2;
		} else if (strncmp(argv[i], "--trid=", 7) == 0) {
			value = argv[i] + 7;
		} else {
			rest[n++] = argv[i];
			continue;
		}
		if (axon_nvme_trid_parse(&g_opts.trid, value, err, sizeof(err)) != 0) {
			fprintf(stderr, "identify: -r '%s': %s\n", value, err);
			return -EINVAL;
		}
		g_opts.have_trid = true;
	}
	rest[n] = NULL;
	return n;
}

/*
 * identify is one synchronous connect-print-detach: it needs the DMA memory
 * (PCIe) but no reactor, so it brings up only the environment, from the same
 * common options every Axon program takes.
 */
static int identify_with_env(const struct axon_app_opts *app)
{
	struct axon_env_opts env;
	int rc;

	axon_env_opts_init(&env);
	env.name = app->name;
	env.core_mask = app->reactor_mask;
	env.main_core = app->main_core;
	env.mem_size_mb = app->mem_size_mb;
	env.no_huge = app->no_huge;
	env.file_prefix = app->file_prefix;
	rc = axon_env_init(&env);
	if (rc != 0) {
		fprintf(stderr, "identify: cannot initialise the environment: %s\n", strerror(-rc));
		return 1;
	}
	rc = identify(&g_opts);
	axon_env_fini();
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"hdgst", no_argument, NULL, 'H'},
		{"ddgst", no_argument, NULL, 'D'},
		{"hostnqn", required_argument, NULL, OPT_HOSTNQN},
		{NULL, 0, NULL, 0},
	};
	struct axon_app_opts opts;
	char **rest;
	int n, rc;

	rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (rest == NULL) {
		return 1;
	}
	axon_app_opts_init(&opts, "identify");
	opts.rpc_addr = NULL; /* a one-shot tool serves no RPCs */
	n = take_trid_option(argc, argv, rest);
	if (n < 0) {
		free(rest);
		return 2;
	}
	rc = axon_app_parse_args(n, rest, &opts, "jHD", longopts, identify_parse_arg,
				 identify_usage);
	if (rc != 0) {
		free(rest);
		return rc > 0 ? 0 : 2;
	}
	if (!g_opts.have_trid) {
		fprintf(stderr, "identify: -r TRID is required (see -h)\n");
		free(rest);
		return 2;
	}
	for (int i = 0; opts.log_flags[i] != NULL; i++) {
		axon_log_set_flag(opts.log_flags[i]);
	}
	axon_log_set_print_level(opts.print_level);
	rc = identify_with_env(&opts);
	free(rest);
	return rc;
}
