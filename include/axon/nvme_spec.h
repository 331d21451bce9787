/*
 * NVMe wire structures that libnvme's <nvme/types.h> does not define.
 *
 * libnvme gives us the data structures a host reads (identify, log pages,
 * discovery log entries, status code enums, opcodes, feature ids). What it
 * lacks, and what lives here:
 *   - the submission queue entry (64 bytes) and completion queue entry (16),
 *   - the SGL descriptor (16 bytes),
 *   - the controller properties CAP, VS, CC and CSTS as bit fields,
 *   - the NVMe over Fabrics command capsules (Connect and its 1024-byte data,
 *     Property Get / Set, Disconnect) and their responses,
 *   - the NVMe/TCP PDUs (common header, ICReq/ICResp, CapsuleCmd/Resp,
 *     H2CData, C2HData, R2T, H2C/C2H TermReq) with flags, digest lengths and
 *     fatal error status codes.
 *
 * Every structure is little-endian on the wire; Axon runs on little-endian
 * hosts only (asserted below), so fields are plain integers. Sizes and the
 * offsets a parser depends on are checked with static asserts.
 */
#ifndef AXON_NVME_SPEC_H
#define AXON_NVME_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include <nvme/types.h>

#ifdef __cplusplus
extern "C" {
#endif

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "NVMe structures are little-endian; Axon supports little-endian hosts only");

/* ---- status ---------------------------------------------------------------- */

/*
 * The 15-bit status field of a CQE (bits 17..31 of DW3), without the phase
 * tag: SC in bits 0..7, SCT in 8..10, CRD in 11..12, More in 13, DNR in 14.
 * Axon passes NVMe status around as this uint16_t, never as an errno.
 */
#define AXON_NVME_STATUS(sct, sc) ((uint16_t)((((sct) & 0x7u) << 8) | ((sc) & 0xffu)))
#define AXON_NVME_STATUS_SC(status) ((uint8_t)((status) & 0xffu))
#define AXON_NVME_STATUS_SCT(status) ((uint8_t)(((status) >> 8) & 0x7u))
#define AXON_NVME_STATUS_DNR (1u << 14)
#define AXON_NVME_STATUS_MORE (1u << 13)
#define AXON_NVME_STATUS_SUCCESS 0

/* ---- SGL descriptor ------------------------------------------------------ */

/* Descriptor types (upper nibble of the identifier byte). */
enum axon_nvme_sgl_type {
	AXON_NVME_SGL_TYPE_DATA_BLOCK = 0x0,
	AXON_NVME_SGL_TYPE_BIT_BUCKET = 0x1,
	AXON_NVME_SGL_TYPE_SEGMENT = 0x2,
	AXON_NVME_SGL_TYPE_LAST_SEGMENT = 0x3,
	AXON_NVME_SGL_TYPE_KEYED_DATA_BLOCK = 0x4,
	AXON_NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK = 0x5,
	AXON_NVME_SGL_TYPE_VENDOR_SPECIFIC = 0xf,
};

/* Descriptor subtypes (lower nibble). */
enum axon_nvme_sgl_subtype {
	AXON_NVME_SGL_SUBTYPE_ADDRESS = 0x0,
	/* address is an offset into the in-capsule data */
	AXON_NVME_SGL_SUBTYPE_OFFSET = 0x1,
	/* the transport defines the data (NVMe/TCP: data follows in PDUs) */
	AXON_NVME_SGL_SUBTYPE_TRANSPORT = 0xa,
	/* keyed SGL with invalidate (RDMA) */
	AXON_NVME_SGL_SUBTYPE_INVALIDATE_KEY = 0xf,
};

