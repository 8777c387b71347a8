//! Signed notes against golang.org/x/mod's note tests, C2SP's example and
//! Wycheproof's Ed25519 vectors (tests/vectors/tlog/SOURCE.md).

use base64::Engine as _;
use serde_json::Value;

use super::*;
use crate::test_vectors::{json, unhex};

fn key(text: &Value) -> VerifierKey {
    VerifierKey::parse(text.as_str().unwrap()).unwrap()
}

/// The seed of a Go note signing key, `PRIVATE+KEY+name+id+base64(0x01 ‖
/// seed)`.
fn seed_of_go_skey(skey: &str) -> [u8; 32] {
    // The base64 part may hold a `+` itself.
    let encoded = skey.splitn(5, '+').nth(4).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(bytes[0], 0x01);
    bytes[1..].try_into().unwrap()
}

#[test]
fn go_s_note_is_signed_byte_for_byte_and_its_open_cases_hold() {
    let file = json("golang-mod/note_vectors.json");
    let keys = &file["keys"];
    let peter = key(&keys["peter_vkey"]);
    let enoch = key(&keys["enoch_vkey"]);
    let seed = seed_of_go_skey(keys["peter_skey"].as_str().unwrap());
    let signing = SigningKey::from_bytes(&seed);
    assert_eq!(signing.verifying_key().to_bytes(), peter.public_key);
    let enoch_seed: [u8; 32] = unhex(keys["enoch_seed_hex"].as_str().unwrap())
        .try_into()
        .unwrap();
    assert_eq!(
        SigningKey::from_bytes(&enoch_seed)
            .verifying_key()
            .to_bytes(),
        enoch.public_key
    );

    let text = file["text"].as_str().unwrap();
    let line = sign(text, &peter.name, &signing).unwrap().line();
    assert_eq!(line, file["peter_sig_line"].as_str().unwrap());
    let note = Note {
        text: text.to_owned(),
        signatures: vec![sign(text, &peter.name, &signing).unwrap()],
    };
    assert_eq!(
        String::from_utf8(note.to_bytes()).unwrap(),
        file["signed_note_want"].as_str().unwrap()
    );

    let cases = file["open_cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let trusted = match case["vkey"].as_str().unwrap() {
            "peter" => &peter,
            "enoch" => &enoch,
            other => panic!("unknown key {other}"),
        };
        let bytes = match case["note"].as_str() {
            Some(text) => text.as_bytes().to_vec(),
            None => unhex(case["note_hex"].as_str().unwrap()),
        };
        let opened = Note::open(&bytes, std::slice::from_ref(trusted));
        let want_ok = case["expect"].as_str() == Some("ok");
        assert_eq!(opened.is_ok(), want_ok, "{}: {opened:?}", case["desc"]);
        if let Ok(opened) = opened {
            assert_eq!(opened.verified, vec![trusted.clone()]);
        }
    }
}

#[test]
fn go_s_bad_and_mangled_verifier_keys_are_refused() {
    let file = json("golang-mod/note_vectors.json");
    for bad in file["bad_vkeys"].as_array().unwrap() {
        assert!(
            VerifierKey::parse(bad["vkey"].as_str().unwrap()).is_err(),
            "{}",
            bad["desc"]
        );
    }
    let vkey = file["keys"]["peter_vkey"].as_str().unwrap();
    let bytes = vkey.as_bytes();
    for start in 0..bytes.len() {
        for end in start..=bytes.len() {
            if end - start == bytes.len() {
                continue;
            }
            let part = std::str::from_utf8(&bytes[start..end]).unwrap();
            assert!(VerifierKey::parse(part).is_err(), "accepted {part:?}");
        }
    }
    for i in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[i] = changed[i].wrapping_add(1);
        if let Ok(text) = std::str::from_utf8(&changed) {
            assert!(VerifierKey::parse(text).is_err(), "accepted {text:?}");
        }
    }
}

