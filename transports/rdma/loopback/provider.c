/*
 * legoloop: a userspace verbs provider that the real libibverbs (rdma-core 44) loads
 * through RDMAV_DRIVERS, for testing legoemu's RDMA transport on a host without an RDMA
 * NIC or kernel RDMA support. See ../README.md for how the pieces fit.
 *
 * It emulates one port of one HCA whose "wire" is this process's memory: every queue
 * pair created through it lives in one table, and posting a work request moves bytes
 * between registered regions at once (SEND/RECV on RC and UD, RDMA WRITE with and
 * without immediate, RDMA READ, fetch-add, compare-swap), checks keys, bounds and access
 * rights as a NIC would (a bad rkey completes with IBV_WC_REM_ACCESS_ERR and moves the
 * QP to the error state), and queues completions that ibv_poll_cq returns. Completion
 * channels get an event per armed CQ through the pipe the LD_PRELOAD shim made.
 *
 * rdma-core's provider header (driver.h) is not installed by Debian's libibverbs-dev, so
 * the few provider structures used are declared below from rdma-core 44.0's layout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

/* ---- provider interface of rdma-core 44 (IBVERBS_PRIVATE_34) ---- */
struct list_node { struct list_node *next, *prev; };

struct verbs_sysfs_dev {
  struct list_node entry;
  void *provider_data;
  const void *match;
  unsigned int flags;
  char sysfs_name[IBV_SYSFS_NAME_MAX];
  dev_t sysfs_cdev;
  char ibdev_name[IBV_SYSFS_NAME_MAX];
  /* more fields follow; this provider reads none of them */
};

struct verbs_device;
struct verbs_device_ops {
  const char *name;
  uint32_t match_min_abi_version;
  uint32_t match_max_abi_version;
  const void *match_table;
  const void **static_providers;
  bool (*match_device)(struct verbs_sysfs_dev *sysfs_dev);
  struct verbs_context *(*alloc_context)(struct ibv_device *device, int cmd_fd, void *private_data);
  struct verbs_context *(*import_context)(struct ibv_device *device, int cmd_fd);
  struct verbs_device *(*alloc_device)(struct verbs_sysfs_dev *sysfs_dev);
  void (*uninit_device)(struct verbs_device *device);
};

struct verbs_device {
  struct ibv_device device;
  const struct verbs_device_ops *ops;
  atomic_int refcount;
  struct list_node entry;
  struct verbs_sysfs_dev *sysfs;
  uint64_t core_support;
};

struct verbs_mr { struct ibv_mr ibv_mr; int mr_type; int access; };
struct verbs_qp {
  union { struct ibv_qp qp; struct ibv_qp_ex qp_ex; };
  uint32_t comp_mask;
  void *xrcd;
};
struct verbs_cq { union { struct ibv_cq cq; struct ibv_cq_ex cq_ex; }; };
struct verbs_srq { struct ibv_srq srq; int srq_type; void *xrcd; struct ibv_cq *cq; uint32_t srq_num; };

