//! Receipts and proofs of the log's Merkle tree (issue 16), checked with
//! code written from docs/AUDIT.md's text (`support::audit_md`), not the
//! library's: a receipt for every commit of a 10,000-commit log at one
//! checkpoint; consistency proofs between many pairs of sizes; receipts
//! through GetAnswer, BatchGetAnswers and `get --receipt`, checked
//! offline by `verify-receipt`, which refuses each after one changed byte
//! in the answer, the proof, the checkpoint or its signature.

use std::collections::BTreeMap;
use std::sync::Arc;

use answerlog::pb::*;
use tokio::sync::Semaphore;

use crate::backend_tests;
use crate::support::audit_md::{
    consistency_verifies, inclusion_verifies, leaf, open_checkpoint, parse_receipt, tree_root,
};
use crate::support::{cli, consistency_proof, create_article, edit_many, Backend, TestServer};

backend_tests!(
    every_commit_of_a_10_000_commit_log_has_a_receipt_at_one_checkpoint,
    receipts_verify_offline_and_not_after_one_changed_byte,
);

/// Articles written at once, and versions each.
const ARTICLES: usize = 50;
const VERSIONS: u64 = 200;

async fn every_commit_of_a_10_000_commit_log_has_a_receipt_at_one_checkpoint(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut writers = Vec::new();
    for n in 0..ARTICLES {
        let id = create_article(&server, n).await;
        let channel = server.channel().await;
        writers.push(tokio::spawn(async move {
            edit_many(channel, id.clone(), 1, VERSIONS - 1).await;
            id
        }));
    }
    let mut ids = Vec::new();
    for writer in writers {
        ids.push(writer.await.unwrap());
    }
    let size = ARTICLES as u64 * VERSIONS;
    let vkey = server.vkey().await;
    let checkpoint = server.checkpoint().await;
    assert_eq!(checkpoint.tree_size, size);
    let note = String::from_utf8(checkpoint.note.clone()).unwrap();
    let (_, _, root) = open_checkpoint(&note, &vkey);

    // Every version of every article, as an auditor reads it, with its
    // receipt: all at the one checkpoint (nothing was written since).
    let permits = Arc::new(Semaphore::new(16));
    let mut reads = Vec::new();
    for id in &ids {
        for version in 1..=VERSIONS {
            let mut audit = server.audit().await;
            let permits = Arc::clone(&permits);
            let id = id.clone();
            reads.push(tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.unwrap();
                audit
                    .inspect_answer(InspectAnswerRequest {
                        r#ref: Some(inspect_answer_request::Ref::Id(id)),
                        as_of: Some(inspect_answer_request::AsOf::Version(version)),
                        min_position: 0,
                        receipt: true,
                    })
                    .await
                    .unwrap()
                    .into_inner()
            }));
        }
    }
    let mut leaves = BTreeMap::new();
    for read in reads {
        let inspected = read.await.unwrap();
        let answer = inspected.answer.unwrap();
        let receipt = parse_receipt(&inspected.receipt);
        assert_eq!(receipt.note, note, "one checkpoint for all");
        assert_eq!(
            (receipt.article.as_str(), receipt.version),
            (answer.id.as_str(), answer.version)
        );
        assert_eq!(receipt.index, answer.global_position - 1);
        assert!(
            receipt.answer_salt.is_some(),
            "a commit written today has a leaf of v2"
        );
        let leaf = leaf(&receipt.commit, receipt.answer_salt.as_ref(), &answer);
        assert!(
            inclusion_verifies(&leaf, receipt.index, size, &receipt.proof, &root),
            "the receipt of position {} does not verify",
            answer.global_position
        );
        assert!(leaves.insert(receipt.index, leaf).is_none());
    }
    let leaves: Vec<[u8; 32]> = leaves.into_values().collect();
    assert_eq!(leaves.len() as u64, size, "a receipt for every position");
    assert_eq!(tree_root(&leaves), root);

    // Consistency between many pairs of sizes, against the roots the
    // leaves give.
    let sizes = [
        0,
        1,
        2,
        3,
        7,
        8,
        9,
        255,
        256,
        257,
        1_000,
        4_095,
        4_096,
        4_097,
        size - 1,
        size,
    ];
    let roots: Vec<[u8; 32]> = sizes
        .iter()
        .map(|&s| tree_root(&leaves[..s as usize]))
        .collect();
    let mut audit = server.audit().await;
    for (i, &old) in sizes.iter().enumerate() {
        for (j, &new) in sizes.iter().enumerate().skip(i) {
            let proof = consistency_proof(&mut audit, old, new).await;
            assert!(
                consistency_verifies(old, new, &proof, &roots[i], &roots[j]),
                "consistency {old} → {new}"
            );
            if old > 0 && old < new {
                assert!(!consistency_verifies(
                    old, new, &proof, &roots[j], &roots[j]
                ));
            }
        }
    }
    for (old, new, field) in [(5, 3, "old_size"), (0, size + 1, "new_size")] {
        let err = audit
            .get_consistency_proof(GetConsistencyProofRequest {
                old_size: old,
                new_size: new,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(field), "{err:?}");
    }
    drop(server.stop().await);
}

