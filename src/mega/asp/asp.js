// mega ASP browser client: one ES module, no build step, WebCrypto only.
// Wire format: docs/reference/asp.md (version 1). Served by mega at /_mega/asp.js while ASP is on.
//
//   import { AspClient } from "/_mega/asp.js";
//   const asp = await AspClient.create(secret);            // or [newSecret, oldSecret]
//   const res = await asp.fetch("/api/pay", { method: "POST", json: { amount: 5 } });
//   const envelope = await res.json();                     // decrypted
//
// On a WebSocket namespace listed in asp.websocket.namespaces:
//
//   const sock = new AspSocket(asp, "/ws/chat");           // frames are E:... both ways
//   sock.addEventListener("message", (e) => show(e.data)); // e.data: the decrypted {type, payload}
//   sock.send({ type: "chat.send", payload: { text: "hi" } });
//
// WebCrypto needs a secure context: https, or http on localhost / 127.0.0.1.

const enc = new TextEncoder();
const SALT = enc.encode("mega-asp/1");
const SIGNAL = "x-mega-asp";
const TIMESTAMP = "x-mega-asp-ts";
const NONCE = "x-mega-asp-nonce";
const TAG = "x-mega-asp-tag";
const TAG_SIZE = 16;
const NO_BODY = new Set([101, 204, 205, 304]);

export function b64(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function unb64(text, size) {
  if (typeof text !== "string" || text.length !== Math.floor((size * 4 + 2) / 3)) return null;
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4));
  const out = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  return out.length === size && b64(out) === text ? out : null;
}

// Any length, canonical spelling only (as the server decodes).
export function unb64Any(text) {
  if (typeof text !== "string" || text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4));
  const out = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  return b64(out) === text ? out : null;
}

export function wsAad(direction, ns, timestamp) {
  return enc.encode(`mega-asp/1 ws ${direction}\n${ns}\n${timestamp}`);
}

export function requestAad(method, path, query, timestamp) {
  return enc.encode(`mega-asp/1 request\n${method}\n${path}\n${query}\n${timestamp}`);
}

export function responseAad(status, requestNonce) {
  return enc.encode(`mega-asp/1 response\n${status}\n${requestNonce}`);
}

async function deriveKey(secret, direction, context = "http") {
  const ikm = await crypto.subtle.importKey("raw", enc.encode(secret), "HKDF", false, ["deriveKey"]);
  const info = enc.encode(`mega-asp/1 ${context} ${direction}`);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: SALT, info }, ikm,
    { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

async function seal(key, nonce, plaintext, aad) {
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, key, plaintext));
  return { ciphertext: sealed.slice(0, sealed.length - TAG_SIZE), tag: sealed.slice(sealed.length - TAG_SIZE) };
}

async function open(keys, nonce, ciphertext, tag, aad) {
  const sealed = new Uint8Array(ciphertext.length + TAG_SIZE);
  sealed.set(ciphertext);
  sealed.set(tag, ciphertext.length);
  for (const key of keys) {
    try {
      return new Uint8Array(await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 }, key, sealed));
    } catch {
      // not this key: try the next secret
    }
  }
  return null;
}

export class AspError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class AspClient {
  // Use AspClient.create(secret): key derivation is asynchronous in WebCrypto.
  constructor(requestKeys, responseKeys, wsKeys) {
    this.requestKeys = requestKeys;
    this.responseKeys = responseKeys;
    this.wsKeys = wsKeys;
  }

  static async create(secret) {
    const secrets = Array.isArray(secret) ? secret : [secret];
    if (!secrets.length) throw new AspError("asp.no_secret", "AspClient needs at least one secret");
    const requestKeys = await Promise.all(secrets.map((s) => deriveKey(s, "request")));
    const responseKeys = await Promise.all(secrets.map((s) => deriveKey(s, "response")));
    const wsKeys = {
      request: await Promise.all(secrets.map((s) => deriveKey(s, "request", "ws"))),
      response: await Promise.all(secrets.map((s) => deriveKey(s, "response", "ws"))),
    };
    return new AspClient(requestKeys, responseKeys, wsKeys);
  }

  // One E: frame of `message` (an object is JSON-encoded) for the channel at `ns`.
  // sender "client" (to the server, the default) or "server".
  async wsEncrypt(ns, message, { timestamp, nonce, sender = "client" } = {}) {
    const direction = sender === "server" ? "response" : "request";
    const stamp = timestamp ?? Date.now();
    const iv = nonce ?? crypto.getRandomValues(new Uint8Array(12));
    const text = typeof message === "string" ? message : JSON.stringify(message);
    const { ciphertext, tag } = await seal(this.wsKeys[direction][0], iv, enc.encode(text),
                                           wsAad(direction, ns, stamp));
    const raw = new Uint8Array(8 + 12 + ciphertext.length + TAG_SIZE);
    new DataView(raw.buffer).setBigUint64(0, BigInt(stamp));
    raw.set(iv, 8);
    raw.set(ciphertext, 20);
    raw.set(tag, 20 + ciphertext.length);
    return "E:" + b64(raw);
  }

