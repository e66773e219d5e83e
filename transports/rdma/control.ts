/**
 * The RDMA transport's control channel: what two endpoints tell each other over the
 * TCP transport before (and beside) the verbs traffic — port and queue-pair numbers
 * (`hello`), RC connection setup (`connect`), a registered region's size and rights
 * (`region`), and leaving (`bye`). Messages are small JSON documents carried in the
 * payload of `SYS_PING` frames, so the TCP transport forwards them unchanged.
 *
 * @module
 */

import { decode, encode } from "../../kernel/codec.ts";
import type { ComponentId } from "../../kernel/ids.ts";

/** What an endpoint tells a peer about itself. */
export interface EndpointInfo {
  /** `connectionless` (UD + SRQ) or `connected` (RC + WRITE_WITH_IMM). */
  mode: "connectionless" | "connected";
  /** Port LID. */
  lid: number;
  /** Port GID, hex. */
  gid: string;
  /** Whether sends must carry a GRH (RoCE). */
  global: boolean;
  /** Path MTU enum (`IBV_MTU_*`). */
  mtu: number;
  /** The UD queue pair's number. */
  udQpn: number;
  /** The UD Q_Key. */
  qkey: number;
  /** Capacity of the endpoint's shared receive queue, in frames. */
  queueFrames: number;
  /** Largest chunk payload a UD receive buffer holds. */
  chunkBytes: number;
}

/** A request's body, by operation. */
export type ControlRequest =
  | { op: "hello"; info: EndpointInfo }
  | { op: "connect"; qpn: number; psn: number }
  | { op: "region"; key: number }
  | { op: "bye" };

/** A reply's body. */
export type ControlReply =
  | {
    ok: true;
    info?: EndpointInfo;
    qpn?: number;
    psn?: number;
    ring?: RingInfo;
    region?: RegionInfo;
  }
  | { ok: false; error: string; code: string };

/** Where a connected-mode sender writes: a ring of slots the receiver registered. */
export interface RingInfo {
  /** The ring's remote key. */
  rkey: number;
  /** Number of slots. */
  slots: number;
  /** Bytes per slot. */
  slotBytes: number;
}

/** A registered region's description. */
export interface RegionInfo {
  /** Bytes. */
  length: number;
  /** Peers may read. */
  remoteRead: boolean;
  /** Peers may write. */
  remoteWrite: boolean;
}

/** One control message on the wire. */
export type ControlMessage =
  | { t: "req"; id: number; body: ControlRequest }
  | { t: "res"; id: number; body: ControlReply };

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Encodes `message` as a SYS_PING frame from `src` to `dst`. */
export function encodeControl(
  src: ComponentId,
  dst: ComponentId,
  message: ControlMessage,
): Uint8Array {
  return encode({
    kind: "SYS_PING",
    requestId: message.id,
    src,
    dst,
    flags: 0,
    body: { data: utf8.encode(JSON.stringify(message)) },
  });
}

/** Decodes a control frame; undefined when it is not one (garbage is ignored). */
export function decodeControl(frame: Uint8Array): ControlMessage | undefined {
  try {
    const message = decode(frame);
    if (message.kind !== "SYS_PING") return undefined;
    const parsed = JSON.parse(fromUtf8.decode((message.body as { data: Uint8Array }).data));
    if (
      typeof parsed === "object" && parsed !== null && (parsed.t === "req" || parsed.t === "res") &&
      Number.isInteger(parsed.id) && typeof parsed.body === "object" && parsed.body !== null
    ) return parsed as ControlMessage;
  } catch {
    // Not a control message.
  }
  return undefined;
}
