//! GetAnswer's response, sent from the answer's encoding kept with its
//! state.
//!
//! A reader's GetAnswer of a current answer is the hot read: the same
//! state, served again and again until its article's next commit.
//! Converting it to the API's message copies every string, and encoding
//! that copies them again: about a tenth of the server's CPU a call. So
//! this message type is written by hand (build.rs maps
//! `answerlog.v1.GetAnswerResponse` here): on the wire it is exactly the
//! generated message, but the server may give it the `Answer` field's
//! bytes already encoded, which [`RenderedAnswers`] keeps a state at a
//! time. A client decodes it into `answer` as it would the generated
//! type.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

use super::pb::Answer;
use crate::domain::ArticleVersion;

/// `answerlog.v1.GetAnswerResponse`.
#[derive(Clone, Default)]
pub struct GetAnswerResponse {
    /// The answer; `None` in a response built from an encoding, until it
    /// is decoded.
    pub answer: Option<Answer>,
    /// With `receipt`: a C2SP tlog-proof that the answer's leaf is in the
    /// tree a signed checkpoint commits to, byte for byte as made.
    pub receipt: Vec<u8>,
    /// The `answer` field's bytes, encoded: sent instead of `answer`.
    encoded_answer: Option<Bytes>,
}

impl GetAnswerResponse {
    pub(crate) fn new(answer: Answer, receipt: Vec<u8>) -> Self {
        Self {
            answer: Some(answer),
            receipt,
            encoded_answer: None,
        }
    }

    /// A response whose answer is sent as `encoded_answer`, an `Answer`
    /// message's encoding.
    pub(crate) fn encoded(encoded_answer: Bytes, receipt: Vec<u8>) -> Self {
        Self {
            answer: None,
            receipt,
            encoded_answer: Some(encoded_answer),
        }
    }

    /// The answer, decoded from its encoding when it was built from one.
    fn decoded_answer(&self) -> Option<Answer> {
        match (&self.answer, &self.encoded_answer) {
            (Some(answer), _) => Some(answer.clone()),
            (None, Some(bytes)) => Answer::decode(bytes.clone()).ok(),
            (None, None) => None,
        }
    }
}

impl std::fmt::Debug for GetAnswerResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetAnswerResponse")
            .field("answer", &self.decoded_answer())
            .field("receipt", &self.receipt)
            .finish()
    }
}

impl PartialEq for GetAnswerResponse {
    fn eq(&self, other: &Self) -> bool {
        self.receipt == other.receipt && self.decoded_answer() == other.decoded_answer()
    }
}

impl Message for GetAnswerResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match (&self.encoded_answer, &self.answer) {
            (Some(bytes), _) => {
                encoding::encode_key(1, WireType::LengthDelimited, buf);
                encoding::encode_varint(bytes.len() as u64, buf);
                buf.put_slice(bytes);
            }
            (None, Some(answer)) => encoding::message::encode(1, answer, buf),
            (None, None) => {}
        }
        if !self.receipt.is_empty() {
            encoding::bytes::encode(2, &self.receipt, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => {
                // A second `answer` field merges into the first, as
                // protobuf says; one kept encoded is decoded first.
                if self.answer.is_none() {
                    self.answer = self
                        .encoded_answer
                        .take()
                        .and_then(|b| Answer::decode(b).ok());
                }
                self.encoded_answer = None;
                let answer = self.answer.get_or_insert_with(Answer::default);
                encoding::message::merge(wire_type, answer, buf, ctx).map_err(|mut e| {
                    e.push("GetAnswerResponse", "answer");
                    e
                })
            }
            2 => encoding::bytes::merge(wire_type, &mut self.receipt, buf, ctx).map_err(|mut e| {
                e.push("GetAnswerResponse", "receipt");
                e
            }),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let answer = match (&self.encoded_answer, &self.answer) {
            (Some(bytes), _) => {
                encoding::key_len(1)
                    + encoding::encoded_len_varint(bytes.len() as u64)
                    + bytes.len()
            }
            (None, Some(answer)) => encoding::message::encoded_len(1, answer),
            (None, None) => 0,
        };
        let receipt = if self.receipt.is_empty() {
            0
        } else {
            encoding::bytes::encoded_len(2, &self.receipt)
        };
        answer + receipt
    }

    fn clear(&mut self) {
        self.answer = None;
        self.receipt.clear();
        self.encoded_answer = None;
    }
}

