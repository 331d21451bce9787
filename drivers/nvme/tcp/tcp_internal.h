/*
 * NVMe/TCP host transport: types shared by tcp.c (connections, submission,
 * sending, poll groups) and tcp_recv.c (the receive state machine and the
 * validation of every PDU a target sends).
 */
#ifndef AXON_NVME_TCP_INTERNAL_H
#define AXON_NVME_TCP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "axon/log.h"
#include "axon/nvme.h"
#include "axon/sock.h"
#include "axon/util.h"

/* In-capsule data the admin queue accepts (NVMe/TCP: 8 KiB). */
#define TCP_ADMIN_ICD_LEN 8192u
/* Largest transfer of one command this transport offers (MDTS may lower it). */
#define TCP_MAX_XFER_SIZE (2u * 1024u * 1024u)
/* PDUs one receive pass handles per qpair before it yields. */
#define TCP_RECV_BUDGET_PDUS 128
/* Header bytes read first once running: every C2H PDU then has hlen 24. */
#define TCP_RUNNING_HDR_LEN 24u
/* The first read during the handshake: the common header only. */
#define TCP_CH_LEN 8u
/* Receive buffer for a header, its digest and padding, or TermReq data. */
#define TCP_RHDR_BUF_LEN 512u
/* iovecs of one PDU: header, digest, padding, data, data digest. */
#define TCP_MAX_PDU_IOV (AXON_NVME_MAX_IOVCNT + 4)
/* Largest data alignment padding (CPDA 31: 128 bytes). */
#define TCP_MAX_PAD 128u
#define TCP_DIGEST_LEN AXON_NVME_TCP_DIGEST_LEN

/* Where a connection is in its life. */
enum tcp_phase {
	TCP_PHASE_IDLE = 0,  /* no socket */
	TCP_PHASE_IC,        /* ICReq queued, waiting for ICResp */
	TCP_PHASE_RUNNING,   /* capsules flow */
	TCP_PHASE_DEAD,      /* a fatal error: nothing more is read or sent */
};

/* The receive state machine: what the next bytes of the stream are. */
enum tcp_recv_state {
	TCP_RECV_CH,         /* the first header bytes (common header, or 24 once running) */
	TCP_RECV_PSH,        /* rest of the header, header digest, padding up to PDO */
	TCP_RECV_DATA,       /* C2HData payload into the command's buffers, then its digest */
	TCP_RECV_TERM_DATA,  /* error data of a C2HTermReq */
	TCP_RECV_ERROR,      /* the stream is unusable */
};

struct tcp_qpair;

/* One command slot: the cid is its index. */
struct tcp_req {
	struct tcp_qpair *tqpair;
	struct axon_nvme_request *req;
	uint16_t cid;
	bool active;
	bool send_pending; /* the command PDU is queued on the socket */
	bool h2c_pending;  /* an H2CData PDU is queued on the socket */
	bool rsp_received; /* CapsuleResp or C2HData SUCCESS seen: complete once sends end */
	bool ddgst_error;  /* a C2HData of this command failed its data digest */
	bool in_capsule;   /* the write data went in the command capsule */
	bool r2t_active;   /* an R2T window is being served */
	enum axon_nvme_data_xfer xfer;
	uint32_t c2h_offset; /* data received so far (C2H data arrives in order) */
	uint32_t h2c_offset; /* data sent so far */
	uint32_t r2t_end;    /* end of the current R2T window */
	uint16_t ttag;
	struct axon_nvme_cpl cpl;
	/* The PDU header being sent: the command capsule, later an H2CData. */
	union {
		struct axon_nvme_tcp_cmd cmd;
		struct axon_nvme_tcp_data_hdr h2c;
		uint8_t raw[sizeof(struct axon_nvme_tcp_cmd)];
	} hdr __attribute__((aligned(8)));
	uint8_t hdgst[TCP_DIGEST_LEN];
	uint8_t ddgst[TCP_DIGEST_LEN];
	struct iovec iov[TCP_MAX_PDU_IOV];
	struct axon_sock_request sreq;
	TAILQ_ENTRY(tcp_req) link;
};

