// answerlog's pages: the two things that need a script.
//
// 1. The verification badge on the answer page. It fetches the answer and
//    its receipt, and checks the receipt here, with WebCrypto, as
//    docs/AUDIT.md ("Receipts") says: the leaf from the answer, the
//    inclusion proof up to the checkpoint's root, the checkpoint's Ed25519
//    signature by the log key this browser pinned (on first use, or pasted
//    by the person), and the cosignatures of the witness keys it pinned.
//    It never takes the key on the server's word twice: a key that changes
//    turns the badge red.
// 2. The diff's "jump to the next change".
'use strict';

const PINNED_LOG_KEY = 'answerlog.logKey';
const PINNED_HOW = 'answerlog.logKeyHow';
const PINNED_WITNESSES = 'answerlog.witnessKeys';

/// A failed check: `check` names it, `detail` says what was found.
class Failed extends Error {
  constructor(check, detail) {
    super(`${check}: ${detail}`);
    this.check = check;
    this.detail = detail;
  }
}

const encoder = new TextEncoder();

function concat(...parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(...parts) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', concat(...parts)));
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function hex(bytes) {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function fromHex(text, check) {
  if (!/^[0-9a-f]{64}$/.test(text)) throw new Failed(check, `not 64 lowercase hex digits: ${text}`);
  return Uint8Array.from(text.match(/../g).map((b) => parseInt(b, 16)));
}

/// Standard base64 with padding, canonical (it must re-encode the same).
function fromBase64(text, check) {
  let bytes;
  try {
    bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch (e) {
    throw new Failed(check, `not base64: ${text}`);
  }
  if (btoa(String.fromCharCode(...bytes)) !== text) throw new Failed(check, `not canonical base64: ${text}`);
  return bytes;
}

// The primitive encodings of docs/AUDIT.md.
const enc = {
  u32(n) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  },
  u64(n) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n));
    return b;
  },
  i64(n) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(n));
    return b;
  },
  bool(v) {
    return Uint8Array.of(v ? 1 : 0);
  },
  string(s) {
    const bytes = encoder.encode(s || '');
    return concat(enc.u32(bytes.length), bytes);
  },
  uuid(s) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s)) {
      throw new Failed('the answer', `its id is not a lowercase hyphenated UUID: ${s}`);
    }
    return Uint8Array.from(s.replace(/-/g, '').match(/../g).map((b) => parseInt(b, 16)));
  },
  list(items, each) {
    return concat(enc.u32(items.length), ...items.map(each));
  },
  optionalDate(d) {
    return d ? concat(enc.bool(true), enc.string(d)) : enc.bool(false);
  },
};

/// An RFC 3339 time in whole microseconds since the epoch, as a BigInt.
function micros(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/.exec(text || '');
  if (!m) throw new Failed('the answer', `recordedAt is not an RFC 3339 UTC time: ${text}`);
  const seconds = BigInt(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000);
  const fraction = (m[7] || '').padEnd(9, '0');
  if (fraction.slice(6) !== '000') throw new Failed('the answer', `recordedAt is finer than a microsecond: ${text}`);
  return seconds * 1000000n + BigInt(fraction.slice(0, 6));
}

/// The answer digest ("The Merkle tree"), from the answer in the protobuf
/// JSON mapping (a field at its default is absent), of v2 under `salt`,
/// of v1 without one.
async function answerDigest(a, salt) {
  const p = a.provenance || {};
  const head = salt
    ? concat(enc.string('answerlog.answer.v2'), salt)
    : enc.string('answerlog.answer.v1');
  return sha256(
    head,
    enc.uuid(a.id),
    enc.string(a.slug),
    enc.string(a.question),
    enc.string(a.quickAnswer),
    enc.list(a.keyFacts || [], enc.string),
    enc.list(a.sections || [], (s) => concat(enc.string(s.id), enc.string(s.heading), enc.string(s.body))),
    enc.list(a.sources || [], (s) => concat(
      enc.string(s.id), enc.string(s.title), enc.string(s.publisher), enc.string(s.url),
      enc.string(s.license), enc.optionalDate(s.accessedOn))),
    enc.string(a.lastUpdated),
    enc.bool(p.aiAssisted),
    enc.string(p.generator),
    enc.string(p.reviewedBy),
    enc.u64(p.reviewedVersion || 0),
    enc.string(a.disclaimer),
    enc.string(a.status || 'ARTICLE_STATUS_UNSPECIFIED'),
    enc.u64(a.version || 0),
    enc.u64(a.globalPosition || 0),
    enc.i64(micros(a.recordedAt)),
  );
}