typedef void (*unused_op)(void);
/* Every op of struct verbs_context_ops, in rdma-core 44's (sorted) order. */
struct verbs_context_ops {
  unused_op advise_mr, alloc_dm, alloc_mw, alloc_null_mr, alloc_parent_domain;
  struct ibv_pd *(*alloc_pd)(struct ibv_context *context);
  unused_op alloc_td;
  void (*async_event)(struct ibv_context *context, struct ibv_async_event *event);
  unused_op attach_counters_point_flow, attach_mcast, bind_mw, close_xrcd;
  void (*cq_event)(struct ibv_cq *cq);
  struct ibv_ah *(*create_ah)(struct ibv_pd *pd, struct ibv_ah_attr *attr);
  unused_op create_counters;
  struct ibv_cq *(*create_cq)(struct ibv_context *context, int cqe,
                              struct ibv_comp_channel *channel, int comp_vector);
  unused_op create_cq_ex, create_flow, create_flow_action_esp;
  struct ibv_qp *(*create_qp)(struct ibv_pd *pd, struct ibv_qp_init_attr *attr);
  unused_op create_qp_ex, create_rwq_ind_table;
  struct ibv_srq *(*create_srq)(struct ibv_pd *pd, struct ibv_srq_init_attr *attr);
  unused_op create_srq_ex, create_wq, dealloc_mw;
  int (*dealloc_pd)(struct ibv_pd *pd);
  unused_op dealloc_td;
  int (*dereg_mr)(struct verbs_mr *vmr);
  int (*destroy_ah)(struct ibv_ah *ah);
  unused_op destroy_counters;
  int (*destroy_cq)(struct ibv_cq *cq);
  unused_op destroy_flow, destroy_flow_action;
  int (*destroy_qp)(struct ibv_qp *qp);
  unused_op destroy_rwq_ind_table;
  int (*destroy_srq)(struct ibv_srq *srq);
  unused_op destroy_wq, detach_mcast;
  void (*free_context)(struct ibv_context *context);
  unused_op free_dm, get_srq_num, import_dm, import_mr, import_pd, modify_cq,
      modify_flow_action_esp;
  int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask);
  unused_op modify_qp_rate_limit, modify_srq, modify_wq, open_qp, open_xrcd;
  int (*poll_cq)(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
  int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
  int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr, struct ibv_send_wr **bad_wr);
  unused_op post_srq_ops;
  int (*post_srq_recv)(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad_wr);
  int (*query_device_ex)(struct ibv_context *context, const void *input,
                         struct ibv_device_attr_ex *attr, size_t attr_size);
  unused_op query_ece;
  int (*query_port)(struct ibv_context *context, uint8_t port_num, struct ibv_port_attr *attr);
  unused_op query_qp, query_qp_data_in_order, query_rt_values, query_srq, read_counters,
      reg_dm_mr, reg_dmabuf_mr;
  struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t length, uint64_t hca_va,
                           int access);
  int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);
  unused_op rereg_mr, resize_cq, set_ece, unimport_dm, unimport_mr, unimport_pd;
};

void verbs_register_driver_34(const struct verbs_device_ops *ops);
void *_verbs_init_and_alloc_context(struct ibv_device *device, int cmd_fd, size_t alloc_size,
                                    struct verbs_context *context_offset, uint32_t driver_id);
void verbs_uninit_context(struct verbs_context *context);
void verbs_set_ops(struct verbs_context *vctx, const struct verbs_context_ops *ops);

/* ---- the emulated HCA ---- */
enum { PORT_LID = 1, MAX_OBJECTS = 1 << 16, GRH_BYTES = 40 };

struct loop_mr {
  struct verbs_mr vmr;
  uint64_t iova; /* the address remote peers use for byte 0 of the region */
};

struct loop_cq {
  struct verbs_cq vcq;
  struct ibv_wc *ring;
  int size, head, count;
  int armed, event_fd;
};

struct loop_wq { /* a receive queue: a QP's own, or an SRQ */
  struct ibv_recv_wr *wrs; /* copies; each with its own sg list below */
  struct ibv_sge *sges;
  int max_wr, max_sge, head, count;
};

struct loop_srq { struct verbs_srq vsrq; struct loop_wq wq; };

struct loop_qp {
  struct verbs_qp vqp;
  struct loop_wq rq;
  uint32_t dest_qp_num, qkey;
  int sq_sig_all;
};

struct loop_ah { struct ibv_ah ah; struct ibv_ah_attr attr; };

static pthread_mutex_t fabric_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loop_qp *qps[MAX_OBJECTS];
static struct loop_mr *mrs[MAX_OBJECTS];
static uint32_t next_qpn = 0x100, next_key = 0x1000;

static struct loop_mr *find_mr(uint32_t key) {
  struct loop_mr *mr = mrs[key % MAX_OBJECTS];
  return mr && mr->vmr.ibv_mr.rkey == key ? mr : NULL;
}

static struct loop_qp *find_qp(uint32_t qpn) {
  struct loop_qp *qp = qps[qpn % MAX_OBJECTS];
  return qp && qp->vqp.qp.qp_num == qpn ? qp : NULL;
}

static int wq_init(struct loop_wq *wq, int max_wr, int max_sge) {
  wq->max_wr = max_wr > 0 ? max_wr : 1;
  wq->max_sge = max_sge > 0 ? max_sge : 1;
  wq->wrs = calloc(wq->max_wr, sizeof(*wq->wrs));
  wq->sges = calloc((size_t)wq->max_wr * wq->max_sge, sizeof(*wq->sges));
  return wq->wrs && wq->sges ? 0 : ENOMEM;
}

static void wq_free(struct loop_wq *wq) { free(wq->wrs); free(wq->sges); }