struct axon_nvme_sgl_desc {
	uint64_t address;
	union {
		struct {
			uint8_t reserved[7];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} generic;
		struct {
			uint32_t length;
			uint8_t reserved[3];
			uint8_t subtype : 4;
			uint8_t type : 4;
		} unkeyed;
		struct {
			uint64_t length : 24;
			uint64_t key : 32;
			uint64_t subtype : 4;
			uint64_t type : 4;
		} keyed;
	};
};
_Static_assert(sizeof(struct axon_nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

/* ---- submission queue entry --------------------------------------------- */

/* Fused operation (bits 9:8 of CDW0). */
enum axon_nvme_fuse {
	AXON_NVME_FUSE_NONE = 0x0,
	AXON_NVME_FUSE_FIRST = 0x1,  /* first command of a fused pair (Compare) */
	AXON_NVME_FUSE_SECOND = 0x2, /* second command (Write) */
};

/* PRP or SGL for data transfer (PSDT, bits 15:14 of CDW0). */
enum axon_nvme_psdt {
	AXON_NVME_PSDT_PRP = 0x0,
	AXON_NVME_PSDT_SGL_MPTR_CONTIG = 0x1,
	AXON_NVME_PSDT_SGL_MPTR_SGL = 0x2,
};

/* Data direction: the low two bits of every NVMe opcode (and of fctype). */
enum axon_nvme_data_xfer {
	AXON_NVME_DATA_NONE = 0,
	AXON_NVME_DATA_HOST_TO_CONTROLLER = 1,
	AXON_NVME_DATA_CONTROLLER_TO_HOST = 2,
	AXON_NVME_DATA_BIDIRECTIONAL = 3,
};

static inline enum axon_nvme_data_xfer axon_nvme_opc_get_data_xfer(uint8_t opc)
{
	return (enum axon_nvme_data_xfer)(opc & 0x3);
}

struct axon_nvme_cmd {
	/* dword 0 */
	uint16_t opc : 8;
	uint16_t fuse : 2;
	uint16_t rsvd1 : 4;
	uint16_t psdt : 2;
	uint16_t cid;
	/* dword 1 */
	uint32_t nsid;
	/* dwords 2-3 */
	uint32_t cdw2;
	uint32_t cdw3;
	/* dwords 4-5 */
	uint64_t mptr;
	/* dwords 6-9 */
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		} prp;
		struct axon_nvme_sgl_desc sgl1;
	} dptr;
	/* dwords 10-15 */
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
_Static_assert(sizeof(struct axon_nvme_cmd) == 64, "SQE is 64 bytes");
_Static_assert(offsetof(struct axon_nvme_cmd, cid) == 2, "cid at byte 2");
_Static_assert(offsetof(struct axon_nvme_cmd, nsid) == 4, "nsid at byte 4");
_Static_assert(offsetof(struct axon_nvme_cmd, mptr) == 16, "mptr at byte 16");
_Static_assert(offsetof(struct axon_nvme_cmd, dptr) == 24, "dptr at byte 24");
_Static_assert(offsetof(struct axon_nvme_cmd, cdw10) == 40, "cdw10 at byte 40");
_Static_assert(offsetof(struct axon_nvme_cmd, cdw15) == 60, "cdw15 at byte 60");

/* ---- completion queue entry ---------------------------------------------- */

struct axon_nvme_cpl {
	uint32_t cdw0; /* command specific */
	uint32_t cdw1; /* command specific (reserved for most) */
	uint16_t sqhd; /* submission queue head pointer */
	uint16_t sqid;
	uint16_t cid;
	/* bit 0: phase tag (unused on fabrics); bits 1..15: AXON_NVME_STATUS() << 1 */
	uint16_t status;
};
_Static_assert(sizeof(struct axon_nvme_cpl) == 16, "CQE is 16 bytes");
_Static_assert(offsetof(struct axon_nvme_cpl, cid) == 12, "cid at byte 12");
_Static_assert(offsetof(struct axon_nvme_cpl, status) == 14, "status at byte 14");

/** Store a status (AXON_NVME_STATUS form, may include DNR/More) in a CQE. */
static inline void axon_nvme_cpl_set_status(struct axon_nvme_cpl *cpl, uint16_t status)
{
	cpl->status = (uint16_t)((cpl->status & 0x1u) | (uint16_t)(status << 1));
}

/** The status of a CQE in AXON_NVME_STATUS form (with DNR/More). */
static inline uint16_t axon_nvme_cpl_get_status(const struct axon_nvme_cpl *cpl)
{
	return (uint16_t)(cpl->status >> 1);
}

static inline int axon_nvme_cpl_is_error(const struct axon_nvme_cpl *cpl)
{
	return (axon_nvme_cpl_get_status(cpl) & 0x7ffu) != 0;
}

/* ---- controller properties (fabrics) / registers (PCIe) ------------------- */

enum axon_nvme_prop_offset {
	AXON_NVME_PROP_CAP = 0x00,   /* 8 bytes */
	AXON_NVME_PROP_VS = 0x08,    /* 4 bytes */
	AXON_NVME_PROP_INTMS = 0x0c, /* 4, reserved on fabrics */
	AXON_NVME_PROP_INTMC = 0x10, /* 4, reserved on fabrics */
	AXON_NVME_PROP_CC = 0x14,    /* 4 bytes */
	AXON_NVME_PROP_CSTS = 0x1c,  /* 4 bytes */
	AXON_NVME_PROP_NSSR = 0x20,  /* 4 bytes */
};

union axon_nvme_cap {
	uint64_t raw;
	struct {
		uint64_t mqes : 16;  /* max queue entries, 0's based */
		uint64_t cqr : 1;    /* contiguous queues required */
		uint64_t ams : 2;    /* arbitration mechanisms supported */
		uint64_t rsvd1 : 5;
		uint64_t to : 8;     /* ready timeout, 500 ms units */
		uint64_t dstrd : 4;
		uint64_t nssrs : 1;
		uint64_t css : 8;    /* command sets supported (bit 0: NVM) */
		uint64_t bps : 1;
		uint64_t cps : 2;
		uint64_t mpsmin : 4; /* 2 ^ (12 + mpsmin) */
		uint64_t mpsmax : 4;
		uint64_t pmrs : 1;
		uint64_t cmbs : 1;
		uint64_t nsss : 1;
		uint64_t crms : 2;
		uint64_t rsvd2 : 3;
	} bits;
};
_Static_assert(sizeof(union axon_nvme_cap) == 8, "CAP is 8 bytes");

union axon_nvme_vs {
	uint32_t raw;
	struct {
		uint32_t ter : 8;
		uint32_t mnr : 8;
		uint32_t mjr : 16;
	} bits;
};
_Static_assert(sizeof(union axon_nvme_vs) == 4, "VS is 4 bytes");

/* CC.SHN / CSTS.SHST values. */
enum axon_nvme_shn {
	AXON_NVME_SHN_NONE = 0x0,
	AXON_NVME_SHN_NORMAL = 0x1,
	AXON_NVME_SHN_ABRUPT = 0x2,
};
enum axon_nvme_shst {
	AXON_NVME_SHST_NORMAL = 0x0,     /* normal operation */
	AXON_NVME_SHST_OCCURRING = 0x1,  /* shutdown processing occurring */
	AXON_NVME_SHST_COMPLETE = 0x2,   /* shutdown processing complete */
};

union axon_nvme_cc {
	uint32_t raw;
	struct {
		uint32_t en : 1;
		uint32_t rsvd1 : 3;
		uint32_t css : 3;
		uint32_t mps : 4;
		uint32_t ams : 3;
		uint32_t shn : 2;
		uint32_t iosqes : 4;
		uint32_t iocqes : 4;
		uint32_t crime : 1;
		uint32_t rsvd2 : 7;
	} bits;
};
_Static_assert(sizeof(union axon_nvme_cc) == 4, "CC is 4 bytes");

union axon_nvme_csts {
	uint32_t raw;
	struct {
		uint32_t rdy : 1;
		uint32_t cfs : 1;
		uint32_t shst : 2;
		uint32_t nssro : 1;
		uint32_t pp : 1;
		uint32_t st : 1;
		uint32_t rsvd : 25;
	} bits;
};
_Static_assert(sizeof(union axon_nvme_csts) == 4, "CSTS is 4 bytes");

/* ---- NVMe over Fabrics commands ------------------------------------------- */

/** Opcode of every fabrics command; fctype says which one. */
#define AXON_NVMF_FABRIC_OPCODE 0x7f

enum axon_nvmf_fctype {
	AXON_NVMF_FCTYPE_PROPERTY_SET = 0x00,
	AXON_NVMF_FCTYPE_CONNECT = 0x01,
	AXON_NVMF_FCTYPE_PROPERTY_GET = 0x04,
	AXON_NVMF_FCTYPE_AUTH_SEND = 0x05,
	AXON_NVMF_FCTYPE_AUTH_RECV = 0x06,
	AXON_NVMF_FCTYPE_DISCONNECT = 0x08,
};

/** The generic fabrics command capsule. */
struct axon_nvmf_capsule_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t fabric_specific[24];
};
_Static_assert(sizeof(struct axon_nvmf_capsule_cmd) == 64, "fabrics capsule is 64 bytes");
_Static_assert(offsetof(struct axon_nvmf_capsule_cmd, fctype) == 4, "fctype at byte 4");

