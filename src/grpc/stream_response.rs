//! StreamEvents' response, written by hand (build.rs maps
//! `answerlog.v1.StreamEventsResponse` here, as `GetAnswerResponse` is
//! mapped): on the wire it is exactly the generated message, but the
//! server may give it a commit as stored, which `stored_commit.rs` writes
//! straight into the response's buffer. A client decodes it into `item`
//! as it would the generated type. Knows the API's messages, not how a
//! commit is stored.

use bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

use super::convert;
use super::pb::{Commit, Heartbeat};
use super::stored_commit::{message_len, StoredCommit};
use crate::app::StoredView;

/// The oneof of `StreamEventsResponse`.
pub mod stream_events_response {
    /// What the response carries. Shaped as prost generates a oneof
    /// (clients match on it by value), the commit not boxed.
    #[derive(Clone, PartialEq, Debug)]
    #[allow(clippy::large_enum_variant)]
    pub enum Item {
        /// A commit: revision.global_position and log_hash let a client
        /// resume after a disconnect and check what it got.
        Commit(super::Commit),
        /// Sent while there is nothing to send, so that idle can be told
        /// from stalled.
        Heartbeat(super::Heartbeat),
    }
}

use stream_events_response::Item;

/// `answerlog.v1.StreamEventsResponse`.
#[derive(Clone, Default)]
pub struct StreamEventsResponse {
    /// The commit or heartbeat; `None` in a response made from a stored
    /// commit, until it is decoded.
    pub item: Option<Item>,
    /// A commit to write from its stored bytes, as the `commit` item.
    stored: Option<Box<StoredCommit>>,
}

impl StreamEventsResponse {
    pub(crate) fn new(item: Item) -> Self {
        Self {
            item: Some(item),
            stored: None,
        }
    }

    /// The response for a commit as the log stores it: written from its
    /// stored bytes where its events allow, else converted in full.
    pub(crate) fn stored(view: Box<StoredView>) -> Result<Self, crate::app::AppError> {
        Ok(match StoredCommit::new(view) {
            Ok(stored) => Self {
                item: None,
                stored: Some(Box::new(stored)),
            },
            Err(view) => Self::new(Item::Commit(convert::commit(view.into_view()?))),
        })
    }

    /// The item, decoded from the bytes it is written as when it was
    /// made from a stored commit.
    fn decoded_item(&self) -> Option<Item> {
        match (&self.item, &self.stored) {
            (Some(item), _) => Some(item.clone()),
            (None, Some(stored)) => {
                let mut bytes = Vec::with_capacity(stored.commit_len);
                stored.write(&mut bytes);
                Commit::decode(&bytes[..]).ok().map(Item::Commit)
            }
            (None, None) => None,
        }
    }
}

impl std::fmt::Debug for StreamEventsResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEventsResponse")
            .field("item", &self.decoded_item())
            .finish()
    }
}

impl PartialEq for StreamEventsResponse {
    fn eq(&self, other: &Self) -> bool {
        self.decoded_item() == other.decoded_item()
    }
}

impl Message for StreamEventsResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        match (&self.stored, &self.item) {
            (Some(stored), _) => {
                encoding::encode_key(1, WireType::LengthDelimited, buf);
                encoding::encode_varint(stored.commit_len as u64, buf);
                stored.write(buf);
            }
            (None, Some(Item::Commit(commit))) => encoding::message::encode(1, commit, buf),
            (None, Some(Item::Heartbeat(beat))) => encoding::message::encode(2, beat, buf),
            (None, None) => {}
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let pushed = |field: &'static str| {
            move |mut e: DecodeError| {
                e.push("StreamEventsResponse", field);
                e
            }
        };
        if matches!(tag, 1 | 2) && self.item.is_none() {
            // One kept encoded is decoded first: a later field of the
            // oneof merges into it or replaces it, as protobuf says.
            self.item = self.decoded_item();
        }
        match tag {
            1 => {
                self.stored = None;
                if !matches!(self.item, Some(Item::Commit(_))) {
                    self.item = Some(Item::Commit(Commit::default()));
                }
                let Some(Item::Commit(commit)) = self.item.as_mut() else {
                    unreachable!("set just above")
                };
                encoding::message::merge(wire_type, commit, buf, ctx).map_err(pushed("item"))
            }
            2 => {
                self.stored = None;
                if !matches!(self.item, Some(Item::Heartbeat(_))) {
                    self.item = Some(Item::Heartbeat(Heartbeat::default()));
                }
                let Some(Item::Heartbeat(beat)) = self.item.as_mut() else {
                    unreachable!("set just above")
                };
                encoding::message::merge(wire_type, beat, buf, ctx).map_err(pushed("item"))
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        match (&self.stored, &self.item) {
            (Some(stored), _) => message_len(1, stored.commit_len),
            (None, Some(Item::Commit(commit))) => encoding::message::encoded_len(1, commit),
            (None, Some(Item::Heartbeat(beat))) => encoding::message::encoded_len(2, beat),
            (None, None) => 0,
        }
    }

    fn clear(&mut self) {
        self.item = None;
        self.stored = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_decodes_as_the_generated_one_would() {
        let beat = StreamEventsResponse::new(Item::Heartbeat(Heartbeat {
            last_position: 7,
            at: None,
        }));
        let bytes = beat.encode_to_vec();
        assert_eq!(StreamEventsResponse::decode(&bytes[..]).unwrap(), beat);
        // Two items: the last wins, as protobuf reads a oneof.
        let commit = StreamEventsResponse::new(Item::Commit(Commit {
            article_id: "x".into(),
            ..Default::default()
        }));
        let both = [commit.encode_to_vec(), bytes.clone()].concat();
        assert_eq!(StreamEventsResponse::decode(&both[..]).unwrap(), beat);
        let both = [bytes, commit.encode_to_vec()].concat();
        assert_eq!(StreamEventsResponse::decode(&both[..]).unwrap(), commit);
    }
}
