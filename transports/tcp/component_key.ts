/**
 * Per-component keys: what a component proves at the TCP handshake instead of the
 * cluster secret itself.
 *
 * From the cluster secret come a cluster signing key (the "CA") and, for each component
 * id, an Ed25519 key pair (seeds are HMAC-SHA-256 of the secret and a label, so the same
 * secret always gives the same keys). A component key carries its id, its private key, a
 * certificate (the CA's signature over id and public key) and the CA's public key. A
 * component proves its identity by signing the handshake transcript; its peer checks
 * the certificate names the id it claims. A holder of `m0`'s key can therefore act only
 * as `m0`: it cannot forge the certificate of `gm`, nor derive another component's key.
 * Only holders of the cluster secret (an operator, `legoemu cluster`) can make keys:
 * give each host only the key files of the components it runs (`deno task keys`).
 *
 * @module
 */

const utf8 = new TextEncoder();
const PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70];
const KEY_FILE_VERSION = 1;

/** Base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}

/** Bytes of base64 `text` (at most `limit` characters), or `undefined` when it is not base64. */
export function fromBase64(text: unknown, limit = 200): Uint8Array<ArrayBuffer> | undefined {
  if (typeof text !== "string" || text.length > limit) return undefined;
  try {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  } catch {
    return undefined;
  }
}

async function hmac(secret: Uint8Array, label: string): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    secret.slice(),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8.encode(label)));
}

/** An Ed25519 signing key from a 32-byte seed, with its raw public key. */
async function keyPair(seed: Uint8Array): Promise<{ sign: CryptoKey; publicKey: Uint8Array }> {
  const der = new Uint8Array(48);
  der.set(PKCS8_ED25519);
  der.set([0x04, 0x22, 0x04, 0x20], 12);
  der.set(seed, 16);
  const sign = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", sign);
  const publicKey = fromBase64(jwk.x!.replace(/-/g, "+").replace(/_/g, "/") + "=", 64)!;
  return { sign, publicKey };
}

/** Whether `signature` is `publicKey`'s Ed25519 signature of `message` (false for junk). */
export async function verifySignature(
  publicKey: Uint8Array,
  message: string,
  signature: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await crypto.subtle.importKey(
      "raw",
      publicKey.slice(),
      { name: "Ed25519" },
      false,
      ["verify"],
    );
    return await crypto.subtle.verify("Ed25519", key, signature.slice(), utf8.encode(message));
  } catch {
    return false;
  }
}

const certified = (id: string, publicKey: Uint8Array) =>
  `legoemu-component-cert/1|${id}|${toBase64(publicKey)}`;

/**
 * One component's key: its identity in the cluster.
 *
 * @example
 * ```ts
 * import { ComponentKey } from "./component_key.ts";
 * const secret = new TextEncoder().encode("correct horse battery staple");
 * const m0 = await ComponentKey.derive(secret, "m0");
 * const proof = await m0.sign("transcript");
 * console.assert(await m0.verifyPeer("m0", m0.publicKey, m0.certificate, "transcript", proof));
 * console.assert(!(await m0.verifyPeer("gm", m0.publicKey, m0.certificate, "transcript", proof)));
 * ```
 */
export class ComponentKey {
  /** The component this key belongs to. */
  readonly id: string;
  /** Its Ed25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
  /** The cluster's signature over id and public key. */
  readonly certificate: Uint8Array;
  /** The cluster's public key, which checks every peer's certificate. */
  readonly clusterKey: Uint8Array;
  readonly #seed: Uint8Array;
  readonly #sign: CryptoKey;

  private constructor(
    id: string,
    seed: Uint8Array,
    pair: { sign: CryptoKey; publicKey: Uint8Array },
    certificate: Uint8Array,
    clusterKey: Uint8Array,
  ) {
    this.id = id;
    this.#seed = seed;
    this.#sign = pair.sign;
    this.publicKey = pair.publicKey;
    this.certificate = certificate;
    this.clusterKey = clusterKey;
  }

  /** Derives the key of component `id` from the cluster secret. */
  static async derive(secret: Uint8Array, id: string): Promise<ComponentKey> {
    const ca = await keyPair(await hmac(secret, "legoemu-cluster-ca/1"));
    const seed = await hmac(secret, `legoemu-component-key/1|${id}`);
    const pair = await keyPair(seed);
    const certificate = new Uint8Array(
      await crypto.subtle.sign("Ed25519", ca.sign, utf8.encode(certified(id, pair.publicKey))),
    );
    return new ComponentKey(id, seed, pair, certificate, ca.publicKey);
  }

  /**
   * Reads a key file's text (see {@link ComponentKey.toText}). Throws a `RangeError` that
   * says what is wrong (never the key material).
   */
  static async fromText(text: string): Promise<ComponentKey> {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(text);
    } catch {
      throw new RangeError("not a legoemu component key file (expected JSON)");
    }
    if (value?.legoemuComponentKey !== KEY_FILE_VERSION || typeof value.id !== "string") {
      throw new RangeError("not a legoemu component key file (version 1)");
    }
    const seed = fromBase64(value.seed);
    const certificate = fromBase64(value.certificate);
    const clusterKey = fromBase64(value.clusterKey);
    if (seed?.length !== 32 || certificate?.length !== 64 || clusterKey?.length !== 32) {
      throw new RangeError(`the key file of ${value.id} is damaged`);
    }
    const pair = await keyPair(seed);
    if (!(await verifySignature(clusterKey, certified(value.id, pair.publicKey), certificate))) {
      throw new RangeError(`the key file of ${value.id} does not hold a key certified for it`);
    }
    return new ComponentKey(value.id, seed, pair, certificate, clusterKey);
  }

  /** The key file's text (JSON); keep it like a password (mode 600). */
  toText(): string {
    return JSON.stringify({
      legoemuComponentKey: KEY_FILE_VERSION,
      id: this.id,
      seed: toBase64(this.#seed),
      certificate: toBase64(this.certificate),
      clusterKey: toBase64(this.clusterKey),
    }) + "\n";
  }

  /** This component's signature of `message`, base64. */
  async sign(message: string): Promise<string> {
    return toBase64(
      new Uint8Array(await crypto.subtle.sign("Ed25519", this.#sign, utf8.encode(message))),
    );
  }

  /**
   * Whether a peer claiming to be `id` proved it: `certificate` is this cluster's
   * signature over `id` and `publicKey`, and `proof` is that key's signature of `message`.
   */
  async verifyPeer(
    id: string,
    publicKey: Uint8Array,
    certificate: Uint8Array,
    message: string,
    proof: string | Uint8Array,
  ): Promise<boolean> {
    const signature = typeof proof === "string" ? fromBase64(proof) : proof;
    if (!signature) return false;
    return await verifySignature(this.clusterKey, certified(id, publicKey), certificate) &&
      await verifySignature(publicKey, message, signature);
  }
}
