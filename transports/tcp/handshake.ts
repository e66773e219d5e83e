/**
 * The connection handshake: who is calling whom, the credits each side grants, and a
 * mutual challenge–response in which each side proves its **component key** (see
 * `component_key.ts`: an Ed25519 key per component id, certified by a key derived from
 * the cluster secret).
 *
 * ```
 * dialer                                   acceptor
 *   HELLO {from, to, listen, nonce, secret} ──▶  checks `to` is itself
 *   ◀── CHALLENGE {id, nonce, proof, key, cert}  proof = sign(acceptor key, transcript)
 *   checks cert names `to`, and proof
 *   AUTH {proof, credits, key, cert} ───────▶  checks cert names `from`, and proof
 *   ◀── WELCOME {credits}        (or REFUSED {reason}, then close)
 * ```
 *
 * Both nonces are fresh random 32-byte values, and each proof covers both nonces and
 * both ids, so a recorded handshake cannot be replayed and a proof made for one pair of
 * components is worthless for another. A certificate binds a public key to one id, so
 * the key of `m0` cannot claim to be `gm`. The acceptor proves itself first, so a dialer
 * never talks to an impostor. A side without a key sends an empty proof; a side with
 * one refuses a peer that cannot prove it. No secret crosses the wire. (Frames are
 * authenticated at connection set-up, not encrypted: run the cluster on a network you
 * trust, as LegoOS does with RDMA.)
 *
 * @module
 */

import { componentIdProblem } from "../../kernel/ids.ts";
import { ComponentKey, fromBase64, toBase64 } from "./component_key.ts";
import {
  Control,
  controlName,
  encodeJsonControl,
  encodeTextControl,
  type FrameReader,
  payloadJson,
  payloadText,
  ProtocolError,
  type WireFrame,
} from "./wire.ts";

/** Handshake protocol version. */
export const HANDSHAKE_VERSION = 2;

/** Shortest secret accepted, in bytes. */
export const MIN_SECRET_BYTES = 16;

const utf8 = new TextEncoder();

/**
 * A cluster secret, imported once as an HMAC-SHA-256 key.
 *
 * @example
 * ```ts
 * import { ClusterSecret } from "./handshake.ts";
 * const secret = await ClusterSecret.from("correct horse battery staple");
 * const proof = await secret.sign("hello");
 * console.assert(await secret.verify("hello", proof));
 * ```
 */
export class ClusterSecret {
  readonly #key: CryptoKey;
  readonly #bytes: Uint8Array;

  private constructor(key: CryptoKey, bytes: Uint8Array) {
    this.#key = key;
    this.#bytes = bytes;
  }

  /**
   * Imports `secret` (text or bytes). Throws a `RangeError` when it is shorter than
   * {@link MIN_SECRET_BYTES} bytes.
   */
  static async from(secret: string | Uint8Array): Promise<ClusterSecret> {
    const bytes = typeof secret === "string" ? utf8.encode(secret) : secret;
    if (bytes.length < MIN_SECRET_BYTES) {
      throw new RangeError(
        `the cluster secret is ${bytes.length} bytes; use at least ${MIN_SECRET_BYTES}`,
      );
    }
    const key = await crypto.subtle.importKey(
      "raw",
      bytes.slice(),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    );
    return new ClusterSecret(key, bytes.slice());
  }