async fn receipts_verify_offline_and_not_after_one_changed_byte(backend: Backend) {
    let server = TestServer::start(backend).await;
    let example = server.import_example().await;
    let other = create_article(&server, 1).await;
    edit_many(server.channel().await, other.clone(), 1, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let vkey = server.vkey().await;

    // `get --receipt` saves it as served; `get --json` the answer.
    let got = server
        .cli(&[
            "get",
            "what-causes-jmt",
            "--json",
            "--receipt",
            &path("jmt.receipt"),
        ])
        .await;
    assert!(got.success, "{}", got.stderr);
    std::fs::write(path("jmt.json"), &got.stdout).unwrap();
    let verify = |receipt: String, answer: String| {
        let vkey = vkey.clone();
        async move {
            cli(vec![
                "verify-receipt".into(),
                receipt,
                "--answer".into(),
                answer,
                "--vkey".into(),
                vkey,
            ])
            .await
        }
    };
    let ok = verify(path("jmt.receipt"), path("jmt.json")).await;
    assert!(ok.success, "{}", ok.stderr);
    assert!(ok.stdout.contains("the receipt verifies"), "{}", ok.stdout);
    let served = server
        .answers()
        .await
        .get_answer(GetAnswerRequest {
            r#ref: Some(get_answer_request::Ref::Id(example.clone())),
            as_of: None,
            min_position: 0,
            receipt: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        served.receipt,
        std::fs::read(path("jmt.receipt")).unwrap(),
        "the CLI saves the receipt byte for byte"
    );
    let json_out = cli(vec![
        "verify-receipt".into(),
        path("jmt.receipt"),
        "--answer".into(),
        path("jmt.json"),
        "--vkey".into(),
        vkey.clone(),
        "--json".into(),
    ])
    .await;
    let report: serde_json::Value = serde_json::from_str(json_out.stdout.trim()).unwrap();
    assert_eq!(report["verified"], true, "{report}");
    assert_eq!(report["articleId"], example.as_str());

    // BatchGetAnswers: one receipt an answer, each verifying.
    let batch = server
        .answers()
        .await
        .batch_get_answers(BatchGetAnswersRequest {
            refs: vec![example.clone(), other.clone(), "no-such-article".into()],
            min_position: 0,
            receipts: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((batch.answers.len(), batch.receipts.len()), (2, 2));
    for (i, (answer, receipt)) in batch.answers.iter().zip(&batch.receipts).enumerate() {
        let name = format!("batch{i}");
        std::fs::write(path(&format!("{name}.receipt")), receipt).unwrap();
        let got = server.cli(&["get", &answer.id, "--json"]).await;
        std::fs::write(path(&format!("{name}.json")), &got.stdout).unwrap();
        let out = verify(
            path(&format!("{name}.receipt")),
            path(&format!("{name}.json")),
        )
        .await;
        assert!(out.success, "{}", out.stderr);
    }

    // One changed byte in the receipt: its extra, index, proof, the
    // checkpoint's text, its signature line.
    let receipt = std::fs::read(path("jmt.receipt")).unwrap();
    let text = String::from_utf8(receipt.clone()).unwrap();
    let note_at = text.find("\n\n").unwrap() + 2;
    let signature_at = text.rfind("\n\n").unwrap() + 2;
    let mut at: Vec<usize> = (0..receipt.len()).step_by(7).collect();
    at.extend([
        note_at,
        note_at + 3,
        signature_at + 5,
        receipt.len() - 3,
        receipt.len() - 10,
    ]);
    at.sort_unstable();
    at.dedup();
    for i in at {
        let mut changed = receipt.clone();
        changed[i] ^= 0x01;
        std::fs::write(path("changed.receipt"), &changed).unwrap();
        let out = verify(path("changed.receipt"), path("jmt.json")).await;
        assert!(
            out.code == Some(1) && out.stderr.contains("the receipt does not verify"),
            "byte {i} of the receipt changed, and it still verifies: {:?}",
            String::from_utf8_lossy(&changed)
        );
    }
    // One changed byte in the answer, field by field, each still a valid
    // answer: a content change makes another leaf, which the proof does
    // not put under the root; the id, version and position are checked
    // against the receipt first, and the etag against the id and version.
    let answer: serde_json::Value = serde_json::from_str(&got.stdout).unwrap();
    let recorded = chrono::DateTime::parse_from_rfc3339(answer["recordedAt"].as_str().unwrap())
        .unwrap()
        + chrono::Duration::microseconds(1);
    let a_microsecond_later = recorded.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let leaf_differs = "inclusion proof";
    // Another id: its last hex digit changed, still a UUID.
    let id = answer["id"].as_str().unwrap();
    let last = id.chars().last().unwrap().to_digit(16).unwrap();
    let another_id = format!(
        "{}{}",
        &id[..id.len() - 1],
        char::from_digit((last + 1) % 16, 16).unwrap()
    );
    let mut changes = 0;
    for (pointer, replacement, why) in [
        ("/id", Some(another_id.as_str()), "is for article"),
        ("/slug", None, leaf_differs),
        ("/question", None, leaf_differs),
        ("/quickAnswer", None, leaf_differs),
        ("/keyFacts/0", None, leaf_differs),
        ("/sections/0/heading", None, leaf_differs),
        ("/sections/1/body", None, leaf_differs),
        ("/sources/0/title", None, leaf_differs),
        ("/disclaimer", None, leaf_differs),
        ("/lastUpdated", None, leaf_differs),
        ("/version", None, "is for article"),
        ("/globalPosition", None, "it proves leaf"),
        (
            "/recordedAt",
            Some(a_microsecond_later.as_str()),
            leaf_differs,
        ),
        ("/etag", None, "not one the server serves"),
        ("/status", Some("ARTICLE_STATUS_RETRACTED"), leaf_differs),
        ("/provenance/aiAssisted", None, leaf_differs),
    ] {
        let mut changed = answer.clone();
        let value = changed
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{pointer}"));
        *value = match (replacement, &*value) {
            (Some(text), _) => serde_json::Value::String(text.to_owned()),
            (None, serde_json::Value::Bool(b)) => serde_json::Value::Bool(!b),
            (None, serde_json::Value::String(s)) => serde_json::Value::String(one_byte_changed(s)),
            (None, other) => serde_json::Value::String(one_byte_changed(&other.to_string())),
        };
        if pointer == "/id" || pointer == "/version" {
            // The etag follows them, as the server would have made it.
            let etag = format!(
                "{}:{}",
                changed["id"].as_str().unwrap(),
                changed["version"]
                    .as_str()
                    .map_or_else(|| changed["version"].to_string(), str::to_owned)
            );
            changed["etag"] = serde_json::Value::String(etag);
        }
        assert_ne!(changed, answer, "{pointer}");
        std::fs::write(path("changed.json"), changed.to_string()).unwrap();
        let out = verify(path("jmt.receipt"), path("changed.json")).await;
        assert_eq!(
            out.code,
            Some(1),
            "{pointer} changed, and the receipt still verifies: {}",
            out.stdout
        );
        assert!(
            out.stderr.contains(why),
            "{pointer}: refused for another reason than {why:?}: {}",
            out.stderr
        );
        changes += 1;
    }
    assert_eq!(changes, 16);
    // Another answer's receipt, and a key not pinned, are refused too.
    let out = verify(path("jmt.receipt"), path("batch1.json")).await;
    assert!(!out.success);
    assert!(out.stderr.contains("is for article"), "{}", out.stderr);
    let other_key = vkey.replacen('+', "x+", 1);
    let out = cli(vec![
        "verify-receipt".into(),
        path("jmt.receipt"),
        "--answer".into(),
        path("jmt.json"),
        "--vkey".into(),
        other_key,
    ])
    .await;
    assert!(!out.success, "{}", out.stdout);
    drop(server.stop().await);
}

/// `text` with one character changed: a digit to the next, a letter to
/// another, anything else to `x`; the same length.
fn one_byte_changed(text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let i = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("a letter or digit to change");
    bytes[i] = match bytes[i] {
        b'9' => b'0',
        b'0'..=b'8' => bytes[i] + 1,
        b'z' | b'Z' => bytes[i] - 1,
        other => other + 1,
    };
    String::from_utf8(bytes).unwrap()
}