/// A receipt (c2sp.org/tlog-proof@v1), parsed strictly.
function parseReceipt(text) {
  const check = 'the receipt\'s form';
  const lines = text.split('\n');
  if (lines[0] !== 'c2sp.org/tlog-proof@v1') throw new Failed(check, 'it does not begin with c2sp.org/tlog-proof@v1');
  const extraLine = /^extra (\S+)$/.exec(lines[1] || '');
  if (!extraLine) throw new Failed(check, 'no extra line');
  const indexLine = /^index (0|[1-9]\d*)$/.exec(lines[2] || '');
  if (!indexLine) throw new Failed(check, 'no index line');
  const proof = [];
  let at = 3;
  while (at < lines.length && lines[at] !== '') {
    const hash = fromBase64(lines[at], check);
    if (hash.length !== 32) throw new Failed(check, `a proof hash of ${hash.length} bytes`);
    proof.push(hash);
    at += 1;
  }
  if (at >= lines.length) throw new Failed(check, 'no empty line before the checkpoint');
  return {
    extra: parseExtra(new TextDecoder().decode(fromBase64(extraLine[1], check))),
    index: Number(indexLine[1]),
    proof,
    note: lines.slice(at + 1).join('\n'),
  };
}

/// The receipt's extra: `article`, `version`, `commit` and, for a leaf of
/// v2, `answer-salt`, one a line, in that order, each line ending in a
/// newline.
function parseExtra(text) {
  const check = 'the receipt\'s extra';
  if (!text.endsWith('\n')) throw new Failed(check, 'its last line does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  const names = ['article', 'version', 'commit', 'answer-salt'];
  if (lines.length < 3 || lines.length > 4) throw new Failed(check, `${lines.length} lines, not 3 or 4`);
  const fields = {};
  lines.forEach((line, i) => {
    const space = line.indexOf(' ');
    if (space < 0 || line.slice(0, space) !== names[i]) throw new Failed(check, `line ${i + 1} is not its ${names[i]}: ${line}`);
    fields[names[i]] = line.slice(space + 1);
  });
  return fields;
}

/// A C2SP verifier key `name+keyid+base64(type ‖ key)`, of `type`.
async function parseVerifierKey(text, type) {
  const check = 'the pinned key';
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec((text || '').trim());
  if (!m) throw new Failed(check, `not a verifier key: ${text}`);
  const bytes = fromBase64(m[3], check);
  if (bytes.length !== 33 || bytes[0] !== type) throw new Failed(check, `not an Ed25519 key of type ${type}: ${text}`);
  const id = (await sha256(encoder.encode(m[1]), Uint8Array.of(0x0a), bytes)).slice(0, 4);
  if (hex(id) !== m[2]) throw new Failed(check, `its key id is not its key's: ${text}`);
  const key = await crypto.subtle.importKey('raw', bytes.slice(1), { name: 'Ed25519' }, false, ['verify']);
  return { name: m[1], id, key, text: text.trim() };
}

async function ed25519(key, signature, message) {
  try {
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
  } catch (e) {
    return false;
  }
}

/// Opens the checkpoint's note with the pinned log key; its size and root,
/// and how many pinned witnesses cosigned it.
async function openNote(note, logKey, witnesses) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Failed('the checkpoint', 'no blank line before its signatures');
  const text = encoder.encode(note.slice(0, split + 1));
  const signatures = note.slice(split + 2).split('\n').filter((l) => l !== '');
  let signed = 0;
  const cosigned = new Set();
  for (const line of signatures) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Failed('the checkpoint', `a malformed signature line: ${line}`);
    const blob = fromBase64(m[2], 'the checkpoint');
    if (m[1] === logKey.name && equal(blob.slice(0, 4), logKey.id)) {
      if (blob.length !== 68 || !(await ed25519(logKey.key, blob.slice(4), text))) {
        throw new Failed('the checkpoint\'s signature', `it does not verify with the pinned key ${logKey.text}`);
      }
      signed += 1;
      continue;
    }
    for (const witness of witnesses) {
      if (m[1] !== witness.name || !equal(blob.slice(0, 4), witness.id)) continue;
      if (blob.length !== 76) throw new Failed('a witness cosignature', `${witness.name}'s is ${blob.length} bytes, not 76`);
      const time = new DataView(blob.buffer, blob.byteOffset + 4, 8).getBigUint64(0);
      if (time >= 2n ** 63n) throw new Failed('a witness cosignature', `${witness.name}'s time is past 2^63 − 1`);
      const message = concat(encoder.encode(`cosignature/v1\ntime ${time}\n`), text);
      if (!(await ed25519(witness.key, blob.slice(12), message))) {
        throw new Failed('a witness cosignature', `${witness.name}'s does not verify`);
      }
      cosigned.add(witness.text);
    }
  }
  if (signed === 0) {
    throw new Failed('the checkpoint\'s signature', `no signature by the pinned key ${logKey.text}`);
  }
  if (cosigned.size < witnesses.length) {
    throw new Failed('a witness cosignature', `${cosigned.size} of the ${witnesses.length} pinned witnesses cosigned this checkpoint; every pinned witness must`);
  }
  const [origin, size, root] = note.slice(0, split).split('\n');
  if (origin !== logKey.name) throw new Failed('the checkpoint', `its origin ${origin} is not the key's name`);
  if (!/^(0|[1-9]\d*)$/.test(size || '')) throw new Failed('the checkpoint', `a malformed size: ${size}`);
  const rootHash = fromBase64(root || '', 'the checkpoint');
  if (rootHash.length !== 32) throw new Failed('the checkpoint', 'a root that is not 32 bytes');
  return { size: Number(size), root: rootHash, witnesses: cosigned.size };
}

