//! docs/AUDIT.md's encodings and checks, written here from its text (and
//! the RFC 9162 and C2SP texts it cites) alone, without the library's
//! functions: the answer digest, leaves, nodes, the tree's root, inclusion
//! and consistency proofs, signed checkpoints and receipts. The tests
//! check the real server's output with these.

use answerlog::pb::{Answer, ArticleStatus};
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn date(out: &mut Vec<u8>, s: &str) {
    assert_eq!(s.len(), 10, "a date is YYYY-MM-DD: {s}");
    string(out, s);
}

fn uuid(out: &mut Vec<u8>, text: &str) {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    assert_eq!(digits.len(), 32, "{text}");
    for i in (0..32).step_by(2) {
        out.push(u8::from_str_radix(&digits[i..i + 2], 16).unwrap());
    }
}

/// AUDIT.md's `answer_digest` of an `Answer` as served: v2 under the
/// commit's answer salt, v1 for a commit that has none.
pub(crate) fn answer_digest(a: &Answer, salt: Option<&[u8; 32]>) -> [u8; 32] {
    let mut out = Vec::new();
    match salt {
        None => string(&mut out, "answerlog.answer.v1"),
        Some(salt) => {
            string(&mut out, "answerlog.answer.v2");
            out.extend_from_slice(salt);
        }
    }
    uuid(&mut out, &a.id);
    string(&mut out, &a.slug);
    string(&mut out, &a.question);
    string(&mut out, &a.quick_answer);
    out.extend_from_slice(&(a.key_facts.len() as u32).to_be_bytes());
    for fact in &a.key_facts {
        string(&mut out, fact);
    }
    out.extend_from_slice(&(a.sections.len() as u32).to_be_bytes());
    for s in &a.sections {
        string(&mut out, &s.id);
        string(&mut out, &s.heading);
        string(&mut out, &s.body);
    }
    out.extend_from_slice(&(a.sources.len() as u32).to_be_bytes());
    for s in &a.sources {
        string(&mut out, &s.id);
        string(&mut out, &s.title);
        string(&mut out, &s.publisher);
        string(&mut out, &s.url);
        string(&mut out, &s.license);
        if s.accessed_on.is_empty() {
            out.push(0);
        } else {
            out.push(1);
            date(&mut out, &s.accessed_on);
        }
    }
    date(&mut out, &a.last_updated);
    let p = a.provenance.clone().unwrap_or_default();
    out.push(u8::from(p.ai_assisted));
    string(&mut out, &p.generator);
    string(&mut out, &p.reviewed_by);
    out.extend_from_slice(&p.reviewed_version.to_be_bytes());
    string(&mut out, &a.disclaimer);
    let status = ArticleStatus::try_from(a.status).unwrap();
    string(&mut out, status.as_str_name());
    out.extend_from_slice(&a.version.to_be_bytes());
    out.extend_from_slice(&a.global_position.to_be_bytes());
    let t = a.recorded_at.unwrap();
    let micros = t.seconds * 1_000_000 + i64::from(t.nanos) / 1000;
    out.extend_from_slice(&micros.to_be_bytes());
    Sha256::digest(&out).into()
}

/// RFC 6962's MTH over leaf hashes.
pub(crate) fn tree_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            let mut node = vec![0x01];
            node.extend_from_slice(&tree_root(&leaves[..k]));
            node.extend_from_slice(&tree_root(&leaves[k..]));
            Sha256::digest(&node).into()
        }
    }
}

/// Opens a C2SP signed note (c2sp.org/signed-note) whose text is a
/// tlog-checkpoint with the verifier key `vkey`
/// (`name+hexkeyid+base64(0x01 ‖ key)`): its origin, size and root.
pub(crate) fn open_checkpoint(note: &str, vkey: &str) -> (String, u64, [u8; 32]) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut parts = vkey.splitn(3, '+');
    let (name, id, key) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let key = b64.decode(key).unwrap();
    assert_eq!(key[0], 0x01, "an Ed25519 key");
    let public: [u8; 32] = key[1..].try_into().unwrap();
    let mut hashed = name.as_bytes().to_vec();
    hashed.push(b'\n');
    hashed.push(0x01);
    hashed.extend_from_slice(&public);
    let key_id = Sha256::digest(&hashed)[..4].to_vec();
    assert_eq!(id, hex(&key_id), "the key id is the hash's first 4 bytes");

    let split = note
        .rfind("\n\n")
        .expect("a blank line before the signatures");
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    let mut verified = false;
    for line in signatures.lines() {
        let rest = line.strip_prefix("\u{2014} ").expect("a signature line");
        let (signer, signature) = rest.split_once(' ').unwrap();
        let signature = b64.decode(signature).unwrap();
        if signer != name || signature[..4] != key_id[..] {
            continue;
        }
        let signature = Signature::from_slice(&signature[4..]).unwrap();
        VerifyingKey::from_bytes(&public)
            .unwrap()
            .verify_strict(text.as_bytes(), &signature)
            .expect("the checkpoint's signature verifies");
        verified = true;
    }
    assert!(verified, "no signature by {vkey} in {note}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], name, "checkpoints are signed under their origin");
    let root: [u8; 32] = b64.decode(lines[2]).unwrap().try_into().unwrap();
    (lines[0].to_owned(), lines[1].parse().unwrap(), root)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256(0x01 ‖ left ‖ right).
pub(crate) fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut data = vec![0x01];
    data.extend_from_slice(left);
    data.extend_from_slice(right);
    Sha256::digest(&data).into()
}