/** Connect command (the SGL describes the 1024-byte connect data). */
struct axon_nvmf_connect_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[19];
	struct axon_nvme_sgl_desc sgl1;
	uint16_t recfmt; /* record format: 0 */
	uint16_t qid;    /* 0: admin queue */
	uint16_t sqsize; /* 0's based */
	uint8_t cattr;   /* bit 2: SQ flow control disable */
	uint8_t rsvd3;
	uint32_t kato;   /* keep alive timeout, ms (admin queue only) */
	uint8_t rsvd4[12];
};
_Static_assert(sizeof(struct axon_nvmf_connect_cmd) == 64, "connect is 64 bytes");
_Static_assert(offsetof(struct axon_nvmf_connect_cmd, sgl1) == 24, "sgl1 at byte 24");
_Static_assert(offsetof(struct axon_nvmf_connect_cmd, recfmt) == 40, "recfmt at byte 40");
_Static_assert(offsetof(struct axon_nvmf_connect_cmd, qid) == 42, "qid at byte 42");
_Static_assert(offsetof(struct axon_nvmf_connect_cmd, sqsize) == 44, "sqsize at byte 44");
_Static_assert(offsetof(struct axon_nvmf_connect_cmd, kato) == 48, "kato at byte 48");

#define AXON_NVMF_CONNECT_CATTR_DISABLE_SQFLOW (1u << 2)
/** The cntlid a host puts in connect data to ask for any controller (dynamic model). */
#define AXON_NVMF_CNTLID_DYNAMIC 0xffff
/** Highest valid controller id. */
#define AXON_NVMF_CNTLID_MAX 0xffef