/// RFC 9162 §2.1.3.2: the root the proof leads to from `leaf` at `index`
/// in a tree of `size` leaves.
async function inclusionRoot(leaf, index, size, proof) {
  if (index >= size) throw new Failed('the inclusion proof', `index ${index} is outside a tree of ${size}`);
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Failed('the inclusion proof', 'it is longer than the tree is deep');
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Failed('the inclusion proof', 'it is shorter than the tree is deep');
  return r;
}

/// Step 1: the answer is in its served form.
function servedForm(a) {
  const date = /^\d{4}-\d{2}-\d{2}$/;
  const p = a.provenance || {};
  if (!date.test(a.lastUpdated || '')) throw new Failed('the answer', `lastUpdated is not YYYY-MM-DD: ${a.lastUpdated}`);
  for (const s of a.sources || []) {
    if (s.accessedOn && !date.test(s.accessedOn)) throw new Failed('the answer', `a source's accessedOn is not YYYY-MM-DD: ${s.accessedOn}`);
  }
  if (!p.reviewedBy && p.reviewedVersion && p.reviewedVersion !== '0') throw new Failed('the answer', 'reviewedVersion is set with no reviewer');
  if (a.etag !== `${a.id}:${a.version}`) throw new Failed('the answer', `its etag ${a.etag} is not id:version`);
}

