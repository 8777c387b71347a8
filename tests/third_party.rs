//! The server's checkpoints, receipts and consistency proofs checked with
//! third-party implementations of the formats (Cloudflare's `signed_note`
//! and `tlog_tiles` crates, ports of Go's sumdb `note` and `tlog`), and
//! none of answerlog's code: the leaf's data comes from docs/AUDIT.md's
//! text as `support::audit_md` writes it.

use answerlog::pb::*;
use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::checkpoint::Checkpoint;
use tlog_tiles::tlog::{check_record, check_tree, record_hash, Hash};

use crate::support::audit_md::{answer_digest, parse_receipt};
use crate::support::{create_article, edit_many, Backend, TestServer};

/// The note opened with the pinned key by `signed_note`, its text read by
/// `tlog_tiles`.
fn open(note: &[u8], vkey: &str) -> Checkpoint {
    let verifier = StandardVerifier::new(vkey).expect("a C2SP verifier key");
    let known = VerifierList::new(vec![Box::new(verifier)]);
    let note = Note::from_bytes(note).expect("a signed note");
    note.verify(&known).expect("signed by the pinned key");
    Checkpoint::from_bytes(note.text()).expect("a tlog-checkpoint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_receipts_and_consistency_proofs_verify_with_third_party_crates() {
    let server = TestServer::start(Backend::Sled).await;
    let vkey = server.vkey().await;
    let first = create_article(&server, 0).await;
    edit_many(server.channel().await, first.clone(), 1, 4).await;
    let old = server.checkpoint().await;
    let old_checkpoint = open(&old.note, &vkey);
    assert_eq!(old_checkpoint.size(), 5);
    let second = create_article(&server, 1).await;
    edit_many(server.channel().await, second.clone(), 1, 300).await;
    let new = server.checkpoint().await;
    let new_checkpoint = open(&new.note, &vkey);
    assert_eq!(new_checkpoint.size(), 306);
    assert_eq!(new_checkpoint.origin(), vkey.split('+').next().unwrap());

    // A changed byte of the note is refused.
    let mut forged = new.note.clone();
    let at = forged.iter().position(|b| *b == b'\n').unwrap() + 2;
    forged[at] ^= 0x01;
    let verifier = StandardVerifier::new(&vkey).unwrap();
    let refused = Note::from_bytes(&forged).map(|note| {
        note.verify(&VerifierList::new(vec![Box::new(verifier)]))
            .is_ok()
    });
    assert!(!matches!(refused, Ok(true)), "a changed note verified");

    // Consistency, old → new.
    let proof: Vec<Hash> = server
        .audit()
        .await
        .get_consistency_proof(GetConsistencyProofRequest {
            old_size: 5,
            new_size: 306,
        })
        .await
        .unwrap()
        .into_inner()
        .hashes
        .into_iter()
        .map(|h| Hash(h.try_into().unwrap()))
        .collect();
    check_tree(
        &proof,
        306,
        *new_checkpoint.hash(),
        5,
        *old_checkpoint.hash(),
    )
    .expect("the new tree extends the old");
    assert!(check_tree(
        &proof,
        306,
        *new_checkpoint.hash(),
        5,
        *new_checkpoint.hash()
    )
    .is_err());

    // A receipt for versions of both articles, each at the new checkpoint.
    let mut audit = server.audit().await;
    for (id, version) in [
        (&first, 1),
        (&first, 5),
        (&second, 1),
        (&second, 150),
        (&second, 301),
    ] {
        let inspected = audit
            .inspect_answer(InspectAnswerRequest {
                r#ref: Some(inspect_answer_request::Ref::Id(id.clone())),
                as_of: Some(inspect_answer_request::AsOf::Version(version)),
                min_position: 0,
                receipt: true,
            })
            .await
            .unwrap()
            .into_inner();
        let answer = inspected.answer.unwrap();
        let receipt = parse_receipt(&inspected.receipt);
        let checkpoint = open(receipt.note.as_bytes(), &vkey);
        let mut data = receipt.commit.to_vec();
        data.extend_from_slice(&answer_digest(&answer, receipt.answer_salt.as_ref()));
        let proof: Vec<Hash> = receipt.proof.iter().map(|h| Hash(*h)).collect();
        check_record(
            &proof,
            checkpoint.size(),
            *checkpoint.hash(),
            answer.global_position - 1,
            record_hash(&data),
        )
        .unwrap_or_else(|e| panic!("version {version} of {id}: {e}"));
        // Another answer's digest is not in the tree there.
        let mut other = answer.clone();
        other.quick_answer.push('!');
        let mut data = receipt.commit.to_vec();
        data.extend_from_slice(&answer_digest(&other, receipt.answer_salt.as_ref()));
        assert!(check_record(
            &proof,
            checkpoint.size(),
            *checkpoint.hash(),
            answer.global_position - 1,
            record_hash(&data),
        )
        .is_err());
    }
    drop(server.stop().await);
}