struct tcp_poll_group {
	struct axon_nvme_transport_poll_group base; /* first */
	struct axon_sock_group *sgroup;
	TAILQ_HEAD(, tcp_qpair) qpairs;
	uint32_t completions_per_qpair; /* of the poll running now */
};

struct tcp_qpair {
	struct axon_nvme_qpair qpair; /* first: lib/nvme's part */
	struct axon_sock *sock;
	struct tcp_poll_group *group;
	enum tcp_phase phase;
	bool closing;
	/* negotiated */
	bool hdgst;
	bool ddgst;
	uint32_t cpda_align; /* bytes */
	uint32_t maxh2cdata;
	uint32_t icd_len;    /* in-capsule data this queue accepts */
	/* command slots */
	struct tcp_req *reqs;
	uint32_t num_reqs;
	TAILQ_HEAD(, tcp_req) free_reqs;
	/* receive */
	enum tcp_recv_state rstate;
	union {
		uint8_t raw[TCP_RHDR_BUF_LEN];
		struct axon_nvme_tcp_common_hdr ch;
		struct axon_nvme_tcp_ic_resp ic_resp;
		struct axon_nvme_tcp_rsp rsp;
		struct axon_nvme_tcp_data_hdr data;
		struct axon_nvme_tcp_r2t_hdr r2t;
		struct axon_nvme_tcp_term_req_hdr term;
	} rhdr __attribute__((aligned(8)));
	uint32_t rhdr_got;  /* bytes of rhdr received */
	uint32_t rhdr_need; /* bytes of rhdr the current state wants */
	struct tcp_req *rreq;            /* the command a C2HData is for */
	struct iovec riov[TCP_MAX_PDU_IOV];
	int riovcnt;
	uint32_t rdata_left;             /* data + digest bytes still to read */
	uint8_t rddgst[TCP_DIGEST_LEN];
	uint32_t completions;            /* of the current poll */
	uint32_t max_completions;
	/* handshake and termination PDUs we send */
	struct axon_nvme_tcp_ic_req icreq;
	struct iovec ic_iov;
	struct axon_sock_request ic_sreq;
	uint8_t term_buf[AXON_NVME_TCP_TERM_REQ_MAX_PLEN] __attribute__((aligned(8)));
	struct iovec term_iov;
	struct axon_sock_request term_sreq;
	bool term_sent;
	TAILQ_ENTRY(tcp_qpair) group_link;
};

static inline struct tcp_qpair *tcp_qpair(struct axon_nvme_qpair *qpair)
{
	return AXON_CONTAINEROF(qpair, struct tcp_qpair, qpair);
}

/* tcp.c */
void tcp_req_try_complete(struct tcp_qpair *tqpair, struct tcp_req *treq);
int tcp_send_h2c(struct tcp_qpair *tqpair, struct tcp_req *treq);
/* A fatal stream error: send an H2CTermReq (fes, fei), then fail the qpair with rc. */
void tcp_qpair_fatal(struct tcp_qpair *tqpair, uint16_t fes, uint32_t fei, int rc);
/* The connection is gone (no TermReq): fail the qpair with rc. */
void tcp_qpair_fail(struct tcp_qpair *tqpair, int rc);
/*
 * Copy the part [off, off + len) of iov[0..cnt) as new iovecs into dst
 * (max entries). Returns the count, or -1 if it does not fit.
 */
int tcp_iov_slice(const struct iovec *iov, int cnt, size_t off, size_t len, struct iovec *dst,
		  int max);
void tcp_put_digest(uint8_t *dst, uint32_t crc);
uint32_t tcp_get_digest(const uint8_t *src);

/* tcp_recv.c */
/* Receive and handle PDUs. Returns completions, or -errno after a failure. */
int32_t tcp_qpair_recv(struct tcp_qpair *tqpair);
void tcp_recv_reset(struct tcp_qpair *tqpair);

#endif /* AXON_NVME_TCP_INTERNAL_H */