/// Every check of docs/AUDIT.md's "To check a receipt against an answer".
async function verify(answer, receiptText, logKey, witnesses) {
  servedForm(answer);
  const receipt = parseReceipt(receiptText);
  if (receipt.extra.article !== answer.id || receipt.extra.version !== String(answer.version)) {
    throw new Failed('the receipt\'s extra', `it names article ${receipt.extra.article} version ${receipt.extra.version}, not this answer`);
  }
  if (receipt.index !== Number(answer.globalPosition) - 1) {
    throw new Failed('the receipt\'s index', `${receipt.index} is not the answer's position less one`);
  }
  const commit = fromHex(receipt.extra.commit || '', 'the receipt\'s extra');
  const salt = receipt.extra['answer-salt'] === undefined ? null : fromHex(receipt.extra['answer-salt'], 'the receipt\'s extra');
  const leaf = await sha256(Uint8Array.of(0), commit, await answerDigest(answer, salt));
  const checkpoint = await openNote(receipt.note, logKey, witnesses);
  const root = await inclusionRoot(leaf, receipt.index, checkpoint.size, receipt.proof);
  if (!equal(root, checkpoint.root)) {
    throw new Failed('the inclusion proof', 'the answer\'s leaf does not lead to the checkpoint\'s root: the answer or the proof is not what the log holds');
  }
  return checkpoint;
}

/// A date of the form 2026-04-04 as the pages write it: April 4, 2026.
function longDate(date) {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString('en-US', { month: 'long', day: 'numeric', year: 'numeric', timeZone: 'UTC' });
}

/// The page around the badge shows the answer that verified: its
/// question, disclaimer, date, provenance and review, status, quick
/// answer, key facts, section headings and sources, as text (section
/// bodies, rendered from Markdown, are not compared).
function samePage(a) {
  const texts = (selector) => [...document.querySelectorAll(selector)].map((e) => e.textContent.replace(/\s+/g, ' ').trim());
  const one = (v) => (v || '').replace(/\s+/g, ' ').trim();
  const p = a.provenance || {};
  const retracted = a.status === 'ARTICLE_STATUS_RETRACTED';
  const parts = [
    ['question', texts('article h1.question'), [one(a.question)]],
    ['disclaimer', texts('article .disclaimer'), a.disclaimer ? [one(a.disclaimer)] : []],
    ['"Last updated"', texts('article time.last-updated'), [longDate(a.lastUpdated)]],
    ['provenance', texts('article .provenance'), [p.aiAssisted ? `AI-assisted${p.generator ? ` (${one(p.generator)})` : ''}` : 'Written by a person']],
    ['review', texts('article .review'), [p.reviewedBy ? `Reviewed by ${one(p.reviewedBy)} at version ${p.reviewedVersion}` : 'Not reviewed']],
    ['status', texts('article .notice.retracted:not(.since)').length ? ['retracted'] : ['published'], [retracted ? 'retracted' : 'published']],
    ['quick answer', texts('article .quick-answer'), [one(a.quickAnswer)]],
    ['key facts', texts('article .key-fact'), (a.keyFacts || []).map(one)],
    ['section headings', texts('article .section-heading'), (a.sections || []).map((s) => one(s.heading))],
    ['sources', [...document.querySelectorAll('article li.source')].map((li) => [
      one(li.querySelector('cite').textContent), li.querySelector('a') ? li.querySelector('a').getAttribute('href') : '',
      one(li.querySelector('.publisher').textContent), one(li.querySelector('.licence').textContent),
      li.querySelector('time.accessed') ? one(li.querySelector('time.accessed').textContent) : '']),
    (a.sources || []).map((s) => [one(s.title), s.url || '', one(s.publisher), one(s.license), s.accessedOn ? longDate(s.accessedOn) : ''])],
  ];
  for (const [name, shown, verified] of parts) {
    if (JSON.stringify(shown) !== JSON.stringify(verified)) {
      throw new Failed('the page', `its ${name} is not the verified answer's`);
    }
  }
}

function show(badge, state, text, detail) {
  badge.dataset.state = state;
  const line = badge.querySelector('#badge-state');
  line.textContent = '';
  const strong = document.createElement('strong');
  strong.textContent = text;
  line.append(strong);
  if (detail) line.append(` ${detail}`);
}

let runs = 0;