/// Leaf i: SHA-256(0x00 ‖ commit hash ‖ answer digest).
pub(crate) fn leaf(commit: &[u8; 32], salt: Option<&[u8; 32]>, answer: &Answer) -> [u8; 32] {
    let mut data = vec![0x00];
    data.extend_from_slice(commit);
    data.extend_from_slice(&answer_digest(answer, salt));
    Sha256::digest(&data).into()
}

/// RFC 9162 §2.1.3.2: whether `proof` shows `leaf` at `index` in the tree
/// of `size` leaves whose root is `root`.
pub(crate) fn inclusion_verifies(
    leaf: &[u8; 32],
    index: u64,
    size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: whether `proof` shows the tree of `old` leaves
/// (root `old_root`) to be the start of the tree of `new` (root
/// `new_root`); with C2SP's empty-tree rule.
pub(crate) fn consistency_verifies(
    old: u64,
    new: u64,
    proof: &[[u8; 32]],
    old_root: &[u8; 32],
    new_root: &[u8; 32],
) -> bool {
    if old > new {
        return false;
    }
    if old == 0 || old == new {
        return proof.is_empty()
            && (old > 0 || *old_root == tree_root(&[]))
            && (old == 0 || old_root == new_root);
    }
    let mut path: Vec<[u8; 32]> = proof.to_vec();
    if old.is_power_of_two() {
        path.insert(0, *old_root);
    }
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *old_root && sr == *new_root && sn == 0
}

/// A receipt (C2SP tlog-proof with answerlog's extra), parsed: the extra's
/// article, version, commit hash and answer salt (a leaf of v2), the leaf
/// index, the proof and the checkpoint's note.
pub(crate) struct Receipt {
    pub(crate) article: String,
    pub(crate) version: u64,
    pub(crate) commit: [u8; 32],
    pub(crate) answer_salt: Option<[u8; 32]>,
    pub(crate) index: u64,
    pub(crate) proof: Vec<[u8; 32]>,
    pub(crate) note: String,
}

pub(crate) fn parse_receipt(bytes: &[u8]) -> Receipt {
    let b64 = base64::engine::general_purpose::STANDARD;
    let text = std::str::from_utf8(bytes).expect("a receipt is text");
    let (head, note) = text
        .split_once("\n\n")
        .expect("a blank line before the note");
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("c2sp.org/tlog-proof@v1"));
    let extra = lines.next().unwrap().strip_prefix("extra ").unwrap();
    let extra = String::from_utf8(b64.decode(extra).unwrap()).unwrap();
    let fields: Vec<&str> = extra.lines().collect();
    assert!(matches!(fields.len(), 3 | 4), "{extra:?}");
    let value = |i: usize, name: &str| fields[i].strip_prefix(name).unwrap().to_owned();
    let index = lines.next().unwrap().strip_prefix("index ").unwrap();
    Receipt {
        article: value(0, "article "),
        version: value(1, "version ").parse().unwrap(),
        commit: unhex32(&value(2, "commit ")),
        answer_salt: (fields.len() == 4).then(|| unhex32(&value(3, "answer-salt "))),
        index: index.parse().unwrap(),
        proof: lines
            .map(|l| b64.decode(l).unwrap().try_into().unwrap())
            .collect(),
        note: note.to_owned(),
    }
}

/// 64 lowercase hex digits as 32 bytes.
pub(crate) fn unhex32(text: &str) -> [u8; 32] {
    assert_eq!(text.len(), 64, "{text:?}");
    assert_eq!(text, text.to_lowercase(), "{text:?}");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}
