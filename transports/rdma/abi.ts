/**
 * The C ABI of libibverbs (rdma-core 44, x86-64 / aarch64 LP64) that the FFI layer uses:
 * every struct size and field offset, and every enum value, in one table.
 *
 * The table is data, not a guess: `tests/transports/rdma_abi_test.ts` compiles a C
 * program against the installed `<infiniband/verbs.h>` that prints `sizeof`/`offsetof`
 * for every entry here (and the value of every constant) and compares them one by one.
 * Field names are C member paths, so a nested member reads as in C (`wr.rdma.rkey`).
 *
 * @example
 * ```ts
 * import { LAYOUT, VERBS } from "./abi.ts";
 * console.assert(LAYOUT.ibv_sge.size === 16 && LAYOUT.ibv_sge.fields.lkey === 12);
 * console.assert(VERBS.IBV_WR_RDMA_WRITE_WITH_IMM === 1);
 * ```
 *
 * @module
 */

/** The layout of one C struct (or union): its size and the offsets of the fields used. */
export interface StructLayout {
  /** `sizeof` in bytes. */
  readonly size: number;
  /** `offsetof` of each field, by C member path. */
  readonly fields: Readonly<Record<string, number>>;
}

/** Types declared as `union` in verbs.h (the rest are `struct`). */
export const UNIONS: readonly string[] = ["ibv_gid"];

/** Sizes and offsets of the verbs structures, as verbs.h lays them out on LP64. */
export const LAYOUT = {
  ibv_device: { size: 664, fields: { name: 24, dev_name: 88, ibdev_path: 408 } },
  ibv_context: {
    size: 328,
    fields: {
      device: 0,
      "ops.poll_cq": 96,
      "ops.req_notify_cq": 104,
      "ops.post_srq_recv": 168,
      "ops.post_send": 208,
      "ops.post_recv": 216,
      cmd_fd: 264,
      async_fd: 268,
      num_comp_vectors: 272,
    },
  },
  ibv_device_attr: {
    size: 232,
    fields: {
      fw_ver: 0,
      node_guid: 64,
      max_mr_size: 80,
      max_qp: 108,
      max_qp_wr: 112,
      max_sge: 120,
      max_cq: 128,
      max_cqe: 132,
      max_mr: 136,
      max_pd: 140,
      max_qp_rd_atom: 144,
      atomic_cap: 164,
      max_srq: 212,
      max_srq_wr: 216,
      phys_port_cnt: 227,
    },
  },
  ibv_port_attr: {
    size: 52,
    fields: {
      state: 0,
      max_mtu: 4,
      active_mtu: 8,
      gid_tbl_len: 12,
      max_msg_sz: 20,
      lid: 34,
      link_layer: 46,
    },
  },
  ibv_gid: { size: 16, fields: { raw: 0 } },
  ibv_mr: {
    size: 48,
    fields: { context: 0, pd: 8, addr: 16, length: 24, handle: 32, lkey: 36, rkey: 40 },
  },
  ibv_comp_channel: { size: 16, fields: { context: 0, fd: 8, refcnt: 12 } },
  ibv_qp: { size: 160, fields: { context: 0, qp_num: 52, state: 56, qp_type: 60 } },
  ibv_qp_init_attr: {
    size: 64,
    fields: {
      qp_context: 0,
      send_cq: 8,
      recv_cq: 16,
      srq: 24,
      "cap.max_send_wr": 32,
      "cap.max_recv_wr": 36,
      "cap.max_send_sge": 40,
      "cap.max_recv_sge": 44,
      "cap.max_inline_data": 48,
      qp_type: 52,
      sq_sig_all: 56,
    },
  },
  ibv_ah_attr: {
    size: 32,
    fields: {
      "grh.dgid": 0,
      "grh.flow_label": 16,
      "grh.sgid_index": 20,
      "grh.hop_limit": 21,
      "grh.traffic_class": 22,
      dlid: 24,
      sl: 26,
      src_path_bits: 27,
      static_rate: 28,
      is_global: 29,
      port_num: 30,
    },
  },
  ibv_qp_attr: {
    size: 144,
    fields: {
      qp_state: 0,
      path_mtu: 8,
      qkey: 16,
      rq_psn: 20,
      sq_psn: 24,
      dest_qp_num: 28,
      qp_access_flags: 32,
      ah_attr: 56,
      pkey_index: 120,
      max_rd_atomic: 126,
      max_dest_rd_atomic: 127,
      min_rnr_timer: 128,
      port_num: 129,
      timeout: 130,
      retry_cnt: 131,
      rnr_retry: 132,
    },
  },
  ibv_srq_init_attr: {
    size: 24,
    fields: { srq_context: 0, "attr.max_wr": 8, "attr.max_sge": 12, "attr.srq_limit": 16 },
  },
  ibv_sge: { size: 16, fields: { addr: 0, length: 8, lkey: 12 } },
  ibv_send_wr: {
    size: 128,
    fields: {
      wr_id: 0,
      next: 8,
      sg_list: 16,
      num_sge: 24,
      opcode: 28,
      send_flags: 32,
      imm_data: 36,
      "wr.rdma.remote_addr": 40,
      "wr.rdma.rkey": 48,
      "wr.atomic.remote_addr": 40,
      "wr.atomic.compare_add": 48,
      "wr.atomic.swap": 56,
      "wr.atomic.rkey": 64,
      "wr.ud.ah": 40,
      "wr.ud.remote_qpn": 48,
      "wr.ud.remote_qkey": 52,
    },
  },
  ibv_recv_wr: { size: 32, fields: { wr_id: 0, next: 8, sg_list: 16, num_sge: 24 } },
  ibv_wc: {
    size: 48,
    fields: {
      wr_id: 0,
      status: 8,
      opcode: 12,
      vendor_err: 16,
      byte_len: 20,
      imm_data: 24,
      qp_num: 28,
      src_qp: 32,
      wc_flags: 36,
      pkey_index: 40,
      slid: 42,
      sl: 44,
      dlid_path_bits: 45,
    },
  },
} as const satisfies Record<string, StructLayout>;