/// How many answers' encodings are kept at most: one a slot, an
/// article's slot chosen by its id. Two articles that share a slot take
/// turns in it.
const SLOTS: usize = 1024;

/// Answers' encodings, each kept with the state it encodes.
///
/// A slot holds a weak reference to the state it was made from, and is
/// used only for that very state (`Arc::ptr_eq`): a state is never
/// changed once made, and while the weak reference lives its memory is
/// not given to another, so an encoding is never served for a state
/// other than its own. A new version, a redaction or a reload is a new
/// state and is encoded afresh. The encodings kept weigh at most
/// `budget` bytes (the state cache's bound): past it, those of states no
/// longer held anywhere are let go, and failing that a new one is served
/// without being kept.
pub(crate) struct RenderedAnswers {
    slots: Vec<Mutex<Option<Rendered>>>,
    hasher: std::collections::hash_map::RandomState,
    budget: u64,
    /// Bytes of the encodings kept.
    held: AtomicU64,
}

struct Rendered {
    state: Weak<ArticleVersion>,
    encoded: Bytes,
}

impl RenderedAnswers {
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: Default::default(),
            budget,
            held: AtomicU64::new(0),
        }
    }

    /// `state`'s encoding as an `Answer` message: the one kept, or made
    /// by `render` and kept if the budget allows.
    pub(crate) fn encoding(
        &self,
        state: &Arc<ArticleVersion>,
        render: impl FnOnce(&ArticleVersion) -> Answer,
    ) -> Bytes {
        let slot = &self.slots[self.hasher.hash_one(state.article.id) as usize % SLOTS];
        let kept = lock(slot)
            .as_ref()
            .filter(|r| std::ptr::eq(r.state.as_ptr(), Arc::as_ptr(state)))
            .map(|r| r.encoded.clone());
        if let Some(encoded) = kept {
            return encoded;
        }
        let encoded = Bytes::from(render(state).encode_to_vec());
        let weight = encoded.len() as u64;
        if self.held.load(Ordering::Relaxed) + weight > self.budget {
            self.let_go_of_dropped_states();
        }
        let mut slot = lock(slot);
        if let Some(before) = slot.take() {
            self.held
                .fetch_sub(before.encoded.len() as u64, Ordering::Relaxed);
        }
        let fits = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (held + weight <= self.budget).then_some(held + weight)
            })
            .is_ok();
        if fits {
            *slot = Some(Rendered {
                state: Arc::downgrade(state),
                encoded: encoded.clone(),
            });
        }
        encoded
    }

    /// Empties the slots whose states are held nowhere else any more.
    fn let_go_of_dropped_states(&self) {
        for slot in &self.slots {
            if let Some(dropped) = lock(slot).take_if(|r| r.state.strong_count() == 0) {
                self.held
                    .fetch_sub(dropped.encoded.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Bytes of the encodings kept.
    #[cfg(test)]
    fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(question: &str) -> Answer {
        Answer {
            id: "0b9c6e34-3a5c-4a54-9d3d-8f5e2c1f7a10".into(),
            question: question.into(),
            key_facts: vec!["one".into(), "two".into()],
            version: 3,
            ..Answer::default()
        }
    }

    #[test]
    fn an_encoded_answer_goes_on_the_wire_as_the_generated_message_would() {
        let a = answer("Why?");
        let structured = GetAnswerResponse {
            answer: Some(a.clone()),
            receipt: b"proof".to_vec(),
            encoded_answer: None,
        };
        let kept = GetAnswerResponse::encoded(Bytes::from(a.encode_to_vec()), b"proof".to_vec());
        let wire = structured.encode_to_vec();
        assert_eq!(kept.encode_to_vec(), wire);
        assert_eq!(kept.encoded_len(), wire.len());
        assert_eq!(structured.encoded_len(), wire.len());
        let decoded = GetAnswerResponse::decode(wire.as_slice()).unwrap();
        assert_eq!(decoded.answer, Some(a));
        assert_eq!(decoded.receipt, b"proof");
        assert_eq!(decoded, kept);
        let empty = GetAnswerResponse::default();
        assert!(empty.encode_to_vec().is_empty());
        assert_eq!(GetAnswerResponse::decode(&[][..]).unwrap(), empty);
    }

    #[test]
    fn a_second_answer_field_merges_into_the_first() {
        let mut first = answer("Why?");
        first.key_facts.clear();
        let second = Answer {
            key_facts: vec!["three".into()],
            ..Answer::default()
        };
        let mut wire = GetAnswerResponse::encoded(Bytes::from(first.encode_to_vec()), Vec::new())
            .encode_to_vec();
        wire.extend(
            GetAnswerResponse {
                answer: Some(second),
                ..GetAnswerResponse::default()
            }
            .encode_to_vec(),
        );
        let decoded = GetAnswerResponse::decode(wire.as_slice()).unwrap();
        let merged = decoded.answer.unwrap();
        assert_eq!(merged.question, "Why?");
        assert_eq!(merged.key_facts, vec!["three".to_owned()]);
    }

    #[test]
    fn an_encoding_is_kept_for_its_own_state_alone() {
        use crate::domain::ArticleId;
        let rendered = RenderedAnswers::new(1 << 20);
        let renders = std::cell::Cell::new(0);
        let render = |v: &ArticleVersion| {
            renders.set(renders.get() + 1);
            super::super::convert::answer(v)
        };
        let id = ArticleId::from_uuid(uuid::Uuid::now_v7());
        let first = Arc::new(ArticleVersion::sample(id, 1));
        let once = rendered.encoding(&first, render);
        assert_eq!(Answer::decode(once.clone()).unwrap().quick_answer, "at 1");
        assert_eq!(rendered.encoding(&first, render), once);
        assert_eq!(renders.get(), 1);
        // An equal state that is another value is encoded afresh: a slot
        // answers for the very state it was made from.
        let twin = Arc::new(ArticleVersion::sample(id, 1));
        rendered.encoding(&twin, render);
        assert_eq!(renders.get(), 2);
        // A new version replaces the one before in its article's slot.
        drop(first);
        let second = Arc::new(ArticleVersion::sample(id, 2));
        let newer = rendered.encoding(&second, render);
        assert_eq!(Answer::decode(newer).unwrap().quick_answer, "at 2");
        assert_eq!(renders.get(), 3);
    }

    #[test]
    fn the_encodings_kept_stay_within_their_budget() {
        use crate::domain::ArticleId;
        let states: Vec<_> = (0..64)
            .map(|_| {
                Arc::new(ArticleVersion::sample(
                    ArticleId::from_uuid(uuid::Uuid::now_v7()),
                    1,
                ))
            })
            .collect();
        let one = super::super::convert::answer(&states[0]).encoded_len() as u64;
        let rendered = RenderedAnswers::new(4 * one);
        for state in &states {
            let encoded = rendered.encoding(state, super::super::convert::answer);
            assert_eq!(
                Answer::decode(encoded).unwrap().id,
                state.article.id.to_string()
            );
            assert!(rendered.held() <= 4 * one, "{} kept", rendered.held());
        }
        // While their states live, no more are kept; once they are dropped,
        // their room is taken by new ones.
        assert_eq!(rendered.held(), 4 * one);
        drop(states);
        let newer = Arc::new(ArticleVersion::sample(
            ArticleId::from_uuid(uuid::Uuid::now_v7()),
            2,
        ));
        let renders = std::cell::Cell::new(0);
        let render = |v: &ArticleVersion| {
            renders.set(renders.get() + 1);
            super::super::convert::answer(v)
        };
        rendered.encoding(&newer, render);
        rendered.encoding(&newer, render);
        assert_eq!(renders.get(), 1, "kept once the dropped states were let go");
        assert!(rendered.held() <= 4 * one);
    }
}