static int wq_post(struct loop_wq *wq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad) {
  int ret = 0;
  pthread_mutex_lock(&fabric_lock);
  for (; wr; wr = wr->next) {
    if (wq->count == wq->max_wr || wr->num_sge > wq->max_sge || wr->num_sge < 0) {
      ret = wq->count == wq->max_wr ? ENOMEM : EINVAL;
      *bad = wr;
      break;
    }
    int slot = (wq->head + wq->count++) % wq->max_wr;
    wq->wrs[slot] = *wr;
    wq->wrs[slot].sg_list = wq->sges + (size_t)slot * wq->max_sge;
    memcpy(wq->wrs[slot].sg_list, wr->sg_list, sizeof(struct ibv_sge) * wr->num_sge);
  }
  pthread_mutex_unlock(&fabric_lock);
  return ret;
}

static struct ibv_recv_wr *wq_take(struct loop_wq *wq) {
  if (!wq->count) return NULL;
  struct ibv_recv_wr *wr = &wq->wrs[wq->head];
  wq->head = (wq->head + 1) % wq->max_wr;
  wq->count--;
  return wr;
}

static void cq_push(struct ibv_cq *ibcq, const struct ibv_wc *wc) {
  struct loop_cq *cq = (struct loop_cq *)ibcq;
  if (cq->count == cq->size) return; /* overrun: a real CQ would raise an async error */
  cq->ring[(cq->head + cq->count++) % cq->size] = *wc;
  if (cq->armed && cq->event_fd >= 0) {
    uint64_t handle = (uintptr_t)ibcq;
    cq->armed = 0;
    if (write(cq->event_fd, &handle, sizeof handle) < 0) { /* the reader will poll anyway */ }
  }
}

/* Local memory named by an sge, or NULL when the lkey or bounds are wrong. */
static uint8_t *local_bytes(const struct ibv_sge *sge) {
  struct loop_mr *mr = find_mr(sge->lkey);
  if (!mr) return NULL;
  uint8_t *base = mr->vmr.ibv_mr.addr;
  uint64_t addr = sge->addr;
  if (addr < (uintptr_t)base || addr + sge->length > (uintptr_t)base + mr->vmr.ibv_mr.length)
    return NULL;
  return (uint8_t *)(uintptr_t)addr;
}

/* Remote memory at iova `addr` of region `rkey` of `dst`'s protection domain, checked for
   `len` bytes and `access` (a zero-length transfer checks nothing, as on a NIC). */
static uint8_t zero_length_target;

static uint8_t *remote_bytes(struct loop_qp *dst, uint32_t rkey, uint64_t addr, uint64_t len,
                             int access) {
  if (len == 0 && access != IBV_ACCESS_REMOTE_ATOMIC) return &zero_length_target; /* no check */
  struct loop_mr *mr = find_mr(rkey);
  if (!mr || !(mr->vmr.access & access) || mr->vmr.ibv_mr.pd != dst->vqp.qp.pd) return NULL;
  if (addr < mr->iova || addr + len > mr->iova + mr->vmr.ibv_mr.length) return NULL;
  return (uint8_t *)mr->vmr.ibv_mr.addr + (addr - mr->iova);
}

static uint64_t sg_total(const struct ibv_sge *sg, int n) {
  uint64_t total = 0;
  for (int i = 0; i < n; i++) total += sg[i].length;
  return total;
}

/* Copies between a flat buffer and an sg list; returns false on a bad lkey/bound. */
static bool sg_copy(const struct ibv_sge *sg, int n, uint8_t *flat, bool to_sg) {
  for (int i = 0; i < n; i++) {
    uint8_t *p = local_bytes(&sg[i]);
    if (!p) return false;
    if (to_sg) memcpy(p, flat, sg[i].length);
    else memcpy(flat, p, sg[i].length);
    flat += sg[i].length;
  }
  return true;
}

static struct loop_wq *recv_queue(struct loop_qp *qp) {
  struct ibv_srq *srq = qp->vqp.qp.srq;
  return srq ? &((struct loop_srq *)srq)->wq : &qp->rq;
}

