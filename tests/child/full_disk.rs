//! A real full disk: the server's data directory is a small tmpfs that
//! the writes fill. Writers get UNAVAILABLE, reads keep working, nothing
//! acknowledged is lost, and once the tmpfs grows, writes succeed again
//! (sled latches the I/O error; the store reopens its database, or, when
//! sled itself failed or hung with writes it had not flushed, the server
//! exits with status 75 and its restart removes what sled wrote since its
//! last flush, deriving it again from the log's files).
//!
//! Mounting needs root. As any other user this test fails, saying so,
//! rather than passing without having run: `.ci/run` runs as root.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use answerlog::pb::answer_service_client::AnswerServiceClient;
use answerlog::pb::article_service_client::ArticleServiceClient;
use answerlog::pb::audit_service_client::AuditServiceClient;
use answerlog::pb::*;
use tonic::Code;

use crate::crash::read_models_equal_a_rebuild;
use crate::served::Served;

/// A tmpfs mounted on a scratch directory for the test, unmounted when
/// dropped (before the directory goes).
struct Tmpfs {
    at: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        assert!(
            is_root(),
            "the full-disk test mounts a tmpfs and needs root; run the suite as root (as .ci/run does)"
        );
        let scratch = tempfile::tempdir().unwrap();
        let at = scratch.path();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (this test needs root and a kernel that allows it)",
            at.display()
        );
        Self {
            at: at.to_owned(),
            _scratch: scratch,
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.at)
            .status()
            .unwrap();
        assert!(status.success(), "the tmpfs grows");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

fn article(n: usize) -> CreateArticleRequest {
    CreateArticleRequest {
        command_id: uuid::Uuid::now_v7().to_string(),
        reason: "test".into(),
        article: Some(ArticleDraft {
            question: format!("What fills disk number {n}"),
            quick_answer: "Big sections.".into(),
            last_updated: "2026-01-01".into(),
            // ~60 KiB of text that does not compress away.
            sections: vec![SectionDraft {
                heading: "Filler".into(),
                body: (0..6000)
                    .map(|i| format!("{:09}\n", (i * 7919 + n * 104_729) % 1_000_000_007))
                    .collect(),
            }],
            ..Default::default()
        }),
    }
}

/// Creates articles until the disk is full: those acknowledged, by id,
/// and the one refused (in doubt).
async fn fill(
    articles: &mut ArticleServiceClient<tonic::transport::Channel>,
) -> (BTreeMap<String, CreateArticleRequest>, CreateArticleRequest) {
    let mut acked = BTreeMap::new();
    for n in 0..10_000 {
        let request = article(n);
        match articles.create_article(request.clone()).await {
            Ok(created) => {
                acked.insert(created.into_inner().article_id, request);
            }
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                return (acked, request);
            }
        }
    }
    panic!("the tmpfs never filled up");
}

