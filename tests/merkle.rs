//! The log's Merkle tree (issue 16), written here from docs/AUDIT.md's text
//! alone ("The Merkle tree": the answer digest, leaves, nodes, RFC 6962's
//! split), without the library's functions, and checked against what the
//! real server serves: each commit's answer as InspectAnswer gives it as of
//! its version (the same as GetAnswer's where readers were served it), its
//! hash as the export shows it, and the root `answerlog verify` computes
//! over the export; and the checkpoint the server signs (`audit
//! checkpoint`, GetCheckpoint), its C2SP signed note opened here with the
//! verifier key `audit checkpoint --vkey` prints, from the C2SP texts.

use answerlog::pb::*;
use answerlog::{AppOptions, TreeOptions};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::support::audit_md::{answer_digest, hex, open_checkpoint, tree_root, unhex32};
use crate::support::{cid, cli, create_article, eventually, Backend, TestServer};

backend_tests!(
    the_exports_merkle_root_is_audit_md_s_over_the_answers_served,
    checkpoints_extend_one_another_across_a_restart_under_the_configured_origin,
);

/// The leaves of the log an export holds, each from the commit's hash and
/// its answer as InspectAnswer serves it; and whether one of them was
/// reviewed, one retracted (`retracted`: an article readers are not
/// served).
async fn leaves_of(
    server: &TestServer,
    export: &str,
    retracted_id: &str,
) -> (Vec<[u8; 32]>, bool, bool) {
    let mut leaves = Vec::new();
    let mut reviewed = false;
    let mut retracted = false;
    for line in export.lines().filter(|l| !l.trim().is_empty()) {
        let commit: serde_json::Value = serde_json::from_str(line).unwrap();
        let revision = &commit["revision"];
        let version: u64 = revision["version"].as_str().unwrap().parse().unwrap();
        let id = commit["articleId"].as_str().unwrap().to_owned();
        // Every version as an auditor reads it; one readers were served is
        // the same as GetAnswer serves it (while the article is not
        // retracted: readers then find no version of it).
        let inspected = server.inspect_as_of(&id, version).await;
        let answer = inspected.answer.unwrap();
        if inspected.served && id != retracted_id {
            assert_eq!(server.get_as_of(&id, version).await, answer);
        }
        assert_eq!(
            answer.global_position.to_string(),
            revision["globalPosition"].as_str().unwrap()
        );
        reviewed |= answer
            .provenance
            .as_ref()
            .is_some_and(|p| !p.reviewed_by.is_empty());
        retracted |= answer.status == ArticleStatus::Retracted as i32;
        let mut data = vec![0x00];
        data.extend_from_slice(&unhex32(revision["hash"].as_str().unwrap()));
        let salt = commit["answerSalt"].as_str().map(unhex32);
        assert!(salt.is_some(), "a commit written today has an answer salt");
        data.extend_from_slice(&answer_digest(&answer, salt.as_ref()));
        leaves.push(<[u8; 32]>::from(Sha256::digest(&data)));
    }
    (leaves, reviewed, retracted)
}