/* Delivers `len` bytes (plus a GRH on UD) to the next receive of `dst`. */
static enum ibv_wc_status deliver(struct loop_qp *src, struct loop_qp *dst,
                                  const struct ibv_send_wr *wr, uint8_t *data, uint64_t len,
                                  enum ibv_wc_opcode opcode, bool consume_data) {
  struct ibv_recv_wr *rwr = wq_take(recv_queue(dst));
  bool ud = dst->vqp.qp.qp_type == IBV_QPT_UD;
  if (!rwr) return ud ? IBV_WC_SUCCESS : IBV_WC_RNR_RETRY_EXC_ERR; /* UD drops silently */
  struct ibv_wc wc = { .wr_id = rwr->wr_id, .status = IBV_WC_SUCCESS, .opcode = opcode,
                       .qp_num = dst->vqp.qp.qp_num, .src_qp = src->vqp.qp.qp_num,
                       .byte_len = (uint32_t)len, .slid = PORT_LID };
  if (wr->opcode == IBV_WR_SEND_WITH_IMM || wr->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) {
    wc.wc_flags |= IBV_WC_WITH_IMM;
    wc.imm_data = wr->imm_data;
  }
  if (consume_data) {
    uint64_t room = sg_total(rwr->sg_list, rwr->num_sge);
    uint64_t need = len + (ud ? GRH_BYTES : 0);
    uint8_t *flat = calloc(1, need ? need : 1);
    if (ud) wc.wc_flags |= IBV_WC_GRH, wc.byte_len += GRH_BYTES;
    if (need > room) wc.status = IBV_WC_LOC_LEN_ERR;
    else {
      memcpy(flat + (ud ? GRH_BYTES : 0), data, len);
      /* Scatter only what arrived: copy sg by sg up to `need`. */
      uint8_t *p = flat;
      uint64_t left = need;
      for (int i = 0; i < rwr->num_sge && left; i++) {
        struct ibv_sge s = rwr->sg_list[i];
        if (s.length > left) s.length = (uint32_t)left;
        if (!sg_copy(&s, 1, p, true)) { wc.status = IBV_WC_LOC_PROT_ERR; break; }
        p += s.length;
        left -= s.length;
      }
    }
    free(flat);
  }
  cq_push(dst->vqp.qp.recv_cq, &wc);
  if (wc.status != IBV_WC_SUCCESS) return IBV_WC_REM_OP_ERR;
  return IBV_WC_SUCCESS;
}