/** NQN fields are this long in connect data and discovery entries. */
#define AXON_NVMF_NQN_FIELD_LEN 256
/** Longest NQN, without the NUL (NVMe Base: 223 bytes). */
#define AXON_NVMF_NQN_MAX_LEN 223

/** The data of a Connect command. */
struct axon_nvmf_connect_data {
	uint8_t hostid[16];
	uint16_t cntlid;
	uint8_t rsvd1[238];
	char subnqn[AXON_NVMF_NQN_FIELD_LEN];
	char hostnqn[AXON_NVMF_NQN_FIELD_LEN];
	uint8_t rsvd2[256];
};
_Static_assert(sizeof(struct axon_nvmf_connect_data) == 1024, "connect data is 1024 bytes");
_Static_assert(offsetof(struct axon_nvmf_connect_data, subnqn) == 256, "subnqn at byte 256");
_Static_assert(offsetof(struct axon_nvmf_connect_data, hostnqn) == 512, "hostnqn at byte 512");

/** Connect response. */
struct axon_nvmf_connect_rsp {
	union {
		struct {
			uint16_t cntlid;
			uint16_t authreq;
		} success;
		/* Connect Invalid Parameters: which byte was wrong. */
		struct {
			uint8_t iattr; /* 0: in the command, 1: in the data */
			uint8_t rsvd;
			uint16_t ipo;  /* offset of the invalid parameter */
		} invalid;
		uint32_t raw;
	} status_code_specific;
	uint32_t rsvd;
	uint16_t sqhd;
	uint16_t rsvd2;
	uint16_t cid;
	uint16_t status;
};
_Static_assert(sizeof(struct axon_nvmf_connect_rsp) == 16, "connect response is 16 bytes");

/* Property Get / Set: ATTRIB bits 2:0 give the size. */
enum axon_nvmf_prop_size {
	AXON_NVMF_PROP_SIZE_4 = 0,
	AXON_NVMF_PROP_SIZE_8 = 1,
};

struct axon_nvmf_prop_get_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib; /* bits 2:0: enum axon_nvmf_prop_size */
	uint8_t rsvd3[3];
	uint32_t ofst;
	uint8_t rsvd4[16];
};
_Static_assert(sizeof(struct axon_nvmf_prop_get_cmd) == 64, "property get is 64 bytes");
_Static_assert(offsetof(struct axon_nvmf_prop_get_cmd, attrib) == 40, "attrib at byte 40");
_Static_assert(offsetof(struct axon_nvmf_prop_get_cmd, ofst) == 44, "ofst at byte 44");

struct axon_nvmf_prop_get_rsp {
	uint64_t value;
	uint16_t sqhd;
	uint16_t rsvd;
	uint16_t cid;
	uint16_t status;
};
_Static_assert(sizeof(struct axon_nvmf_prop_get_rsp) == 16, "property get response is 16 bytes");

struct axon_nvmf_prop_set_cmd {
	uint8_t opcode;
	uint8_t rsvd1;
	uint16_t cid;
	uint8_t fctype;
	uint8_t rsvd2[35];
	uint8_t attrib;
	uint8_t rsvd3[3];
	uint32_t ofst;
	uint64_t value;
	uint8_t rsvd4[8];
};
_Static_assert(sizeof(struct axon_nvmf_prop_set_cmd) == 64, "property set is 64 bytes");
_Static_assert(offsetof(struct axon_nvmf_prop_set_cmd, value) == 48, "value at byte 48");