/// Every acknowledged article is served, exactly as it was written.
async fn all_there(
    answers: &mut AnswerServiceClient<tonic::transport::Channel>,
    acked: &BTreeMap<String, CreateArticleRequest>,
) {
    for (id, request) in acked {
        let answer = answers
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(id.clone())),
                ..Default::default()
            })
            .await
            .expect("an acknowledged article")
            .into_inner()
            .answer
            .unwrap();
        let draft = request.article.as_ref().unwrap();
        assert_eq!(answer.question, draft.question);
        assert_eq!(answer.sections[0].body, draft.sections[0].body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tmpfs_refuses_writes_keeps_reads_and_recovers_when_it_grows() {
    let tmpfs = Tmpfs::mount("24m");
    let data = tmpfs.at.join("data");
    let served = Served::start(&data);
    let channel = served.channel().await;

    let mut articles = ArticleServiceClient::new(channel.clone());
    let mut answers = AnswerServiceClient::new(channel.clone());

    let (mut acked, in_doubt) = fill(&mut articles).await;
    println!(
        "full disk: refused after {} acknowledged creations",
        acked.len()
    );

    // While the disk is full, writes are refused; reads answer, or (where
    // sled itself must write to read, as it consolidates pages) are
    // refused with UNAVAILABLE: never an error of another kind, never a
    // hang.
    let (some_id, _) = acked.iter().next().unwrap();
    let mut reads_answered = 0;
    for n in 0..10 {
        let read = answers
            .get_answer(GetAnswerRequest {
                r#ref: Some(get_answer_request::Ref::Id(some_id.clone())),
                ..Default::default()
            })
            .await;
        match read {
            Ok(_) => reads_answered += 1,
            Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        }
        let status = articles
            .create_article(article(20_000 + n))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    }
    println!("full disk: {reads_answered} of 10 reads answered while full");

    // Room again: the in-doubt creation, retried with its command_id, is
    // answered, and new writes are acknowledged. The store reopens its
    // database; where sled cannot let go of the failed one, the server
    // exits with status 75 and, restarted as its supervisor would, recovers
    // as after a crash.
    tmpfs.resize("256m");
    let mut served = served;
    let mut restarted = false;
    let mut repaired = false;
    let give_up = tokio::time::Instant::now() + Duration::from_secs(90);
    let created = loop {
        if let Some(status) = served.exited() {
            assert_eq!(status.code(), Some(75), "the server exited: {status:?}");
            assert!(!restarted, "the server exited twice");
            restarted = true;
            let told;
            (served, told) = Served::spawn_telling(Served::command(&data));
            repaired = told.contains("repaired the torn batch");
            let channel = served.channel().await;
            articles = ArticleServiceClient::new(channel.clone());
            answers = AnswerServiceClient::new(channel);
        }
        match articles.create_article(in_doubt.clone()).await {
            Ok(created) => break created.into_inner(),
            Err(status) => {
                assert!(
                    matches!(status.code(), Code::Unavailable | Code::Unknown),
                    "{status:?}"
                );
                assert!(
                    tokio::time::Instant::now() < give_up,
                    "writes never resumed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    println!(
        "full disk: writes resumed {}",
        if repaired {
            "after sled failed or hung, the server exited and its restart repaired the store back to sled's last flush"
        } else if restarted {
            "after sled wedged and the server was restarted"
        } else {
            "after the store reopened its database in process"
        }
    );
    acked.insert(created.article_id, in_doubt);
    let created = articles
        .create_article(article(30_000))
        .await
        .expect("writes resume")
        .into_inner();
    acked.insert(created.article_id, article(30_000));

    // Every acknowledged article is there, exactly; the log verifies.
    all_there(&mut answers, &acked).await;
    let verified = AuditServiceClient::new(served.channel().await)
        .verify_log(VerifyLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    served.terminate();
    read_models_equal_a_rebuild(&data);
}

/// A server killed while its disk is full, and started again on the full
/// disk: it refuses to start, or starts and refuses writes; what it wrote
/// into sled as it tried is never taken for whole (a write sled fails as
/// the store opens arms the torn-batch mark). Once the disk has room it
/// starts with every acknowledged article; the one in doubt, retried with
/// its command_id, is written once; the log verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_on_a_full_disk_starts_whole_once_the_disk_has_room() {
    let tmpfs = Tmpfs::mount("24m");
    let data = tmpfs.at.join("data");
    let served = Served::start(&data);
    let mut articles = ArticleServiceClient::new(served.channel().await);
    let (mut acked, in_doubt) = fill(&mut articles).await;
    served.kill();

    for attempt in 1..=2 {
        match Served::started_or_refused(Served::command(&data)) {
            Err((status, log)) => {
                assert!(!status.success(), "{log}");
                println!(
                    "full disk: start {attempt} refused ({status}): {}",
                    log.lines().last().unwrap_or_default()
                );
            }
            Ok(served) => {
                let request = article(20_000 + attempt);
                match ArticleServiceClient::new(served.channel().await)
                    .create_article(request.clone())
                    .await
                {
                    Ok(created) => {
                        acked.insert(created.into_inner().article_id, request);
                        println!("full disk: start {attempt} served, and took a write");
                    }
                    Err(status) => {
                        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                        println!("full disk: start {attempt} served, and refused a write");
                    }
                }
                served.kill();
            }
        }
    }

    tmpfs.resize("256m");
    let served = Served::start(&data);
    let channel = served.channel().await;
    let mut articles = ArticleServiceClient::new(channel.clone());
    let created = articles
        .create_article(in_doubt.clone())
        .await
        .expect("the write in doubt, retried")
        .into_inner();
    let again = articles
        .create_article(in_doubt.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.article_id, created.article_id);
    acked.insert(created.article_id, in_doubt);
    all_there(&mut AnswerServiceClient::new(channel.clone()), &acked).await;
    let verified = AuditServiceClient::new(channel)
        .verify_log(VerifyLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(verified.ok, "{verified:?}");
    println!(
        "full disk: started whole after two starts on the full disk; {} acknowledged articles there",
        acked.len()
    );
    served.terminate();
    read_models_equal_a_rebuild(&data);
}