static enum ibv_wc_status execute(struct loop_qp *qp, struct ibv_send_wr *wr,
                                  enum ibv_wc_opcode *opcode) {
  uint64_t len = sg_total(wr->sg_list, wr->num_sge);
  uint8_t *flat = malloc(len ? len : 1);
  enum ibv_wc_status status = IBV_WC_SUCCESS;
  struct loop_qp *dst;
  if (qp->vqp.qp.qp_type == IBV_QPT_UD) {
    struct loop_ah *ah = (struct loop_ah *)wr->wr.ud.ah;
    *opcode = IBV_WC_SEND;
    if (wr->opcode != IBV_WR_SEND && wr->opcode != IBV_WR_SEND_WITH_IMM) status = IBV_WC_LOC_QP_OP_ERR;
    else if (!ah || !sg_copy(wr->sg_list, wr->num_sge, flat, false)) status = IBV_WC_LOC_PROT_ERR;
    else if ((dst = find_qp(wr->wr.ud.remote_qpn)) && ah->attr.dlid == PORT_LID &&
             dst->vqp.qp.qp_type == IBV_QPT_UD && dst->vqp.qp.state >= IBV_QPS_RTR &&
             dst->qkey == wr->wr.ud.remote_qkey)
      deliver(qp, dst, wr, flat, len, IBV_WC_RECV, true);
    free(flat);
    return status;
  }
  dst = find_qp(qp->dest_qp_num);
  if (!dst || dst->vqp.qp.state < IBV_QPS_RTR || dst->dest_qp_num != qp->vqp.qp.qp_num) {
    free(flat);
    *opcode = IBV_WC_SEND;
    return IBV_WC_RETRY_EXC_ERR; /* nobody answers on the wire */
  }
  uint8_t *remote;
  switch (wr->opcode) {
  case IBV_WR_SEND:
  case IBV_WR_SEND_WITH_IMM:
    *opcode = IBV_WC_SEND;
    if (!sg_copy(wr->sg_list, wr->num_sge, flat, false)) status = IBV_WC_LOC_PROT_ERR;
    else status = deliver(qp, dst, wr, flat, len, IBV_WC_RECV, true);
    break;
  case IBV_WR_RDMA_WRITE:
  case IBV_WR_RDMA_WRITE_WITH_IMM:
    *opcode = IBV_WC_RDMA_WRITE;
    if (!sg_copy(wr->sg_list, wr->num_sge, flat, false)) status = IBV_WC_LOC_PROT_ERR;
    else if (!(remote = remote_bytes(dst, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr, len,
                                     IBV_ACCESS_REMOTE_WRITE)))
      status = IBV_WC_REM_ACCESS_ERR;
    else {
      memcpy(remote, flat, len);
      if (wr->opcode == IBV_WR_RDMA_WRITE_WITH_IMM)
        status = deliver(qp, dst, wr, NULL, len, IBV_WC_RECV_RDMA_WITH_IMM, false);
    }
    break;
  case IBV_WR_RDMA_READ:
    *opcode = IBV_WC_RDMA_READ;
    if (!(remote = remote_bytes(dst, wr->wr.rdma.rkey, wr->wr.rdma.remote_addr, len,
                                IBV_ACCESS_REMOTE_READ)))
      status = IBV_WC_REM_ACCESS_ERR;
    else if (!sg_copy(wr->sg_list, wr->num_sge, remote, true)) status = IBV_WC_LOC_PROT_ERR;
    break;
  case IBV_WR_ATOMIC_FETCH_AND_ADD:
  case IBV_WR_ATOMIC_CMP_AND_SWP: {
    *opcode = wr->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD ? IBV_WC_FETCH_ADD : IBV_WC_COMP_SWAP;
    uint64_t *word = (uint64_t *)remote_bytes(dst, wr->wr.atomic.rkey, wr->wr.atomic.remote_addr, 8,
                                              IBV_ACCESS_REMOTE_ATOMIC);
    if (len != 8) status = IBV_WC_LOC_LEN_ERR;
    else if (!word || (wr->wr.atomic.remote_addr & 7)) status = IBV_WC_REM_ACCESS_ERR;
    else {
      uint64_t old = *word;
      if (wr->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) *word = old + wr->wr.atomic.compare_add;
      else if (old == wr->wr.atomic.compare_add) *word = wr->wr.atomic.swap;
      if (!sg_copy(wr->sg_list, wr->num_sge, (uint8_t *)&old, true)) status = IBV_WC_LOC_PROT_ERR;
    }
    break;
  }
  default:
    *opcode = IBV_WC_SEND;
    status = IBV_WC_LOC_QP_OP_ERR;
  }
  free(flat);
  return status;
}

static int loop_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr, struct ibv_send_wr **bad) {
  struct loop_qp *qp = (struct loop_qp *)ibqp;
  pthread_mutex_lock(&fabric_lock);
  int ret = 0;
  for (; wr; wr = wr->next) {
    if (ibqp->state != IBV_QPS_RTS && ibqp->state != IBV_QPS_ERR) { ret = EINVAL; *bad = wr; break; }
    enum ibv_wc_opcode opcode = IBV_WC_SEND;
    enum ibv_wc_status status =
        ibqp->state == IBV_QPS_ERR ? IBV_WC_WR_FLUSH_ERR : execute(qp, wr, &opcode);
    if (status != IBV_WC_SUCCESS && ibqp->qp_type == IBV_QPT_RC) ibqp->state = IBV_QPS_ERR;
    if (status != IBV_WC_SUCCESS || (wr->send_flags & IBV_SEND_SIGNALED) || qp->sq_sig_all) {
      struct ibv_wc wc = { .wr_id = wr->wr_id, .status = status, .opcode = opcode,
                           .qp_num = ibqp->qp_num,
                           .byte_len = (uint32_t)sg_total(wr->sg_list, wr->num_sge) };
      cq_push(ibqp->send_cq, &wc);
    }
  }
  pthread_mutex_unlock(&fabric_lock);
  return ret;
}

static int loop_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad) {
  if (ibqp->srq) { *bad = wr; return EINVAL; }
  return wq_post(&((struct loop_qp *)ibqp)->rq, wr, bad);
}

static int loop_post_srq_recv(struct ibv_srq *srq, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad) {
  return wq_post(&((struct loop_srq *)srq)->wq, wr, bad);
}

