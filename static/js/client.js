// One request policy for every answer the page asks for, drawings (fetch) and pictures (XHR, which
// reports upload progress) alike: at most one request in flight; the newest job replaces one that
// waits; live frames are paced to the round trip, a settled job goes at once; one timeout rule and one
// retry schedule; and a new job after a failure goes at once instead of waiting out the retry timer.

const MIN_INTERVAL_MS = 50; // never ask more often than this while the pen moves
const RETRY_MS = [1000, 2000, 4000, 8000];
const STUCK_MS = 1500; // a request this old (and 4 round trips) is given up when a newer drawing waits
const TIMEOUT_MS = { json: 6000, upload: 30000 }; // a picture's bytes take longer on a slow uplink

class BadAnswer extends Error {}
class TimedOut extends Error {}

// What a person reads when a request failed: plain words, never a parser's or a browser's.
function explainFailure(status, error) {
  if (status === 413) return "That is too big to read (the picture or the drawing has too much in it).";
  if (status === 422) return "No digit found: " + error.replace(/^no (ink|digit found)[^:]*:\s*/, "");
  if (status === 429) return "Too many requests just now. Retrying in a moment…";
  if (status >= 500) return "The server had a problem. Retrying…";
  return error.charAt(0).toUpperCase() + error.slice(1) + ".";
}

function explainError(error) {
  if (error instanceof TimedOut) return "The server is taking too long. Retrying…";
  if (error instanceof BadAnswer) return "The server sent an answer this page cannot read. Retrying…";
  if (navigator.onLine === false) return "You are offline. Retrying when the connection is back…";
  return "Can't reach the server. Retrying…";
}

const retriable = (status) => status >= 500 || status === 429 || status === 408;

function parse(type, text) {
  if (!(type || "").includes("application/json")) throw new BadAnswer(`not JSON: ${type}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new BadAnswer("broken JSON");
  }
}

// One POST of JSON (a string) or a form, read as JSON: {status, payload}. Throws TimedOut past
// timeoutMs (or when the controller aborts), BadAnswer for a body that is not JSON, TypeError offline.
// The answers (via the Client), corrections and explanations all go through it.
export async function post(url, body, timeoutMs, controller = new AbortController()) {
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const headers = typeof body === "string" ? { "Content-Type": "application/json" } : {};
  try {
    const response = await fetch(url, { method: "POST", headers, body, signal: controller.signal });
    return { status: response.status, payload: parse(response.headers.get("Content-Type"), await response.text()) };
  } catch (error) {
    throw error.name === "AbortError" ? new TimedOut() : error;
  } finally {
    clearTimeout(timer);
  }
}

// Why a post() failed, in a person's words (lower case, to go after "Not saved: " and the like).
export function failureReason(error) {
  if (error instanceof TimedOut) return "the server took too long";
  if (error instanceof BadAnswer) return "the server sent an answer this page cannot read";
  if (navigator.onLine === false) return "you are offline";
  return "can't reach the server";
}

function viaUpload(job, onProgress, controller) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    controller.signal.addEventListener("abort", () => { xhr.abort(); reject(new TimedOut()); });
    xhr.open("POST", job.url);
    xhr.timeout = TIMEOUT_MS.upload;
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(job, event.loaded / event.total);
    xhr.onload = () => {
      try {
        resolve({ status: xhr.status, payload: parse(xhr.getResponseHeader("Content-Type"), xhr.responseText) });
      } catch (error) {
        reject(error);
      }
    };
    xhr.onerror = () => reject(new TypeError("network"));
    xhr.ontimeout = () => reject(new TimedOut());
    xhr.send(job.body);
  });
}

export class Client {
  // onAnswer(payload, job), onFailure(message, job), onBusy(on), onProgress(job, fraction)
  constructor({ onAnswer, onFailure, onBusy, onProgress }) {
    Object.assign(this, { onAnswer, onFailure, onBusy, onProgress });
    this.busy = false;
    this.pending = null; // the newest job not sent yet
    this.failedJob = null; // the job a retry timer waits to send again
    this.current = null; // the request in flight: {controller, superseded}
    this.retryTimer = null;
    this.waitTimer = null;
    this.lastSent = 0;
    this.rtt = 0;
    window.addEventListener("online", () => this.retryNow(true)); // the connection is back: at once
  }

  // job: {url, body (a JSON string, or FormData with upload: true), settle, ...anything the caller needs}
  send(job) {
    // A settled job (pen up) stays settled if a live frame replaces it before it is sent.
    const settle = job.settle || Boolean(this.pending && this.pending.settle && this.pending.epoch === job.epoch);
    this.pending = { ...job, settle };
    this.cancelRetry(); // a new drawing after a failure goes now, not when the retry timer ends
    this.giveUpIfStuck();
    this.pump();
  }

  // One request at a time keeps a slow network from queueing stale drawings; but a request that hangs
  // (a dropped connection, a stalled proxy) must not hold the newest drawing back until its timeout.
  giveUpIfStuck() {
    if (!this.current || performance.now() - this.lastSent < Math.max(STUCK_MS, 4 * this.rtt)) return;
    this.current.superseded = true;
    this.current.controller.abort();
  }

  // Forget everything waiting (Clear): an answer already in flight is dropped by the caller's epoch.
  reset() {
    this.pending = null;
    this.cancelRetry();
    clearTimeout(this.waitTimer);
    this.waitTimer = null;
  }

  cancelRetry() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.failedJob = null;
  }

  retryNow(afresh = false) {
    if (!this.failedJob) return;
    const job = this.failedJob;
    this.cancelRetry();
    if (afresh) job.attempts = 0;
    if (!this.pending) this.pending = job;
    this.pump();
  }

  pump() {
    if (this.busy || !this.pending) return;
    const job = this.pending;
    const wait = job.settle || job.upload ? 0
      : Math.max(MIN_INTERVAL_MS, this.rtt / 2) - (performance.now() - this.lastSent);
    if (wait > 0) {
      if (!this.waitTimer) this.waitTimer = setTimeout(() => { this.waitTimer = null; this.pump(); }, wait);
      return;
    }
    this.pending = null;
    this.run(job);
  }

  async run(job) {
    this.busy = true;
    this.lastSent = performance.now();
    this.onBusy(true);
    const current = this.current = { controller: new AbortController(), superseded: false };
    try {
      const { status, payload } = await (job.upload ? viaUpload(job, this.onProgress, current.controller)
        : post(job.url, job.body, TIMEOUT_MS.json, current.controller));
      const took = performance.now() - this.lastSent;
      this.rtt = this.rtt ? 0.7 * this.rtt + 0.3 * took : took;
      if (status === 200) {
        this.onAnswer(payload, job);
      } else {
        const message = payload.error ? explainFailure(status, payload.error) : `The server had a problem (${status}).`;
        this.failed(job, message, retriable(status));
      }
    } catch (error) {
      if (!current.superseded) this.failed(job, explainError(error), true); // given up for a newer drawing
    } finally {
      this.current = null;
      this.busy = false;
      this.onBusy(false);
      this.pump();
    }
  }

  failed(job, message, retry) {
    this.onFailure(message, job);
    if (!retry || this.pending) return; // a newer job already waits: it goes next, at once
    // The pause grows with this job's own failures; a new drawing is a new job and starts at 1 s.
    this.failedJob = job;
    job.attempts = (job.attempts || 0) + 1;
    const delay = RETRY_MS[Math.min(job.attempts - 1, RETRY_MS.length - 1)];
    this.retryTimer = setTimeout(() => this.retryNow(), delay);
  }
}