/** The name of a struct in {@link LAYOUT}. */
export type StructName = keyof typeof LAYOUT;

/** Enum values of verbs.h used by the FFI layer and the transport. */
export const VERBS = {
  IBV_WR_RDMA_WRITE: 0,
  IBV_WR_RDMA_WRITE_WITH_IMM: 1,
  IBV_WR_SEND: 2,
  IBV_WR_SEND_WITH_IMM: 3,
  IBV_WR_RDMA_READ: 4,
  IBV_WR_ATOMIC_CMP_AND_SWP: 5,
  IBV_WR_ATOMIC_FETCH_AND_ADD: 6,
  IBV_SEND_FENCE: 1,
  IBV_SEND_SIGNALED: 2,
  IBV_SEND_SOLICITED: 4,
  IBV_SEND_INLINE: 8,
  IBV_WC_SEND: 0,
  IBV_WC_RDMA_WRITE: 1,
  IBV_WC_RDMA_READ: 2,
  IBV_WC_COMP_SWAP: 3,
  IBV_WC_FETCH_ADD: 4,
  IBV_WC_RECV: 128,
  IBV_WC_RECV_RDMA_WITH_IMM: 129,
  IBV_WC_WITH_IMM: 2,
  IBV_WC_GRH: 1,
  IBV_ACCESS_LOCAL_WRITE: 1,
  IBV_ACCESS_REMOTE_WRITE: 2,
  IBV_ACCESS_REMOTE_READ: 4,
  IBV_ACCESS_REMOTE_ATOMIC: 8,
  IBV_QPT_RC: 2,
  IBV_QPT_UC: 3,
  IBV_QPT_UD: 4,
  IBV_QPS_RESET: 0,
  IBV_QPS_INIT: 1,
  IBV_QPS_RTR: 2,
  IBV_QPS_RTS: 3,
  IBV_QPS_SQD: 4,
  IBV_QPS_SQE: 5,
  IBV_QPS_ERR: 6,
  IBV_QP_STATE: 1,
  IBV_QP_CUR_STATE: 2,
  IBV_QP_EN_SQD_ASYNC_NOTIFY: 4,
  IBV_QP_ACCESS_FLAGS: 8,
  IBV_QP_PKEY_INDEX: 16,
  IBV_QP_PORT: 32,
  IBV_QP_QKEY: 64,
  IBV_QP_AV: 128,
  IBV_QP_PATH_MTU: 256,
  IBV_QP_TIMEOUT: 512,
  IBV_QP_RETRY_CNT: 1024,
  IBV_QP_RNR_RETRY: 2048,
  IBV_QP_RQ_PSN: 4096,
  IBV_QP_MAX_QP_RD_ATOMIC: 8192,
  IBV_QP_ALT_PATH: 16384,
  IBV_QP_MIN_RNR_TIMER: 32768,
  IBV_QP_SQ_PSN: 65536,
  IBV_QP_MAX_DEST_RD_ATOMIC: 131072,
  IBV_QP_PATH_MIG_STATE: 262144,
  IBV_QP_CAP: 524288,
  IBV_QP_DEST_QPN: 1048576,
  IBV_MTU_256: 1,
  IBV_MTU_512: 2,
  IBV_MTU_1024: 3,
  IBV_MTU_2048: 4,
  IBV_MTU_4096: 5,
  IBV_PORT_NOP: 0,
  IBV_PORT_DOWN: 1,
  IBV_PORT_INIT: 2,
  IBV_PORT_ARMED: 3,
  IBV_PORT_ACTIVE: 4,
  IBV_LINK_LAYER_UNSPECIFIED: 0,
  IBV_LINK_LAYER_INFINIBAND: 1,
  IBV_LINK_LAYER_ETHERNET: 2,
  IBV_WC_SUCCESS: 0,
  IBV_WC_LOC_LEN_ERR: 1,
  IBV_WC_LOC_QP_OP_ERR: 2,
  IBV_WC_LOC_EEC_OP_ERR: 3,
  IBV_WC_LOC_PROT_ERR: 4,
  IBV_WC_WR_FLUSH_ERR: 5,
  IBV_WC_MW_BIND_ERR: 6,
  IBV_WC_BAD_RESP_ERR: 7,
  IBV_WC_LOC_ACCESS_ERR: 8,
  IBV_WC_REM_INV_REQ_ERR: 9,
  IBV_WC_REM_ACCESS_ERR: 10,
  IBV_WC_REM_OP_ERR: 11,
  IBV_WC_RETRY_EXC_ERR: 12,
  IBV_WC_RNR_RETRY_EXC_ERR: 13,
  IBV_WC_LOC_RDD_VIOL_ERR: 14,
  IBV_WC_REM_INV_RD_REQ_ERR: 15,
  IBV_WC_REM_ABORT_ERR: 16,
  IBV_WC_INV_EECN_ERR: 17,
  IBV_WC_INV_EEC_STATE_ERR: 18,
  IBV_WC_FATAL_ERR: 19,
  IBV_WC_RESP_TIMEOUT_ERR: 20,
  IBV_WC_GENERAL_ERR: 21,
} as const;

/** Names of work-completion statuses, indexed by value (`ibv_wc_status`). */
export const WC_STATUS_NAMES: readonly string[] = Object.entries(VERBS)
  .filter(([name]) =>
    name.startsWith("IBV_WC_") && name.endsWith("_ERR") || name === "IBV_WC_SUCCESS"
  )
  .sort((a, b) => a[1] - b[1])
  .map(([name]) => name);