static int loop_poll_cq(struct ibv_cq *ibcq, int n, struct ibv_wc *wc) {
  struct loop_cq *cq = (struct loop_cq *)ibcq;
  int got = 0;
  pthread_mutex_lock(&fabric_lock);
  while (got < n && cq->count) {
    wc[got++] = cq->ring[cq->head];
    cq->head = (cq->head + 1) % cq->size;
    cq->count--;
  }
  pthread_mutex_unlock(&fabric_lock);
  return got;
}

static int loop_req_notify_cq(struct ibv_cq *ibcq, int solicited_only) {
  (void)solicited_only;
  struct loop_cq *cq = (struct loop_cq *)ibcq;
  pthread_mutex_lock(&fabric_lock);
  cq->armed = 1;
  if (cq->count && cq->event_fd >= 0) { /* completions already waiting: signal at once */
    uint64_t handle = (uintptr_t)ibcq;
    cq->armed = 0;
    if (write(cq->event_fd, &handle, sizeof handle) < 0) { /* see cq_push */ }
  }
  pthread_mutex_unlock(&fabric_lock);
  return 0;
}

static void loop_cq_event(struct ibv_cq *cq) { (void)cq; }
static void loop_async_event(struct ibv_context *c, struct ibv_async_event *e) { (void)c; (void)e; }

static struct ibv_cq *loop_create_cq(struct ibv_context *ctx, int cqe,
                                     struct ibv_comp_channel *channel, int vector) {
  (void)ctx; (void)vector;
  if (cqe < 1 || cqe > 1 << 20) { errno = EINVAL; return NULL; }
  struct loop_cq *cq = calloc(1, sizeof(*cq));
  if (!cq) return NULL;
  cq->size = cqe;
  cq->ring = calloc(cqe, sizeof(*cq->ring));
  cq->event_fd = -1;
  if (channel) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", channel->fd);
    cq->event_fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
  }
  cq->vcq.cq.cqe = cqe;
  return &cq->vcq.cq;
}

static int loop_destroy_cq(struct ibv_cq *ibcq) {
  struct loop_cq *cq = (struct loop_cq *)ibcq;
  if (cq->event_fd >= 0) close(cq->event_fd);
  free(cq->ring);
  free(cq);
  return 0;
}

static struct ibv_pd *loop_alloc_pd(struct ibv_context *ctx) {
  (void)ctx;
  return calloc(1, sizeof(struct ibv_pd));
}

static int loop_dealloc_pd(struct ibv_pd *pd) { free(pd); return 0; }

static struct ibv_mr *loop_reg_mr(struct ibv_pd *pd, void *addr, size_t length, uint64_t hca_va,
                                  int access) {
  (void)pd;
  if (!addr && length) { errno = EINVAL; return NULL; }
  struct loop_mr *mr = calloc(1, sizeof(*mr));
  if (!mr) return NULL;
  pthread_mutex_lock(&fabric_lock);
  uint32_t key = next_key++;
  while (mrs[key % MAX_OBJECTS]) key = next_key++; /* skip slots still in use */
  mrs[key % MAX_OBJECTS] = mr;
  pthread_mutex_unlock(&fabric_lock);
  mr->vmr.ibv_mr.lkey = mr->vmr.ibv_mr.rkey = key;
  mr->vmr.access = access;
  mr->iova = hca_va;
  return &mr->vmr.ibv_mr;
}

static int loop_dereg_mr(struct verbs_mr *vmr) {
  struct loop_mr *mr = (struct loop_mr *)vmr;
  pthread_mutex_lock(&fabric_lock);
  mrs[mr->vmr.ibv_mr.rkey % MAX_OBJECTS] = NULL;
  pthread_mutex_unlock(&fabric_lock);
  free(mr);
  return 0;
}

static struct ibv_srq *loop_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr *attr) {
  (void)pd;
  struct loop_srq *srq = calloc(1, sizeof(*srq));
  if (!srq) return NULL;
  if (wq_init(&srq->wq, attr->attr.max_wr, attr->attr.max_sge)) { free(srq); errno = ENOMEM; return NULL; }
  return &srq->vsrq.srq;
}

static int loop_destroy_srq(struct ibv_srq *ibsrq) {
  struct loop_srq *srq = (struct loop_srq *)ibsrq;
  wq_free(&srq->wq);
  free(srq);
  return 0;
}

