#!/usr/bin/env python3
"""Recomputes every hash of docs/audit-vectors from docs/AUDIT.md's rules
alone: a second implementation, written from the document and not from
answerlog's code, with nothing but Python's standard library.

    python3 docs/audit-vectors/check.py docs/audit-vectors

For each line of export.jsonl (an export of the whole log: every event kind
of answerlog.v1, in the protobuf JSON mapping) it rebuilds each event's
canonical payload bytes and digest, the commit's canonical bytes and hash,
and the log chain; for digest.json it rebuilds the signed bytes. Each value
must equal both what the export says and what vectors.json lists. It prints
one line per check group and exits 1 at the first difference. (The Ed25519
signature itself is not checked here: the standard library has no Ed25519.)
"""

import datetime
import hashlib
import json
import re
import sys
import uuid
from pathlib import Path


def u32(n):
    return n.to_bytes(4, "big")


def u64(n):
    return n.to_bytes(8, "big")


def i64(n):
    return n.to_bytes(8, "big", signed=True)


def boolean(b):
    return b"\x01" if b else b"\x00"


def string(s):
    data = s.encode("utf-8")
    return u32(len(data)) + data


def uuid_bytes(text):
    return uuid.UUID(text).bytes


def strings(items):
    return u32(len(items)) + b"".join(string(i) for i in items)


def date(text):
    # YYYY-MM-DD, checked for shape.
    datetime.date.fromisoformat(text)
    assert len(text) == 10, text
    return string(text)


def optional_date(text):
    return boolean(False) if not text else boolean(True) + date(text)