/** A 64-byte command capsule seen as any of the command forms. */
union axon_nvmf_sqe {
	struct axon_nvme_cmd nvme;
	struct axon_nvmf_capsule_cmd fabric;
	struct axon_nvmf_connect_cmd connect;
	struct axon_nvmf_prop_get_cmd prop_get;
	struct axon_nvmf_prop_set_cmd prop_set;
	uint8_t raw[64];
};
_Static_assert(sizeof(union axon_nvmf_sqe) == 64, "capsule command is 64 bytes");

/** A 16-byte response seen as any of the response forms. */
union axon_nvmf_cqe {
	struct axon_nvme_cpl nvme;
	struct axon_nvmf_connect_rsp connect_rsp;
	struct axon_nvmf_prop_get_rsp prop_get_rsp;
	uint8_t raw[16];
};
_Static_assert(sizeof(union axon_nvmf_cqe) == 16, "capsule response is 16 bytes");

/* ---- NVMe/TCP PDUs (NVMe/TCP Transport Specification) --------------------- */

#define AXON_NVME_TCP_PFV_1_0 0x0
/** Header and data digests are CRC32C, 4 bytes each. */
#define AXON_NVME_TCP_DIGEST_LEN 4
/** Smallest MAXH2CDATA a controller may announce. */
#define AXON_NVME_TCP_MIN_MAXH2CDATA 4096
/** HPDA / CPDA: PDU data alignment is (value + 1) * 4 bytes, value 0..31. */
#define AXON_NVME_TCP_MAX_PDA 31
/** A TermReq carries at most this many bytes of the offending PDU header. */
#define AXON_NVME_TCP_TERM_REQ_MAX_DATA 128
/** Largest TermReq PDU (header plus error data). */
#define AXON_NVME_TCP_TERM_REQ_MAX_PLEN 152

enum axon_nvme_tcp_pdu_type {
	AXON_NVME_TCP_PDU_IC_REQ = 0x00,
	AXON_NVME_TCP_PDU_IC_RESP = 0x01,
	AXON_NVME_TCP_PDU_H2C_TERM_REQ = 0x02,
	AXON_NVME_TCP_PDU_C2H_TERM_REQ = 0x03,
	AXON_NVME_TCP_PDU_CAPSULE_CMD = 0x04,
	AXON_NVME_TCP_PDU_CAPSULE_RESP = 0x05,
	AXON_NVME_TCP_PDU_H2C_DATA = 0x06,
	AXON_NVME_TCP_PDU_C2H_DATA = 0x07,
	AXON_NVME_TCP_PDU_R2T = 0x09,
};

/* Common header flags. */
#define AXON_NVME_TCP_FLAG_HDGST (1u << 0)     /* header digest present */
#define AXON_NVME_TCP_FLAG_DDGST (1u << 1)     /* data digest present */
#define AXON_NVME_TCP_FLAG_LAST_PDU (1u << 2)  /* H2CData / C2HData: last of the transfer */
#define AXON_NVME_TCP_FLAG_SUCCESS (1u << 3)   /* C2HData: command done, no response capsule */

/* ICReq / ICResp DGST field. */
#define AXON_NVME_TCP_DGST_HDGST_ENABLE (1u << 0)
#define AXON_NVME_TCP_DGST_DDGST_ENABLE (1u << 1)

/* Fatal error status of a TermReq. */
enum axon_nvme_tcp_fes {
	AXON_NVME_TCP_FES_INVALID_HEADER_FIELD = 0x01, /* FEI: byte offset of the field */
	AXON_NVME_TCP_FES_PDU_SEQUENCE_ERROR = 0x02,
	AXON_NVME_TCP_FES_HDGST_ERROR = 0x03,
	AXON_NVME_TCP_FES_DATA_OUT_OF_RANGE = 0x04,
	AXON_NVME_TCP_FES_DATA_LIMIT_EXCEEDED = 0x05,  /* also "R2T limit exceeded" */
	AXON_NVME_TCP_FES_UNSUPPORTED_PARAMETER = 0x06, /* FEI: byte offset of the field */
};