static struct ibv_qp *loop_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *attr) {
  if (attr->qp_type != IBV_QPT_RC && attr->qp_type != IBV_QPT_UD) { errno = EOPNOTSUPP; return NULL; }
  if (!attr->send_cq || !attr->recv_cq) { errno = EINVAL; return NULL; }
  struct loop_qp *qp = calloc(1, sizeof(*qp));
  if (!qp) return NULL;
  if (!attr->srq && wq_init(&qp->rq, attr->cap.max_recv_wr, attr->cap.max_recv_sge)) {
    free(qp);
    errno = ENOMEM;
    return NULL;
  }
  qp->sq_sig_all = attr->sq_sig_all;
  struct ibv_qp *q = &qp->vqp.qp;
  q->context = pd->context;
  q->qp_context = attr->qp_context;
  q->pd = pd;
  q->send_cq = attr->send_cq;
  q->recv_cq = attr->recv_cq;
  q->srq = attr->srq;
  q->state = IBV_QPS_RESET;
  q->qp_type = attr->qp_type;
  pthread_mutex_init(&q->mutex, NULL);
  pthread_cond_init(&q->cond, NULL);
  pthread_mutex_lock(&fabric_lock);
  uint32_t qpn = next_qpn++ & 0xffffff;
  while (qps[qpn % MAX_OBJECTS]) qpn = next_qpn++ & 0xffffff;
  qps[qpn % MAX_OBJECTS] = qp;
  pthread_mutex_unlock(&fabric_lock);
  q->qp_num = qpn;
  return q;
}

static int loop_modify_qp(struct ibv_qp *ibqp, struct ibv_qp_attr *attr, int mask) {
  struct loop_qp *qp = (struct loop_qp *)ibqp;
  if ((mask & IBV_QP_PORT) && attr->port_num != 1) return EINVAL;
  if ((mask & IBV_QP_AV) && attr->ah_attr.port_num != 1) return EINVAL;
  if (mask & IBV_QP_STATE) {
    enum ibv_qp_state cur = ibqp->state, next = attr->qp_state;
    bool ok = next == IBV_QPS_RESET || next == IBV_QPS_ERR ||
              (cur == IBV_QPS_RESET && next == IBV_QPS_INIT) ||
              (cur == IBV_QPS_INIT && (next == IBV_QPS_INIT || next == IBV_QPS_RTR)) ||
              (cur == IBV_QPS_RTR && next == IBV_QPS_RTS) ||
              (cur == IBV_QPS_RTS && next == IBV_QPS_RTS);
    if (!ok) return EINVAL;
    if (next == IBV_QPS_RTR && ibqp->qp_type == IBV_QPT_RC && !(mask & IBV_QP_DEST_QPN)) return EINVAL;
  }
  pthread_mutex_lock(&fabric_lock);
  if (mask & IBV_QP_DEST_QPN) qp->dest_qp_num = attr->dest_qp_num;
  if (mask & IBV_QP_QKEY) qp->qkey = attr->qkey;
  pthread_mutex_unlock(&fabric_lock);
  return 0;
}

static int loop_destroy_qp(struct ibv_qp *ibqp) {
  struct loop_qp *qp = (struct loop_qp *)ibqp;
  pthread_mutex_lock(&fabric_lock);
  qps[ibqp->qp_num % MAX_OBJECTS] = NULL;
  pthread_mutex_unlock(&fabric_lock);
  if (!ibqp->srq) wq_free(&qp->rq);
  free(qp);
  return 0;
}

static struct ibv_ah *loop_create_ah(struct ibv_pd *pd, struct ibv_ah_attr *attr) {
  (void)pd;
  if (attr->port_num != 1) { errno = EINVAL; return NULL; }
  struct loop_ah *ah = calloc(1, sizeof(*ah));
  if (ah) ah->attr = *attr;
  return &ah->ah;
}

static int loop_destroy_ah(struct ibv_ah *ah) { free(ah); return 0; }