  /** The key of component `id`, derived from this secret (see `component_key.ts`). */
  componentKey(id: string): Promise<ComponentKey> {
    return ComponentKey.derive(this.#bytes, id);
  }

  /** HMAC of `message`, base64. */
  async sign(message: string): Promise<string> {
    const mac = await crypto.subtle.sign("HMAC", this.#key, utf8.encode(message));
    return toBase64(new Uint8Array(mac));
  }

  /** Whether `proof` is the HMAC of `message` (compared in constant time by Web Crypto). */
  async verify(message: string, proof: string): Promise<boolean> {
    const bytes = fromBase64(proof);
    if (!bytes) return false;
    return await crypto.subtle.verify("HMAC", this.#key, bytes, utf8.encode(message));
  }
}

/**
 * The transcript each side signs: role, both ids and both nonces.
 *
 * @example
 * ```ts
 * import { handshakeTranscript } from "./handshake.ts";
 * console.assert(handshakeTranscript("dialer", "p0", "m0", "a", "b").includes("|p0|m0|a|b"));
 * ```
 */
export function handshakeTranscript(
  role: "acceptor" | "dialer",
  from: string,
  to: string,
  dialerNonce: string,
  acceptorNonce: string,
): string {
  return `legoemu-tcp/${HANDSHAKE_VERSION}|${role}|${from}|${to}|${dialerNonce}|${acceptorNonce}`;
}

/** A connection the handshake runs on. */
export interface HandshakeIo {
  /** Reads frames (and keeps whatever follows the handshake for the connection). */
  readonly reader: FrameReader;
  /** Writes one whole frame. */
  write(frame: Uint8Array): Promise<void>;
}

/** This side's part in a handshake. */
export interface HandshakeSelf {
  /** This component's id. */
  id: string;
  /** This component's key (its `id` must be this side's), or `undefined` to run without. */
  key: ComponentKey | undefined;
  /** Data frames this side lets the peer send before it returns credits. */
  credits: number;
}

/** What a successful handshake established. */
export interface HandshakeResult {
  /** The authenticated peer id. */
  peer: string;
  /** Data frames this side may send before the peer returns credits. */
  credits: number;
  /** The peer's listen address (`host:port`), or `""` when it does not listen. */
  listen: string;
}

/**
 * The handshake failed. `refusedByPeer` is true when the other side sent REFUSED;
 * `authentication` is true for a secret problem (retrying will not help).
 *
 * @example
 * ```ts
 * import { HandshakeError } from "./handshake.ts";
 * const e = new HandshakeError("wrong cluster secret", { authentication: true });
 * console.assert(e.authentication && !e.refusedByPeer);
 * ```
 */
export class HandshakeError extends Error {
  /** The other side refused us. */
  readonly refusedByPeer: boolean;
  /** A cluster-secret problem. */
  readonly authentication: boolean;
  /** Creates the error. */
  constructor(
    message: string,
    flags: { refusedByPeer?: boolean; authentication?: boolean } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "HandshakeError";
    this.refusedByPeer = flags.refusedByPeer ?? false;
    this.authentication = flags.authentication ?? false;
  }
}

function nonce(): string {
  return toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/** Reads frames until one arrives; rejects at end of stream. */
async function readFrame(reader: FrameReader): Promise<WireFrame> {
  while (true) {
    const frame = reader.next();
    if (frame) return frame;
    if (!(await reader.fill())) throw new HandshakeError("the peer closed the connection");
  }
}

/** Reads the next handshake frame, which must be of type `want` (or REFUSED). */
async function expect(reader: FrameReader, want: number): Promise<Record<string, unknown>> {
  const frame = await readFrame(reader);
  if (frame.data) {
    throw new ProtocolError(`a data frame arrived before the handshake finished`);
  }
  if (frame.type === Control.REFUSED) {
    const reason = payloadText(frame.payload);
    throw new HandshakeError(`the other side refused: ${reason}`, {
      refusedByPeer: true,
      authentication: /secret/.test(reason),
    });
  }
  if (frame.type !== want) {
    throw new ProtocolError(
      `expected ${controlName(want)} in the handshake, got ${controlName(frame.type)}`,
    );
  }
  return payloadJson(frame.payload);
}

function stringField(body: Record<string, unknown>, name: string, what: string): string {
  const value = body[name];
  if (typeof value !== "string") throw new ProtocolError(`${what} has no string "${name}"`);
  return value;
}

function creditsField(body: Record<string, unknown>, what: string): number {
  const credits = body.credits;
  if (
    typeof credits !== "number" || !Number.isInteger(credits) || credits < 1 || credits > 1 << 20
  ) {
    throw new ProtocolError(`${what} grants an invalid number of credits: ${String(credits)}`);
  }
  return credits;
}

/**
 * Runs the dialer's half: introduces `self` to the component `to`, checks it proves the
 * secret, proves ours, and waits to be welcomed.
 *
 * @example
 * ```ts ignore
 * const result = await dialHandshake(io, { id: "p0", secret, credits: 256 }, "m0", "127.0.0.1:7100");
 * ```
 */
export async function dialHandshake(
  io: HandshakeIo,
  self: HandshakeSelf,
  to: string,
  listen: string,
): Promise<HandshakeResult> {
  checkOwnKey(self);
  const dialerNonce = nonce();
  await io.write(encodeJsonControl({ type: Control.HELLO }, {
    v: HANDSHAKE_VERSION,
    from: self.id,
    to,
    listen,
    nonce: dialerNonce,
    secret: self.key !== undefined,
  }));
  const challenge = await expect(io.reader, Control.CHALLENGE);
  const peer = stringField(challenge, "id", "CHALLENGE");
  const acceptorNonce = stringField(challenge, "nonce", "CHALLENGE");
  const proof = stringField(challenge, "proof", "CHALLENGE");
  if (peer !== to) throw new HandshakeError(`the component listening there is ${peer}, not ${to}`);
  // Tells the acceptor why we hang up (so it can log it), then fails.
  const giveUp = async (reason: string): Promise<never> => {
    await io.write(encodeTextControl({ type: Control.REFUSED }, `${self.id}: ${reason}`))
      .catch(() => {});
    throw new HandshakeError(reason, { authentication: true });
  };
  let ourProof = "";
  if (self.key) {
    if (proof === "") await giveUp(`${to} has no cluster secret, and this component requires one`);
    const ok = await verifyProof(
      self.key,
      to,
      challenge,
      handshakeTranscript("acceptor", self.id, to, dialerNonce, acceptorNonce),
      proof,
    );
    if (!ok) {
      await giveUp(
        `${to} failed to prove the cluster secret (the secrets differ)`,
      );
    }
    ourProof = await self.key.sign(
      handshakeTranscript("dialer", self.id, to, dialerNonce, acceptorNonce),
    );
  }
  await io.write(encodeJsonControl({ type: Control.AUTH }, {
    proof: ourProof,
    credits: self.credits,
    ...keyFields(self.key),
  }));
  const welcome = await expect(io.reader, Control.WELCOME);
  return { peer: to, credits: creditsField(welcome, "WELCOME"), listen: "" };
}

/**
 * Runs the acceptor's half. On a failure it sends REFUSED with the reason (when the
 * reason is the peer's fault) and throws a {@link HandshakeError} or
 * {@link ProtocolError}; the caller logs it and closes the connection.
 *
 * @example
 * ```ts ignore
 * const { peer, listen } = await acceptHandshake(io, { id: "m0", secret, credits: 256 });
 * ```
 */
export async function acceptHandshake(
  io: HandshakeIo,
  self: HandshakeSelf,
): Promise<HandshakeResult> {
  checkOwnKey(self);
  const refuse = async (reason: string, authentication = false): Promise<never> => {
    await io.write(encodeTextControl({ type: Control.REFUSED }, reason)).catch(() => {});
    throw new HandshakeError(reason, { authentication });
  };
  const hello = await expect(io.reader, Control.HELLO);
  if (hello.v !== HANDSHAKE_VERSION) {
    return await refuse(`handshake version ${String(hello.v)} is not supported`);
  }
  const from = stringField(hello, "from", "HELLO");
  const to = stringField(hello, "to", "HELLO");
  const listen = stringField(hello, "listen", "HELLO");
  const dialerNonce = stringField(hello, "nonce", "HELLO");
  const idProblem = componentIdProblem(from);
  if (idProblem) return await refuse(`bad component id: ${idProblem}`);
  if (to !== self.id) return await refuse(`this is ${self.id}, not ${to}`);
  if (from === self.id) return await refuse(`${from} cannot connect to itself`);
  if (dialerNonce.length < 16 || dialerNonce.length > 128) return await refuse("bad nonce");
  if (listen.length > 300) return await refuse("listen address is too long");
  if (self.key && hello.secret !== true) {
    return await refuse(`${from} presented no cluster secret, and this cluster requires one`, true);
  }
  const acceptorNonce = nonce();
  const proof = self.key
    ? await self.key.sign(handshakeTranscript("acceptor", from, to, dialerNonce, acceptorNonce))
    : "";
  await io.write(encodeJsonControl({ type: Control.CHALLENGE }, {
    id: self.id,
    nonce: acceptorNonce,
    proof,
    ...keyFields(self.key),
  }));
  const auth = await expect(io.reader, Control.AUTH);
  const theirProof = stringField(auth, "proof", "AUTH");
  const credits = creditsField(auth, "AUTH");
  if (self.key) {
    const ok = theirProof !== "" && await verifyProof(
      self.key,
      from,
      auth,
      handshakeTranscript("dialer", from, to, dialerNonce, acceptorNonce),
      theirProof,
    );
    if (!ok) {
      return await refuse(
        `${from} failed to prove the cluster secret (wrong secret, or a key that is not ${from}'s)`,
        true,
      );
    }
  }
  await io.write(encodeJsonControl({ type: Control.WELCOME }, { credits: self.credits }));
  return { peer: from, credits, listen };
}

/** The public key and certificate a side presents with its proof. */
function keyFields(key: ComponentKey | undefined): Record<string, string> {
  return key ? { key: toBase64(key.publicKey), cert: toBase64(key.certificate) } : {};
}

/** Whether `body`'s key and certificate name `id` and `proof` signs `message` with it. */
async function verifyProof(
  own: ComponentKey,
  id: string,
  body: Record<string, unknown>,
  message: string,
  proof: string,
): Promise<boolean> {
  const publicKey = fromBase64(body.key);
  const certificate = fromBase64(body.cert);
  if (!publicKey || !certificate) return false;
  return await own.verifyPeer(id, publicKey, certificate, message, proof);
}

/** A side must hold its own key, not another component's. */
function checkOwnKey(self: HandshakeSelf): void {
  if (self.key && self.key.id !== self.id) {
    throw new HandshakeError(`the key given to ${self.id} is the key of ${self.key.id}`, {
      authentication: true,
    });
  }
}