def timestamp(text):
    # RFC 3339 with a Z; microseconds since the epoch. Digits below the
    # microsecond would be bytes no hash covers: refused.
    match = re.fullmatch(r"([0-9-]+T[0-9:]+)(?:\.([0-9]+))?Z", text)
    if not match:
        raise SystemExit(f"not an RFC 3339 time in UTC: {text}")
    whole, fraction = match.group(1), match.group(2) or ""
    if fraction[6:].strip("0"):
        raise SystemExit(f"{text}: digits below the microsecond, which no hash covers")
    fraction = (fraction + "000000")[:6]
    value = datetime.datetime.fromisoformat(f"{whole}.{fraction}+00:00")
    delta = value - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return i64((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)


def section(s):
    return string(s.get("id", "")) + string(s.get("heading", "")) + string(s.get("body", ""))


def source(s):
    return (
        string(s.get("id", ""))
        + string(s.get("title", ""))
        + string(s.get("publisher", ""))
        + string(s.get("url", ""))
        + string(s.get("license", ""))
        + optional_date(s.get("accessedOn", ""))
    )


def provenance(p):
    p = p or {}
    return (
        boolean(p.get("aiAssisted", False))
        + string(p.get("generator", ""))
        + string(p.get("reviewedBy", ""))
    )


def position(n):
    return u64(n or 0)


def content(a):
    # An article's slug, question, quick answer, key facts, sections and
    # sources, as ArticleCreated's fields and an answer's hold them.
    return (
        string(a.get("slug", ""))
        + string(a.get("question", ""))
        + string(a.get("quickAnswer", ""))
        + strings(a.get("keyFacts", []))
        + u32(len(a.get("sections", [])))
        + b"".join(section(s) for s in a.get("sections", []))
        + u32(len(a.get("sources", [])))
        + b"".join(source(s) for s in a.get("sources", []))
    )


def payload_fields(kind, event):
    """The fields of AUDIT.md's "Event payload digest" table, from the
    event's JSON payload (its kind's name in lowerCamelCase)."""
    p = event.get(kind[0].lower() + kind[1:], {})
    if kind == "ArticleCreated":
        a = p.get("article", {})
        return (
            content(a)
            + date(a.get("lastUpdated", ""))
            + provenance(a.get("provenance"))
            + string(a.get("disclaimer", ""))
        )
    if kind == "QuestionEdited":
        return string(p.get("question", ""))
    if kind == "SlugChanged":
        return string(p.get("slug", ""))
    if kind == "QuickAnswerEdited":
        return string(p.get("quickAnswer", ""))
    if kind == "KeyFactsReplaced":
        return strings(p.get("keyFacts", []))
    if kind == "SectionAdded":
        return section(p.get("section", {})) + position(p.get("position"))
    if kind == "SectionEdited":
        return string(p.get("sectionId", "")) + string(p.get("heading", "")) + string(p.get("body", ""))
    if kind == "SectionRemoved":
        return string(p.get("sectionId", ""))
    if kind == "SectionMoved":
        return string(p.get("sectionId", "")) + position(p.get("position"))
    if kind == "SourceAdded":
        return source(p.get("source", {})) + position(p.get("position"))
    if kind == "SourceEdited":
        return source(p.get("source", {}))
    if kind == "SourceRemoved":
        return string(p.get("sourceId", ""))
    if kind == "ArticleRedated":
        return date(p.get("lastUpdated", ""))
    if kind == "ArticleReviewed":
        return string(p.get("reviewedBy", ""))
    if kind in ("ArticleRetracted", "ArticleRestored"):
        return string(p.get("reason", ""))
    if kind == "ReviewLapsed":
        # A uint64 is a decimal string in protobuf's JSON.
        return string(p.get("reviewedBy", "")) + u64(int(p.get("reviewedVersion", "0")))
    if kind == "PayloadRedacted":
        return u64(int(p.get("position", "0"))) + u64(p.get("eventIndex", 0))
    if kind in ("OriginClaimed", "SlugAliased"):
        raise SystemExit(f"an {kind} event in a commit of encoding 1, which has none")
    raise SystemExit(f"an event kind AUDIT.md does not define: {kind}")


def origin_structure(p):
    time = p.get("time")
    return (
        string(p.get("origin", ""))
        + string(p.get("revisionId", ""))
        + string(p.get("parentRevisionId", ""))
        + (boolean(True) + timestamp(time) if time else boolean(False))
        + boolean(p.get("minor", False))
        + strings(p.get("suppressed", []))
        + described(p)
    )


def described(p):
    # kind, format and license: hashed only when one of them is set.
    parts = [p.get("kind", ""), p.get("format", ""), p.get("license", "")]
    return b"".join(string(x) for x in parts) if any(parts) else b""


def origin_content(p):
    return string(p.get("actor", "")) + string(p.get("comment", "")) + string(p.get("sha1", ""))


def event_bytes(event):
    kind = event["kind"]
    return string("answerlog.event.v1") + string(kind) + payload_fields(kind, event)


def source_id(s):
    return string(s.get("id", "")) + optional_date(s.get("accessedOn", ""))


def source_text(s):
    return (
        string(s.get("title", ""))
        + string(s.get("publisher", ""))
        + string(s.get("url", ""))
        + string(s.get("license", ""))
    )


def structure_and_content(kind, event):
    """AUDIT.md, "Commit hash v2": an event's structure and its content,
    from the event's JSON payload."""
    p = event.get(kind[0].lower() + kind[1:], {})
    if kind == "ArticleCreated":
        a = p.get("article", {})
        sections, sources = a.get("sections", []), a.get("sources", [])
        structure = (
            string(a.get("slug", ""))
            + u32(len(sections))
            + b"".join(string(s.get("id", "")) for s in sections)
            + u32(len(sources))
            + b"".join(source_id(s) for s in sources)
            + date(a.get("lastUpdated", ""))
            + provenance(a.get("provenance"))
        )
        content_ = (
            string(a.get("question", ""))
            + string(a.get("quickAnswer", ""))
            + strings(a.get("keyFacts", []))
            + u32(len(sections))
            + b"".join(string(s.get("heading", "")) + string(s.get("body", "")) for s in sections)
            + u32(len(sources))
            + b"".join(source_text(s) for s in sources)
            + string(a.get("disclaimer", ""))
        )
        return structure, content_
    if kind == "QuestionEdited":
        return b"", string(p.get("question", ""))
    if kind in ("SlugChanged", "SlugAliased"):
        return string(p.get("slug", "")), b""
    if kind == "QuickAnswerEdited":
        return b"", string(p.get("quickAnswer", ""))
    if kind == "KeyFactsReplaced":
        return b"", strings(p.get("keyFacts", []))
    if kind == "SectionAdded":
        s = p.get("section", {})
        return (
            string(s.get("id", "")) + position(p.get("position")),
            string(s.get("heading", "")) + string(s.get("body", "")),
        )
    if kind == "SectionEdited":
        return string(p.get("sectionId", "")), string(p.get("heading", "")) + string(p.get("body", ""))
    if kind == "SectionRemoved":
        return string(p.get("sectionId", "")), b""
    if kind == "SectionMoved":
        return string(p.get("sectionId", "")) + position(p.get("position")), b""
    if kind == "SourceAdded":
        s = p.get("source", {})
        return source_id(s) + position(p.get("position")), source_text(s)
    if kind == "SourceEdited":
        s = p.get("source", {})
        return source_id(s), source_text(s)
    if kind == "SourceRemoved":
        return string(p.get("sourceId", "")), b""
    if kind == "ArticleRedated":
        return date(p.get("lastUpdated", "")), b""
    if kind == "ArticleReviewed":
        return string(p.get("reviewedBy", "")), b""
    if kind in ("ArticleRetracted", "ArticleRestored"):
        return b"", string(p.get("reason", ""))
    if kind == "ReviewLapsed":
        return string(p.get("reviewedBy", "")) + u64(int(p.get("reviewedVersion", "0"))), b""
    if kind == "PayloadRedacted":
        return u64(int(p.get("position", "0"))) + u64(p.get("eventIndex", 0)), b""
    if kind == "OriginClaimed":
        return origin_structure(p), origin_content(p)
    raise SystemExit(f"an event kind AUDIT.md does not define: {kind}")


def event_bytes_v2(event):
    """The bytes of an encoding-2 event's content digest (None once
    redacted: its contentDigest stands in) and payload digest."""
    kind = event["kind"]
    structure, content_ = structure_and_content(kind, event)
    if "redaction" in event:
        content_bytes = None
        content_digest = bytes.fromhex(event["redaction"]["contentDigest"])
    else:
        content_bytes = string("answerlog.content.v2") + bytes.fromhex(event["salt"]) + string(kind) + content_
        content_digest = hashlib.sha256(content_bytes).digest()
    payload = string("answerlog.event.v2") + string(kind) + structure + content_digest
    return payload, content_bytes


def event_digest_v1(event):
    # A redacted event of encoding 1 shows its payload digest, which
    # stands for the payload removed.
    if event["kind"] == "OriginClaimed":
        raise SystemExit("an OriginClaimed event in a commit of encoding 1, which has none")
    if "redaction" in event:
        return bytes.fromhex(event["payloadDigest"])
    return hashlib.sha256(event_bytes(event)).digest()



def reason_digest(line):
    return hashlib.sha256(
        string("answerlog.reason.v2")
        + bytes.fromhex(line["reasonSalt"])
        + string(line["revision"].get("reason", ""))
    ).digest()


def commit_bytes_v2(line, prev_hash):
    revision = line["revision"]
    out = string("answerlog.commit.v2")
    out += prev_hash
    out += uuid_bytes(line["articleId"])
    out += u64(int(revision.get("version", "0")))
    out += timestamp(revision["recordedAt"])
    out += string(revision.get("actor", ""))
    out += reason_digest(line)
    out += uuid_bytes(line["commandId"])
    out += bytes.fromhex(line["requestHash"])
    out += provenance(line.get("provenance"))
    out += u32(len(line.get("events", [])))
    for event in line.get("events", []):
        payload, _ = event_bytes_v2(event)
        out += string(event["kind"]) + hashlib.sha256(payload).digest()
    return out


def commit_bytes(line, prev_hash):
    revision = line["revision"]
    out = string("answerlog.commit.v1")
    out += prev_hash
    out += uuid_bytes(line["articleId"])
    out += u64(int(revision.get("version", "0")))
    out += timestamp(revision["recordedAt"])
    out += string(revision.get("actor", ""))
    out += string(revision.get("reason", ""))
    out += uuid_bytes(line["commandId"])
    out += provenance(line.get("provenance"))
    out += u32(len(line.get("events", [])))
    for event in line.get("events", []):
        out += string(event["kind"]) + event_digest_v1(event)
    return out


def log_step(previous, n, commit_hash):
    return hashlib.sha256(string("answerlog.log.v1") + previous + u64(n) + commit_hash).digest()


def digest_message(digest):
    tag = b"answerlog.digest.v1"
    recorded = digest.get("recordedAt")
    micros = timestamp(recorded) if recorded else i64(0)
    return (
        u32(len(tag))
        + tag
        + u64(int(digest.get("globalPosition", "0")))
        + bytes.fromhex(digest["logHash"])
        + micros
    )


def answer_bytes(a, salt):
    # AUDIT.md, "The Merkle tree": an Answer as GetAnswer serves it (the
    # protobuf JSON mapping: defaults omitted, 64-bit numbers as strings),
    # after the v1 tag, or the v2 tag and the commit's answerSalt.
    p = a.get("provenance") or {}
    if salt is None:
        head = string("answerlog.answer.v1")
    else:
        head = string("answerlog.answer.v2") + bytes.fromhex(salt)
    return (
        head
        + uuid_bytes(a["id"])
        + content(a)
        + date(a["lastUpdated"])
        + boolean(p.get("aiAssisted", False))
        + string(p.get("generator", ""))
        + string(p.get("reviewedBy", ""))
        + u64(int(p.get("reviewedVersion", "0")))
        + string(a.get("disclaimer", ""))
        + string(a.get("status", "ARTICLE_STATUS_UNSPECIFIED"))
        + u64(int(a.get("version", "0")))
        + u64(int(a.get("globalPosition", "0")))
        + timestamp(a["recordedAt"])
    )


def merkle_root(leaves):
    # RFC 6962 MTH over leaf hashes: split at the largest power of two
    # below the count; nodes are SHA-256(0x01 || left || right).
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def same(what, computed, *shown):
    for value in shown:
        if computed != value:
            raise SystemExit(f"MISMATCH {what}: computed {computed}, shown {value}")


def main(folder):
    folder = Path(folder)
    lines = [json.loads(l) for l in (folder / "export.jsonl").read_text().splitlines() if l.strip()]
    vectors = json.loads((folder / "vectors.json").read_text())
    heads = {}
    log = bytes(32)
    events_checked = 0
    encodings = set()
    # (article, position, event, by position): redactions as the redacted
    # events show them, and as PayloadRedacted events made them.
    shown, made = set(), set()
    last_time, went_back = None, False
    for n, line in enumerate(lines, start=1):
        expected = vectors["commits"][n - 1]
        encoding = line.get("encoding", 1)
        same(f"line {n} encoding", encoding, expected.get("encoding", 1))
        encodings.add(encoding)
        for i, event in enumerate(line["events"]):
            ev = expected["events"][i]
            redacted = "redaction" in event
            same(f"line {n} event {i} redacted", redacted, ev.get("redacted", False))
            if redacted:
                # AUDIT.md, "Redaction": the redaction names the commit
                # that made it, and the salt is gone.
                by = int(event["redaction"]["byPosition"])
                shown.add((line["articleId"], int(line["revision"]["globalPosition"]), i, by))
                if "salt" in event:
                    raise SystemExit(f"line {n} event {i}: redacted, yet its salt is shown")
            if event["kind"] == "PayloadRedacted":
                p = event["payloadRedacted"]
                made.add((line["articleId"], int(p["position"]), p.get("eventIndex", 0), int(line["revision"]["globalPosition"])))
            if encoding == 2:
                raw, content_bytes = event_bytes_v2(event)
                if content_bytes is not None:
                    same(f"line {n} event {i} content bytes", content_bytes.hex(), ev["contentBytes"])
                    same(f"line {n} event {i} content digest", hashlib.sha256(content_bytes).hexdigest(), ev["contentDigest"])
                else:
                    same(f"line {n} event {i} content digest", event["redaction"]["contentDigest"], ev["contentDigest"])
            elif encoding == 1:
                if redacted:
                    raw = None
                else:
                    raw = event_bytes(event)
            else:
                raise SystemExit(f"line {n}: an encoding AUDIT.md does not define: {encoding}")
            if raw is None:
                digest = event["payloadDigest"]
            else:
                digest = hashlib.sha256(raw).hexdigest()
                same(f"line {n} event {i} canonical bytes", raw.hex(), ev["canonicalBytes"])
            same(f"line {n} event {i} payload digest", digest, ev["payloadDigest"], event["payloadDigest"])
            events_checked += 1
        # How a commit follows its article's head (AUDIT.md): the next
        # version, linked to the head's hash, hashing as recorded, recorded
        # after the head (time is ordered along each article only), events.
        article = line["articleId"]
        head_version, prev, head_time = heads.get(article, (0, bytes(32), None))
        same(f"line {n} version", int(line["revision"].get("version", "0")), head_version + 1)
        same(f"line {n} prevHash", prev.hex(), line["prevHash"])
        if encoding == 2:
            same(f"line {n} reason digest", reason_digest(line).hex(), expected["reasonDigest"])
            raw = commit_bytes_v2(line, prev)
        else:
            raw = commit_bytes(line, prev)
        commit_hash = hashlib.sha256(raw).digest()
        same(f"line {n} commit canonical bytes", raw.hex(), expected["canonicalBytes"])
        same(f"line {n} commit hash", commit_hash.hex(), expected["hash"], line["revision"]["hash"])
        recorded = int.from_bytes(timestamp(line["revision"]["recordedAt"]), "big", signed=True)
        if head_time is not None and recorded <= head_time:
            raise SystemExit(f"line {n}: recorded no later than its article's previous version")
        if not line.get("events"):
            raise SystemExit(f"line {n}: a commit without events")
        heads[article] = (head_version + 1, commit_hash, recorded)
        went_back = went_back or (last_time is not None and recorded < last_time)
        last_time = recorded if last_time is None else max(last_time, recorded)
        position = int(line["revision"]["globalPosition"])
        same(f"line {n} position", position, n)
        log = log_step(log, position, commit_hash)
        same(f"line {n} log hash", log.hex(), expected["logHash"], line["logHash"])
    if shown != made:
        raise SystemExit(f"redactions shown {sorted(shown)} are not those made {sorted(made)}")
    leaves = []
    same("answers", len(vectors["answers"]), len(lines))
    for n, (line, expected) in enumerate(zip(lines, vectors["answers"]), start=1):
        answer = expected["answer"]
        same(f"answer {n} position", int(answer["globalPosition"]), int(line["revision"]["globalPosition"]))
        same(f"answer {n} article", answer["id"], line["articleId"])
        same(f"answer {n} version", int(answer["version"]), int(line["revision"]["version"]))
        same(f"answer {n} recordedAt", timestamp(answer["recordedAt"]), timestamp(line["revision"]["recordedAt"]))
        if line.get("encoding", 1) == 1 and "answerSalt" in line:
            raise SystemExit(f"line {n}: an answerSalt in a commit of encoding 1")
        if "answerDigest" in line:
            # A redaction changed the answer: its digest is kept.
            if "answerSalt" in line:
                raise SystemExit(f"line {n}: an answerDigest beside an answerSalt")
            same(f"answer {n} canonical bytes", None, expected["canonicalBytes"])
            digest = bytes.fromhex(line["answerDigest"])
        else:
            raw = answer_bytes(answer, line.get("answerSalt"))
            same(f"answer {n} canonical bytes", raw.hex(), expected["canonicalBytes"])
            digest = hashlib.sha256(raw).digest()
        same(f"answer {n} digest", digest.hex(), expected["digest"])
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(line["revision"]["hash"]) + digest).digest()
        same(f"answer {n} leaf hash", leaf.hex(), expected["leafHash"])
        leaves.append(leaf)
    same("Merkle root", merkle_root(leaves).hex(), vectors["merkleRoot"])
    print(f"{len(leaves)} answers: every answer digest, Merkle leaf and the tree's root recomputed from AUDIT.md")
    kinds = {e["kind"] for l in lines for e in l["events"]}
    print(f"{len(lines)} commits (encodings {sorted(encodings)}), {events_checked} events of {len(kinds)} kinds: every payload digest, commit hash and log hash recomputed from AUDIT.md")
    if went_back:
        print("the log's time goes back across articles, and each article's goes forward")
    digest = json.loads((folder / "digest.json").read_text())
    same("digest position", int(digest["globalPosition"]), len(lines))
    same("digest log hash", digest["logHash"], log.hex())
    same("digest signed bytes", digest_message(digest).hex(), vectors["digest"]["signedBytes"])
    print("digest.json: its log hash is the export's, and its signed bytes are AUDIT.md's")
    print("OK")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent)