static int loop_query_device_ex(struct ibv_context *ctx, const void *input,
                                struct ibv_device_attr_ex *attr, size_t attr_size) {
  (void)ctx; (void)input;
  struct ibv_device_attr a = {0};
  snprintf(a.fw_ver, sizeof a.fw_ver, "legoloop-1");
  a.node_guid = htobe64(1);
  a.max_mr_size = UINT64_MAX;
  a.page_size_cap = 4096;
  a.vendor_id = 0;
  a.max_qp = MAX_OBJECTS / 2;
  a.max_qp_wr = 1 << 15;
  a.max_sge = 16;
  a.max_cq = 1 << 12;
  a.max_cqe = 1 << 20;
  a.max_mr = MAX_OBJECTS / 2;
  a.max_pd = 1 << 12;
  a.max_qp_rd_atom = a.max_qp_init_rd_atom = 16;
  a.atomic_cap = IBV_ATOMIC_HCA;
  a.max_ah = 1 << 16;
  a.max_srq = 1 << 12;
  a.max_srq_wr = 1 << 15;
  a.max_srq_sge = 16;
  a.phys_port_cnt = 1;
  memset(attr, 0, attr_size);
  memcpy(&attr->orig_attr, &a, attr_size < sizeof a ? attr_size : sizeof a);
  return 0;
}

static int loop_query_port(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr) {
  (void)ctx;
  if (port != 1) return EINVAL;
  memset(attr, 0, sizeof(*attr));
  attr->state = IBV_PORT_ACTIVE;
  attr->max_mtu = attr->active_mtu = IBV_MTU_4096;
  attr->gid_tbl_len = 1;
  attr->max_msg_sz = 1u << 31;
  attr->pkey_tbl_len = 1;
  attr->lid = PORT_LID;
  attr->sm_lid = PORT_LID;
  attr->max_vl_num = 1;
  attr->active_width = 1;
  attr->active_speed = 1;
  attr->phys_state = 5; /* LinkUp */
  attr->link_layer = IBV_LINK_LAYER_INFINIBAND;
  return 0;
}

struct loop_context { struct verbs_context vctx; };

static void loop_free_context(struct ibv_context *ibctx) {
  /* The ibv_context is the last member of the verbs_context, which leads loop_context. */
  struct loop_context *ctx =
      (struct loop_context *)((char *)ibctx - offsetof(struct verbs_context, context));
  verbs_uninit_context(&ctx->vctx);
  free(ctx);
}

static const struct verbs_context_ops loop_ops = {
  .alloc_pd = loop_alloc_pd,
  .async_event = loop_async_event,
  .cq_event = loop_cq_event,
  .create_ah = loop_create_ah,
  .create_cq = loop_create_cq,
  .create_qp = loop_create_qp,
  .create_srq = loop_create_srq,
  .dealloc_pd = loop_dealloc_pd,
  .dereg_mr = loop_dereg_mr,
  .destroy_ah = loop_destroy_ah,
  .destroy_cq = loop_destroy_cq,
  .destroy_qp = loop_destroy_qp,
  .destroy_srq = loop_destroy_srq,
  .free_context = loop_free_context,
  .modify_qp = loop_modify_qp,
  .poll_cq = loop_poll_cq,
  .post_recv = loop_post_recv,
  .post_send = loop_post_send,
  .post_srq_recv = loop_post_srq_recv,
  .query_device_ex = loop_query_device_ex,
  .query_port = loop_query_port,
  .reg_mr = loop_reg_mr,
  .req_notify_cq = loop_req_notify_cq,
};

static struct verbs_context *loop_alloc_context(struct ibv_device *dev, int cmd_fd, void *priv) {
  (void)priv;
  struct loop_context *ctx = _verbs_init_and_alloc_context(
      dev, cmd_fd, sizeof(struct loop_context), &((struct loop_context *)NULL)->vctx, 0);
  if (!ctx) return NULL;
  verbs_set_ops(&ctx->vctx, &loop_ops);
  /* No kernel to ask for an async event fd: give libibverbs one that never fires. */
  ctx->vctx.context.async_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return &ctx->vctx;
}

static bool loop_match_device(struct verbs_sysfs_dev *dev) {
  return strncmp(dev->ibdev_name, "legoloop", 8) == 0;
}

static struct verbs_device *loop_alloc_device(struct verbs_sysfs_dev *dev) {
  (void)dev;
  return calloc(1, sizeof(struct verbs_device));
}

static void loop_uninit_device(struct verbs_device *dev) { free(dev); }

static const struct verbs_device_ops loop_device_ops = {
  .name = "legoloop",
  .match_min_abi_version = 0,
  .match_max_abi_version = INT32_MAX,
  .match_device = loop_match_device,
  .alloc_context = loop_alloc_context,
  .alloc_device = loop_alloc_device,
  .uninit_device = loop_uninit_device,
};

static __attribute__((constructor)) void loop_register(void) {
  verbs_register_driver_34(&loop_device_ops);
}