async function runBadge(badge) {
  const run = ++runs;
  delete badge.dataset.failed;
  const keys = badge.querySelector('#badge-keys');
  keys.hidden = false;
  const pinnedKey = badge.querySelector('#pinned-key');
  const pinnedHow = badge.querySelector('#pinned-how');
  show(badge, 'checking', 'Checking the receipt…');
  badge.querySelector('#pin-keys').onclick = () => {
    const logKey = badge.querySelector('#log-key').value.trim();
    if (logKey) {
      localStorage.setItem(PINNED_LOG_KEY, logKey);
      localStorage.setItem(PINNED_HOW, 'pasted');
    }
    localStorage.setItem(PINNED_WITNESSES, badge.querySelector('#witness-keys').value.trim());
    runBadge(badge);
  };
  badge.querySelector('#forget-keys').onclick = () => {
    localStorage.removeItem(PINNED_LOG_KEY);
    localStorage.removeItem(PINNED_HOW);
    localStorage.removeItem(PINNED_WITNESSES);
    runBadge(badge);
  };
  try {
    // A session that has ended is sent to log in (a redirect): not a
    // receipt, and nothing to pin.
    const response = await fetch(badge.dataset.receipt, { credentials: 'same-origin', cache: 'no-store', redirect: 'error' })
      .catch(() => { throw new Failed('the receipt', 'none came: your session may have ended (log in again), or the server is out of reach'); });
    const json = (response.headers.get('content-type') || '').startsWith('application/json');
    const body = json ? await response.json().catch(() => ({})) : {};
    if (!response.ok || !json) throw new Failed('the receipt', body.error || `the server answered ${response.status}`);
    if (typeof body.verifierKey !== 'string' || typeof body.receipt !== 'string' || typeof body.answer !== 'object') {
      throw new Failed('the receipt', 'the server\'s answer lacks the answer, the receipt or the key');
    }
    let pinned = localStorage.getItem(PINNED_LOG_KEY);
    if (!pinned) {
      // Pin only what is a verifier key; it is trusted from then on.
      await parseVerifierKey(body.verifierKey, 0x01);
      pinned = body.verifierKey;
      localStorage.setItem(PINNED_LOG_KEY, pinned);
      localStorage.setItem(PINNED_HOW, 'pinned on first use');
    }
    pinnedKey.textContent = pinned;
    pinnedHow.textContent = `(${localStorage.getItem(PINNED_HOW) || 'pinned'})`;
    badge.querySelector('#witness-keys').value = localStorage.getItem(PINNED_WITNESSES) || '';
    if (body.verifierKey !== pinned) {
      throw new Failed('the log key', `the server now offers ${body.verifierKey}, not the key this browser pinned; if your auditor published the new key, paste it below`);
    }
    const logKey = await parseVerifierKey(pinned, 0x01);
    const witnessTexts = (localStorage.getItem(PINNED_WITNESSES) || '').split('\n').map((l) => l.trim()).filter((l) => l);
    const witnesses = await Promise.all(witnessTexts.map((w) => parseVerifierKey(w, 0x04)));
    const checkpoint = await verify(body.answer, body.receipt, logKey, witnesses);
    samePage(body.answer);
    if (run !== runs) return;
    const count = `${checkpoint.witnesses} ${checkpoint.witnesses === 1 ? 'witness' : 'witnesses'}`;
    show(badge, 'verified', `✓ Verified at checkpoint ${checkpoint.size} (${count}).`,
      'This answer is in the log the pinned key signed, as served.');
  } catch (e) {
    if (run !== runs) return;
    const failed = e instanceof Failed ? e : new Failed('the check', String(e));
    badge.dataset.failed = failed.check;
    show(badge, 'failed', `✗ Not verified: ${failed.check}.`, failed.detail);
  }
}

/// The diff's "jump to the next change": each press moves the focus to the
/// next changed row, from the top again after the last.
function setUpJump(button) {
  button.hidden = false;
  let at = -1;
  button.addEventListener('click', () => {
    const changes = document.querySelectorAll('tr.change');
    if (changes.length === 0) return;
    at = (at + 1) % changes.length;
    changes[at].scrollIntoView({ block: 'center' });
    changes[at].focus();
    button.textContent = `Jump to the next change (${at + 1} of ${changes.length})`;
  });
}

document.addEventListener('DOMContentLoaded', () => {
  const badge = document.getElementById('badge');
  if (badge) runBadge(badge);
  const jump = document.getElementById('jump');
  if (jump) setUpJump(jump);
});