#[test]
fn the_c2sp_example_note_opens_with_its_key_and_the_others_parse() {
    let file = json("c2sp/examples.json");
    let example = &file["signed_note_vkey_example"];
    let opened = Note::open(
        example["note"].as_str().unwrap().as_bytes(),
        &[key(&example["vkey"])],
    )
    .unwrap();
    assert_eq!(opened.note.text, "This is an example message.\n");
    let intro = Note::parse(
        file["signed_note_intro_example"]["note"]
            .as_str()
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(intro.signatures.len(), 1);
    assert_eq!(intro.signatures[0].name, "quasimodo.example/salvatore");
    assert!(intro.text.ends_with("ed è subito sera.\n"));
}

#[test]
fn every_wycheproof_ed25519_vector_is_accepted_or_refused_as_it_says() {
    let file = json("wycheproof/ed25519_test.json");
    let mut checked = 0;
    for group in file["testGroups"].as_array().unwrap() {
        let public = unhex(group["publicKey"]["pk"].as_str().unwrap());
        let Ok(public) = <[u8; 32]>::try_from(public) else {
            panic!("a public key of another length");
        };
        for test in group["tests"].as_array().unwrap() {
            let message = unhex(test["msg"].as_str().unwrap());
            let signature = unhex(test["sig"].as_str().unwrap());
            let want = test["result"].as_str() == Some("valid");
            assert_eq!(
                ed25519_verifies(&public, &message, &signature),
                want,
                "tcId {} ({})",
                test["tcId"],
                test["comment"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 150, "{checked} vectors");
}

#[test]
fn a_note_opens_only_whole_and_with_a_trusted_key() {
    let signing = SigningKey::from_bytes(&[7; 32]);
    let other = SigningKey::from_bytes(&[8; 32]);
    let name = "answerlog.example.org/test";
    let trusted = VerifierKey::new(name, signing.verifying_key().to_bytes()).unwrap();
    let text = "answerlog.example.org/test\n3\nroot\n";
    let note = Note {
        text: text.to_owned(),
        signatures: vec![
            sign(text, "someone.else", &other).unwrap(),
            sign(text, name, &signing).unwrap(),
        ],
    };
    let bytes = note.to_bytes();
    let opened = Note::open(&bytes, std::slice::from_ref(&trusted)).unwrap();
    assert_eq!(opened.note, note);
    assert_eq!(opened.verified, vec![trusted.clone()]);

    // Any byte of the text changed (to another printable one): the
    // trusted signature fails.
    for i in (0..text.len()).filter(|&i| bytes[i] != b'\n') {
        let mut changed = bytes.clone();
        changed[i] ^= 0x01;
        assert!(
            matches!(
                Note::open(&changed, std::slice::from_ref(&trusted)),
                Err(NoteError::InvalidSignature { .. })
            ),
            "byte {i}"
        );
    }
    // Two trusted keys that share a name and key id (4 bytes: found by a
    // birthday search among made-up keys): which one signed is ambiguous.
    let mut seen = std::collections::HashMap::new();
    let (first, second) = (0u64..)
        .find_map(|i| {
            let mut public = [0u8; 32];
            public[..8].copy_from_slice(&i.to_be_bytes());
            let key = VerifierKey::new("twins", public).unwrap();
            seen.insert(key.key_id(), key.clone())
                .filter(|earlier| *earlier != key)
                .map(|earlier| (earlier, key))
        })
        .unwrap();
    let line = NoteSignature {
        name: "twins".into(),
        key_id: first.key_id(),
        signature: vec![0; 64],
    };
    let twins = Note {
        text: text.to_owned(),
        signatures: vec![line],
    };
    assert!(matches!(
        Note::open(&twins.to_bytes(), &[first, second]),
        Err(NoteError::AmbiguousKey { .. })
    ));
    // DEL (U+007F) is no control character to C2SP or Go.
    let del = Note {
        text: "with a \u{7f}\n".to_owned(),
        signatures: vec![sign("with a \u{7f}\n", name, &signing).unwrap()],
    };
    Note::open(&del.to_bytes(), std::slice::from_ref(&trusted)).unwrap();
    // Only an untrusted key signed it.
    let lone = Note {
        text: text.to_owned(),
        signatures: vec![sign(text, "someone.else", &other).unwrap()],
    };
    assert!(matches!(
        Note::open(&lone.to_bytes(), std::slice::from_ref(&trusted)),
        Err(NoteError::NoVerifiedSignature(_))
    ));
    // The trusted name and id with another key's signature: refused.
    let mut forged = sign(text, name, &other).unwrap();
    forged.key_id = trusted.key_id();
    let forged = Note {
        text: text.to_owned(),
        signatures: vec![sign(text, name, &signing).unwrap(), forged],
    };
    assert!(matches!(
        Note::open(&forged.to_bytes(), std::slice::from_ref(&trusted)),
        Err(NoteError::InvalidSignature { .. })
    ));
    assert!(sign("no newline", name, &signing).is_err());
}

#[test]
fn malformed_notes_are_refused_with_what_is_wrong() {
    let signing = SigningKey::from_bytes(&[7; 32]);
    let line = sign("t\n", "k", &signing).unwrap().line();
    for (bytes, says) in [
        (b"t\n".to_vec(), "no blank line"),
        (b"t\n\n".to_vec(), "no signature lines"),
        (format!("t\n\n{}", line.trim_end()).into_bytes(), "newline"),
        (format!("t\r\n\n{line}").into_bytes(), "control character"),
        (
            format!("t\u{1}\n\n{line}").into_bytes(),
            "control character",
        ),
        ("t\n\n- k AAAAAAAA\n".as_bytes().to_vec(), "starts with"),
        ("t\n\n\u{2014} k\n".as_bytes().to_vec(), "name signature"),
        ("t\n\n\u{2014} k AAAA\n".as_bytes().to_vec(), "fewer than"),
        (
            "t\n\n\u{2014} k AAAAAAB=\n".as_bytes().to_vec(),
            "non-canonical base64",
        ),
        (vec![b't', 0xff, b'\n', b'\n'], "UTF-8"),
        (
            format!("t\n\n{}", line.repeat(MAX_SIGNATURES + 1)).into_bytes(),
            "more than 100",
        ),
    ] {
        let err = Note::parse(&bytes).unwrap_err().to_string();
        assert!(err.contains(says), "{err} lacks {says:?}");
    }
    let hundred = format!("t\n\n{}", line.repeat(MAX_SIGNATURES));
    assert_eq!(
        Note::parse(hundred.as_bytes()).unwrap().signatures.len(),
        100
    );
}