async fn the_exports_merkle_root_is_audit_md_s_over_the_answers_served(backend: Backend) {
    let server = TestServer::start(backend).await;
    let example = server.import_example().await;
    let other = create_article(&server, 1).await;
    let mut articles = server.articles().await;
    // Content, a standing review, a retraction, a review that lapses.
    articles
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: example.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "sharper".into(),
            quick_answer: "JMT is a rare autoimmune disease of children.".into(),
        })
        .await
        .unwrap();
    articles
        .review_article(ReviewArticleRequest {
            article_id: example.clone(),
            expected_version: 2,
            command_id: cid(),
            reason: "checked against the sources".into(),
        })
        .await
        .unwrap();
    articles
        .retract_article(RetractArticleRequest {
            article_id: other.clone(),
            expected_version: 1,
            command_id: cid(),
            reason: "a duplicate".into(),
        })
        .await
        .unwrap();
    articles
        .edit_quick_answer(EditQuickAnswerRequest {
            article_id: example.clone(),
            expected_version: 3,
            command_id: cid(),
            reason: "after the review".into(),
            quick_answer: "JMT: juvenile myositis.".into(),
        })
        .await
        .unwrap();

    let export = server.cli(&["export", "--all"]).await;
    assert!(export.success, "{}", export.stderr);
    let (leaves, reviewed, retracted) = leaves_of(&server, &export.stdout, &other).await;
    // The example's creation, the other's, and the four changes.
    let size = leaves.len();
    assert_eq!(size, 6, "{}", export.stdout);
    assert!(
        reviewed && retracted,
        "the log holds a review and a retraction"
    );
    // The server's checkpoint: the same root, signed under the key that
    // `--vkey` names, printed as signed.
    let vkey = server.vkey().await;
    let note = server.cli(&["audit", "checkpoint"]).await;
    assert!(note.success, "{}", note.stderr);
    let (origin, tree_size, tree_root_hash) = open_checkpoint(&note.stdout, &vkey);
    assert_eq!(
        (tree_size, tree_root_hash),
        (size as u64, tree_root(&leaves))
    );
    let served = server.checkpoint().await;
    assert_eq!(served.note, note.stdout.as_bytes());
    assert_eq!(served.verifier_key, vkey);
    assert_eq!(
        (served.origin, served.tree_size, served.root_hash),
        (origin, tree_size, tree_root_hash.to_vec())
    );
    drop(server.stop().await);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.jsonl");
    std::fs::write(&file, &export.stdout).unwrap();
    let checked = cli(vec![
        "verify".into(),
        file.display().to_string(),
        "--json".into(),
    ])
    .await;
    assert!(checked.success, "{}", checked.stderr);
    let report: serde_json::Value = serde_json::from_str(checked.stdout.trim()).unwrap();
    assert_eq!(report["merkle"]["size"], size.to_string(), "{report}");
    let root = base64::engine::general_purpose::STANDARD.encode(tree_root(&leaves));
    assert_eq!(report["merkle"]["root"], root.as_str(), "{report}");
    let text = cli(vec!["verify".into(), file.display().to_string()]).await;
    assert!(
        text.stdout
            .contains(&format!("the Merkle tree of the log's {size} commits")),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(&root), "{}", text.stdout);

    // Against the signed checkpoint, pinned: the export's tree has its
    // root; an answer salt changed (which the commit hash does not cover,
    // the leaf does) makes another root, and the export is refused.
    let note_file = dir.path().join("checkpoint.note");
    std::fs::write(&note_file, &note.stdout).unwrap();
    let against = |file: &std::path::Path, vkey: &str| {
        cli(vec![
            "verify".into(),
            file.display().to_string(),
            "--checkpoint".into(),
            note_file.display().to_string(),
            "--vkey".into(),
            vkey.to_owned(),
        ])
    };
    let matched = against(&file, &vkey).await;
    assert!(matched.success, "{}", matched.stderr);
    assert!(
        matched.stdout.contains(&format!(
            "the export matches the checkpoint of {size} commits"
        )),
        "{}",
        matched.stdout
    );
    let mut lines: Vec<serde_json::Value> = export
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let salt = lines[2]["answerSalt"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if salt.starts_with('0') { '1' } else { '0' },
        &salt[1..]
    );
    lines[2]["answerSalt"] = flipped.into();
    let tampered = dir.path().join("tampered.jsonl");
    let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
    std::fs::write(&tampered, text.join("\n") + "\n").unwrap();
    let plain = cli(vec!["verify".into(), tampered.display().to_string()]).await;
    assert!(
        plain.success,
        "alone, a salt is not checked: {}",
        plain.stderr
    );
    let refused = against(&tampered, &vkey).await;
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("the export does not match the checkpoint"),
        "{}",
        refused.stderr
    );
    // Another key under the log's name does not open the checkpoint.
    let name = vkey.split('+').next().unwrap();
    let public = ed25519_dalek::SigningKey::from_bytes(&[9; 32])
        .verifying_key()
        .to_bytes();
    let mut id_input = format!("{name}\n").into_bytes();
    id_input.push(0x01);
    id_input.extend_from_slice(&public);
    let mut key = vec![0x01];
    key.extend_from_slice(&public);
    let other = format!(
        "{name}+{}+{}",
        hex(&Sha256::digest(&id_input)[..4]),
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    let unpinned = against(&file, &other).await;
    assert!(!unpinned.success, "{}", unpinned.stdout);
    assert!(unpinned.stderr.contains("signature"), "{}", unpinned.stderr);
}

/// `audit checkpoint`'s note, opened with `vkey`: the note, its size and
/// root; its origin the test's.
async fn checkpoint(server: &TestServer, vkey: &str) -> (String, u64, [u8; 32]) {
    let out = server.cli(&["audit", "checkpoint"]).await;
    assert!(out.success, "{}", out.stderr);
    let (origin, size, root) = open_checkpoint(&out.stdout, vkey);
    assert_eq!(origin, "answerlog.example.org/test");
    (out.stdout, size, root)
}

/// Checkpoints signed under the configured origin, by themselves while the
/// log grows and at once when asked, extend one another: each one's root
/// is that of the log's first `size` leaves, also after a restart, which
/// serves the last one recorded as it was signed.
async fn checkpoints_extend_one_another_across_a_restart_under_the_configured_origin(
    backend: Backend,
) {
    let options = || AppOptions {
        tree: TreeOptions {
            origin: Some("answerlog.example.org/test".into()),
            checkpoint_interval: std::time::Duration::from_millis(50),
        },
        ..AppOptions::default()
    };
    let server = TestServer::start_with(backend, options()).await;
    let vkey = server.vkey().await;
    assert!(vkey.starts_with("answerlog.example.org/test+"), "{vkey}");
    let mut roots = Vec::new();
    for n in 0..3 {
        create_article(&server, n).await;
        // The write is in the next checkpoint asked for.
        let (_, size, root) = checkpoint(&server, &vkey).await;
        assert_eq!(size, n as u64 + 1);
        roots.push(root);
    }
    // Signed by itself within the interval: a fourth write.
    create_article(&server, 3).await;
    let recorded = server.dir().join("tree").join("checkpoint");
    eventually("a checkpoint of 4 commits signed without a request", || {
        let recorded = recorded.clone();
        async move {
            let text = std::fs::read_to_string(&recorded).ok()?;
            (text.lines().nth(1) == Some("4")).then_some(())
        }
    })
    .await;
    let (before, _, _) = checkpoint(&server, &vkey).await;
    let dir = server.stop().await;

    let server = TestServer::start_in(backend, dir, options()).await;
    let (after, size, _) = checkpoint(&server, &vkey).await;
    assert_eq!(after, before, "the last checkpoint, as it was signed");
    assert_eq!(size, 4);
    create_article(&server, 4).await;
    let (_, size, root) = checkpoint(&server, &vkey).await;
    assert_eq!(size, 5);
    roots.push(root);
    let export = server.cli(&["export", "--all"]).await;
    assert!(export.success, "{}", export.stderr);
    let (leaves, _, _) = leaves_of(&server, &export.stdout, "").await;
    for (i, root) in roots.iter().enumerate() {
        let size = if i < 3 { i + 1 } else { 5 };
        assert_eq!(*root, tree_root(&leaves[..size]), "the root at {size}");
    }
    drop(server.stop().await);
}
