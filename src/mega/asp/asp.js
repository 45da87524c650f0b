// mega ASP browser client: one ES module, no build step, WebCrypto only.
// Wire format: docs/reference/asp.md (version 1). Served by mega at /_mega/asp.js while ASP is on.
//
//   import { AspClient } from "/_mega/asp.js";
//   const asp = await AspClient.create(secret);            // or [newSecret, oldSecret]
//   const res = await asp.fetch("/api/pay", { method: "POST", json: { amount: 5 } });
//   const envelope = await res.json();                     // decrypted
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
  constructor(requestKeys, responseKeys) {
    this.requestKeys = requestKeys;
    this.responseKeys = responseKeys;
  }

  static async create(secret) {
    const secrets = Array.isArray(secret) ? secret : [secret];
    if (!secrets.length) throw new AspError("asp.no_secret", "AspClient needs at least one secret");
    const requestKeys = await Promise.all(secrets.map((s) => deriveKey(s, "request")));
    const responseKeys = await Promise.all(secrets.map((s) => deriveKey(s, "response")));
    return new AspClient(requestKeys, responseKeys);
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