  // The JSON value of an E: frame the server (or, with sender "client", a client) sent on `ns`.
  async wsDecrypt(ns, frame, { sender = "server" } = {}) {
    const direction = sender === "client" ? "request" : "response";
    if (typeof frame !== "string" || !frame.startsWith("E:")) {
      throw new AspError("asp.signal", "the frame is not ASP-encrypted");
    }
    const raw = unb64Any(frame.slice(2));
    if (!raw || raw.length < 8 + 12 + TAG_SIZE) throw new AspError("asp.decrypt_failed", "malformed frame");
    const stamp = new DataView(raw.buffer).getBigUint64(0);
    const plain = await open(this.wsKeys[direction], raw.slice(8, 20), raw.slice(20, raw.length - TAG_SIZE),
                             raw.slice(raw.length - TAG_SIZE), wsAad(direction, ns, stamp.toString()));
    if (!plain) throw new AspError("asp.decrypt_failed", "the frame could not be decrypted");
    return JSON.parse(new TextDecoder().decode(plain));
  }

  // Encrypt a request. path: percent-decoded; query: as sent, without "?".
  // Returns { headers, body, nonce }; keep nonce to open the response.
  async seal(method, path, query, body, { timestamp, nonce } = {}) {
    const stamp = String(timestamp ?? Date.now());
    const iv = nonce ?? crypto.getRandomValues(new Uint8Array(12));
    const aad = requestAad(method.toUpperCase(), path, query, stamp);
    const { ciphertext, tag } = await seal(this.requestKeys[0], iv, body ?? new Uint8Array(0), aad);
    const nonceText = b64(iv);
    return { headers: { [SIGNAL]: "1", [TIMESTAMP]: stamp, [NONCE]: nonceText, [TAG]: b64(tag) },
             body: ciphertext, nonce: nonceText };
  }

  // Decrypt a response body (Uint8Array); throws AspError("asp.bad_response") when it does not open.
  async open(status, headers, body, requestNonce) {
    const get = (name) => (headers instanceof Headers ? headers.get(name) : headers[name]);
    const nonce = unb64(get(NONCE), 12);
    const tag = unb64(get(TAG), TAG_SIZE);
    const plain = nonce && tag && await open(this.responseKeys, nonce, body, tag, responseAad(status, requestNonce));
    if (!plain) throw new AspError("asp.bad_response", `the encrypted ${status} response could not be decrypted`);
    return plain;
  }

  // Like fetch(), plus `json`: the request goes encrypted and the Response returned is decrypted.
  // A refusal sent in plain (before the server could decrypt) comes back as it is.
  async fetch(input, init = {}) {
    const url = new URL(input, globalThis.location?.href);
    const method = (init.method ?? "GET").toUpperCase();
    const headers = new Headers(init.headers ?? {});
    let body = init.body;
    if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
    }
    if (typeof body === "string") body = enc.encode(body);
    else if (body instanceof ArrayBuffer) body = new Uint8Array(body);
    const sealed = await this.seal(method, decodeURIComponent(url.pathname), url.search.slice(1), body);
    for (const [name, value] of Object.entries(sealed.headers)) headers.set(name, value);
    const { json: _json, ...rest } = init;
    const hasBody = method !== "GET" && method !== "HEAD";
    const response = await fetch(url, { ...rest, method, headers, body: hasBody ? sealed.body : undefined });
    if (response.headers.get(SIGNAL) !== "1") return response;
    const cipher = new Uint8Array(await response.arrayBuffer());
    const plain = await this.open(response.status, response.headers, cipher, sealed.nonce);
    const out = new Headers(response.headers);
    out.delete("content-length");
    return new Response(NO_BODY.has(response.status) ? null : plain,
      { status: response.status, statusText: response.statusText, headers: out });
  }
}

// A WebSocket to an ASP namespace: send() takes objects and encrypts them; "message" events carry the
// decrypted objects in order; "asperror" events a frame that did not open. The namespace is the URL's
// path unless given.
export class AspSocket extends EventTarget {
  constructor(asp, url, { ns, protocols } = {}) {
    super();
    const full = new URL(url, globalThis.location?.href);
    if (full.protocol === "http:") full.protocol = "ws:";
    else if (full.protocol === "https:") full.protocol = "wss:";
    this.asp = asp;
    this.ns = ns ?? decodeURIComponent(full.pathname);
    this.ws = new WebSocket(full, protocols);
    this.sending = Promise.resolve();
    this.receiving = Promise.resolve();
    this.ws.addEventListener("open", () => this.dispatchEvent(new Event("open")));
    this.ws.addEventListener("close", (e) => {
      this.receiving = this.receiving.then(() => this.dispatchEvent(
        Object.assign(new Event("close"), { code: e.code, reason: e.reason, wasClean: e.wasClean })));
    });
    this.ws.addEventListener("message", (e) => {
      this.receiving = this.receiving.then(async () => {
        try {
          const data = await asp.wsDecrypt(this.ns, e.data);
          this.dispatchEvent(Object.assign(new Event("message"), { data }));
        } catch (err) {
          this.dispatchEvent(Object.assign(new Event("asperror"), { error: err }));
        }
      });
    });
  }

  get readyState() {
    return this.ws.readyState;
  }

  send(message) {
    this.sending = this.sending.then(async () => this.ws.send(await this.asp.wsEncrypt(this.ns, message)));
    return this.sending;
  }

  close(code, reason) {
    this.ws.close(code, reason);
  }
}