/** Common header, first 8 bytes of every PDU. */
struct axon_nvme_tcp_common_hdr {
	uint8_t pdu_type;
	uint8_t flags;
	uint8_t hlen;  /* header length, without the header digest */
	uint8_t pdo;   /* PDU data offset from the start of the PDU (0: no data) */
	uint32_t plen; /* total PDU length, digests and padding included */
};
_Static_assert(sizeof(struct axon_nvme_tcp_common_hdr) == 8, "common header is 8 bytes");

struct axon_nvme_tcp_ic_req {
	struct axon_nvme_tcp_common_hdr common;
	uint16_t pfv;
	uint8_t hpda;   /* host PDU data alignment */
	uint8_t dgst;   /* AXON_NVME_TCP_DGST_* */
	uint32_t maxr2t; /* 0's based: outstanding R2Ts per command */
	uint8_t rsvd[112];
};
_Static_assert(sizeof(struct axon_nvme_tcp_ic_req) == 128, "ICReq is 128 bytes");
_Static_assert(offsetof(struct axon_nvme_tcp_ic_req, maxr2t) == 12, "maxr2t at byte 12");

struct axon_nvme_tcp_ic_resp {
	struct axon_nvme_tcp_common_hdr common;
	uint16_t pfv;
	uint8_t cpda;   /* controller PDU data alignment */
	uint8_t dgst;
	uint32_t maxh2cdata; /* bytes of data per H2CData PDU, >= 4096 */
	uint8_t rsvd[112];
};
_Static_assert(sizeof(struct axon_nvme_tcp_ic_resp) == 128, "ICResp is 128 bytes");

/** H2CTermReq and C2HTermReq header; up to 128 bytes of the bad PDU follow. */
struct axon_nvme_tcp_term_req_hdr {
	struct axon_nvme_tcp_common_hdr common;
	uint16_t fes;
	uint8_t fei[4]; /* field error information, little-endian */
	uint8_t rsvd[10];
};
_Static_assert(sizeof(struct axon_nvme_tcp_term_req_hdr) == 24, "TermReq header is 24 bytes");
_Static_assert(offsetof(struct axon_nvme_tcp_term_req_hdr, fei) == 10, "fei at byte 10");

struct axon_nvme_tcp_cmd {
	struct axon_nvme_tcp_common_hdr common;
	union axon_nvmf_sqe ccsqe;
	/* header digest, then in-capsule data at pdo */
};
_Static_assert(sizeof(struct axon_nvme_tcp_cmd) == 72, "CapsuleCmd header is 72 bytes");

struct axon_nvme_tcp_rsp {
	struct axon_nvme_tcp_common_hdr common;
	union axon_nvmf_cqe rccqe;
};
_Static_assert(sizeof(struct axon_nvme_tcp_rsp) == 24, "CapsuleResp is 24 bytes");

/** H2CData and C2HData header. */
struct axon_nvme_tcp_data_hdr {
	struct axon_nvme_tcp_common_hdr common;
	uint16_t cccid; /* command capsule CID */
	uint16_t ttag;  /* H2CData: the R2T's transfer tag; C2HData: reserved */
	uint32_t datao; /* offset of this data in the command's data */
	uint32_t datal; /* bytes of data in this PDU */
	uint8_t rsvd[4];
};
_Static_assert(sizeof(struct axon_nvme_tcp_data_hdr) == 24, "data PDU header is 24 bytes");
_Static_assert(offsetof(struct axon_nvme_tcp_data_hdr, datao) == 12, "datao at byte 12");
_Static_assert(offsetof(struct axon_nvme_tcp_data_hdr, datal) == 16, "datal at byte 16");

struct axon_nvme_tcp_r2t_hdr {
	struct axon_nvme_tcp_common_hdr common;
	uint16_t cccid;
	uint16_t ttag;
	uint32_t r2to; /* offset of the requested data */
	uint32_t r2tl; /* bytes requested */
	uint8_t rsvd[4];
};
_Static_assert(sizeof(struct axon_nvme_tcp_r2t_hdr) == 24, "R2T is 24 bytes");

/* ---- helpers ---------------------------------------------------------------- */

/** Direction of a capsule's data: from the opcode, or from fctype for fabrics. */
static inline enum axon_nvme_data_xfer axon_nvmf_sqe_get_data_xfer(const union axon_nvmf_sqe *sqe)
{
	if (sqe->fabric.opcode == AXON_NVMF_FABRIC_OPCODE) {
		return axon_nvme_opc_get_data_xfer(sqe->fabric.fctype);
	}
	return axon_nvme_opc_get_data_xfer(sqe->nvme.opc);
}

#ifdef __cplusplus
}
#endif
#endif /* AXON_NVME_SPEC_H */
