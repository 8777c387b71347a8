//! The log's Merkle tree (issue 16), written here from docs/AUDIT.md's text
//! alone ("The Merkle tree": the answer digest, leaves, nodes, RFC 6962's
//! split), without the library's functions, and checked against what the
//! real server serves: each commit's answer as InspectAnswer gives it as of
//! its version (the same as GetAnswer's where readers were served it), its
//! hash as the export shows it, and the root `answerlog verify` computes
//! over the export.

use answerlog::pb::*;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::support::{cid, cli, create_article, Backend, TestServer};

backend_tests!(the_exports_merkle_root_is_audit_md_s_over_the_answers_served,);

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

/// AUDIT.md's `answer_digest` of an `Answer` as served.
fn answer_digest(a: &Answer) -> [u8; 32] {
    let mut out = Vec::new();
    string(&mut out, "answerlog.answer.v1");
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
fn tree_root(leaves: &[[u8; 32]]) -> [u8; 32] {
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
    let mut leaves = Vec::new();
    let mut reviewed = false;
    let mut retracted = false;
    for line in export.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let commit: serde_json::Value = serde_json::from_str(line).unwrap();
        let revision = &commit["revision"];
        let version: u64 = revision["version"].as_str().unwrap().parse().unwrap();
        let id = commit["articleId"].as_str().unwrap().to_owned();
        // Every version as an auditor reads it; one readers were served is
        // the same as GetAnswer serves it (while the article is not
        // retracted: readers then find no version of it).
        let inspected = server.inspect_as_of(&id, version).await;
        let answer = inspected.answer.unwrap();
        if inspected.served && id != other {
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
        let hash = revision["hash"].as_str().unwrap();
        let mut data = vec![0x00];
        for i in (0..64).step_by(2) {
            data.push(u8::from_str_radix(&hash[i..i + 2], 16).unwrap());
        }
        data.extend_from_slice(&answer_digest(&answer));
        leaves.push(<[u8; 32]>::from(Sha256::digest(&data)));
    }
    // The example's creation, the other's, and the four changes.
    let size = leaves.len();
    assert_eq!(size, 6, "{}", export.stdout);
    assert!(
        reviewed && retracted,
        "the log holds a review and a retraction"
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
    assert_eq!(report["merkle"]["size"], size, "{report}");
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
}
